//! The engine's memory of the world around the sessions: WAN link and address state, gateway
//! readings, probe results, the clients' DNS lookups and the firewall's idle timeout.
//!
//! Everything here is bounded twice: by age (facts older than the horizon are dropped) and by
//! count (a flood of observations cannot grow a list past its cap). Recording a fact may yield a
//! [`Notice`], which the engine turns into an event.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use crate::observe::observation::{
    FirewallTimeouts, GatewaySample, LinkChange, ProbeFailure, ProbePhase, ProbeResult,
};
use crate::observe::record::{DnsLookup, Rcode};
use crate::time::words::{secs, secs_precise};
use crate::time::Timestamp;

/// How long WAN outages and address changes are remembered (long IMAP sessions reach back far).
pub const WAN_HORIZON: Duration = Duration::from_secs(24 * 3600);
/// How long probe results, gateway readings and DNS lookups are remembered beyond the window.
pub const SHORT_HORIZON: Duration = Duration::from_secs(3600);
/// Interfaces whose state is tracked (names come from the kernel; capped all the same).
pub const MAX_INTERFACES: usize = 32;
/// Addresses remembered per interface.
pub const MAX_ADDRESSES: usize = 16;
/// WAN outages remembered.
pub const MAX_OUTAGES: usize = 256;
/// WAN address/default-route changes remembered.
pub const MAX_NAT_CHANGES: usize = 256;
/// Gateways tracked, and readings kept per gateway.
pub const MAX_GATEWAYS: usize = 16;
pub const MAX_GATEWAY_SAMPLES: usize = 256;
/// Probe targets tracked, and results kept per target.
pub const MAX_TARGETS: usize = 64;
pub const MAX_PROBE_HISTORY: usize = 128;
/// Client DNS lookups remembered.
pub const MAX_DNS: usize = 4096;
/// Answers kept per lookup or probe (enough to match a session's server address).
pub const MAX_ANSWERS: usize = 8;
/// A WAN address removed and not replaced within this long is reported as lost.
pub const ADDRESS_GRACE: Duration = Duration::from_secs(10);
/// Gateway loss at or above this starts a `gateway-loss` (pfSense's alert level is 10 %).
pub const GATEWAY_LOSS_ALARM: f32 = 10.0;
/// Gateway loss at or below this ends it (hysteresis, so a gateway hovering near the alarm level
/// does not flap).
pub const GATEWAY_LOSS_CLEAR: f32 = 2.0;

/// Something worth an event that recording a fact revealed.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    WanDown {
        interface: String,
    },
    WanUp {
        interface: String,
        down_for: Option<Duration>,
    },
    WanAddressChanged {
        interface: String,
        description: String,
    },
    GatewayLoss {
        gateway: String,
        loss_percent: f32,
        latency: Option<Duration>,
    },
    GatewayRecovered {
        gateway: String,
        loss_percent: f32,
        after: Duration,
    },
    ProbeFailed {
        target: String,
        host: String,
        failure: ProbeFailure,
    },
    ProbeSlow {
        target: String,
        host: String,
        phase: ProbePhase,
        took: Duration,
    },
    ProbeRecovered {
        target: String,
        host: String,
        after: Duration,
    },
    /// The probe worked but the server's certificate did not validate (why, in words).
    ProbeCertInvalid {
        target: String,
        host: String,
        error: String,
    },
}

/// A WAN interface's link outage; `end` is `None` while it lasts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    pub interface: String,
    pub start: Timestamp,
    pub end: Option<Timestamp>,
}

impl Outage {
    /// The outage as "wan0 down 14:03:12–14:03:41 (29 s)".
    pub fn describe(&self) -> String {
        match self.end {
            Some(end) => format!(
                "{} down {}–{} ({})",
                self.interface,
                hms(self.start),
                hms(end),
                secs(end.saturating_since(self.start))
            ),
            None => format!(
                "{} down since {} (still down)",
                self.interface,
                hms(self.start)
            ),
        }
    }

