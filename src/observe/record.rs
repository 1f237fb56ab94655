//! What the tracker reports: one record per mail session and per DNS lookup.
//!
//! These records are facts read off packets, nothing more; judging them is `diagnose`'s job.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// The mail protocol of a session, from its server port (or what it was seen to speak).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Imap,
    Pop3,
    Smtp,
}

impl Protocol {
    /// The protocol and TLS mode a well-known mail port implies.
    pub fn from_port(port: u16) -> Option<(Protocol, TlsMode)> {
        match port {
            143 => Some((Protocol::Imap, TlsMode::None)),
            993 => Some((Protocol::Imap, TlsMode::Implicit)),
            110 => Some((Protocol::Pop3, TlsMode::None)),
            995 => Some((Protocol::Pop3, TlsMode::Implicit)),
            25 | 587 => Some((Protocol::Smtp, TlsMode::None)),
            465 => Some((Protocol::Smtp, TlsMode::Implicit)),
            _ => None,
        }
    }

    /// Lower-case name as used in JSON and syslog.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
            Protocol::Smtp => "smtp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How TLS was used on a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (993, 995, 465).
    Implicit,
    /// Plaintext first, then STARTTLS/STLS was accepted.
    Starttls,
    /// No TLS at all (or STARTTLS never completed).
    None,
}

/// One side of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Client,
    Server,
}

/// How a session ended, as far as the router saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Close {
    /// Orderly close with FIN.
    Fin,
    /// Reset.
    Rst,
    /// Nothing more was seen and the tracker expired the session.
    Timeout,
    /// Still open (an update, or the capture ended first).
    Open,
}

/// The login outcome read from the server's replies (plaintext only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthOutcome {
    Ok,
    Failed,
    Unknown,
}

/// A TLS protocol version as it appears on the wire (0x0301 = TLS 1.0 … 0x0304 = TLS 1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TlsVersion(pub u16);

impl TlsVersion {
    pub const SSL3: TlsVersion = TlsVersion(0x0300);
    pub const TLS1_0: TlsVersion = TlsVersion(0x0301);
    pub const TLS1_1: TlsVersion = TlsVersion(0x0302);
    pub const TLS1_2: TlsVersion = TlsVersion(0x0303);
    pub const TLS1_3: TlsVersion = TlsVersion(0x0304);
}

impl fmt::Display for TlsVersion {
    /// `"1.0"` … `"1.3"`, `"ssl3"`, or the hex value for anything else (kept, not rejected).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0x0300 => f.write_str("ssl3"),
            0x0301 => f.write_str("1.0"),
            0x0302 => f.write_str("1.1"),
            0x0303 => f.write_str("1.2"),
            0x0304 => f.write_str("1.3"),
            other => write!(f, "0x{other:04x}"),
        }
    }
}

impl Serialize for TlsVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let value = match text.as_str() {
            "ssl3" => 0x0300,
            "1.0" => 0x0301,
            "1.1" => 0x0302,
            "1.2" => 0x0303,
            "1.3" => 0x0304,
            hex => hex
                .strip_prefix("0x")
                .and_then(|h| u16::from_str_radix(h, 16).ok())
                .ok_or_else(|| serde::de::Error::custom(format!("not a TLS version: {text:?}")))?,
        };
        Ok(TlsVersion(value))
    }
}

/// A TLS alert seen in clear (before encryption started).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlsAlert {
    /// Who sent it.
    pub from: Side,
    /// 1 = warning, 2 = fatal.
    pub level: u8,
    /// RFC 8446 §6 AlertDescription (70 = protocol_version, …); unknown values kept.
    pub description: u8,
}

impl TlsAlert {
    /// The RFC 8446 §6 / RFC 5246 §7.2 name of the description (`protocol_version`), or
    /// `alert_<n>` for values no RFC names.
    pub fn name(&self) -> String {
        let name = match self.description {
            0 => "close_notify",
            10 => "unexpected_message",
            20 => "bad_record_mac",
            21 => "decryption_failed",
            22 => "record_overflow",
            30 => "decompression_failure",
            40 => "handshake_failure",
            41 => "no_certificate",
            42 => "bad_certificate",
            43 => "unsupported_certificate",
            44 => "certificate_revoked",
            45 => "certificate_expired",
            46 => "certificate_unknown",
            47 => "illegal_parameter",
            48 => "unknown_ca",
            49 => "access_denied",
            50 => "decode_error",
            51 => "decrypt_error",
            60 => "export_restriction",
            70 => "protocol_version",
            71 => "insufficient_security",
            80 => "internal_error",
            86 => "inappropriate_fallback",
            90 => "user_canceled",
            100 => "no_renegotiation",
            109 => "missing_extension",
            110 => "unsupported_extension",
            111 => "certificate_unobtainable",
            112 => "unrecognized_name",
            113 => "bad_certificate_status_response",
            114 => "bad_certificate_hash_value",
            115 => "unknown_psk_identity",
            116 => "certificate_required",
            120 => "no_application_protocol",
            other => return format!("alert_{other}"),
        };
        name.to_string()
    }
}

