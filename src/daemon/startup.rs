//! Starting the daemon, in order: the syslog socket, the state directory, what needs root (the
//! link monitor, the LAN captures, the control socket) and the privilege drop, then the state
//! files and the first observations. [`super::run`] calls these steps one after the other.

use std::io;
use std::sync::{Arc, Mutex};

use tokio::net::UnixListener;
use tokio::sync::mpsc;

use crate::config::{self, Config, LoadedConfig};
use crate::control::server;
use crate::diagnose::event::Severity;
use crate::observe::observation::ObservationKind;
use crate::report::journal::Journal;
use crate::report::syslog::Syslog;
use crate::report::timeline::TimelineWriter;
use crate::sys::capture::Capture;
use crate::sys::clock::now;
use crate::sys::discover::discover;
use crate::sys::link::LinkMonitor;
use crate::sys::{self, CaptureOptions, LinkSnapshot};
use crate::time::Timestamp;

use super::core::Core;
use super::evidence::EvidenceRing;
use super::exitcode;
use super::link_snapshot;
use super::run::Shared;
use super::state::{Outputs, State};
use super::state_dir;

/// Spare capture descriptors opened before the privilege drop where the OS needs them for
/// captures opened later (FreeBSD's /dev/bpf): re-created interfaces and reloads use them up.
const SPARE_CAPTURES: usize = 16;

/// What is said before the state exists: logged once it does.
pub(super) type Notes = Vec<(Severity, String)>;

/// Why the start stopped: the exit code, and the message logged.
pub(super) struct Refusal {
    pub code: i32,
    pub message: String,
}

/// A capture per LAN interface, in order; `None` where it could not be opened (its task
/// retries).
pub(super) type LanCaptures = Vec<(String, Option<Capture>)>;

/// What was opened as root, before the privilege drop.
pub(super) struct Opened {
    pub monitor: Option<LinkMonitor>,
    /// The link state at start: the link monitor's baseline.
    pub snapshot: LinkSnapshot,
    pub wan: Vec<String>,
    pub lan: Vec<String>,
    pub captures: LanCaptures,
    /// The captures that could not be opened: the interface and why.
    pub capture_errors: Vec<(String, String)>,
    pub listener: UnixListener,
}

pub(super) fn open_syslog(config: &Config, foreground: bool) -> io::Result<Syslog> {
    Syslog::new(
        &config.daemon.syslog_socket,
        config.daemon.syslog,
        config.daemon.syslog_facility,
        config.daemon.syslog_format,
        foreground,
    )
}

/// The configuration's warnings, to be logged once the state exists.
pub(super) fn config_warnings(loaded: &LoadedConfig) -> Notes {
    loaded
        .warnings
        .iter()
        .map(|w| (Severity::Warning, w.message.clone()))
        .collect()
}

/// Stops the start: the message goes to syslog, and to stderr when syslog's copy does not
/// (outside the foreground). Returns the exit code.
pub(super) fn refuse(syslog: &mut Syslog, foreground: bool, refusal: Refusal) -> i32 {
    if !foreground {
        eprintln!("mailpulse: {}", refusal.message);
    }
    let _ = syslog.message(Severity::Err, &refusal.message, now());
    refusal.code
}

/// Makes the state directory ready for the account the daemon drops to; returns that account
/// (`None`: the daemon keeps running as it was started).
pub(super) fn prepare_state_dir(
    config: &Config,
    notes: &mut Notes,
) -> Result<Option<state_dir::Owner>, Refusal> {
    let refusal = |message| Refusal {
        code: exitcode::CONFIG,
        message,
    };
    let owner = account(config).map_err(refusal)?;
    state_dir::prepare(&config.daemon.state_dir, owner).map_err(refusal)?;
    if let Some(owner) = owner {
        if !state_dir::writable_by(&config.daemon.state_dir, owner) {
            notes.push((
                Severity::Err,
                format!(
                    "state directory {} is not writable by {}: the journal cannot be kept (the \
                     package creates it owned by that user; chown it)",
                    config.daemon.state_dir.display(),
                    config.daemon.user.name
                ),
            ));
        }
    }
    Ok(owner)
}

