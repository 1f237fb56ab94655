//! The recent events the control socket answers from: a bounded ring, seeded from the journal
//! on start so history survives restarts.

use crate::diagnose::event::{Event, SessionView};
use crate::observe::record::TlsMode;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// The most of the history one LAN client may hold, as a fraction of the whole: a host that
/// makes thousands of failing sessions pushes out its own oldest events, not everyone else's
/// verdicts.
const CLIENT_SHARE_DIVISOR: usize = 4;

/// The last `capacity` events, oldest first, of which no client holds more than a quarter.
/// When full, failed sessions that never got as far as a server's answer go first — nothing
/// from the server, or an encrypted session whose TLS handshake never finished: that is what a
/// host spoofing many addresses fabricates in bulk, and a flood of them must not push out the
/// verdicts of sessions that really reached a server.
pub struct History {
    /// Kept events by id, oldest first; `None` marks one dropped for its client's share,
    /// compacted away once they outnumber the kept ones.
    events: VecDeque<(u64, Option<Event>)>,
    kept: usize,
    capacity: usize,
    client_share: usize,
    /// Each client's kept event ids, oldest first.
    by_client: HashMap<IpAddr, VecDeque<u64>>,
    /// Kept events of sessions that never reached a server's answer, oldest first (ids of
    /// events already gone are skipped when met).
    unanswered: VecDeque<u64>,
}

impl History {
    /// An empty history keeping at most `capacity` events (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            events: VecDeque::with_capacity(capacity.min(4096)),
            kept: 0,
            capacity,
            client_share: (capacity / CLIENT_SHARE_DIVISOR).max(1),
            by_client: HashMap::new(),
            unanswered: VecDeque::new(),
        }
    }

    /// Appends an event. Past its client's share the client's own oldest event goes; past the
    /// capacity, the oldest of all.
    pub fn push(&mut self, event: Event) {
        let id = event.id;
        if let Some(client) = event.client {
            let ids = self.by_client.entry(client).or_default();
            ids.push_back(id);
            if ids.len() > self.client_share {
                if let Some(oldest) = ids.pop_front() {
                    self.forget(oldest);
                }
            }
        }
        if event.session.as_ref().is_some_and(never_answered) {
            self.unanswered.push_back(id);
        }
        self.events.push_back((id, Some(event)));
        self.kept += 1;
        while self.kept > self.capacity {
            if !self.forget_oldest_unanswered() {
                self.pop_oldest();
            }
        }
        self.drop_leading_gaps();
        if self.events.len() > 2 * self.kept + 64 {
            self.events.retain(|(_, e)| e.is_some());
        }
        if self.unanswered.len() > 2 * self.kept + 64 {
            let mut ids = std::mem::take(&mut self.unanswered);
            ids.retain(|id| self.holds(*id));
            self.unanswered = ids;
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.kept
    }

    /// The id the next event should get: one past the newest kept.
    pub fn next_id(&self) -> u64 {
        self.events.back().map_or(1, |(id, _)| id + 1)
    }

    /// The events kept, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().filter_map(|(_, e)| e.as_ref())
    }

    /// Drops the event `id` (ids increase, so it is found by bisection; a journal written by
    /// another version may not be ordered, hence the scan as a fallback).
    fn forget(&mut self, id: u64) -> bool {
        let at = match self.events.binary_search_by_key(&id, |(i, _)| *i) {
            Ok(at) => Some(at),
            Err(_) => self.events.iter().position(|(i, _)| *i == id),
        };
        let Some(event) = at
            .and_then(|at| self.events.get_mut(at))
            .and_then(|(_, slot)| slot.take())
        else {
            return false;
        };
        self.kept -= 1;
        if let Some(client) = event.client {
            if let Some(ids) = self.by_client.get_mut(&client) {
                ids.retain(|i| *i != id);
                if ids.is_empty() {
                    self.by_client.remove(&client);
                }
            }
        }
        true
    }

    /// Whether the event `id` is still kept.
    fn holds(&self, id: u64) -> bool {
        match self.events.binary_search_by_key(&id, |(i, _)| *i) {
            Ok(at) => self.events.get(at).is_some_and(|(_, e)| e.is_some()),
            Err(_) => false,
        }
    }

    /// Drops the oldest kept event of a session the server never answered; false when none.
    fn forget_oldest_unanswered(&mut self) -> bool {
        while let Some(id) = self.unanswered.pop_front() {
            if self.forget(id) {
                return true;
            }
        }
        false
    }

    fn pop_oldest(&mut self) {
        while let Some((_, slot)) = self.events.pop_front() {
            let Some(event) = slot else { continue };
            self.kept -= 1;
            if let Some(client) = event.client {
                if let Some(ids) = self.by_client.get_mut(&client) {
                    ids.pop_front();
                    if ids.is_empty() {
                        self.by_client.remove(&client);
                    }
                }
            }
            return;
        }
    }

    fn drop_leading_gaps(&mut self) {
        while matches!(self.events.front(), Some((_, None))) {
            self.events.pop_front();
        }
    }
}

