//! The DNS events told lately, so that a client retrying a name that keeps failing makes one
//! event, not one per try. Lookups are by key (a busy resolver fails many names for many
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
    /// The latest time each key was told.
    latest: HashMap<DnsKey, Timestamp>,
}

impl DnsRepeats {
    /// Whether `key` was told less than `span` before `now`.
    pub fn told_within(&self, key: &DnsKey, now: Timestamp, span: Duration) -> bool {
        self.latest
            .get(key)
            .is_some_and(|at| now.saturating_since(*at) < span)
    }

    /// Remembers that `key` was told at `at`, dropping the oldest entry beyond `cap`.
    pub fn remember(&mut self, key: DnsKey, at: Timestamp, cap: usize) {
        while self.order.len() >= cap.max(1) {
            self.pop_oldest();
        }
        self.latest.insert(key.clone(), at);
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
            if self.latest.get(&key) == Some(&at) {
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
        recent.remember(key("192.168.1.5", "imap.example"), at(0), 8);
        assert!(recent.told_within(&key("192.168.1.5", "imap.example"), at(9), SPAN));
        assert!(!recent.told_within(&key("192.168.1.5", "imap.example"), at(10), SPAN));
        assert!(!recent.told_within(&key("192.168.1.6", "imap.example"), at(1), SPAN));
        assert!(!recent.told_within(&key("192.168.1.5", "smtp.example"), at(1), SPAN));
    }

    #[test]
    fn expiry_and_the_cap_keep_the_newer_time_of_a_key_told_twice() {
        let mut recent = DnsRepeats::default();
        let k = key("192.168.1.5", "imap.example");
        recent.remember(k.clone(), at(0), 3);
        recent.remember(k.clone(), at(12), 3);
        recent.forget_older_than(at(14), SPAN);
        assert_eq!(recent.len(), 1);
        assert!(
            recent.told_within(&k, at(14), SPAN),
            "the later entry stays"
        );
        for (i, name) in ["a.example", "b.example", "c.example"].iter().enumerate() {
            recent.remember(key("192.168.1.7", name), at(15 + i as i64), 3);
        }
        assert_eq!(recent.len(), 3);
        assert!(
            !recent.told_within(&k, at(18), SPAN),
            "pushed out by the cap"
        );
        assert_eq!(recent.latest.len(), 3);
    }
}
