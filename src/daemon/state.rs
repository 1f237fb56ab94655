//! The daemon's shared state behind one lock: the core, and everything events are reported to.
//! Every path that produces events goes through [`State::report`], so syslog, the journal, the
//! counters and the burst probes see exactly the same events.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::config::LogLevel;
use crate::control::{EvidenceRingState, InterfaceCapture, Request, Response, StatusReport};
use crate::diagnose::event::{Event, Severity};
use crate::observe::observation::ObservationKind;
use crate::report::journal::Journal;
use crate::report::metrics;
use crate::report::syslog::Syslog;
use crate::report::timeline::TimelineWriter;
use crate::sys::CaptureStats;
use crate::time::Timestamp;
use crate::wire::Frame;

use super::core::Core;
use super::evidence::EvidenceRing;

/// Where events and observations are written.
pub struct Outputs {
    pub syslog: Syslog,
    pub journal: Journal,
    pub timeline: TimelineWriter,
    /// The ring and its capacity in bytes, when enabled.
    pub evidence: Option<(EvidenceRing, u64)>,
}

/// Everything the daemon's tasks share.
pub struct State {
    pub core: Core,
    pub syslog: Syslog,
    pub journal: Journal,
    /// What `replay --timeline` needs to rebuild the WAN and probe context.
    pub timeline: TimelineWriter,
    pub evidence: Option<EvidenceRing>,
    evidence_capacity: u64,
    evidence_error: Option<String>,
    /// Per LAN interface: its capture counters, or why it has none.
    captures: BTreeMap<String, InterfaceCapture>,
    events_by_kind: BTreeMap<String, u64>,
    started: Timestamp,
    config_path: Option<PathBuf>,
    /// Targets to probe now (a client just failed to reach their host).
    bursts: mpsc::Sender<String>,
    /// What the daemon says about itself (`[daemon] log_level`); events are never filtered.
    pub log_level: LogLevel,
}

impl State {
    pub fn new(
        core: Core,
        outputs: Outputs,
        started: Timestamp,
        config_path: Option<PathBuf>,
        bursts: mpsc::Sender<String>,
    ) -> Self {
        let Outputs {
            syslog,
            journal,
            timeline,
            evidence,
        } = outputs;
        let (evidence, evidence_capacity) = match evidence {
            Some((ring, capacity)) => (Some(ring), capacity),
            None => (None, 0),
        };
        Self {
            core,
            syslog,
            journal,
            timeline,
            evidence,
            evidence_capacity,
            evidence_error: None,
            captures: BTreeMap::new(),
            events_by_kind: BTreeMap::new(),
            started,
            config_path,
            bursts,
            log_level: LogLevel::Info,
        }
    }

    /// One captured frame from `interface`: kept as evidence, then tracked and judged.
    pub fn on_frame(&mut self, interface: &str, frame: &Frame<'_>) {
        if let Some(ring) = self.evidence.as_mut() {
            match ring.record(interface, frame) {
                // A buffered write proves nothing about the disk; `tick` clears the error
                // once a flush has succeeded.
                Ok(()) => {}
                Err(e) if self.evidence_error.is_none() => {
                    let message = format!(
                        "evidence ring: cannot write: {e}; mail packets are not being kept"
                    );
                    self.evidence_error = Some(message.clone());
                    self.notice(Severity::Warning, &message, frame.time);
                }
                Err(_) => {}
            }
        }
        let events = self.core.on_frame(frame);
        self.report(events, frame.time);
    }

    /// A non-packet observation.
    pub fn observe(&mut self, now: Timestamp, kind: ObservationKind) {
        let was_failing = self.timeline.error.is_some();
        self.timeline.record(now, &kind);
        if let (false, Some(error)) = (was_failing, self.timeline.error.clone()) {
            self.notice(
                Severity::Warning,
                &format!("timeline: cannot write: {error}"),
                now,
            );
        }
        let events = self.core.observe(now, kind);
        self.report(events, now);
    }

    /// Whether the tracker has something open whose stall or expiry may fall due soon.
    pub fn tracker_busy(&self) -> bool {
        self.core.tracker_busy()
    }

