//! The configuration file (mailpulse.toml(5), "Configuration"): TOML, snake_case keys, every key
//! optional with a named default, unknown keys refused.
//!
//! Keys beyond the first design, documented in mailpulse.toml(5), all optional:
//!
//! - `[daemon] syslog_format = "rfc3164" | "rfc5424"` (default `rfc3164`),
//!   `syslog_socket` (default: the system's local syslog socket, for a chroot or a test),
//!   `journal_max_size = "8MiB"` (rotate beyond it), `journal_keep = 4` (rotated files kept),
//!   `socket_mode = 0o660`, `max_control_clients = 8`.
//! - `[capture] max_sessions = 16384` (tracker table), `max_sessions_per_client = 1024`,
//!   `snap_len = 2048`,
//!   `buffer_size = "4MiB"` (kernel buffer), `evidence_ring = "16MB"` (pcapng ring of recent
//!   mail traffic kept for `replay`; `0` turns it off).
//! - `[probe] allow_any_target = false`: when false, probe targets must use a mail port (993,
//!   143, 995, 110, 465, 587, 25) and may not be loopback, link-local, unspecified or multicast
//!   addresses (or `localhost`); a target that breaks this is refused with `file:line:col`.

mod error;
mod values;

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

pub use crate::probe::Target;
pub use error::ConfigError;
pub use values::{ByteSize, Facility, LogLevel, SyslogFormat};

use crate::diagnose::DiagnosisConfig;
use crate::sys::paths;

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub daemon: DaemonConfig,
    #[serde(default)]
    pub wan: WanConfig,
    #[serde(default)]
    pub lan: LanConfig,
    #[serde(default)]
    pub probe: ProbeConfig,
    #[serde(default)]
    pub diagnosis: DiagnosisSection,
    #[serde(default)]
    pub capture: CaptureConfig,
}

/// `[daemon]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    #[serde(default)]
    pub user: UserSetting,
    #[serde(default = "default_true")]
    pub syslog: bool,
    #[serde(default = "default_facility")]
    pub syslog_facility: Facility,
    #[serde(default = "default_log_level")]
    pub log_level: LogLevel,
    #[serde(default = "default_syslog_format")]
    pub syslog_format: SyslogFormat,
    /// The local syslog daemon's datagram socket (a chroot's, or a test's).
    #[serde(default = "default_syslog_socket")]
    pub syslog_socket: PathBuf,
    #[serde(default = "default_journal_max_size")]
    pub journal_max_size: ByteSize,
    /// Rotated journal files kept, 0 to 100.
    #[serde(default = "default_journal_keep", deserialize_with = "journal_keep")]
    pub journal_keep: u32,
    /// Permissions of the control socket (owner and group read/write by default).
    #[serde(default = "default_socket_mode", deserialize_with = "socket_mode")]
    pub socket_mode: u32,
    /// Control connections served at once, 1 to 1024.
    #[serde(
        default = "default_max_control_clients",
        deserialize_with = "max_control_clients"
    )]
    pub max_control_clients: usize,
}

/// `[wan]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WanConfig {
    /// Empty: the interfaces that carry default routes.
    #[serde(default, deserialize_with = "interface_names")]
    pub interfaces: Vec<String>,
    /// A glob of dpinger status sockets.
    #[serde(default = "default_dpinger_sockets")]
    pub dpinger_sockets: String,
}

/// `[lan]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanConfig {
    /// Empty: up, non-WAN, non-loopback, private-addressed interfaces.
    #[serde(default, deserialize_with = "interface_names")]
    pub interfaces: Vec<String>,
}

/// `[probe]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    #[serde(
        default = "default_probe_interval",
        deserialize_with = "values::duration"
    )]
    pub interval: Duration,
    #[serde(
        default = "default_probe_timeout",
        deserialize_with = "values::duration"
    )]
    pub timeout: Duration,
    #[serde(default = "default_targets")]
    pub targets: Vec<Target>,
    /// Empty: /etc/resolv.conf. Port 53 unless given (`"192.0.2.1:5353"`, `"[2001:db8::1]:53"`).
    #[serde(default, deserialize_with = "nameservers")]
    pub nameservers: Vec<SocketAddr>,
    /// Extra PEM trust anchors added to the system roots; `""` means none.
    #[serde(default, deserialize_with = "optional_path")]
    pub ca_file: Option<PathBuf>,
    /// Lets targets use any port and any address, the router's own included.
    #[serde(default)]
    pub allow_any_target: bool,
}

