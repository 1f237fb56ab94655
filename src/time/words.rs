//! Durations in words, as mailpulse writes them for people: "39 s", "8.2 s", "300 ms",
//! "4 min 10 s". The one place these spellings are made, so a status line, a probe report and
//! an event sentence say a duration the same way.

use std::time::Duration;

/// Whole seconds, rounded to the nearest: "39 s".
pub fn secs(d: Duration) -> String {
    format!("{} s", (d.as_millis().saturating_add(500)) / 1000)
}

/// Seconds with one decimal: "8.2 s".
pub fn secs_precise(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// "10 s", "2.5 s", "300 ms": seconds from one second up, milliseconds below.
pub fn secs_or_millis(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        if d.subsec_millis() == 0 {
            format!("{} s", d.as_secs())
        } else {
            secs_precise(d)
        }
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Milliseconds with one decimal: "12.3 ms".
pub fn millis_precise(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// "29 s", "4 min 10 s", "2 h 1 min", "5 days 3 h": the two largest units, as people say it.
pub fn largest_two_units(secs: u64) -> String {
    let (days, hours, mins, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let day_word = if days == 1 { "day" } else { "days" };
    match (days, hours, mins) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) if s == 0 => format!("{mins} min"),
        (0, 0, _) => format!("{mins} min {s} s"),
        (0, _, 0) => format!("{hours} h"),
        (0, _, _) => format!("{hours} h {mins} min"),
        (_, 0, _) => format!("{days} {day_word}"),
        _ => format!("{days} {day_word} {hours} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_or_keep_one_decimal() {
        assert_eq!(secs(Duration::from_millis(38_500)), "39 s");
        assert_eq!(secs(Duration::from_millis(38_499)), "38 s");
        assert_eq!(secs_precise(Duration::from_millis(8_240)), "8.2 s");
        assert_eq!(millis_precise(Duration::from_micros(12_340)), "12.3 ms");
    }

    #[test]
    fn probe_durations_read_plainly() {
        assert_eq!(secs_or_millis(Duration::from_secs(10)), "10 s");
        assert_eq!(secs_or_millis(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(secs_or_millis(Duration::from_millis(300)), "300 ms");
    }

    #[test]
    fn long_durations_in_the_two_largest_units() {
        assert_eq!(largest_two_units(29), "29 s");
        assert_eq!(largest_two_units(60), "1 min");
        assert_eq!(largest_two_units(250), "4 min 10 s");
        assert_eq!(largest_two_units(7260), "2 h 1 min");
        assert_eq!(largest_two_units(7200), "2 h");
        assert_eq!(largest_two_units(432_000), "5 days");
        assert_eq!(largest_two_units(86_400 + 3 * 3600 + 5), "1 day 3 h");
    }
}
