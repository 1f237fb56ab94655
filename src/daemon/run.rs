//! The daemon's tasks: one per source (each LAN capture, the link monitor, the probes, dpinger),
//! a one-second ticker, the control socket, and the signals. All of them feed [`State`].

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{self, Config, Loaded};
use crate::control::{server, Request, Response};
use crate::diagnose::event::Severity;
use crate::diagnose::observation::{LinkChange, ObservationKind};
use crate::probe::{ProbeOptions, Prober, Target};
use crate::report::journal::Journal;
use crate::report::syslog::Syslog;
use crate::report::timeline::TimelineWriter;
use crate::sys::capture::Capture;
use crate::sys::discover::discover;
use crate::sys::link::LinkMonitor;
use crate::sys::{self, CaptureOptions, LinkRead, LinkSnapshot};

use super::core::Core;
use super::evidence::EvidenceRing;
use super::exitcode;
use super::link_state;
use super::reload::Reloader;
use super::state::{Outputs, State};
use super::state_dir;
use crate::sys::clock::now;

/// How often a capture whose interface is missing is tried again.
const CAPTURE_RETRY: Duration = Duration::from_secs(2);
/// Re-dump the link state this often: FreeBSD's routing socket drops messages silently.
const LINK_RESYNC: Duration = Duration::from_secs(60);
/// dpinger's sockets are read this often.
const DPINGER_INTERVAL: Duration = Duration::from_secs(5);
const DPINGER_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the tracker and engine are told that time passed.
const EXPIRE_INTERVAL: Duration = Duration::from_millis(100);
/// How often the journal is synced and the evidence flushed (with an expiry pass).
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// Capture counters are refreshed at most this often.
const STATS_INTERVAL: Duration = Duration::from_secs(1);

pub(super) type Shared = Arc<Mutex<State>>;

pub(super) fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic aborts the process (panic = "abort"), so a poisoned lock cannot be observed in
    // release builds; in tests, carry on with the data as it is.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Spare capture descriptors opened before the privilege drop where the OS needs them for
/// captures opened later (FreeBSD's /dev/bpf): re-created interfaces and reloads use them up.
const SPARE_CAPTURES: usize = 16;