/// `[diagnosis]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagnosisSection {
    #[serde(default = "default_window", deserialize_with = "values::duration")]
    pub window: Duration,
    #[serde(default = "default_slow_dns", deserialize_with = "values::duration")]
    pub slow_dns: Duration,
    #[serde(default = "default_slow_server", deserialize_with = "values::duration")]
    pub slow_server: Duration,
}

/// `[capture]` (documented in mailpulse.toml(5)).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    #[serde(default = "default_max_sessions_per_client")]
    pub max_sessions_per_client: usize,
    #[serde(default = "default_snap_len")]
    pub snap_len: u32,
    #[serde(default = "default_buffer_size")]
    pub buffer_size: ByteSize,
    /// Size of the pcapng ring of recent mail traffic; 0 turns it off.
    #[serde(default = "default_evidence_ring")]
    pub evidence_ring: ByteSize,
}

/// `daemon.user`: whom to run as after opening devices, and whether that was said explicitly.
///
/// Left at its default and the account missing: a warning here, and the daemon refuses to
/// start as root (exit 78). Set explicitly and missing: a configuration error. `""` stays root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSetting {
    pub name: String,
    /// True when the file set `user`.
    pub explicit: bool,
    /// Byte range of the value in the file, for error positions.
    span: Option<std::ops::Range<usize>>,
}

impl UserSetting {
    /// The default account, `mailpulse`.
    pub const DEFAULT: &'static str = "mailpulse";

    /// True when the daemon should keep its privileges (`user = ""`).
    pub fn stays_root(&self) -> bool {
        self.name.is_empty()
    }
}

impl Default for UserSetting {
    fn default() -> Self {
        Self {
            name: Self::DEFAULT.to_string(),
            explicit: false,
            span: None,
        }
    }
}

impl<'de> Deserialize<'de> for UserSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = toml::Spanned::<String>::deserialize(deserializer)?;
        Ok(Self {
            span: Some(spanned.span()),
            name: spanned.into_inner(),
            explicit: true,
        })
    }
}

fn default_socket() -> PathBuf {
    PathBuf::from(paths::DEFAULT_SOCKET)
}
fn default_state_dir() -> PathBuf {
    PathBuf::from(paths::DEFAULT_STATE_DIR)
}
fn default_true() -> bool {
    true
}
fn default_facility() -> Facility {
    Facility::Daemon
}
fn default_log_level() -> LogLevel {
    LogLevel::Info
}
fn default_syslog_socket() -> PathBuf {
    PathBuf::from(paths::DEFAULT_SYSLOG_SOCKET)
}
fn default_syslog_format() -> SyslogFormat {
    SyslogFormat::Rfc3164
}
fn default_journal_max_size() -> ByteSize {
    ByteSize(8 << 20)
}
fn default_journal_keep() -> u32 {
    4
}
fn default_socket_mode() -> u32 {
    0o660
}
fn default_max_control_clients() -> usize {
    8
}
fn default_dpinger_sockets() -> String {
    "/var/run/dpinger_*.sock".to_string()
}
fn default_probe_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_probe_timeout() -> Duration {
    Duration::from_secs(10)
}
/// The providers whose old-client trouble the seeds describe.
pub const DEFAULT_TARGETS: [&str; 5] = [
    "imaps://outlook.office365.com",
    "pop3s://outlook.office365.com",
    "imaps://imap.gmail.com",
    "imaps://imap.mail.me.com",
    "imaps://imap.mail.yahoo.com",
];
fn default_targets() -> Vec<Target> {
    DEFAULT_TARGETS
        .iter()
        .filter_map(|url| Target::parse(url).ok())
        .collect()
}
fn default_window() -> Duration {
    DiagnosisConfig::default().window
}
fn default_slow_dns() -> Duration {
    DiagnosisConfig::default().slow_dns
}
fn default_slow_server() -> Duration {
    DiagnosisConfig::default().slow_server
}
fn default_max_sessions() -> usize {
    crate::track::TrackerConfig::default().max_sessions
}