    /// True when the outage touches `[from, to]`; an open outage lasts until `now`.
    fn overlaps(&self, from: Timestamp, to: Timestamp, now: Timestamp) -> bool {
        self.start <= to && self.end.unwrap_or(now) >= from
    }
}

/// An address or default-route change on the WAN: NAT mappings made before it are gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatChange {
    pub interface: String,
    pub at: Timestamp,
    /// "wan0 address changed from 198.51.100.7 to 198.51.100.9".
    pub description: String,
}

#[derive(Clone, Debug, Default)]
struct Interface {
    up: Option<bool>,
    since: Option<Timestamp>,
    addresses: Vec<IpAddr>,
    /// Addresses were heard of at least once: the first ones are learning, not a change.
    addresses_known: bool,
    default_route: bool,
    /// It carried a default route at some point (makes it a WAN when none are configured).
    had_default_route: bool,
    default_route_removed: bool,
    /// The last address removed, when, and whether its loss was already reported.
    last_removed: Option<(IpAddr, Timestamp, bool)>,
    /// The last address added beside the others, and when: a renewal that adds the new
    /// address before removing the old one (PPPoE, DHCP with `promote_secondaries`).
    last_added: Option<(IpAddr, Timestamp)>,
    touched: Timestamp,
}

/// A gateway's recent readings.
#[derive(Clone, Debug)]
pub struct Gateway {
    pub last: GatewaySample,
    pub at: Timestamp,
    alarm_since: Option<Timestamp>,
    samples: VecDeque<(Timestamp, f32, Option<Duration>)>,
}

/// Health of a probe target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeHealth {
    Ok,
    Failed,
    Slow,
    /// Reachable, but the TLS certificate did not validate: clients that check it refuse it.
    CertInvalid,
}

impl ProbeHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeHealth::Ok => "ok",
            ProbeHealth::Failed => "failed",
            ProbeHealth::Slow => "slow",
            ProbeHealth::CertInvalid => "cert-invalid",
        }
    }
}

/// One probe result, reduced to what verdicts need.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeMark {
    pub target: String,
    pub host: String,
    pub at: Timestamp,
    pub health: ProbeHealth,
    pub failure: Option<ProbeFailure>,
    pub slow: Option<(ProbePhase, Duration)>,
    pub addresses: Vec<IpAddr>,
}

impl ProbeMark {
    /// A probe result reduced: its health, its first phase slower than its limit (`slow_dns`
    /// for the lookup, `slow_server` for the rest), and the addresses it tried.
    fn of(result: &ProbeResult, at: Timestamp, slow_server: Duration, slow_dns: Duration) -> Self {
        let slow = result.phases.iter().find_map(|p| {
            let limit = if p.phase == ProbePhase::Dns {
                slow_dns
            } else {
                slow_server
            };
            (p.duration > limit).then_some((p.phase, p.duration))
        });
        let health = match (&result.failure, slow) {
            (Some(_), _) => ProbeHealth::Failed,
            (None, _) if result.cert_valid == Some(false) => ProbeHealth::CertInvalid,
            (None, Some(_)) => ProbeHealth::Slow,
            (None, None) => ProbeHealth::Ok,
        };
        let mut addresses: Vec<IpAddr> =
            result.addresses.iter().copied().take(MAX_ANSWERS).collect();
        if let Some(peer) = result.connected_to {
            if !addresses.contains(&peer.ip()) {
                addresses.push(peer.ip());
            }
        }
        ProbeMark {
            target: result.target.clone(),
            host: result.host.to_ascii_lowercase(),
            at,
            health,
            failure: result.failure.clone(),
            slow,
            addresses,
        }
    }

