//! Privilege drop on Linux: the portable Unix code (see `unix_privs` for why no capability is
//! kept once the sockets are open).

pub use crate::sys::unix_privs::{drop_privileges, user_exists};
