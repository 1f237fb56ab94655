//! Views of sessions the engine gave no verdict for, built from the tracker's record alone:
//! verdict and credentials `unknown`, evidence listing what the packets showed.

use std::time::Duration;

use crate::diagnose::event::{ClosedBy, Credentials, SessionView, Verdict};
use crate::observe::record::{AuthOutcome, Close, SessionRecord, Side};
use crate::time::Timestamp;
use crate::track::STALL_AFTER;

/// How long a session the capture's end cut off had been waiting for the server, when that is
/// shorter than the tracker takes to call the wait a stall (live, it would not have been
/// judged yet): `None` for a session that was not waiting or had waited long enough.
pub(super) fn capture_ended_wait(record: &SessionRecord, end: Timestamp) -> Option<Duration> {
    if !matches!(record.close, Close::Open | Close::Timeout) {
        return None;
    }
    let since = record.unanswered_since?;
    let waited = end.saturating_since(since);
    (waited < STALL_AFTER).then_some(waited)
}

/// The view of a session whose wait the capture's end cut short: `unknown`, saying so.
pub(super) fn capture_ended_view(record: &SessionRecord, end: Timestamp) -> SessionView {
    let waited = end.saturating_since(record.unanswered_since.unwrap_or(end));
    let what = if record.tcp_connect.is_none() {
        "the client's SYN"
    } else {
        "the client's last data"
    };
    let mut view = unjudged_view(record);
    view.evidence = vec![
        format!(
            "the capture ended {} ms after {what}: too soon to tell whether an answer would come (not a sign of a fault)",
            waited.as_millis()
        ),
        "still open when the capture ended".to_string(),
    ];
    view.evidence.extend(record_facts(record));
    view
}

/// The session view of a record the engine has not judged: verdict and credentials
/// `unknown`, evidence listing what the packets showed.
pub fn unjudged_view(record: &SessionRecord) -> SessionView {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let mut evidence = vec!["not judged: no diagnosis for this session".to_string()];
    evidence.extend(record_facts(record));
    SessionView {
        object_type: "session".to_string(),
        client: record.client.ip(),
        client_port: record.client.port(),
        server: record.server.ip(),
        server_port: record.server.port(),
        protocol: record.protocol,
        tls: record.tls,
        server_name: record.server_name.clone(),
        start: record.start,
        end: record.end,
        duration_ms: ms(record.end.saturating_since(record.start)),
        tcp_connect_ms: record.tcp_connect.map(ms),
        tls_handshake_ms: record.tls_handshake.map(ms),
        tls_version: record.tls_version,
        tls_alert: record.tls_alert.map(|a| a.name()),
        bytes_from_client: record.bytes_from_client,
        bytes_from_server: record.bytes_from_server,
        retransmits_from_client: record.retransmits_from_client,
        closed_by: ClosedBy::from(record.closed_by),
        close: record.close,
        auth: record.auth,
        verdict: Verdict::Unknown,
        credentials: Credentials::Unknown,
        evidence,
    }
}

/// Short statements of what the packets showed, most telling first.
fn record_facts(r: &SessionRecord) -> Vec<String> {
    let side = |s: Side| match s {
        Side::Client => "client",
        Side::Server => "server",
    };
    let mut facts = Vec::new();
    if let Some(alert) = r.tls_alert {
        facts.push(format!(
            "TLS alert {} from the {}",
            alert.name(),
            side(alert.from)
        ));
    }
    if let (Some(reply), AuthOutcome::Failed | AuthOutcome::Ok) = (&r.auth_reply, r.auth) {
        facts.push(format!("server replied to the login: {reply}"));
    } else if let Some(reply) = &r.auth_reply {
        facts.push(format!("login not completed: {reply}"));
    }
    if r.tcp_connect.is_none() && r.syns_from_client > 0 {
        facts.push(format!("{} SYN(s) without an answer", r.syns_from_client));
    } else if let Some(since) = r.unanswered_since {
        facts.push(format!("client data from {since} got no answer"));
    }
    if let (Some(v), Some(max)) = (r.tls_version, r.tls_client_max) {
        facts.push(format!("TLS {v} chosen; client offered up to {max}"));
    } else if let Some(max) = r.tls_client_max {
        facts.push(format!(
            "client offered TLS up to {max}; no ServerHello seen"
        ));
    }
    match (r.close, r.closed_by) {
        (Close::Rst, Some(s)) => facts.push(format!("reset by the {}", side(s))),
        (Close::Fin, Some(s)) => facts.push(format!("closed by the {}", side(s))),
        (Close::Timeout, _) => facts.push("went quiet and timed out".to_string()),
        _ => {}
    }
    if r.retransmits_from_client > 0 {
        facts.push(format!(
            "{} client retransmission(s)",
            r.retransmits_from_client
        ));
    }
    facts
}
