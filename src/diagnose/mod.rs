//! The engine: observations in, events out. No I/O and no clock: time comes with each
//! observation, so the same engine runs live and in `replay`, deterministically.
//!
//! # Pieces
//!
//! - [`world`] remembers the world around the sessions (WAN link, address and default-route
//!   changes, gateway readings, probe results, the clients' DNS lookups, the firewall's idle
//!   timeout) and says when something deserves an event.
//! - [`rules`] holds one function per verdict and [`rules::judge`], the one place that applies
//!   their precedence.
//! - [`describe`] builds events and their plain sentences; [`advice`] holds the provider table;
//!   [`clients`] keeps the LAN clients and tells `explain`'s story.
//!
//! # Verdicts
//!
//! Every `SessionEnded` is judged; a `SessionUpdate` only when the session is visibly failing
//! ([`rules::Failure::visible_stall`]) and the rules reach a verdict other than `ok`/`unknown`.
//! A session is never reported twice with the same verdict: when a later snapshot (another
//! failure verdict) or its end changes an early verdict, another event revises it (the session
//! is counted once).
//!
//! [`rules::Failure::of`] reads the failure signs off the record; [`rules::judge`] applies the
//! rules in precedence order (the first that finds something wins) and falls back to `ok` or
//! `unknown`. docs/verdicts.md is the reference: when a session is judged, what a failure is,
//! each rule in precedence order with its thresholds, what happens when none applies, and what
//! each rule rests on.
//!
//! # Standalone events
//!
//! `wan-down`/`wan-up` (with the outage length) on WAN link transitions; `wan-address-changed`
//! when a WAN address is replaced ("changed from A to B", one event), when a removed address is
//! not replaced within 10 s ([`world::ADDRESS_GRACE`]), or when a default route is removed
//! or re-added (the first addresses and route heard of are learning, not changes; an address
//! added beside the others, such as an IPv6 temporary address, breaks no mapping; nothing is
//! reported while the link is down). Every removal is still a NAT-breaking change for the
//! verdicts; `gateway-loss` at ≥10 % loss and `gateway-recovered` at ≤2 %; `probe-failed`,
//! `probe-slow` (a phase above `slow_server`, DNS above `slow_dns`), `probe-cert-invalid` (the
//! probe got through but the certificate did not validate) and `probe-recovered` on
//! transitions of a target's health; `dns-failure`/`dns-slow` for a client's lookup of a mail
//! host (a known provider host, a probe target's host, a name seen on a session, or a name
//! with a label such as `imap`, `pop`, `pop3`, `smtp` or `mail`), at most one per client and
//! name per 10 s (A and AAAA come in pairs). The WAN is the configured interfaces, or, when none
//! are configured, those that have carried a default route.
//!
//! # Times and bounds
//!
//! Sentences use `HH:MM:SS` in UTC (the engine has no time zone); `explain` says so in its
//! first sentence. A session reported early is told as still open ("had been waiting for an
//! answer since …"); when it ends with the same verdict no event is sent but its sentence in
//! the client's story is restated ("… and gave up at 14:03:33"). `status` reports the WAN
//! `down` when any WAN interface is down, `up` when all known ones are up, `unknown` before
//! any link state was heard. Every list is capped by count and by age (see the `MAX_*`
//! constants in [`world`], [`clients`] and here), so a daemon running for months stays the
//! same size.

mod advice;
mod clients;
mod describe;
mod dns_repeats;
pub mod event;
mod replies;
mod rules;
pub(crate) mod status;
mod world;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::observe::observation::{Observation, ObservationKind};
use event::{Event, EventKind, Verdict};
use rules::{Case, Failure};
use status::{ClientSummary, Counters, EngineStatus, GatewayStatus, ProbeStatus, WanStatus};
use world::{hms, Notice, World};

use crate::observe::record::SessionRecord;
use crate::time::Timestamp;

