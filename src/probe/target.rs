//! Probe targets: `imaps://host[:port]` and friends (mailpulse(8), "Probe targets").

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::observe::record::Protocol;

/// The URL schemes a probe understands, each implying a protocol, a TLS mode and a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// IMAP over TLS from the first byte (993).
    Imaps,
    /// IMAP in plaintext, upgraded with STARTTLS when the server offers it (143).
    Imap,
    /// POP3 over TLS from the first byte (995).
    Pop3s,
    /// POP3 in plaintext, upgraded with STLS when the server offers it (110).
    Pop3,
    /// SMTP over TLS from the first byte (465).
    Smtps,
    /// SMTP submission; STARTTLS is required (587).
    Submission,
}

/// What the probe does about TLS on a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsPolicy {
    /// Handshake right after the TCP connect.
    Implicit,
    /// Upgrade with STARTTLS/STLS when offered, else stay in plaintext.
    StarttlsIfOffered,
    /// Upgrade with STARTTLS; a server that does not offer it fails the probe.
    StarttlsRequired,
}

impl Scheme {
    const ALL: [Scheme; 6] = [
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

    /// The port used when the URL names none.
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

    /// How TLS is used.
    pub fn tls_policy(self) -> TlsPolicy {
        match self {
            Scheme::Imaps | Scheme::Pop3s | Scheme::Smtps => TlsPolicy::Implicit,
            Scheme::Imap | Scheme::Pop3 => TlsPolicy::StarttlsIfOffered,
            Scheme::Submission => TlsPolicy::StarttlsRequired,
        }
    }

    fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

/// The host part of a target: a DNS name or an address literal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, lower-cased, without a trailing dot.
    Name(String),
    /// An IPv4 or IPv6 literal (no DNS phase runs).
    Ip(IpAddr),
}

impl fmt::Display for Host {
    /// The host as it appears in a URL: IPv6 literals in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(a)) => write!(f, "{a}"),
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
        }
    }
}

/// One probe target, parsed from a URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// What to speak and how to use TLS.
    pub scheme: Scheme,
    /// Where.
    pub host: Host,
    /// The TCP port (the scheme's default when the URL names none).
    pub port: u16,
}

/// Why a target URL was refused; each names the part at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetError {
    /// No `scheme://` at the start.
    MissingScheme {
        /// The URL as given.
        url: String,
    },
    /// A scheme this probe does not speak.
    UnknownScheme {
        /// The URL as given.
        url: String,
        /// The scheme as written.
        scheme: String,
    },
    /// Nothing between `://` and the port or end.
    EmptyHost {
        /// The URL as given.
        url: String,
    },
    /// A host that is neither a DNS name nor an address literal.
    BadHost {
        /// The URL as given.
        url: String,
        /// The host part as written.
        host: String,
    },
    /// A port that is not a number from 1 to 65535.
    BadPort {
        /// The URL as given.
        url: String,
        /// The port part as written.
        port: String,
    },
    /// `user:password@` in the URL: the probe never sends credentials.
    Credentials {
        /// The URL as given.
        url: String,
    },
    /// A path, query or fragment after the authority.
    TrailingPart {
        /// The URL as given.
        url: String,
        /// What follows the host and port.
        rest: String,
    },
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::MissingScheme { url } => write!(
                f,
                "{url:?}: no scheme; write it as imaps://host, imap://, pop3s://, pop3://, \
                 smtps:// or submission://"
            ),
            TargetError::UnknownScheme { url, scheme } => write!(
                f,
                "{url:?}: unknown scheme {scheme:?} (expected imaps, imap, pop3s, pop3, smtps \
                 or submission)"
            ),
            TargetError::EmptyHost { url } => write!(f, "{url:?}: no host name"),
            TargetError::BadHost { url, host } => write!(
                f,
                "{url:?}: bad host {host:?} (expected a DNS name, an IPv4 address or an IPv6 \
                 address in brackets)"
            ),
            TargetError::BadPort { url, port } => {
                write!(f, "{url:?}: bad port {port:?} (expected 1 to 65535)")
            }
            TargetError::Credentials { url } => write!(
                f,
                "{url:?}: user name or password in the URL; probes never log in, remove the \
                 part before '@'"
            ),
            TargetError::TrailingPart { url, rest } => write!(
                f,
                "{url:?}: unexpected {rest:?} after the host and port (no path or query is used)"
            ),
        }
    }
}

