//! The engine's input vocabulary: everything the sources tell it, each stamped with a time.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::observe::record::{DnsLookup, Protocol, SessionRecord, TlsMode, TlsVersion};
use crate::time::Timestamp;

/// One thing that happened, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub time: Timestamp,
    pub kind: ObservationKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ObservationKind {
    /// A session the tracker finished (FIN/RST both ways, idle expiry, or end of capture).
    SessionEnded(SessionRecord),
    /// A snapshot of a session that is still open (may show it stalling).
    SessionUpdate(SessionRecord),
    /// A client's DNS lookup, answered or timed out.
    DnsLookup(DnsLookup),
    /// A change of link, address or default route.
    Link(LinkChange),
    /// Which interfaces are the WAN (from config, or those carrying default routes).
    WanInterfaces(Vec<String>),
    /// A gateway latency/loss reading (dpinger).
    Gateway(GatewaySample),
    /// An active probe finished.
    Probe(ProbeResult),
    /// The firewall's idle timeout for established TCP sessions, as read from the system.
    FirewallTimeouts(FirewallTimeouts),
    /// Time passed with nothing else to report; lets the engine close windows.
    Tick,
}

/// Link, address and default-route changes, named by interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum LinkChange {
    LinkUp {
        interface: String,
    },
    LinkDown {
        interface: String,
    },
    AddressAdded {
        interface: String,
        address: IpAddr,
    },
    AddressRemoved {
        interface: String,
        address: IpAddr,
    },
    DefaultRouteAdded {
        interface: Option<String>,
        gateway: Option<IpAddr>,
    },
    DefaultRouteRemoved {
        interface: Option<String>,
        gateway: Option<IpAddr>,
    },
    InterfaceGone {
        interface: String,
    },
}

/// One gateway reading, as dpinger reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatewaySample {
    /// dpinger's gateway name (from its socket name).
    pub gateway: String,
    #[serde(rename = "latency_ms", with = "crate::time::serde_millis::option")]
    pub latency: Option<Duration>,
    #[serde(rename = "stddev_ms", with = "crate::time::serde_millis::option")]
    pub stddev: Option<Duration>,
    pub loss_percent: f32,
}

/// The firewall's idle timeout for established TCP, and where it was read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallTimeouts {
    #[serde(rename = "tcp_established_ms", with = "crate::time::serde_millis")]
    pub tcp_established: Duration,
    /// e.g. `pfctl -st` or `net.netfilter.nf_conntrack_tcp_timeout_established`.
    pub source: String,
}

/// A phase of an active probe, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbePhase {
    Dns,
    Connect,
    Greeting,
    Starttls,
    Tls,
    Capabilities,
    Logout,
}

impl ProbePhase {
    /// The phase as people and the JSON name it: `dns`, `connect`, `tls`, ….
    pub fn name(self) -> &'static str {
        match self {
            ProbePhase::Dns => "dns",
            ProbePhase::Connect => "connect",
            ProbePhase::Greeting => "greeting",
            ProbePhase::Starttls => "starttls",
            ProbePhase::Tls => "tls",
            ProbePhase::Capabilities => "capabilities",
            ProbePhase::Logout => "logout",
        }
    }
}

/// How long one phase took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseTiming {
    pub phase: ProbePhase,
    #[serde(rename = "duration_ms", with = "crate::time::serde_millis")]
    pub duration: Duration,
}

/// Why a probe failed, naming the phase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeFailure {
    pub phase: ProbePhase,
    /// Plain words: "connection refused", "timed out after 10 s", "alert protocol_version".
    pub error: String,
}

/// The outcome of one active probe of one target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// As configured, e.g. `imaps://imap.gmail.com`.
    pub target: String,
    pub host: String,
    pub port: u16,
    pub protocol: Protocol,
    pub tls: TlsMode,
    pub started: Timestamp,
    pub phases: Vec<PhaseTiming>,
    /// `None` when every phase succeeded.
    pub failure: Option<ProbeFailure>,
    pub addresses: Vec<IpAddr>,
    pub connected_to: Option<SocketAddr>,
    pub tls_version: Option<TlsVersion>,
    pub cipher: Option<String>,
    pub cert_not_after: Option<Timestamp>,
    /// Whether the certificate chain validated against the trust anchors.
    pub cert_valid: Option<bool>,
    pub cert_error: Option<String>,
    pub greeting: Option<String>,
    pub capabilities: Vec<String>,
}

impl ProbeResult {
    /// True when every phase succeeded.
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }

    /// Sum of all phase durations.
    pub fn total(&self) -> Duration {
        self.phases.iter().map(|p| p.duration).sum()
    }

    /// The duration of one phase, if it ran.
    pub fn phase(&self, phase: ProbePhase) -> Option<Duration> {
        self.phases
            .iter()
            .find(|p| p.phase == phase)
            .map(|p| p.duration)
    }
}