/// Sessions remembered as already judged (early verdicts awaiting their end).
pub const MAX_JUDGED: usize = 8192;
/// Refused-login-shaped sessions remembered for the repetition rule.
pub const MAX_SHAPES: usize = 1024;
/// Server ports seen answering a connection (address, port, when), for telling a port a
/// firewall drops from a host that is down.
pub const MAX_ANSWERED_PORTS: usize = 256;
/// Server names seen on sessions, remembered to recognise the clients' mail lookups.
pub const MAX_SESSION_NAMES: usize = 256;
/// Recent DNS events remembered for de-duplication, and for how long.
pub const MAX_DNS_RECENT: usize = 256;
pub const DNS_REPEAT: Duration = Duration::from_secs(10);
/// Labels that mark a name as a mail host (`imap.example.org`, `broken.mail.example`).
const MAIL_LABELS: &[&str] = &[
    "imap",
    "imaps",
    "imap-mail",
    "pop",
    "pop3",
    "pop3s",
    "pop-mail",
    "smtp",
    "smtps",
    "smtp-mail",
    "mail",
    "submission",
];

/// The `[diagnosis]` thresholds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagnosisConfig {
    /// How far around a session's failure to look for WAN, DNS and probe evidence.
    pub window: Duration,
    pub slow_dns: Duration,
    pub slow_server: Duration,
}

/// How long a refused-login shape waits for its repeat: a user told "incorrect password"
/// retries within minutes, often after more than the evidence window (the matrix's "again after
/// a minute" lands exactly on a 60 s window's edge).
pub const LOGIN_RETRY_WINDOW: Duration = Duration::from_secs(300);

impl DiagnosisConfig {
    /// The span within which a second session of the refused-login shape confirms the first.
    pub fn repeat_window(&self) -> Duration {
        self.window.max(LOGIN_RETRY_WINDOW)
    }
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

/// A session verdict about to be told: what, which earlier verdict of the same session it
/// replaces, and the time the client's story gives it.
struct Told {
    verdict: Verdict,
    replaces: Option<Verdict>,
    at: Timestamp,
}

/// A verdict already given for a session still open.
/// What the rules made of one session, and the refused-login features behind it.
struct Judgement {
    finding: rules::Finding,
    failure: Failure,
    shape: Option<String>,
    baseline: replies::Baseline,
    /// `auth-rejected` because earlier lone shapes repeated: those are revised too.
    confirms_shapes: bool,
}

#[derive(Clone, Copy, Debug)]
struct Judged {
    verdict: Verdict,
    at: Timestamp,
    /// The event that reported it (its story is restated when the session ends).
    event_id: u64,
}

/// A session of the encrypted refused-login shape.
#[derive(Clone, Debug)]
struct Shape {
    record: SessionRecord,
    /// What the server's sessions that went on said about it when it was judged.
    baseline: replies::Baseline,
    /// A weak shape: it counts towards a repeat only with a session answered alike that
    /// has a sign of its own.
    weak: bool,
    /// What was reported for it, and when: a lone shape is `unknown` until a repeat
    /// confirms it, and is then revised.
    verdict: Verdict,
    reported_at: Timestamp,
}

impl Shape {
    fn end(&self) -> Timestamp {
        self.record.end
    }

    /// Another session of this client to the same server (by address or name) that ended
    /// in the `window` before `rec` did.
    fn precedes(&self, rec: &SessionRecord, window: Duration) -> bool {
        let earlier = &self.record;
        earlier.id != rec.id
            && earlier.client.ip() == rec.client.ip()
            && (earlier.server.ip() == rec.server.ip()
                || (earlier.server_name.is_some() && earlier.server_name == rec.server_name))
            && earlier.end >= rec.end.minus(window)
            && earlier.end <= rec.end
    }

