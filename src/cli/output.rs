//! Output for people: aligned tables, local times, verdicts in words.

use std::fmt::Write;

use crate::control::{EvidenceRingState, InterfaceCapture, JournalState, StatusReport};
use crate::diagnose::event::{Credentials, Event, Verdict};
use crate::diagnose::status::{ClientSummary, Counters, EngineStatus, ProbeStatus};
use crate::diagnose::Explanation;
use crate::observe::record::TrackerStats;
use crate::sys::clock::local_text;
use crate::time::words::largest_two_units;

/// Text from the daemon (server names, messages) with control and invisible characters
/// escaped (`crate::text`), so it cannot break a line or drive the terminal.
fn clean(text: &str) -> String {
    crate::text::clean_str(text)
}

/// The verdict as a person would say it.
pub fn verdict_words(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "ok",
        Verdict::AuthRejected => "password rejected by the server",
        Verdict::WanDown => "WAN link down",
        Verdict::WanAddressChanged => "WAN address changed",
        Verdict::UpstreamUnreachable => "upstream unreachable",
        Verdict::DnsFailure => "DNS lookup failed",
        Verdict::DnsSlow => "DNS lookup slow",
        Verdict::ServerSlow => "server slow",
        Verdict::ServerRefused => "server refused the connection",
        Verdict::TlsRejected => "TLS handshake rejected",
        Verdict::StateExpired => "firewall state expired",
        Verdict::Unknown => "unknown",
    }
}

/// The credentials judgement in words.
pub fn credentials_words(c: Credentials) -> &'static str {
    match c {
        Credentials::Ok => "password ok",
        Credentials::Rejected => "password REJECTED",
        Credentials::NotAtFault => "password not at fault",
        Credentials::Unknown => "password unknown",
    }
}

/// Columns padded to their widest cell (in characters), two spaces apart; the last column is
/// not padded so long messages do not drag trailing blanks.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    // A newline or escape sequence in a server name or message must not break the layout
    // (or the terminal): network text is escaped where it enters, and again here.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| clean(cell)).collect())
        .collect();
    let rows = rows.as_slice();
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(columns) {
            if i + 1 == columns {
                line.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn or_dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "-".into())
}

/// `events`: one row per event, oldest first.
pub fn events(events: &[Event]) -> String {
    if events.is_empty() {
        return "No events.\n".into();
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                local_text(e.time),
                e.kind.as_str().to_string(),
                or_dash(e.client.map(|c| c.to_string())),
                or_dash(e.server_name.clone().or(e.server.map(|s| s.to_string()))),
                or_dash(e.verdict.map(|v| verdict_words(v).to_string())),
                or_dash(e.credentials.map(|c| credentials_words(c).to_string())),
                e.message.clone(),
            ]
        })
        .collect();
    table(
        &[
            "TIME",
            "KIND",
            "CLIENT",
            "SERVER",
            "VERDICT",
            "PASSWORD",
            "WHAT HAPPENED",
        ],
        &rows,
    )
}

/// `clients`: one row per LAN client, most recent first.
pub fn clients(clients: &[ClientSummary]) -> String {
    if clients.is_empty() {
        return "No mail clients seen yet.\n".into();
    }
    let rows: Vec<Vec<String>> = clients
        .iter()
        .map(|c| {
            vec![
                c.client.to_string(),
                c.sessions.to_string(),
                c.failures.to_string(),
                local_text(c.last_seen),
                or_dash(c.last_verdict.map(|v| verdict_words(v).to_string())),
                or_dash(c.last_credentials.map(|v| credentials_words(v).to_string())),
                or_dash(c.last_server_name.clone()),
            ]
        })
        .collect();
    table(
        &[
            "CLIENT",
            "SESSIONS",
            "FAILED",
            "LAST SEEN",
            "LAST VERDICT",
            "PASSWORD",
            "SERVER",
        ],
        &rows,
    )
}

/// `explain IP`: the story, then the events it rests on.
pub fn explanation(x: &Explanation) -> String {
    let mut out = String::new();
    if x.story.is_empty() && x.events.is_empty() {
        let _ = writeln!(out, "Nothing is known about {} yet: no mail sessions or lookups from it are in the daemon's memory.", x.client);
        return out;
    }
    let _ = writeln!(out, "What happened to {}:", x.client);
    for sentence in &x.story {
        let _ = writeln!(out, "  {}", clean(sentence));
    }
    let mut advice: Vec<&str> = Vec::new();
    for a in x.events.iter().filter_map(|e| e.advice.as_deref()) {
        if !advice.contains(&a) {
            advice.push(a);
        }
    }
    if !advice.is_empty() {
        out.push_str("What to do:\n");
        for a in advice {
            let _ = writeln!(out, "  {}", clean(a));
        }
    }
    if !x.events.is_empty() {
        out.push('\n');
        out.push_str(&events(&x.events));
    }
    out
}