    /// "probe imaps://imap.gmail.com failed at connect at 14:03:20: timed out".
    pub fn describe(&self) -> String {
        match (&self.failure, self.slow) {
            (Some(f), _) => format!(
                "probe {} failed at {} at {}: {}",
                self.target,
                f.phase.name(),
                hms(self.at),
                f.error
            ),
            (None, Some((phase, took))) => format!(
                "probe {} slow at {} ({}) at {}",
                self.target,
                phase.name(),
                secs_precise(took),
                hms(self.at)
            ),
            (None, _) if self.health == ProbeHealth::CertInvalid => format!(
                "probe {} reached the server at {}, but its certificate is not valid",
                self.target,
                hms(self.at)
            ),
            (None, None) => format!("probe {} ok at {}", self.target, hms(self.at)),
        }
    }
}

/// What the engine knows of one probe target: its latest result, health and recent marks.
#[derive(Clone, Debug)]
pub struct TargetHealth {
    pub last: ProbeResult,
    pub health: ProbeHealth,
    pub last_ok: Option<Timestamp>,
    pub consecutive_failures: u32,
    trouble_since: Option<Timestamp>,
    touched: Timestamp,
    history: VecDeque<ProbeMark>,
}

impl TargetHealth {
    /// Takes the target's latest result; returns its health before, `None` for a target
    /// never probed.
    fn record(&mut self, result: ProbeResult, mark: ProbeMark) -> Option<ProbeHealth> {
        let previous = if self.history.is_empty() && self.last_ok.is_none() {
            None
        } else {
            Some(self.health)
        };
        let (at, health) = (mark.at, mark.health);
        self.last = result;
        self.touched = at;
        self.health = health;
        if self.history.len() >= MAX_PROBE_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(mark);
        match health {
            ProbeHealth::Ok => {
                self.last_ok = Some(at);
                self.consecutive_failures = 0;
            }
            ProbeHealth::Failed => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1)
            }
            ProbeHealth::Slow | ProbeHealth::CertInvalid => self.consecutive_failures = 0,
        }
        previous
    }

    /// The notice for the target's health becoming `mark`'s: trouble starts (or goes on in
    /// another form), or it ends.
    fn health_changed(&mut self, mark: ProbeMark, cert_error: Option<String>) -> Option<Notice> {
        let ProbeMark {
            target,
            host,
            at,
            health,
            failure,
            slow,
            ..
        } = mark;
        match (health, failure, slow) {
            (ProbeHealth::Failed, Some(failure), _) => {
                self.trouble_since.get_or_insert(at);
                Some(Notice::ProbeFailed {
                    target,
                    host,
                    failure,
                })
            }
            (ProbeHealth::Slow, _, Some((phase, took))) => {
                self.trouble_since.get_or_insert(at);
                Some(Notice::ProbeSlow {
                    target,
                    host,
                    phase,
                    took,
                })
            }
            (ProbeHealth::CertInvalid, _, _) => {
                self.trouble_since.get_or_insert(at);
                Some(Notice::ProbeCertInvalid {
                    target,
                    host,
                    error: cert_error.unwrap_or_else(|| "no reason given".into()),
                })
            }
            (ProbeHealth::Ok, _, _) => {
                self.trouble_since
                    .take()
                    .map(|since| Notice::ProbeRecovered {
                        target,
                        host,
                        after: at.saturating_since(since),
                    })
            }
            _ => None,
        }
    }
}

/// One client DNS lookup, reduced.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsMark {
    pub client: IpAddr,
    pub name: String,
    pub start: Timestamp,
    pub latency: Option<Duration>,
    pub rcode: Option<Rcode>,
    pub timed_out: bool,
    pub retries: u32,
    pub answers: Vec<IpAddr>,
}

impl DnsMark {
    /// Why the lookup failed, or `None` when it did not.
    pub fn failure(&self) -> Option<String> {
        if self.timed_out {
            return Some(format!(
                "no answer ({} tr{})",
                self.retries.saturating_add(1),
                if self.retries == 0 { "y" } else { "ies" }
            ));
        }
        match self.rcode {
            Some(Rcode::SERVFAIL) | Some(Rcode::REFUSED) | Some(Rcode::NXDOMAIN) => {
                self.rcode.map(|r| r.name())
            }
            // NOERROR with no address is normal for AAAA on an IPv4-only name.
            _ => None,
        }
    }
}

