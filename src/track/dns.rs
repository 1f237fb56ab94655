//! Clients' DNS lookups: queries matched to answers by (client, resolver, id, name, type),
//! retries counted, timeouts reported; answers remembered (bounded, with expiry) so sessions
//! without SNI get a server name.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::time::Timestamp;
use crate::track::flow::FxBuildHasher;
use crate::track::record::{DnsLookup, Rcode};
use crate::wire::dns::{self, DnsName};

/// Queries waiting for an answer.
pub const MAX_PENDING: usize = 4096;
/// Addresses remembered with the name that resolved to them.
pub const MAX_NAMES: usize = 4096;
/// A query with no answer for this long is reported as timed out (stub resolvers give up
/// after 5 s × 2 attempts by default: resolv.conf(5)).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// A learned address → name mapping lasts at least this long (clients cache past the TTL)…
const MIN_NAME_LIFETIME: Duration = Duration::from_secs(300);
/// …and at most this long.
const MAX_NAME_LIFETIME: Duration = Duration::from_secs(3600);
/// Query IDs remembered per pending lookup (one per retry).
const MAX_IDS: usize = 4;
/// Addresses kept per lookup.
const MAX_ANSWERS: usize = 16;

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
    last_query: Timestamp,
    ids: [u16; MAX_IDS],
    id_count: usize,
    retries: u32,
}

/// The DNS side of the tracker.
#[derive(Debug, Default)]
pub struct DnsTracker {
    pending: HashMap<PendingKey, Pending, FxBuildHasher>,
    names: HashMap<IpAddr, (String, Timestamp), FxBuildHasher>,
    pub evicted: u64,
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
        if let Some(p) = self.pending.get_mut(&key) {
            p.retries += 1;
            p.last_query = now;
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
        let mut ids = [0; MAX_IDS];
        ids[0] = id;
        self.pending.insert(
            key,
            Pending {
                client,
                start: now,
                last_query: now,
                ids,
                id_count: 1,
                retries: 0,
            },
        );
    }

    fn evict_oldest(&mut self) {
        if let Some(key) = self
            .pending
            .iter()
            .min_by_key(|(_, p)| p.start)
            .map(|(k, _)| *k)
        {
            self.pending.remove(&key);
            self.evicted += 1;
        }
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
        let pending = self.pending.remove(&key)?;
        let name = q.name.to_text();
        let mut answers = Vec::new();
        let mut min_ttl = u32::MAX;
        if let Ok(records) = packet.answers() {
            for record in records.flatten() {
                if let Some(addr) = record.data.address() {
                    if answers.len() < MAX_ANSWERS {
                        answers.push(addr);
                    }
                    min_ttl = min_ttl.min(record.ttl);
                }
            }
        }
        let lifetime =
            Duration::from_secs(u64::from(min_ttl)).clamp(MIN_NAME_LIFETIME, MAX_NAME_LIFETIME);
        for addr in &answers {
            self.remember(*addr, &name, now.plus(lifetime));
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

    fn remember(&mut self, addr: IpAddr, name: &str, expires: Timestamp) {
        if self.names.len() >= MAX_NAMES && !self.names.contains_key(&addr) {
            if let Some(oldest) = self
                .names
                .iter()
                .min_by_key(|(_, (_, e))| *e)
                .map(|(a, _)| *a)
            {
                self.names.remove(&oldest);
            }
        }
        self.names.insert(addr, (name.to_string(), expires));
    }

    /// The name a client looked up to reach `addr`, if still fresh at `at`.
    pub fn name_for(&self, addr: IpAddr, at: Timestamp) -> Option<&str> {
        self.names
            .get(&addr)
            .filter(|(_, expires)| *expires >= at)
            .map(|(name, _)| name.as_str())
    }

    /// Reports lookups unanswered for `QUERY_TIMEOUT` since their last query.
    pub fn expire(&mut self, now: Timestamp, out: &mut impl FnMut(DnsLookup)) {
        let expired: Vec<PendingKey> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_since(p.last_query) >= QUERY_TIMEOUT)
            .map(|(k, _)| *k)
            .collect();
        for key in expired {
            if let Some(p) = self.pending.remove(&key) {
                out(timed_out(key, p));
            }
        }
        self.names.retain(|_, (_, expires)| *expires >= now);
    }

    /// Reports every pending lookup (end of input) as timed out.
    pub fn flush(&mut self, out: &mut impl FnMut(DnsLookup)) {
        for (key, p) in self.pending.drain() {
            out(timed_out(key, p));
        }
    }
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
