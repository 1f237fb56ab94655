//! The DNS events told lately, so that a client retrying a name that keeps failing makes one
//! event (which counts the tries, see `Clients::dns_repeated`), not one per try. Lookups are by key (a busy resolver fails many names for many
//! clients at once); age order is kept beside them for expiry and the size cap.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use super::event::EventKind;
use crate::time::Timestamp;

/// Which client, which name, what happened.
pub type DnsKey = (IpAddr, String, EventKind);

#[derive(Debug, Default)]
pub struct DnsRepeats {
    /// Every remembered event, oldest first.
    order: VecDeque<(DnsKey, Timestamp)>,
    /// The latest time each key was told, and the event that told it.
    latest: HashMap<DnsKey, (Timestamp, u64)>,
}

impl DnsRepeats {
    /// The event that told `key` less than `span` before `now`, if one did.
    pub fn told_within(&self, key: &DnsKey, now: Timestamp, span: Duration) -> Option<u64> {
        self.latest
            .get(key)
            .filter(|(at, _)| now.saturating_since(*at) < span)
            .map(|(_, event_id)| *event_id)
    }

    /// Remembers that event `event_id` told `key` at `at`, dropping the oldest entry beyond
    /// `cap`.
    pub fn remember(&mut self, key: DnsKey, at: Timestamp, event_id: u64, cap: usize) {
        while self.order.len() >= cap.max(1) {
            self.pop_oldest();
        }
        self.latest.insert(key.clone(), (at, event_id));
        self.order.push_back((key, at));
    }

    /// Forgets what was told `span` or longer before `now`.
    pub fn forget_older_than(&mut self, now: Timestamp, span: Duration) {
        while self
            .order
            .front()
            .is_some_and(|(_, at)| now.saturating_since(*at) >= span)
        {
            self.pop_oldest();
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.order.len()
    }

    fn pop_oldest(&mut self) {
        if let Some((key, at)) = self.order.pop_front() {
            // A key told again later has a newer entry further back; keep its time.
            if self
                .latest
                .get(&key)
                .is_some_and(|(latest, _)| *latest == at)
            {
                self.latest.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(client: &str, name: &str) -> DnsKey {
        (
            client.parse().unwrap(),
            name.to_string(),
            EventKind::DnsFailure,
        )
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix(1_800_000_000 + secs, 0)
    }

    const SPAN: Duration = Duration::from_secs(10);

    #[test]
    fn a_key_counts_as_told_for_the_span_only() {
        let mut recent = DnsRepeats::default();
        recent.remember(key("192.168.1.5", "imap.example"), at(0), 7, 8);
        assert_eq!(
            recent.told_within(&key("192.168.1.5", "imap.example"), at(9), SPAN),
            Some(7)
        );
        assert!(recent
            .told_within(&key("192.168.1.5", "imap.example"), at(10), SPAN)
            .is_none());
        assert!(recent
            .told_within(&key("192.168.1.6", "imap.example"), at(1), SPAN)
            .is_none());
        assert!(recent
            .told_within(&key("192.168.1.5", "smtp.example"), at(1), SPAN)
            .is_none());
    }

    #[test]
    fn expiry_and_the_cap_keep_the_newer_time_of_a_key_told_twice() {
        let mut recent = DnsRepeats::default();
        let k = key("192.168.1.5", "imap.example");
        recent.remember(k.clone(), at(0), 1, 3);
        recent.remember(k.clone(), at(12), 2, 3);
        recent.forget_older_than(at(14), SPAN);
        assert_eq!(recent.len(), 1);
        assert_eq!(
            recent.told_within(&k, at(14), SPAN),
            Some(2),
            "the later entry stays"
        );
        for (i, name) in ["a.example", "b.example", "c.example"].iter().enumerate() {
            recent.remember(key("192.168.1.7", name), at(15 + i as i64), 3 + i as u64, 3);
        }
        assert_eq!(recent.len(), 3);
        assert!(
            recent.told_within(&k, at(18), SPAN).is_none(),
            "pushed out by the cap"
        );
        assert_eq!(recent.latest.len(), 3);
    }
}
