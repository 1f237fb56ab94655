//! What the probe says to each protocol and how it reads the replies: greeting, capabilities,
//! STARTTLS/STLS and logout for IMAP (RFC 9051/3501), POP3 (RFC 1939, 2449, 2595) and SMTP
//! (RFC 5321, 3207). No command here carries credentials.

use super::conn::{Conn, ConnError};
use crate::observe::record::Protocol;

/// The client name sent in EHLO: `.invalid` (RFC 2606) says plainly that it is not a mail host.
pub const EHLO_NAME: &str = "mailpulse.invalid";

/// Most capability entries kept (a server listing thousands is not believed).
const MAX_CAPABILITIES: usize = 256;

/// Plain words for what went wrong in one exchange.
pub type Failure = String;

fn conn_failure(e: ConnError) -> Failure {
    e.to_string()
}

/// The protocol state the probe keeps: the IMAP tag counter.
pub struct Dialogue {
    protocol: Protocol,
    next_tag: u32,
}

impl Dialogue {
    /// A dialogue for `protocol`.
    pub fn new(protocol: Protocol) -> Dialogue {
        Dialogue {
            protocol,
            next_tag: 1,
        }
    }

    fn tag(&mut self) -> String {
        let tag = format!("a{}", self.next_tag);
        self.next_tag = self.next_tag.saturating_add(1);
        tag
    }

    /// Reads the greeting; returns its first line.
    pub async fn greeting(&mut self, conn: &mut Conn) -> Result<String, Failure> {
        match self.protocol {
            Protocol::Imap => {
                let line = conn.read_line().await.map_err(conn_failure)?;
                if starts_with_ci(&line, "* OK") || starts_with_ci(&line, "* PREAUTH") {
                    Ok(line)
                } else if starts_with_ci(&line, "* BYE") {
                    Err(format!("server refused: {line}"))
                } else {
                    Err(format!("not an IMAP greeting: {}", shorten(&line)))
                }
            }
            Protocol::Pop3 => {
                let line = conn.read_line().await.map_err(conn_failure)?;
                if starts_with_ci(&line, "+OK") {
                    Ok(line)
                } else if starts_with_ci(&line, "-ERR") {
                    Err(format!("server refused: {line}"))
                } else {
                    Err(format!("not a POP3 greeting: {}", shorten(&line)))
                }
            }
            Protocol::Smtp => {
                let reply = read_smtp_reply(conn).await?;
                let first = reply.lines.first().cloned().unwrap_or_default();
                match reply.code {
                    220 => Ok(first),
                    _ => Err(format!("server refused: {first}")),
                }
            }
        }
    }

    /// Asks for the capabilities (IMAP `CAPABILITY`, POP3 `CAPA`, SMTP `EHLO`).
    ///
    /// A POP3 server without CAPA (RFC 2449 is optional) answers `-ERR`: that is an empty list,
    /// not a failure.
    pub async fn capabilities(&mut self, conn: &mut Conn) -> Result<Vec<String>, Failure> {
        match self.protocol {
            Protocol::Imap => {
                let tag = self.tag();
                conn.send(&format!("{tag} CAPABILITY"))
                    .await
                    .map_err(conn_failure)?;
                let mut caps = Vec::new();
                let status = read_imap_tagged(conn, &tag, |line| {
                    if let Some(rest) = strip_prefix_ci(line, "* CAPABILITY ") {
                        push_capped(&mut caps, rest.split_ascii_whitespace());
                    }
                })
                .await?;
                imap_ok(&status)?;
                Ok(caps)
            }
            Protocol::Pop3 => {
                conn.send("CAPA").await.map_err(conn_failure)?;
                let first = conn.read_line().await.map_err(conn_failure)?;
                if starts_with_ci(&first, "-ERR") {
                    return Ok(Vec::new());
                }
                if !starts_with_ci(&first, "+OK") {
                    return Err(format!("unexpected reply to CAPA: {}", shorten(&first)));
                }
                let mut caps = Vec::new();
                loop {
                    let line = conn.read_line().await.map_err(conn_failure)?;
                    if line == "." {
                        break;
                    }
                    // RFC 1939 §3: a leading "." of a data line is doubled.
                    let line = line.strip_prefix('.').unwrap_or(&line);
                    push_capped(&mut caps, std::iter::once(line));
                }
                Ok(caps)
            }
            Protocol::Smtp => {
                conn.send(&format!("EHLO {EHLO_NAME}"))
                    .await
                    .map_err(conn_failure)?;
                let reply = read_smtp_reply(conn).await?;
                if reply.code != 250 {
                    let first = reply.lines.first().cloned().unwrap_or_default();
                    return Err(format!("server refused EHLO: {first}"));
                }
                // The first line is the server's name; each later one is an extension.
                let mut caps = Vec::new();
                push_capped(&mut caps, reply.lines.iter().skip(1).map(|l| reply_text(l)));
                Ok(caps)
            }
        }
    }

