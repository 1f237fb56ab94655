//! mailpulse: tells a router's owner whether a mail client's "incorrect password" was the
//! password, or the WAN, DNS, the server, TLS or the firewall.
//!
//! The layers, from bytes to reports (README.md, "What it is made of", has the data flow):
//!
//! - [`wire`] parses untrusted bytes (link layers, IP, TCP, UDP, DNS, TLS, IMAP/POP3/SMTP lines).
//!   Zero-copy views with checked lengths; never panics on input.
//! - [`capture_file`] reads capture files (pcap, pcapng, gzip-compressed) for [`replay`],
//!   with the same rules as [`wire`]: checked lengths, bounded memory.
//! - [`track`] turns timestamped packets into mail sessions and DNS lookups (bounded tables).
//! - [`diagnose`] is the engine: observations in, events with verdicts out. It reads no clock
//!   and does no I/O, so the same engine runs live and in [`replay`].
//! - [`probe`] actively checks mail hosts (DNS, TCP, TLS, greeting).
//! - [`sys`] is the only module that knows an operating system, and the only one with `unsafe`.
//! - [`daemon`], [`control`], [`report`] and [`cli`] are the edges: tasks, the control socket,
//!   syslog/journal/metrics and the command line.

pub mod capture_file;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod diagnose;
pub mod probe;
pub mod replay;
pub mod report;
pub mod sys;
pub mod text;
pub mod time;
pub mod track;
pub mod wire;
