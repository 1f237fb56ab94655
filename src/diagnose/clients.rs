//! The LAN clients seen, each with a short history, and the story `explain` tells from it joined
//! with the WAN, probe and gateway events of the same moments.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use super::event::{Event, EventKind, Verdict};
use super::status::ClientSummary;
use super::world::{hms, Notice, World};
use super::DNS_REPEAT;
use crate::time::words::secs;
use crate::time::Timestamp;
use crate::track::KeyedBuildHasher;

/// LAN clients remembered (the least recently seen makes way; clients known only from DNS
/// lookups before those with session verdicts).
pub const MAX_CLIENTS: usize = 256;
/// Session verdicts remembered per client for `explain`.
pub const MAX_CLIENT_HISTORY: usize = 16;
/// DNS events remembered per client, apart from its sessions so they cannot push a verdict out.
pub const MAX_CLIENT_DNS_HISTORY: usize = 4;
/// DNS events one client may cause at once, and how often it earns another.
pub const DNS_EVENT_BURST: u32 = 8;
pub const DNS_EVENT_EVERY: Duration = Duration::from_secs(6);
/// The same for all clients together (a host can send from many addresses).
pub const DNS_EVENT_BURST_ALL: u32 = 64;
pub const DNS_EVENT_EVERY_ALL: Duration = Duration::from_millis(500);
/// A client with session verdicts makes way for a client seen only in DNS lookups only when
/// it was last seen this long before (time enough for its user to ask `explain`).
const SESSION_CLIENT_KEPT: Duration = Duration::from_secs(600);
/// WAN, probe and gateway events remembered for `explain`.
pub const MAX_NETWORK_HISTORY: usize = 128;

/// One remembered event and the sentences that tell it.
#[derive(Clone, Debug)]
struct Entry {
    /// When it happened, for ordering the story (a session's is the end of its failure).
    at: Timestamp,
    event: Event,
    story: Vec<String>,
    /// Times the same DNS failure was seen while this event stood for it (1 for sessions).
    seen: u32,
}

#[derive(Clone, Debug)]
struct Client {
    summary: ClientSummary,
    /// Session verdicts. Boxed entries: an `Event` (with its session view) is large, and the
    /// bounded history shifts its entries as it rotates.
    history: VecDeque<Box<Entry>>,
    /// DNS events, kept apart so a flood of them cannot rotate the verdicts out.
    dns: VecDeque<Box<Entry>>,
    dns_tokens: TokenBucket,
    /// DNS events this client was not given since its last one was told.
    dns_held: u32,
}

impl Client {
    /// Session verdicts, then DNS events.
    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.history.iter().chain(self.dns.iter()).map(|e| &**e)
    }

    /// The earliest and the latest moment the client's events speak of.
    fn span(&self) -> (Timestamp, Timestamp) {
        let first = self
            .entries()
            .map(|e| e.at.min(e.event.time))
            .min()
            .unwrap_or_default();
        let last = self
            .entries()
            .map(|e| e.at.max(e.event.time))
            .max()
            .unwrap_or_default();
        (first, last)
    }

    /// The client's own events, told; a DNS failure seen again says how often.
    fn story(&self) -> impl Iterator<Item = StoryItem> + '_ {
        self.entries().map(|entry| {
            let mut sentences = entry.story.clone();
            let mut event = entry.event.clone();
            if entry.seen > 1 {
                let repeats = format!("seen {} times within {}", entry.seen, secs(DNS_REPEAT));
                sentences.push(format!("The same lookup failed again: {repeats}."));
                event.evidence.push(repeats);
            }
            StoryItem {
                at: entry.at,
                sentences,
                event,
            }
        })
    }
}

/// Sentences of `explain`'s story and the event they tell, placed in time at `at` (ties go to
/// the lower event id).
struct StoryItem {
    at: Timestamp,
    sentences: Vec<String>,
    event: Event,
}

/// "At 14:03:12 the WAN link wan0 went down for 29 s.", when the outage is remembered.
fn wan_down_sentence(world: &World, interface: &str, time: Timestamp) -> String {
    match world.outage_started(interface, time) {
        Some(o) => match o.end {
            Some(end) => format!(
                "At {} the WAN link {interface} went down for {}.",
                hms(time),
                secs(end.saturating_since(time))
            ),
            None => format!(
                "At {} the WAN link {interface} went down, and it is still down.",
                hms(time)
            ),
        },
        None => format!("At {} the WAN link {interface} went down.", hms(time)),
    }
}

