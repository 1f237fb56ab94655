//! Clients' DNS lookups: queries matched to answers by (client, resolver, id, name, type),
//! retries counted, timeouts reported; answers remembered (bounded, with expiry) so sessions
//! without SNI get a server name. A name learned from an answer names only the asking client's
//! sessions: another LAN host's (possibly forged) answer cannot rename them.
//!
//! Both tables are full under a flood of distinct names, so each keeps an age index beside it
//! and makes room in O(log n), not by scanning every entry.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::observe::record::{DnsLookup, Rcode};
use crate::time::Timestamp;
use crate::track::flow::KeyedBuildHasher;
use crate::wire::dns::{self, DnsName};

/// Queries waiting for an answer.
pub const MAX_PENDING: usize = 4096;
/// (client, address) pairs remembered with the name that resolved to them.
pub const MAX_NAMES: usize = 4096;
/// A query with no answer and no retry for this long is reported as timed out (stub resolvers
/// give up after 5 s × 2 attempts by default: resolv.conf(5)).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Once a client has retried, its own pace tells when it gives up: after its last try it waits
/// about as long as it waited before (glibc: a fixed `timeout`), or longer when the waits grow
/// (Windows, Apple and Android back off). The slack covers scheduling jitter and one doubling.
const STEADY_RETRY_SLACK: f64 = 1.25;
const BACKOFF_RETRY_SLACK: f64 = 2.25;
/// Bounds of the pace-based wait, so a burst of retries is not a failure a moment later.
const MIN_RETRY_WAIT: Duration = Duration::from_secs(2);
/// Two queries closer than this are one try sent to several resolvers, not a retry.
const SAME_TRY: Duration = Duration::from_millis(200);
/// A learned address → name mapping lasts at least this long (clients cache past the TTL)…
const MIN_NAME_LIFETIME: Duration = Duration::from_secs(300);
/// …and at most this long.
const MAX_NAME_LIFETIME: Duration = Duration::from_secs(3600);
/// Query IDs remembered per pending lookup (one per retry).
const MAX_IDS: usize = 4;
/// Addresses kept per lookup.
const MAX_ANSWERS: usize = 16;
/// Resolvers remembered per lookup (resolv.conf(5) allows three name servers).
const MAX_RESOLVERS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct PendingKey {
    client: IpAddr,
    resolver: SocketAddr,
    name: DnsName,
    qtype: u16,
}

#[derive(Debug)]
struct Pending {
    client: SocketAddr,
    start: Timestamp,
    /// Its place in `DnsTracker::by_start`.
    serial: u64,
    ids: [u16; MAX_IDS],
    id_count: usize,
    retries: u32,
}

/// One client's lookup of one name and type, whichever resolvers it asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct LookupKey {
    client: IpAddr,
    name: DnsName,
    qtype: u16,
}

impl From<&PendingKey> for LookupKey {
    fn from(k: &PendingKey) -> Self {
        LookupKey {
            client: k.client,
            name: k.name,
            qtype: k.qtype,
        }
    }
}

/// The client's pace of retries for one lookup, across its resolvers.
#[derive(Debug)]
struct Pace {
    last_query: Timestamp,
    latest_gap: Option<Duration>,
    previous_gap: Option<Duration>,
    /// Pending entries (one per resolver) that belong to this lookup.
    pending: usize,
    /// The resolvers asked (the first [`MAX_RESOLVERS`]), so an answer from one finds the
    /// others' entries without searching the table.
    resolvers: [Option<SocketAddr>; MAX_RESOLVERS],
}

impl Pace {
    fn on_query(&mut self, now: Timestamp) {
        let gap = now.saturating_since(self.last_query);
        if gap >= SAME_TRY {
            self.previous_gap = self.latest_gap;
            self.latest_gap = Some(gap);
        }
        self.last_query = now;
    }

    /// How long after its last query the client is taken to have given up.
    fn give_up_after(&self) -> Duration {
        let Some(latest) = self.latest_gap else {
            return QUERY_TIMEOUT;
        };
        let backing_off = self
            .previous_gap
            .is_some_and(|previous| latest > previous + SAME_TRY);
        let slack = if backing_off {
            BACKOFF_RETRY_SLACK
        } else {
            STEADY_RETRY_SLACK
        };
        latest.mul_f64(slack).clamp(MIN_RETRY_WAIT, QUERY_TIMEOUT)
    }
}

/// Which client reached which address: the key of a learned name.
type NameKey = (IpAddr, IpAddr);

