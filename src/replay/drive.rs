//! The replay's driver: the tracker and engine run on the capture's clock. Frames feed the
//! tracker, the tracker's timers run every [`POLL_EVERY`] of capture time, the recorded
//! timeline joins in time order, and every view and event the engine gives goes to the
//! printer. Sessions the engine leaves alone are printed unjudged ([`super::unjudged`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::print::Printer;
use super::unjudged::{capture_ended_view, capture_ended_wait, unjudged_view};
use crate::diagnose::{DiagnosisConfig, Engine};
use crate::observe::observation::{Observation, ObservationKind};
use crate::observe::record::{SessionRecord, TrackerStats};
use crate::time::Timestamp;
use crate::track::{KeyedBuildHasher, Tracker, TrackerConfig};
use crate::wire::Frame;

/// How often (in capture time) the tracker's timers run.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// A session the engine has not judged this long after it ended gets its unjudged view.
const JUDGE_GRACE: Duration = Duration::from_secs(300);

/// Identifies one session across the tracker's record and the engine's view.
type SessionKey = (SocketAddr, SocketAddr, Timestamp);

/// The tracker and engine driven by the capture's clock.
pub(super) struct Replay {
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
    pub(super) fn new(mut timeline: Vec<Observation>) -> Self {
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

    pub(super) fn frame(&mut self, frame: &Frame<'_>, printer: &mut Printer<'_>) {
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

    pub(super) fn finish(&mut self, printer: &mut Printer<'_>) {
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

    /// What the tracker counted: packets, sessions, undecodable and non-IP frames.
    pub(super) fn tracker_stats(&self) -> TrackerStats {
        self.tracker.stats()
    }

    /// DNS queries the capture's end cut off (not judged).
    pub(super) fn dns_cut_off(&self) -> u64 {
        self.dns_cut_off
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