/// "At 14:03:41 the WAN link wan0 came back up after 29 s."
fn wan_up_sentence(interface: &str, down_for: Option<Duration>, time: Timestamp) -> String {
    match down_for {
        Some(d) => format!(
            "At {} the WAN link {interface} came back up after {}.",
            hms(time),
            secs(d)
        ),
        None => format!("At {} the WAN link {interface} came back up.", hms(time)),
    }
}

/// A token bucket: `burst` at once, one more every `every`.
#[derive(Clone, Copy, Debug)]
struct TokenBucket {
    tokens: u32,
    refilled: Timestamp,
}

impl TokenBucket {
    fn full(burst: u32, at: Timestamp) -> Self {
        Self {
            tokens: burst,
            refilled: at,
        }
    }

    fn refill(&mut self, now: Timestamp, burst: u32, every: Duration) {
        let every_ns = every.as_nanos().max(1);
        let earned = now.saturating_since(self.refilled).as_nanos() / every_ns;
        if earned == 0 {
            return;
        }
        let earned = u32::try_from(earned).unwrap_or(u32::MAX);
        self.tokens = self.tokens.saturating_add(earned).min(burst);
        self.refilled = if self.tokens == burst {
            now
        } else {
            self.refilled.plus(every.saturating_mul(earned))
        };
    }
}

/// What the client table says about a DNS event about to be told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsAdmission {
    /// Tell it; `held` earlier events of the client were not told one by one.
    Tell { held: u32 },
    /// The client (or the LAN) has used its DNS events for now: counted, not told.
    Hold,
}

/// A WAN, probe or gateway event with the notice it came from.
#[derive(Clone, Debug)]
struct NetworkEntry {
    event: Event,
    notice: Notice,
}

/// The client table and the network log.
#[derive(Debug, Default)]
pub struct Clients {
    /// With the tracker's fast hasher: bounded, evicted by age, and looked up per session.
    clients: HashMap<IpAddr, Client, KeyedBuildHasher>,
    /// (last seen, client) for every client in `clients`: the least recently seen is the
    /// first, found without scanning the table (a new client arrives with most sessions on a
    /// busy LAN). Ties go to the lower address.
    by_age: BTreeSet<(Timestamp, IpAddr)>,
    /// The same for clients known only from DNS lookups: they make way first.
    dns_only_by_age: BTreeSet<(Timestamp, IpAddr)>,
    network: VecDeque<NetworkEntry>,
    /// DNS events of all clients together.
    dns_tokens: Option<TokenBucket>,
    /// DNS events not told because every client together had used theirs, or their client
    /// could not be remembered.
    pub dns_held_all: u64,
}

impl Clients {
    /// The client's entry, created when new. A full table makes way by dropping the least
    /// recently seen client known only from DNS lookups, else the least recently seen one;
    /// for a DNS event (`for_session` false) a client with session verdicts makes way only
    /// when it was last seen [`SESSION_CLIENT_KEPT`] before, else `None`.
    fn client(&mut self, ip: IpAddr, at: Timestamp, for_session: bool) -> Option<&mut Client> {
        if !self.clients.contains_key(&ip) && self.clients.len() >= MAX_CLIENTS {
            let victim = match self.dns_only_by_age.pop_first() {
                Some(entry) => Some(entry),
                None => {
                    let stale = self
                        .by_age
                        .first()
                        .is_some_and(|(seen, _)| at.saturating_since(*seen) >= SESSION_CLIENT_KEPT);
                    if for_session || stale {
                        self.by_age.pop_first()
                    } else {
                        None
                    }
                }
            };
            let (_, oldest) = victim?;
            self.clients.remove(&oldest);
        }
        let (by_age, dns_only) = (&mut self.by_age, &mut self.dns_only_by_age);
        let client = self.clients.entry(ip).or_insert_with(|| {
            dns_only.insert((at, ip));
            Client {
                summary: ClientSummary {
                    client: ip,
                    sessions: 0,
                    failures: 0,
                    first_seen: at,
                    last_seen: at,
                    last_verdict: None,
                    last_credentials: None,
                    last_server_name: None,
                },
                history: VecDeque::new(),
                dns: VecDeque::new(),
                dns_tokens: TokenBucket::full(DNS_EVENT_BURST, at),
                dns_held: 0,
            }
        });
        let had_sessions = !client.history.is_empty();
        let seen = at.max(client.summary.last_seen);
        let ages = if had_sessions { by_age } else { dns_only };
        if seen > client.summary.last_seen {
            ages.remove(&(client.summary.last_seen, ip));
            ages.insert((seen, ip));
            client.summary.last_seen = seen;
        }
        if for_session && !had_sessions {
            // About to hold a verdict: it moves to the table that makes way last.
            self.dns_only_by_age.remove(&(seen, ip));
            self.by_age.insert((seen, ip));
        }
        Some(client)
    }

