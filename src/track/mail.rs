//! Reads the plaintext part of an IMAP, POP3 or SMTP session: which command logged in (or
//! asked for STARTTLS) and what the server answered.
//!
//! A refusal that says it is not about the credentials (IMAP `[UNAVAILABLE]`, POP3
//! `[SYS/TEMP]`, `[SYS/PERM]`, `[IN-USE]`, `[LOGIN-DELAY]`, SMTP 454 and 530) is reported as
//! `AuthOutcome::Unknown` with the reply kept, so a server-side hiccup is never counted as a
//! rejected password.

use crate::observe::record::{AuthOutcome, Protocol, Side};
use crate::wire::line::{Line, LineFramer};
use crate::wire::{imap, pop3, smtp};

/// Longest line kept; longer lines are cut (RFC 5321 allows 512, IMAP lines may be longer
/// but the status part comes first).
const MAX_LINE: usize = 1024;
/// Longest reply kept as evidence.
const MAX_REPLY: usize = 200;
/// Longest IMAP tag remembered.
const MAX_TAG: usize = 32;
/// POP3/SMTP commands awaiting a reply (pipelining is rare and short).
const MAX_PENDING: usize = 8;

/// What a line changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailEvent {
    Nothing,
    /// The server accepted STARTTLS/STLS: everything after is TLS.
    StartTls,
}

/// A small copy of an IMAP tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tag {
    bytes: [u8; MAX_TAG],
    len: usize,
}

impl Tag {
    fn from(tag: &[u8]) -> Option<Tag> {
        let mut t = Tag::default();
        t.bytes.get_mut(..tag.len())?.copy_from_slice(tag);
        t.len = tag.len();
        Some(t)
    }

    fn is(&self, tag: &[u8]) -> bool {
        self.bytes.get(..self.len) == Some(tag)
    }
}

/// A POP3 or SMTP command waiting for its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Login,
    /// POP3 USER: a refusal here is a login failure too.
    User,
    StartTls,
    Other,
}

/// The plaintext reader of one session.
#[derive(Debug)]
pub struct MailTrack {
    protocol: Protocol,
    client_lines: LineFramer,
    server_lines: LineFramer,
    login_tag: Option<Tag>,
    /// The pending login is an AUTHENTICATE (a mechanism), not a LOGIN.
    login_is_authenticate: bool,
    starttls_tag: Option<Tag>,
    pending: [Pending; MAX_PENDING],
    pending_len: usize,
    greeted: bool,
    /// The server refused mail because the client had not logged in (SMTP 530, 553 "not
    /// logged in"); `auth_reply` holds the reply.
    pub login_required: bool,
    pub auth: AuthOutcome,
    pub auth_reply: Option<String>,
}

impl MailTrack {
    pub fn new(protocol: Protocol) -> Self {
        Self {
            protocol,
            client_lines: LineFramer::new(MAX_LINE),
            server_lines: LineFramer::new(MAX_LINE),
            login_tag: None,
            login_is_authenticate: false,
            starttls_tag: None,
            pending: [Pending::Other; MAX_PENDING],
            pending_len: 0,
            greeted: false,
            login_required: false,
            auth: AuthOutcome::Unknown,
            auth_reply: None,
        }
    }

    /// Feeds in-order bytes from `side`. Stops at a STARTTLS acceptance: the bytes after it
    /// (none, in a conforming session) are not lines.
    pub fn feed(&mut self, side: Side, data: &[u8]) -> MailEvent {
        // An IMAP server's lines matter only as the reply to a LOGIN or STARTTLS the client
        // sent (`imap_reply`); with none outstanding (an IDLE session's updates, say) they
        // are framed but not read.
        let awaiting_imap_reply = self.login_tag.is_some() || self.starttls_tag.is_some();
        if side == Side::Server && self.protocol == Protocol::Imap && !awaiting_imap_reply {
            self.server_lines.skip(data);
            return MailEvent::Nothing;
        }
        let mut event = MailEvent::Nothing;
        let mut framer = match side {
            Side::Client => std::mem::replace(&mut self.client_lines, LineFramer::new(0)),
            Side::Server => std::mem::replace(&mut self.server_lines, LineFramer::new(0)),
        };
        framer.push(data, |line| {
            if event == MailEvent::Nothing {
                event = match side {
                    Side::Client => {
                        self.client_line(line);
                        MailEvent::Nothing
                    }
                    Side::Server => self.server_line(line),
                };
            }
        });
        match side {
            Side::Client => self.client_lines = framer,
            Side::Server => self.server_lines = framer,
        }
        event
    }