    /// Whether the capability list offers a TLS upgrade.
    pub fn offers_starttls(&self, capabilities: &[String]) -> bool {
        let word = match self.protocol {
            Protocol::Imap | Protocol::Smtp => "STARTTLS",
            Protocol::Pop3 => "STLS",
        };
        capabilities.iter().any(|c| {
            c.split_ascii_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(word))
        })
    }

    /// Sends STARTTLS (or STLS) and checks the go-ahead.
    pub async fn starttls(&mut self, conn: &mut Conn) -> Result<(), Failure> {
        match self.protocol {
            Protocol::Imap => {
                let tag = self.tag();
                conn.send(&format!("{tag} STARTTLS"))
                    .await
                    .map_err(conn_failure)?;
                let status = read_imap_tagged(conn, &tag, |_| {}).await?;
                imap_ok(&status)
            }
            Protocol::Pop3 => {
                conn.send("STLS").await.map_err(conn_failure)?;
                let line = conn.read_line().await.map_err(conn_failure)?;
                if starts_with_ci(&line, "+OK") {
                    Ok(())
                } else {
                    Err(format!("server refused STLS: {}", shorten(&line)))
                }
            }
            Protocol::Smtp => {
                conn.send("STARTTLS").await.map_err(conn_failure)?;
                let reply = read_smtp_reply(conn).await?;
                if reply.code == 220 {
                    Ok(())
                } else {
                    let first = reply.lines.first().cloned().unwrap_or_default();
                    Err(format!("server refused STARTTLS: {first}"))
                }
            }
        }
    }

    /// Says goodbye (`LOGOUT`, `QUIT`) and waits for the server's reply.
    pub async fn logout(&mut self, conn: &mut Conn) -> Result<(), Failure> {
        match self.protocol {
            Protocol::Imap => {
                let tag = self.tag();
                conn.send(&format!("{tag} LOGOUT"))
                    .await
                    .map_err(conn_failure)?;
                let mut saw_bye = false;
                let status = read_imap_tagged(conn, &tag, |line| {
                    saw_bye |= starts_with_ci(line, "* BYE");
                })
                .await;
                match status {
                    Ok(status) => imap_ok(&status),
                    // Some servers close right after BYE (RFC 9051 §7.1.5 lets the client
                    // treat BYE as the end); that is a clean logout too.
                    Err(_) if saw_bye => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Protocol::Pop3 => {
                conn.send("QUIT").await.map_err(conn_failure)?;
                let line = conn.read_line().await.map_err(conn_failure)?;
                if starts_with_ci(&line, "+OK") {
                    Ok(())
                } else {
                    Err(format!("unexpected reply to QUIT: {}", shorten(&line)))
                }
            }
            Protocol::Smtp => {
                conn.send("QUIT").await.map_err(conn_failure)?;
                let reply = read_smtp_reply(conn).await?;
                if reply.code == 221 {
                    Ok(())
                } else {
                    let first = reply.lines.first().cloned().unwrap_or_default();
                    Err(format!("unexpected reply to QUIT: {first}"))
                }
            }
        }
    }
}

/// Reads lines until the tagged status line for `tag`; hands each untagged one to `untagged`.
async fn read_imap_tagged(
    conn: &mut Conn,
    tag: &str,
    mut untagged: impl FnMut(&str),
) -> Result<String, Failure> {
    loop {
        let line = conn.read_line().await.map_err(conn_failure)?;
        match line.split_once(' ') {
            Some((t, status)) if t == tag => return Ok(status.to_string()),
            _ => untagged(&line),
        }
    }
}

fn imap_ok(status: &str) -> Result<(), Failure> {
    if starts_with_ci(status, "OK") {
        Ok(())
    } else {
        Err(format!("server replied {}", shorten(status)))
    }
}

/// One SMTP reply, all its lines.
struct SmtpReply {
    code: u16,
    lines: Vec<String>,
}

/// Reads a (possibly multi-line) SMTP reply: `250-…` continues, `250 …` ends (RFC 5321 §4.2.1).
async fn read_smtp_reply(conn: &mut Conn) -> Result<SmtpReply, Failure> {
    let mut lines = Vec::new();
    loop {
        let line = conn.read_line().await.map_err(conn_failure)?;
        let code = line
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("not an SMTP reply: {}", shorten(&line)))?;
        let more = line.as_bytes().get(3) == Some(&b'-');
        if lines.len() < MAX_CAPABILITIES {
            lines.push(line);
        }
        if !more {
            return Ok(SmtpReply { code, lines });
        }
    }
}

/// The text of an SMTP reply line after `250-` or `250 `.
fn reply_text(line: &str) -> &str {
    line.get(4..).unwrap_or("")
}