    /// Whether this earlier shape and `rec` (weak or not) make a repeat: two shapes with signs
    /// of their own do; a weak one only with a session the server answered alike, one of the
    /// two having a sign (two weak shapes alike are as likely two short accepted logins).
    fn repeats_with(&self, rec: &SessionRecord, rec_weak: bool, window: Duration) -> bool {
        self.precedes(rec, window)
            && match (self.weak, rec_weak) {
                (false, false) => true,
                (true, true) => false,
                _ => replies::answered_alike(&self.record, rec),
            }
    }
}

/// The diagnosis engine.
pub struct Engine {
    config: DiagnosisConfig,
    ids: describe::Ids,
    world: World,
    clients: clients::Clients,
    counters: Counters,
    judged: HashMap<u64, Judged>,
    judged_order: VecDeque<u64>,
    shapes: VecDeque<Shape>,
    replies: replies::ServerReplies,
    answered_ports: VecDeque<(IpAddr, u16, Timestamp)>,
    session_names: VecDeque<String>,
    session_name_set: HashSet<String>,
    dns_recent: dns_repeats::DnsRepeats,
}

impl Engine {
    /// A new engine whose first event gets `first_id`.
    pub fn new(config: DiagnosisConfig, first_id: u64) -> Self {
        Self {
            config,
            ids: describe::Ids::new(first_id),
            world: World::default(),
            clients: clients::Clients::default(),
            counters: Counters::default(),
            judged: HashMap::new(),
            judged_order: VecDeque::new(),
            shapes: VecDeque::new(),
            replies: replies::ServerReplies::default(),
            answered_ports: VecDeque::new(),
            session_names: VecDeque::new(),
            session_name_set: HashSet::new(),
            dns_recent: dns_repeats::DnsRepeats::default(),
        }
    }

    /// Replaces the thresholds (config reload); what the engine knows of the world is kept.
    pub fn set_config(&mut self, config: DiagnosisConfig) {
        self.config = config;
    }

    /// Feeds one observation; returns the events it caused, oldest first.
    pub fn observe(&mut self, observation: Observation) -> Vec<Event> {
        let time = observation.time;
        self.world.advance(time, self.config.window);
        // Room for the usual one event: a default first growth (four events, 1.5 KB) is a
        // large allocation that makes the allocator consolidate on every judged session.
        let mut out = Vec::with_capacity(1);
        match observation.kind {
            ObservationKind::SessionEnded(rec) => self.session(rec, time, true, &mut out),
            ObservationKind::SessionUpdate(rec) => self.session(rec, time, false, &mut out),
            ObservationKind::DnsLookup(lookup) => {
                self.counters.dns_lookups = self.counters.dns_lookups.saturating_add(1);
                let mark = self.world.dns(&lookup);
                self.dns_event(&mark, time, &mut out);
            }
            ObservationKind::Link(change) => {
                let notices = self.world.link(change, time);
                self.notices(notices, time, &mut out);
            }
            ObservationKind::WanInterfaces(names) => self.world.set_wan_interfaces(names),
            ObservationKind::Gateway(sample) => {
                let notices = self.world.gateway(sample, time);
                self.notices(notices, time, &mut out);
            }
            ObservationKind::Probe(result) => {
                let (slow_server, slow_dns) = (self.config.slow_server, self.config.slow_dns);
                let notices = self.world.probe(result, time, slow_server, slow_dns);
                self.notices(notices, time, &mut out);
            }
            ObservationKind::FirewallTimeouts(timeouts) => self.world.firewall = Some(timeouts),
            ObservationKind::Tick => {}
        }
        let overdue = self.world.overdue_removals();
        self.notices(overdue, time, &mut out);
        self.forget_old();
        self.counters.events = self.counters.events.saturating_add(out.len() as u64);
        out
    }

    /// The WAN, gateways, probes and counters as of the last observation.
    pub fn status(&self) -> EngineStatus {
        let world = &self.world;
        let mut counters = self.counters.clone();
        counters.wan_transitions = world.wan_transitions;
        EngineStatus {
            wan: WanStatus {
                state: world.wan_state().to_string(),
                interfaces: world.wan_interfaces(),
                last_change: world.last_change(),
            },
            gateways: world
                .gateways
                .iter()
                .map(|(name, g)| GatewayStatus {
                    name: name.clone(),
                    latency_ms: g.last.latency.map(|l| l.as_secs_f64() * 1000.0),
                    loss_percent: g.last.loss_percent,
                    at: g.at,
                })
                .collect(),
            probes: world
                .targets
                .iter()
                .map(|(name, t)| ProbeStatus {
                    target: name.clone(),
                    state: t.health.as_str().to_string(),
                    last: Some(t.last.clone()),
                    last_ok: t.last_ok,
                    consecutive_failures: t.consecutive_failures,
                })
                .collect(),
            counters,
            firewall: world.firewall.clone(),
        }
    }

