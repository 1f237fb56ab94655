//! What the evidence ring may keep of a mail packet: headers, TLS records and the plaintext
//! handshake, never a credential or a message (mailpulse.8, "EVIDENCE RING").
//!
//! Plaintext sessions (IMAP 143, POP3 110, SMTP 25/587 before STARTTLS) are followed per flow:
//!
//! - before the login, the client's lines keep their tag and command verb; every argument
//!   byte is overwritten with [`MARK`], and a line that does not start with a known verb (a
//!   SASL or literal continuation, a base64 line) is overwritten whole. The server's lines
//!   (greeting, capabilities, replies) are kept.
//! - from a login command (IMAP LOGIN/AUTHENTICATE, POP3 PASS/APOP/AUTH, SMTP AUTH) until the
//!   server's final answer, the client's lines are overwritten whole; the server's prompts and
//!   its final answer are kept, so a rejected login can still be judged from the ring.
//! - after a successful login, after SMTP DATA/BDAT, after an IMAP PREAUTH greeting, and on
//!   any flow whose start was not seen, every payload byte is overwritten.
//! - once either side sends a TLS record before the login (STARTTLS), the flow's payload is
//!   TLS and is kept as is, like everything on the implicit-TLS ports.
//!
//! Overwriting keeps every length, so sequence numbers still add up when the ring is replayed.
//! The flow table is bounded ([`MAX_FLOWS`]); a flow pushed out of it is treated as unknown,
//! which only loses evidence, never leaks it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::wire::decode::{decode, Transport};
use crate::wire::tcp::flags;
use crate::wire::Frame;

/// The byte that replaces a redacted one: a base64 letter, so a redacted SASL line keeps the
/// shape of one, and not an IMAP/SMTP/POP3 syntax character.
pub const MARK: u8 = b'x';

/// Plaintext sessions followed at once; beyond this the oldest is forgotten.
pub const MAX_FLOWS: usize = 4096;

/// The plaintext mail protocols, by server port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Imap,
    Pop3,
    Smtp,
}

impl Protocol {
    fn for_port(port: u16) -> Option<Protocol> {
        match port {
            143 => Some(Protocol::Imap),
            110 => Some(Protocol::Pop3),
            25 | 587 => Some(Protocol::Smtp),
            _ => None,
        }
    }
}

const DNS_PORT: u16 = 53;

/// Ports whose sessions are TLS from the first byte.
const IMPLICIT_TLS_PORTS: [u16; 3] = [993, 995, 465];

/// Where a plaintext session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Greeting, capabilities, STARTTLS: verbs kept, arguments cut.
    BeforeLogin,
    /// Between a login command and the server's final answer to it.
    LoggingIn,
    /// After STARTTLS: TLS records only.
    Tls,
    /// After the login or once a message is sent: nothing kept.
    Sealed,
}

type FlowKey = (IpAddr, u16, IpAddr, u16);

/// Redacts frames for the evidence ring; keeps a little state per plaintext flow.
#[derive(Default)]
pub struct Redactor {
    flows: HashMap<FlowKey, Phase>,
    order: VecDeque<FlowKey>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// The bytes the ring may keep of `frame` (at most `keep` of them), or `None` when the
    /// frame is not to be kept at all: it cannot be decoded, or its payload cannot be placed
    /// (a later IP fragment, a protocol other than TCP and UDP, such as an ICMP error quoting
    /// a segment).
    pub fn redact(&mut self, frame: &Frame<'_>, keep: usize) -> Option<Vec<u8>> {
        let decoded = decode(frame.link_type, frame.data).ok()?;
        let segment = match decoded.transport {
            Transport::Tcp(segment) => segment,
            Transport::Udp {
                src_port,
                dst_port,
                payload,
            } => {
                let mut kept = frame.data[..frame.data.len().min(keep)].to_vec();
                if src_port != DNS_PORT && dst_port != DNS_PORT {
                    // Not DNS: headers only.
                    let at = offset_in(frame.data, payload)?;
                    if let Some(rest) = kept.get_mut(at..) {
                        rest.fill(MARK);
                    }
                }
                return Some(kept);
            }
            Transport::Other { .. } | Transport::LaterFragment { .. } => return None,
        };
        let payload_at = offset_in(frame.data, segment.payload)?;
        let mut kept = frame.data[..frame.data.len().min(keep)].to_vec();
        let payload_end = (payload_at + segment.payload.len()).min(kept.len());
        let payload = kept.get_mut(payload_at.min(payload_end)..payload_end)?;

        let (protocol, key, from_client) = match (
            Protocol::for_port(segment.dst_port),
            Protocol::for_port(segment.src_port),
        ) {
            (Some(p), _) => (
                p,
                (decoded.src, segment.src_port, decoded.dst, segment.dst_port),
                true,
            ),
            (None, Some(p)) => (
                p,
                (decoded.dst, segment.dst_port, decoded.src, segment.src_port),
                false,
            ),
            (None, None) => {
                let tls = IMPLICIT_TLS_PORTS.contains(&segment.dst_port)
                    || IMPLICIT_TLS_PORTS.contains(&segment.src_port);
                if !tls {
                    // Not a port the capture is for: keep headers only.
                    payload.fill(MARK);
                }
                return Some(kept);
            }
        };
        if segment.has(flags::SYN) && !segment.has(flags::ACK) && from_client {
            self.start(key);
        }
        let phase = self.flows.get(&key).copied().unwrap_or(Phase::Sealed);
        let phase = redact_payload(protocol, phase, from_client, payload);
        if segment.has(flags::RST) || segment.has(flags::FIN) {
            self.flows.remove(&key);
        } else if let Some(slot) = self.flows.get_mut(&key) {
            *slot = phase;
        }
        Some(kept)
    }