fn default_max_sessions_per_client() -> usize {
    crate::track::TrackerConfig::default().max_sessions_per_client
}
fn default_snap_len() -> u32 {
    crate::sys::CaptureOptions::default().snap_len
}
fn default_buffer_size() -> ByteSize {
    ByteSize(u64::from(crate::sys::CaptureOptions::default().buffer_size))
}
fn default_evidence_ring() -> ByteSize {
    ByteSize(16_000_000)
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            socket: default_socket(),
            state_dir: default_state_dir(),
            user: UserSetting::default(),
            syslog: true,
            syslog_facility: default_facility(),
            log_level: default_log_level(),
            syslog_format: default_syslog_format(),
            syslog_socket: default_syslog_socket(),
            journal_max_size: default_journal_max_size(),
            journal_keep: default_journal_keep(),
            socket_mode: default_socket_mode(),
            max_control_clients: default_max_control_clients(),
        }
    }
}

impl Default for WanConfig {
    fn default() -> Self {
        Self {
            interfaces: Vec::new(),
            dpinger_sockets: default_dpinger_sockets(),
        }
    }
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            interval: default_probe_interval(),
            timeout: default_probe_timeout(),
            targets: default_targets(),
            nameservers: Vec::new(),
            ca_file: None,
            allow_any_target: false,
        }
    }
}

impl Default for DiagnosisSection {
    fn default() -> Self {
        Self {
            window: default_window(),
            slow_dns: default_slow_dns(),
            slow_server: default_slow_server(),
        }
    }
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            max_sessions: default_max_sessions(),
            max_sessions_per_client: default_max_sessions_per_client(),
            snap_len: default_snap_len(),
            buffer_size: default_buffer_size(),
            evidence_ring: default_evidence_ring(),
        }
    }
}

impl CaptureConfig {
    /// The tracker's table limits.
    pub fn tracker(&self) -> crate::track::TrackerConfig {
        crate::track::TrackerConfig {
            max_sessions: self.max_sessions,
            max_sessions_per_client: self.max_sessions_per_client,
            ..crate::track::TrackerConfig::default()
        }
    }

    /// What each live capture asks the kernel for.
    pub fn options(&self) -> crate::sys::CaptureOptions {
        crate::sys::CaptureOptions {
            snap_len: self.snap_len,
            buffer_size: u32::try_from(self.buffer_size.0).unwrap_or(u32::MAX),
        }
    }
}

impl DaemonConfig {
    /// The journal's rotation settings.
    pub fn journal_options(&self) -> crate::report::journal::JournalOptions {
        crate::report::journal::JournalOptions {
            max_size: self.journal_max_size.0,
            keep: self.journal_keep,
            ..Default::default()
        }
    }
}

impl DiagnosisSection {
    /// The engine's thresholds.
    pub fn to_engine(&self) -> DiagnosisConfig {
        DiagnosisConfig {
            window: self.window,
            slow_dns: self.slow_dns,
            slow_server: self.slow_server,
        }
    }
}

/// Interface names: 1 to 15 bytes (IFNAMSIZ is 16 on Linux and FreeBSD), no `/` or spaces.
fn interface_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(deserializer)?;
    for name in &names {
        let legal = !name.is_empty()
            && name.len() <= 15
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'*');
        if !legal {
            return Err(serde::de::Error::custom(format!(
                "invalid interface name {name:?} (1 to 15 characters, no spaces, '/' or '*')"
            )));
        }
    }
    Ok(names)
}

fn journal_keep<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(deserializer)?;
    if n > 100 {
        return Err(serde::de::Error::custom(format!(
            "{n} rotated journal files is too many (0 to 100)"
        )));
    }
    Ok(n)
}

fn socket_mode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let mode = u32::deserialize(deserializer)?;
    if mode > 0o777 {
        return Err(serde::de::Error::custom(format!(
            "{mode} is not a permission mode; write it in octal, e.g. 0o660"
        )));
    }
    Ok(mode)
}

fn max_control_clients<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(deserializer)?;
    if !(1..=1024).contains(&n) {
        return Err(serde::de::Error::custom(format!(
            "{n} control clients: must be from 1 to 1024"
        )));
    }
    Ok(n)
}