/// The engine's world model: everything it remembers besides sessions (WAN link and address
/// state, gateway readings, probe marks per target, DNS marks), over time.
#[derive(Debug, Default)]
pub struct World {
    now: Timestamp,
    configured_wan: Vec<String>,
    interfaces: BTreeMap<String, Interface>,
    outages: VecDeque<Outage>,
    nat_changes: VecDeque<NatChange>,
    pub gateways: BTreeMap<String, Gateway>,
    pub targets: BTreeMap<String, TargetHealth>,
    dns: VecDeque<DnsMark>,
    pub firewall: Option<FirewallTimeouts>,
    /// Link transitions of WAN interfaces (for the counters).
    pub wan_transitions: u64,
    last_change: Option<Timestamp>,
}

impl World {
    /// The latest time observed (observations may arrive slightly out of order).
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Moves time forward (never back) and forgets what fell out of the horizons.
    pub fn advance(&mut self, time: Timestamp, window: Duration) {
        if time > self.now {
            self.now = time;
        }
        let wan_cut = self.now.minus(WAN_HORIZON);
        while self
            .outages
            .front()
            .is_some_and(|o| o.end.is_some_and(|e| e < wan_cut))
        {
            self.outages.pop_front();
        }
        while self.nat_changes.front().is_some_and(|c| c.at < wan_cut) {
            self.nat_changes.pop_front();
        }
        let short_cut = self.now.minus(SHORT_HORIZON.saturating_add(window));
        while self.dns.front().is_some_and(|d| d.start < short_cut) {
            self.dns.pop_front();
        }
        for gateway in self.gateways.values_mut() {
            while gateway.samples.front().is_some_and(|s| s.0 < short_cut) {
                gateway.samples.pop_front();
            }
        }
        for target in self.targets.values_mut() {
            while target.history.front().is_some_and(|m| m.at < short_cut) {
                target.history.pop_front();
            }
        }
    }

    /// Sets the configured WAN interfaces; empty means "those that carry a default route".
    pub fn set_wan_interfaces(&mut self, names: Vec<String>) {
        self.configured_wan = names.into_iter().take(MAX_INTERFACES).collect();
    }

    fn is_wan(&self, name: &str) -> bool {
        if !self.configured_wan.is_empty() {
            return self.configured_wan.iter().any(|w| w == name);
        }
        self.interfaces
            .get(name)
            .is_some_and(|i| i.default_route || i.had_default_route)
    }

    /// The interface entry, created on first mention (the least recently touched one makes way
    /// when the table is full).
    fn interface(&mut self, name: &str) -> &mut Interface {
        if !self.interfaces.contains_key(name) && self.interfaces.len() >= MAX_INTERFACES {
            let oldest = self
                .interfaces
                .iter()
                .min_by_key(|(_, i)| i.touched)
                .map(|(n, _)| n.clone());
            if let Some(oldest) = oldest {
                self.interfaces.remove(&oldest);
            }
        }
        let now = self.now;
        let entry = self.interfaces.entry(name.to_string()).or_default();
        entry.touched = now;
        entry
    }

    /// Records a link, address or route change.
    pub fn link(&mut self, change: LinkChange, at: Timestamp) -> Vec<Notice> {
        match change {
            LinkChange::LinkDown { interface } | LinkChange::InterfaceGone { interface } => {
                self.link_down(&interface, at)
            }
            LinkChange::LinkUp { interface } => self.link_up(&interface, at),
            LinkChange::AddressAdded { interface, address } => {
                self.address_added(&interface, address, at)
            }
            LinkChange::AddressRemoved { interface, address } => {
                self.address_removed(&interface, address, at)
            }
            LinkChange::DefaultRouteAdded { interface, gateway } => {
                self.default_route(interface, gateway, true, at)
            }
            LinkChange::DefaultRouteRemoved { interface, gateway } => {
                self.default_route(interface, gateway, false, at)
            }
        }
    }