    fn start(&mut self, key: FlowKey) {
        if self.flows.len() >= MAX_FLOWS {
            while let Some(old) = self.order.pop_front() {
                if self.flows.remove(&old).is_some() {
                    break;
                }
            }
        }
        // A SYN for a flow already followed (retransmitted, or forged by a LAN host) does not
        // take it back to before the login.
        if let std::collections::hash_map::Entry::Vacant(slot) = self.flows.entry(key) {
            slot.insert(Phase::BeforeLogin);
            self.order.push_back(key);
        }
        // Keys of flows that ended stay in `order` until they reach its front; bound it too.
        while self.order.len() > 2 * MAX_FLOWS {
            if let Some(old) = self.order.pop_front() {
                self.flows.remove(&old);
            }
        }
    }

    /// How many plaintext flows are followed (for tests of the bound).
    #[cfg(test)]
    pub fn flows(&self) -> usize {
        self.flows.len()
    }
}

/// Where `inner` (a subslice of `outer`) starts in `outer`.
fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start + inner.len() <= outer.len()).then_some(start)
}

/// Redacts one segment's payload in place, line by line; returns the flow's next phase.
fn redact_payload(
    protocol: Protocol,
    mut phase: Phase,
    from_client: bool,
    payload: &mut [u8],
) -> Phase {
    if payload.is_empty() {
        return phase;
    }
    if phase == Phase::BeforeLogin && is_tls_record(payload) {
        phase = Phase::Tls;
    }
    match phase {
        Phase::Tls => return phase,
        Phase::Sealed => {
            payload.fill(MARK);
            return phase;
        }
        Phase::BeforeLogin | Phase::LoggingIn => {}
    }
    let mut start = 0;
    while start < payload.len() {
        let end = payload[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(payload.len(), |i| start + i + 1);
        let line = &mut payload[start..end];
        phase = if from_client {
            client_line(protocol, phase, line)
        } else {
            server_line(protocol, phase, line)
        };
        start = end;
    }
    phase
}

/// A TLS record header: handshake, alert or change_cipher_spec, version 3.x.
fn is_tls_record(payload: &[u8]) -> bool {
    matches!(payload, [0x14..=0x16, 0x03, 0x00..=0x04, ..])
}

/// The line without its CR LF.
fn content_len(line: &[u8]) -> usize {
    let mut len = line.len();
    while len > 0 && matches!(line[len - 1], b'\r' | b'\n') {
        len -= 1;
    }
    len
}

/// Overwrites `line[from..]` up to its CR LF.
fn mark_from(line: &mut [u8], from: usize) {
    let end = content_len(line);
    if from < end {
        line[from..end].fill(MARK);
    }
}

/// The byte range of the `n`-th space-separated word (0-based).
fn word(line: &[u8], n: usize) -> Option<(usize, usize)> {
    let end = content_len(line);
    let mut at = 0;
    for i in 0..=n {
        let start = at + line[at..end].iter().position(|&b| b != b' ')?;
        let stop = line[start..end]
            .iter()
            .position(|&b| b == b' ')
            .map_or(end, |p| start + p);
        if i == n {
            return Some((start, stop));
        }
        at = stop;
    }
    None
}

const IMAP_VERBS: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "ID",
    "ENABLE",
    "COMPRESS",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "NAMESPACE",
    "STATUS",
    "APPEND",
    "IDLE",
    "CHECK",
    "CLOSE",
    "UNSELECT",
    "EXPUNGE",
    "SEARCH",
    "FETCH",
    "STORE",
    "COPY",
    "MOVE",
    "UID",
];
const IMAP_LOGIN: &[&str] = &["LOGIN", "AUTHENTICATE"];
const POP3_VERBS: &[&str] = &[
    "CAPA", "STLS", "USER", "PASS", "APOP", "AUTH", "QUIT", "STAT", "LIST", "RETR", "DELE", "NOOP",
    "RSET", "TOP", "UIDL", "UTF8",
];
const POP3_LOGIN: &[&str] = &["PASS", "APOP", "AUTH"];
const SMTP_VERBS: &[&str] = &[
    "EHLO", "HELO", "LHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP",
    "QUIT", "VRFY", "EXPN", "HELP",
];
const SMTP_LOGIN: &[&str] = &["AUTH"];
/// Commands after which the client sends a message.
const SMTP_CONTENT: &[&str] = &["DATA", "BDAT"];

