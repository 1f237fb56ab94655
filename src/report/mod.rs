//! Reports: the single choke point for what mailpulse tells the world about events.
//!
//! - [`syslog`]: one line per event to the local syslog (and stderr in the foreground);
//! - [`journal`]: the persistent JSON Lines event journal in `state_dir`;
//! - [`metrics`]: Prometheus text exposition rendered from a status report;
//! - [`timeline`]: the non-packet observations, for `replay --timeline`.

pub mod journal;
pub mod metrics;
pub mod syslog;
pub mod timeline;
