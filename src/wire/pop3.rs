//! POP3 lines (RFC 1939): `+OK`/`-ERR` with the RFC 2449/3206 response codes, and the client
//! commands that log in or start TLS.

use super::line::{bracket_code, word};

/// An RFC 2449 / RFC 3206 response code, or another one kept as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseCode<'a> {
    /// `[AUTH]`: the credentials were refused.
    Auth,
    /// `[IN-USE]`: the maildrop is locked by another session.
    InUse,
    /// `[LOGIN-DELAY]`: logged in too soon after the last login.
    LoginDelay,
    /// `[SYS/PERM]`: a permanent server-side problem.
    SysPerm,
    /// `[SYS/TEMP]`: a temporary server-side problem.
    SysTemp,
    Other(&'a [u8]),
}

impl<'a> ResponseCode<'a> {
    fn from_atom(atom: &'a [u8]) -> Self {
        let eq = |s: &str| atom.eq_ignore_ascii_case(s.as_bytes());
        if eq("AUTH") {
            ResponseCode::Auth
        } else if eq("IN-USE") {
            ResponseCode::InUse
        } else if eq("LOGIN-DELAY") {
            ResponseCode::LoginDelay
        } else if eq("SYS/PERM") {
            ResponseCode::SysPerm
        } else if eq("SYS/TEMP") {
            ResponseCode::SysTemp
        } else {
            ResponseCode::Other(atom)
        }
    }

    /// Says the refusal was not about the credentials (RFC 3206 §4, §5).
    pub fn is_not_credentials(self) -> bool {
        matches!(
            self,
            ResponseCode::InUse
                | ResponseCode::LoginDelay
                | ResponseCode::SysTemp
                | ResponseCode::SysPerm
        )
    }
}

/// A server status line. Other lines (multi-line data, SASL `+ ` challenges) give `None`
/// from `parse` except the challenge, which is `Continuation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response<'a> {
    Ok {
        text: &'a [u8],
    },
    Err {
        code: Option<ResponseCode<'a>>,
        text: &'a [u8],
    },
    /// `+ challenge` during AUTH (RFC 5034).
    Continuation,
}

impl<'a> Response<'a> {
    pub fn parse(line: &'a [u8]) -> Option<Self> {
        let (status, rest) = word(line);
        if status.eq_ignore_ascii_case(b"+OK") {
            Some(Response::Ok { text: rest })
        } else if status.eq_ignore_ascii_case(b"-ERR") {
            let (code, text) = bracket_code(rest);
            Some(Response::Err {
                code: code.map(ResponseCode::from_atom),
                text,
            })
        } else if status == b"+" {
            Some(Response::Continuation)
        } else {
            None
        }
    }
}

/// The client commands the tracker follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Apop,
    Auth,
    Capa,
    Pass,
    Quit,
    Stls,
    User,
    Other,
}

impl Command {
    pub fn parse(line: &[u8]) -> Command {
        let (name, _) = word(line);
        let eq = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
        if eq("USER") {
            Command::User
        } else if eq("PASS") {
            Command::Pass
        } else if eq("APOP") {
            Command::Apop
        } else if eq("AUTH") {
            Command::Auth
        } else if eq("STLS") {
            Command::Stls
        } else if eq("QUIT") {
            Command::Quit
        } else if eq("CAPA") {
            Command::Capa
        } else {
            Command::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3206_codes() {
        // RFC 3206 §6 example and Dovecot's reply.
        assert_eq!(
            Response::parse(b"-ERR [AUTH] Authentication failed."),
            Some(Response::Err {
                code: Some(ResponseCode::Auth),
                text: b"Authentication failed."
            })
        );
        let Some(Response::Err {
            code: Some(code), ..
        }) = Response::parse(b"-ERR [SYS/TEMP] Problem getting mailbox")
        else {
            panic!("no code")
        };
        assert_eq!(code, ResponseCode::SysTemp);
        assert!(code.is_not_credentials());
        let Some(Response::Err {
            code: Some(code), ..
        }) = Response::parse(b"-ERR [IN-USE] Do you have another POP session running?")
        else {
            panic!("no code")
        };
        assert_eq!(code, ResponseCode::InUse);
        let Some(Response::Err {
            code: Some(code), ..
        }) = Response::parse(b"-ERR [SYS/PERM] mailbox gone")
        else {
            panic!("no code")
        };
        assert_eq!(code, ResponseCode::SysPerm);
        assert!(!ResponseCode::Auth.is_not_credentials());
    }

    #[test]
    fn microsoft_failure_has_no_code() {
        assert_eq!(
            Response::parse(b"-ERR Logon failure: unknown user name or bad password."),
            Some(Response::Err {
                code: None,
                text: b"Logon failure: unknown user name or bad password."
            })
        );
        assert_eq!(
            Response::parse(b"+OK Dovecot ready."),
            Some(Response::Ok {
                text: b"Dovecot ready."
            })
        );
        assert_eq!(Response::parse(b"1 1520"), None);
    }

    #[test]
    fn commands() {
        assert_eq!(Command::parse(b"USER alice"), Command::User);
        assert_eq!(Command::parse(b"pass secret"), Command::Pass);
        assert_eq!(
            Command::parse(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb"),
            Command::Apop
        );
        assert_eq!(Command::parse(b"AUTH PLAIN"), Command::Auth);
        assert_eq!(Command::parse(b"STLS"), Command::Stls);
        assert_eq!(Command::parse(b"LIST"), Command::Other);
    }
}
