//! The parse error: small, `Copy`, with a reason a monitor can count.

use std::fmt;

/// Why bytes did not parse. The `&'static str` names the structure at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer ends before the named structure does.
    Truncated(&'static str),
    /// A length field disagrees with itself or with the bytes present.
    BadLength(&'static str),
    /// A field holds a value the protocol does not allow.
    Malformed(&'static str),
    /// Well-formed, but not something this parser follows (another ethertype, a later
    /// fragment, an unknown address family).
    Unsupported(&'static str),
    /// A well-formed frame that carries no IP at all (ARP, spanning tree, LLDP, PPP link
    /// control): nothing a mail session could be in, so not counted as damage.
    NotIp(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated(w) => write!(f, "{w}: truncated"),
            Error::BadLength(w) => write!(f, "{w}: bad length"),
            Error::Malformed(w) => write!(f, "{w}: malformed"),
            Error::Unsupported(w) => write!(f, "{w}: unsupported"),
            Error::NotIp(w) => write!(f, "{w}: not IP"),
        }
    }
}

impl std::error::Error for Error {}
