//! Turning verdicts and world notices into events: the session object, the one plain sentence
//! a router owner reads, severities and ids.

use std::time::Duration;

use super::event::{Credentials, Event, EventKind, SessionView, Severity, Verdict};
use super::rules::{self, Failure, Finding};
use super::world::{hms, DnsMark, Notice};
use crate::observe::record::{AuthOutcome, Close, Protocol, SessionRecord};
use crate::time::words::{secs, secs_precise};
use crate::time::Timestamp;

/// Hands out event ids in increasing order.
#[derive(Debug)]
pub struct Ids {
    next: u64,
}

impl Ids {
    pub fn new(first: u64) -> Self {
        Self { next: first }
    }

    fn take(&mut self) -> u64 {
        let id = self.next;
        self.next = self.next.saturating_add(1);
        id
    }
}

/// Milliseconds, rounded to the nearest.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().saturating_add(500_000) / 1_000_000).unwrap_or(u64::MAX)
}

/// The credentials judgement for a verdict on this session.
pub fn credentials(verdict: Verdict, rec: &SessionRecord) -> Credentials {
    match verdict {
        Verdict::Ok if rec.auth == AuthOutcome::Ok => Credentials::Ok,
        other => other.credentials(),
    }
}

/// The session object of mailpulse(8), built from the record and its verdict.
pub fn session_view(rec: &SessionRecord, finding: &Finding) -> SessionView {
    SessionView {
        object_type: "session".to_string(),
        client: rec.client.ip(),
        client_port: rec.client.port(),
        server: rec.server.ip(),
        server_port: rec.server.port(),
        protocol: rec.protocol,
        tls: rec.tls,
        server_name: rec.server_name.clone(),
        start: rec.start,
        end: rec.end,
        duration_ms: millis(rec.end.saturating_since(rec.start)),
        tcp_connect_ms: rec.tcp_connect.map(millis),
        tls_handshake_ms: rec.tls_handshake.map(millis),
        tls_version: rec.tls_version,
        tls_alert: rec.tls_alert.map(|a| a.name()),
        bytes_from_client: rec.bytes_from_client,
        bytes_from_server: rec.bytes_from_server,
        retransmits_from_client: rec.retransmits_from_client,
        closed_by: rec.closed_by.into(),
        close: rec.close,
        auth: rec.auth,
        verdict: finding.verdict,
        credentials: credentials(finding.verdict, rec),
        evidence: finding.evidence.clone(),
    }
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Imap => "IMAP",
        Protocol::Pop3 => "POP",
        Protocol::Smtp => "SMTP",
    }
}

/// "The IMAP session from 192.168.1.23 to imap.gmail.com".
pub fn session_subject(rec: &SessionRecord) -> String {
    let server = rec
        .server_name
        .clone()
        .unwrap_or_else(|| rec.server.ip().to_string());
    format!(
        "The {} session from {} to {}",
        protocol_name(rec.protocol),
        rec.client.ip(),
        server
    )
}

/// Why, in words that finish "failed because …".
pub fn cause(verdict: Verdict, inferred: bool) -> &'static str {
    match verdict {
        Verdict::Ok => "",
        Verdict::AuthRejected if inferred => {
            "the server most likely refused the login (judged from the encrypted session's shape)"
        }
        Verdict::AuthRejected => "the server refused the login",
        Verdict::WanDown => "the WAN link was down",
        Verdict::WanAddressChanged => "the WAN address or default route changed and cut it",
        Verdict::UpstreamUnreachable => "the server could not be reached beyond the router",
        Verdict::DnsFailure => "the client's DNS lookup of the server failed",
        Verdict::DnsSlow => "the client's DNS lookup of the server was slow",
        Verdict::ServerSlow => "the server was too slow to answer",
        Verdict::ServerRefused => "the server refused or reset the connection",
        Verdict::TlsRejected => "the TLS handshake was refused",
        Verdict::StateExpired => {
            "it sat idle until a firewall forgot it, so its next data went nowhere"
        }
        Verdict::Unknown => "of something the router could not pin down",
    }
}

/// The credentials clause that ends a session sentence.
fn credentials_clause(credentials: Credentials) -> &'static str {
    match credentials {
        Credentials::NotAtFault => "; the password was not the problem.",
        Credentials::Rejected => "; the password (or the way it is sent) is the problem.",
        Credentials::Ok => ".",
        Credentials::Unknown => "; whether the password was right is not known.",
    }
}

fn is_inferred(finding: &Finding) -> bool {
    finding.verdict == Verdict::AuthRejected
        && finding.evidence.iter().any(|e| e.starts_with("inferred"))
}

/// What a lone refused-login shape is said to be: not a failure for certain.
pub const LONE_SHAPE_CAUSE: &str =
    "ended as a refused login does, but a short accepted one can look the same";

