//! Wall-clock instants as data. Nothing here reads a clock: time enters the engine with each
//! observation, stamped by the capture or by the daemon.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant in UTC, in nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `nanos` nanoseconds after the Unix epoch.
    pub const fn from_unix_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    /// The instant `secs` seconds and `nanos` nanoseconds after the Unix epoch (saturating).
    pub const fn from_unix(secs: i64, nanos: u32) -> Self {
        Self(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(nanos as i64),
        )
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (rounded down).
    pub const fn unix_secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        let delta = self.0.saturating_sub(earlier.0);
        Duration::from_nanos(u64::try_from(delta).unwrap_or(0))
    }

    /// `self` moved forward by `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        let nanos = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(nanos))
    }

    /// `self` moved back by `d` (saturating).
    pub fn minus(self, d: Duration) -> Self {
        let nanos = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(nanos))
    }

    /// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-22T14:03:12.345Z`.
    pub fn to_rfc3339(self) -> String {
        let dt = chrono::DateTime::from_timestamp_nanos(self.0);
        dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// Parses any RFC 3339 timestamp (any offset); `None` when it is not one.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let dt = chrono::DateTime::parse_from_rfc3339(text.trim()).ok()?;
        dt.timestamp_nanos_opt().map(Self)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text:?}")))
    }
}

/// Serde for a `Duration` as a number of milliseconds (fractions kept), the unit the JSON
/// contract uses (`tcp_connect_ms`, `duration_ms`, …).
pub mod serde_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(ms / 1000.0).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<Duration>` (null when absent).
    pub mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            d: &Option<Duration>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Duration>, D::Error> {
            match Option::<f64>::deserialize(deserializer)? {
                Some(ms) => Duration::try_from_secs_f64(ms / 1000.0)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_keeps_milliseconds() {
        let t = Timestamp::from_unix(1_700_000_000, 123_000_000);
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            Timestamp::parse_rfc3339("2023-11-14T22:13:20.123Z"),
            Some(t)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2023-11-15T07:13:20.123+09:00"),
            Some(t)
        );
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn durations_are_milliseconds_in_json() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Phase {
            #[serde(with = "serde_millis")]
            duration_ms: Duration,
            #[serde(with = "serde_millis::option")]
            latency_ms: Option<Duration>,
        }
        let phase = Phase {
            duration_ms: Duration::from_micros(1500),
            latency_ms: None,
        };
        let json = serde_json::to_string(&phase).unwrap();
        assert_eq!(json, r#"{"duration_ms":1.5,"latency_ms":null}"#);
        assert_eq!(serde_json::from_str::<Phase>(&json).unwrap(), phase);
        assert!(serde_json::from_str::<Phase>(r#"{"duration_ms":-1,"latency_ms":null}"#).is_err());
    }

    #[test]
    fn since_saturates_instead_of_going_negative() {
        let a = Timestamp::from_unix(10, 0);
        let b = Timestamp::from_unix(12, 500_000_000);
        assert_eq!(b.saturating_since(a), Duration::from_millis(2500));
        assert_eq!(a.saturating_since(b), Duration::ZERO);
        assert_eq!(a.plus(Duration::from_millis(2500)), b);
    }
}