/// The DNS side of the tracker.
#[derive(Debug, Default)]
pub struct DnsTracker {
    pending: HashMap<PendingKey, Pending, KeyedBuildHasher>,
    /// `pending` by (start, serial): the oldest is the first.
    by_start: BTreeMap<(Timestamp, u64), PendingKey>,
    next_serial: u64,
    /// Bounded by `pending`: an entry lives while one of its lookups is pending.
    paces: HashMap<LookupKey, Pace, KeyedBuildHasher>,
    names: HashMap<NameKey, (String, Timestamp), KeyedBuildHasher>,
    /// `names` by expiry: the first expires first.
    names_by_expiry: BTreeSet<(Timestamp, NameKey)>,
    pub evicted: u64,
    /// Entries looked at to make room (for the tests: one per eviction).
    #[cfg(test)]
    eviction_steps: u64,
}

impl DnsTracker {
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Takes one DNS message from `src` to `dst`; a completed lookup is returned.
    pub fn on_message(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        message: &[u8],
        now: Timestamp,
    ) -> Option<DnsLookup> {
        let packet = dns::Packet::new_checked(message).ok()?;
        if packet.opcode() != 0 {
            return None;
        }
        let (question, _) = packet.question().ok()?;
        if packet.is_response() {
            self.on_response(&packet, src, dst, question, now)
        } else {
            self.on_query(packet.id(), src, dst, question, now);
            None
        }
    }

    fn on_query(
        &mut self,
        id: u16,
        client: SocketAddr,
        resolver: SocketAddr,
        q: dns::Question,
        now: Timestamp,
    ) {
        let key = PendingKey {
            client: client.ip(),
            resolver,
            name: q.name,
            qtype: q.qtype,
        };
        if let Some(pace) = self.paces.get_mut(&LookupKey::from(&key)) {
            pace.on_query(now);
        }
        if let Some(p) = self.pending.get_mut(&key) {
            p.retries += 1;
            if !p.ids[..p.id_count].contains(&id) {
                if p.id_count == MAX_IDS {
                    p.ids.rotate_left(1);
                    p.id_count -= 1;
                }
                p.ids[p.id_count] = id;
                p.id_count += 1;
            }
            return;
        }
        if self.pending.len() >= MAX_PENDING {
            self.evict_oldest();
        }
        let pace = self.paces.entry(LookupKey::from(&key)).or_insert(Pace {
            last_query: now,
            latest_gap: None,
            previous_gap: None,
            pending: 0,
            resolvers: [None; MAX_RESOLVERS],
        });
        pace.pending += 1;
        if let Some(slot) = pace.resolvers.iter_mut().find(|r| r.is_none()) {
            *slot = Some(resolver);
        }
        let mut ids = [0; MAX_IDS];
        ids[0] = id;
        let serial = self.next_serial;
        self.next_serial += 1;
        self.by_start.insert((now, serial), key);
        self.pending.insert(
            key,
            Pending {
                client,
                start: now,
                serial,
                ids,
                id_count: 1,
                retries: 0,
            },
        );
    }

    fn evict_oldest(&mut self) {
        if let Some((_, &key)) = self.by_start.first_key_value() {
            #[cfg(test)]
            {
                self.eviction_steps += 1;
            }
            self.remove(&key);
            self.evicted += 1;
        }
    }

    /// Removes one pending entry, and its lookup's pace with the last of them.
    fn remove(&mut self, key: &PendingKey) -> Option<Pending> {
        let pending = self.pending.remove(key)?;
        self.by_start.remove(&(pending.start, pending.serial));
        let lookup = LookupKey::from(key);
        if let Some(pace) = self.paces.get_mut(&lookup) {
            pace.pending = pace.pending.saturating_sub(1);
            if pace.pending == 0 {
                self.paces.remove(&lookup);
            }
        }
        Some(pending)
    }