/// An `unknown` resting on a lone refused-login shape (its evidence begins with it).
pub fn is_lone_shape(verdict: Verdict, evidence: &[String]) -> bool {
    verdict == Verdict::Unknown
        && evidence
            .first()
            .is_some_and(|e| e.starts_with(rules::LONE_SHAPE))
}

/// The one sentence for a session event.
pub fn session_message(rec: &SessionRecord, finding: &Finding) -> String {
    let subject = session_subject(rec);
    let credentials = credentials(finding.verdict, rec);
    if finding.verdict == Verdict::Ok {
        return match credentials {
            Credentials::Ok => format!("{subject} completed normally and the login worked."),
            _ => format!("{subject} completed normally."),
        };
    }
    if is_lone_shape(finding.verdict, &finding.evidence) {
        return format!(
            "{subject} {LONE_SHAPE_CAUSE}{}",
            credentials_clause(credentials)
        );
    }
    format!(
        "{subject} failed because {}{}",
        cause(finding.verdict, is_inferred(finding)),
        credentials_clause(credentials)
    )
}

/// What happened to the session, for the client's story ("was waiting for an answer and gave
/// up at 14:03:33").
pub fn session_outcome(rec: &SessionRecord, failure: &Failure, verdict: Verdict) -> String {
    if verdict == Verdict::Ok {
        return format!("completed normally at {}", hms(rec.end));
    }
    // Times are formatted only where a sentence uses them: formatting costs more than the
    // rest of this function, which runs for every judged session.
    let end = hms(failure.to);
    if rec.auth == AuthOutcome::Failed {
        return format!("was refused at login at {end}");
    }
    if rec.tls_alert.is_some() {
        return format!("failed in the TLS handshake at {end}");
    }
    let still_open = rec.close == Close::Open;
    if failure.syn_unanswered && still_open {
        let since = hms(failure.from);
        return format!("had been trying to connect since {since} (still trying at {end})");
    }
    if failure.syn_unanswered {
        return format!("could not connect and gave up at {end}");
    }
    if failure.data_unanswered && still_open {
        let since = hms(failure.from);
        return format!("had been waiting for an answer since {since} (still open at {end})");
    }
    if failure.data_unanswered || failure.client_gave_up.is_some() {
        return format!("was waiting for an answer and gave up at {end}");
    }
    if verdict == Verdict::StateExpired && rec.close == Close::Open {
        return format!(
            "had been quiet since {} and was silently forgotten",
            hms(rec.end)
        );
    }
    format!("ended at {end}")
}

/// An event with only the common fields set.
fn base(
    ids: &mut Ids,
    time: Timestamp,
    kind: EventKind,
    severity: Severity,
    message: String,
) -> Event {
    Event {
        id: ids.take(),
        time,
        kind,
        severity,
        verdict: None,
        credentials: None,
        client: None,
        server_name: None,
        server: None,
        server_port: None,
        protocol: None,
        message,
        advice: None,
        session: None,
        evidence: Vec::new(),
    }
}

/// The `session-ok` or `session-failed` event for a judged session.
pub fn session_event(
    ids: &mut Ids,
    time: Timestamp,
    rec: &SessionRecord,
    finding: &Finding,
    advice: Option<String>,
) -> Event {
    let (kind, severity) = if finding.verdict == Verdict::Ok {
        (EventKind::SessionOk, Severity::Info)
    } else {
        (EventKind::SessionFailed, Severity::Warning)
    };
    let view = session_view(rec, finding);
    let mut event = base(ids, time, kind, severity, session_message(rec, finding));
    event.verdict = Some(view.verdict);
    event.credentials = Some(view.credentials);
    event.client = Some(view.client);
    event.server_name = view.server_name.clone();
    event.server = Some(view.server);
    event.server_port = Some(view.server_port);
    event.protocol = Some(view.protocol);
    event.advice = advice;
    event.evidence = finding.evidence.clone();
    event.session = Some(view);
    event
}

/// A standalone `dns-failure` or `dns-slow` event for a client's lookup of a mail host.
pub fn dns_event(
    ids: &mut Ids,
    time: Timestamp,
    mark: &DnsMark,
    slow_dns: Duration,
) -> Option<Event> {
    let (kind, verdict, message, evidence) = if let Some(why) = mark.failure() {
        (
            EventKind::DnsFailure,
            Verdict::DnsFailure,
            format!(
                "{}'s DNS lookup of {} failed ({why}), so its mail app could not reach the server; the password was not the problem.",
                mark.client, mark.name
            ),
            format!("lookup of {} at {} failed: {why}", mark.name, hms(mark.start)),
        )
    } else {
        let latency = mark.latency.filter(|l| *l > slow_dns)?;
        (
            EventKind::DnsSlow,
            Verdict::DnsSlow,
            format!(
                "{}'s DNS lookup of {} took {}, long enough for an old mail app to give up; the password was not the problem.",
                mark.client,
                mark.name,
                secs_precise(latency)
            ),
            format!(
                "lookup of {} at {} took {} (threshold {})",
                mark.name,
                hms(mark.start),
                secs_precise(latency),
                secs_precise(slow_dns)
            ),
        )
    };
    let mut event = base(ids, time, kind, Severity::Warning, message);
    event.verdict = Some(verdict);
    event.credentials = Some(Credentials::NotAtFault);
    event.client = Some(mark.client);
    event.server_name = Some(mark.name.clone());
    event.evidence = vec![evidence];
    Some(event)
}