/// Shape of the encrypted application data after the TLS handshake (record counts and payload
/// bytes per direction), for inferring a refused login on an encrypted session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppDataShape {
    pub client_records: u32,
    pub server_records: u32,
    pub client_bytes: u64,
    pub server_bytes: u64,
    /// When the handshake finished and application data could start.
    pub handshake_done_at: Option<Timestamp>,
    /// The time of the server's last data, when that data ended in the middle of a TLS record
    /// and every byte it sent was seen in order: the server was cut off mid-transfer (servers
    /// write whole records), not finished.
    pub server_stopped_mid_record: Option<Timestamp>,
    /// The client's first requests after the handshake and the server's replies to them.
    pub exchanges: Exchanges,
    /// Some of the session's bytes were never read in order (a gap not bridged, the buffer
    /// budget spent under a flood, a record walk lost): the counts above are a lower bound,
    /// and a short shape proves nothing.
    pub incomplete: bool,
}

/// Requests remembered per session (a refused login comes within the first few).
pub const MAX_EXCHANGES: usize = 8;

/// One request of the client after the TLS handshake (all it sent until the server answered)
/// and the server's reply (all it sent until the client spoke again): payload bytes each way,
/// saturating, and how long the server took to start answering, counted from the client's
/// last segment of the request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exchange {
    pub request: u16,
    /// 0 while unanswered.
    pub reply: u16,
    pub wait_ms: u32,
}

/// The first [`MAX_EXCHANGES`] exchanges of a session and how many there were in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exchanges {
    kept: [Exchange; MAX_EXCHANGES],
    /// Exchanges seen in all (saturating); beyond the first ones only counted.
    pub total: u32,
}

impl Exchanges {
    /// The exchanges kept, oldest first.
    pub fn kept(&self) -> &[Exchange] {
        let n = (self.total as usize).min(MAX_EXCHANGES);
        &self.kept[..n]
    }

    /// Client payload of `len` bytes: part of the open request, or a new one once the server
    /// has answered (beyond the kept ones, every segment counts as one).
    pub fn client_data(&mut self, len: usize) {
        let open = self.last().is_some_and(|e| e.reply == 0);
        if !open {
            self.total = self.total.saturating_add(1);
        }
        if let Some(e) = self.last_mut() {
            e.request = e.request.saturating_add(clamp16(len));
        }
    }

    /// Server payload of `len` bytes, `wait` after the client's last request segment: the
    /// reply to the open request (nothing before the first request counts: greeting, session
    /// tickets).
    pub fn server_data(&mut self, len: usize, wait: Duration) {
        if let Some(e) = self.last_mut() {
            if e.reply == 0 {
                e.wait_ms = u32::try_from(wait.as_millis()).unwrap_or(u32::MAX);
            }
            e.reply = e.reply.saturating_add(clamp16(len)).max(1);
        }
    }

    /// The open or last exchange, while it is among the kept ones.
    fn last(&self) -> Option<&Exchange> {
        let n = usize::try_from(self.total).ok()?;
        self.kept.get(n.checked_sub(1)?)
    }

    fn last_mut(&mut self) -> Option<&mut Exchange> {
        let n = usize::try_from(self.total).ok()?;
        self.kept.get_mut(n.checked_sub(1)?)
    }
}

