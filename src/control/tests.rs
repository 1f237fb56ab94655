use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::client::{self, ClientError};
use super::server::{self, Handler};
use super::tests_support::event;
use super::*;
use crate::diagnose::event::EventKind;

/// Runs a server on its own thread and runtime; returns once it is listening.
fn start(path: &Path, handler: Handler, max_clients: usize) -> std::io::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            match server::bind(&path, 0o660) {
                Ok(listener) => {
                    let _ = tx.send(Ok(()));
                    let _ = server::serve(listener, handler, max_clients).await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("server thread answered")
}

fn echo_handler() -> Handler {
    Arc::new(|request: Request| match request {
        Request::Status => Response::Status(Box::new(StatusReport {
            version: "test".into(),
            uptime_seconds: 5,
            ..StatusReport::default()
        })),
        Request::Events(query) => Response::Events(query.select(&[event(1), event(2), event(3)])),
        Request::Metrics => Response::Metrics("m 1\n".into()),
        other => Response::Error {
            message: format!("not in this test: {other:?}"),
        },
    })
}

fn socket_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("mailpulse.sock")
}

/// Sends raw bytes and reads one response frame.
fn raw(path: &Path, bytes: &[u8], half_close: bool) -> Response {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    if half_close {
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
    frame::read(&mut s, MAX_RESPONSE).unwrap()
}

fn error_text(r: Response) -> String {
    match r {
        Response::Error { message } => message,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn good_requests_get_their_answers_and_the_socket_is_0660() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(&dir);
    start(&path, echo_handler(), 8).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);

    match client::request(&path, &Request::Status).unwrap() {
        Response::Status(s) => assert_eq!((s.version.as_str(), s.uptime_seconds), ("test", 5)),
        other => panic!("{other:?}"),
    }
    let query = EventQuery {
        limit: Some(2),
        ..EventQuery::default()
    };
    match client::request(&path, &Request::Events(query)).unwrap() {
        Response::Events(events) => {
            assert_eq!(events.iter().map(|e| e.id).collect::<Vec<_>>(), vec![2, 3])
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        client::request(&path, &Request::Metrics).unwrap(),
        Response::Metrics("m 1\n".into())
    );
}

#[test]
fn garbage_oversized_and_truncated_requests_get_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(&dir);
    start(&path, echo_handler(), 8).unwrap();

    let mut garbage = 7u64.to_be_bytes().to_vec();
    garbage.extend_from_slice(b"garbage");
    let msg = error_text(raw(&path, &garbage, false));
    assert!(
        msg.starts_with("bad request: not a mailpulse request"),
        "{msg}"
    );

    let mut unknown = Vec::new();
    let body = br#"{"request":"reboot"}"#;
    unknown.extend_from_slice(&(body.len() as u64).to_be_bytes());
    unknown.extend_from_slice(body);
    let msg = error_text(raw(&path, &unknown, false));
    assert!(msg.contains("unknown variant `reboot`"), "{msg}");

    let msg = error_text(raw(&path, &(2u64 << 20).to_be_bytes(), false));
    assert_eq!(
        msg,
        "bad request: message of 2097152 bytes is over the 1048576-byte limit"
    );

    let mut truncated = 100u64.to_be_bytes().to_vec();
    truncated.extend_from_slice(b"{\"request\"");
    let msg = error_text(raw(&path, &truncated, true));
    assert_eq!(
        msg,
        "bad request: truncated message: 10 of 100 bytes arrived"
    );

    let msg = error_text(raw(&path, &[0, 0], true));
    assert_eq!(msg, "bad request: truncated message: 2 of 8 bytes arrived");

    // A client that connects and leaves does not take the server down.
    drop(UnixStream::connect(&path).unwrap());
    assert!(matches!(
        client::request(&path, &Request::Metrics),
        Ok(Response::Metrics(_))
    ));
}

#[test]
fn a_hundred_concurrent_clients_are_all_answered() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(&dir);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let handler: Handler = Arc::new(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        Response::Metrics("ok".into())
    });
    start(&path, handler, 8).unwrap();
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || client::request(&path, &Request::Metrics))
        })
        .collect();
    let mut ok = 0;
    for t in threads {
        if let Ok(Ok(Response::Metrics(text))) = t.join() {
            assert_eq!(text, "ok");
            ok += 1;
        }
    }
    assert_eq!(ok, 100);
    assert_eq!(calls.load(Ordering::SeqCst), 100);
}