fn push_capped<'a>(caps: &mut Vec<String>, items: impl Iterator<Item = &'a str>) {
    for item in items {
        if caps.len() >= MAX_CAPABILITIES {
            return;
        }
        let item = item.trim();
        if !item.is_empty() {
            caps.push(item.to_string());
        }
    }
}

fn starts_with_ci(line: &str, prefix: &str) -> bool {
    strip_prefix_ci(line, prefix).is_some()
}

fn strip_prefix_ci<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let head = line.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| line.get(prefix.len()..))
        .flatten()
}

/// At most 200 characters of a server line, for messages.
fn shorten(line: &str) -> String {
    const KEEP: usize = 200;
    match line.char_indices().nth(KEEP) {
        Some((cut, _)) => format!("{}…", line.get(..cut).unwrap_or(line)),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Runs `script` as the server: for each (expected command, reply) pair, reads the command
    /// line and writes the reply. The first reply (with an empty command) is the greeting.
    async fn scripted(script: Vec<(&'static str, &'static str)>) -> Conn {
        let (mut server, client) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            for (command, reply) in script {
                if !command.is_empty() {
                    let mut got = Vec::new();
                    let mut byte = [0u8; 1];
                    while server.read_exact(&mut byte).await.is_ok() {
                        got.push(byte[0]);
                        if byte[0] == b'\n' {
                            break;
                        }
                    }
                    assert_eq!(String::from_utf8_lossy(&got), format!("{command}\r\n"));
                }
                server.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        Conn::new(Box::new(client), 0)
    }

    #[tokio::test]
    async fn smtp_multiline_greeting_and_ehlo() {
        // Reply shapes from RFC 5321 §4.2.1 and §4.1.1.1.
        let mut conn = scripted(vec![
            ("", "220-mx.test ESMTP\r\n220 second line\r\n"),
            (
                "EHLO mailpulse.invalid",
                "250-mx.test Hello\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
            ),
            ("QUIT", "221 2.0.0 Bye\r\n"),
        ])
        .await;
        let mut d = Dialogue::new(Protocol::Smtp);
        assert_eq!(d.greeting(&mut conn).await.unwrap(), "220-mx.test ESMTP");
        let caps = d.capabilities(&mut conn).await.unwrap();
        assert_eq!(caps, ["SIZE 10240000", "STARTTLS", "8BITMIME"]);
        assert!(d.offers_starttls(&caps));
        d.logout(&mut conn).await.unwrap();
    }

    #[tokio::test]
    async fn smtp_refusal_in_the_greeting_is_reported() {
        let mut conn = scripted(vec![("", "554 5.7.1 no service for you\r\n")]).await;
        let err = Dialogue::new(Protocol::Smtp)
            .greeting(&mut conn)
            .await
            .unwrap_err();
        assert_eq!(err, "server refused: 554 5.7.1 no service for you");
    }

    #[tokio::test]
    async fn pop3_without_capa_is_an_empty_list() {
        let mut conn = scripted(vec![
            ("", "+OK POP3 ready\r\n"),
            ("CAPA", "-ERR unknown command\r\n"),
            ("QUIT", "+OK bye\r\n"),
        ])
        .await;
        let mut d = Dialogue::new(Protocol::Pop3);
        d.greeting(&mut conn).await.unwrap();
        let caps = d.capabilities(&mut conn).await.unwrap();
        assert!(caps.is_empty());
        assert!(!d.offers_starttls(&caps));
        d.logout(&mut conn).await.unwrap();
    }

    #[tokio::test]
    async fn imap_tagged_no_is_a_failure_and_bye_then_close_is_a_clean_logout() {
        let mut conn = scripted(vec![
            ("", "* OK ready\r\n"),
            ("a1 CAPABILITY", "a1 BAD not now\r\n"),
        ])
        .await;
        let mut d = Dialogue::new(Protocol::Imap);
        d.greeting(&mut conn).await.unwrap();
        assert_eq!(
            d.capabilities(&mut conn).await.unwrap_err(),
            "server replied BAD not now"
        );
        let mut conn = scripted(vec![
            ("", "* OK ready\r\n"),
            ("a1 LOGOUT", "* BYE logging out\r\n"),
        ])
        .await;
        let mut d = Dialogue::new(Protocol::Imap);
        d.greeting(&mut conn).await.unwrap();
        d.logout(&mut conn).await.unwrap();
    }

    #[test]
    fn shorten_keeps_short_lines_and_cuts_long_ones_on_a_char_boundary() {
        assert_eq!(shorten("abc"), "abc");
        let long = "é".repeat(300);
        let cut = shorten(&long);
        assert_eq!(cut.chars().count(), 201);
        assert!(cut.ends_with('…'));
    }
}