    fn push_pending(&mut self, p: Pending) {
        if self.pending_len == MAX_PENDING {
            self.pending.rotate_left(1);
            self.pending_len -= 1;
        }
        self.pending[self.pending_len] = p;
        self.pending_len += 1;
    }

    fn pop_pending(&mut self) -> Option<Pending> {
        if self.pending_len == 0 {
            return None;
        }
        let first = self.pending[0];
        self.pending.rotate_left(1);
        self.pending_len -= 1;
        Some(first)
    }

    fn client_line(&mut self, line: Line<'_>) {
        match self.protocol {
            Protocol::Imap => {
                let Some(cmd) = imap::Command::parse(line.text) else {
                    return;
                };
                match cmd.kind {
                    imap::CommandKind::Login | imap::CommandKind::Authenticate => {
                        self.login_tag = Tag::from(cmd.tag);
                        self.login_is_authenticate = cmd.kind == imap::CommandKind::Authenticate;
                    }
                    imap::CommandKind::Starttls => self.starttls_tag = Tag::from(cmd.tag),
                    _ => {}
                }
            }
            Protocol::Pop3 => {
                let pending = match pop3::Command::parse(line.text) {
                    // A bare `AUTH` lists the mechanisms (RFC 5034): a probe, not a login.
                    pop3::Command::Auth if !has_argument(line.text) => Pending::Other,
                    pop3::Command::Pass | pop3::Command::Apop | pop3::Command::Auth => {
                        Pending::Login
                    }
                    pop3::Command::User => Pending::User,
                    pop3::Command::Stls => Pending::StartTls,
                    _ => Pending::Other,
                };
                // SASL responses during AUTH are not commands.
                if self.pending.get(..self.pending_len).and_then(|p| p.last())
                    != Some(&Pending::Login)
                    || pending != Pending::Other
                {
                    self.push_pending(pending);
                }
            }
            Protocol::Smtp => {
                let pending = match smtp::Command::parse(line.text) {
                    smtp::Command::Auth if !has_argument(line.text) => Pending::Other,
                    smtp::Command::Auth => Pending::Login,
                    smtp::Command::Starttls => Pending::StartTls,
                    _ => Pending::Other,
                };
                if self.pending.get(..self.pending_len).and_then(|p| p.last())
                    != Some(&Pending::Login)
                    || pending != Pending::Other
                {
                    self.push_pending(pending);
                }
            }
        }
    }

    fn server_line(&mut self, line: Line<'_>) -> MailEvent {
        match self.protocol {
            Protocol::Imap => self.imap_reply(line.text),
            Protocol::Pop3 => self.pop3_reply(line.text),
            Protocol::Smtp => self.smtp_reply(line.text),
        }
    }

    fn imap_reply(&mut self, text: &[u8]) -> MailEvent {
        let Some(resp) = imap::Response::parse(text) else {
            return MailEvent::Nothing;
        };
        let imap::Tag::Tagged(tag) = resp.tag else {
            return MailEvent::Nothing;
        };
        if self.login_tag.is_some_and(|t| t.is(tag)) {
            self.login_tag = None;
            // An AUTHENTICATE refused for its mechanism (a client trying what the server
            // offers) is a capability answer, not a refused password.
            let mechanism_refused = self.login_is_authenticate
                && resp.code.is_none()
                && text
                    .to_ascii_lowercase()
                    .windows(9)
                    .any(|w| w == b"mechanism");
            let outcome = match (resp.status, resp.code) {
                (Some(imap::Status::Ok), _) => AuthOutcome::Ok,
                _ if mechanism_refused => AuthOutcome::Unknown,
                (_, Some(code)) if code.is_transient() => AuthOutcome::Unknown,
                (Some(imap::Status::No), _) => AuthOutcome::Failed,
                _ => AuthOutcome::Unknown,
            };
            self.set_auth(outcome, text);
        } else if self.starttls_tag.is_some_and(|t| t.is(tag)) {
            self.starttls_tag = None;
            if resp.status == Some(imap::Status::Ok) {
                return MailEvent::StartTls;
            }
        }
        MailEvent::Nothing
    }