#[test]
fn a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(&dir);
    // A daemon that died leaves its socket file behind.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    start(&path, echo_handler(), 8).unwrap();
    assert!(client::request(&path, &Request::Metrics).is_ok());
}

#[test]
fn a_live_socket_is_not_stolen() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(&dir);
    start(&path, echo_handler(), 8).unwrap();
    let err = start(&path, echo_handler(), 8).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(
        err.to_string().contains("another mailpulse daemon"),
        "{err}"
    );
    assert!(client::request(&path, &Request::Metrics).is_ok());
}

#[test]
fn a_regular_file_at_the_path_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(&dir);
    std::fs::write(&path, "precious").unwrap();
    let err = start(&path, echo_handler(), 8).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(
        err.to_string(),
        format!(
            "{}: exists and is not a socket; refusing to replace it",
            path.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[test]
fn client_errors_map_to_sysexits() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(&dir);
    let err = client::request(&path, &Request::Status).unwrap_err();
    assert!(matches!(err, ClientError::NotRunning { .. }));
    assert_eq!(err.exit_code(), 69);
    assert_eq!(
        err.to_string(),
        format!(
            "the mailpulse daemon is not running (cannot connect to {}: no such socket)",
            path.display()
        )
    );
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let err = client::request(&path, &Request::Status).unwrap_err();
    assert_eq!(err.exit_code(), 69);
    assert!(err.to_string().contains("nobody is listening"), "{err}");
    assert_eq!(
        ClientError::PermissionDenied { path: path.clone() }.exit_code(),
        77
    );
}

#[test]
fn a_server_that_answers_nonsense_is_a_protocol_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(&dir);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut prefix = [0u8; 8];
            let _ = s.read_exact(&mut prefix);
            let _ = s.write_all(&3u64.to_be_bytes());
            let _ = s.write_all(b"{{{");
        }
    });
    let err = client::request(&path, &Request::Status).unwrap_err();
    assert!(matches!(err, ClientError::Protocol { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 70);
}

#[test]
fn request_json_shape() {
    let r = Request::Events(EventQuery {
        since: None,
        limit: Some(5),
        failures: true,
        client: "192.168.1.20".parse().ok(),
    });
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        serde_json::json!({"request": "events", "since": null, "limit": 5, "failures": true,
                           "client": "192.168.1.20"})
    );
    let parsed: Request =
        serde_json::from_str(r#"{"request":"explain","client":"10.0.0.2"}"#).unwrap();
    assert_eq!(
        parsed,
        Request::Explain {
            client: "10.0.0.2".parse().unwrap()
        }
    );
    let parsed: Request = serde_json::from_str(r#"{"request":"events"}"#).unwrap();
    assert_eq!(parsed, Request::Events(EventQuery::default()));
}

#[test]
fn event_query_filters_then_keeps_the_newest() {
    let mut events: Vec<_> = (1..=6).map(event).collect();
    events[1].kind = EventKind::SessionOk;
    events[3].client = "192.168.1.99".parse().ok();
    let q = EventQuery {
        failures: true,
        client: "192.168.1.20".parse().ok(),
        since: Some(events[0].time.plus(Duration::from_secs(1))),
        limit: Some(2),
    };
    let got: Vec<u64> = q.select(&events).iter().map(|e| e.id).collect();
    // 1 is too old, 2 is not a failure, 4 is another client; of 3, 5, 6 the newest two.
    assert_eq!(got, vec![5, 6]);
    assert_eq!(EventQuery::default().select(&events).len(), 6);
}