    fn link_down(&mut self, name: &str, at: Timestamp) -> Vec<Notice> {
        let entry = self.interface(name);
        if entry.up == Some(false) {
            return Vec::new();
        }
        entry.up = Some(false);
        entry.since = Some(at);
        if !self.is_wan(name) {
            return Vec::new();
        }
        self.wan_transitions = self.wan_transitions.saturating_add(1);
        self.last_change = Some(at);
        if self.outages.len() >= MAX_OUTAGES {
            self.outages.pop_front();
        }
        self.outages.push_back(Outage {
            interface: name.to_string(),
            start: at,
            end: None,
        });
        vec![Notice::WanDown {
            interface: name.to_string(),
        }]
    }

    fn link_up(&mut self, name: &str, at: Timestamp) -> Vec<Notice> {
        let entry = self.interface(name);
        let was = entry.up;
        entry.up = Some(true);
        if was == Some(true) {
            return Vec::new();
        }
        entry.since = Some(at);
        if !self.is_wan(name) || was.is_none() {
            return Vec::new();
        }
        self.wan_transitions = self.wan_transitions.saturating_add(1);
        self.last_change = Some(at);
        let mut down_for = None;
        if let Some(outage) = self
            .outages
            .iter_mut()
            .rev()
            .find(|o| o.interface == name && o.end.is_none())
        {
            outage.end = Some(at);
            down_for = Some(at.saturating_since(outage.start));
        }
        vec![Notice::WanUp {
            interface: name.to_string(),
            down_for,
        }]
    }

    fn address_added(&mut self, name: &str, address: IpAddr, at: Timestamp) -> Vec<Notice> {
        let entry = self.interface(name);
        let known_before = entry.addresses_known;
        entry.addresses_known = true;
        if entry.addresses.contains(&address) {
            return Vec::new();
        }
        if entry.addresses.len() >= MAX_ADDRESSES {
            entry.addresses.remove(0);
        }
        entry.addresses.push(address);
        // Only an address that replaces a removed one is a change; new addresses beside the
        // old ones (the first ones learnt, IPv6 temporary addresses) break no NAT mapping.
        let replaced = entry
            .last_removed
            .take()
            .filter(|(old, _, _)| old.is_ipv4() == address.is_ipv4());
        let link_down = entry.up == Some(false);
        if !known_before || !self.is_wan(name) {
            return Vec::new();
        }
        let Some((old, _, _)) = replaced else {
            let entry = self.interface(name);
            entry.last_added = Some((address, at));
            return Vec::new();
        };
        let description = if old == address {
            format!("{name} address {address} was removed and added again")
        } else {
            format!("{name} address changed from {old} to {address}")
        };
        self.nat_change(name, at, description, link_down)
    }

    fn address_removed(&mut self, name: &str, address: IpAddr, at: Timestamp) -> Vec<Notice> {
        let entry = self.interface(name);
        entry.addresses_known = true;
        let had = entry.addresses.contains(&address);
        entry.addresses.retain(|a| *a != address);
        let link_down = entry.up == Some(false);
        if !had {
            return Vec::new();
        }
        // Its replacement may have come first: then this is the change, complete now.
        let replacement = entry
            .last_added
            .take()
            .filter(|(new, added)| {
                new.is_ipv4() == address.is_ipv4()
                    && at.saturating_since(*added) <= ADDRESS_GRACE
                    && entry.addresses.contains(new)
            })
            .map(|(new, _)| new);
        if let Some(new) = replacement {
            if !self.is_wan(name) {
                return Vec::new();
            }
            let description = format!("{name} address changed from {address} to {new}");
            return self.nat_change(name, at, description, link_down);
        }
        // Reported when the replacement arrives ("changed from A to B"), or by
        // `overdue_removals` when none comes.
        entry.last_removed = Some((address, at, link_down));
        if !self.is_wan(name) {
            return Vec::new();
        }
        let description = format!("{name} address {address} removed");
        self.nat_change(name, at, description, true)
    }