    /// The LAN clients seen, most recent first.
    pub fn clients(&self) -> Vec<ClientSummary> {
        self.clients.summaries()
    }

    /// One client's recent story in plain words (`mailpulse explain IP`); times are UTC.
    pub fn explain(&self, client: IpAddr) -> Explanation {
        let (story, events) = self
            .clients
            .explain(client, &self.world, self.config.window);
        Explanation {
            client,
            story,
            events,
        }
    }

    fn session(&mut self, rec: SessionRecord, now: Timestamp, ended: bool, out: &mut Vec<Event>) {
        self.remember_name(rec.server_name.as_deref());
        self.remember_answered_port(&rec);
        let failure = Failure::of(&rec, now, self.config.slow_server);
        let prior = self.judged.get(&rec.id).copied();
        if !ended && !failure.visible_stall() {
            return;
        }
        let judgement = self.judge_session(&rec, failure);
        let verdict = judgement.finding.verdict;
        // A session still open is told only when it fails, and again only when a later look
        // (the wait grew, the WAN went down meanwhile) reaches another failure verdict.
        let news = !matches!(verdict, Verdict::Ok | Verdict::Unknown)
            && prior.is_none_or(|p| p.verdict != verdict);
        if !ended && !news {
            return;
        }
        if ended {
            self.forget_judged(rec.id);
            self.learn_from_ended(&rec, &judgement, now);
        }
        let (confirms_shapes, baseline) = (judgement.confirms_shapes, judgement.baseline);
        self.report_session(&rec, judgement, prior, now, ended, out);
        if confirms_shapes && ended {
            self.revise_confirmed_shapes(&rec, baseline, now, out);
        }
    }

    /// The rules' finding for a session, with the refused-login features they used.
    fn judge_session(&self, rec: &SessionRecord, failure: Failure) -> Judgement {
        let baseline = self.replies.baseline(rec);
        let (earlier_shapes, alike) = self.earlier_shapes(rec, baseline);
        let other_port = self.other_port_answered(rec, &failure);
        let mut case = Case::new(
            rec,
            &self.world,
            &self.config,
            failure,
            earlier_shapes,
            baseline.differs,
        );
        case.refusal_delay = baseline.delay;
        case.other_port_answered = other_port;
        case.answered_as_usual = self.replies.answered_as_usual(rec);
        case.repeat_answered_alike = alike;
        let shape = case.shape();
        let finding = rules::judge(&case);
        let confirms_shapes =
            finding.verdict == Verdict::AuthRejected && !case.earlier_shapes.is_empty();
        Judgement {
            finding,
            failure: case.failure,
            shape,
            baseline,
            confirms_shapes,
        }
    }

    /// What an ended session teaches: a refused-login shape to confirm by a repeat, or the
    /// replies of a session that went on past the login.
    fn learn_from_ended(&mut self, rec: &SessionRecord, j: &Judgement, now: Timestamp) {
        let verdict = j.finding.verdict;
        // Only sessions the shape could explain count towards a repeat (not one the client
        // gave up on, say); a weak one only with a session answered alike (Shape::repeats_with).
        let shape_verdict = matches!(verdict, Verdict::Unknown | Verdict::AuthRejected);
        if shape_verdict && j.shape.is_some() {
            self.remember_shape(rec, j.baseline, verdict, now);
        }
        if verdict == Verdict::Ok && rules::went_past_login(rec) {
            self.replies.learn(rec);
        }
    }

