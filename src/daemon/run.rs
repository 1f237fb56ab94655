//! The daemon's run: the start ([`super::startup`]), then its tasks — one per source (each LAN
//! capture, the link monitor, the probes, dpinger), a one-second ticker, the control socket, and
//! the signals. All of them feed [`State`].

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::unix::AsyncFdReadyMutGuard;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{self, Config, LoadedConfig};
use crate::control::{server, Request, Response};
use crate::diagnose::event::Severity;
use crate::observe::observation::{LinkChange, ObservationKind};
use crate::probe::{ProbeOptions, Prober, Target};
use crate::sys::capture::Capture;
use crate::sys::clock::now;
use crate::sys::discover::discover;
use crate::sys::link::LinkMonitor;
use crate::sys::{self, CaptureOptions, LinkRead, LinkSnapshot};

use super::exitcode;
use super::link_snapshot;
use super::reload::Reloader;
use super::startup::{self, LanCaptures, Opened};
use super::state::State;

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

/// Runs the daemon until SIGTERM or SIGINT; returns the exit code.
pub async fn run(loaded: LoadedConfig, foreground: bool) -> i32 {
    let config = &loaded.config;
    let started = now();
    let mut syslog = match startup::open_syslog(config, foreground) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mailpulse: cannot open a syslog socket: {e}");
            return exitcode::OSERR;
        }
    };
    let mut notes = startup::config_warnings(&loaded);
    let owner = match startup::prepare_state_dir(config, &mut notes) {
        Ok(owner) => owner,
        Err(refusal) => return startup::refuse(&mut syslog, foreground, refusal),
    };
    let dropping = owner.is_some();
    let capture_options = config.capture.options();
    let opened = match startup::open_as_root(config, &capture_options, dropping, &mut notes) {
        Ok(opened) => opened,
        Err(refusal) => return startup::refuse(&mut syslog, foreground, refusal),
    };
    // From here on the daemon runs as its user.
    let (state, bursts) = startup::open_state(&loaded, syslog, started, &mut notes);
    startup::announce(&mut lock(&state), config, &opened, dropping, notes);
    let (tasks, reloader) =
        spawn_tasks(&loaded, foreground, opened, capture_options, &state, bursts);
    let code = wait_for_signals(&reloader).await;
    shut_down(tasks, &reloader, &state);
    code
}

/// Starts a task per LAN capture, the link monitor's, the ticker, dpinger's, the probes and
/// the control socket. Returns the tasks only a stop ends, and the reloader, which owns the
/// others (a reload replaces them).
fn spawn_tasks(
    loaded: &LoadedConfig,
    foreground: bool,
    opened: Opened,
    capture_options: CaptureOptions,
    state: &Shared,
    bursts: mpsc::Receiver<String>,
) -> (Vec<JoinHandle<()>>, Arc<Mutex<Reloader>>) {
    let config = &loaded.config;
    let Opened {
        monitor,
        snapshot,
        wan,
        lan,
        captures,
        listener,
        ..
    } = opened;
    let (reopen_tx, _) = broadcast::channel(16);
    let (wan_tx, wan_rx) = watch::channel(config.wan.interfaces.clone());
    let (snapshot_tx, snapshot_rx) = watch::channel(snapshot.clone());
    let capture_tasks = spawn_captures(captures, &capture_options, state, &reopen_tx);
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
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
    let bursts: Bursts = Arc::new(tokio::sync::Mutex::new(bursts));
    let probes = spawn_probes(config, state.clone(), bursts.clone());
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
    start_control(
        &reloader,
        listener,
        config.daemon.max_control_clients,
        state,
    );
    (tasks, reloader)
}

/// A capture task per LAN interface, by name.
fn spawn_captures(
    captures: LanCaptures,
    options: &CaptureOptions,
    state: &Shared,
    reopen: &broadcast::Sender<String>,
) -> BTreeMap<String, JoinHandle<()>> {
    let mut tasks = BTreeMap::new();
    for (interface, opened) in captures {
        let handle = tokio::spawn(capture_task(
            interface.clone(),
            opened,
            options.clone(),
            state.clone(),
            reopen.subscribe(),
        ));
        tasks.insert(interface, handle);
    }
    tasks
}

/// Serves the control socket: a reload goes to the reloader while there is one, every other
/// request to the state.
fn start_control(
    reloader: &Arc<Mutex<Reloader>>,
    listener: tokio::net::UnixListener,
    max_clients: usize,
    state: &Shared,
) {
    let handler_state = state.clone();
    let handler_reloader = Arc::downgrade(reloader);
    let handler: server::Handler = Arc::new(move |request| match request {
        Request::Reload => match handler_reloader.upgrade() {
            Some(reloader) => lock(&reloader).reload_file(),
            None => Response::Error {
                message: "the daemon is stopping".to_string(),
            },
        },
        other => lock(&handler_state).answer(other, now()),
    });
    let mut r = lock(reloader);
    r.control = Some(tokio::spawn(serve(
        listener,
        handler.clone(),
        max_clients,
        state.clone(),
    )));
    r.handler = Some(handler);
}

/// Stops every task, takes a last tick, says so, and removes the control socket.
fn shut_down(tasks: Vec<JoinHandle<()>>, reloader: &Arc<Mutex<Reloader>>, state: &Shared) {
    for task in tasks {
        task.abort();
    }
    let socket = {
        let mut r = lock(reloader);
        r.stop();
        r.current.daemon.socket.clone()
    };
    let mut st = lock(state);
    st.tick(now());
    st.notice(Severity::Notice, "stopping", now());
    let _ = std::fs::remove_file(&socket);
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
                read_link_changes(&mut ready, &mut known, &state)
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
        let follow_routes = configured_wan.borrow().is_empty();
        observe_link_changes(changes, &known, follow_routes, &mut wan, &state, &reopen);
    }
}

/// The changes the link monitor has ready, applied to `known`.
fn read_link_changes(
    ready: &mut AsyncFdReadyMutGuard<'_, LinkMonitor>,
    known: &mut LinkSnapshot,
    state: &Shared,
) -> Vec<LinkChange> {
    match ready.get_inner_mut().read() {
        Ok(LinkRead::Changes(changes)) => {
            if changes.is_empty() {
                ready.clear_ready();
            }
            for change in &changes {
                link_snapshot::apply(known, change);
            }
            changes
        }
        Ok(LinkRead::ResyncNeeded) => resync_changes(ready.get_inner_mut(), known, state),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            ready.clear_ready();
            Vec::new()
        }
        Err(e) => {
            lock(state).notice(Severity::Warning, &format!("link monitor: {e}"), now());
            ready.clear_ready();
            Vec::new()
        }
    }
}

/// Hands link changes to the state, after the WAN they imply when it follows the default
/// routes (`follow_routes`); tells the capture tasks which interfaces are gone.
fn observe_link_changes(
    changes: Vec<LinkChange>,
    known: &LinkSnapshot,
    follow_routes: bool,
    wan: &mut Vec<String>,
    state: &Shared,
    reopen: &broadcast::Sender<String>,
) {
    let t = now();
    let mut st = lock(state);
    if follow_routes {
        let found = discover(known).wan;
        // A WAN that loses its default route is still the WAN until another one takes over.
        if !found.is_empty() && found != *wan {
            *wan = found;
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

fn resync_changes(
    monitor: &mut LinkMonitor,
    known: &mut LinkSnapshot,
    state: &Shared,
) -> Vec<LinkChange> {
    match monitor.snapshot() {
        Ok(fresh) => {
            let changes = link_snapshot::diff(known, &fresh);
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
