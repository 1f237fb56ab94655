//! Probe targets: `imaps://host[:port]` and friends (DESIGN.md, "Probe targets").

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::track::record::{Protocol, TlsMode};

/// The URL schemes a probe target may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// IMAP over implicit TLS (993).
    Imaps,
    /// IMAP, STARTTLS when the server offers it (143).
    Imap,
    /// POP3 over implicit TLS (995).
    Pop3s,
    /// POP3, STLS when the server offers it (110).
    Pop3,
    /// SMTP over implicit TLS (465).
    Smtps,
    /// Message submission with STARTTLS (587).
    Submission,
}

impl Scheme {
    /// Every scheme, in the order error messages list them.
    pub const ALL: [Scheme; 6] = [
        Scheme::Imaps,
        Scheme::Imap,
        Scheme::Pop3s,
        Scheme::Pop3,
        Scheme::Smtps,
        Scheme::Submission,
    ];

    /// The scheme as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Imaps => "imaps",
            Scheme::Imap => "imap",
            Scheme::Pop3s => "pop3s",
            Scheme::Pop3 => "pop3",
            Scheme::Smtps => "smtps",
            Scheme::Submission => "submission",
        }
    }

    /// The IANA port of the service (RFC 8314 for the implicit-TLS ones, RFC 6409 for 587).
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Imaps => 993,
            Scheme::Imap => 143,
            Scheme::Pop3s => 995,
            Scheme::Pop3 => 110,
            Scheme::Smtps => 465,
            Scheme::Submission => 587,
        }
    }

    /// The mail protocol spoken.
    pub fn protocol(self) -> Protocol {
        match self {
            Scheme::Imaps | Scheme::Imap => Protocol::Imap,
            Scheme::Pop3s | Scheme::Pop3 => Protocol::Pop3,
            Scheme::Smtps | Scheme::Submission => Protocol::Smtp,
        }
    }

    /// Implicit TLS, or plaintext upgraded with STARTTLS/STLS when the server offers it.
    pub fn tls(self) -> TlsMode {
        match self {
            Scheme::Imaps | Scheme::Pop3s | Scheme::Smtps => TlsMode::Implicit,
            Scheme::Imap | Scheme::Pop3 | Scheme::Submission => TlsMode::Starttls,
        }
    }

    fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One probe target, parsed and checked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub scheme: Scheme,
    /// A DNS name (lower case) or an IP address (without brackets).
    pub host: String,
    pub port: u16,
    /// The URL as configured (trimmed), used to name the target in status and metrics.
    pub url: String,
}

/// Why a target URL was refused; the text says what is wrong in plain words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetError(pub String);

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

fn schemes_list() -> String {
    Scheme::ALL
        .iter()
        .map(|s| format!("{s}://"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Target {
    /// Parses `scheme://host[:port][/]`. No user name, password, path or query: a probe never
    /// carries credentials.
    pub fn parse(text: &str) -> Result<Target, TargetError> {
        let url = text.trim();
        let fail = |why: String| Err(TargetError(format!("invalid probe target {url:?}: {why}")));
        let Some((scheme_text, rest)) = url.split_once("://") else {
            return fail(format!("expected scheme://host, one of {}", schemes_list()));
        };
        let Some(scheme) = Scheme::from_name(scheme_text) else {
            return fail(format!(
                "unknown scheme {scheme_text:?}; expected one of {}",
                schemes_list()
            ));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('@') {
            return fail("user names and passwords do not belong in a probe target".into());
        }
        if authority.contains(['/', '?', '#']) {
            return fail("a probe target has no path, query or fragment".into());
        }
        let (host, port_text) = split_host_port(authority)
            .map_err(|why| TargetError(format!("invalid probe target {url:?}: {why}")))?;
        let port = match port_text {
            None => scheme.default_port(),
            Some(p) => match p.parse::<u16>() {
                Ok(port) if port != 0 => port,
                _ => return fail(format!("port {p:?} is not a number from 1 to 65535")),
            },
        };
        let host = if let Ok(ip) = host.parse::<IpAddr>() {
            ip.to_string()
        } else if is_dns_name(host) {
            host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
        } else if host.is_empty() {
            return fail("the host is missing".into());
        } else {
            return fail(format!("{host:?} is not a host name or IP address"));
        };
        Ok(Target {
            scheme,
            host,
            port,
            url: url.to_string(),
        })
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err("unclosed '[' around an IPv6 address".into());
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{host:?} in brackets is not an IPv6 address"));
        }
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("unexpected {after:?} after the IPv6 address")),
            },
        };
    }
    match authority.matches(':').count() {
        0 => Ok((authority, None)),
        1 => {
            let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
            Ok((host, Some(port)))
        }
        _ => Err("an IPv6 address must be written in brackets, e.g. imaps://[2001:db8::1]".into()),
    }
}