    /// Records a session verdict; `revised` is the verdict it replaces, when it is a second
    /// judgement of the same session.
    pub fn session(
        &mut self,
        event: &Event,
        at: Timestamp,
        story: Vec<String>,
        revised: Option<Verdict>,
    ) {
        let Some(ip) = event.client else { return };
        let Some(client) = self.client(ip, at, true) else {
            return;
        };
        let failed = event.verdict != Some(Verdict::Ok);
        match revised {
            None => {
                client.summary.sessions = client.summary.sessions.saturating_add(1);
                if failed {
                    client.summary.failures = client.summary.failures.saturating_add(1);
                }
            }
            Some(old) => {
                let was_failed = old != Verdict::Ok;
                if failed && !was_failed {
                    client.summary.failures = client.summary.failures.saturating_add(1);
                } else if !failed && was_failed {
                    client.summary.failures = client.summary.failures.saturating_sub(1);
                }
            }
        }
        client.summary.last_verdict = event.verdict;
        client.summary.last_credentials = event.credentials;
        client.summary.last_server_name = event.server_name.clone();
        push_bounded(
            &mut client.history,
            Box::new(Entry {
                at,
                event: event.clone(),
                story,
                seen: 1,
            }),
            MAX_CLIENT_HISTORY,
        );
    }

    /// Replaces the first sentence of an already-told session (reported early, now ended).
    pub fn restate(
        &mut self,
        ip: IpAddr,
        event_id: u64,
        at: Timestamp,
        subject: &str,
        outcome: &str,
    ) {
        let Some(client) = self.clients.get_mut(&ip) else {
            return;
        };
        if let Some(entry) = client.history.iter_mut().find(|e| e.event.id == event_id) {
            entry.at = at;
            if let Some(first) = entry.story.first_mut() {
                *first = format!("{subject} {outcome}.");
            }
        }
    }

    /// Whether a DNS event of `ip` at `at` may be told: each client has a bucket of
    /// [`DNS_EVENT_BURST`] events refilled one per [`DNS_EVENT_EVERY`], and all clients together
    /// one of [`DNS_EVENT_BURST_ALL`] per [`DNS_EVENT_EVERY_ALL`]. An event held back is
    /// counted on its client, and the client's next told event says how many were.
    pub fn dns_admit(&mut self, ip: IpAddr, at: Timestamp) -> DnsAdmission {
        let all = self
            .dns_tokens
            .get_or_insert_with(|| TokenBucket::full(DNS_EVENT_BURST_ALL, at));
        all.refill(at, DNS_EVENT_BURST_ALL, DNS_EVENT_EVERY_ALL);
        if all.tokens == 0 {
            // Counted, and no client is made (or pushed out) for it.
            self.dns_held_all = self.dns_held_all.saturating_add(1);
            if let Some(client) = self.clients.get_mut(&ip) {
                client.dns_held = client.dns_held.saturating_add(1);
            }
            return DnsAdmission::Hold;
        }
        let Some(client) = self.client(ip, at, false) else {
            self.dns_held_all = self.dns_held_all.saturating_add(1);
            return DnsAdmission::Hold;
        };
        client
            .dns_tokens
            .refill(at, DNS_EVENT_BURST, DNS_EVENT_EVERY);
        if client.dns_tokens.tokens == 0 {
            client.dns_held = client.dns_held.saturating_add(1);
            return DnsAdmission::Hold;
        }
        client.dns_tokens.tokens -= 1;
        let held = std::mem::take(&mut client.dns_held);
        if let Some(all) = &mut self.dns_tokens {
            all.tokens = all.tokens.saturating_sub(1);
        }
        DnsAdmission::Tell { held }
    }

