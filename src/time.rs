//! Wall-clock instants as data. Nothing here reads a clock: time enters the engine with each
//! observation, stamped by the capture or by the daemon.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) mod words;

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
        self.rfc3339().as_str().to_string()
    }

    /// The UTC time of day, `HH:MM:SS` (seconds truncated).
    pub fn utc_hms(self) -> String {
        self.rfc3339()
            .as_str()
            .get(11..19)
            .unwrap_or_default()
            .to_string()
    }

    /// [`Self::to_rfc3339`] without allocating: every JSON line carries several of these, and
    /// a general date formatter was a measurable share of replaying a busy capture.
    /// Milliseconds are truncated, not rounded, so a time never moves into the next second.
    fn rfc3339(self) -> Rfc3339 {
        let secs = self.0.div_euclid(1_000_000_000);
        let millis = self.0.rem_euclid(1_000_000_000) / 1_000_000;
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let of_day = secs.rem_euclid(86_400);
        let mut out = *b"0000-00-00T00:00:00.000Z";
        put_digits(&mut out[0..4], year);
        put_digits(&mut out[5..7], month);
        put_digits(&mut out[8..10], day);
        put_digits(&mut out[11..13], of_day / 3600);
        put_digits(&mut out[14..16], of_day / 60 % 60);
        put_digits(&mut out[17..19], of_day % 60);
        put_digits(&mut out[20..23], millis);
        Rfc3339(out)
    }

    /// Parses any RFC 3339 timestamp (any offset); `None` when it is not one.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let dt = chrono::DateTime::parse_from_rfc3339(text.trim()).ok()?;
        dt.timestamp_nanos_opt().map(Self)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`. An `i64` of nanoseconds spans the years 1677 to 2262, so
/// the year always has four digits.
struct Rfc3339([u8; 24]);

impl Rfc3339 {
    fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Writes `value` as decimal digits filling `out`, zero-padded (higher digits dropped).
fn put_digits(out: &mut [u8], mut value: i64) {
    for byte in out.iter_mut().rev() {
        *byte = b'0' + value.rem_euclid(10) as u8;
        value = value.div_euclid(10);
    }
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01
/// (H. Hinnant's `civil_from_days`, exact for the whole `i64` nanosecond range).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rfc3339().as_str())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.rfc3339().as_str())
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

    /// The hand-written formatter against chrono's, over the whole range, the epoch's
    /// neighbourhood, leap days and century years, and a spread of pseudo-random instants.
    #[test]
    fn rfc3339_text_matches_chrono_everywhere() {
        let chrono_text = |nanos: i64| {
            chrono::DateTime::from_timestamp_nanos(nanos)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let day = 86_400 * 1_000_000_000i64;
        let mut instants = vec![
            i64::MIN,
            i64::MAX,
            0,
            -1,
            1,
            -999_999,
            -1_000_000,
            951_782_400 * 1_000_000_000,    // 2000-02-29
            951_868_799_999_999_999,        // 2000-02-29T23:59:59.999999999
            -2_203_891_200 * 1_000_000_000, // 1900-03-01 (1900 is no leap year)
            4_107_542_400 * 1_000_000_000,  // 2100-03-01
            1_795_000_000 * 1_000_000_000 + 123_456_789,
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            instants.push(x as i64);
            instants.push((x as i64) % (100 * 365 * day));
        }
        for nanos in instants {
            let t = Timestamp::from_unix_nanos(nanos);
            let expected = chrono_text(nanos);
            assert_eq!(t.to_rfc3339(), expected, "{nanos} ns");
            assert_eq!(t.utc_hms(), expected[11..19], "{nanos} ns");
        }
    }

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
