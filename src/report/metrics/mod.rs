//! Prometheus text exposition (format 0.0.4) rendered from a [`StatusReport`].
//!
//! Every family gets `# HELP` and `# TYPE`; label values are escaped as the format requires
//! (backslash, double quote and newline).

use std::fmt::Write;

use crate::control::StatusReport;
use crate::diagnose::event::Verdict;

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
    let counters = &status.engine.counters;

    x.family(
        "mailpulse_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
    );
    x.sample(
        "mailpulse_uptime_seconds",
        &[],
        status.uptime_seconds as f64,
    );

    x.family(
        "mailpulse_sessions_total",
        "counter",
        "Mail sessions judged, by verdict.",
    );
    for verdict in Verdict::ALL {
        let n = counters
            .sessions_by_verdict
            .get(verdict.as_str())
            .copied()
            .unwrap_or(0);
        x.sample(
            "mailpulse_sessions_total",
            &[("verdict", verdict.as_str())],
            n as f64,
        );
    }
    // Verdict names the engine may add later are still exported.
    for (name, n) in &counters.sessions_by_verdict {
        if !Verdict::ALL.iter().any(|v| v.as_str() == name) {
            x.sample("mailpulse_sessions_total", &[("verdict", name)], *n as f64);
        }
    }

    x.family(
        "mailpulse_events_total",
        "counter",
        "Events reported, by kind.",
    );
    for (kind, n) in &status.events_by_kind {
        x.sample("mailpulse_events_total", &[("kind", kind)], *n as f64);
    }

    x.family(
        "mailpulse_probe_up",
        "gauge",
        "1 when the last probe of the target succeeded, 0 when it failed.",
    );
    for probe in &status.engine.probes {
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
    for probe in &status.engine.probes {
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

    x.family(
        "mailpulse_capture_packets_total",
        "counter",
        "Packets the kernel passed to the capture, by LAN interface.",
    );
    for c in &status.captures {
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
    for c in &status.captures {
        if let Some(stats) = c.stats {
            x.sample(
                "mailpulse_capture_drops_total",
                &[("interface", &c.interface)],
                stats.dropped as f64,
            );
        }
    }

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
    x.family(
        "mailpulse_wan_transitions_total",
        "counter",
        "WAN up/down and address changes seen.",
    );
    x.sample(
        "mailpulse_wan_transitions_total",
        &[],
        counters.wan_transitions as f64,
    );

    x.family(
        "mailpulse_tracker_sessions_open",
        "gauge",
        "Mail sessions being tracked now.",
    );
    x.sample(
        "mailpulse_tracker_sessions_open",
        &[],
        status.tracker.sessions_open as f64,
    );
    x.family(
        "mailpulse_tracker_sessions_evicted_total",
        "counter",
        "Sessions pushed out of the full session table.",
    );
    x.sample(
        "mailpulse_tracker_sessions_evicted_total",
        &[],
        status.tracker.sessions_evicted as f64,
    );
    x.family(
        "mailpulse_tracker_client_cap_evicted_total",
        "counter",
        "Sessions pushed out because their client was at its session cap.",
    );
    x.sample(
        "mailpulse_tracker_client_cap_evicted_total",
        &[],
        status.tracker.client_cap_evicted as f64,
    );
    x.family(
        "mailpulse_tracker_buffer_bytes",
        "gauge",
        "Bytes held in reassembly and hello buffers against the tracker's budget.",
    );
    x.sample(
        "mailpulse_tracker_buffer_bytes",
        &[],
        status.tracker.buffer_bytes as f64,
    );
    x.family(
        "mailpulse_tracker_buffer_refused_total",
        "counter",
        "Buffers not kept because the tracker's byte budget was spent.",
    );
    x.sample(
        "mailpulse_tracker_buffer_refused_total",
        &[],
        status.tracker.buffer_refused as f64,
    );
    x.family(
        "mailpulse_tracker_packets_total",
        "counter",
        "Packets the tracker examined.",
    );
    x.sample(
        "mailpulse_tracker_packets_total",
        &[],
        status.tracker.packets as f64,
    );

    x.family(
        "mailpulse_journal_healthy",
        "gauge",
        "1 when the last journal write succeeded.",
    );
    x.sample(
        "mailpulse_journal_healthy",
        &[],
        if status.journal.healthy { 1.0 } else { 0.0 },
    );
    x.family(
        "mailpulse_journal_events_lost_total",
        "counter",
        "Events that could not be written to the journal.",
    );
    x.sample(
        "mailpulse_journal_events_lost_total",
        &[],
        status.journal.events_lost as f64,
    );
    x.out
}

#[cfg(test)]
mod tests;
