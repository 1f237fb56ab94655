//! The engine's output: events, with the verdict and the evidence it rests on.
//!
//! These types are the JSON contract of mailpulse(8) ("Session and event JSON"): the journal, the
//! control socket, configd and the web UI read them. Extend, do not rename.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::observe::record::{Close, Protocol, Side, TlsMode, TlsVersion};
use crate::time::Timestamp;

/// What the engine concluded about a session (mailpulse(8), "Verdicts").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Ok,
    AuthRejected,
    WanDown,
    WanAddressChanged,
    UpstreamUnreachable,
    DnsFailure,
    DnsSlow,
    ServerSlow,
    ServerRefused,
    TlsRejected,
    StateExpired,
    Unknown,
}

impl Verdict {
    /// Every verdict, in mailpulse(8)'s order.
    pub const ALL: [Verdict; 12] = [
        Verdict::Ok,
        Verdict::AuthRejected,
        Verdict::WanDown,
        Verdict::WanAddressChanged,
        Verdict::UpstreamUnreachable,
        Verdict::DnsFailure,
        Verdict::DnsSlow,
        Verdict::ServerSlow,
        Verdict::ServerRefused,
        Verdict::TlsRejected,
        Verdict::StateExpired,
        Verdict::Unknown,
    ];

    /// The kebab-case name used in JSON, syslog and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::AuthRejected => "auth-rejected",
            Verdict::WanDown => "wan-down",
            Verdict::WanAddressChanged => "wan-address-changed",
            Verdict::UpstreamUnreachable => "upstream-unreachable",
            Verdict::DnsFailure => "dns-failure",
            Verdict::DnsSlow => "dns-slow",
            Verdict::ServerSlow => "server-slow",
            Verdict::ServerRefused => "server-refused",
            Verdict::TlsRejected => "tls-rejected",
            Verdict::StateExpired => "state-expired",
            Verdict::Unknown => "unknown",
        }
    }

    /// The credentials judgement that goes with this verdict (mailpulse(8)'s table); `ok` sessions
    /// say `ok` only when a successful login was seen, which the caller decides.
    pub fn credentials(self) -> Credentials {
        match self {
            Verdict::Ok | Verdict::Unknown => Credentials::Unknown,
            Verdict::AuthRejected => Credentials::Rejected,
            _ => Credentials::NotAtFault,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the password was at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Credentials {
    Ok,
    Rejected,
    NotAtFault,
    Unknown,
}

impl Credentials {
    pub fn as_str(self) -> &'static str {
        match self {
            Credentials::Ok => "ok",
            Credentials::Rejected => "rejected",
            Credentials::NotAtFault => "not-at-fault",
            Credentials::Unknown => "unknown",
        }
    }
}

/// Syslog severity names, as used in the JSON and for the syslog priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

/// Kinds of events (mailpulse(8) lists the first ones; more may be added, never renamed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    SessionFailed,
    SessionOk,
    WanDown,
    WanUp,
    WanAddressChanged,
    ProbeFailed,
    ProbeSlow,
    ProbeRecovered,
    DnsFailure,
    DnsSlow,
    GatewayLoss,
    GatewayRecovered,
    CaptureDrops,
    DaemonStarted,
    DaemonNotice,
    /// A probe reached the server, but its TLS certificate did not validate.
    ProbeCertInvalid,
}

impl EventKind {
    /// The kebab-case name used in JSON and as the first word of the syslog line.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SessionFailed => "session-failed",
            EventKind::SessionOk => "session-ok",
            EventKind::WanDown => "wan-down",
            EventKind::WanUp => "wan-up",
            EventKind::WanAddressChanged => "wan-address-changed",
            EventKind::ProbeFailed => "probe-failed",
            EventKind::ProbeSlow => "probe-slow",
            EventKind::ProbeRecovered => "probe-recovered",
            EventKind::DnsFailure => "dns-failure",
            EventKind::DnsSlow => "dns-slow",
            EventKind::GatewayLoss => "gateway-loss",
            EventKind::GatewayRecovered => "gateway-recovered",
            EventKind::CaptureDrops => "capture-drops",
            EventKind::DaemonStarted => "daemon-started",
            EventKind::DaemonNotice => "daemon-notice",
            EventKind::ProbeCertInvalid => "probe-cert-invalid",
        }
    }

    /// Failures are what `events --failures` keeps.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            EventKind::SessionFailed
                | EventKind::WanDown
                | EventKind::WanAddressChanged
                | EventKind::ProbeFailed
                | EventKind::ProbeSlow
                | EventKind::ProbeCertInvalid
                | EventKind::DnsFailure
                | EventKind::DnsSlow
                | EventKind::GatewayLoss
                | EventKind::CaptureDrops
        )
    }
}

/// The session object of mailpulse(8) (`"type": "session"` in `replay --json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    /// Always `"session"`.
    #[serde(rename = "type")]
    pub object_type: String,
    pub client: IpAddr,
    pub client_port: u16,
    pub server: IpAddr,
    pub server_port: u16,
    pub protocol: Protocol,
    pub tls: TlsMode,
    pub server_name: Option<String>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub duration_ms: u64,
    pub tcp_connect_ms: Option<u64>,
    pub tls_handshake_ms: Option<u64>,
    pub tls_version: Option<TlsVersion>,
    /// Alert name (`"protocol_version"`), or null.
    pub tls_alert: Option<String>,
    pub bytes_from_client: u64,
    pub bytes_from_server: u64,
    pub retransmits_from_client: u32,
    /// `client`, `server` or `none`.
    pub closed_by: ClosedBy,
    pub close: Close,
    pub auth: crate::observe::record::AuthOutcome,
    pub verdict: Verdict,
    pub credentials: Credentials,
    pub evidence: Vec<String>,
}

/// `closed_by` in the session JSON: a side, or `none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClosedBy {
    Client,
    Server,
    None,
}

impl From<Option<Side>> for ClosedBy {
    fn from(side: Option<Side>) -> Self {
        match side {
            Some(Side::Client) => ClosedBy::Client,
            Some(Side::Server) => ClosedBy::Server,
            None => ClosedBy::None,
        }
    }
}

/// One event (mailpulse(8), "Event object").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Increasing; continues across restarts (the journal remembers the last one).
    pub id: u64,
    pub time: Timestamp,
    pub kind: EventKind,
    pub severity: Severity,
    pub verdict: Option<Verdict>,
    pub credentials: Option<Credentials>,
    pub client: Option<IpAddr>,
    pub server_name: Option<String>,
    pub server: Option<IpAddr>,
    pub server_port: Option<u16>,
    pub protocol: Option<Protocol>,
    /// One plain sentence.
    pub message: String,
    pub advice: Option<String>,
    pub session: Option<SessionView>,
    pub evidence: Vec<String>,
}
