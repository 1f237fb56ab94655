//! Syslog lines for events (docs/architecture.md, "The syslog line"): ident `mailpulse`; the kind, then
//! `key=value` tokens (`client=`, `server=`, `verdict=`, `credentials=`), then `: ` and the
//! plain sentence. Severity comes from the event.
//!
//! Sent as datagrams to the local syslog socket ([`crate::sys::paths::DEFAULT_SYSLOG_SOCKET`]) in BSD
//! format (RFC 3164, what FreeBSD's syslogd and OPNsense's log viewer parse) or RFC 5424.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};

use crate::diagnose::event::{Event, Severity};
use crate::sys::clock::{local_text, local_time};
use crate::text::named_enum;
use crate::time::Timestamp;

/// The syslog ident (RFC 3164 TAG, RFC 5424 APP-NAME).
pub const IDENT: &str = "mailpulse";

/// Longest message sent; longer ones are cut at a character boundary. FreeBSD's syslogd reads
/// up to 8 KiB per datagram; 4 KiB leaves room and keeps remote relays happy.
const MAX_MESSAGE: usize = 4096;

/// The RFC 5424 §6.2.1 severity code.
pub fn severity_code(severity: Severity) -> u8 {
    match severity {
        Severity::Err => 3,
        Severity::Warning => 4,
        Severity::Notice => 5,
        Severity::Info => 6,
        Severity::Debug => 7,
    }
}

/// The syslog name of a severity, as in syslog.conf(5) and the event JSON.
pub fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Err => "err",
        Severity::Warning => "warning",
        Severity::Notice => "notice",
        Severity::Info => "info",
        Severity::Debug => "debug",
    }
}

/// `PRI` = facility × 8 + severity (RFC 5424 §6.2.1, RFC 3164 §4.1.1).
pub fn priority(facility: Facility, severity: Severity) -> u8 {
    facility.code() * 8 + severity_code(severity)
}

/// The event as one syslog message (no header): `kind key=value…: sentence`.
pub fn event_line(event: &Event) -> String {
    let mut line = String::from(event.kind.as_str());
    let mut token = |key: &str, value: &str| {
        line.push(' ');
        line.push_str(key);
        line.push('=');
        line.push_str(&token_value(value));
    };
    if let Some(client) = event.client {
        token("client", &client.to_string());
    }
    let server = match (&event.server_name, event.server) {
        (Some(name), _) => Some(name.clone()),
        (None, Some(ip)) => Some(ip.to_string()),
        (None, None) => None,
    };
    if let Some(server) = server {
        token("server", &server);
    }
    if let Some(verdict) = event.verdict {
        token("verdict", verdict.as_str());
    }
    if let Some(credentials) = event.credentials {
        token("credentials", credentials.as_str());
    }
    line.push_str(": ");
    line.push_str(&one_line(&event.message));
    line
}