    /// Tells the session's verdict, or restates an earlier one with how the session ended.
    fn report_session(
        &mut self,
        rec: &SessionRecord,
        j: Judgement,
        prior: Option<Judged>,
        now: Timestamp,
        ended: bool,
        out: &mut Vec<Event>,
    ) {
        let Judgement {
            mut finding,
            failure,
            shape,
            ..
        } = j;
        let subject = describe::session_subject(rec);
        let outcome = describe::session_outcome(rec, &failure, finding.verdict);
        let at = if finding.verdict == Verdict::Ok {
            rec.end
        } else {
            failure.to
        };
        if let Some(prior) = prior {
            if prior.verdict == finding.verdict {
                // Already reported: only the story learns how the session ended.
                self.clients
                    .restate(rec.client.ip(), prior.event_id, at, &subject, &outcome);
                return;
            }
            finding.evidence.push(format!(
                "revises the verdict {} given at {}",
                prior.verdict,
                hms(prior.at)
            ));
        }
        // Provider password advice fits an `unknown` only when the session looked like a
        // refused login; for an unexplained stall it would mislead.
        let advice_verdict = match finding.verdict {
            Verdict::Unknown if shape.is_none() => Verdict::Ok,
            v => v,
        };
        let advice = advice::advice(
            rec.server_name.as_deref(),
            advice_verdict,
            rec.tls_client_max,
        );
        let event = describe::session_event(&mut self.ids, now, rec, &finding, advice);
        if !ended {
            let judged = Judged {
                verdict: finding.verdict,
                at: now,
                event_id: event.id,
            };
            self.remember_judged(rec.id, judged);
        }
        let told = Told {
            verdict: finding.verdict,
            replaces: prior.map(|p| p.verdict),
            at,
        };
        self.tell(told, event, &subject, &outcome, out);
    }

    /// The repeat in `rec` confirms earlier lone shapes of this client and server that were
    /// left `unknown`: each is revised to `auth-rejected`, once.
    fn revise_confirmed_shapes(
        &mut self,
        rec: &SessionRecord,
        baseline: replies::Baseline,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) {
        let window = self.config.repeat_window();
        let rec_weak = is_weak(rec, baseline);
        let confirmed: Vec<usize> = self
            .shapes
            .iter()
            .enumerate()
            .filter(|(_, s)| s.verdict == Verdict::Unknown && s.repeats_with(rec, rec_weak, window))
            .map(|(i, _)| i)
            .collect();
        for i in confirmed {
            let Some(shape) = self.shapes.get_mut(i) else {
                continue;
            };
            shape.verdict = Verdict::AuthRejected;
            let (earlier, given_at) = (shape.record.clone(), shape.reported_at);
            let mut evidence = vec!["inferred from the session's shape, not seen".to_string()];
            evidence.extend(rules::refused_login_shape(
                &earlier,
                shape.baseline.differs,
                shape.baseline.delay,
            ));
            evidence.push(format!(
                "confirmed by the same shape again at {}",
                hms(rec.end)
            ));
            evidence.push(format!(
                "revises the verdict {} given at {}",
                Verdict::Unknown,
                hms(given_at)
            ));
            let finding = rules::Finding {
                verdict: Verdict::AuthRejected,
                evidence,
            };
            let advice = advice::advice(
                earlier.server_name.as_deref(),
                Verdict::AuthRejected,
                earlier.tls_client_max,
            );
            let event = describe::session_event(&mut self.ids, now, &earlier, &finding, advice);
            let failure = Failure::of(&earlier, earlier.end, self.config.slow_server);
            let subject = describe::session_subject(&earlier);
            let outcome = describe::session_outcome(&earlier, &failure, Verdict::AuthRejected);
            let told = Told {
                verdict: Verdict::AuthRejected,
                replaces: Some(Verdict::Unknown),
                at: earlier.end,
            };
            self.tell(told, event, &subject, &outcome, out);
        }
    }