/// `status`.
pub fn status(s: &StatusReport) -> String {
    let mut out = String::new();
    let config = s
        .config_path
        .as_ref()
        .map_or("built-in defaults".to_string(), |p| p.display().to_string());
    let _ = writeln!(
        out,
        "mailpulse {}, up {} (since {}), config: {config}",
        s.version,
        largest_two_units(s.uptime_seconds),
        local_text(s.started)
    );
    out.push('\n');
    wan_status(&mut out, &s.engine);
    out.push('\n');
    probes_status(&mut out, &s.engine.probes);
    out.push('\n');
    sessions_status(&mut out, &s.engine.counters);
    out.push('\n');
    captures_status(&mut out, &s.captures);
    tracker_status(&mut out, &s.tracker);
    journal_status(&mut out, &s.journal);
    evidence_status(&mut out, &s.evidence);
    out
}

/// The WAN's state and interfaces, the gateways and the firewall's idle timeout.
fn wan_status(out: &mut String, engine: &EngineStatus) {
    let wan = &engine.wan;
    let since = wan
        .last_change
        .map_or(String::new(), |t| format!(" since {}", local_text(t)));
    let _ = writeln!(
        out,
        "WAN: {}{since}",
        if wan.state.is_empty() {
            "unknown"
        } else {
            &wan.state
        }
    );
    for i in &wan.interfaces {
        let addresses: Vec<String> = i.addresses.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(
            out,
            "  {} {}{}{}",
            i.name,
            if i.up { "up" } else { "down" },
            if addresses.is_empty() {
                String::new()
            } else {
                format!(" {}", addresses.join(", "))
            },
            if i.default_route {
                ", default route"
            } else {
                ""
            }
        );
    }
    for g in &engine.gateways {
        let latency = g
            .latency_ms
            .map_or("no reply".to_string(), |ms| format!("{ms:.1} ms"));
        let _ = writeln!(
            out,
            "  gateway {}: {latency}, {:.1}% loss",
            g.name, g.loss_percent
        );
    }
    if let Some(fw) = &engine.firewall {
        let _ = writeln!(
            out,
            "  firewall keeps idle TCP states for {} ({})",
            largest_two_units(fw.tcp_established.as_secs()),
            fw.source
        );
    }
}

/// A table of the probe targets and their last probe.
fn probes_status(out: &mut String, probes: &[ProbeStatus]) {
    if probes.is_empty() {
        out.push_str("Probes: none configured\n");
        return;
    }
    out.push_str("Probes:\n");
    let rows: Vec<Vec<String>> = probes
        .iter()
        .map(|p| {
            let last = p.last.as_ref();
            let detail = match last {
                Some(r) => match &r.failure {
                    Some(f) => format!("{} failed: {}", f.phase.name(), f.error),
                    None => r.tls_version.map_or(String::new(), |v| format!("TLS {v}")),
                },
                None => "not probed yet".into(),
            };
            vec![
                p.target.clone(),
                p.state.clone(),
                last.map_or("-".into(), |r| local_text(r.started)),
                last.map_or("-".into(), |r| format!("{} ms", r.total().as_millis())),
                detail,
            ]
        })
        .collect();
    for line in table(&["TARGET", "STATE", "LAST PROBE", "TOOK", "DETAIL"], &rows).lines() {
        let _ = writeln!(out, "  {line}");
    }
}

/// Sessions judged and failed, by verdict, and the DNS lookups of mail hosts.
fn sessions_status(out: &mut String, c: &Counters) {
    let failed: u64 = c
        .sessions_by_verdict
        .iter()
        .filter(|(v, _)| v.as_str() != "ok")
        .map(|(_, n)| n)
        .sum();
    let _ = writeln!(out, "Sessions: {} judged, {failed} failed", c.sessions);
    for (verdict, n) in &c.sessions_by_verdict {
        let _ = writeln!(out, "  {verdict:<22} {n}");
    }
    let _ = writeln!(
        out,
        "DNS: {} lookups of mail hosts, {} failed",
        c.dns_lookups, c.dns_failures
    );
}

fn captures_status(out: &mut String, captures: &[InterfaceCapture]) {
    if captures.is_empty() {
        out.push_str("Capture: no LAN interface is being watched\n");
    }
    for cap in captures {
        match (cap.stats, &cap.error) {
            (_, Some(e)) => {
                let _ = writeln!(out, "Capture {}: FAILED: {e}", cap.interface);
            }
            (Some(st), None) => {
                let _ = writeln!(
                    out,
                    "Capture {}: {} packets, {} dropped",
                    cap.interface, st.received, st.dropped
                );
            }
            (None, None) => {
                let _ = writeln!(out, "Capture {}: no counters", cap.interface);
            }
        }
    }
}

fn tracker_status(out: &mut String, t: &TrackerStats) {
    let _ = writeln!(
        out,
        "Tracker: {} sessions open, {} evicted, {} packets, {} undecodable",
        t.sessions_open, t.sessions_evicted, t.packets, t.undecodable
    );
    let _ = writeln!(
        out,
        "Tracker limits: {} evicted at the per-client cap, {} bytes buffered, {} buffers refused",
        t.client_cap_evicted, t.buffer_bytes, t.buffer_refused
    );
}

