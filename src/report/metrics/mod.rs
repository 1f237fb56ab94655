//! Prometheus text exposition (format 0.0.4) rendered from a [`StatusReport`].
//!
//! Every family gets `# HELP` and `# TYPE`; label values are escaped as the format requires
//! (backslash, double quote and newline).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::control::{InterfaceCapture, JournalState, StatusReport};
use crate::diagnose::event::Verdict;
use crate::diagnose::status::ProbeStatus;
use crate::observe::record::TrackerStats;

/// Escapes a label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes HELP text: `\` → `\\`, newline → `\n`.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// A family of one sample without labels.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape_label(val));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", format_value(value));
    }
}

/// Integers without a fraction, the rest as Rust prints them; NaN and infinities as the
/// format spells them.
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Renders every metric.
pub fn render(status: &StatusReport) -> String {
    let mut x = Exposition { out: String::new() };
    x.single(
        "mailpulse_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
        status.uptime_seconds as f64,
    );
    sessions(&mut x, &status.engine.counters.sessions_by_verdict);
    x.family(
        "mailpulse_events_total",
        "counter",
        "Events reported, by kind.",
    );
    for (kind, n) in &status.events_by_kind {
        x.sample("mailpulse_events_total", &[("kind", kind)], *n as f64);
    }
    probes(&mut x, &status.engine.probes);
    captures(&mut x, &status.captures);
    wan(&mut x, status);
    tracker(&mut x, &status.tracker);
    journal(&mut x, &status.journal);
    x.out
}

/// Sessions judged, by verdict: every verdict the engine knows, then any it may add later.
fn sessions(x: &mut Exposition, by_verdict: &BTreeMap<String, u64>) {
    x.family(
        "mailpulse_sessions_total",
        "counter",
        "Mail sessions judged, by verdict.",
    );
    for verdict in Verdict::ALL {
        let n = by_verdict.get(verdict.as_str()).copied().unwrap_or(0);
        x.sample(
            "mailpulse_sessions_total",
            &[("verdict", verdict.as_str())],
            n as f64,
        );
    }
    // Verdict names the engine may add later are still exported.
    for (name, n) in by_verdict {
        if !Verdict::ALL.iter().any(|v| v.as_str() == name) {
            x.sample("mailpulse_sessions_total", &[("verdict", name)], *n as f64);
        }
    }
}

/// Each target's last probe: up or not, and how long each phase took.
fn probes(x: &mut Exposition, probes: &[ProbeStatus]) {
    x.family(
        "mailpulse_probe_up",
        "gauge",
        "1 when the last probe of the target succeeded, 0 when it failed.",
    );
    for probe in probes {
        if let Some(last) = &probe.last {
            let up = if last.ok() { 1.0 } else { 0.0 };
            x.sample("mailpulse_probe_up", &[("target", &probe.target)], up);
        }
    }
    x.family(
        "mailpulse_probe_phase_seconds",
        "gauge",
        "Duration of each phase of the last probe of the target.",
    );
    for probe in probes {
        if let Some(last) = &probe.last {
            for phase in &last.phases {
                x.sample(
                    "mailpulse_probe_phase_seconds",
                    &[("target", &probe.target), ("phase", phase.phase.name())],
                    phase.duration.as_secs_f64(),
                );
            }
        }
    }
}

/// The kernel's capture counters, by LAN interface (those with counters).
fn captures(x: &mut Exposition, captures: &[InterfaceCapture]) {
    x.family(
        "mailpulse_capture_packets_total",
        "counter",
        "Packets the kernel passed to the capture, by LAN interface.",
    );
    for c in captures {
        if let Some(stats) = c.stats {
            x.sample(
                "mailpulse_capture_packets_total",
                &[("interface", &c.interface)],
                stats.received as f64,
            );
        }
    }
    x.family(
        "mailpulse_capture_drops_total",
        "counter",
        "Packets the kernel dropped before the capture read them, by LAN interface.",
    );
    for c in captures {
        if let Some(stats) = c.stats {
            x.sample(
                "mailpulse_capture_drops_total",
                &[("interface", &c.interface)],
                stats.dropped as f64,
            );
        }
    }
}

fn wan(x: &mut Exposition, status: &StatusReport) {
    x.family(
        "mailpulse_wan_up",
        "gauge",
        "1 when the WAN is up, 0 when down (absent until known).",
    );
    match status.engine.wan.state.as_str() {
        "up" => x.sample("mailpulse_wan_up", &[], 1.0),
        "down" => x.sample("mailpulse_wan_up", &[], 0.0),
        _ => {}
    }
    x.single(
        "mailpulse_wan_transitions_total",
        "counter",
        "WAN up/down and address changes seen.",
        status.engine.counters.wan_transitions as f64,
    );
}

fn tracker(x: &mut Exposition, t: &TrackerStats) {
    x.single(
        "mailpulse_tracker_sessions_open",
        "gauge",
        "Mail sessions being tracked now.",
        t.sessions_open as f64,
    );
    x.single(
        "mailpulse_tracker_sessions_evicted_total",
        "counter",
        "Sessions pushed out of the full session table.",
        t.sessions_evicted as f64,
    );
    x.single(
        "mailpulse_tracker_client_cap_evicted_total",
        "counter",
        "Sessions pushed out because their client was at its session cap.",
        t.client_cap_evicted as f64,
    );
    x.single(
        "mailpulse_tracker_buffer_bytes",
        "gauge",
        "Bytes held in reassembly and hello buffers against the tracker's budget.",
        t.buffer_bytes as f64,
    );
    x.single(
        "mailpulse_tracker_buffer_refused_total",
        "counter",
        "Buffers not kept because the tracker's byte budget was spent.",
        t.buffer_refused as f64,
    );
    x.single(
        "mailpulse_tracker_packets_total",
        "counter",
        "Packets the tracker examined.",
        t.packets as f64,
    );
}

fn journal(x: &mut Exposition, journal: &JournalState) {
    x.single(
        "mailpulse_journal_healthy",
        "gauge",
        "1 when the last journal write succeeded.",
        if journal.healthy { 1.0 } else { 0.0 },
    );
    x.single(
        "mailpulse_journal_events_lost_total",
        "counter",
        "Events that could not be written to the journal.",
        journal.events_lost as f64,
    );
}

#[cfg(test)]
mod tests;
