//! Reload (SIGHUP, or `mailpulse reload` over the control socket): re-read the configuration
//! file and apply every setting that can change while the daemon runs; name plainly the few
//! that need a restart.
//!
//! Applied live: `[lan] interfaces` (captures started and stopped; a new one opens with the
//! capability or spare descriptors kept at the privilege drop), `[capture] snap_len` and
//! `buffer_size` (every capture reopened), `[wan] interfaces` and `dpinger_sockets`, every
//! `[probe]` and `[diagnosis]` key, `[daemon] log_level`, the syslog keys, and the control
//! socket's path and mode when the daemon may create and change them (as root, or in a
//! directory its user owns). Needing a restart: `user` and `state_dir` (they decide what runs
//! as whom and where), the journal's sizes, `max_sessions`, `evidence_ring` and
//! `max_control_clients` (each sizes something allocated at start).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::config::{self, Config};
use crate::control::{server, ReloadReport, Response};
use crate::diagnose::event::Severity;
use crate::observe::observation::ObservationKind;
use crate::report::syslog::Syslog;
use crate::sys::discover::discover;
use crate::sys::{self, CaptureOptions, LinkSnapshot};

use super::run::{capture_task, dpinger_task, lock, serve, spawn_probes, Bursts, Shared};
use crate::sys::clock::now;

/// Everything a reload may change, and the tasks it restarts.
pub struct Reloader {
    /// The file to re-read; `None`: the default path (built-in defaults while it is absent).
    pub path: Option<PathBuf>,
    pub current: Config,
    pub foreground: bool,
    pub state: Shared,
    pub probes: Option<JoinHandle<()>>,
    pub bursts: Bursts,
    /// One task per LAN interface captured.
    pub captures: BTreeMap<String, JoinHandle<()>>,
    /// The LAN interfaces in effect (configured, or discovered when none are).
    pub lan: Vec<String>,
    pub capture_options: CaptureOptions,
    pub reopen: broadcast::Sender<String>,
    /// `[wan] interfaces` for the link task (empty: follow the default routes).
    pub wan: watch::Sender<Vec<String>>,
    /// The link task's view of the interfaces, for LAN discovery.
    pub snapshot: watch::Receiver<LinkSnapshot>,
    pub dpinger: Option<JoinHandle<()>>,
    pub control: Option<JoinHandle<()>>,
    pub handler: Option<server::Handler>,
}

impl Reloader {
    /// Re-reads the file and applies it; the answer for `mailpulse reload`. A refused file
    /// changes nothing.
    pub fn reload_file(&mut self) -> Response {
        match config::load(self.path.as_deref()) {
            Err(e) => {
                lock(&self.state).notice(
                    Severity::Err,
                    &format!("reload refused, keeping the running configuration: {e}"),
                    now(),
                );
                Response::ReloadRefused {
                    message: e.to_string(),
                }
            }
            Ok(fresh) => Response::Reloaded(self.apply(fresh.config)),
        }
    }

    /// Applies `new` over the running configuration; says what changed.
    pub fn apply(&mut self, new: Config) -> ReloadReport {
        let old = std::mem::replace(&mut self.current, new.clone());
        let mut report = Changes::default();
        self.apply_capture(&old, &new, &mut report);
        self.apply_wan(&old, &new, &mut report);
        self.apply_daemon(&old, &new, &mut report);
        self.apply_probe_and_diagnosis(&old, &new, &mut report);
        let report = report.finish();
        let mut st = lock(&self.state);
        if let Some(timeouts) = sys::firewall::tcp_established_timeout() {
            st.observe(now(), ObservationKind::FirewallTimeouts(timeouts));
        }
        st.notice(
            Severity::Notice,
            &format!("configuration reloaded: {}", report.summary),
            now(),
        );
        report
    }