    /// Records an event about one client that is not a session (a failed DNS lookup), apart
    /// from its session verdicts.
    pub fn client_event(&mut self, event: &Event, story: String) {
        let Some(ip) = event.client else { return };
        let Some(client) = self.client(ip, event.time, false) else {
            return;
        };
        push_bounded(
            &mut client.dns,
            Box::new(Entry {
                at: event.time,
                event: event.clone(),
                story: vec![story],
                seen: 1,
            }),
            MAX_CLIENT_DNS_HISTORY,
        );
    }

    /// The DNS event `event_id` of `ip` stands for one more failure of the same lookup.
    pub fn dns_repeated(&mut self, ip: IpAddr, event_id: u64) {
        let Some(client) = self.clients.get_mut(&ip) else {
            return;
        };
        if let Some(entry) = client.dns.iter_mut().rev().find(|e| e.event.id == event_id) {
            entry.seen = entry.seen.saturating_add(1);
        }
    }

    /// Records a WAN, probe or gateway event.
    pub fn network_event(&mut self, event: &Event, notice: Notice) {
        push_bounded(
            &mut self.network,
            NetworkEntry {
                event: event.clone(),
                notice,
            },
            MAX_NETWORK_HISTORY,
        );
    }

    /// The clients, most recently seen first.
    pub fn summaries(&self) -> Vec<ClientSummary> {
        let mut out: Vec<ClientSummary> =
            self.clients.values().map(|c| c.summary.clone()).collect();
        out.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.client.cmp(&b.client)));
        out
    }

    /// One client's story, oldest first, with the events it rests on. Times are UTC.
    pub fn explain(
        &self,
        ip: IpAddr,
        world: &World,
        window: Duration,
    ) -> (Vec<String>, Vec<Event>) {
        let Some(client) = self
            .clients
            .get(&ip)
            .filter(|c| !c.history.is_empty() || !c.dns.is_empty())
        else {
            return (
                vec![format!(
                    "No mail sessions or DNS lookups from {ip} were seen recently."
                )],
                Vec::new(),
            );
        };
        let (first, last) = client.span();
        let mut items = self.network_story(world, first.minus(window), last.plus(window));
        items.extend(client.story());
        items.sort_by_key(|item| (item.at, item.event.id));
        let mut story = vec!["Times are UTC.".to_string()];
        let mut events = Vec::new();
        for item in items {
            story.extend(item.sentences);
            events.push(item.event);
        }
        (story, events)
    }

    /// The WAN, probe and gateway events within `[from, to]`, told. A link that came back up
    /// is not told again when its going down was (that sentence says for how long).
    fn network_story(&self, world: &World, from: Timestamp, to: Timestamp) -> Vec<StoryItem> {
        let mut items = Vec::new();
        let mut told_outages: Vec<(&str, Timestamp)> = Vec::new();
        for entry in self
            .network
            .iter()
            .filter(|n| n.event.time >= from && n.event.time <= to)
        {
            let time = entry.event.time;
            let sentence = match &entry.notice {
                Notice::WanDown { interface } => {
                    told_outages.push((interface, time));
                    wan_down_sentence(world, interface, time)
                }
                Notice::WanUp {
                    interface,
                    down_for,
                } => {
                    let down_at = down_for.map(|d| time.minus(d));
                    if down_at.is_some_and(|d| {
                        told_outages.iter().any(|(i, t)| i == interface && *t == d)
                    }) {
                        continue;
                    }
                    wan_up_sentence(interface, *down_for, time)
                }
                _ => format!("At {} {}", hms(time), lower_first(&entry.event.message)),
            };
            items.push(StoryItem {
                at: time,
                sentences: vec![sentence],
                event: entry.event.clone(),
            });
        }
        items
    }

    /// Sizes of every list, for the boundedness tests.
    #[cfg(test)]
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("clients", self.clients.len()),
            (
                "client_history",
                self.clients
                    .values()
                    .map(|c| c.history.len().max(c.dns.len()))
                    .max()
                    .unwrap_or(0),
            ),
            ("network", self.network.len()),
        ]
    }
}

