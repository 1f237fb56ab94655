//! The control socket protocol, shared by the daemon and the CLI (and read by configd and the
//! web UI through the CLI's `--json`).
//!
//! One request per connection: the client sends a frame, the daemon answers with one frame and
//! closes. A frame is a u64 big-endian length followed by that many bytes of JSON
//! ([`frame`]); requests are capped at [`MAX_REQUEST`], responses at [`MAX_RESPONSE`].

pub mod client;
pub mod frame;
pub mod server;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::diagnose::event::Event;
use crate::diagnose::status::{ClientSummary, EngineStatus};
use crate::diagnose::Explanation;
use crate::observe::record::TrackerStats;
use crate::sys::CaptureStats;
use crate::time::Timestamp;

/// Largest request frame accepted (1 MiB).
pub const MAX_REQUEST: u64 = 1 << 20;
/// Largest response frame sent or accepted (16 MiB).
pub const MAX_RESPONSE: u64 = 16 << 20;

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    Status,
    Events(EventQuery),
    Clients,
    Explain {
        client: IpAddr,
    },
    Metrics,
    /// Re-read the configuration file and apply it (`mailpulse reload`, SIGHUP's twin).
    Reload,
}

/// `events` filters; all optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventQuery {
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// At most this many, the most recent ones (still printed oldest first).
    pub limit: Option<usize>,
    /// Only failures ([`EventKind::is_failure`](crate::diagnose::event::EventKind::is_failure)).
    pub failures: bool,
    /// Only events about this LAN client.
    pub client: Option<IpAddr>,
}

impl EventQuery {
    /// True when `event` passes every filter but the limit.
    pub fn matches(&self, event: &Event) -> bool {
        self.since.is_none_or(|since| event.time >= since)
            && (!self.failures || event.kind.is_failure())
            && self.client.is_none_or(|c| event.client == Some(c))
    }

    /// The events that match, oldest first, keeping the newest `limit`. `events` must be in
    /// the order they happened.
    pub fn select<'a>(&self, events: impl IntoIterator<Item = &'a Event>) -> Vec<Event> {
        let mut kept: std::collections::VecDeque<&Event> = std::collections::VecDeque::new();
        for event in events.into_iter().filter(|e| self.matches(e)) {
            kept.push_back(event);
            if self.limit.is_some_and(|limit| kept.len() > limit) {
                kept.pop_front();
            }
        }
        kept.into_iter().cloned().collect()
    }
}

/// What the daemon answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", content = "body", rename_all = "kebab-case")]
pub enum Response {
    Status(Box<StatusReport>),
    /// Oldest first.
    Events(Vec<Event>),
    Clients(Vec<ClientSummary>),
    Explain(Explanation),
    /// Prometheus text exposition.
    Metrics(String),
    /// What a reload applied, and what waits for a restart.
    Reloaded(ReloadReport),
    /// The configuration file was refused (`file:line:col: message`); the daemon keeps
    /// running with the configuration it had.
    ReloadRefused {
        message: String,
    },
    /// The request could not be answered; the message says why in plain words.
    Error {
        message: String,
    },
}

/// Everything `mailpulse status` shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The daemon's version (`CARGO_PKG_VERSION`).
    pub version: String,
    pub started: Timestamp,
    pub uptime_seconds: u64,
    /// The configuration file read, or `None` when running on built-in defaults.
    pub config_path: Option<PathBuf>,
    pub engine: EngineStatus,
    pub tracker: TrackerStats,
    /// One entry per LAN capture.
    pub captures: Vec<InterfaceCapture>,
    pub journal: JournalState,
    pub evidence: EvidenceRingState,
    /// Events reported since start, by kind name (`session-failed`, …).
    pub events_by_kind: BTreeMap<String, u64>,
}

/// The outcome of a reload that was accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// One plain sentence: `applied: LAN interfaces br-lan -> br-lan, eth2; log level info ->
    /// debug`, then what needs a restart, if anything.
    pub summary: String,
    /// Each change applied, as `what old -> new`.
    pub applied: Vec<String>,
    /// Each change that takes effect only after a restart, with the reason.
    pub needs_restart: Vec<String>,
}

/// One capture's counters, or why there are none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceCapture {
    pub interface: String,
    pub stats: Option<CaptureStats>,
    /// Set when the capture failed or its counters could not be read.
    pub error: Option<String>,
}

/// The event journal's health, as the journal reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalState {
    pub path: PathBuf,
    /// False after a failed write or sync until a later one succeeds.
    pub healthy: bool,
    /// The most recent error, kept after recovery so the owner can see what happened.
    pub last_error: Option<String>,
    pub events_written: u64,
    /// Events that could not be written.
    pub events_lost: u64,
    /// Size of the live file.
    pub bytes: u64,
    pub rotations: u64,
}

/// The pcapng ring of recent mail traffic kept for `replay`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRingState {
    pub enabled: bool,
    pub path: Option<PathBuf>,
    pub bytes: u64,
    pub capacity_bytes: u64,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod tests_support;