    fn apply_daemon(&mut self, old: &Config, new: &Config, report: &mut Changes) {
        let (o, n) = (&old.daemon, &new.daemon);
        if o.log_level != n.log_level {
            lock(&self.state).log_level = n.log_level;
            report.applied("log level", o.log_level, n.log_level);
        }
        let syslog_changed = o.syslog != n.syslog
            || o.syslog_facility != n.syslog_facility
            || o.syslog_format != n.syslog_format
            || o.syslog_socket != n.syslog_socket;
        if syslog_changed {
            match Syslog::new(
                &n.syslog_socket,
                n.syslog,
                n.syslog_facility,
                n.syslog_format,
                self.foreground,
            ) {
                Ok(syslog) => {
                    lock(&self.state).set_syslog(syslog);
                    report.applied("syslog", describe_syslog(old), describe_syslog(new));
                }
                Err(e) => report.restart("syslog", format!("cannot open a syslog socket: {e}")),
            }
        }
        if o.socket != n.socket {
            self.move_socket(old, new, report);
        } else if o.socket_mode != n.socket_mode {
            match std::fs::set_permissions(
                &n.socket,
                std::fs::Permissions::from_mode(n.socket_mode),
            ) {
                Ok(()) => report.applied(
                    "socket mode",
                    format!("{:o}", o.socket_mode),
                    format!("{:o}", n.socket_mode),
                ),
                Err(e) => report.restart("socket_mode", format!("{}: {e}", n.socket.display())),
            }
        }
        if o.max_control_clients != n.max_control_clients {
            report.restart("max_control_clients", "sizes the control server at start");
        }
        if o.user != n.user {
            report.restart("user", "privileges are dropped once, at start");
        }
        if o.state_dir != n.state_dir {
            report.restart("state_dir", "the state files are opened at start");
        }
        if o.journal_max_size != n.journal_max_size || o.journal_keep != n.journal_keep {
            report.restart(
                "journal_max_size/journal_keep",
                "the journal is opened at start",
            );
        }
    }

    /// A new control socket path: bound first, then the old one is closed and removed, so a
    /// failure leaves the daemon answering where it did.
    fn move_socket(&mut self, old: &Config, new: &Config, report: &mut Changes) {
        let (from, to) = (&old.daemon.socket, &new.daemon.socket);
        let Some(handler) = self.handler.clone() else {
            report.restart("socket", "the control server is not running");
            return;
        };
        match server::bind(to, new.daemon.socket_mode) {
            Ok(listener) => {
                if let Some(task) = self.control.take() {
                    task.abort();
                }
                self.control = Some(tokio::spawn(serve(
                    listener,
                    handler,
                    old.daemon.max_control_clients,
                    self.state.clone(),
                )));
                let _ = std::fs::remove_file(from);
                report.applied("socket", from.display(), to.display());
            }
            Err(e) => {
                // Still answering on the old path: keep it as the one removed at exit.
                self.current.daemon.socket = from.clone();
                report.restart("socket", e);
            }
        }
    }

    fn apply_capture(&mut self, old: &Config, new: &Config, report: &mut Changes) {
        let (o, n) = (&old.capture, &new.capture);
        if o.max_sessions != n.max_sessions {
            report.restart("max_sessions", "the session table is sized at start");
        }
        if o.evidence_ring != n.evidence_ring {
            report.restart("evidence_ring", "the evidence ring is sized at start");
        }
        let options = n.options();
        let reopen_all = options != self.capture_options;
        if reopen_all {
            report.applied(
                "capture snap_len/buffer_size",
                format!("{}/{}", o.snap_len, o.buffer_size.0),
                format!("{}/{}", n.snap_len, n.buffer_size.0),
            );
            self.capture_options = options;
        }
        let lan = if new.lan.interfaces.is_empty() {
            discover(&self.snapshot.borrow()).lan
        } else {
            new.lan.interfaces.clone()
        };
        if lan != self.lan {
            report.applied("LAN interfaces", list(&self.lan), list(&lan));
        }
        let mut st_removed = Vec::new();
        self.captures.retain(|interface, task| {
            let keep = lan.contains(interface) && !reopen_all;
            if !keep {
                task.abort();
                st_removed.push(interface.clone());
            }
            keep
        });
        {
            let mut st = lock(&self.state);
            for interface in &st_removed {
                st.remove_capture(interface);
            }
        }
        for interface in &lan {
            if self.captures.contains_key(interface) {
                continue;
            }
            let task = tokio::spawn(capture_task(
                interface.clone(),
                None,
                self.capture_options.clone(),
                self.state.clone(),
                self.reopen.subscribe(),
            ));
            self.captures.insert(interface.clone(), task);
        }
        self.lan = lan;
    }