fn journal_status(out: &mut String, j: &JournalState) {
    let health = if j.healthy {
        "ok".to_string()
    } else {
        format!(
            "FAILING: {}",
            j.last_error.as_deref().unwrap_or("unknown error")
        )
    };
    let _ = writeln!(
        out,
        "Journal: {} {health} (events written: {}, lost: {})",
        j.path.display(),
        j.events_written,
        j.events_lost
    );
}

fn evidence_status(out: &mut String, e: &EvidenceRingState) {
    if !e.enabled {
        out.push_str("Evidence ring: off\n");
        return;
    }
    let _ = writeln!(
        out,
        "Evidence ring: {} {} of {} bytes{}",
        e.path
            .as_ref()
            .map_or("(no file yet)".into(), |p| p.display().to_string()),
        e.bytes,
        e.capacity_bytes,
        e.error
            .as_ref()
            .map_or(String::new(), |err| format!(", FAILING: {err}"))
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::observation::{ProbeFailure, ProbePhase, ProbeResult};
    use crate::observe::record::{Protocol, TlsMode};
    use crate::time::Timestamp;

    #[test]
    fn explanation_tells_the_story_then_the_advice_once() {
        let mut a = crate::control::tests_support::event(1);
        a.advice = Some("Outlook.com no longer accepts app passwords over IMAP.".into());
        let b = Event { id: 2, ..a.clone() };
        let x = Explanation {
            client: "192.168.1.20".parse().unwrap(),
            story: vec!["At 14:03 the server refused the password.".into()],
            events: vec![a, b],
        };
        let text = explanation(&x);
        let expected_head = "What happened to 192.168.1.20:\n  At 14:03 the server refused the password.\n\
                             What to do:\n  Outlook.com no longer accepts app passwords over IMAP.\n\nTIME";
        assert!(text.starts_with(expected_head), "{text}");
        assert_eq!(text.lines().count(), 4 + 1 + 1 + 2);
        let empty = Explanation {
            client: "10.0.0.9".parse().unwrap(),
            story: vec![],
            events: vec![],
        };
        assert!(explanation(&empty).starts_with("Nothing is known about 10.0.0.9 yet"));
    }

    #[test]
    fn status_names_failures_in_words() {
        let mut s = StatusReport {
            version: "0.1.0".into(),
            uptime_seconds: 90,
            ..StatusReport::default()
        };
        s.engine.wan.state = "down".into();
        s.engine.probes.push(ProbeStatus {
            target: "imaps://imap.gmail.com".into(),
            state: "failed".into(),
            last: Some(ProbeResult {
                target: "imaps://imap.gmail.com".into(),
                host: "imap.gmail.com".into(),
                port: 993,
                protocol: Protocol::Imap,
                tls: TlsMode::Implicit,
                started: Timestamp::from_unix(1_700_000_000, 0),
                phases: vec![],
                failure: Some(ProbeFailure {
                    phase: ProbePhase::Connect,
                    error: "Connection refused".into(),
                }),
                addresses: vec![],
                connected_to: None,
                tls_version: None,
                cipher: None,
                cert_not_after: None,
                cert_valid: None,
                cert_error: None,
                greeting: None,
                capabilities: vec![],
            }),
            last_ok: None,
            consecutive_failures: 2,
        });
        s.captures.push(InterfaceCapture {
            interface: "igb1".into(),
            stats: None,
            error: Some("permission denied".into()),
        });
        s.journal.path = "/var/db/mailpulse/journal.jsonl".into();
        s.journal.healthy = false;
        s.journal.last_error = Some("cannot write: No space left on device".into());
        let text = status(&s);
        assert!(text.starts_with("mailpulse 0.1.0, up 1 min 30 s"), "{text}");
        assert!(text.contains("config: built-in defaults"), "{text}");
        assert!(text.contains("\nWAN: down\n"), "{text}");
        assert!(
            text.contains("connect failed: Connection refused"),
            "{text}"
        );
        assert!(
            text.contains("Capture igb1: FAILED: permission denied"),
            "{text}"
        );
        assert!(
            text.contains("Journal: /var/db/mailpulse/journal.jsonl FAILING: cannot write: No space left on device"),
            "{text}"
        );
        assert!(text.contains("Evidence ring: off"), "{text}");
    }

    #[test]
    fn table_aligns_by_characters_and_trims_the_last_column() {
        let rows = vec![
            vec!["é1".to_string(), "x".to_string(), "last".to_string()],
            vec!["long cell".to_string(), "".to_string(), "".to_string()],
        ];
        assert_eq!(
            table(&["A", "B", "C"], &rows),
            "A          B  C\né1         x  last\nlong cell\n"
        );
        let hostile = vec![vec![
            "a\nb".to_string(),
            "\u{1b}[2J".to_string(),
            "c".to_string(),
        ]];
        assert_eq!(
            table(&["A", "B", "C"], &hostile),
            "A       B        C\na\\x0ab  \\x1b[2J  c\n"
        );
    }
}
