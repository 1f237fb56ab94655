//! The LAN clients seen, each with a short history, and the story `explain` tells from it joined
//! with the WAN, probe and gateway events of the same moments.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use super::event::{Event, EventKind, Verdict};
use super::status::ClientSummary;
use super::timeline::{hms, secs, Notice, Timeline};
use crate::time::Timestamp;
use crate::track::KeyedBuildHasher;

/// LAN clients remembered (the least recently seen makes way).
pub const MAX_CLIENTS: usize = 256;
/// Events remembered per client for `explain`.
pub const MAX_CLIENT_HISTORY: usize = 16;
/// WAN, probe and gateway events remembered for `explain`.
pub const MAX_NETWORK_HISTORY: usize = 128;

/// One remembered event and the sentences that tell it.
#[derive(Clone, Debug)]
struct Entry {
    /// When it happened, for ordering the story (a session's is the end of its failure).
    at: Timestamp,
    event: Event,
    story: Vec<String>,
}

#[derive(Clone, Debug)]
struct Client {
    summary: ClientSummary,
    /// Boxed entries: an `Event` (with its session view) is large, and the bounded history
    /// shifts its entries as it rotates.
    history: VecDeque<Box<Entry>>,
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
    network: VecDeque<NetworkEntry>,
}

impl Clients {
    fn client(&mut self, ip: IpAddr, at: Timestamp) -> &mut Client {
        if !self.clients.contains_key(&ip) && self.clients.len() >= MAX_CLIENTS {
            if let Some((_, oldest)) = self.by_age.pop_first() {
                self.clients.remove(&oldest);
            }
        }
        let by_age = &mut self.by_age;
        let client = self.clients.entry(ip).or_insert_with(|| {
            by_age.insert((at, ip));
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
            }
        });
        if at > client.summary.last_seen {
            by_age.remove(&(client.summary.last_seen, ip));
            by_age.insert((at, ip));
            client.summary.last_seen = at;
        }
        client
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
        let client = self.client(ip, at);
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

    /// Records an event about one client that is not a session (a failed DNS lookup).
    pub fn client_event(&mut self, event: &Event, story: String) {
        let Some(ip) = event.client else { return };
        let client = self.client(ip, event.time);
        push_bounded(
            &mut client.history,
            Box::new(Entry {
                at: event.time,
                event: event.clone(),
                story: vec![story],
            }),
            MAX_CLIENT_HISTORY,
        );
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
        timeline: &Timeline,
        window: Duration,
    ) -> (Vec<String>, Vec<Event>) {
        let Some(client) = self.clients.get(&ip).filter(|c| !c.history.is_empty()) else {
            return (
                vec![format!(
                    "No mail sessions or DNS lookups from {ip} were seen recently."
                )],
                Vec::new(),
            );
        };
        let first = client
            .history
            .iter()
            .map(|e| e.at.min(e.event.time))
            .min()
            .unwrap_or_default();
        let last = client
            .history
            .iter()
            .map(|e| e.at.max(e.event.time))
            .max()
            .unwrap_or_default();
        let (from, to) = (first.minus(window), last.plus(window));

        // (order time, tie-break, sentences, event)
        let mut items: Vec<(Timestamp, u64, Vec<String>, &Event)> = Vec::new();
        let mut told_outages: Vec<(String, Timestamp)> = Vec::new();
        for entry in self
            .network
            .iter()
            .filter(|n| n.event.time >= from && n.event.time <= to)
        {
            let time = entry.event.time;
            let sentence = match &entry.notice {
                Notice::WanDown { interface } => {
                    told_outages.push((interface.clone(), time));
                    match timeline.outage_started(interface, time) {
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
                    match down_for {
                        Some(d) => format!(
                            "At {} the WAN link {interface} came back up after {}.",
                            hms(time),
                            secs(*d)
                        ),
                        None => format!("At {} the WAN link {interface} came back up.", hms(time)),
                    }
                }
                _ => format!("At {} {}", hms(time), lower_first(&entry.event.message)),
            };
            items.push((time, entry.event.id, vec![sentence], &entry.event));
        }
        for entry in &client.history {
            items.push((entry.at, entry.event.id, entry.story.clone(), &entry.event));
        }
        items.sort_by_key(|(at, id, _, _)| (*at, *id));
        let mut story = vec!["Times are UTC.".to_string()];
        let mut events = Vec::new();
        for (_, _, sentences, event) in items {
            story.extend(sentences);
            events.push(event.clone());
        }
        (story, events)
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
                    .map(|c| c.history.len())
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
    if verdict != Verdict::Ok {
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
        assert_eq!(clients.by_age.len(), MAX_CLIENTS);
        assert!(clients.clients.contains_key(&addr(0)));
        assert!(!clients.clients.contains_key(&addr(1)));
        assert!(clients.clients.contains_key(&addr(9999)));
        let oldest = clients.by_age.first().map(|(_, ip)| *ip);
        assert_eq!(oldest, Some(addr(2)));
    }
}
