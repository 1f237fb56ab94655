//! A connection to a mail server read line by line, with bounds: a server that sends an endless
//! line or an endless stream costs at most [`MAX_LINE`] bytes of buffer and [`MAX_TOTAL`] bytes
//! read before the probe gives up.

use std::fmt;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest line accepted from a server. RFC 5321 §4.5.3.1.5 allows 512 octets per SMTP reply
/// line; IMAP capability lines run to a few hundred bytes; 8 KiB is ample.
pub const MAX_LINE: usize = 8 * 1024;
/// Most bytes read from one server in one probe.
pub const MAX_TOTAL: usize = 256 * 1024;

/// Anything a probe can speak over: a TCP stream or a TLS stream over one.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Why a read or write failed.
#[derive(Debug)]
pub enum ConnError {
    /// The server closed the connection.
    Closed,
    /// A line exceeded [`MAX_LINE`].
    LineTooLong,
    /// More than [`MAX_TOTAL`] bytes arrived.
    TooMuchData,
    /// A socket or TLS error.
    Io(std::io::Error),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Closed => f.write_str("connection closed by the server"),
            ConnError::LineTooLong => write!(f, "line longer than {MAX_LINE} bytes"),
            ConnError::TooMuchData => write!(f, "more than {MAX_TOTAL} bytes from the server"),
            ConnError::Io(e) => f.write_str(&super::plain_io_error(e)),
        }
    }
}

/// A line-oriented connection.
pub struct Conn {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    received: usize,
}

impl Conn {
    /// Wraps a stream; `received` carries the byte count across a STARTTLS upgrade.
    pub fn new(io: Box<dyn Io>, received: usize) -> Conn {
        Conn {
            io,
            buf: Vec::new(),
            received,
        }
    }

    /// Reads one line, without its CR LF; bytes that are not printable are escaped (`\xNN`,
    /// `crate::text`), so the greeting and replies are safe to show.
    pub async fn read_line(&mut self) -> Result<String, ConnError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > MAX_LINE {
                    return Err(ConnError::LineTooLong);
                }
                return Ok(crate::text::clean(&line));
            }
            if self.buf.len() > MAX_LINE {
                return Err(ConnError::LineTooLong);
            }
            let mut chunk = [0u8; 4096];
            let n = self.io.read(&mut chunk).await.map_err(ConnError::Io)?;
            if n == 0 {
                return Err(ConnError::Closed);
            }
            self.received = self.received.saturating_add(n);
            if self.received > MAX_TOTAL {
                return Err(ConnError::TooMuchData);
            }
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }

    /// Sends one command line (CR LF appended) and flushes it.
    pub async fn send(&mut self, command: &str) -> Result<(), ConnError> {
        let mut line = Vec::with_capacity(command.len() + 2);
        line.extend_from_slice(command.as_bytes());
        line.extend_from_slice(b"\r\n");
        self.io.write_all(&line).await.map_err(ConnError::Io)?;
        self.io.flush().await.map_err(ConnError::Io)
    }

    /// Gives back the stream for a TLS upgrade. `Err` when the server already sent bytes past
    /// its STARTTLS reply: those would be read as if protected by TLS (CVE-2011-0411 class),
    /// so the probe refuses to go on.
    pub fn into_upgradable(self) -> Result<(Box<dyn Io>, usize), String> {
        if self.buf.is_empty() {
            Ok((self.io, self.received))
        } else {
            Err(format!(
                "the server sent {} bytes after its STARTTLS reply, before the handshake",
                self.buf.len()
            ))
        }
    }

    /// Closes politely: for TLS this sends close_notify. Errors do not matter here.
    pub async fn shutdown(&mut self) {
        let _ = self.io.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn conn_reading(bytes: Vec<u8>) -> Conn {
        let (mut server, client) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let _ = server.write_all(&bytes).await;
        });
        Conn::new(Box::new(client), 0)
    }

    #[tokio::test]
    async fn splits_crlf_and_bare_lf_lines() {
        let mut c = conn_reading(b"* OK ready\r\n+OK\n\xffx\r\n".to_vec()).await;
        assert_eq!(c.read_line().await.unwrap(), "* OK ready");
        assert_eq!(c.read_line().await.unwrap(), "+OK");
        assert_eq!(c.read_line().await.unwrap(), "\\xffx");
        assert!(matches!(c.read_line().await, Err(ConnError::Closed)));
    }

    #[tokio::test]
    async fn an_endless_line_stops_at_the_limit() {
        let mut c = conn_reading(vec![b'A'; MAX_LINE + 10_000]).await;
        assert!(matches!(c.read_line().await, Err(ConnError::LineTooLong)));
        // A line of exactly MAX_LINE bytes is still accepted.
        let mut exact = vec![b'B'; MAX_LINE];
        exact.extend_from_slice(b"\r\n");
        let mut c = conn_reading(exact).await;
        assert_eq!(c.read_line().await.unwrap().len(), MAX_LINE);
    }

    #[tokio::test]
    async fn an_endless_stream_of_short_lines_stops_at_the_total_limit() {
        let (mut server, client) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move { while server.write_all(b"* 1 EXISTS\r\n").await.is_ok() {} });
        let mut c = Conn::new(Box::new(client), 0);
        let mut lines = 0usize;
        let err = loop {
            match c.read_line().await {
                Ok(_) => lines += 1,
                Err(e) => break e,
            }
        };
        assert!(matches!(err, ConnError::TooMuchData), "{err}");
        assert!(lines * 12 <= MAX_TOTAL, "{lines} lines read");
    }
}
