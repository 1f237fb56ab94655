//! The daemon's clock is the wall clock of [`crate::sys::clock`]: wall time, stamped on what
//! the daemon observes. The engine never reads it.

pub use crate::sys::clock::now;
