//! Snapshots of the engine's picture of the world, for `status` and `clients`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::event::{Credentials, Verdict};
use crate::observe::observation::{FirewallTimeouts, ProbeResult};
use crate::time::Timestamp;

/// The WAN as the engine sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WanStatus {
    /// `up`, `down` or `unknown` (nothing heard yet).
    pub state: String,
    pub interfaces: Vec<WanInterface>,
    pub last_change: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WanInterface {
    pub name: String,
    pub up: bool,
    pub addresses: Vec<IpAddr>,
    pub default_route: bool,
    pub since: Option<Timestamp>,
}

/// The last gateway reading per gateway.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatewayStatus {
    pub name: String,
    pub latency_ms: Option<f64>,
    pub loss_percent: f32,
    pub at: Timestamp,
}

/// One probe target's health.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeStatus {
    pub target: String,
    /// `ok`, `failed`, `slow` or `pending`.
    pub state: String,
    pub last: Option<ProbeResult>,
    pub last_ok: Option<Timestamp>,
    pub consecutive_failures: u32,
}

/// Running totals since the engine started (or since the journal it was seeded from).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub sessions: u64,
    pub sessions_by_verdict: BTreeMap<String, u64>,
    pub events: u64,
    pub dns_lookups: u64,
    pub dns_failures: u64,
    pub wan_transitions: u64,
}

/// Everything `mailpulse status` shows that the engine knows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineStatus {
    pub wan: WanStatus,
    pub gateways: Vec<GatewayStatus>,
    pub probes: Vec<ProbeStatus>,
    pub counters: Counters,
    pub firewall: Option<FirewallTimeouts>,
}

/// One LAN client, with its last verdict (`mailpulse clients`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientSummary {
    pub client: IpAddr,
    pub sessions: u64,
    pub failures: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub last_verdict: Option<Verdict>,
    pub last_credentials: Option<Credentials>,
    pub last_server_name: Option<String>,
}