/// RFC 1123 host names: dot-separated labels of letters, digits, hyphens (and underscores,
/// which real mail hosts' CNAME chains use), 1-63 bytes each, not starting or ending with a
/// hyphen; 253 bytes at most; a trailing dot is allowed. All digits and dots is a mistyped
/// address, not a name. The same rules as `mailpulse probe` applies to its URL.
fn is_dns_name(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host);
    !name.is_empty()
        && !name.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl FromStr for Target {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::parse(s)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.url)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Target::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> (Scheme, String, u16) {
        let t = Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        (t.scheme, t.host, t.port)
    }

    #[test]
    fn default_ports_are_the_iana_ones() {
        assert_eq!(
            ok("imaps://imap.gmail.com"),
            (Scheme::Imaps, "imap.gmail.com".into(), 993)
        );
        assert_eq!(
            ok("imap://mail.example"),
            (Scheme::Imap, "mail.example".into(), 143)
        );
        assert_eq!(
            ok("pop3s://outlook.office365.com"),
            (Scheme::Pop3s, "outlook.office365.com".into(), 995)
        );
        assert_eq!(
            ok("pop3://mail.example/"),
            (Scheme::Pop3, "mail.example".into(), 110)
        );
        assert_eq!(
            ok("smtps://smtp.example"),
            (Scheme::Smtps, "smtp.example".into(), 465)
        );
        assert_eq!(
            ok("submission://smtp.example"),
            (Scheme::Submission, "smtp.example".into(), 587)
        );
    }

    #[test]
    fn explicit_ports_and_addresses() {
        assert_eq!(
            ok("imaps://Mail.Example:10993"),
            (Scheme::Imaps, "mail.example".into(), 10993)
        );
        assert_eq!(
            ok("imaps://192.0.2.7"),
            (Scheme::Imaps, "192.0.2.7".into(), 993)
        );
        assert_eq!(
            ok("imaps://[2001:db8::1]:994"),
            (Scheme::Imaps, "2001:db8::1".into(), 994)
        );
        assert_eq!(ok("IMAPS://[::1]"), (Scheme::Imaps, "::1".into(), 993));
        assert_eq!(
            ok("imaps://mail.example."),
            (Scheme::Imaps, "mail.example".into(), 993)
        );
        assert_eq!(
            ok("imaps://_imaps.example"),
            (Scheme::Imaps, "_imaps.example".into(), 993)
        );
    }

    #[test]
    fn refusals_say_why() {
        let err = |url: &str| Target::parse(url).unwrap_err().0;
        assert!(err("https://example.com").contains("unknown scheme \"https\""));
        assert!(err("imap.gmail.com").contains("expected scheme://host"));
        assert!(err("imaps://user:pw@imap.gmail.com").contains("passwords"));
        assert!(err("imaps://imap.gmail.com:0").contains("port \"0\""));
        assert!(err("imaps://imap.gmail.com:99999").contains("port \"99999\""));
        assert!(err("imaps://imap.gmail.com/INBOX").contains("no path"));
        assert!(err("imaps://2001:db8::1").contains("brackets"));
        assert!(err("imaps://").contains("host is missing"));
        assert!(err("imaps://bad_host!").contains("not a host name"));
        assert!(err("imaps://-bad.example").contains("not a host name"));
        assert!(err("imaps://999.1.1.1").contains("not a host name"));
        assert!(err("imaps://a..example").contains("not a host name"));
    }

    #[test]
    fn scheme_implies_protocol_and_tls() {
        assert_eq!(Scheme::Pop3s.protocol(), Protocol::Pop3);
        assert_eq!(Scheme::Submission.tls(), TlsMode::Starttls);
        assert_eq!(Scheme::Smtps.tls(), TlsMode::Implicit);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused_without_panicking(text in "\\PC{0,64}") {
            let _ = Target::parse(&text);
        }

        #[test]
        fn well_formed_urls_keep_host_and_port(
            host in "[a-z]([a-z0-9-]{0,18}[a-z0-9])?(\\.[a-z][a-z0-9]{0,10}){1,3}",
            port in 1u16..,
        ) {
            let t = Target::parse(&format!("submission://{host}:{port}")).unwrap();
            prop_assert_eq!(t.host, host);
            prop_assert_eq!(t.port, port);
            prop_assert_eq!(t.scheme, Scheme::Submission);
        }
    }
}
