//! What the sources observed, in the words every layer above shares: the tracker's records of
//! mail sessions and DNS lookups ([`record`]), and the engine's input vocabulary built on them
//! ([`observation`]: sessions, lookups, link changes, gateway samples, probe results, firewall
//! timeouts), each stamped with a time.
//!
//! Facts only, no judgement and no I/O: the tracker, the OS code and the probes write them,
//! the engine reads them (docs/architecture.md, "Layers").

pub mod observation;
pub mod record;