    fn on_response(
        &mut self,
        packet: &dns::Packet<&[u8]>,
        resolver: SocketAddr,
        client: SocketAddr,
        q: dns::Question,
        now: Timestamp,
    ) -> Option<DnsLookup> {
        let key = PendingKey {
            client: client.ip(),
            resolver,
            name: q.name,
            qtype: q.qtype,
        };
        let pending = self.pending.get(&key)?;
        if !pending.ids[..pending.id_count].contains(&packet.id()) {
            return None;
        }
        let pending = self.remove(&key)?;
        // The client has its answer: what it asked other resolvers is no longer awaited. Its
        // pace outlives `remove` only while other resolvers' entries remain.
        if packet.rcode() == 0 {
            let asked = self
                .paces
                .get(&LookupKey::from(&key))
                .map(|pace| pace.resolvers);
            for other in asked.into_iter().flatten().flatten() {
                self.remove(&PendingKey {
                    resolver: other,
                    ..key
                });
            }
        }
        let name = q.name.to_text();
        let mut answers = Vec::new();
        let mut min_ttl = u32::MAX;
        if let Ok(records) = packet.answer_addresses() {
            for (address, ttl) in records.flatten() {
                if let Some(addr) = address {
                    if answers.len() < MAX_ANSWERS {
                        answers.push(addr);
                    }
                    min_ttl = min_ttl.min(ttl);
                }
            }
        }
        let lifetime =
            Duration::from_secs(u64::from(min_ttl)).clamp(MIN_NAME_LIFETIME, MAX_NAME_LIFETIME);
        for addr in &answers {
            self.remember((client.ip(), *addr), &name, now.plus(lifetime));
        }
        Some(DnsLookup {
            client: pending.client,
            resolver,
            name,
            qtype: q.qtype,
            start: pending.start,
            latency: Some(now.saturating_since(pending.start)),
            rcode: Some(Rcode(packet.rcode())),
            answers,
            timed_out: false,
            retries: pending.retries,
        })
    }

    fn remember(&mut self, key: NameKey, name: &str, expires: Timestamp) {
        if let Some((known, until)) = self.names.get_mut(&key) {
            self.names_by_expiry.remove(&(*until, key));
            *until = expires;
            self.names_by_expiry.insert((expires, key));
            // The same answer again (the usual case): only its lifetime moves.
            if known != name {
                *known = name.to_string();
            }
            return;
        }
        if self.names.len() >= MAX_NAMES {
            // The one that expires first makes way.
            if let Some((_, oldest)) = self.names_by_expiry.pop_first() {
                #[cfg(test)]
                {
                    self.eviction_steps += 1;
                }
                self.names.remove(&oldest);
            }
        }
        self.names.insert(key, (name.to_string(), expires));
        self.names_by_expiry.insert((expires, key));
    }

    /// The name `client` looked up to reach `addr`, if still fresh at `at`. Only the client's
    /// own lookups count: a name another host learned (or was told by a forged answer) does
    /// not name this client's server.
    pub fn name_for(&self, client: IpAddr, addr: IpAddr, at: Timestamp) -> Option<&str> {
        self.names
            .get(&(client, addr))
            .filter(|(_, expires)| *expires >= at)
            .map(|(name, _)| name.as_str())
    }

    /// Reports lookups the client has given up on: no answer and no new try for as long as
    /// its pace of retries says it waits (`QUERY_TIMEOUT` when it never retried).
    pub fn expire(&mut self, now: Timestamp, out: &mut impl FnMut(DnsLookup)) {
        let given_up = |lookup: &LookupKey| {
            self.paces
                .get(lookup)
                .is_none_or(|pace| now.saturating_since(pace.last_query) >= pace.give_up_after())
        };
        let mut expired: Vec<(Timestamp, PendingKey)> = self
            .pending
            .iter()
            .filter(|(k, _)| given_up(&LookupKey::from(*k)))
            .map(|(k, p)| (p.start, *k))
            .collect();
        // The table's order is the hasher's: report in time order instead, so the output
        // does not depend on how names hash.
        expired.sort_unstable_by(report_order);
        for (_, key) in expired {
            if let Some(p) = self.remove(&key) {
                out(timed_out(key, p));
            }
        }
        while let Some(&(expires, key)) = self.names_by_expiry.first() {
            if expires >= now {
                break;
            }
            self.names_by_expiry.pop_first();
            self.names.remove(&key);
        }
    }

    /// Reports every pending lookup (end of input) as timed out.
    pub fn flush(&mut self, out: &mut impl FnMut(DnsLookup)) {
        self.paces.clear();
        self.by_start.clear();
        let mut rest: Vec<(PendingKey, Pending)> = self.pending.drain().collect();
        rest.sort_unstable_by(|(ka, pa), (kb, pb)| {
            report_order(&(pa.start, *ka), &(pb.start, *kb))
        });
        for (key, p) in rest {
            out(timed_out(key, p));
        }
    }
}

/// Timed-out lookups are reported by start, then name (then the rest of the key, so the
/// order is total).
fn report_order(a: &(Timestamp, PendingKey), b: &(Timestamp, PendingKey)) -> std::cmp::Ordering {
    let ((start_a, a), (start_b, b)) = (a, b);
    start_a
        .cmp(start_b)
        .then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
        .then_with(|| (a.client, a.resolver, a.qtype).cmp(&(b.client, b.resolver, b.qtype)))
}