/// The story sentences for a judged session.
pub fn session_story(subject: &str, outcome: &str, event: &Event) -> Vec<String> {
    let mut story = vec![format!("{subject} {outcome}.")];
    let Some(verdict) = event.verdict else {
        return story;
    };
    if super::describe::is_lone_shape(verdict, &event.evidence) {
        story.push(format!("It {}.", super::describe::LONE_SHAPE_CAUSE));
    } else if verdict != Verdict::Ok {
        let inferred = event.evidence.iter().any(|e| e.starts_with("inferred"));
        story.push(format!(
            "It failed because {}.",
            super::describe::cause(verdict, inferred)
        ));
    }
    story.push(
        match event.credentials {
            Some(super::event::Credentials::NotAtFault) => "The password it then asked for was not the problem.",
            Some(super::event::Credentials::Rejected) => {
                "The server really refused the login: the password, or the way it is sent, is the problem."
            }
            Some(super::event::Credentials::Ok) => "The login worked.",
            _ if verdict == Verdict::Ok => "The login itself was not visible.",
            _ => "Whether the password was right cannot be told from what the router saw.",
        }
        .to_string(),
    );
    if let Some(advice) = &event.advice {
        story.push(advice.clone());
    }
    story
}

/// The story sentence for a client's failed or slow DNS lookup.
pub fn dns_story(event: &Event) -> String {
    let name = event.server_name.as_deref().unwrap_or("a mail server");
    let what = match event.kind {
        EventKind::DnsSlow => "was slow",
        _ => "failed",
    };
    let detail = event
        .evidence
        .first()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    format!(
        "At {} this client's DNS lookup of {name} {what}{detail}.",
        hms(event.time)
    )
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn push_bounded<T>(list: &mut VecDeque<T>, item: T, cap: usize) {
    if list.len() >= cap {
        list.pop_front();
    }
    list.push_back(item);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::event::{EventKind, Severity};

    fn dns_failure(client: IpAddr, at: Timestamp) -> Event {
        Event {
            id: 1,
            time: at,
            kind: EventKind::DnsFailure,
            severity: Severity::Warning,
            verdict: Some(Verdict::DnsFailure),
            credentials: None,
            client: Some(client),
            server_name: None,
            server: None,
            server_port: None,
            protocol: None,
            message: String::new(),
            advice: None,
            session: None,
            evidence: Vec::new(),
        }
    }

    /// A full table makes way for a new client by dropping the least recently seen, however
    /// the clients were seen (a client seen again moves to the young end).
    #[test]
    fn the_least_recently_seen_client_makes_way() {
        let mut clients = Clients::default();
        let t0 = Timestamp::from_unix(1_700_000_000, 0);
        let at = |s: u64| t0.plus(Duration::from_secs(s));
        let addr = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        for i in 0..MAX_CLIENTS as u32 {
            clients.client_event(&dns_failure(addr(i), at(u64::from(i))), String::new());
        }
        // Client 0 is seen again: client 1 is now the oldest.
        clients.client_event(&dns_failure(addr(0), at(1000)), String::new());
        clients.client_event(&dns_failure(addr(9999), at(1001)), String::new());
        assert_eq!(clients.clients.len(), MAX_CLIENTS);
        assert_eq!(clients.dns_only_by_age.len(), MAX_CLIENTS);
        assert!(clients.clients.contains_key(&addr(0)));
        assert!(!clients.clients.contains_key(&addr(1)));
        assert!(clients.clients.contains_key(&addr(9999)));
        let oldest = clients.dns_only_by_age.first().map(|(_, ip)| *ip);
        assert_eq!(oldest, Some(addr(2)));
    }

    mod flood {
        use crate::diagnose::event::EventKind;
        use crate::diagnose::testkit::*;
        use crate::observe::record::Rcode;

        /// Regression (docs/threat-model.md, DNS flood): 12 000 NXDOMAIN answers for mail-like
        /// names in 6 s became 12 000 events, and the client's earlier session verdict was
        /// rotated out of its history. Now a client's DNS events are rate-limited (the ones
        /// held back are counted on the next one told) and kept apart from its verdicts.
        #[test]
        fn a_dns_failure_flood_makes_few_events_and_keeps_the_verdict() {
            let mut s = Scenario::new();
            let start = t("14:00:00");
            let session = Session::imaps(1, CLIENT, "imap.gmail.com", "142.250.1.108", start)
                .refused_login_shape(ms(300), ms(900));
            let verdict = s.ended(start.plus(secs(20)), &session);
            assert_eq!(verdict.len(), 1);
            let before = s.events.len();
            for i in 0..12_000u64 {
                let at = start.plus(secs(21)).plus(ms(i / 2));
                let name = format!("imap{i}.mail.example");
                s.dns(at, lookup_rcode(CLIENT, &name, at, Rcode::NXDOMAIN));
            }
            let told = s.events.len() - before;
            assert!(
                (1..=super::DNS_EVENT_BURST as usize + 1).contains(&told),
                "{told} events for one client's 12 000 failed lookups in 6 s"
            );
            let explanation = s.engine.explain(ip(CLIENT));
            assert!(
                explanation.events.iter().any(|e| e.id == verdict[0].id),
                "the session verdict was pushed out by DNS noise"
            );
            // A minute later the client earns events again, and the first says how many were
            // held back.
            let later = start.plus(secs(90));
            let out = s.dns(
                later,
                lookup_rcode(CLIENT, "smtp.mail.example", later, Rcode::NXDOMAIN),
            );
            assert_eq!(out.len(), 1);
            let held = format!("{} more failed or slow lookups", 12_000 - told);
            assert!(
                out[0].evidence.iter().any(|e| e.starts_with(&held)),
                "{:?}",
                out[0].evidence
            );
        }

        /// Regression (docs/threat-model.md, DNS flood): the same failing name retried within
        /// seconds is one event that counts the tries.
        #[test]
        fn repeats_of_one_failing_name_are_one_event_with_a_count() {
            let mut s = Scenario::new();
            let start = t("14:00:00");
            for i in 0..50u64 {
                let at = start.plus(ms(100 * i));
                s.dns(
                    at,
                    lookup_rcode(CLIENT, "imap.mail.example", at, Rcode::SERVFAIL),
                );
            }
            let failures = s.of_kind(EventKind::DnsFailure).len();
            assert_eq!(failures, 1);
            let explanation = s.engine.explain(ip(CLIENT));
            let told = explanation
                .events
                .iter()
                .find(|e| e.kind == EventKind::DnsFailure)
                .expect("the DNS failure is in the story");
            assert!(
                told.evidence
                    .iter()
                    .any(|e| e == "seen 50 times within 10 s"),
                "{:?}",
                told.evidence
            );
        }

        /// Regression (docs/threat-model.md, DNS flood): lookups from many addresses (a host
        /// can send from any) must not push clients with verdicts out of the client table.
        #[test]
        fn dns_only_clients_do_not_push_out_clients_with_verdicts() {
            let mut s = Scenario::new();
            let start = t("14:00:00");
            let session = Session::imaps(1, CLIENT, "imap.gmail.com", "142.250.1.108", start)
                .refused_login_shape(ms(300), ms(900));
            s.ended(start.plus(secs(20)), &session);
            for i in 0..5_000u32 {
                let at = start.plus(secs(21)).plus(ms(u64::from(i)));
                let client = std::net::Ipv4Addr::from(0x0a14_0000 + i).to_string();
                s.dns(
                    at,
                    lookup_rcode(&client, "imap.mail.example", at, Rcode::NXDOMAIN),
                );
            }
            let told = s.of_kind(EventKind::DnsFailure).len();
            assert!(
                told <= super::DNS_EVENT_BURST_ALL as usize + 10,
                "{told} events"
            );
            let clients = s.engine.clients();
            assert!(clients.iter().any(|c| c.client == ip(CLIENT)));
            assert!(clients.len() <= super::MAX_CLIENTS);
        }
    }
}
