//! The daemon's state in one place, free of tokio: the tracker, the engine, the recent-events
//! history and the evidence ring. The async shell feeds it and carries out what it returns, so
//! everything the daemon decides can be tested by calling these methods with made-up times.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::diagnose::event::{Event, EventKind};
use crate::diagnose::status::ClientSummary;
use crate::diagnose::{DiagnosisConfig, Engine, Explanation};
use crate::observe::observation::{Observation, ObservationKind};
use crate::observe::record::TrackerStats;
use crate::time::Timestamp;
use crate::track::{Tracker, TrackerConfig};
use crate::wire::Frame;

use super::history::History;
use crate::control::EventQuery;

/// Events kept in memory for `events`, `clients` and the web UI; the journal keeps the rest.
pub const HISTORY_CAPACITY: usize = 10_000;

/// How long to wait before probing the same target again in a burst.
const BURST_SPACING: Duration = Duration::from_secs(10);

/// Everything the daemon knows, and the one path observations take into the engine.
pub struct Core {
    tracker: Tracker,
    engine: Engine,
    history: History,
    /// Observations produced by the tracker, reused between frames to avoid allocating.
    pending: Vec<Observation>,
    /// Probe targets (host → target URLs) to probe now because a client failed to reach them.
    burst_candidates: BTreeMap<String, Vec<String>>,
    last_burst: BTreeMap<String, Timestamp>,
    last_time: Timestamp,
}

impl Core {
    /// A core whose first event id follows the journal's last one.
    pub fn new(
        tracker: TrackerConfig,
        diagnosis: DiagnosisConfig,
        restored: Vec<Event>,
        started: Timestamp,
    ) -> Self {
        let mut history = History::new(HISTORY_CAPACITY);
        for event in restored {
            history.push(event);
        }
        let engine = Engine::new(diagnosis, history.next_id());
        Self {
            tracker: Tracker::new(tracker),
            engine,
            history,
            pending: Vec::new(),
            burst_candidates: BTreeMap::new(),
            last_burst: BTreeMap::new(),
            last_time: started,
        }
    }

    /// Tells the core which probe targets exist, so a failed session to one of their hosts
    /// triggers a burst probe of it.
    pub fn set_probe_targets(&mut self, targets: impl IntoIterator<Item = (String, String)>) {
        self.burst_candidates.clear();
        for (host, url) in targets {
            self.burst_candidates
                .entry(host.to_ascii_lowercase())
                .or_default()
                .push(url);
        }
    }

    pub fn set_diagnosis(&mut self, diagnosis: DiagnosisConfig) {
        self.engine.set_config(diagnosis);
    }

    /// One captured frame; returns the events it caused.
    pub fn on_frame(&mut self, frame: &Frame<'_>) -> Vec<Event> {
        self.last_time = self.last_time.max(frame.time);
        self.tracker.on_frame(frame, &mut self.pending);
        self.drain_pending()
    }

    /// Anything that is not a packet (link, gateway, probe, firewall, WAN interfaces).
    pub fn observe(&mut self, time: Timestamp, kind: ObservationKind) -> Vec<Event> {
        self.last_time = self.last_time.max(time);
        self.judge(Observation { time, kind })
    }

    /// Time passed: expire idle sessions and let the engine close its windows.
    pub fn tick(&mut self, now: Timestamp) -> Vec<Event> {
        self.last_time = self.last_time.max(now);
        self.tracker.poll(now, &mut self.pending);
        let mut events = self.drain_pending();
        events.extend(self.judge(Observation {
            time: now,
            kind: ObservationKind::Tick,
        }));
        events
    }

    /// Probe targets to run now, because a client just failed to reach their host.
    pub fn burst_probes(&mut self, events: &[Event], now: Timestamp) -> Vec<String> {
        let mut due = Vec::new();
        for event in events.iter().filter(|e| e.kind == EventKind::SessionFailed) {
            let Some(name) = event.server_name.as_deref() else {
                continue;
            };
            let host = name.to_ascii_lowercase();
            let Some(urls) = self.burst_candidates.get(&host) else {
                continue;
            };
            let recent = self
                .last_burst
                .get(&host)
                .is_some_and(|t| now.saturating_since(*t) < BURST_SPACING);
            if !recent {
                self.last_burst.insert(host, now);
                due.extend(urls.iter().cloned());
            }
        }
        due
    }

    pub fn events(&self, query: &EventQuery) -> Vec<Event> {
        query.select(self.history.iter())
    }

    pub fn clients(&self) -> Vec<ClientSummary> {
        self.engine.clients()
    }

    pub fn explain(&self, client: IpAddr) -> Explanation {
        self.engine.explain(client)
    }

    pub fn engine_status(&self) -> crate::diagnose::status::EngineStatus {
        self.engine.status()
    }

    pub fn tracker_stats(&self) -> TrackerStats {
        self.tracker.stats()
    }

    /// Whether the tracker holds sessions or lookups whose stall or expiry may fall due soon.
    pub fn tracker_busy(&self) -> bool {
        let stats = self.tracker.stats();
        stats.sessions_open > 0 || stats.dns_pending > 0
    }

    fn drain_pending(&mut self) -> Vec<Event> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let mut observations = std::mem::take(&mut self.pending);
        let mut events = Vec::new();
        for observation in observations.drain(..) {
            events.extend(self.judge(observation));
        }
        // Hand the (now empty) buffer back so its capacity is reused.
        self.pending = observations;
        events
    }

    fn judge(&mut self, observation: Observation) -> Vec<Event> {
        let events = self.engine.observe(observation);
        for event in &events {
            self.history.push(event.clone());
        }
        events
    }
}