    /// WAN addresses removed [`ADDRESS_GRACE`] ago and not replaced: reported now.
    pub fn overdue_removals(&mut self) -> Vec<Notice> {
        let now = self.now;
        let mut out = Vec::new();
        let wan: Vec<String> = self
            .interfaces
            .keys()
            .filter(|n| self.is_wan(n))
            .cloned()
            .collect();
        for name in wan {
            let Some(entry) = self.interfaces.get_mut(&name) else {
                continue;
            };
            if let Some((address, at, reported)) = entry.last_removed.as_mut() {
                if !*reported && now.saturating_since(*at) >= ADDRESS_GRACE {
                    *reported = true;
                    out.push(Notice::WanAddressChanged {
                        interface: name.clone(),
                        description: format!("{name} lost its address {address}"),
                    });
                }
            }
        }
        out
    }

    fn default_route(
        &mut self,
        name: Option<String>,
        gateway: Option<IpAddr>,
        added: bool,
        at: Timestamp,
    ) -> Vec<Notice> {
        // A route without an interface is charged to the only WAN when there is one.
        let name = name.or_else(|| {
            let wans: Vec<&String> = self.interfaces.keys().filter(|n| self.is_wan(n)).collect();
            match wans.as_slice() {
                [only] => Some((*only).clone()),
                _ => None,
            }
        });
        let label = name.clone().unwrap_or_else(|| "WAN".to_string());
        let via = gateway.map(|g| format!(" via {g}")).unwrap_or_default();
        let (was_removed, link_down) = match &name {
            Some(n) => {
                let entry = self.interface(n);
                let was_removed = entry.default_route_removed;
                entry.default_route = added;
                entry.had_default_route = true;
                entry.default_route_removed = !added;
                (was_removed, entry.up == Some(false))
            }
            None => (true, false),
        };
        if added && !was_removed {
            // The first default route heard of is learning, not a change.
            return Vec::new();
        }
        let description = if added {
            format!("{label} default route{via} added")
        } else {
            format!("{label} default route{via} removed")
        };
        self.nat_change(&label, at, description, link_down)
    }

    fn nat_change(
        &mut self,
        name: &str,
        at: Timestamp,
        description: String,
        link_down: bool,
    ) -> Vec<Notice> {
        if self.nat_changes.len() >= MAX_NAT_CHANGES {
            self.nat_changes.pop_front();
        }
        self.last_change = Some(at);
        self.nat_changes.push_back(NatChange {
            interface: name.to_string(),
            at,
            description: description.clone(),
        });
        // While the link is down the wan-down event already says what matters.
        if link_down {
            return Vec::new();
        }
        vec![Notice::WanAddressChanged {
            interface: name.to_string(),
            description,
        }]
    }

    /// WAN outages touching `[from, to]`.
    pub fn outages_between(&self, from: Timestamp, to: Timestamp) -> Vec<&Outage> {
        self.outages
            .iter()
            .filter(|o| o.overlaps(from, to, self.now))
            .collect()
    }

    /// The outage of `interface` that started at `start`, if still remembered.
    pub fn outage_started(&self, interface: &str, start: Timestamp) -> Option<&Outage> {
        self.outages
            .iter()
            .find(|o| o.interface == interface && o.start == start)
    }

    /// WAN address and default-route changes within `[from, to]`.
    pub fn nat_changes_between(&self, from: Timestamp, to: Timestamp) -> Vec<&NatChange> {
        self.nat_changes
            .iter()
            .filter(|c| c.at >= from && c.at <= to)
            .collect()
    }