/// The event for a world notice.
pub fn notice_event(ids: &mut Ids, time: Timestamp, notice: &Notice) -> Event {
    let (kind, severity, message, evidence) = notice_wording(time, notice);
    let mut event = base(ids, time, kind, severity, message);
    event.evidence = evidence;
    event.server_name = probed_host(notice).map(str::to_string);
    event
}

/// The host a probe notice is about; other notices are about no server.
fn probed_host(notice: &Notice) -> Option<&str> {
    match notice {
        Notice::ProbeFailed { host, .. }
        | Notice::ProbeSlow { host, .. }
        | Notice::ProbeCertInvalid { host, .. }
        | Notice::ProbeRecovered { host, .. } => Some(host),
        Notice::WanDown { .. }
        | Notice::WanUp { .. }
        | Notice::WanAddressChanged { .. }
        | Notice::GatewayLoss { .. }
        | Notice::GatewayRecovered { .. } => None,
    }
}

/// A world notice's event kind, severity, plain sentence and evidence.
fn notice_wording(time: Timestamp, notice: &Notice) -> (EventKind, Severity, String, Vec<String>) {
    match notice {
        Notice::WanDown { interface } => (
            EventKind::WanDown,
            Severity::Warning,
            format!("The WAN link {interface} went down at {}; mail apps on the LAN cannot reach their servers until it is back.", hms(time)),
            vec![format!("{interface} down at {}", hms(time))],
        ),
        Notice::WanUp { interface, down_for } => {
            let length = down_for.map(secs);
            (
                EventKind::WanUp,
                Severity::Notice,
                match &length {
                    Some(l) => format!("The WAN link {interface} is back up after {l}."),
                    None => format!("The WAN link {interface} is back up."),
                },
                vec![match &length {
                    Some(l) => format!("{interface} up at {} after {l} down", hms(time)),
                    None => format!("{interface} up at {}", hms(time)),
                }],
            )
        }
        Notice::WanAddressChanged { description, .. } => (
            EventKind::WanAddressChanged,
            Severity::Warning,
            format!("The WAN address or default route changed ({description}); mail sessions open at that moment lose their connection."),
            vec![format!("{description} at {}", hms(time))],
        ),
        Notice::GatewayLoss { gateway, loss_percent, latency } => (
            EventKind::GatewayLoss,
            Severity::Warning,
            format!("The gateway {gateway} is losing {loss_percent:.0}% of its pings; mail sessions may stall."),
            vec![match latency {
                Some(l) => format!("{gateway}: loss {loss_percent:.0}%, latency {} ms", millis(*l)),
                None => format!("{gateway}: loss {loss_percent:.0}%"),
            }],
        ),
        Notice::GatewayRecovered { gateway, loss_percent, after } => (
            EventKind::GatewayRecovered,
            Severity::Notice,
            format!("The gateway {gateway} answers its pings again (loss {loss_percent:.0}%) after {}.", secs(*after)),
            vec![format!("{gateway}: loss {loss_percent:.0}% after {} of loss", secs(*after))],
        ),
        Notice::ProbeFailed { target, failure, .. } => (
            EventKind::ProbeFailed,
            Severity::Warning,
            format!("The router's own check of {target} failed at the {} step ({}).", failure.phase.name(), failure.error),
            vec![format!("probe {target} failed at {}: {}", failure.phase.name(), failure.error)],
        ),
        Notice::ProbeSlow { target, phase, took, .. } => (
            EventKind::ProbeSlow,
            Severity::Warning,
            format!("The router's own check of {target} was slow at the {} step ({}).", phase.name(), secs_precise(*took)),
            vec![format!("probe {target} slow at {}: {}", phase.name(), secs_precise(*took))],
        ),
        Notice::ProbeCertInvalid { target, error, .. } => (
            EventKind::ProbeCertInvalid,
            Severity::Warning,
            format!("The router's own check of {target} reached the server, but its TLS certificate is not valid ({error}); mail clients that check certificates will refuse to log in."),
            vec![format!("probe {target} certificate not valid: {error}")],
        ),
        Notice::ProbeRecovered { target, after, .. } => (
            EventKind::ProbeRecovered,
            Severity::Notice,
            format!("The router's own check of {target} works again after {}.", secs(*after)),
            vec![format!("probe {target} ok after {} of trouble", secs(*after))],
        ),
    }
}
