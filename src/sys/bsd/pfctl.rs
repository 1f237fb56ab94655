//! Parses `pfctl -st` (pf's timeouts), the text fallback of the DIOCGETTIMEOUT ioctl (pfctl(8))
//!
//! pfctl.c `pfctl_show_timeouts` prints one line per timeout, `printf("%-20s %10d", name,
//! seconds)` followed by `"s"`, or by `" states"` for `adaptive.start`/`adaptive.end`; with
//! `-sa` a `TIMEOUTS:` title comes first. Anything else (warnings such as "No ALTQ support in
//! kernel", other sections, garbage) is ignored line by line.
//!
//! `set optimization` loads one of pfctl.c's `pf_hint_*` tables: `tcp.established` is 86400 s
//! for `normal`, `high-latency` and `satellite`, 18000 s (5 h) for `aggressive` and 432000 s
//! (5 days) for `conservative`; `set timeout tcp.established N` overrides any of them.

use std::time::Duration;

/// Longest name kept; pf's are at most 15 characters (`tcp.established`).
const MAX_NAME: usize = 32;
/// At most this many entries are kept (pf has about 30 timeouts).
const MAX_ENTRIES: usize = 64;

/// The unit a timeout line ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutUnit {
    Seconds,
    /// `adaptive.start`/`adaptive.end` count states, not seconds.
    States,
}

/// All timeouts `pfctl -st` printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PfTimeouts {
    pub entries: Vec<(String, u64, TimeoutUnit)>,
}

impl PfTimeouts {
    /// The value of one named timeout in seconds.
    pub fn seconds(&self, name: &str) -> Option<u64> {
        self.entries
            .iter()
            .find(|(n, _, unit)| n == name && *unit == TimeoutUnit::Seconds)
            .map(|(_, v, _)| *v)
    }

    /// The number of states for `adaptive.start`/`adaptive.end`.
    pub fn states(&self, name: &str) -> Option<u64> {
        self.entries
            .iter()
            .find(|(n, _, unit)| n == name && *unit == TimeoutUnit::States)
            .map(|(_, v, _)| *v)
    }

    /// How long pf keeps an idle established TCP state (before adaptive scaling).
    pub fn tcp_established(&self) -> Option<Duration> {
        self.seconds("tcp.established").map(Duration::from_secs)
    }

    /// Whether adaptive timeouts are on (`adaptive.end` non-zero): pf then shortens every
    /// timeout linearly as the state count goes from `adaptive.start` to `adaptive.end`.
    pub fn adaptive(&self) -> bool {
        self.states("adaptive.end").is_some_and(|end| end > 0)
    }

    /// The `set optimization` level whose table gives this `tcp.established`, if one does.
    pub fn optimization_hint(&self) -> Option<&'static str> {
        match self.seconds("tcp.established")? {
            86_400 => Some("normal"),
            18_000 => Some("aggressive"),
            432_000 => Some("conservative"),
            _ => None,
        }
    }
}

/// Parses the standard output of `pfctl -st` (or `-sa`). Never fails: unknown lines are skipped.
pub fn parse_timeouts(text: &str) -> PfTimeouts {
    let mut out = PfTimeouts::default();
    for line in text.lines() {
        if out.entries.len() >= MAX_ENTRIES {
            break;
        }
        if let Some(entry) = parse_line(line) {
            out.entries.push(entry);
        }
    }
    out
}