/// A session that never got as far as a server's answer: no byte from the server, or TLS
/// that never finished its handshake.
fn never_answered(session: &SessionView) -> bool {
    session.bytes_from_server == 0
        || (session.tls != TlsMode::None && session.tls_handshake_ms.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::EventQuery;
    use crate::diagnose::event::{EventKind, Severity};
    use crate::time::Timestamp;

    fn event(id: u64, secs: i64, kind: EventKind, client: Option<&str>) -> Event {
        Event {
            id,
            time: Timestamp::from_unix(secs, 0),
            kind,
            severity: Severity::Info,
            verdict: None,
            credentials: None,
            client: client.map(|c| c.parse().unwrap()),
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

    #[test]
    fn keeps_only_the_newest_and_continues_ids() {
        let mut history = History::new(3);
        for id in 1..=5 {
            history.push(event(id, id as i64, EventKind::SessionOk, None));
        }
        let ids: Vec<u64> = history.iter().map(|e| e.id).collect();
        assert_eq!(ids, [3, 4, 5]);
        assert_eq!(history.next_id(), 6);
    }

    #[test]
    fn filters_combine_and_limit_keeps_the_newest() {
        let mut history = History::new(100);
        history.push(event(1, 10, EventKind::SessionOk, Some("192.168.1.2")));
        history.push(event(2, 20, EventKind::SessionFailed, Some("192.168.1.2")));
        history.push(event(3, 30, EventKind::WanDown, None));
        history.push(event(4, 40, EventKind::SessionFailed, Some("192.168.1.3")));
        history.push(event(5, 50, EventKind::SessionFailed, Some("192.168.1.2")));

        let failures = EventQuery {
            failures: true,
            ..Default::default()
        };
        let ids = |q: &EventQuery| {
            q.select(history.iter())
                .iter()
                .map(|e| e.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&failures), [2, 3, 4, 5]);

        let one_client = EventQuery {
            client: Some("192.168.1.2".parse().unwrap()),
            since: Some(Timestamp::from_unix(15, 0)),
            ..Default::default()
        };
        assert_eq!(ids(&one_client), [2, 5]);

        let last_two = EventQuery {
            limit: Some(2),
            ..Default::default()
        };
        assert_eq!(ids(&last_two), [4, 5]);
    }

    #[test]
    fn one_flooding_client_pushes_out_only_its_own_events() {
        let mut history = History::new(100);
        history.push(event(1, 1, EventKind::SessionFailed, Some("192.168.1.2")));
        history.push(event(2, 2, EventKind::WanDown, None));
        for id in 3..=1000 {
            history.push(event(
                id,
                id as i64,
                EventKind::SessionFailed,
                Some("192.168.1.66"),
            ));
        }
        let ids: Vec<u64> = history.iter().map(|e| e.id).collect();
        assert_eq!(
            &ids[..2],
            [1, 2],
            "the other client's verdict and the WAN event stay"
        );
        assert_eq!(
            ids.len(),
            2 + 25,
            "the flooding client keeps a quarter: {ids:?}"
        );
        assert_eq!(ids[2..], (976..=1000).collect::<Vec<_>>()[..]);
        assert_eq!(history.len(), 27);
        assert_eq!(history.next_id(), 1001);
        assert!(history.events.len() <= 2 * history.len() + 64);
    }

    #[test]
    fn past_capacity_the_oldest_of_all_goes_and_client_shares_follow() {
        let mut history = History::new(8);
        for id in 1..=40u64 {
            let client = format!("192.168.1.{}", id % 5);
            history.push(event(id, id as i64, EventKind::SessionOk, Some(&client)));
        }
        let ids: Vec<u64> = history.iter().map(|e| e.id).collect();
        assert_eq!(ids, (33..=40).collect::<Vec<_>>());
        let per_client: usize = history.by_client.values().map(|v| v.len()).sum();
        assert_eq!(
            per_client, 8,
            "the per-client index holds exactly the kept events"
        );
    }

    fn unanswered_session(id: u64, client: &str) -> Event {
        let mut e = event(id, id as i64, EventKind::SessionFailed, Some(client));
        let view: crate::diagnose::event::SessionView = serde_json::from_value(serde_json::json!({
            "type": "session", "client": client, "client_port": 40000,
            "server": "198.51.100.10",
            "server_port": 993, "protocol": "imap", "tls": "implicit", "server_name": null,
            "start": "2026-12-04T14:00:00Z", "end": "2026-12-04T14:00:05Z", "duration_ms": 5000,
            "tcp_connect_ms": 10, "tls_handshake_ms": null, "tls_version": null,
            "tls_alert": null, "bytes_from_client": 517, "bytes_from_server": 1448,
            "retransmits_from_client": 3, "closed_by": "none", "close": "timeout",
            "auth": "unknown", "verdict": "upstream-unreachable",
            "credentials": "not-at-fault", "evidence": []
        }))
        .unwrap();
        e.session = Some(view);
        e
    }

    #[test]
    fn a_flood_of_half_open_sessions_from_many_addresses_keeps_the_answered_verdicts() {
        let mut history = History::new(100);
        history.push(event(1, 1, EventKind::SessionFailed, Some("192.168.1.2")));
        for id in 2..=10_000u64 {
            let spoofed = format!("10.{}.{}.{}", id >> 16, (id >> 8) & 0xff, id & 0xff);
            history.push(unanswered_session(id, &spoofed));
        }
        history.push(event(
            10_001,
            10_001,
            EventKind::SessionOk,
            Some("192.168.1.2"),
        ));
        let ids: Vec<u64> = history.iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), 100);
        assert_eq!(
            ids[0], 1,
            "the answered session's verdict outlives the flood"
        );
        assert_eq!(*ids.last().unwrap(), 10_001);
        assert!(
            history.by_client.len() <= 100,
            "the per-client index follows the kept events: {}",
            history.by_client.len()
        );
        assert!(history.unanswered.len() <= 2 * history.len() + 64);
    }
}
