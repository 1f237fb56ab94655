//! `mailpulse replay`: a capture file through the same tracker and engine as the daemon.
//!
//! The file (pcap or pcapng, plain or gzip-compressed) is streamed through
//! [`crate::capture_file`], never read whole. Frames go to the tracker, the tracker's
//! observations (in time order) to the engine, and the engine's events to the output. A
//! session the engine gives no view for is printed from the tracker's record with verdict
//! `unknown` ([`unjudged_view`]), so the output exists whatever the engine decides.
//!
//! `--timeline` adds the daemon's recorded non-packet observations (`timeline.jsonl`: link
//! and route changes, WAN interfaces, probes, gateway samples) in time order with the
//! capture's, so the engine sees the same context it saw live.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::capture_file::{read as read_capture, ReadError};
use crate::diagnose::event::{ClosedBy, Credentials, Event, SessionView, Verdict};
use crate::diagnose::observation::{Observation, ObservationKind};
use crate::diagnose::{DiagnosisConfig, Engine};
use crate::time::Timestamp;
use crate::track::record::{AuthOutcome, Close, SessionRecord, Side};
use crate::track::{KeyedBuildHasher, Tracker, TrackerConfig, STALL_AFTER};
use crate::wire::Frame;

/// sysexits: the input file is missing or unreadable.
const EX_NOINPUT: i32 = 66;
/// sysexits: the input is not in a format we read.
const EX_DATAERR: i32 = 65;
/// sysexits: something failed that should not have (writing the output).
const EX_SOFTWARE: i32 = 70;

/// How often (in capture time) the tracker's timers run.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// A session the engine has not judged this long after it ended gets its unjudged view.
const JUDGE_GRACE: Duration = Duration::from_secs(300);

/// Runs `mailpulse replay CAPTURE [--timeline JOURNAL] [--json]`; returns the exit code.
pub fn main(capture: &Path, timeline: Option<&Path>, json: bool) -> i32 {
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let code = run(capture, timeline, json, &mut out, &mut stderr.lock());
    if out.flush().is_err() {
        return EX_SOFTWARE;
    }
    code
}

/// `main` with its output streams given (for tests).
pub fn run(
    capture: &Path,
    timeline: Option<&Path>,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    // Diagnostics to `err` are best effort: a closed stderr must not change the exit code.
    // The daemon's non-packet observations (WAN, probes, gateways), merged in time order.
    let mut recorded = Vec::new();
    if let Some(path) = timeline {
        match crate::report::timeline::read(path) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    let _ = writeln!(err, "mailpulse replay: warning: {warning}");
                }
                recorded = loaded.observations;
            }
            Err(e) => {
                let _ = writeln!(err, "mailpulse replay: cannot read {}: {e}", path.display());
                return EX_NOINPUT;
            }
        }
    }
    let file = match File::open(capture) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(
                err,
                "mailpulse replay: cannot open {}: {e}",
                capture.display()
            );
            return EX_NOINPUT;
        }
    };
    let mut printer = Printer::new(json, out);
    let mut replay = Replay::new(recorded);
    let result = read_capture(file, &mut |frame| replay.frame(frame, &mut printer));
    match result {
        Ok(()) => {}
        Err(ReadError::NotACapture(why)) => {
            let _ = writeln!(
                err,
                "mailpulse replay: {} is not a pcap or pcapng capture ({why})",
                capture.display()
            );
            return EX_DATAERR;
        }
        Err(ReadError::Io(e)) => {
            let _ = writeln!(
                err,
                "mailpulse replay: cannot read {}: {e}",
                capture.display()
            );
            return EX_NOINPUT;
        }
        Err(ReadError::Stopped { offset, why }) => {
            let _ = writeln!(
                err,
                "mailpulse replay: warning: {} stops at byte {offset} ({why}); showing what was read",
                capture.display()
            );
        }
    }
    replay.finish(&mut printer);
    let dns_cut_off = replay.dns_cut_off;
    if let Err(e) = printer.result {
        let _ = writeln!(err, "mailpulse replay: cannot write the output: {e}");
        return EX_SOFTWARE;
    }
    if !json {
        let stats = replay.tracker.stats();
        let _ = writeln!(
            err,
            "{} packets, {} mail sessions, {} undecodable frames, {} frames not IP",
            stats.packets, stats.sessions_total, stats.undecodable, stats.not_ip
        );
        if dns_cut_off > 0 {
            let _ = writeln!(
                err,
                "{dns_cut_off} DNS quer{} still waiting for an answer when the capture ended (not judged)",
                if dns_cut_off == 1 { "y was" } else { "ies were" }
            );
        }
    }
    0
}

/// Identifies one session across the tracker's record and the engine's view.
type SessionKey = (SocketAddr, SocketAddr, Timestamp);