impl std::error::Error for TargetError {}

/// Longest DNS name (RFC 1035, in text form without the trailing dot).
const MAX_NAME_LEN: usize = 253;
/// Longest DNS label (RFC 1035).
const MAX_LABEL_LEN: usize = 63;

impl Target {
    /// Parses a target URL such as `imaps://imap.gmail.com` or `submission://[2001:db8::1]:2587`.
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let owned = || url.to_string();
        let text = url.trim();
        let (scheme_text, rest) = text
            .split_once("://")
            .ok_or_else(|| TargetError::MissingScheme { url: owned() })?;
        let scheme = Scheme::from_name(scheme_text).ok_or_else(|| TargetError::UnknownScheme {
            url: owned(),
            scheme: scheme_text.to_string(),
        })?;

        // The authority ends at the first '/', '?' or '#'; a lone trailing '/' is harmless.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, trailing) = rest.split_at(end);
        if !trailing.is_empty() && trailing != "/" {
            return Err(TargetError::TrailingPart {
                url: owned(),
                rest: trailing.to_string(),
            });
        }
        if authority.contains('@') {
            return Err(TargetError::Credentials { url: owned() });
        }

        let (host_text, port_text) = split_host_port(authority);
        if host_text.is_empty() {
            return Err(TargetError::EmptyHost { url: owned() });
        }
        let host = parse_host(host_text).ok_or_else(|| TargetError::BadHost {
            url: owned(),
            host: host_text.to_string(),
        })?;
        let port = match port_text {
            None => scheme.default_port(),
            Some(p) => parse_port(p).ok_or_else(|| TargetError::BadPort {
                url: owned(),
                port: p.to_string(),
            })?,
        };
        Ok(Target { scheme, host, port })
    }

    /// The mail protocol spoken.
    pub fn protocol(&self) -> Protocol {
        self.scheme.protocol()
    }

    /// The host as text for SNI, certificate checks and DNS: a name, or an address without
    /// brackets.
    pub fn host_str(&self) -> String {
        match &self.host {
            Host::Name(n) => n.clone(),
            Host::Ip(ip) => ip.to_string(),
        }
    }
}

impl fmt::Display for Target {
    /// The normalized URL: lower-case scheme and name, brackets around IPv6, and the port only
    /// when it is not the scheme's default.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Target {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::parse(s)
    }
}

/// Splits `host[:port]` or `[v6][:port]`. A bracketed host keeps its brackets so that
/// [`parse_host`] knows it was one; a bare host with more than one ':' is left whole (an
/// unbracketed IPv6 literal, refused by `parse_host`).
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        if let Some(close) = authority.find(']') {
            let (host, after) = authority.split_at(close + 1);
            return match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if after.is_empty() => (host, None),
                // Junk after the bracket: report the whole thing as the host.
                None => (authority, None),
            };
        }
        return (authority, None);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (authority, None),
    }
}

fn parse_host(text: &str) -> Option<Host> {
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner.strip_suffix(']')?;
        return inner
            .parse::<Ipv6Addr>()
            .ok()
            .map(|a| Host::Ip(IpAddr::V6(a)));
    }
    if let Ok(v4) = text.parse::<std::net::Ipv4Addr>() {
        return Some(Host::Ip(IpAddr::V4(v4)));
    }
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let all_numeric = name.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if name.is_empty() || name.len() > MAX_NAME_LEN || all_numeric {
        return None;
    }
    name.split('.').all(valid_label).then_some(Host::Name(name))
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|&p| p != 0)
}