/// Token values cannot hold spaces or `=` without breaking `key=value` parsing downstream.
fn token_value(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() || c == '=' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Control characters (a newline would start a fake log line) become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// RFC 3164 as sent to the local socket: `<PRI>Mmm dd hh:mm:ss mailpulse[pid]: message`
/// (no HOSTNAME, as glibc's syslog(3) sends it: syslogd fills in its own; FreeBSD's syslogd
/// stops looking for a HOSTNAME at the `:` after the TAG).
pub fn format_rfc3164(
    facility: Facility,
    severity: Severity,
    local_time: DateTime<FixedOffset>,
    pid: u32,
    message: &str,
) -> String {
    // %e pads the day with a space ("Nov  2"), as RFC 3164 §4.1.2 requires.
    let stamp = local_time.format("%b %e %H:%M:%S");
    truncate(
        format!(
            "<{}>{stamp} {IDENT}[{pid}]: {message}",
            priority(facility, severity)
        ),
        MAX_MESSAGE,
    )
}

/// RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME mailpulse PID - - message`; `-` when the host name is
/// not known (the NILVALUE, §6.2.4).
pub fn format_rfc5424(
    facility: Facility,
    severity: Severity,
    time: Timestamp,
    hostname: Option<&str>,
    pid: u32,
    message: &str,
) -> String {
    let host = hostname.filter(|h| !h.is_empty()).unwrap_or("-");
    truncate(
        format!(
            "<{}>1 {} {host} {IDENT} {pid} - - {message}",
            priority(facility, severity),
            time.to_rfc3339()
        ),
        MAX_MESSAGE,
    )
}

/// Sends events and the daemon's own notices to syslog, and to stderr in the foreground.
pub struct Syslog {
    socket: Option<UnixDatagram>,
    path: PathBuf,
    facility: Facility,
    format: SyslogFormat,
    to_stderr: bool,
    pid: u32,
    /// Datagrams that could not be sent (syslogd down or restarting).
    pub send_errors: u64,
}

impl Syslog {
    /// A sender to the socket at `path` (normally [`crate::sys::paths::DEFAULT_SYSLOG_SOCKET`]).
    /// `enabled = false` sends nothing to syslog; `to_stderr` copies every line to stderr.
    pub fn new(
        path: &Path,
        enabled: bool,
        facility: Facility,
        format: SyslogFormat,
        to_stderr: bool,
    ) -> io::Result<Syslog> {
        let socket = if enabled {
            Some(UnixDatagram::unbound()?)
        } else {
            None
        };
        Ok(Syslog {
            socket,
            path: path.to_path_buf(),
            facility,
            format,
            to_stderr,
            pid: std::process::id(),
            send_errors: 0,
        })
    }

    /// Reports one event as of `now` (the header's time stamp).
    pub fn event(&mut self, event: &Event, now: Timestamp) -> io::Result<()> {
        self.message(event.severity, &event_line(event), now)
    }

    /// Sends one message; the socket is not connected, so a restarted syslogd is found again.
    pub fn message(&mut self, severity: Severity, message: &str, now: Timestamp) -> io::Result<()> {
        let message = one_line(message);
        if self.to_stderr {
            eprintln!("{} {}: {message}", local_text(now), severity_name(severity));
        }
        let Some(socket) = &self.socket else {
            return Ok(());
        };
        let datagram = match self.format {
            SyslogFormat::Rfc3164 => {
                format_rfc3164(self.facility, severity, local_time(now), self.pid, &message)
            }
            SyslogFormat::Rfc5424 => {
                format_rfc5424(self.facility, severity, now, None, self.pid, &message)
            }
        };
        let sent = socket.send_to(datagram.as_bytes(), &self.path);
        if sent.is_err() {
            self.send_errors += 1;
        }
        sent.map(|_| ())
    }
}

named_enum!(
    /// Syslog facilities (RFC 5424 §6.2.1 numbering, names as in syslog.conf(5)).
    Facility, "syslog facility", {
    Kern = "kern", User = "user", Mail = "mail", Daemon = "daemon", Auth = "auth",
    Syslog = "syslog", Lpr = "lpr", News = "news", Uucp = "uucp", Cron = "cron",
    Authpriv = "authpriv", Ftp = "ftp",
    Local0 = "local0", Local1 = "local1", Local2 = "local2", Local3 = "local3",
    Local4 = "local4", Local5 = "local5", Local6 = "local6", Local7 = "local7",
});

impl Facility {
    /// The facility code (RFC 5424 §6.2.1).
    pub fn code(self) -> u8 {
        match self {
            Facility::Kern => 0,
            Facility::User => 1,
            Facility::Mail => 2,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Syslog => 5,
            Facility::Lpr => 6,
            Facility::News => 7,
            Facility::Uucp => 8,
            Facility::Cron => 9,
            Facility::Authpriv => 10,
            Facility::Ftp => 11,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

named_enum!(
    /// The syslog message format.
    SyslogFormat, "syslog format", {
    /// BSD syslog (RFC 3164), what syslogd(8) on FreeBSD and OPNsense's log viewer expect.
    Rfc3164 = "rfc3164",
    /// Structured syslog (RFC 5424).
    Rfc5424 = "rfc5424",
});

#[cfg(test)]
mod tests;