/// The tracker and engine driven by the capture's clock.
struct Replay {
    tracker: Tracker,
    engine: Engine,
    observations: Vec<Observation>,
    last_poll: Option<Timestamp>,
    last_time: Timestamp,
    /// Sessions ended but not yet judged by the engine, with the time they ended. (Both maps
    /// use the tracker's fast hasher: every session passes through them, and their order is
    /// never what the output follows.)
    unjudged: HashMap<SessionKey, (Timestamp, SessionRecord), KeyedBuildHasher>,
    /// Sessions the engine judged early (from a stall snapshot) that have not ended yet, and
    /// when: their end may bring no second view. Sessions judged at their end are not kept,
    /// so this stays small on long captures.
    judged: HashMap<SessionKey, Timestamp, KeyedBuildHasher>,
    /// Timeline observations not yet due, latest first (popped from the back).
    timeline: Vec<Observation>,
    /// DNS queries still waiting, too briefly to have timed out, when the capture ended.
    dns_cut_off: u64,
}

impl Replay {
    fn new(mut timeline: Vec<Observation>) -> Self {
        // Stable sort, then reverse: `pop` yields time order, equal times in recorded order.
        timeline.sort_by_key(|o| o.time);
        timeline.reverse();
        Self {
            timeline,
            tracker: Tracker::new(TrackerConfig::default()),
            engine: Engine::new(DiagnosisConfig::default(), 1),
            observations: Vec::new(),
            last_poll: None,
            last_time: Timestamp::default(),
            unjudged: HashMap::default(),
            judged: HashMap::default(),
            dns_cut_off: 0,
        }
    }

    fn frame(&mut self, frame: &Frame<'_>, printer: &mut Printer<'_>) {
        self.last_time = self.last_time.max(frame.time);
        while self.timeline.last().is_some_and(|o| o.time <= frame.time) {
            if let Some(observation) = self.timeline.pop() {
                self.observations.push(observation);
            }
        }
        let due = self
            .last_poll
            .is_none_or(|last| frame.time.saturating_since(last) >= POLL_EVERY);
        if due {
            self.last_poll = Some(frame.time);
            self.tracker.poll(frame.time, &mut self.observations);
            self.observations.push(Observation {
                time: frame.time,
                kind: ObservationKind::Tick,
            });
            self.flush_unjudged(frame.time, printer);
        }
        self.tracker.on_frame(frame, &mut self.observations);
        if !self.observations.is_empty() {
            self.drain(printer);
        }
    }

    fn finish(&mut self, printer: &mut Printer<'_>) {
        let end = self.last_time;
        while let Some(observation) = self.timeline.pop() {
            self.observations.push(observation);
        }
        // What the tracker still held when the file ended: a wait cut short by the end of the
        // capture is no sign of a fault (live, the answer may have come a moment later).
        let mut tail = Vec::new();
        self.tracker.finish(end, &mut tail);
        let mut cut_off = Vec::new();
        for observation in tail {
            match &observation.kind {
                ObservationKind::SessionEnded(r) if capture_ended_wait(r, end).is_some() => {
                    cut_off.push(r.clone());
                }
                // A query the client never repeated, sent less than `slow_dns` before the
                // end: nothing says it would not have been answered. (One the client retried,
                // or that waited longer, is evidence of its own.)
                ObservationKind::DnsLookup(l)
                    if l.timed_out
                        && l.retries == 0
                        && end.saturating_since(l.start) < DiagnosisConfig::default().slow_dns =>
                {
                    self.dns_cut_off = self.dns_cut_off.saturating_add(1);
                }
                _ => self.observations.push(observation),
            }
        }
        for record in &cut_off {
            printer.session(&capture_ended_view(record, end));
        }
        // A last tick lets the engine close its windows; what it says then is printed too.
        let last = self
            .observations
            .iter()
            .map(|o| o.time)
            .max()
            .unwrap_or(end);
        self.observations.push(Observation {
            time: last.max(end),
            kind: ObservationKind::Tick,
        });
        self.drain(printer);
        let mut rest: Vec<SessionRecord> = self.unjudged.drain().map(|(_, (_, r))| r).collect();
        rest.sort_unstable_by_key(|r| (r.start, r.id));
        for record in rest {
            printer.session(&unjudged_view(&record));
        }
    }

    fn drain(&mut self, printer: &mut Printer<'_>) {
        let mut batch = std::mem::take(&mut self.observations);
        // Usually in order already (one frame's worth): checked first, as a stable sort of
        // large observations allocates and moves them all.
        if !batch.is_sorted_by_key(|o| o.time) {
            batch.sort_by_key(|o| o.time);
        }
        for observation in batch.drain(..) {
            let early = matches!(observation.kind, ObservationKind::SessionUpdate(_));
            if let ObservationKind::SessionEnded(record) = &observation.kind {
                let key = (record.client, record.server, record.start);
                // An early-judged session ends once: its entry is not needed after this.
                if self.judged.remove(&key).is_none() {
                    self.unjudged
                        .insert(key, (observation.time, record.clone()));
                }
            }
            for event in self.engine.observe(observation) {
                match &event.session {
                    Some(view) => {
                        let key = (
                            SocketAddr::new(view.client, view.client_port),
                            SocketAddr::new(view.server, view.server_port),
                            view.start,
                        );
                        self.unjudged.remove(&key);
                        if early {
                            self.judged.insert(key, view.end);
                        }
                        printer.session(view);
                    }
                    None => printer.event(&event),
                }
            }
        }
        // Keep the allocation for the next batch.
        self.observations = batch;
    }

