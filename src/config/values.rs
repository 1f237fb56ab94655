//! Typed configuration values that only deserialize when legal: durations, byte sizes, syslog
//! facilities, log levels, syslog formats.

use std::fmt;

pub use crate::report::syslog::{Facility, SyslogFormat};
pub(crate) use crate::text::named_enum;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Deserializes `"30s"`, `"5m"`, `"1h 30m"` (humantime) into a `Duration`.
pub fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// Parses a human duration; the error names the value and shows the expected form.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!("invalid duration {text:?}: must be more than zero")),
        Err(_) => Err(format!(
            "invalid duration {text:?} (expected a number and a unit, e.g. \"30s\", \"5m\" or \"1h 30m\")"
        )),
    }
}

/// A size in bytes, written `"16MB"`, `"512KiB"`, `"1GB"` or as a plain integer.
/// `KB`/`MB`/`GB` are powers of 1000 and `KiB`/`MiB`/`GiB` powers of 1024 (IEC 80000-13).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses a size; the error names the value.
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let unit = unit.trim();
        let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            _ => {
                return Err(format!(
                    "invalid size {text:?}: unknown unit {unit:?} (expected B, KB, KiB, MB, MiB, GB or GiB)"
                ))
            }
        };
        let number: u64 = digits.parse().map_err(|_| {
            format!("invalid size {text:?}: expected a whole number and a unit, e.g. \"16MB\"")
        })?;
        number
            .checked_mul(multiplier)
            .map(ByteSize)
            .ok_or_else(|| format!("invalid size {text:?}: too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}B", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(t) => ByteSize::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

named_enum!(
    /// How much the daemon says about itself (events are always reported).
    LogLevel, "log level", {
    Error = "error", Warn = "warn", Info = "info", Debug = "debug", Trace = "trace",
});

impl LogLevel {
    /// Whether a message of `severity` about the daemon itself is logged at this level
    /// (events are always reported, whatever the level).
    pub fn allows(self, severity: crate::diagnose::event::Severity) -> bool {
        use crate::diagnose::event::Severity;
        let needed = match severity {
            Severity::Err => LogLevel::Error,
            Severity::Warning => LogLevel::Warn,
            Severity::Notice | Severity::Info => LogLevel::Info,
            Severity::Debug => LogLevel::Debug,
        };
        self.rank() >= needed.rank()
    }

    fn rank(self) -> u8 {
        match self {
            LogLevel::Error => 0,
            LogLevel::Warn => 1,
            LogLevel::Info => 2,
            LogLevel::Debug => 3,
            LogLevel::Trace => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("30").unwrap_err().contains("\"30\""));
        assert!(parse_duration("thirty seconds").is_err());
        assert!(parse_duration("0s").unwrap_err().contains("more than zero"));
    }

    #[test]
    fn sizes_use_si_and_iec_units() {
        assert_eq!(ByteSize::parse("16MB"), Ok(ByteSize(16_000_000)));
        assert_eq!(ByteSize::parse("16 MiB"), Ok(ByteSize(16 * 1024 * 1024)));
        assert_eq!(ByteSize::parse("512KiB"), Ok(ByteSize(524_288)));
        assert_eq!(ByteSize::parse("4096"), Ok(ByteSize(4096)));
        assert!(ByteSize::parse("16XB")
            .unwrap_err()
            .contains("unknown unit \"XB\""));
        assert!(ByteSize::parse("MB").is_err());
        assert!(ByteSize::parse("99999999999999999999GB").is_err());
    }

    #[test]
    fn facilities_have_rfc5424_codes() {
        assert_eq!(Facility::parse("daemon").map(Facility::code), Ok(3));
        assert_eq!(Facility::parse("mail").map(Facility::code), Ok(2));
        assert_eq!(Facility::parse("local7").map(Facility::code), Ok(23));
        let err = Facility::parse("deamon").unwrap_err();
        assert!(
            err.starts_with("invalid syslog facility \"deamon\"; expected one of kern, user"),
            "{err}"
        );
    }

    #[test]
    fn log_level_filters_by_severity() {
        use crate::diagnose::event::Severity;
        assert!(LogLevel::Error.allows(Severity::Err));
        assert!(!LogLevel::Error.allows(Severity::Warning));
        assert!(LogLevel::Warn.allows(Severity::Warning));
        assert!(!LogLevel::Warn.allows(Severity::Notice));
        assert!(LogLevel::Info.allows(Severity::Notice));
        assert!(!LogLevel::Info.allows(Severity::Debug));
        assert!(LogLevel::Debug.allows(Severity::Debug));
        assert!(LogLevel::Trace.allows(Severity::Debug));
    }

    #[test]
    fn log_levels() {
        assert_eq!(LogLevel::parse("debug"), Ok(LogLevel::Debug));
        assert!(LogLevel::parse("verbose")
            .unwrap_err()
            .contains("error, warn, info, debug, trace"));
    }
}