fn timed_out(key: PendingKey, p: Pending) -> DnsLookup {
    DnsLookup {
        client: p.client,
        resolver: key.resolver,
        name: key.name.to_text(),
        qtype: key.qtype,
        start: p.start,
        latency: None,
        rcode: None,
        answers: Vec::new(),
        timed_out: true,
        retries: p.retries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: &str = "192.168.77.10:40000";
    const RESOLVER4: &str = "192.168.77.1:53";
    const RESOLVER6: &str = "[fd77::1]:53";

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_nanos(1_700_000_000_000_000_000 + ms * 1_000_000)
    }

    /// A one-question A query or NOERROR answer for imap.mail.test (RFC 1035 §4.1).
    fn message(id: u16, response: bool) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(if response {
            &[0x81, 0x80]
        } else {
            &[0x01, 0x00]
        });
        m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(b"\x04imap\x04mail\x04test\x00\x00\x01\x00\x01");
        m
    }

    fn query(dns: &mut DnsTracker, ms: i64, resolver: &str) {
        let sent = dns.on_message(
            CLIENT.parse().unwrap(),
            resolver.parse().unwrap(),
            &message(0x1814, false),
            at(ms),
        );
        assert!(sent.is_none());
    }

    fn expired(dns: &mut DnsTracker, ms: i64) -> Vec<DnsLookup> {
        let mut out = Vec::new();
        dns.expire(at(ms), &mut |l| out.push(l));
        out
    }

    /// The lab's glibc client (`options timeout:3 attempts:2`, two resolvers) asks at 0, 3, 6
    /// and 9 s and gives up at 12 s (tests/data/imaps-dns-upstream-dead.pcap); the failure is
    /// reported within a second of that, not 10 s after the last query.
    #[test]
    fn a_steady_client_is_given_up_on_at_its_own_pace() {
        let mut dns = DnsTracker::default();
        for (ms, resolver) in [
            (0, RESOLVER4),
            (3000, RESOLVER6),
            (6000, RESOLVER4),
            (9000, RESOLVER6),
        ] {
            query(&mut dns, ms, resolver);
            assert!(
                expired(&mut dns, ms + 2900).is_empty(),
                "reported before the retry at {ms}"
            );
        }
        assert!(
            expired(&mut dns, 12_000).is_empty(),
            "still inside the client's own wait"
        );
        let lookups = expired(&mut dns, 13_000);
        assert_eq!(lookups.len(), 2, "one per resolver asked");
        assert!(lookups
            .iter()
            .all(|l| l.timed_out && l.retries == 1 && l.name == "imap.mail.test"));
        assert!(dns.paces.is_empty() && dns.pending.is_empty());
    }

    /// A client that doubles its wait (1, 1, 2 s…) is not declared failed before its next try.
    #[test]
    fn a_backing_off_client_gets_the_longer_wait() {
        let mut dns = DnsTracker::default();
        for ms in [0, 1000, 2000, 4000] {
            query(&mut dns, ms, RESOLVER4);
        }
        assert!(
            expired(&mut dns, 7900).is_empty(),
            "its next try is due at 8 s"
        );
        query(&mut dns, 8000, RESOLVER4);
        assert!(expired(&mut dns, 15_900).is_empty());
        assert_eq!(
            expired(&mut dns, 18_000).len(),
            1,
            "given up after twice the last wait"
        );
    }

    #[test]
    fn a_query_never_retried_waits_the_full_timeout() {
        let mut dns = DnsTracker::default();
        query(&mut dns, 0, RESOLVER4);
        assert!(expired(&mut dns, 9900).is_empty());
        assert_eq!(expired(&mut dns, 10_000).len(), 1);
    }

    /// An A query for `name` (RFC 1035 §4.1), id 1.
    fn query_for(name: &str) -> Vec<u8> {
        let mut m = vec![0, 1, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        m
    }

    /// Lookups timing out in one poll come out by start, then name, whatever the table's
    /// order.
    #[test]
    fn timed_out_lookups_are_reported_by_start_then_name() {
        let mut dns = DnsTracker::default();
        let asked = [
            (100, "pop.b.test"),
            (0, "smtp.z.test"),
            (100, "imap.a.test"),
            (0, "mail.c.test"),
            (50, "x.test"),
        ];
        for (ms, name) in asked {
            let sent = dns.on_message(
                CLIENT.parse().unwrap(),
                RESOLVER4.parse().unwrap(),
                &query_for(name),
                at(ms),
            );
            assert!(sent.is_none());
        }
        let order: Vec<String> = expired(&mut dns, 60_000)
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(
            order,
            [
                "mail.c.test",
                "smtp.z.test",
                "x.test",
                "imap.a.test",
                "pop.b.test"
            ]
        );
        for (ms, name) in asked {
            dns.on_message(
                CLIENT.parse().unwrap(),
                RESOLVER4.parse().unwrap(),
                &query_for(name),
                at(70_000 + ms),
            );
        }
        let mut flushed = Vec::new();
        dns.flush(&mut |l| flushed.push(l.name));
        assert_eq!(flushed, order);
    }

    /// Asked of both resolvers at once and answered by one: the silent one is no failure.
    #[test]
    fn an_answer_from_one_resolver_ends_the_wait_on_the_others() {
        let mut dns = DnsTracker::default();
        query(&mut dns, 0, RESOLVER4);
        query(&mut dns, 50, RESOLVER6);
        let answer = dns.on_message(
            RESOLVER6.parse().unwrap(),
            CLIENT.parse().unwrap(),
            &message(0x1814, true),
            at(80),
        );
        assert!(
            answer.is_some_and(|l| !l.timed_out && l.latency == Some(Duration::from_millis(30)))
        );
        assert!(expired(&mut dns, 30_000).is_empty());
        assert!(dns.paces.is_empty() && dns.pending.is_empty());
    }

    /// Regression (docs/threat-model.md, DNS flood): with the pending table full, every new
    /// query scanned all 4 096 entries for the oldest (100 000 names took 4.6 s instead of
    /// 0.05 s). Making room now takes the first of an age index: one step per eviction.
    #[test]
    fn a_flood_of_distinct_names_evicts_the_oldest_in_one_step_each() {
        let mut dns = DnsTracker::default();
        const NAMES: usize = 3 * MAX_PENDING;
        for i in 0..NAMES {
            let sent = dns.on_message(
                CLIENT.parse().unwrap(),
                RESOLVER4.parse().unwrap(),
                &query_for(&format!("n{i}.flood.test")),
                at(i as i64),
            );
            assert!(sent.is_none());
        }
        let evicted = (NAMES - MAX_PENDING) as u64;
        assert_eq!(dns.evicted, evicted);
        assert_eq!(dns.eviction_steps, evicted);
        assert_eq!(dns.pending.len(), MAX_PENDING);
        assert_eq!(dns.by_start.len(), MAX_PENDING);
        // The newest stayed: the oldest pending one is the first not evicted.
        let oldest = dns.by_start.first_key_value().map(|((start, _), _)| *start);
        assert_eq!(oldest, Some(at(evicted as i64)));
    }

    /// Learned names are kept per client: the same address asked by two clients is two entries,
    /// and a full table drops the one that expires first, in one step.
    #[test]
    fn learned_names_are_per_client_and_make_way_by_expiry() {
        let mut dns = DnsTracker::default();
        let server: IpAddr = "192.0.2.25".parse().unwrap();
        let (a, b): (IpAddr, IpAddr) = (
            "192.168.1.10".parse().unwrap(),
            "192.168.1.11".parse().unwrap(),
        );
        dns.remember((a, server), "imap.example.org", at(600_000));
        dns.remember((b, server), "outlook.office365.com", at(600_000));
        assert_eq!(dns.name_for(a, server, at(0)), Some("imap.example.org"));
        assert_eq!(
            dns.name_for(b, server, at(0)),
            Some("outlook.office365.com")
        );
        let other: IpAddr = "192.168.1.12".parse().unwrap();
        assert_eq!(dns.name_for(other, server, at(0)), None);
        for i in 0..MAX_NAMES as u32 {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            dns.remember((other, addr), "x.test", at(1_000_000 + i64::from(i)));
        }
        assert_eq!(dns.names.len(), MAX_NAMES);
        assert_eq!(dns.names_by_expiry.len(), MAX_NAMES);
        assert_eq!(dns.eviction_steps, 2);
        assert_eq!(
            dns.name_for(a, server, at(0)),
            None,
            "expiring first, dropped first"
        );
        let mut none = Vec::new();
        dns.expire(at(1_000_000 + 10), &mut |l| none.push(l));
        assert_eq!(dns.names.len(), MAX_NAMES - 10);
        assert_eq!(dns.names_by_expiry.len(), MAX_NAMES - 10);
    }
}