fn clamp16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// Everything the router saw of one TCP session to a mail port.
///
/// `end` is the time of the last packet. While the session is open the tracker may hand out
/// snapshots with `close == Close::Open`.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRecord {
    /// Tracker-assigned, unique for the tracker's lifetime; snapshots of one session share it.
    pub id: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub protocol: Protocol,
    pub tls: TlsMode,
    /// SNI, or a name learned from the client's DNS answers.
    pub server_name: Option<String>,
    pub start: Timestamp,
    pub end: Timestamp,
    /// SYNs the client sent (1 = no retransmission).
    pub syns_from_client: u32,
    /// SYN → SYN-ACK, when a SYN-ACK was seen.
    pub tcp_connect: Option<Duration>,
    /// ClientHello → the server's first encrypted record (or Finished).
    pub tls_handshake: Option<Duration>,
    /// The version the server chose.
    pub tls_version: Option<TlsVersion>,
    /// The highest version the client offered (an old device shows here).
    pub tls_client_max: Option<TlsVersion>,
    pub tls_alert: Option<TlsAlert>,
    pub app: AppDataShape,
    /// Connection established → first byte from the server (the greeting on plaintext ports).
    pub greeting: Option<Duration>,
    /// The longest the server took to answer client data, and when that answer came.
    pub slowest_reply: Option<(Duration, Timestamp)>,
    /// When the server last answered client data: a client that closes long after it was
    /// answered had no request outstanding, whatever the slowest answer was.
    pub last_reply_at: Option<Timestamp>,
    pub bytes_from_client: u64,
    pub bytes_from_server: u64,
    pub packets_from_client: u64,
    pub packets_from_server: u64,
    pub retransmits_from_client: u32,
    pub retransmits_from_server: u32,
    /// Client data (or SYN) sent at this time was never answered by the server.
    pub unanswered_since: Option<Timestamp>,
    /// How long the session had been quiet before that unanswered data (state expiry).
    pub idle_before_unanswered: Option<Duration>,
    /// The longest time client data waited for the server's acknowledgment and then got it
    /// (when it began, how long): a stall the path recovered from.
    pub longest_stall: Option<(Timestamp, Duration)>,
    pub closed_by: Option<Side>,
    /// The time of the server's last data, when the client never acknowledged all the data the
    /// server was seen sending (a gap the server did not resend): the transfer did not arrive.
    pub server_data_missing: Option<Timestamp>,
    /// When the client's first FIN or RST was seen: the moment it stopped waiting.
    pub client_closed_at: Option<Timestamp>,
    pub close: Close,
    pub auth: AuthOutcome,
    /// The server reply the login outcome was read from (trimmed, printable).
    pub auth_reply: Option<String>,
    /// The server refused to go on until the client logged in or started TLS (SMTP 530, 553
    /// "not logged in"), seen in plaintext; `auth_reply` then quotes that refusal.
    pub login_required: bool,
    /// TLS on one side and plaintext on the other, described: the server answered an
    /// implicit-TLS ClientHello with a plaintext banner (quoted), or the client opened TLS on
    /// a plaintext port.
    pub tls_mismatch: Option<String>,
    /// When the client first closed (FIN or RST): the time of its last data that no server
    /// data had followed yet, i.e. whether it was still waiting for an answer.
    pub client_waiting_at_close: Option<Timestamp>,
    /// No packet from the server was seen, yet the client acknowledged something from it: the
    /// capture holds the client's direction only (an asymmetric route or capture filter).
    pub server_side_unseen: bool,
}

/// DNS response code (RFC 1035 §4.1.1; unknown values kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rcode(pub u8);

impl Rcode {
    pub const NOERROR: Rcode = Rcode(0);
    pub const SERVFAIL: Rcode = Rcode(2);
    pub const NXDOMAIN: Rcode = Rcode(3);
    pub const REFUSED: Rcode = Rcode(5);

    /// Upper-case mnemonic (`SERVFAIL`), or `RCODE<n>`.
    pub fn name(self) -> String {
        match self.0 {
            0 => "NOERROR".into(),
            1 => "FORMERR".into(),
            2 => "SERVFAIL".into(),
            3 => "NXDOMAIN".into(),
            4 => "NOTIMP".into(),
            5 => "REFUSED".into(),
            n => format!("RCODE{n}"),
        }
    }
}

/// One client DNS lookup (query and, if seen, its answer).
#[derive(Clone, Debug, PartialEq)]
pub struct DnsLookup {
    pub client: SocketAddr,
    pub resolver: SocketAddr,
    /// Lower-case, without the trailing dot.
    pub name: String,
    /// Query type (1 = A, 28 = AAAA, …).
    pub qtype: u16,
    pub start: Timestamp,
    /// Query → answer; `None` when no answer came (see `timed_out`).
    pub latency: Option<Duration>,
    pub rcode: Option<Rcode>,
    pub answers: Vec<IpAddr>,
    /// No answer arrived before the tracker gave up on it.
    pub timed_out: bool,
    /// Queries for the same name and type the client sent again while waiting.
    pub retries: u32,
}

/// Counters the tracker keeps about itself.
// Deserialize: the control socket's StatusReport carries it to the CLI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackerStats {
    pub packets: u64,
    /// Frames that did not parse (kept as a count, never an error).
    pub undecodable: u64,
    /// Well-formed frames that carry no IP (ARP, spanning tree, LLDP...).
    #[serde(default)]
    pub not_ip: u64,
    pub sessions_open: u64,
    pub sessions_total: u64,
    /// Sessions pushed out of the full flow table, oldest first.
    pub sessions_evicted: u64,
    pub dns_pending: u64,
    pub dns_evicted: u64,
    /// Sessions pushed out because their client was at its cap (`max_sessions_per_client`).
    #[serde(default)]
    pub client_cap_evicted: u64,
    /// Bytes held now in reassembly and hello buffers, against the tracker's budget.
    #[serde(default)]
    pub buffer_bytes: u64,
    /// Buffers not kept because the budget could not pay for them.
    #[serde(default)]
    pub buffer_refused: u64,
}