/// One `name   value(s| states)` line.
fn parse_line(line: &str) -> Option<(String, u64, TimeoutUnit)> {
    let mut words = line.split_whitespace();
    let name = words.next()?;
    let value = words.next()?;
    let rest: Vec<&str> = words.collect();
    let known_shape = name.contains('.') || name == "frag" || name == "interval";
    let valid_name = name.len() <= MAX_NAME
        && known_shape
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_');
    if !valid_name {
        return None;
    }
    match (value.strip_suffix('s'), rest.as_slice()) {
        (Some(seconds), []) => Some((name.to_owned(), seconds.parse().ok()?, TimeoutUnit::Seconds)),
        (None, ["states"]) => Some((name.to_owned(), value.parse().ok()?, TimeoutUnit::States)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pfctl -st` as pfctl.c `pfctl_show_timeouts` prints it (`"%-20s %10d"` then `"s"` or
    /// `" states"`), one line per pfctl_parser.c `pf_timeouts` name of FreeBSD 14, with the
    /// `pf_hint_normal` TCP values. Built from the format, not captured on a FreeBSD box.
    const DEFAULT: &str = "\
tcp.first                   120s
tcp.opening                  30s
tcp.established           86400s
tcp.closing                 900s
tcp.finwait                  45s
tcp.closed                   90s
tcp.tsdiff                   30s
sctp.first                  120s
sctp.opening                 30s
sctp.established          86400s
sctp.closing                900s
sctp.closed                  90s
udp.first                    60s
udp.single                   30s
udp.multiple                 60s
icmp.first                   20s
icmp.error                   10s
other.first                  60s
other.single                 30s
other.multiple               60s
frag                         30s
interval                     10s
adaptive.start            60000 states
adaptive.end             120000 states
src.track                     0s
";

    #[test]
    fn default_timeouts() {
        let t = parse_timeouts(DEFAULT);
        assert_eq!(t.entries.len(), 25);
        assert_eq!(t.tcp_established(), Some(Duration::from_secs(86_400)));
        assert_eq!(t.seconds("tcp.first"), Some(120));
        assert_eq!(t.seconds("frag"), Some(30));
        assert_eq!(t.states("adaptive.start"), Some(60_000));
        assert_eq!(t.seconds("adaptive.start"), None);
        assert!(t.adaptive());
        assert_eq!(t.optimization_hint(), Some("normal"));
    }

    /// `set optimization aggressive` (pfctl.c pf_hint_aggressive: 5 * 60 * 60) with
    /// `-sa`'s title and a warning line around it.
    #[test]
    fn aggressive_with_title_and_noise() {
        let text = "No ALTQ support in kernel\nALTQ related functions disabled\nTIMEOUTS:\n\
                    tcp.first                    30s\n\
                    tcp.established           18000s\n\
                    adaptive.end                  0 states\n";
        let t = parse_timeouts(text);
        assert_eq!(t.tcp_established(), Some(Duration::from_secs(18_000)));
        assert_eq!(t.optimization_hint(), Some("aggressive"));
        assert!(!t.adaptive());
    }

    /// pf_hint_conservative: 5 * 24 * 60 * 60; an explicit `set timeout` matches no table.
    #[test]
    fn conservative_and_custom() {
        let t = parse_timeouts("tcp.established          432000s\n");
        assert_eq!(t.optimization_hint(), Some("conservative"));
        let t = parse_timeouts("tcp.established            7200s\n");
        assert_eq!(t.tcp_established(), Some(Duration::from_secs(7_200)));
        assert_eq!(t.optimization_hint(), None);
    }

    #[test]
    fn garbage_yields_nothing() {
        for text in [
            "",
            "pfctl: /dev/pf: No such file or directory\n",
            "tcp.established\n",
            "tcp.established 86400\n",
            "tcp.established -5s\n",
            "tcp.established 99999999999999999999999s\n",
            "tcp.established 86400s extra\n",
            "TCP.ESTABLISHED 86400s\n",
            "\u{0}\u{fffd}\n\n   \t\n",
        ] {
            assert_eq!(parse_timeouts(text).tcp_established(), None, "{text:?}");
        }
    }

    #[test]
    fn entries_are_bounded() {
        let text = "a.b 1s\n".repeat(10_000);
        assert_eq!(parse_timeouts(&text).entries.len(), MAX_ENTRIES);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,400}") {
            let _ = parse_timeouts(&text).tcp_established();
        }
    }
}