    /// Time passed: stalls, expiry and the engine's windows. Cheap; called several times a
    /// second so that a stall is judged soon after the tracker sees it.
    pub fn expire(&mut self, now: Timestamp) {
        let events = self.core.tick(now);
        self.report(events, now);
    }

    /// The once-a-second housekeeping: expiry, journal sync, evidence flush.
    pub fn tick(&mut self, now: Timestamp) {
        self.expire(now);
        let was_healthy = self.journal.state().healthy;
        self.journal.sync();
        self.say_if_journal_failed(was_healthy, now);
        self.timeline.flush();
        if let Some(ring) = self.evidence.as_mut() {
            match ring.flush() {
                Err(e) => {
                    let message = format!(
                        "evidence ring: cannot write: {e}; mail packets are not being kept"
                    );
                    if self.evidence_error.is_none() {
                        self.notice(Severity::Warning, &message, now);
                    }
                    self.evidence_error = Some(message);
                }
                Ok(()) if ring.is_writing() && self.evidence_error.is_some() => {
                    self.evidence_error = None;
                    self.notice(Severity::Notice, "evidence ring: writing again", now);
                }
                Ok(()) => {}
            }
        }
    }

    /// Reports events to syslog, the journal and the counters, and asks for burst probes.
    pub fn report(&mut self, events: Vec<Event>, now: Timestamp) {
        if events.is_empty() {
            return;
        }
        for url in self.core.burst_probes(&events, now) {
            // A full queue means a burst is already on its way.
            let _ = self.bursts.try_send(url);
        }
        let was_healthy = self.journal.state().healthy;
        for event in &events {
            // A syslogd that is down must not stop diagnosis; `send_errors` counts it.
            let _ = self.syslog.event(event, now);
            self.journal.append(event);
            *self
                .events_by_kind
                .entry(event.kind.as_str().to_string())
                .or_default() += 1;
        }
        // Most write errors (a full disk) surface here, not at the once-a-second sync.
        self.say_if_journal_failed(was_healthy, now);
    }

    /// Logs the journal's error once, when it goes from healthy to failing.
    fn say_if_journal_failed(&mut self, was_healthy: bool, now: Timestamp) {
        let state = self.journal.state();
        if was_healthy && !state.healthy {
            let why = state.last_error.unwrap_or_default();
            self.notice(
                Severity::Err,
                &format!("journal: {why}; events are still diagnosed and reported"),
                now,
            );
        }
    }

    /// A message about the daemon itself (start, reload, trouble), to syslog and stderr, when
    /// `log_level` lets it through.
    pub fn notice(&mut self, severity: Severity, message: &str, now: Timestamp) {
        if self.log_level.allows(severity) {
            let _ = self.syslog.message(severity, message, now);
        }
    }

    /// Records a capture's counters, or why it has none.
    pub fn set_capture(
        &mut self,
        interface: &str,
        stats: Option<CaptureStats>,
        error: Option<String>,
    ) {
        self.captures.insert(
            interface.to_string(),
            InterfaceCapture {
                interface: interface.to_string(),
                stats,
                error,
            },
        );
    }

    /// Forgets a capture (its interface left the configuration).
    pub fn remove_capture(&mut self, interface: &str) {
        self.captures.remove(interface);
    }

    /// Replaces the syslog sender (a reload changed its settings).
    pub fn set_syslog(&mut self, syslog: Syslog) {
        self.syslog = syslog;
    }

    /// The last error recorded for a capture, if any.
    pub fn capture_error(&self, interface: &str) -> Option<&str> {
        self.captures
            .get(interface)
            .and_then(|c| c.error.as_deref())
    }

    /// Everything `status` shows.
    pub fn status_report(&self, now: Timestamp) -> StatusReport {
        let evidence = EvidenceRingState {
            enabled: self.evidence.is_some(),
            path: self
                .evidence
                .as_ref()
                .and_then(|r| r.files().into_iter().next()),
            bytes: self.evidence.as_ref().map_or(0, |r| {
                r.files()
                    .iter()
                    .filter_map(|p| std::fs::metadata(p).ok())
                    .map(|m| m.len())
                    .sum()
            }),
            capacity_bytes: self.evidence_capacity,
            error: self.evidence_error.clone(),
        };
        StatusReport {
            version: env!("CARGO_PKG_VERSION").to_string(),
            started: self.started,
            uptime_seconds: now.saturating_since(self.started).as_secs(),
            config_path: self.config_path.clone(),
            engine: self.core.engine_status(),
            tracker: self.core.tracker_stats(),
            captures: self.captures.values().cloned().collect(),
            journal: self.journal.state(),
            evidence,
            events_by_kind: self.events_by_kind.clone(),
        }
    }