    fn apply_wan(&mut self, old: &Config, new: &Config, report: &mut Changes) {
        if old.wan.interfaces != new.wan.interfaces {
            self.wan.send_replace(new.wan.interfaces.clone());
            report.applied(
                "WAN interfaces",
                list_or_auto(&old.wan.interfaces),
                list_or_auto(&new.wan.interfaces),
            );
        }
        if old.wan.dpinger_sockets != new.wan.dpinger_sockets {
            if let Some(task) = self.dpinger.take() {
                task.abort();
            }
            self.dpinger = Some(tokio::spawn(dpinger_task(
                new.wan.dpinger_sockets.clone(),
                self.state.clone(),
            )));
            report.applied(
                "dpinger sockets",
                &old.wan.dpinger_sockets,
                &new.wan.dpinger_sockets,
            );
        }
    }

    fn apply_probe_and_diagnosis(&mut self, old: &Config, new: &Config, report: &mut Changes) {
        if old.diagnosis != new.diagnosis {
            lock(&self.state)
                .core
                .set_diagnosis(new.diagnosis.to_engine());
            report.applied(
                "diagnosis",
                describe_diagnosis(old),
                describe_diagnosis(new),
            );
        }
        if old.probe != new.probe {
            lock(&self.state).core.set_probe_targets(
                new.probe
                    .targets
                    .iter()
                    .map(|t| (t.host_str(), t.to_string())),
            );
            if let Some(handle) = self.probes.take() {
                handle.abort();
            }
            self.probes = spawn_probes(new, self.state.clone(), self.bursts.clone());
            report.applied("probes", describe_probes(old), describe_probes(new));
        }
    }

    /// Stops every task the reloader owns (the daemon is exiting).
    pub fn stop(&mut self) {
        for (_, task) in std::mem::take(&mut self.captures) {
            task.abort();
        }
        for task in [self.probes.take(), self.dpinger.take(), self.control.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

/// What a reload applied and what waits for a restart, collected as it goes.
#[derive(Default)]
struct Changes {
    applied: Vec<String>,
    needs_restart: Vec<String>,
}

impl Changes {
    fn applied(&mut self, what: &str, old: impl Display, new: impl Display) {
        self.applied.push(format!("{what} {old} -> {new}"));
    }

    fn restart(&mut self, what: &str, why: impl Display) {
        self.needs_restart.push(format!("{what} ({why})"));
    }

    fn finish(self) -> ReloadReport {
        let mut summary = if self.applied.is_empty() {
            "applied: nothing changed".to_string()
        } else {
            format!("applied: {}", self.applied.join("; "))
        };
        if !self.needs_restart.is_empty() {
            summary.push_str(&format!(
                "; not applied until a restart: {}",
                self.needs_restart.join("; ")
            ));
        }
        ReloadReport {
            summary,
            applied: self.applied,
            needs_restart: self.needs_restart,
        }
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

fn list_or_auto(names: &[String]) -> String {
    if names.is_empty() {
        "auto".to_string()
    } else {
        names.join(", ")
    }
}

fn describe_syslog(config: &Config) -> String {
    let d = &config.daemon;
    if !d.syslog {
        return "off".to_string();
    }
    format!(
        "{} {} to {}",
        d.syslog_facility,
        d.syslog_format,
        d.syslog_socket.display()
    )
}

fn describe_diagnosis(config: &Config) -> String {
    let d = &config.diagnosis;
    format!(
        "window {}, slow_dns {}, slow_server {}",
        humantime::format_duration(d.window),
        humantime::format_duration(d.slow_dns),
        humantime::format_duration(d.slow_server)
    )
}

fn describe_probes(config: &Config) -> String {
    let p = &config.probe;
    let targets: Vec<String> = p.targets.iter().map(|t| t.to_string()).collect();
    format!(
        "[{}] every {}",
        targets.join(", "),
        humantime::format_duration(p.interval)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_one_plain_sentence() {
        let mut c = Changes::default();
        c.applied("LAN interfaces", "br-lan", "br-lan, eth2");
        c.applied("log level", "info", "debug");
        let r = c.finish();
        assert_eq!(
            r.summary,
            "applied: LAN interfaces br-lan -> br-lan, eth2; log level info -> debug"
        );
        let mut c = Changes::default();
        c.restart("state_dir", "the state files are opened at start");
        assert_eq!(
            c.finish().summary,
            "applied: nothing changed; not applied until a restart: state_dir (the state files are opened at start)"
        );
    }
}