/// Targets are written as URLs in the configuration and the JSON; a bad one is refused with
/// the reason (the configuration adds the file, line and column).
impl<'de> serde::Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        Target::parse(&text)
            .map_err(|e| serde::de::Error::custom(format!("invalid probe target {e}")))
    }
}

impl serde::Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The ports a probe may use unless `[probe] allow_any_target` is set: the mail ports (IMAPS,
/// IMAP, POP3S, POP3, SMTPS, submission, SMTP).
pub const MAIL_PORTS: [u16; 7] = [993, 143, 995, 110, 465, 587, 25];

/// Why a probe may not go to `ip` unless `[probe] allow_any_target` is set, or `None`. The
/// daemon runs as root on the router: a target must not turn its probes against services on
/// the router itself or on link-local and multicast addresses.
pub fn address_refusal(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(a) if a.is_loopback() => Some("a loopback address"),
        IpAddr::V4(a) if a.is_unspecified() => Some("the unspecified address"),
        IpAddr::V4(a) if a.is_link_local() => Some("a link-local address"),
        IpAddr::V4(a) if a.is_multicast() || a.is_broadcast() => {
            Some("a multicast or broadcast address")
        }
        IpAddr::V6(a) if a.is_loopback() => Some("a loopback address"),
        IpAddr::V6(a) if a.is_unspecified() => Some("the unspecified address"),
        IpAddr::V6(a) if a.is_unicast_link_local() => Some("a link-local address"),
        IpAddr::V6(a) if a.is_multicast() => Some("a multicast address"),
        _ => None,
    }
}

