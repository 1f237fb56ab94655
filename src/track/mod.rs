//! Packets in, mail sessions and DNS lookups out. Bounded tables, no clock: time comes with
//! each frame, and `poll` is told the time.

pub mod record;

use crate::diagnose::observation::Observation;
use crate::time::Timestamp;
use crate::wire::Frame;
use record::TrackerStats;

/// Limits of the tracker's tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerConfig {
    /// Most sessions kept at once; the oldest is evicted (and counted) beyond it.
    pub max_sessions: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            max_sessions: 65_536,
        }
    }
}

/// The passive session tracker.
pub struct Tracker {
    config: TrackerConfig,
    stats: TrackerStats,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            stats: TrackerStats::default(),
        }
    }

    /// Feeds one frame; finished sessions and lookups are pushed to `out`.
    pub fn on_frame(&mut self, frame: &Frame<'_>, out: &mut Vec<Observation>) {
        let _ = (&self.config, frame, out);
        self.stats.packets += 1;
    }

    /// Expires idle sessions and lookups as of `now`, and reports stalling ones.
    pub fn poll(&mut self, now: Timestamp, out: &mut Vec<Observation>) {
        let _ = (now, out);
    }

    /// End of input: every session still open is reported with `close: open`.
    pub fn finish(&mut self, now: Timestamp, out: &mut Vec<Observation>) {
        let _ = (now, out);
    }

    pub fn stats(&self) -> TrackerStats {
        self.stats
    }
}
