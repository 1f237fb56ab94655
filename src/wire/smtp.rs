//! SMTP replies (RFC 5321 §4.2, multi-line with `-`) and the client commands that log in or
//! start TLS (EHLO, AUTH per RFC 4954, STARTTLS per RFC 3207).

use super::line::word;

/// One reply line: `250-text` (more follow) or `250 text` (the last).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyLine<'a> {
    pub code: u16,
    /// This is the reply's last line.
    pub last: bool,
    pub text: &'a [u8],
}

impl<'a> ReplyLine<'a> {
    pub fn parse(line: &'a [u8]) -> Option<Self> {
        let digits = line.get(..3)?;
        if !digits.iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&digits[0]) {
            return None;
        }
        let code = digits
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        let (last, text) = match line.get(3) {
            None => (true, &[][..]),
            Some(b' ') => (true, line.get(4..).unwrap_or(&[])),
            Some(b'-') => (false, line.get(4..).unwrap_or(&[])),
            Some(_) => return None,
        };
        Some(ReplyLine { code, last, text })
    }
}

/// Reply codes with a meaning for logins (RFC 4954 §6, RFC 3207 §4).
pub mod reply {
    /// Service ready (greeting; and "ready to start TLS").
    pub const READY: u16 = 220;
    pub const AUTH_SUCCEEDED: u16 = 235;
    pub const AUTH_CONTINUE: u16 = 334;
    /// Authentication required (often: must STARTTLS first).
    pub const AUTH_REQUIRED: u16 = 530;
    /// Authentication mechanism is too weak (Gmail: application-specific password required).
    pub const MECHANISM_TOO_WEAK: u16 = 534;
    /// Authentication credentials invalid.
    pub const CREDENTIALS_INVALID: u16 = 535;
}

/// The client commands the tracker follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Auth,
    Ehlo,
    Helo,
    Quit,
    Starttls,
    Other,
}

impl Command {
    pub fn parse(line: &[u8]) -> Command {
        let (name, _) = word(line);
        let eq = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
        if eq("EHLO") {
            Command::Ehlo
        } else if eq("HELO") {
            Command::Helo
        } else if eq("AUTH") {
            Command::Auth
        } else if eq("STARTTLS") {
            Command::Starttls
        } else if eq("QUIT") {
            Command::Quit
        } else {
            Command::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_replies() {
        let first = ReplyLine::parse(b"250-smtp.example.com Hello").unwrap();
        assert_eq!((first.code, first.last), (250, false));
        let last = ReplyLine::parse(b"250 STARTTLS").unwrap();
        assert_eq!(
            (last.code, last.last, last.text),
            (250, true, &b"STARTTLS"[..])
        );
        assert_eq!(ReplyLine::parse(b"235").unwrap().code, 235);
    }

    #[test]
    fn auth_failure_replies() {
        // RFC 4954 §6 and Gmail's 534.
        let r = ReplyLine::parse(b"535 5.7.8  Authentication credentials invalid").unwrap();
        assert_eq!(r.code, reply::CREDENTIALS_INVALID);
        let r = ReplyLine::parse(b"534-5.7.9 Application-specific password required").unwrap();
        assert_eq!((r.code, r.last), (reply::MECHANISM_TOO_WEAK, false));
        assert_eq!(
            ReplyLine::parse(b"454 4.7.0 Temporary authentication failure")
                .unwrap()
                .code,
            454
        );
        assert_eq!(ReplyLine::parse(b"hello"), None);
        assert_eq!(ReplyLine::parse(b"99 x"), None);
        assert_eq!(ReplyLine::parse(b"250x"), None);
    }

    #[test]
    fn commands() {
        assert_eq!(Command::parse(b"EHLO client.example"), Command::Ehlo);
        assert_eq!(
            Command::parse(b"auth plain AGFsaWNlAHNlY3JldA=="),
            Command::Auth
        );
        assert_eq!(Command::parse(b"STARTTLS"), Command::Starttls);
        assert_eq!(Command::parse(b"MAIL FROM:<a@b>"), Command::Other);
    }
}