    fn pop3_reply(&mut self, text: &[u8]) -> MailEvent {
        let Some(resp) = pop3::Response::parse(text) else {
            return MailEvent::Nothing;
        };
        if !self.greeted {
            self.greeted = true;
            return MailEvent::Nothing;
        }
        if resp == pop3::Response::Continuation {
            return MailEvent::Nothing;
        }
        match (self.pop_pending(), resp) {
            (Some(Pending::Login), pop3::Response::Ok { .. }) => {
                self.set_auth(AuthOutcome::Ok, text)
            }
            (Some(Pending::Login | Pending::User), pop3::Response::Err { code, .. }) => {
                let outcome = if code.is_some_and(|c| c.is_not_credentials()) {
                    AuthOutcome::Unknown
                } else {
                    AuthOutcome::Failed
                };
                self.set_auth(outcome, text);
            }
            (Some(Pending::StartTls), pop3::Response::Ok { .. }) => return MailEvent::StartTls,
            _ => {}
        }
        MailEvent::Nothing
    }

    fn smtp_reply(&mut self, text: &[u8]) -> MailEvent {
        let Some(reply) = smtp::ReplyLine::parse(text) else {
            return MailEvent::Nothing;
        };
        if !reply.last {
            return MailEvent::Nothing;
        }
        if !self.greeted {
            self.greeted = true;
            return MailEvent::Nothing;
        }
        if reply.code == smtp::reply::AUTH_CONTINUE {
            return MailEvent::Nothing;
        }
        match self.pop_pending() {
            Some(Pending::Login) => {
                let outcome = match reply.code {
                    smtp::reply::AUTH_SUCCEEDED => AuthOutcome::Ok,
                    smtp::reply::CREDENTIALS_INVALID | smtp::reply::MECHANISM_TOO_WEAK => {
                        AuthOutcome::Failed
                    }
                    // "Must issue a STARTTLS command first": no password was tried.
                    smtp::reply::AUTH_REQUIRED => {
                        self.login_required = true;
                        AuthOutcome::Unknown
                    }
                    _ => AuthOutcome::Unknown,
                };
                self.set_auth(outcome, text);
            }
            Some(Pending::StartTls) if reply.code == smtp::reply::READY => {
                return MailEvent::StartTls
            }
            // Mail refused because the client has not logged in (or not secured the session
            // first): no password was tried, so the outcome stays unknown; the reply is kept
            // for the verdict's evidence.
            _ if self.auth == AuthOutcome::Unknown && needs_login(reply.code, text) => {
                self.login_required = true;
                self.auth_reply = Some(printable(text));
            }
            _ => {}
        }
        MailEvent::Nothing
    }

    /// The client is securing the session: whatever was refused in the clear (a mechanism
    /// probe, plaintext logins disallowed) is not the answer to the login that follows inside
    /// TLS.
    pub fn forget_cleartext_refusal(&mut self) {
        if self.auth == AuthOutcome::Failed {
            self.auth = AuthOutcome::Unknown;
            self.auth_reply = None;
        }
    }

    fn set_auth(&mut self, outcome: AuthOutcome, reply: &[u8]) {
        // The last login attempt decides (a client may retry after a failure).
        self.auth = outcome;
        self.auth_reply = Some(printable(reply));
    }
}

/// The reply as printable text, trimmed and bounded.
/// Whether a command line carries an argument after its verb.
fn has_argument(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    line.iter().position(|b| *b == b' ').is_some_and(|i| {
        line.get(i..)
            .is_some_and(|rest| !rest.trim_ascii().is_empty())
    })
}

