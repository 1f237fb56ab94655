//! Replay's output: each session view and event as one JSON line (`--json`), or as a row of
//! an aligned text table under a header printed once.

use std::io::{self, Write};
use std::net::SocketAddr;

use crate::diagnose::event::{Event, SessionView};
use crate::sys::clock::local_text;

/// Writes sessions and events as JSON lines or as an aligned table.
pub(super) struct Printer<'a> {
    json: bool,
    out: &'a mut dyn Write,
    /// One JSON line, serialised here (no dynamic dispatch per token) and handed to `out`
    /// whole; the allocation is reused.
    line: Vec<u8>,
    header_done: bool,
    result: io::Result<()>,
}

impl<'a> Printer<'a> {
    pub(super) fn new(json: bool, out: &'a mut dyn Write) -> Self {
        Self {
            json,
            out,
            line: Vec::new(),
            header_done: false,
            result: Ok(()),
        }
    }

    pub(super) fn session(&mut self, view: &SessionView) {
        if self.result.is_err() {
            return;
        }
        self.result = if self.json {
            write_json_line(self.out, &mut self.line, view)
        } else {
            self.session_row(view)
        };
    }

    pub(super) fn event(&mut self, event: &Event) {
        if self.result.is_err() {
            return;
        }
        self.result = if self.json {
            write_json_line(self.out, &mut self.line, &EventLine(event))
        } else {
            self.header();
            writeln!(
                self.out,
                "{:<19}  {:<15} {}",
                local_text(event.time),
                event.kind.as_str(),
                event.message
            )
        };
    }

    /// Whether everything was written: the first write error, if any (nothing is written
    /// after it).
    pub(super) fn into_result(self) -> io::Result<()> {
        self.result
    }

    fn header(&mut self) {
        if !self.header_done {
            self.header_done = true;
            self.result = writeln!(
                self.out,
                "{:<19}  {:<21} {:<28} {:<10} {:<20} {:<12} EVIDENCE",
                "TIME", "CLIENT", "SERVER", "PROTOCOL", "VERDICT", "CREDENTIALS"
            );
        }
    }

    fn session_row(&mut self, v: &SessionView) -> io::Result<()> {
        self.header();
        let server = v
            .server_name
            .clone()
            .unwrap_or_else(|| v.server.to_string());
        let protocol = format!("{}/{}", v.protocol, v.server_port);
        let evidence = v
            .evidence
            .iter()
            .find(|e| !e.starts_with("not judged"))
            .or(v.evidence.first())
            .map(String::as_str)
            .unwrap_or("");
        // A row that revises an earlier verdict of the same session says so up front.
        let revised = v
            .evidence
            .iter()
            .find_map(|e| e.strip_prefix("revises the verdict "))
            .and_then(|rest| rest.split(' ').next());
        let evidence = match revised {
            Some(old) => format!("(revises {old}) {evidence}"),
            None => evidence.to_string(),
        };
        writeln!(
            self.out,
            "{:<19}  {:<21} {:<28} {:<10} {:<20} {:<12} {}",
            local_text(v.start),
            fit(&SocketAddr::new(v.client, v.client_port).to_string(), 21),
            fit(&server, 28),
            fit(&protocol, 10),
            v.verdict.as_str(),
            v.credentials.as_str(),
            evidence
        )
    }
}

/// `text` in at most `width` characters: a longer one keeps its start and end around "…", so
/// the columns after it stay aligned (a port or a domain's end stays readable).
fn fit(text: &str, width: usize) -> String {
    let chars = text.chars().count();
    if chars <= width || width < 2 {
        return text.to_string();
    }
    let tail = (width - 1) / 2;
    let head = width - 1 - tail;
    let mut out: String = text.chars().take(head).collect();
    out.push('…');
    out.extend(text.chars().skip(chars - tail));
    out
}

/// An event as one JSON object with `"type": "event"` added, written straight to the output.
/// The keys come in alphabetical order, as they did when the line was built as a
/// `serde_json::Value` (whose map sorts them), so the output is unchanged.
struct EventLine<'a>(&'a Event);

impl serde::Serialize for EventLine<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let e = self.0;
        let mut map = serializer.serialize_map(Some(16))?;
        map.serialize_entry("advice", &e.advice)?;
        map.serialize_entry("client", &e.client)?;
        map.serialize_entry("credentials", &e.credentials)?;
        map.serialize_entry("evidence", &e.evidence)?;
        map.serialize_entry("id", &e.id)?;
        map.serialize_entry("kind", &e.kind)?;
        map.serialize_entry("message", &e.message)?;
        map.serialize_entry("protocol", &e.protocol)?;
        map.serialize_entry("server", &e.server)?;
        map.serialize_entry("server_name", &e.server_name)?;
        map.serialize_entry("server_port", &e.server_port)?;
        match &e.session {
            // A nested object's keys were sorted too: go through a `Value` for it (replay
            // prints sessions as their own lines, so this does not happen on its path).
            Some(view) => {
                let value = serde_json::to_value(view).map_err(serde::ser::Error::custom)?;
                map.serialize_entry("session", &value)?;
            }
            None => map.serialize_entry("session", &None::<()>)?,
        }
        map.serialize_entry("severity", &e.severity)?;
        map.serialize_entry("time", &e.time)?;
        map.serialize_entry("type", "event")?;
        map.serialize_entry("verdict", &e.verdict)?;
        map.end()
    }
}

