//! Default paths, the one place that picks them by operating system (DESIGN.md,
//! "Configuration": FreeBSD's under /usr/local and /var; Linux's under /etc, /run and /var/lib).

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

/// Where the journal lives.
#[cfg(target_os = "freebsd")]
pub const DEFAULT_STATE_DIR: &str = "/var/db/mailpulse";
/// Where the journal lives.
#[cfg(not(target_os = "freebsd"))]
pub const DEFAULT_STATE_DIR: &str = "/var/lib/mailpulse";

/// The local syslog daemon's datagram socket (syslogd(8) on FreeBSD, /dev/log elsewhere).
#[cfg(target_os = "freebsd")]
pub const SYSLOG_SOCKET: &str = "/var/run/log";
/// The local syslog daemon's datagram socket (syslogd(8) on FreeBSD, /dev/log elsewhere).
#[cfg(not(target_os = "freebsd"))]
pub const SYSLOG_SOCKET: &str = "/dev/log";
