//! The daemon: one task per source feeding the engine; reports and the control socket.
//!
//! mailpulse never forks: daemon(8) on FreeBSD and systemd on Linux supervise it. `--foreground`
//! copies every log line to stderr as well as syslog.

mod core;
mod evidence;
mod history;
mod link_snapshot;
mod redact;
mod reload;
mod run;
mod startup;
mod state;
mod state_dir;

use std::path::Path;

use crate::config;

/// sysexits(3) codes the daemon exits with.
pub mod exitcode {
    pub const OK: i32 = 0;
    pub const UNAVAILABLE: i32 = 69;
    pub const OSERR: i32 = 71;
    pub const NOPERM: i32 = 77;
    pub const CONFIG: i32 = 78;
}

/// Runs `mailpulse daemon [-c PATH] [--foreground]`; returns the exit code.
pub fn main(config_path: Option<&Path>, foreground: bool) -> i32 {
    // The journal names clients and servers, and the evidence ring can hold a plaintext login:
    // files the daemon creates are never readable by others, whatever umask it inherited.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o027));
    let loaded = match config::load(config_path) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return e.exit_code();
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mailpulse: cannot start the runtime: {e}");
            return exitcode::OSERR;
        }
    };
    runtime.block_on(run::run(loaded, foreground))
}