    /// Records a gateway reading.
    pub fn gateway(&mut self, sample: GatewaySample, at: Timestamp) -> Vec<Notice> {
        if !self.gateways.contains_key(&sample.gateway) && self.gateways.len() >= MAX_GATEWAYS {
            let oldest = self
                .gateways
                .iter()
                .min_by_key(|(_, g)| g.at)
                .map(|(n, _)| n.clone());
            if let Some(oldest) = oldest {
                self.gateways.remove(&oldest);
            }
        }
        let loss = if sample.loss_percent.is_finite() {
            sample.loss_percent.clamp(0.0, 100.0)
        } else {
            0.0
        };
        let name = sample.gateway.clone();
        let latency = sample.latency;
        let entry = self
            .gateways
            .entry(name.clone())
            .or_insert_with(|| Gateway {
                last: sample.clone(),
                at,
                alarm_since: None,
                samples: VecDeque::new(),
            });
        entry.last = sample;
        entry.at = at;
        if entry.samples.len() >= MAX_GATEWAY_SAMPLES {
            entry.samples.pop_front();
        }
        entry.samples.push_back((at, loss, latency));
        match entry.alarm_since {
            None if loss >= GATEWAY_LOSS_ALARM => {
                entry.alarm_since = Some(at);
                vec![Notice::GatewayLoss {
                    gateway: name,
                    loss_percent: loss,
                    latency,
                }]
            }
            Some(since) if loss <= GATEWAY_LOSS_CLEAR => {
                entry.alarm_since = None;
                vec![Notice::GatewayRecovered {
                    gateway: name,
                    loss_percent: loss,
                    after: at.saturating_since(since),
                }]
            }
            _ => Vec::new(),
        }
    }

    /// The worst gateway loss reading at or above the alarm level within `[from, to]`.
    pub fn gateway_loss_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Option<(String, f32, Timestamp)> {
        let mut worst: Option<(String, f32, Timestamp)> = None;
        for (name, gateway) in &self.gateways {
            for &(at, loss, _) in &gateway.samples {
                if at < from || at > to || loss < GATEWAY_LOSS_ALARM {
                    continue;
                }
                if worst.as_ref().is_none_or(|w| loss > w.1) {
                    worst = Some((name.clone(), loss, at));
                }
            }
        }
        worst
    }

    /// Records a probe result; `slow_server`/`slow_dns` decide what counts as slow. A change
    /// of the target's health is a notice.
    pub fn probe(
        &mut self,
        result: ProbeResult,
        at: Timestamp,
        slow_server: Duration,
        slow_dns: Duration,
    ) -> Vec<Notice> {
        self.make_room_for_target(&result.target);
        let mark = ProbeMark::of(&result, at, slow_server, slow_dns);
        let cert_error = result.cert_error.clone();
        let entry = self
            .targets
            .entry(result.target.clone())
            .or_insert_with(|| TargetHealth {
                last: result.clone(),
                health: ProbeHealth::Ok,
                last_ok: None,
                consecutive_failures: 0,
                trouble_since: None,
                touched: at,
                history: VecDeque::new(),
            });
        let previous = entry.record(result, mark.clone());
        if previous == Some(mark.health) {
            return Vec::new();
        }
        entry.health_changed(mark, cert_error).into_iter().collect()
    }

    /// A new target takes the place of the least recently probed one when the table is full.
    fn make_room_for_target(&mut self, target: &str) {
        if self.targets.contains_key(target) || self.targets.len() < MAX_TARGETS {
            return;
        }
        let oldest = self
            .targets
            .iter()
            .min_by_key(|(_, t)| t.touched)
            .map(|(n, _)| n.clone());
        if let Some(oldest) = oldest {
            self.targets.remove(&oldest);
        }
    }

