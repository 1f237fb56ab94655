//! The control socket cannot be starved by clients that connect and say nothing, or that keep
//! reconnecting (docs/threat-model.md, "A local user abuses the control socket").
//!
//! Before: a semaphore of `max_control_clients` slots was taken at accept time, so twelve
//! silent connections delayed the next `status` by the 5 s request timeout.
//!
//! The bound asserted for an answer is 1 s. Nothing in the server makes a new connection wait
//! any more (closing an idle connection is immediate, the handler here answers from memory), so
//! an honest answer takes milliseconds; 1 s is margin for a loaded two-core CI machine, and is
//! still five times below the 5 s a single silent client could cost before.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailpulse::control::client;
use mailpulse::control::server::{self, Handler};
use mailpulse::control::{Request, Response};

const ANSWER_BOUND: Duration = Duration::from_secs(1);

/// The daemon's default `max_control_clients`.
const MAX_CLIENTS: usize = 8;

fn start(path: &Path) {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = server::bind(&path, 0o600).expect("bind the control socket");
            let _ = tx.send(());
            let handler: Handler = Arc::new(|_| Response::Metrics("up 1\n".into()));
            let _ = server::serve(listener, handler, MAX_CLIENTS).await;
        });
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("server listening");
}

fn socket(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("control.sock")
}

/// One request, timed; the answer must be the handler's.
fn timed_request(path: &Path) -> Duration {
    let started = Instant::now();
    let answer = client::request_with_timeout(path, &Request::Metrics, Duration::from_secs(10));
    let took = started.elapsed();
    match answer {
        Ok(Response::Metrics(text)) => assert_eq!(text, "up 1\n"),
        other => panic!("expected the metrics answer, got {other:?} after {took:?}"),
    }
    took
}

#[test]
fn sixty_four_idle_connections_do_not_delay_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    start(&path);
    let idle: Vec<UnixStream> = (0..64)
        .map(|_| UnixStream::connect(&path).expect("connect"))
        .collect();
    // Let the server accept all of them and let them age past any grace period.
    std::thread::sleep(Duration::from_millis(300));
    for round in 0..3 {
        let took = timed_request(&path);
        assert!(
            took < ANSWER_BOUND,
            "round {round}: with 64 idle connections open the answer took {took:?}"
        );
    }
    drop(idle);
}

#[test]
fn a_client_reopening_connections_does_not_delay_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    start(&path);
    let stop = Arc::new(AtomicBool::new(false));
    let storm = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            // Keeps up to 256 silent connections, always opening new ones.
            let mut held = std::collections::VecDeque::new();
            let mut opened = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(s) = UnixStream::connect(&path) {
                    held.push_back(s);
                    opened += 1;
                }
                if held.len() > 256 {
                    held.pop_front();
                }
            }
            opened
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        worst = worst.max(timed_request(&path));
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("worst answer while the storm ran: {worst:?}");
    stop.store(true, Ordering::Relaxed);
    let opened = storm.join().unwrap();
    assert!(opened > 1000, "the storm opened only {opened} connections");
    assert!(
        worst < ANSWER_BOUND,
        "while {opened} silent connections were opened, an answer took {worst:?}"
    );
}

#[test]
fn silent_connections_over_the_cap_are_closed_by_the_server() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    start(&path);
    let mut idle: Vec<UnixStream> = (0..MAX_CLIENTS)
        .map(|_| UnixStream::connect(&path).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    timed_request(&path);
    // The oldest silent connection made room for the request: the server closed it.
    let oldest = &mut idle[0];
    oldest
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 16];
    let n = oldest
        .read(&mut buf)
        .expect("the server closed it, not a timeout");
    assert_eq!(
        n, 0,
        "the oldest idle connection got data instead of a close"
    );
}
