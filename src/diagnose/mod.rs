//! The engine: observations in, events out. No I/O and no clock: time comes with each
//! observation, so the same engine runs live and in `replay`, deterministically.

pub mod event;
pub mod observation;
pub mod status;

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use event::Event;
use observation::Observation;
use status::{ClientSummary, EngineStatus};

/// The `[diagnosis]` thresholds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagnosisConfig {
    /// How far around a session's failure to look for WAN, DNS and probe evidence.
    pub window: Duration,
    pub slow_dns: Duration,
    pub slow_server: Duration,
}

impl Default for DiagnosisConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            slow_dns: Duration::from_secs(2),
            slow_server: Duration::from_secs(5),
        }
    }
}

/// The diagnosis engine.
pub struct Engine {
    config: DiagnosisConfig,
    next_id: u64,
}

impl Engine {
    /// A new engine whose first event gets `first_id`.
    pub fn new(config: DiagnosisConfig, first_id: u64) -> Self {
        Self {
            config,
            next_id: first_id,
        }
    }

    /// Replaces the thresholds (config reload); the timeline is kept.
    pub fn set_config(&mut self, config: DiagnosisConfig) {
        self.config = config;
    }

    /// Feeds one observation; returns the events it caused, oldest first.
    pub fn observe(&mut self, observation: Observation) -> Vec<Event> {
        let _ = (&self.config, observation, self.next_id);
        Vec::new()
    }

    /// The WAN, gateways, probes and counters as of the last observation.
    pub fn status(&self) -> EngineStatus {
        EngineStatus::default()
    }

    /// The LAN clients seen, most recent first.
    pub fn clients(&self) -> Vec<ClientSummary> {
        Vec::new()
    }

    /// One client's recent story in plain words (`mailpulse explain IP`).
    pub fn explain(&self, client: IpAddr) -> Explanation {
        Explanation {
            client,
            story: Vec::new(),
            events: Vec::new(),
        }
    }
}

/// One client's timeline told in plain sentences, with the events it rests on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub client: IpAddr,
    /// Sentences, oldest first ("At 14:03:12 the WAN link went down for 29 s. …").
    pub story: Vec<String>,
    pub events: Vec<Event>,
}