/// The account to drop to, or `None` when the daemon keeps running as it was started (`user =
/// ""`, or not started as root: systemd's `User=`). A missing account stops the start: running
/// as root because an account was not created would be a silent downgrade.
fn account(config: &Config) -> Result<Option<state_dir::Owner>, String> {
    let user = &config.daemon.user;
    if user.stays_root() || !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name(&user.name) {
        Ok(Some(account)) => Ok(Some(state_dir::Owner {
            uid: account.uid,
            gid: account.gid,
        })),
        Ok(None) => Err(format!(
            "user {:?} does not exist: not starting as root. Create the account (the package \
             does), or set user = \"\" in [daemon] to run as root on purpose",
            user.name
        )),
        Err(e) => Err(format!("cannot look up user {:?}: {e}", user.name)),
    }
}

/// Opens everything that needs root, then drops privileges: to `[daemon] user` when
/// `dropping`, else the process is only hardened.
pub(super) fn open_as_root(
    config: &Config,
    capture_options: &CaptureOptions,
    dropping: bool,
    notes: &mut Notes,
) -> Result<Opened, Refusal> {
    let (monitor, snapshot) = open_link_monitor(notes);
    let found = discover(&snapshot);
    let wan = configured_or(&config.wan.interfaces, &found.wan);
    let lan = configured_or(&config.lan.interfaces, &found.lan);
    let (captures, capture_errors) = open_captures(&lan, capture_options);
    if dropping {
        keep_spare_captures(notes);
    }
    sys::firewall::open_before_drop();
    let listener = bind_control(config)?;
    drop_privileges(config, dropping)?;
    Ok(Opened {
        monitor,
        snapshot,
        wan,
        lan,
        captures,
        capture_errors,
        listener,
    })
}

/// The interfaces the configuration names, or else those found.
fn configured_or(configured: &[String], found: &[String]) -> Vec<String> {
    if configured.is_empty() {
        found.to_vec()
    } else {
        configured.to_vec()
    }
}

/// The link monitor and a first snapshot of the link state (empty when either fails: WAN
/// changes then go unseen, which is said).
fn open_link_monitor(notes: &mut Notes) -> (Option<LinkMonitor>, LinkSnapshot) {
    let mut monitor = match LinkMonitor::open() {
        Ok(m) => Some(m),
        Err(e) => {
            notes.push((
                Severity::Err,
                format!("link monitor unavailable ({e}); WAN changes will not be seen"),
            ));
            None
        }
    };
    let snapshot = match monitor.as_mut().map(LinkMonitor::snapshot) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            notes.push((Severity::Err, format!("cannot read the interfaces: {e}")));
            LinkSnapshot::default()
        }
        None => LinkSnapshot::default(),
    };
    (monitor, snapshot)
}

/// A capture per LAN interface, in order, and the ones that failed with why.
fn open_captures(lan: &[String], options: &CaptureOptions) -> (LanCaptures, Vec<(String, String)>) {
    let mut captures = Vec::new();
    let mut errors = Vec::new();
    for interface in lan {
        let opened = Capture::open(interface, options);
        if let Err(e) = &opened {
            errors.push((
                interface.clone(),
                format!("cannot capture on {interface}: {e}"),
            ));
        }
        captures.push((interface.clone(), opened.ok()));
    }
    (captures, errors)
}

fn keep_spare_captures(notes: &mut Notes) {
    if let Err(e) = sys::capture::reserve_for_reopen(SPARE_CAPTURES) {
        notes.push((
            Severity::Warning,
            format!(
                "cannot keep capture descriptors for later: {e}; a LAN interface that is \
                 re-created or added by a reload needs a restart to be captured"
            ),
        ));
    }
}

fn bind_control(config: &Config) -> Result<UnixListener, Refusal> {
    server::bind(&config.daemon.socket, config.daemon.socket_mode).map_err(|e| Refusal {
        code: if e.kind() == io::ErrorKind::PermissionDenied {
            exitcode::NOPERM
        } else {
            exitcode::UNAVAILABLE
        },
        message: e.to_string(),
    })
}

/// Drops to `[daemon] user` (or only hardens the process); on failure the control socket just
/// bound is removed again.
fn drop_privileges(config: &Config, dropping: bool) -> Result<(), Refusal> {
    let user = &config.daemon.user.name;
    let dropped = if dropping {
        sys::privs::drop_privileges(user)
            .map_err(|e| format!("cannot drop privileges to {user}: {e}"))
    } else {
        sys::privs::harden().map_err(|e| format!("cannot harden the process: {e}"))
    };
    dropped.map_err(|message| {
        let _ = std::fs::remove_file(&config.daemon.socket);
        Refusal {
            code: exitcode::NOPERM,
            message,
        }
    })
}

