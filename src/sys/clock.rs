//! The wall clock and the local time zone, for the edges (the daemon, the command line, the
//! probes, captures without a kernel timestamp). The engine ([`crate::diagnose`],
//! [`crate::track`]) never calls this: it is handed the time of what it observes.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, FixedOffset, TimeZone};

use crate::time::Timestamp;

/// Now, as a wall-clock timestamp (the Unix epoch if the clock is set before it).
pub fn now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_unix(
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        since.subsec_nanos(),
    )
}

/// `time` in the process's time zone (TZ, else /etc/localtime; see tzset(3)).
pub fn local_time(time: Timestamp) -> DateTime<FixedOffset> {
    let utc = chrono::DateTime::from_timestamp_nanos(time.unix_nanos());
    chrono::Local
        .from_utc_datetime(&utc.naive_utc())
        .fixed_offset()
}

/// `2026-11-22 15:03:12`: `time` as people read it on this host, in the local time zone.
pub fn local_text(time: Timestamp) -> String {
    local_time(time).format("%Y-%m-%d %H:%M:%S").to_string()
}