    /// Prints the unjudged view of sessions the engine left alone for `JUDGE_GRACE`, so
    /// memory stays bounded on long captures.
    fn flush_unjudged(&mut self, now: Timestamp, printer: &mut Printer<'_>) {
        self.judged
            .retain(|_, at| now.saturating_since(*at) < JUDGE_GRACE);
        if self.unjudged.is_empty() {
            return;
        }
        let mut stale: Vec<SessionKey> = self
            .unjudged
            .iter()
            .filter(|(_, (ended, _))| now.saturating_since(*ended) >= JUDGE_GRACE)
            .map(|(k, _)| *k)
            .collect();
        stale.sort_unstable_by_key(|k| (k.2, k.0, k.1));
        for key in stale {
            if let Some((_, record)) = self.unjudged.remove(&key) {
                printer.session(&unjudged_view(&record));
            }
        }
    }
}

/// How long a session the capture's end cut off had been waiting for the server, when that is
/// shorter than the tracker takes to call the wait a stall (live, it would not have been
/// judged yet): `None` for a session that was not waiting or had waited long enough.
fn capture_ended_wait(record: &SessionRecord, end: Timestamp) -> Option<Duration> {
    if !matches!(record.close, Close::Open | Close::Timeout) {
        return None;
    }
    let since = record.unanswered_since?;
    let waited = end.saturating_since(since);
    (waited < STALL_AFTER).then_some(waited)
}

/// The view of a session whose wait the capture's end cut short: `unknown`, saying so.
fn capture_ended_view(record: &SessionRecord, end: Timestamp) -> SessionView {
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

/// Writes sessions and events as JSON lines or as an aligned table.
struct Printer<'a> {
    json: bool,
    out: &'a mut dyn Write,
    /// One JSON line, serialised here (no dynamic dispatch per token) and handed to `out`
    /// whole; the allocation is reused.
    line: Vec<u8>,
    header_done: bool,
    result: io::Result<()>,
}

impl<'a> Printer<'a> {
    fn new(json: bool, out: &'a mut dyn Write) -> Self {
        Self {
            json,
            out,
            line: Vec::new(),
            header_done: false,
            result: Ok(()),
        }
    }

    fn session(&mut self, view: &SessionView) {
        if self.result.is_err() {
            return;
        }
        self.result = if self.json {
            write_json_line(self.out, &mut self.line, view)
        } else {
            self.session_row(view)
        };
    }

    fn event(&mut self, event: &Event) {
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
                local_time(event.time),
                event.kind.as_str(),
                event.message
            )
        };
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
            local_time(v.start),
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

fn local_time(t: Timestamp) -> String {
    let utc = chrono::DateTime::from_timestamp_nanos(t.unix_nanos());
    utc.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Why reading stopped early.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::LinkType;

    /// A classic pcap header (microseconds, Ethernet) and one 60-byte record.
    fn tiny_pcap() -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65_535u32.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        f.extend_from_slice(&250_000u32.to_le_bytes());
        f.extend_from_slice(&60u32.to_le_bytes());
        f.extend_from_slice(&60u32.to_le_bytes());
        f.extend_from_slice(&[0; 60]);
        f
    }

    #[test]
    fn pcap_frames_carry_time_and_link_type() {
        let mut frames = Vec::new();
        read_capture(&tiny_pcap()[..], &mut |f| {
            frames.push((f.time, f.link_type, f.data.len()))
        })
        .unwrap();
        assert_eq!(
            frames,
            vec![(
                Timestamp::from_unix(1_700_000_000, 250_000_000),
                LinkType::ETHERNET,
                60
            )]
        );
    }

    #[test]
    fn a_cut_capture_reports_the_offset() {
        let mut bytes = tiny_pcap();
        bytes.truncate(24 + 16 + 30);
        let mut n = 0;
        match read_capture(&bytes[..], &mut |_| n += 1) {
            Err(ReadError::Stopped { offset, .. }) => assert_eq!(offset, 24),
            other => panic!("expected Stopped, got {other:?}"),
        }
        assert_eq!(n, 0);
    }

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
            protocol: crate::track::record::Protocol::Imap,
            tls: crate::track::record::TlsMode::Implicit,
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

    #[test]
    fn text_is_not_a_capture() {
        assert!(matches!(
            read_capture(&b"hello world\n"[..], &mut |_| {}),
            Err(ReadError::NotACapture(_))
        ));
        assert!(matches!(
            read_capture(&b"ab"[..], &mut |_| {}),
            Err(ReadError::NotACapture(_))
        ));
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