    /// Probe results for the server (by name, or by address) within `[from, to]`, oldest first.
    pub fn probes_for(
        &self,
        name: Option<&str>,
        address: IpAddr,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<&ProbeMark> {
        // Each history is in time order: walk it from the newest end and stop before `from`.
        let mut marks: Vec<&ProbeMark> = self
            .targets
            .values()
            .flat_map(|t| {
                t.history
                    .iter()
                    .rev()
                    .skip_while(move |m| m.at > to)
                    .take_while(move |m| m.at >= from)
            })
            .filter(|m| {
                name.is_some_and(|n| n.eq_ignore_ascii_case(&m.host))
                    || m.addresses.contains(&address)
            })
            .collect();
        marks.sort_by_key(|m| m.at);
        marks
    }

    /// Whether `host` is one of the probe targets' hosts.
    pub fn is_probe_host(&self, host: &str) -> bool {
        self.targets
            .values()
            .any(|t| t.last.host.eq_ignore_ascii_case(host))
    }

    /// Records a client's DNS lookup.
    pub fn dns(&mut self, lookup: &DnsLookup) -> DnsMark {
        let mark = DnsMark {
            client: lookup.client.ip(),
            name: lookup.name.to_ascii_lowercase(),
            start: lookup.start,
            latency: lookup.latency,
            rcode: lookup.rcode,
            timed_out: lookup.timed_out,
            retries: lookup.retries,
            answers: lookup.answers.iter().copied().take(MAX_ANSWERS).collect(),
        };
        if self.dns.len() >= MAX_DNS {
            self.dns.pop_front();
        }
        self.dns.push_back(mark.clone());
        mark
    }

    /// The client's lookups of `name` (or answering with `address`) that started in
    /// `[from, to]`, oldest first.
    pub fn lookups_for(
        &self,
        client: IpAddr,
        name: Option<&str>,
        address: IpAddr,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<&DnsMark> {
        // Newest last; lookups are recorded within seconds of their start, so the scan stops
        // a little before `from` instead of walking the whole list.
        let stop = from.minus(Duration::from_secs(60));
        let mut found: Vec<&DnsMark> = self
            .dns
            .iter()
            .rev()
            .take_while(|d| d.start >= stop)
            .filter(|d| d.client == client && d.start >= from && d.start <= to)
            .filter(|d| {
                name.is_some_and(|n| n.eq_ignore_ascii_case(&d.name))
                    || d.answers.contains(&address)
            })
            .collect();
        found.reverse();
        found
    }

    /// WAN state for `status`: every WAN interface with what is known of it.
    pub fn wan_interfaces(&self) -> Vec<super::status::WanInterface> {
        self.interfaces
            .iter()
            .filter(|(name, _)| self.is_wan(name))
            .map(|(name, i)| super::status::WanInterface {
                name: name.clone(),
                up: i.up.unwrap_or(false),
                addresses: i.addresses.clone(),
                default_route: i.default_route,
                since: i.since,
            })
            .collect()
    }

    /// `up`, `down` (some WAN interface is down) or `unknown` (no WAN link state heard yet).
    pub fn wan_state(&self) -> &'static str {
        let states: Vec<Option<bool>> = self
            .interfaces
            .iter()
            .filter(|(name, _)| self.is_wan(name))
            .map(|(_, i)| i.up)
            .collect();
        if states.contains(&Some(false)) {
            "down"
        } else if states.contains(&Some(true)) {
            "up"
        } else {
            "unknown"
        }
    }

    /// When the WAN last changed (link, address or route).
    pub fn last_change(&self) -> Option<Timestamp> {
        self.last_change
    }

    /// Sizes of every list, for the boundedness tests.
    #[cfg(test)]
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("interfaces", self.interfaces.len()),
            ("outages", self.outages.len()),
            ("nat_changes", self.nat_changes.len()),
            ("gateways", self.gateways.len()),
            (
                "gateway_samples",
                self.gateways
                    .values()
                    .map(|g| g.samples.len())
                    .max()
                    .unwrap_or(0),
            ),
            ("targets", self.targets.len()),
            (
                "probe_history",
                self.targets
                    .values()
                    .map(|t| t.history.len())
                    .max()
                    .unwrap_or(0),
            ),
            ("dns", self.dns.len()),
        ]
    }
}

/// `HH:MM:SS` in UTC (the engine knows no time zone).
pub fn hms(t: Timestamp) -> String {
    t.utc_hms()
}
