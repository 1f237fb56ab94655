//! IMAP lines (RFC 9051 / RFC 3501): server status responses with RFC 5530 response codes,
//! and the client commands that matter for logins and STARTTLS.

use super::line::{bracket_code, word};

/// The status word of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    Preauth,
    Bye,
}

/// Who a response line is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag<'a> {
    /// `*`
    Untagged,
    /// `+` (a continuation request, e.g. during AUTHENTICATE).
    Continuation,
    Tagged(&'a [u8]),
}

/// An RFC 5530 (and RFC 9051 §7.1) response code, or another one kept as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseCode<'a> {
    Alert,
    AuthenticationFailed,
    AuthorizationFailed,
    ContactAdmin,
    Expired,
    PrivacyRequired,
    Unavailable,
    Other(&'a [u8]),
}

impl<'a> ResponseCode<'a> {
    fn from_atom(atom: &'a [u8]) -> Self {
        let eq = |s: &str| atom.eq_ignore_ascii_case(s.as_bytes());
        if eq("ALERT") {
            ResponseCode::Alert
        } else if eq("AUTHENTICATIONFAILED") {
            ResponseCode::AuthenticationFailed
        } else if eq("AUTHORIZATIONFAILED") {
            ResponseCode::AuthorizationFailed
        } else if eq("CONTACTADMIN") {
            ResponseCode::ContactAdmin
        } else if eq("EXPIRED") {
            ResponseCode::Expired
        } else if eq("PRIVACYREQUIRED") {
            ResponseCode::PrivacyRequired
        } else if eq("UNAVAILABLE") {
            ResponseCode::Unavailable
        } else {
            ResponseCode::Other(atom)
        }
    }

    /// A temporary condition on the server side, not a verdict on the credentials.
    pub fn is_transient(self) -> bool {
        matches!(self, ResponseCode::Unavailable)
    }
}

/// A server line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    pub tag: Tag<'a>,
    /// `None` for continuations and untagged data (`* 3 EXISTS`, `* CAPABILITY …`).
    pub status: Option<Status>,
    pub code: Option<ResponseCode<'a>>,
    pub text: &'a [u8],
}

impl<'a> Response<'a> {
    /// Parses a server line (without CR LF). Lines that are not responses give `None`.
    pub fn parse(line: &'a [u8]) -> Option<Self> {
        let (tag, rest) = word(line);
        let tag = match tag {
            b"*" => Tag::Untagged,
            b"+" => {
                return Some(Response {
                    tag: Tag::Continuation,
                    status: None,
                    code: None,
                    text: rest,
                })
            }
            t if !t.is_empty() && t.iter().all(|b| b.is_ascii_graphic()) => Tag::Tagged(t),
            _ => return None,
        };
        let (status_word, after) = word(rest);
        let is = |s: &str| status_word.eq_ignore_ascii_case(s.as_bytes());
        let status = if is("OK") {
            Some(Status::Ok)
        } else if is("NO") {
            Some(Status::No)
        } else if is("BAD") {
            Some(Status::Bad)
        } else if is("PREAUTH") {
            Some(Status::Preauth)
        } else if is("BYE") {
            Some(Status::Bye)
        } else {
            None
        };
        let (code, text) = if status.is_some() {
            let (code, text) = bracket_code(after);
            (code.map(ResponseCode::from_atom), text)
        } else {
            (None, rest)
        };
        Some(Response {
            tag,
            status,
            code,
            text,
        })
    }
}

/// The client commands the tracker follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandKind {
    Authenticate,
    Capability,
    Login,
    Logout,
    Starttls,
    Other,
}

/// A client command line: its tag and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command<'a> {
    pub tag: &'a [u8],
    pub kind: CommandKind,
}

impl<'a> Command<'a> {
    /// Parses `tag SP command …`; `None` when the line has no tag and command.
    pub fn parse(line: &'a [u8]) -> Option<Self> {
        let (tag, rest) = word(line);
        let (name, _) = word(rest);
        if tag.is_empty() || name.is_empty() {
            return None;
        }
        let eq = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
        let kind = if eq("LOGIN") {
            CommandKind::Login
        } else if eq("AUTHENTICATE") {
            CommandKind::Authenticate
        } else if eq("STARTTLS") {
            CommandKind::Starttls
        } else if eq("LOGOUT") {
            CommandKind::Logout
        } else if eq("CAPABILITY") {
            CommandKind::Capability
        } else {
            CommandKind::Other
        };
        Some(Command { tag, kind })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5530_codes_on_tagged_responses() {
        // Gmail's and iCloud's wire strings.
        let r =
            Response::parse(b"a1 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)").unwrap();
        assert_eq!(r.tag, Tag::Tagged(b"a1"));
        assert_eq!(r.status, Some(Status::No));
        assert_eq!(r.code, Some(ResponseCode::AuthenticationFailed));
        assert_eq!(r.text, b"Invalid credentials (Failure)");
        let r =
            Response::parse(b"A0002 BAD [UNAVAILABLE] Service temporarily unavailable").unwrap();
        assert_eq!(r.status, Some(Status::Bad));
        assert!(r.code.unwrap().is_transient());
        let r = Response::parse(b"x NO [AUTHORIZATIONFAILED] no").unwrap();
        assert_eq!(r.code, Some(ResponseCode::AuthorizationFailed));
    }

    #[test]
    fn microsoft_failure_has_no_code() {
        let r = Response::parse(b"2 NO LOGIN failed.").unwrap();
        assert_eq!(r.status, Some(Status::No));
        assert_eq!(r.code, None);
        assert_eq!(r.text, b"LOGIN failed.");
    }

    #[test]
    fn untagged_and_continuation() {
        let r = Response::parse(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.").unwrap();
        assert_eq!(r.tag, Tag::Untagged);
        assert_eq!(r.status, Some(Status::Ok));
        assert_eq!(r.code, Some(ResponseCode::Other(b"CAPABILITY")));
        let r = Response::parse(b"+ ").unwrap();
        assert_eq!(r.tag, Tag::Continuation);
        let r = Response::parse(b"* 18 EXISTS").unwrap();
        assert_eq!(r.status, None);
        assert_eq!(Response::parse(b""), None);
    }

    #[test]
    fn client_commands() {
        let c = Command::parse(b"a001 login alice secret").unwrap();
        assert_eq!(c.tag, b"a001");
        assert_eq!(c.kind, CommandKind::Login);
        assert_eq!(
            Command::parse(b"A2 AUTHENTICATE PLAIN").unwrap().kind,
            CommandKind::Authenticate
        );
        assert_eq!(
            Command::parse(b"t STARTTLS").unwrap().kind,
            CommandKind::Starttls
        );
        assert_eq!(
            Command::parse(b"t LOGOUT").unwrap().kind,
            CommandKind::Logout
        );
        assert_eq!(
            Command::parse(b"t CAPABILITY").unwrap().kind,
            CommandKind::Capability
        );
        assert_eq!(Command::parse(b"dGVzdA=="), None);
    }
}
