//! mailpulse: tells a router's owner whether a mail client's "incorrect password" was the
//! password, or the WAN, DNS, the server, TLS or the firewall.
//!
//! The layers, from bytes to reports; a module imports only from its own layer or lower ones
//! (docs/architecture.md has the table and the data flow; `scripts/check-layers` enforces it):
//!
//! - [`wire`] parses untrusted bytes (link layers, IP, TCP, UDP, DNS, TLS, IMAP/POP3/SMTP lines).
//!   Zero-copy views with checked lengths; never panics on input.
//! - [`capture_file`] reads capture files (pcap, pcapng, gzip-compressed) for [`replay`],
//!   with the same rules as [`wire`]: checked lengths, bounded memory.
//! - [`observe`] holds the facts every layer shares: session and lookup records, and the
//!   engine's input vocabulary (observations).
//! - [`track`] turns timestamped packets into mail sessions and DNS lookups (bounded tables).
//! - [`diagnose`] is the engine: observations in, events with verdicts out. It reads no clock
//!   and does no I/O, so the same engine runs live and in [`replay`].
//! - [`probe`] actively checks mail hosts (DNS, TCP, TLS, greeting).
//! - [`sys`] is the only module that knows an operating system, and the only one with `unsafe`:
//!   the crate denies it, every other module forbids it, and the few files in `sys` that make
//!   syscalls allow it at their `mod` line, each `unsafe` block with a `// SAFETY:` comment.
//! - [`daemon`], [`control`], [`report`] and [`cli`] are the edges: tasks, the control socket,
//!   syslog/journal/metrics and the command line.

#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

// Forbidden, not only denied, outside `sys`: no module there can allow it back.
#[forbid(unsafe_code)]
pub mod capture_file;
#[forbid(unsafe_code)]
pub mod cli;
#[forbid(unsafe_code)]
pub mod config;
#[forbid(unsafe_code)]
pub mod control;
#[forbid(unsafe_code)]
pub(crate) mod daemon;
#[forbid(unsafe_code)]
pub mod diagnose;
#[forbid(unsafe_code)]
pub mod observe;
#[forbid(unsafe_code)]
pub mod probe;
#[forbid(unsafe_code)]
pub mod replay;
#[forbid(unsafe_code)]
pub mod report;
pub mod sys;
#[forbid(unsafe_code)]
pub(crate) mod text;
#[forbid(unsafe_code)]
pub mod time;
#[forbid(unsafe_code)]
pub mod track;
#[forbid(unsafe_code)]
pub mod wire;