fn nameservers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<SocketAddr>, D::Error> {
    Vec::<String>::deserialize(deserializer)?
        .iter()
        .map(|text| parse_nameserver(text).map_err(serde::de::Error::custom))
        .collect()
}

/// `192.0.2.1`, `2001:db8::1`, `192.0.2.1:5353` or `[2001:db8::1]:5353`.
fn parse_nameserver(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    t.parse::<SocketAddr>().map_err(|_| {
        format!("invalid nameserver {text:?}: expected an IP address, optionally with a port")
    })
}

fn optional_path<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<PathBuf>, D::Error> {
    let text = String::deserialize(deserializer)?;
    Ok((!text.is_empty()).then(|| PathBuf::from(text)))
}

/// Where the configuration came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Read from this file.
    File(PathBuf),
    /// No file at the default path: built-in defaults.
    Defaults { looked_for: PathBuf },
}

/// Something worth telling the owner that does not stop the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    pub message: String,
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "warning: {}", self.message)
    }
}

/// A loaded configuration, where it came from and the warnings it drew.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    pub config: Config,
    pub source: Source,
    pub warnings: Vec<ConfigWarning>,
}

impl LoadedConfig {
    /// The file read, or the default path that was looked for.
    pub fn path(&self) -> &Path {
        match &self.source {
            Source::File(p) => p,
            Source::Defaults { looked_for } => looked_for,
        }
    }
}

/// Loads the configuration. `None`: the default path, and built-in defaults when no file is
/// there. An explicit path that does not exist is an error naming it.
pub fn load(path: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
    load_with(path, &crate::sys::privs::user_exists)
}

/// [`load`] with the account lookup supplied (tests use a fixed list).
pub fn load_with(
    path: Option<&Path>,
    user_exists: &dyn Fn(&str) -> bool,
) -> Result<LoadedConfig, ConfigError> {
    let (file, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from(paths::DEFAULT_CONFIG), false),
    };
    let text = match fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            let config = Config::default();
            let mut warnings = Vec::new();
            check_user(&config, &file, "", user_exists, &mut warnings)?;
            warnings.extend(config.check());
            return Ok(LoadedConfig {
                config,
                source: Source::Defaults { looked_for: file },
                warnings,
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::NotFound { path: file })
        }
        Err(e) => {
            return Err(ConfigError::Io {
                path: file,
                error: e,
            })
        }
    };
    let config = parse(&text, &file)?;
    let mut warnings = Vec::new();
    if let Ok(meta) = fs::metadata(&file) {
        if meta.permissions().mode() & 0o002 != 0 {
            warnings.push(ConfigWarning {
                message: format!(
                    "{} is writable by every user; anyone on this host can change what mailpulse does",
                    file.display()
                ),
            });
        }
    }
    check_user(&config, &file, &text, user_exists, &mut warnings)?;
    if let Some(ca) = &config.probe.ca_file {
        if !ca.is_file() {
            warnings.push(ConfigWarning {
                message: format!(
                    "[probe] ca_file {} is not a readable file; probes will use the system roots only",
                    ca.display()
                ),
            });
        }
    }
    warnings.extend(config.check());
    Ok(LoadedConfig {
        config,
        source: Source::File(file),
        warnings,
    })
}

/// Parses configuration text; errors carry `file:line:col`.
pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let config =
        toml::from_str::<Config>(text).map_err(|e| ConfigError::from_toml(&e, text, file))?;
    check_targets(&config, text, file)?;
    Ok(config)
}

/// Refuses probe targets outside the mail ports or on the router's own, link-local or
/// multicast addresses, unless `[probe] allow_any_target = true`; the error points at the
/// target's string in the file.
fn check_targets(config: &Config, text: &str, file: &Path) -> Result<(), ConfigError> {
    if config.probe.allow_any_target {
        return Ok(());
    }
    let Some((index, why)) = config
        .probe
        .targets
        .iter()
        .enumerate()
        .find_map(|(i, t)| t.refusal().map(|why| (i, why)))
    else {
        return Ok(());
    };
    // Only the spans are wanted here: every other key was checked by the parse above.
    #[derive(Deserialize)]
    struct Spans {
        #[serde(default)]
        probe: Option<ProbeSpans>,
    }
    #[derive(Deserialize)]
    struct ProbeSpans {
        #[serde(default)]
        targets: Vec<toml::Spanned<String>>,
    }
    let offset = toml::from_str::<Spans>(text)
        .ok()
        .and_then(|s| s.probe)
        .and_then(|p| p.targets.get(index).map(|t| t.span().start + 1))
        .unwrap_or(0);
    let target = &config.probe.targets[index];
    Err(ConfigError::at(
        file,
        text,
        offset,
        format!(
            "[probe] targets: {target} is refused: {why} (set [probe] allow_any_target = true to allow it)"
        ),
    ))
}

