//! Reports: the single choke point for what mailpulse tells the world about events.
//!
//! - [`syslog`]: one line per event to the local syslog (and stderr in the foreground);
//! - [`journal`]: the persistent JSON Lines event journal in `state_dir`;
//! - [`metrics`]: Prometheus text exposition rendered from a status report;
//! - [`timeline`]: the non-packet observations, for `replay --timeline`;
//! - `jsonl`: the bounded line reader both read their files back with.

pub(crate) mod journal;
mod jsonl;
pub(crate) mod metrics;
pub(crate) mod syslog;
pub mod timeline;
