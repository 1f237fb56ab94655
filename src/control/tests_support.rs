//! Sample data shared by the tests of the control protocol and of the reports.

use crate::diagnose::event::{Credentials, Event, EventKind, Severity, Verdict};
use crate::time::Timestamp;

/// A failed IMAP session blamed on the WAN, numbered `id`.
pub(crate) fn event(id: u64) -> Event {
    Event {
        id,
        time: Timestamp::from_unix(1_700_000_000 + id as i64, 0),
        kind: EventKind::SessionFailed,
        severity: Severity::Warning,
        verdict: Some(Verdict::WanDown),
        credentials: Some(Credentials::NotAtFault),
        client: "192.168.1.20".parse().ok(),
        server_name: Some("outlook.office365.com".into()),
        server: "52.97.1.1".parse().ok(),
        server_port: Some(993),
        protocol: Some(crate::observe::record::Protocol::Imap),
        message: format!("event number {id}"),
        advice: None,
        session: None,
        evidence: vec!["wan down 14:03:12-14:03:41".into()],
    }
}