fn write_json_line(
    out: &mut dyn Write,
    line: &mut Vec<u8>,
    value: &impl serde::Serialize,
) -> io::Result<()> {
    line.clear();
    serde_json::to_writer(&mut *line, value).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(line)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::diagnose::event::{Credentials, Verdict};
    use crate::observe::record::{AuthOutcome, Close, SessionRecord};
    use crate::replay::{run, unjudged_view};
    use crate::time::Timestamp;

    /// The event line is what the `Value` it replaced gave: every field of `Event`, keys in
    /// alphabetical order, plus `"type": "event"`.
    #[test]
    fn event_lines_match_the_sorted_value_form() {
        use crate::diagnose::event::{EventKind, Severity};
        let mut event = Event {
            id: 7,
            time: Timestamp::from_unix(1_700_000_000, 5_000_000),
            kind: EventKind::DnsFailure,
            severity: Severity::Warning,
            verdict: Some(Verdict::DnsFailure),
            credentials: Some(Credentials::NotAtFault),
            client: Some("192.0.2.7".parse().unwrap()),
            server_name: Some("imap.example.test".into()),
            server: None,
            server_port: Some(993),
            protocol: None,
            message: "a \"quoted\" sentence".into(),
            advice: None,
            session: None,
            evidence: vec!["one".into(), "two".into()],
        };
        let sorted = |event: &Event| {
            let mut value = serde_json::to_value(event).unwrap();
            value
                .as_object_mut()
                .unwrap()
                .insert("type".to_string(), "event".into());
            serde_json::to_string(&value).unwrap()
        };
        assert_eq!(
            serde_json::to_string(&EventLine(&event)).unwrap(),
            sorted(&event)
        );
        let start = Timestamp::from_unix(1_700_000_000, 0);
        let record = SessionRecord {
            id: 1,
            client: "192.0.2.7:50000".parse().unwrap(),
            server: "198.51.100.1:993".parse().unwrap(),
            protocol: crate::observe::record::Protocol::Imap,
            tls: crate::observe::record::TlsMode::Implicit,
            server_name: Some("imap.example.test".into()),
            start,
            end: start.plus(Duration::from_millis(1500)),
            syns_from_client: 1,
            tcp_connect: Some(Duration::from_millis(20)),
            tls_handshake: None,
            tls_version: None,
            tls_client_max: None,
            tls_alert: None,
            app: Default::default(),
            greeting: None,
            slowest_reply: None,
            last_reply_at: None,
            bytes_from_client: 10,
            bytes_from_server: 20,
            packets_from_client: 3,
            packets_from_server: 2,
            retransmits_from_client: 0,
            retransmits_from_server: 0,
            unanswered_since: None,
            idle_before_unanswered: None,
            longest_stall: None,
            closed_by: None,
            client_closed_at: None,
            server_data_missing: None,
            close: Close::Open,
            auth: AuthOutcome::Unknown,
            auth_reply: None,
            login_required: false,
            tls_mismatch: None,
            client_waiting_at_close: None,
            server_side_unseen: false,
        };
        event.session = Some(unjudged_view(&record));
        assert_eq!(
            serde_json::to_string(&EventLine(&event)).unwrap(),
            sorted(&event)
        );
    }

    /// Every row of the text table keeps its columns, whatever the names and addresses, and a
    /// row that revises an earlier verdict says so.
    #[test]
    fn text_rows_keep_their_columns_and_show_revisions() {
        let capture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/imaps-imaplib-wrong-password.pcap");
        let (mut json, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run(&capture, None, true, &mut json, &mut err), 0);
        let mut views: Vec<SessionView> = String::from_utf8(json)
            .unwrap()
            .lines()
            .filter(|l| l.contains(r#""type":"session""#))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut wide = views[0].clone();
        wide.client = "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        wide.server_name = Some("a-very-long-mail-host-name.mail.example.org".into());
        wide.server_port = 65535;
        views.push(wide);
        let mut out = Vec::new();
        let mut printer = Printer::new(false, &mut out);
        for v in &views {
            printer.session(v);
        }
        printer.result.unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let column = |line: &str, at: usize| line.chars().skip(at).take(20).collect::<String>();
        let at = header.find("VERDICT").unwrap();
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), views.len());
        for (row, v) in rows.iter().zip(&views) {
            assert_eq!(column(row, at).trim_end(), v.verdict.as_str(), "{row}");
        }
        assert!(rows[rows.len() - 1].contains("…"), "{text}");
        assert!(
            rows.iter().any(|r| r.contains("(revises unknown)")),
            "{text}"
        );
    }
}