fn check_user(
    config: &Config,
    file: &Path,
    text: &str,
    user_exists: &dyn Fn(&str) -> bool,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    let user = &config.daemon.user;
    if user.stays_root() || user_exists(&user.name) {
        return Ok(());
    }
    if user.explicit {
        let start = user.span.as_ref().map_or(0, |s| s.start);
        return Err(ConfigError::at(
            file,
            text,
            start,
            format!(
                "[daemon] user: no account named {:?} on this system (create it, or set user = \"\" to stay root)",
                user.name
            ),
        ));
    }
    warnings.push(ConfigWarning {
        message: format!(
            "no account named {:?}; the daemon will refuse to start as root (create the account, or set user = \"\" in [daemon] to run as root on purpose)",
            user.name
        ),
    });
    Ok(())
}

impl Config {
    /// Checks that span fields; each finding is a warning, the daemon still runs.
    pub fn check(&self) -> Vec<ConfigWarning> {
        let mut found = Vec::new();
        let mut warn = |message: String| found.push(ConfigWarning { message });
        if self.probe.targets.is_empty() {
            warn("[probe] targets is empty: no active probes, so verdicts rest on passive evidence only".into());
        }
        if self.probe.timeout > self.probe.interval {
            warn(format!(
                "[probe] timeout ({}) is longer than interval ({}): probes of a slow target will overlap",
                humantime::format_duration(self.probe.timeout),
                humantime::format_duration(self.probe.interval)
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.probe.targets {
            if !seen.insert(t.to_string()) {
                warn(format!("[probe] target {t} is listed twice"));
            }
        }
        for name in &self.lan.interfaces {
            if self.wan.interfaces.contains(name) {
                warn(format!(
                    "interface {name:?} is listed as both [wan] and [lan]; its mail sessions will be tracked and its link watched as the WAN"
                ));
            }
        }
        let d = &self.diagnosis;
        for (key, value) in [("slow_dns", d.slow_dns), ("slow_server", d.slow_server)] {
            if value >= d.window {
                warn(format!(
                    "[diagnosis] {key} ({}) is not shorter than window ({}): nothing can be judged slow inside the window",
                    humantime::format_duration(value),
                    humantime::format_duration(d.window)
                ));
            }
        }
        if self.capture.snap_len < 256 {
            warn(format!(
                "[capture] snap_len {} is too short to see TLS hellos and server replies; 2048 is the default",
                self.capture.snap_len
            ));
        }
        if self.capture.max_sessions == 0 {
            warn("[capture] max_sessions is 0: no mail session can be tracked".into());
        }
        for (key, path) in [
            ("socket", &self.daemon.socket),
            ("state_dir", &self.daemon.state_dir),
        ] {
            if path.is_relative() {
                warn(format!(
                    "[daemon] {key} {} is a relative path; the daemon runs from / and will look for it there",
                    path.display()
                ));
            }
        }
        if self.daemon.socket_mode & 0o007 != 0 {
            warn(format!(
                "[daemon] socket_mode {:o} lets every local user read the event history",
                self.daemon.socket_mode
            ));
        }
        found
    }

    /// A one-line summary for `check-config`.
    pub fn summary(&self) -> String {
        let lan = if self.lan.interfaces.is_empty() {
            "auto".to_string()
        } else {
            self.lan.interfaces.join(",")
        };
        let wan = if self.wan.interfaces.is_empty() {
            "auto".to_string()
        } else {
            self.wan.interfaces.join(",")
        };
        format!(
            "{} probe target(s) every {}, wan {wan}, lan {lan}, socket {}, state in {}",
            self.probe.targets.len(),
            humantime::format_duration(self.probe.interval),
            self.daemon.socket.display(),
            self.daemon.state_dir.display()
        )
    }
}

#[cfg(test)]
mod tests;