/// An SMTP refusal that says the client must log in (or start TLS) first: 530 (RFC 4954
/// "Authentication required", also "Must issue a STARTTLS command first"), or 553 saying the
/// sender is refused because the client is "not logged in" (Postfix, Exim).
fn needs_login(code: u16, text: &[u8]) -> bool {
    let lower = text.to_ascii_lowercase();
    let says = |what: &[u8]| lower.windows(what.len()).any(|w| w == what);
    code == smtp::reply::AUTH_REQUIRED || (code == 553 && says(b"not logged in"))
}

fn printable(line: &[u8]) -> String {
    let line = line.get(..MAX_REPLY).unwrap_or(line);
    crate::text::clean(line.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_login_failure_with_rfc5530_code() {
        let mut m = MailTrack::new(Protocol::Imap);
        m.feed(
            Side::Server,
            b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n",
        );
        m.feed(Side::Client, b"a1 LOGIN alice wrong\r\n");
        m.feed(
            Side::Server,
            b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
        );
        assert_eq!(m.auth, AuthOutcome::Failed);
        assert_eq!(
            m.auth_reply.as_deref(),
            Some("a1 NO [AUTHENTICATIONFAILED] Authentication failed.")
        );
    }

    #[test]
    fn imap_unavailable_is_not_a_rejected_password() {
        let mut m = MailTrack::new(Protocol::Imap);
        m.feed(Side::Client, b"A1 LOGIN a b\r\n");
        m.feed(
            Side::Server,
            b"A1 BAD [UNAVAILABLE] Service temporarily unavailable\r\n",
        );
        assert_eq!(m.auth, AuthOutcome::Unknown);
        assert!(m.auth_reply.is_some());
    }

    #[test]
    fn imap_starttls_declined_then_accepted() {
        let mut m = MailTrack::new(Protocol::Imap);
        m.feed(Side::Client, b"s1 STARTTLS\r\n");
        assert_eq!(
            m.feed(Side::Server, b"s1 BAD not now\r\n"),
            MailEvent::Nothing
        );
        m.feed(Side::Client, b"s2 STARTTLS\r\n");
        assert_eq!(
            m.feed(Side::Server, b"s2 OK Begin TLS negotiation now.\r\n"),
            MailEvent::StartTls
        );
    }

    #[test]
    fn pop3_auth_and_sys_temp() {
        let mut m = MailTrack::new(Protocol::Pop3);
        m.feed(Side::Server, b"+OK Dovecot ready.\r\n");
        m.feed(Side::Client, b"USER alice\r\n");
        m.feed(Side::Server, b"+OK\r\n");
        m.feed(Side::Client, b"PASS wrong\r\n");
        m.feed(Side::Server, b"-ERR [AUTH] Authentication failed.\r\n");
        assert_eq!(m.auth, AuthOutcome::Failed);
        m.feed(Side::Client, b"PASS again\r\n");
        m.feed(Side::Server, b"-ERR [SYS/TEMP] try later\r\n");
        assert_eq!(m.auth, AuthOutcome::Unknown);
        m.feed(Side::Client, b"PASS right\r\n");
        m.feed(Side::Server, b"+OK Logged in.\r\n");
        assert_eq!(m.auth, AuthOutcome::Ok);
    }

    #[test]
    fn smtp_auth_multiline_and_starttls() {
        let mut m = MailTrack::new(Protocol::Smtp);
        m.feed(Side::Server, b"220 mx ESMTP\r\n");
        m.feed(Side::Client, b"EHLO me\r\n");
        m.feed(
            Side::Server,
            b"250-mx\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n",
        );
        m.feed(Side::Client, b"AUTH LOGIN\r\n");
        m.feed(Side::Server, b"334 VXNlcm5hbWU6\r\n");
        m.feed(Side::Client, b"YWxpY2U=\r\n");
        m.feed(Side::Server, b"334 UGFzc3dvcmQ6\r\n");
        m.feed(Side::Client, b"d3Jvbmc=\r\n");
        m.feed(
            Side::Server,
            b"535 5.7.8 Authentication credentials invalid\r\n",
        );
        assert_eq!(m.auth, AuthOutcome::Failed);
        m.feed(Side::Client, b"STARTTLS\r\n");
        assert_eq!(
            m.feed(Side::Server, b"220 2.0.0 Ready to start TLS\r\n"),
            MailEvent::StartTls
        );
    }

    #[test]
    fn a_pop3_mechanism_listing_refused_is_not_a_refused_login() {
        let mut m = MailTrack::new(Protocol::Pop3);
        m.feed(Side::Server, b"+OK Dovecot ready.\r\n");
        m.feed(Side::Client, b"AUTH\r\n");
        m.feed(Side::Server, b"-ERR Unknown command.\r\n");
        assert_eq!(m.auth, AuthOutcome::Unknown);
        m.feed(Side::Client, b"AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
        m.feed(Side::Server, b"-ERR [AUTH] Authentication failed.\r\n");
        assert_eq!(
            m.auth,
            AuthOutcome::Failed,
            "a mechanism with data is a login"
        );
    }

    #[test]
    fn a_cleartext_refusal_is_forgotten_when_the_client_starts_tls() {
        let mut m = MailTrack::new(Protocol::Pop3);
        m.feed(Side::Server, b"+OK Dovecot ready.\r\n");
        m.feed(Side::Client, b"AUTH PLAIN AGFsaWNlAHg=\r\n");
        m.feed(
            Side::Server,
            b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n",
        );
        m.feed(Side::Client, b"STLS\r\n");
        assert_eq!(
            m.feed(Side::Server, b"+OK Begin TLS negotiation now.\r\n"),
            MailEvent::StartTls
        );
        m.forget_cleartext_refusal();
        assert_eq!(m.auth, AuthOutcome::Unknown);
        assert_eq!(m.auth_reply, None);
    }

    #[test]
    fn smtp_mail_refused_for_want_of_a_login_is_kept_apart_from_a_refused_password() {
        for (command, reply) in [
            (
                &b"MAIL FROM:<a@example.org>\r\n"[..],
                &b"530 5.7.0 Must issue a STARTTLS command first\r\n"[..],
            ),
            (
                b"MAIL FROM:<a@example.org>\r\n",
                b"530 5.7.0 Authentication required\r\n",
            ),
            (
                b"RCPT TO:<b@example.net>\r\n",
                b"553 5.7.1 <a@example.org>: Sender address rejected: not logged in\r\n",
            ),
            (
                b"AUTH PLAIN AGFsaWNlAHg=\r\n",
                b"530 5.7.0 Must issue a STARTTLS command first\r\n",
            ),
        ] {
            let mut m = MailTrack::new(Protocol::Smtp);
            m.feed(Side::Server, b"220 mail.example.org ESMTP\r\n");
            m.feed(Side::Client, command);
            m.feed(Side::Server, reply);
            assert_eq!(m.auth, AuthOutcome::Unknown);
            assert!(m.login_required, "{}", String::from_utf8_lossy(reply));
            assert!(m.auth_reply.as_deref().is_some_and(|r| r.starts_with("5")));
        }
        let mut m = MailTrack::new(Protocol::Smtp);
        m.feed(Side::Server, b"220 mail.example.org ESMTP\r\n");
        m.feed(Side::Client, b"RCPT TO:<b@example.net>\r\n");
        m.feed(
            Side::Server,
            b"550 5.1.1 <b@example.net>: Recipient address rejected\r\n",
        );
        assert!(!m.login_required);
    }

    #[test]
    fn an_imap_mechanism_the_server_does_not_offer_is_not_a_refused_login() {
        let mut m = MailTrack::new(Protocol::Imap);
        m.feed(Side::Server, b"* OK Dovecot ready.\r\n");
        m.feed(Side::Client, b"a1 AUTHENTICATE CRAM-MD5\r\n");
        m.feed(
            Side::Server,
            b"a1 NO Unsupported authentication mechanism.\r\n",
        );
        assert_eq!(m.auth, AuthOutcome::Unknown);
        m.feed(Side::Client, b"a2 LOGIN alice wrong\r\n");
        m.feed(Side::Server, b"a2 NO LOGIN failed.\r\n");
        assert_eq!(
            m.auth,
            AuthOutcome::Failed,
            "a refused LOGIN without a code still counts"
        );
    }
}