/// Opens the state files and builds the state. Called after the privilege drop, so nothing
/// planted in the state directory is ever opened with root's rights. Returns the state and the
/// queue of probe bursts it asks for.
pub(super) fn open_state(
    loaded: &LoadedConfig,
    syslog: Syslog,
    started: Timestamp,
    notes: &mut Notes,
) -> (Shared, mpsc::Receiver<String>) {
    let config = &loaded.config;
    let (journal, recovered) =
        Journal::open(&config.daemon.state_dir, config.daemon.journal_options());
    notes.extend(
        recovered
            .warnings
            .into_iter()
            .map(|w| (Severity::Warning, w)),
    );
    let (burst_tx, burst_rx) = mpsc::channel(64);
    let core = Core::new(
        config.capture.tracker(),
        config.diagnosis.to_engine(),
        recovered.events,
        started,
    );
    let evidence = (config.capture.evidence_ring.0 > 0).then(|| {
        let size = config.capture.evidence_ring.0;
        (EvidenceRing::new(&config.daemon.state_dir, size), size)
    });
    let config_path =
        matches!(loaded.source, config::Source::File(_)).then(|| loaded.path().to_path_buf());
    // As much room as the journal gets: the two are read together.
    let timeline = TimelineWriter::new(
        &config.daemon.state_dir,
        config.daemon.journal_max_size.0.saturating_mul(2),
    );
    let outputs = Outputs {
        syslog,
        journal,
        timeline,
        evidence,
    };
    let state = State::new(core, outputs, started, config_path, burst_tx);
    (Arc::new(Mutex::new(state)), burst_rx)
}

/// Logs what was said before the state existed and that the daemon started, then makes the
/// first observations: the WAN, the link state, the firewall's timeouts, the probe targets.
pub(super) fn announce(
    st: &mut State,
    config: &Config,
    opened: &Opened,
    dropping: bool,
    notes: Notes,
) {
    st.log_level = config.daemon.log_level;
    let t = now();
    for (severity, message) in notes {
        st.notice(severity, &message, t);
    }
    for (interface, message) in &opened.capture_errors {
        st.set_capture(interface, None, Some(message.clone()));
        st.notice(Severity::Err, message, t);
    }
    st.notice(
        Severity::Notice,
        &format!(
            "started: WAN {}, LAN {}, {} probe target(s), socket {}",
            list_or_none(&opened.wan),
            list_or_none(&opened.lan),
            config.probe.targets.len(),
            config.daemon.socket.display()
        ),
        t,
    );
    st.notice(
        Severity::Debug,
        &format!(
            "running as {}; state directory {}",
            if dropping {
                config.daemon.user.name.as_str()
            } else {
                "the starting user"
            },
            config.daemon.state_dir.display()
        ),
        t,
    );
    st.observe(t, ObservationKind::WanInterfaces(opened.wan.clone()));
    for change in link_snapshot::diff(&LinkSnapshot::default(), &opened.snapshot) {
        st.observe(t, ObservationKind::Link(change));
    }
    if let Some(timeouts) = sys::firewall::tcp_established_timeout() {
        st.observe(t, ObservationKind::FirewallTimeouts(timeouts));
    }
    st.core.set_probe_targets(
        config
            .probe
            .targets
            .iter()
            .map(|t| (t.host_str(), t.to_string())),
    );
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none found".to_string()
    } else {
        names.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A missing account used to leave the daemon running as root with a warning; it now stops
    /// the start, naming the account.
    #[test]
    fn a_missing_user_stops_the_start_as_root() {
        assert!(nix::unistd::geteuid().is_root(), "this test needs root");
        let mut config = Config::default();
        config.daemon.user.name = "mpp-no-such-user-4e1".to_string();
        let err = account(&config).expect_err("must not fall back to root");
        assert!(err.contains("\"mpp-no-such-user-4e1\""), "{err}");
        assert!(err.contains("not starting as root"), "{err}");
        config.daemon.user.name = String::new();
        assert_eq!(account(&config), Ok(None));
        config.daemon.user.name = "nobody".to_string();
        assert!(matches!(account(&config), Ok(Some(_))));
    }
}