    /// Counts a session verdict (moving the count from the one it replaces), remembers it was
    /// adds it to the client's story, and hands the event out.
    fn tell(
        &mut self,
        told: Told,
        event: Event,
        subject: &str,
        outcome: &str,
        out: &mut Vec<Event>,
    ) {
        let by_verdict = &mut self.counters.sessions_by_verdict;
        match told.replaces {
            Some(replaced) => {
                if let Some(n) = by_verdict.get_mut(replaced.as_str()) {
                    *n = n.saturating_sub(1);
                }
            }
            None => self.counters.sessions = self.counters.sessions.saturating_add(1),
        }
        let n = by_verdict
            .entry(told.verdict.as_str().to_string())
            .or_insert(0);
        *n = n.saturating_add(1);
        let story = clients::session_story(subject, outcome, &event);
        self.clients.session(&event, told.at, story, told.replaces);
        out.push(event);
    }

    fn dns_event(&mut self, mark: &world::DnsMark, time: Timestamp, out: &mut Vec<Event>) {
        let failed = mark.failure().is_some();
        if failed {
            self.counters.dns_failures = self.counters.dns_failures.saturating_add(1);
        }
        if !self.is_mail_name(&mark.name) {
            return;
        }
        let kind = if failed {
            EventKind::DnsFailure
        } else if mark.latency.is_some_and(|l| l > self.config.slow_dns) {
            EventKind::DnsSlow
        } else {
            return;
        };
        let key = (mark.client, mark.name.clone(), kind);
        if let Some(told) = self.dns_recent.told_within(&key, time, DNS_REPEAT) {
            // One event per client and name stands for the repeats, with their count.
            self.clients.dns_repeated(mark.client, told);
            return;
        }
        let clients::DnsAdmission::Tell { held } = self.clients.dns_admit(mark.client, time) else {
            return;
        };
        let Some(mut event) = describe::dns_event(&mut self.ids, time, mark, self.config.slow_dns)
        else {
            return;
        };
        if held > 0 {
            event.evidence.push(format!(
                "{held} more failed or slow lookups of this client before this one were not reported one by one"
            ));
        }
        self.dns_recent
            .remember(key, time, event.id, MAX_DNS_RECENT);
        self.clients
            .client_event(&event, clients::dns_story(&event));
        out.push(event);
    }

    fn notices(&mut self, notices: Vec<Notice>, time: Timestamp, out: &mut Vec<Event>) {
        for notice in notices {
            let event = describe::notice_event(&mut self.ids, time, &notice);
            self.clients.network_event(&event, notice);
            out.push(event);
        }
    }

    fn is_mail_name(&self, name: &str) -> bool {
        let has_mail_label =
            name.contains('.') && name.split('.').any(|l| MAIL_LABELS.contains(&l));
        advice::is_known_mail_host(name)
            || self.world.is_probe_host(name)
            || self.session_name_set.contains(&name.to_ascii_lowercase())
            || has_mail_label
    }

    fn remember_name(&mut self, name: Option<&str>) {
        // Longer than a DNS name can be: not a host name worth remembering.
        let Some(name) = name.filter(|n| n.len() <= 253).map(str::to_ascii_lowercase) else {
            return;
        };
        if self.session_name_set.contains(&name) {
            return;
        }
        if self.session_names.len() >= MAX_SESSION_NAMES {
            if let Some(oldest) = self.session_names.pop_front() {
                self.session_name_set.remove(&oldest);
            }
        }
        self.session_name_set.insert(name.clone());
        self.session_names.push_back(name);
    }

    /// Remembers that this session's server port answered a connection.
    fn remember_answered_port(&mut self, rec: &SessionRecord) {
        let Some(connect) = rec.tcp_connect else {
            return;
        };
        let (ip, port, at) = (rec.server.ip(), rec.server.port(), rec.start.plus(connect));
        if let Some(i) = self
            .answered_ports
            .iter()
            .position(|(a, p, _)| *a == ip && *p == port)
        {
            self.answered_ports.remove(i);
        } else if self.answered_ports.len() >= MAX_ANSWERED_PORTS {
            self.answered_ports.pop_front();
        }
        self.answered_ports.push_back((ip, port, at));
    }