impl Target {
    /// Why this target is refused unless `[probe] allow_any_target` is set, or `None`: a port
    /// that is not a mail port, an address literal [`address_refusal`] refuses, or a name that
    /// always means the router itself (`localhost`, RFC 6761).
    pub fn refusal(&self) -> Option<String> {
        if !MAIL_PORTS.contains(&self.port) {
            return Some(format!(
                "port {} is not a mail port (993, 143, 995, 110, 465, 587, 25)",
                self.port
            ));
        }
        match &self.host {
            Host::Ip(ip) => address_refusal(*ip).map(|why| format!("{ip} is {why}")),
            Host::Name(name) if name == "localhost" || name.ends_with(".localhost") => {
                Some(format!("{name} is the router itself (a loopback name)"))
            }
            Host::Name(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> Target {
        Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn default_ports_follow_the_iana_assignments() {
        // RFC 8314 (993, 995, 465), RFC 3501 (143), RFC 1939 (110), RFC 6409 (587).
        let cases = [
            ("imaps://h", 993, Protocol::Imap, TlsPolicy::Implicit),
            (
                "imap://h",
                143,
                Protocol::Imap,
                TlsPolicy::StarttlsIfOffered,
            ),
            ("pop3s://h", 995, Protocol::Pop3, TlsPolicy::Implicit),
            (
                "pop3://h",
                110,
                Protocol::Pop3,
                TlsPolicy::StarttlsIfOffered,
            ),
            ("smtps://h", 465, Protocol::Smtp, TlsPolicy::Implicit),
            (
                "submission://h",
                587,
                Protocol::Smtp,
                TlsPolicy::StarttlsRequired,
            ),
        ];
        for (url, port, protocol, policy) in cases {
            let t = ok(url);
            assert_eq!(t.port, port, "{url}");
            assert_eq!(t.protocol(), protocol, "{url}");
            assert_eq!(t.scheme.tls_policy(), policy, "{url}");
            assert_eq!(t.host, Host::Name("h".into()));
        }
    }

    #[test]
    fn explicit_ports_and_address_literals() {
        let t = ok("imaps://127.0.0.1:10993");
        assert_eq!(t.host, Host::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(t.port, 10993);
        let t = ok("pop3://[2001:db8::1]:1110");
        assert_eq!(t.host, Host::Ip("2001:db8::1".parse().unwrap()));
        assert_eq!(t.port, 1110);
        assert_eq!(t.host_str(), "2001:db8::1");
        let t = ok("submission://[::1]");
        assert_eq!(t.port, 587);
    }

    #[test]
    fn display_is_the_normalized_url() {
        assert_eq!(
            ok("IMAPS://Outlook.Office365.COM.").to_string(),
            "imaps://outlook.office365.com"
        );
        assert_eq!(ok("imaps://h:993/").to_string(), "imaps://h");
        assert_eq!(ok("imaps://h:10993").to_string(), "imaps://h:10993");
        assert_eq!(
            ok("pop3://[2001:DB8:0::1]:1110").to_string(),
            "pop3://[2001:db8::1]:1110"
        );
        // The normalized form parses back to the same target.
        for url in [
            "smtps://[::1]:2465",
            "imap://mail.test",
            "pop3s://10.0.0.1:1",
        ] {
            let t = ok(url);
            assert_eq!(ok(&t.to_string()), t);
        }
    }

    #[test]
    fn errors_name_the_bad_part() {
        let err = |url: &str| Target::parse(url).unwrap_err();
        assert!(matches!(
            err("imap.gmail.com"),
            TargetError::MissingScheme { .. }
        ));
        assert_eq!(
            err("https://imap.gmail.com"),
            TargetError::UnknownScheme {
                url: "https://imap.gmail.com".into(),
                scheme: "https".into()
            }
        );
        assert!(err("ftp://x").to_string().contains("\"ftp\""));
        assert!(matches!(err("imaps://"), TargetError::EmptyHost { .. }));
        assert!(matches!(err("imaps://:993"), TargetError::EmptyHost { .. }));
        for (url, port) in [
            ("imaps://h:0", "0"),
            ("imaps://h:65536", "65536"),
            ("imaps://h:99a", "99a"),
            ("imaps://h:", ""),
            ("imaps://[::1]:x", "x"),
        ] {
            assert_eq!(
                err(url),
                TargetError::BadPort {
                    url: url.into(),
                    port: port.into()
                }
            );
        }
        for (url, host) in [
            ("imaps://exa mple.com", "exa mple.com"),
            ("imaps://-bad.example", "-bad.example"),
            ("imaps://a..b", "a..b"),
            ("imaps://[::1", "[::1"),
            ("imaps://[not-v6]:993", "[not-v6]"),
            ("imaps://2001:db8::1", "2001:db8::1"),
            ("imaps://999.1.1.1", "999.1.1.1"),
        ] {
            assert_eq!(
                err(url),
                TargetError::BadHost {
                    url: url.into(),
                    host: host.into()
                },
                "{url}"
            );
        }
        let long = format!("imaps://{}.com", "a".repeat(64));
        assert!(matches!(err(&long), TargetError::BadHost { .. }));
        assert!(matches!(
            err("imaps://user:pw@imap.gmail.com"),
            TargetError::Credentials { .. }
        ));
        assert_eq!(
            err("imaps://h/INBOX"),
            TargetError::TrailingPart {
                url: "imaps://h/INBOX".into(),
                rest: "/INBOX".into()
            }
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,80}") {
            let _ = Target::parse(&text);
        }

        #[test]
        fn normalized_urls_parse_back_to_the_same_target(
            scheme in proptest::sample::select(Scheme::ALL.to_vec()),
            labels in proptest::collection::vec("[a-z0-9]{1,10}", 1..4),
            port in 1u16..,
        ) {
            let url = format!("{}://{}:{port}", scheme.as_str(), labels.join("."));
            if let Ok(t) = Target::parse(&url) {
                proptest::prop_assert_eq!(t.port, port);
                proptest::prop_assert_eq!(Target::parse(&t.to_string()), Ok(t));
            }
        }
    }
}