    /// Answers one control-socket request.
    pub fn answer(&self, request: Request, now: Timestamp) -> Response {
        match request {
            Request::Status => Response::Status(Box::new(self.status_report(now))),
            Request::Events(query) => Response::Events(self.core.events(&query)),
            Request::Clients => Response::Clients(self.core.clients()),
            Request::Explain { client } => Response::Explain(self.core.explain(client)),
            Request::Metrics => Response::Metrics(metrics::render(&self.status_report(now))),
            // The daemon's control handler takes reloads before they get here.
            Request::Reload => Response::Error {
                message: "reload is not available here".to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;
    use std::path::Path;

    use super::*;
    use crate::config::{Facility, SyslogFormat};
    use crate::diagnose::event::EventKind;
    use crate::diagnose::DiagnosisConfig;
    use crate::report::journal::JournalOptions;
    use crate::track::TrackerConfig;

    const NOW: Timestamp = Timestamp::from_unix(1_763_800_000, 0);

    /// A state that sends its syslog lines to `log` and keeps its files in `dir`.
    fn state(dir: &Path, log: &Path) -> State {
        let syslog = Syslog::new(log, true, Facility::Daemon, SyslogFormat::Rfc3164, false)
            .expect("syslog sender");
        let (journal, _) = Journal::open(dir, JournalOptions::default());
        let outputs = Outputs {
            syslog,
            journal,
            timeline: TimelineWriter::new(dir, 1 << 20),
            evidence: None,
        };
        let core = Core::new(
            TrackerConfig::default(),
            DiagnosisConfig::default(),
            Vec::new(),
            NOW,
        );
        State::new(core, outputs, NOW, None, mpsc::channel(1).0)
    }

    /// The messages of the lines syslog has received so far (after the `mailpulse[pid]: ` tag).
    fn received(server: &UnixDatagram) -> Vec<String> {
        let mut lines = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(n) = server.recv(&mut buf) {
            let line = String::from_utf8_lossy(&buf[..n]).into_owned();
            let message = line.split_once("]: ").map_or(line.as_str(), |(_, m)| m);
            lines.push(message.to_string());
        }
        lines
    }

    fn wan_down_event(severity: Severity) -> Event {
        Event {
            id: 1,
            time: NOW,
            kind: EventKind::WanDown,
            severity,
            verdict: None,
            credentials: None,
            client: None,
            server_name: None,
            server: None,
            server_port: None,
            protocol: None,
            message: "WAN link wan0 went down.".into(),
            advice: None,
            session: None,
            evidence: Vec::new(),
        }
    }

    /// `[daemon] log_level` (set at start-up and by a reload, as here) decides which of the
    /// daemon's own messages reach syslog; events are sent whatever it says.
    #[test]
    fn log_level_filters_the_daemons_own_messages_never_events() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let server = UnixDatagram::bind(&log).unwrap();
        server.set_nonblocking(true).unwrap();
        let mut st = state(dir.path(), &log);

        // `info`, the default: debug lines are dropped.
        st.notice(Severity::Debug, "capturing on lan0", NOW);
        st.notice(Severity::Notice, "started", NOW);
        assert_eq!(received(&server), ["started"]);

        st.log_level = LogLevel::Debug;
        st.notice(Severity::Debug, "capturing on lan0", NOW);
        assert_eq!(received(&server), ["capturing on lan0"]);

        st.log_level = LogLevel::Error;
        st.notice(Severity::Warning, "link monitor: no buffer space", NOW);
        st.notice(Severity::Err, "probes disabled", NOW);
        st.report(vec![wan_down_event(Severity::Info)], NOW);
        let lines = received(&server);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0], "probes disabled");
        assert!(lines[1].starts_with("wan-down"), "{lines:?}");
    }
}