    /// Another port of this session's server that answered a connection within the window
    /// around the failure.
    fn other_port_answered(
        &self,
        rec: &SessionRecord,
        failure: &Failure,
    ) -> Option<(u16, Timestamp)> {
        let w = self.config.window;
        let (from, to) = (failure.from.minus(w), failure.to.plus(w));
        self.answered_ports
            .iter()
            .rev()
            .find(|(ip, port, at)| {
                *ip == rec.server.ip() && *port != rec.server.port() && *at >= from && *at <= to
            })
            .map(|(_, port, at)| (*port, *at))
    }

    /// The ends of the earlier shapes this session repeats, and whether the repeat rests on
    /// sessions answered alike (this one or one of them a weak shape).
    fn earlier_shapes(
        &self,
        rec: &SessionRecord,
        baseline: replies::Baseline,
    ) -> (Vec<Timestamp>, bool) {
        if rules::refused_login_shape(rec, baseline.differs, baseline.delay).is_none() {
            return (Vec::new(), false);
        }
        let window = self.config.repeat_window();
        let rec_weak = is_weak(rec, baseline);
        let repeated: Vec<&Shape> = self
            .shapes
            .iter()
            .filter(|s| s.repeats_with(rec, rec_weak, window))
            .collect();
        let alike = !repeated.is_empty() && (rec_weak || repeated.iter().any(|s| s.weak));
        (repeated.into_iter().map(Shape::end).collect(), alike)
    }

    fn remember_shape(
        &mut self,
        rec: &SessionRecord,
        baseline: replies::Baseline,
        verdict: Verdict,
        reported_at: Timestamp,
    ) {
        if self.shapes.len() >= MAX_SHAPES {
            self.shapes.pop_front();
        }
        self.shapes.push_back(Shape {
            record: rec.clone(),
            baseline,
            weak: is_weak(rec, baseline),
            verdict,
            reported_at,
        });
    }

    /// Remembers a session's early verdict; a revision replaces the one it revises.
    fn remember_judged(&mut self, id: u64, judged: Judged) {
        if let Some(known) = self.judged.get_mut(&id) {
            *known = judged;
            return;
        }
        if self.judged_order.len() >= MAX_JUDGED {
            if let Some(oldest) = self.judged_order.pop_front() {
                self.judged.remove(&oldest);
            }
        }
        self.judged.insert(id, judged);
        self.judged_order.push_back(id);
    }

    fn forget_judged(&mut self, id: u64) {
        if self.judged.remove(&id).is_some() {
            self.judged_order.retain(|i| *i != id);
        }
    }

    /// Drops what is too old to matter.
    fn forget_old(&mut self) {
        let now = self.world.now();
        let shape_cut = now.minus(self.config.repeat_window().saturating_mul(2));
        while self.shapes.front().is_some_and(|s| s.end() < shape_cut) {
            self.shapes.pop_front();
        }
        self.dns_recent.forget_older_than(now, DNS_REPEAT);
    }

    /// Sizes of every list, for the boundedness tests.
    #[cfg(test)]
    fn sizes(&self) -> Vec<(&'static str, usize)> {
        let mut sizes = self.world.sizes();
        sizes.extend(self.clients.sizes());
        sizes.push(("judged", self.judged.len()));
        sizes.push(("judged_order", self.judged_order.len()));
        sizes.push(("shapes", self.shapes.len()));
        sizes.extend(self.replies.sizes());
        sizes.push(("answered_ports", self.answered_ports.len()));
        sizes.push(("session_names", self.session_names.len()));
        sizes.push(("session_name_set", self.session_name_set.len()));
        sizes.push(("dns_recent", self.dns_recent.len()));
        sizes.push(("verdict_counters", self.counters.sessions_by_verdict.len()));
        sizes
    }
}

/// A weak shape with no reply-size sign to lift it.
fn is_weak(rec: &SessionRecord, baseline: replies::Baseline) -> bool {
    rules::weak_shape(rec, baseline.delay) && baseline.differs.is_none()
}

/// One client's story told in plain sentences, with the events it rests on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub client: IpAddr,
    /// Sentences, oldest first ("At 14:03:12 the WAN link went down for 29 s. …"); times are
    /// `HH:MM:SS` UTC and the first sentence says so.
    pub story: Vec<String>,
    pub events: Vec<Event>,
}