fn is_one_of(word: &[u8], set: &[&str]) -> bool {
    set.iter().any(|v| v.as_bytes().eq_ignore_ascii_case(word))
}

/// One client line: keep the tag and verb of a known command, overwrite the rest.
fn client_line(protocol: Protocol, phase: Phase, line: &mut [u8]) -> Phase {
    if phase == Phase::LoggingIn {
        mark_from(line, 0);
        return phase;
    }
    // IMAP lines start with a tag; the verb is the second word.
    let verb_index = usize::from(protocol == Protocol::Imap);
    let (verbs, login) = match protocol {
        Protocol::Imap => (IMAP_VERBS, IMAP_LOGIN),
        Protocol::Pop3 => (POP3_VERBS, POP3_LOGIN),
        Protocol::Smtp => (SMTP_VERBS, SMTP_LOGIN),
    };
    let Some((start, stop)) = word(line, verb_index) else {
        mark_from(line, 0);
        return phase;
    };
    let verb = &line[start..stop];
    if !is_one_of(verb, verbs) {
        mark_from(line, 0);
        return phase;
    }
    let next = if is_one_of(verb, login) {
        Phase::LoggingIn
    } else if protocol == Protocol::Smtp && is_one_of(verb, SMTP_CONTENT) {
        Phase::Sealed
    } else {
        phase
    };
    mark_from(line, stop);
    next
}

/// One server line: kept; it decides when a login has ended and how.
fn server_line(protocol: Protocol, phase: Phase, line: &[u8]) -> Phase {
    let first = word(line, 0).map(|(a, b)| &line[a..b]).unwrap_or_default();
    let second = word(line, 1).map(|(a, b)| &line[a..b]).unwrap_or_default();
    if phase == Phase::BeforeLogin {
        // A server that logs the client in by itself.
        return if protocol == Protocol::Imap
            && first == b"*"
            && second.eq_ignore_ascii_case(b"PREAUTH")
        {
            Phase::Sealed
        } else {
            phase
        };
    }
    // The final answer to the login, and whether it let the client in.
    let outcome = match protocol {
        Protocol::Imap => (first != b"*" && first != b"+" && !first.is_empty())
            .then(|| second.eq_ignore_ascii_case(b"OK")),
        Protocol::Pop3 => {
            if first.eq_ignore_ascii_case(b"+OK") {
                Some(true)
            } else if first.eq_ignore_ascii_case(b"-ERR") {
                Some(false)
            } else {
                None
            }
        }
        Protocol::Smtp => {
            let code = line.get(..3).filter(|c| c.iter().all(u8::is_ascii_digit));
            let last_line = line.get(3) != Some(&b'-');
            match code {
                Some(b"334") | None => None,
                Some(_) if !last_line => None,
                Some(c) => Some(c[0] == b'2'),
            }
        }
    };
    match outcome {
        Some(true) => Phase::Sealed,
        Some(false) => Phase::BeforeLogin,
        None => phase,
    }
}

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
