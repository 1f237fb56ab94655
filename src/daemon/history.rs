//! The recent events the control socket answers from: a bounded ring, seeded from the journal
//! on start so history survives restarts.

use crate::diagnose::event::Event;
use std::collections::VecDeque;

/// The last `capacity` events, oldest first.
pub struct History {
    events: VecDeque<Event>,
    capacity: usize,
}

impl History {
    /// An empty history keeping at most `capacity` events (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            events: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
        }
    }

    /// Appends an event, dropping the oldest when full.
    pub fn push(&mut self, event: Event) {
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The id the next event should get: one past the newest kept.
    pub fn next_id(&self) -> u64 {
        self.events.back().map_or(1, |e| e.id + 1)
    }

    /// The events kept, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Event> {
        self.events.iter()
    }
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
}
