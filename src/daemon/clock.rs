//! The daemon's only clock: wall time, stamped on what it observes. The engine never reads it.

use std::time::{SystemTime, UNIX_EPOCH};

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