/// Runs the daemon until SIGTERM or SIGINT; returns the exit code.
pub async fn run(loaded: Loaded, foreground: bool) -> i32 {
    let config = loaded.config.clone();
    let started = now();
    let mut syslog = match Syslog::new(
        &config.daemon.syslog_socket,
        config.daemon.syslog,
        config.daemon.syslog_facility,
        config.daemon.syslog_format,
        foreground,
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mailpulse: cannot open a syslog socket: {e}");
            return exitcode::OSERR;
        }
    };
    // Said before the state exists; logged once it does (or on the way out).
    let mut early: Vec<(Severity, String)> = loaded
        .warnings
        .iter()
        .map(|w| (Severity::Warning, w.message.clone()))
        .collect();
    let fail = |syslog: &mut Syslog, code: i32, message: &str| {
        if !foreground {
            eprintln!("mailpulse: {message}");
        }
        let _ = syslog.message(Severity::Err, message, now());
        code
    };

    let owner = match account(&config) {
        Ok(owner) => owner,
        Err(message) => return fail(&mut syslog, exitcode::CONFIG, &message),
    };
    if let Err(message) = state_dir::prepare(&config.daemon.state_dir, owner) {
        return fail(&mut syslog, exitcode::CONFIG, &message);
    }
    if let Some(owner) = owner {
        if !state_dir::writable_by(&config.daemon.state_dir, owner) {
            early.push((
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

    // Open everything that needs root before privileges are dropped.
    let mut monitor = match LinkMonitor::open() {
        Ok(m) => Some(m),
        Err(e) => {
            early.push((
                Severity::Err,
                format!("link monitor unavailable ({e}); WAN changes will not be seen"),
            ));
            None
        }
    };
    let snapshot = match monitor.as_mut().map(LinkMonitor::snapshot) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            early.push((Severity::Err, format!("cannot read the interfaces: {e}")));
            LinkSnapshot::default()
        }
        None => LinkSnapshot::default(),
    };
    let found = discover(&snapshot);
    let wan = if config.wan.interfaces.is_empty() {
        found.wan.clone()
    } else {
        config.wan.interfaces.clone()
    };
    let lan = if config.lan.interfaces.is_empty() {
        found.lan.clone()
    } else {
        config.lan.interfaces.clone()
    };
    let capture_options = config.capture.options();
    let mut captures = Vec::new();
    let mut capture_errors = Vec::new();
    for interface in &lan {
        let opened = Capture::open(interface, &capture_options);
        if let Err(e) = &opened {
            capture_errors.push((
                interface.clone(),
                format!("cannot capture on {interface}: {e}"),
            ));
        }
        captures.push((interface.clone(), opened.ok()));
    }
    let dropping = owner.is_some();
    if dropping {
        if let Err(e) = sys::capture::reserve_for_reopen(SPARE_CAPTURES) {
            early.push((
                Severity::Warning,
                format!(
                    "cannot keep capture descriptors for later: {e}; a LAN interface that is \
                     re-created or added by a reload needs a restart to be captured"
                ),
            ));
        }
    }
    sys::firewall::open_before_drop();
    let listener = match server::bind(&config.daemon.socket, config.daemon.socket_mode) {
        Ok(l) => l,
        Err(e) => {
            let code = if e.kind() == io::ErrorKind::PermissionDenied {
                exitcode::NOPERM
            } else {
                exitcode::UNAVAILABLE
            };
            return fail(&mut syslog, code, &e.to_string());
        }
    };
    let dropped = if dropping {
        sys::privs::drop_privileges(&config.daemon.user.name)
            .map_err(|e| format!("cannot drop privileges to {}: {e}", config.daemon.user.name))
    } else {
        sys::privs::harden().map_err(|e| format!("cannot harden the process: {e}"))
    };
    if let Err(message) = dropped {
        let _ = std::fs::remove_file(&config.daemon.socket);
        return fail(&mut syslog, exitcode::NOPERM, &message);
    }

    // From here on the daemon runs as its user: the state files are opened now, so nothing
    // planted in the state directory is ever opened with root's rights.
    let (journal, recovered) =
        Journal::open(&config.daemon.state_dir, config.daemon.journal_options());
    early.extend(
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
    let state: Shared = Arc::new(Mutex::new(State::new(
        core,
        outputs,
        started,
        config_path,
        burst_tx,
    )));
    {
        let mut st = lock(&state);
        st.log_level = config.daemon.log_level;
        let t = now();
        for (severity, message) in early {
            st.notice(severity, &message, t);
        }
        for (interface, message) in capture_errors {
            st.set_capture(&interface, None, Some(message.clone()));
            st.notice(Severity::Err, &message, t);
        }
        st.notice(
            Severity::Notice,
            &format!(
                "started: WAN {}, LAN {}, {} probe target(s), socket {}",
                list_or_none(&wan),
                list_or_none(&lan),
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
        st.observe(t, ObservationKind::WanInterfaces(wan.clone()));
        for change in link_state::diff(&LinkSnapshot::default(), &snapshot) {
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

    let (reopen_tx, _) = broadcast::channel(16);
    let (wan_tx, wan_rx) = watch::channel(config.wan.interfaces.clone());
    let (snapshot_tx, snapshot_rx) = watch::channel(snapshot.clone());
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    let mut capture_tasks = BTreeMap::new();
    for (interface, opened) in captures {
        let handle = tokio::spawn(capture_task(
            interface.clone(),
            opened,
            capture_options.clone(),
            state.clone(),
            reopen_tx.subscribe(),
        ));
        capture_tasks.insert(interface, handle);
    }
    if let Some(monitor) = monitor {
        tasks.push(tokio::spawn(link_task(
            monitor,
            snapshot,
            wan_rx,
            wan,
            state.clone(),
            reopen_tx.clone(),
            snapshot_tx,
        )));
    }
    tasks.push(tokio::spawn(tick_task(state.clone())));
    let dpinger = tokio::spawn(dpinger_task(
        config.wan.dpinger_sockets.clone(),
        state.clone(),
    ));
    let bursts: Bursts = Arc::new(tokio::sync::Mutex::new(burst_rx));
    let probes = spawn_probes(&config, state.clone(), bursts.clone());
    let reloader = Arc::new(Mutex::new(Reloader {
        path: match &loaded.source {
            config::Source::File(p) => Some(p.clone()),
            config::Source::Defaults { .. } => None,
        },
        current: config.clone(),
        foreground,
        state: state.clone(),
        probes,
        bursts,
        captures: capture_tasks,
        lan,
        capture_options,
        reopen: reopen_tx,
        wan: wan_tx,
        snapshot: snapshot_rx,
        dpinger: Some(dpinger),
        control: None,
        handler: None,
    }));
    let handler_state = state.clone();
    let handler_reloader = Arc::downgrade(&reloader);
    let handler: server::Handler = Arc::new(move |request| match request {
        Request::Reload => match handler_reloader.upgrade() {
            Some(reloader) => lock(&reloader).reload_file(),
            None => Response::Error {
                message: "the daemon is stopping".to_string(),
            },
        },
        other => lock(&handler_state).answer(other, now()),
    });
    {
        let mut r = lock(&reloader);
        r.control = Some(tokio::spawn(serve(
            listener,
            handler.clone(),
            config.daemon.max_control_clients,
            state.clone(),
        )));
        r.handler = Some(handler);
    }

    let code = wait_for_signals(&reloader).await;
    for task in tasks {
        task.abort();
    }
    let socket = {
        let mut r = lock(&reloader);
        r.stop();
        r.current.daemon.socket.clone()
    };
    let mut st = lock(&state);
    st.tick(now());
    st.notice(Severity::Notice, "stopping", now());
    let _ = std::fs::remove_file(&socket);
    code
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none found".to_string()
    } else {
        names.join(",")
    }
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

/// Reads one LAN interface; reopens the capture when the interface comes back. `reopen` names
/// interfaces the link monitor saw vanish: a capture on an interface deleted while it was down
/// gets no error, and would silently read nothing from its successor.
pub(super) async fn capture_task(
    interface: String,
    mut opened: Option<Capture>,
    options: CaptureOptions,
    state: Shared,
    mut reopen: broadcast::Receiver<String>,
) {
    loop {
        let capture = match opened.take() {
            Some(c) => {
                // Listed from the start, not only after the first counters arrive.
                let mut st = lock(&state);
                st.set_capture(&interface, None, None);
                st.notice(Severity::Debug, &format!("capturing on {interface}"), now());
                c
            }
            None => match Capture::open(&interface, &options) {
                Ok(c) => {
                    {
                        let mut st = lock(&state);
                        if st.capture_error(&interface).is_some() {
                            st.notice(
                                Severity::Notice,
                                &format!("capturing on {interface} again"),
                                now(),
                            );
                        } else {
                            st.notice(Severity::Debug, &format!("capturing on {interface}"), now());
                        }
                        st.set_capture(&interface, None, None);
                    }
                    c
                }
                Err(e) => {
                    lock(&state).set_capture(
                        &interface,
                        None,
                        Some(format!("cannot capture on {interface}: {e}")),
                    );
                    tokio::time::sleep(CAPTURE_RETRY).await;
                    continue;
                }
            },
        };
        let error = tokio::select! {
            error = read_capture(&interface, capture, &state) => error,
            () = vanished(&interface, &mut reopen) => {
                io::Error::new(io::ErrorKind::NotFound, format!("{interface} was removed"))
            }
        };
        {
            let mut st = lock(&state);
            let message = format!(
                "capture on {interface} stopped: {error}; retrying every {}",
                crate::time::words::secs(CAPTURE_RETRY)
            );
            st.set_capture(&interface, None, Some(message.clone()));
            st.notice(Severity::Warning, &message, now());
        }
        tokio::time::sleep(CAPTURE_RETRY).await;
    }
}

/// Returns when the link monitor reports `interface` gone.
async fn vanished(interface: &str, reopen: &mut broadcast::Receiver<String>) {
    loop {
        match reopen.recv().await {
            Ok(name) if name == interface => return,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

/// Reads frames as they arrive until the capture fails; returns the error.
async fn read_capture(interface: &str, capture: Capture, state: &Shared) -> io::Error {
    let mut fd = match sys::async_fd::capture(capture) {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    let mut last_stats = now();
    loop {
        let mut ready = match fd.readable_mut().await {
            Ok(r) => r,
            Err(e) => return e,
        };
        let result = {
            let mut st = lock(state);
            ready
                .get_inner_mut()
                .read(&mut |frame| st.on_frame(interface, &frame))
        };
        match result {
            Ok(0) => ready.clear_ready(),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.clear_ready(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return e,
        }
        let t = now();
        if t.saturating_since(last_stats) >= STATS_INTERVAL {
            last_stats = t;
            let stats = fd.get_ref().stats();
            let mut st = lock(state);
            match stats {
                Ok(s) => st.set_capture(interface, Some(s), None),
                Err(e) => {
                    st.set_capture(interface, None, Some(format!("cannot read counters: {e}")))
                }
            }
        }
    }
}

/// Link, address and default-route changes; re-dumps on overflow and every minute.
/// `configured_wan` carries `[wan] interfaces` (empty: follow the default routes), changed by
/// a reload; `published` carries the link state for a reload's LAN discovery.
async fn link_task(
    monitor: LinkMonitor,
    mut known: LinkSnapshot,
    mut configured_wan: watch::Receiver<Vec<String>>,
    mut wan: Vec<String>,
    state: Shared,
    reopen: broadcast::Sender<String>,
    published: watch::Sender<LinkSnapshot>,
) {
    let mut fd = match sys::async_fd::link_monitor(monitor) {
        Ok(fd) => fd,
        Err(e) => {
            lock(&state).notice(Severity::Err, &format!("link monitor: {e}"), now());
            return;
        }
    };
    let mut resync = tokio::time::interval(LINK_RESYNC);
    resync.tick().await;
    loop {
        let changes: Vec<LinkChange> = tokio::select! {
            ready = fd.readable_mut() => {
                let Ok(mut ready) = ready else { return };
                match ready.get_inner_mut().read() {
                    Ok(LinkRead::Changes(changes)) => {
                        if changes.is_empty() {
                            ready.clear_ready();
                        }
                        for change in &changes {
                            link_state::apply(&mut known, change);
                        }
                        changes
                    }
                    Ok(LinkRead::ResyncNeeded) => resync_changes(ready.get_inner_mut(), &mut known, &state),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        ready.clear_ready();
                        Vec::new()
                    }
                    Err(e) => {
                        lock(&state).notice(Severity::Warning, &format!("link monitor: {e}"), now());
                        ready.clear_ready();
                        Vec::new()
                    }
                }
            }
            _ = resync.tick() => resync_changes(fd.get_mut(), &mut known, &state),
            changed = configured_wan.changed() => {
                if changed.is_err() {
                    // The reloader is gone (stopping): keep the WAN as it is.
                    std::future::pending::<()>().await;
                }
                let configured = configured_wan.borrow_and_update().clone();
                let next = if configured.is_empty() { discover(&known).wan } else { configured };
                if next != wan {
                    wan = next;
                    lock(&state).observe(now(), ObservationKind::WanInterfaces(wan.clone()));
                }
                Vec::new()
            }
        };
        if changes.is_empty() {
            continue;
        }
        published.send_replace(known.clone());
        let t = now();
        let mut st = lock(&state);
        if configured_wan.borrow().is_empty() {
            let found = discover(&known).wan;
            // A WAN that loses its default route is still the WAN until another one takes over.
            if !found.is_empty() && found != wan {
                wan = found;
                st.observe(t, ObservationKind::WanInterfaces(wan.clone()));
            }
        }
        for change in changes {
            if let LinkChange::InterfaceGone { interface } = &change {
                // No capture task listening is fine: nothing to reopen.
                let _ = reopen.send(interface.clone());
            }
            st.observe(t, ObservationKind::Link(change));
        }
    }
}

fn resync_changes(
    monitor: &mut LinkMonitor,
    known: &mut LinkSnapshot,
    state: &Shared,
) -> Vec<LinkChange> {
    match monitor.snapshot() {
        Ok(fresh) => {
            let changes = link_state::diff(known, &fresh);
            *known = fresh;
            changes
        }
        Err(e) => {
            lock(state).notice(
                Severity::Warning,
                &format!("link resync failed: {e}"),
                now(),
            );
            Vec::new()
        }
    }
}

/// Every [`EXPIRE_INTERVAL`] while the tracker holds sessions or lookups: stalls and expiry in
/// the tracker and engine (the tick adds up to its length to every early verdict, and the lab's
/// requirement is 2 s from the failure). Every [`HOUSEKEEPING`] in any case: expiry, journal
/// sync and evidence flush. A quiet LAN wakes the daemon once a second, not ten times (each
/// wake-up costs about as much as the work it finds on an idle router).
async fn tick_task(state: Shared) {
    let mut next_housekeeping = tokio::time::Instant::now() + HOUSEKEEPING;
    let mut busy = false;
    loop {
        let wake = if busy {
            (tokio::time::Instant::now() + EXPIRE_INTERVAL).min(next_housekeeping)
        } else {
            next_housekeeping
        };
        tokio::time::sleep_until(wake).await;
        let mut st = lock(&state);
        if tokio::time::Instant::now() >= next_housekeeping {
            st.tick(now());
            next_housekeeping += HOUSEKEEPING;
            // After a long stall (suspend, a starved runtime) start afresh rather than catch up.
            next_housekeeping = next_housekeeping.max(tokio::time::Instant::now());
        } else {
            st.expire(now());
        }
        busy = st.tracker_busy();
    }
}

/// Gateway latency and loss from dpinger's sockets, where dpinger runs.
pub(super) async fn dpinger_task(pattern: String, state: Shared) {
    let mut ticker = tokio::time::interval(DPINGER_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let pattern = pattern.clone();
        let readings = tokio::task::spawn_blocking(move || {
            sys::dpinger::read_gateways(&pattern, DPINGER_TIMEOUT)
        })
        .await;
        let Ok(Ok(readings)) = readings else { continue };
        let t = now();
        let mut st = lock(&state);
        for reading in readings {
            if let Ok(Some(sample)) = reading.sample {
                st.observe(t, ObservationKind::Gateway(sample));
            }
        }
    }
}

/// Targets to probe at once, asked for by [`State::report`]. Shared so that the probe task
/// started after a reload takes over the same queue (the aborted one drops its lock).
pub(super) type Bursts = Arc<tokio::sync::Mutex<mpsc::Receiver<String>>>;

/// Probes every target at the interval, and one target at once when a burst asks for it.
pub(super) fn spawn_probes(
    config: &Config,
    state: Shared,
    bursts: Bursts,
) -> Option<JoinHandle<()>> {
    let options = ProbeOptions {
        timeout: config.probe.timeout,
        nameservers: config.probe.nameservers.clone(),
        ca_file: config.probe.ca_file.clone(),
        allow_any_target: config.probe.allow_any_target,
    };
    let prober = match Prober::new(&options) {
        Ok(p) => p,
        Err(e) => {
            lock(&state).notice(Severity::Err, &format!("probes disabled: {e}"), now());
            return None;
        }
    };
    let targets: Vec<Target> = config.probe.targets.to_vec();
    let interval = config.probe.interval;
    Some(tokio::spawn(async move {
        let in_flight: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let due: Vec<Target> = tokio::select! {
                _ = ticker.tick() => targets.clone(),
                Some(url) = async { bursts.lock().await.recv().await } => {
                    targets.iter().filter(|t| t.to_string() == url).cloned().collect()
                }
            };
            for target in due {
                let key = target.to_string();
                if !in_flight
                    .lock()
                    .map(|mut set| set.insert(key.clone()))
                    .unwrap_or(false)
                {
                    continue;
                }
                let (prober, state, in_flight) = (prober.clone(), state.clone(), in_flight.clone());
                tokio::spawn(async move {
                    let result = prober.run(&target).await;
                    let mut st = lock(&state);
                    st.notice(
                        Severity::Debug,
                        &format!(
                            "probe {}: {}",
                            result.target,
                            if result.failure.is_none() {
                                "ok"
                            } else {
                                "failed"
                            }
                        ),
                        now(),
                    );
                    st.observe(now(), ObservationKind::Probe(result));
                    drop(st);
                    if let Ok(mut set) = in_flight.lock() {
                        set.remove(&key);
                    }
                });
            }
        }
    }))
}

pub(super) async fn serve(
    listener: tokio::net::UnixListener,
    handler: server::Handler,
    max_clients: usize,
    state: Shared,
) {
    if let Err(e) = server::serve(listener, handler, max_clients).await {
        lock(&state).notice(
            Severity::Err,
            &format!("control socket stopped: {e}"),
            now(),
        );
    }
}

/// Waits for SIGTERM/SIGINT (stop) and SIGHUP (reload); returns the exit code.
async fn wait_for_signals(reloader: &Arc<Mutex<Reloader>>) -> i32 {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        let state = lock(reloader).state.clone();
        lock(&state).notice(Severity::Err, "cannot install signal handlers", now());
        return exitcode::OSERR;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return exitcode::OK,
            _ = int.recv() => return exitcode::OK,
            _ = hup.recv() => {
                // The outcome is logged either way; SIGHUP has nobody to answer.
                let _ = lock(reloader).reload_file();
            }
        }
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
