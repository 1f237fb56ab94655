//! Default paths per operating system: the one place outside the per-OS directories that says
//! `target_os`. The values are the contract in mailpulse.toml(5) ("Configuration").

/// The configuration file read when `-c` is not given.
#[cfg(target_os = "freebsd")]
pub const DEFAULT_CONFIG: &str = "/usr/local/etc/mailpulse/mailpulse.toml";
/// The configuration file read when `-c` is not given.
#[cfg(not(target_os = "freebsd"))]
pub const DEFAULT_CONFIG: &str = "/etc/mailpulse/mailpulse.toml";

/// The daemon's control socket.
#[cfg(target_os = "freebsd")]
pub const DEFAULT_SOCKET: &str = "/var/run/mailpulse.sock";
/// The daemon's control socket.
#[cfg(not(target_os = "freebsd"))]
pub const DEFAULT_SOCKET: &str = "/run/mailpulse.sock";

/// Where the daemon keeps its journal.
#[cfg(target_os = "freebsd")]
pub const DEFAULT_STATE_DIR: &str = "/var/db/mailpulse";
/// Where the daemon keeps its journal.
#[cfg(not(target_os = "freebsd"))]
pub const DEFAULT_STATE_DIR: &str = "/var/lib/mailpulse";

/// The local syslog socket.
#[cfg(target_os = "freebsd")]
pub const DEFAULT_SYSLOG_SOCKET: &str = "/var/run/log";
/// The local syslog socket.
#[cfg(not(target_os = "freebsd"))]
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_design_for_this_os() {
        let expected = if cfg!(target_os = "freebsd") {
            [
                "/usr/local/etc/mailpulse/mailpulse.toml",
                "/var/run/mailpulse.sock",
                "/var/db/mailpulse",
                "/var/run/log",
            ]
        } else {
            [
                "/etc/mailpulse/mailpulse.toml",
                "/run/mailpulse.sock",
                "/var/lib/mailpulse",
                "/dev/log",
            ]
        };
        assert_eq!(
            [
                DEFAULT_CONFIG,
                DEFAULT_SOCKET,
                DEFAULT_STATE_DIR,
                DEFAULT_SYSLOG_SOCKET
            ],
            expected
        );
    }
}
