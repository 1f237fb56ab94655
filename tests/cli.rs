//! Drives the built `mailpulse` binary: exit codes, `check-config` messages, and the socket
//! commands against no daemon and against a stand-in daemon speaking the control protocol.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailpulse::control::server::{self, Handler};
use mailpulse::control::{EventQuery, ReloadReport, Request, Response, StatusReport};
use mailpulse::diagnose::event::Event;
use mailpulse::diagnose::Explanation;

fn mailpulse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailpulse"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // Plain output is in local time; pin the zone so the expected text is fixed.
        .env("TZ", "UTC")
        .output()
        .expect("run mailpulse")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn usage_errors_exit_64() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["events", "--limit", "many"],
        &["events", "--since", "last tuesday"],
        &["explain", "999.1.1.1"],
        &["explain"],
        &["probe", "https://mail.example"],
        &["status", "--bogus"],
    ] {
        let o = mailpulse(args);
        assert_eq!(code(&o), 64, "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).is_empty(), "{args:?} explains itself");
    }
    let o = mailpulse(&["probe", "https://mail.example"]);
    assert!(
        stderr(&o).contains("unknown scheme \"https\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn help_and_version_exit_0() {
    let o = mailpulse(&["--version"]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        stdout(&o),
        format!("mailpulse {}\n", env!("CARGO_PKG_VERSION"))
    );
    let o = mailpulse(&["events", "--help"]);
    assert_eq!(code(&o), 0);
    for flag in [
        "--json",
        "--failures",
        "--since",
        "--limit",
        "--client",
        "--socket",
    ] {
        assert!(stdout(&o).contains(flag), "events --help lists {flag}");
    }
}

#[test]
fn check_config_accepts_a_valid_file() {
    let o = mailpulse(&["check-config", "-c", "tests/data/config/valid.toml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "tests/data/config/valid.toml: ok: 2 probe target(s) every 1m, wan igb0, lan igb1,igb2, \
         socket /tmp/mailpulse-test.sock, state in /tmp/mailpulse-test-state\n"
    );
    assert_eq!(stderr(&o), "");
}

#[test]
fn check_config_errors_exit_78_with_file_line_col() {
    let cases = [
        (
            "malformed",
            // Line 4 is `[probe` with no closing bracket; column 7 is just past "[probe".
            "tests/data/config/malformed.toml:4:7: invalid table header; expected `.`, `]`",
        ),
        (
            "unknown_key",
            "tests/data/config/unknown_key.toml:6:1: unknown key `intreval` in [probe]; expected \
             one of interval, timeout, targets, nameservers, ca_file, allow_any_target",
        ),
        (
            "bad_duration",
            "tests/data/config/bad_duration.toml:3:12: [diagnosis] slow_dns: invalid duration \
             \"2 parsecs\" (expected a number and a unit, e.g. \"30s\", \"5m\" or \"1h 30m\")",
        ),
        (
            "bad_target",
            // The second element of the array, on line 4, column 5.
            "tests/data/config/bad_target.toml:4:5: [probe] targets: invalid probe target \
             \"https://outlook.office365.com\": unknown scheme \"https\" (expected imaps, \
             imap, pop3s, pop3, smtps or submission)",
        ),
        (
            "bad_facility",
            "tests/data/config/bad_facility.toml:2:19: [daemon] syslog_facility: invalid syslog \
             facility \"deamon\"; expected one of kern, user, mail, daemon, auth, syslog, lpr, \
             news, uucp, cron, authpriv, ftp, local0, local1, local2, local3, local4, local5, \
             local6, local7",
        ),
        (
            "missing_user",
            "tests/data/config/missing_user.toml:2:8: [daemon] user: no account named \
             \"mailpulse-no-such-user\" on this system (create it, or set user = \"\" to stay root)",
        ),
    ];
    for (name, expected) in cases {
        let file = format!("tests/data/config/{name}.toml");
        let o = mailpulse(&["check-config", "-c", &file]);
        assert_eq!(code(&o), 78, "{name}: {}", stderr(&o));
        assert_eq!(stderr(&o), format!("{expected}\n"), "{name}");
        assert_eq!(stdout(&o), "", "{name}");
    }
}

#[test]
fn check_config_on_a_missing_explicit_file_names_it() {
    let o = mailpulse(&["check-config", "-c", "tests/data/config/no-such-file.toml"]);
    assert_eq!(code(&o), 78);
    assert_eq!(
        stderr(&o),
        "tests/data/config/no-such-file.toml: no such configuration file\n"
    );
}

#[test]
fn default_user_missing_is_only_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.toml");
    std::fs::write(&file, "[daemon]\nsyslog = false\n").unwrap();
    let exists = Command::new("id")
        .arg("mailpulse")
        .output()
        .map(|o| o.status.success())
        .expect("id(1) is needed to know whether the mailpulse account exists");
    let o = mailpulse(&["check-config", "-c", file.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    if exists {
        assert_eq!(stderr(&o), "");
    } else {
        assert_eq!(
            stderr(&o),
            format!(
                "{}: warning: no account named \"mailpulse\"; the daemon will refuse to start \
                 as root (create the account, or set user = \"\" in [daemon] to run as root on \
                 purpose)\n",
                file.display()
            )
        );
    }
}

#[test]
fn socket_commands_without_a_daemon_exit_69_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("mailpulse.sock");
    let s = sock.to_str().unwrap();
    for args in [
        vec!["status", "--socket", s],
        vec!["status", "--json", "--socket", s],
        vec!["events", "--failures", "--socket", s],
        vec!["clients", "--socket", s],
        vec!["explain", "192.168.1.20", "--socket", s],
        vec!["metrics", "--socket", s],
    ] {
        let o = mailpulse(&args);
        assert_eq!(code(&o), 69, "{args:?}");
        assert_eq!(
            stderr(&o),
            format!(
                "mailpulse: the mailpulse daemon is not running (cannot connect to {s}: no such socket)\n"
            ),
            "{args:?}"
        );
        assert_eq!(stdout(&o), "");
    }
    // The socket path can come from the configuration file.
    let config = dir.path().join("m.toml");
    std::fs::write(
        &config,
        format!("[daemon]\nuser = \"\"\nsocket = \"{s}\"\n"),
    )
    .unwrap();
    let o = mailpulse(&["status", "-c", config.to_str().unwrap()]);
    assert_eq!(code(&o), 69);
    assert!(stderr(&o).contains(s), "{}", stderr(&o));
    // A broken explicit configuration is a configuration error, not a missing daemon.
    let o = mailpulse(&["status", "-c", "tests/data/config/malformed.toml"]);
    assert_eq!(code(&o), 78);
}

/// A stand-in daemon: answers from canned values and records what it was asked.
struct FakeDaemon {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    requests: Arc<Mutex<Vec<Request>>>,
}

fn events_json() -> serde_json::Value {
    serde_json::json!([
        {
            "id": 41, "time": "2026-11-22T14:03:12.345Z", "kind": "wan-down", "severity": "warning",
            "verdict": null, "credentials": null, "client": null, "server_name": null,
            "server": null, "server_port": null, "protocol": null,
            "message": "The WAN link igb0 went down.", "advice": null, "session": null,
            "evidence": ["igb0 lost carrier"]
        },
        {
            "id": 42, "time": "2026-11-22T14:03:20Z", "kind": "session-failed", "severity": "warning",
            "verdict": "wan-down", "credentials": "not-at-fault", "client": "192.168.1.20",
            "server_name": "outlook.office365.com", "server": "52.97.146.2", "server_port": 993,
            "protocol": "imap",
            "message": "The WAN link was down while the iPad fetched mail; the password was not the problem.",
            "advice": null, "session": null, "evidence": ["wan down 14:03:12-14:03:41"]
        }
    ])
}

fn start_fake_daemon() -> FakeDaemon {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("mailpulse.sock");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let events: Vec<Event> = serde_json::from_value(events_json()).unwrap();
    let handler: Handler = Arc::new(move |request: Request| {
        seen.lock().unwrap().push(request.clone());
        match request {
            Request::Status => Response::Status(Box::new(StatusReport {
                version: "9.9.9".into(),
                uptime_seconds: 7260,
                ..StatusReport::default()
            })),
            Request::Events(_) => Response::Events(events.clone()),
            Request::Clients => Response::Clients(vec![]),
            Request::Explain { client } => Response::Explain(Explanation {
                client,
                story: vec![
                    "At 14:03:12 the WAN link went down for 29 s.".into(),
                    "The iPad's IMAP session to outlook.office365.com failed at 14:03:20: the password was not the problem.".into(),
                ],
                events: vec![],
            }),
            Request::Metrics => Response::Error {
                message: "metrics are off in this test".into(),
            },
            Request::Reload => Response::Reloaded(ReloadReport {
                summary: "applied: log level info -> debug".into(),
                applied: vec!["log level info -> debug".into()],
                needs_restart: vec![],
            }),
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let path = socket.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = server::bind(&path, 0o660).unwrap();
            tx.send(()).unwrap();
            let _ = server::serve(listener, handler, 4).await;
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    FakeDaemon {
        _dir: dir,
        socket,
        requests,
    }
}

fn sock(d: &FakeDaemon) -> &str {
    d.socket.to_str().unwrap()
}

/// The contract the firewall UI's configd action relies on: one sentence on stdout, exit 0.
#[test]
fn reload_prints_the_daemons_sentence_and_exits_0() {
    let d = start_fake_daemon();
    let o = mailpulse(&["reload", "--socket", sock(&d)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "applied: log level info -> debug\n");
    let o = mailpulse(&["reload", "--json", "--socket", sock(&d)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["applied"][0], "log level info -> debug");
    assert_eq!(d.requests.lock().unwrap().last(), Some(&Request::Reload));
}

#[test]
fn events_json_is_the_array_the_daemon_sent_and_filters_reach_it() {
    let d = start_fake_daemon();
    let o = mailpulse(&[
        "events",
        "--json",
        "--failures",
        "--since",
        "2026-11-22T14:00:00Z",
        "--limit",
        "5",
        "--client",
        "192.168.1.20",
        "--socket",
        sock(&d),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let printed: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    // Same events, same order; times normalised to RFC 3339 UTC with milliseconds.
    let mut expected = events_json();
    expected[1]["time"] = "2026-11-22T14:03:20.000Z".into();
    assert_eq!(printed, expected);
    let asked = d.requests.lock().unwrap().clone();
    assert_eq!(
        asked,
        vec![Request::Events(EventQuery {
            since: mailpulse::time::Timestamp::parse_rfc3339("2026-11-22T14:00:00Z"),
            limit: Some(5),
            failures: true,
            client: "192.168.1.20".parse().ok(),
        })]
    );
}

#[test]
fn plain_events_are_a_table_in_local_time_with_words() {
    let d = start_fake_daemon();
    let o = mailpulse(&["events", "--socket", sock(&d)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("TIME"));
    assert!(
        lines[1].starts_with("2026-11-22 14:03:12  wan-down "),
        "{text}"
    );
    assert!(
        lines[2].starts_with("2026-11-22 14:03:20  session-failed  192.168.1.20"),
        "{text}"
    );
    assert!(lines[2].contains("WAN link down"), "{text}");
    assert!(lines[2].contains("password not at fault"), "{text}");
    assert!(
        lines[2].ends_with("the password was not the problem."),
        "{text}"
    );
    // Columns line up: every row's CLIENT column starts where the header's does.
    let col = lines[0].find("CLIENT").unwrap();
    assert_eq!(lines[2].find("192.168.1.20"), Some(col));
}

#[test]
fn status_explain_and_daemon_errors() {
    let d = start_fake_daemon();
    let o = mailpulse(&["status", "--json", "--socket", sock(&d)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["version"], "9.9.9");
    assert_eq!(v["uptime_seconds"], 7260);

    let o = mailpulse(&["status", "--socket", sock(&d)]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).starts_with("mailpulse 9.9.9, up 2 h 1 min"),
        "{}",
        stdout(&o)
    );

    let o = mailpulse(&["explain", "192.168.1.20", "--socket", sock(&d)]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        stdout(&o),
        "What happened to 192.168.1.20:\n  At 14:03:12 the WAN link went down for 29 s.\n  \
         The iPad's IMAP session to outlook.office365.com failed at 14:03:20: the password was \
         not the problem.\n"
    );
    let o = mailpulse(&["explain", "192.168.1.20", "--json", "--socket", sock(&d)]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["client"], "192.168.1.20");
    assert_eq!(v["story"].as_array().map(Vec::len), Some(2));

    let o = mailpulse(&["clients", "--json", "--socket", sock(&d)]);
    assert_eq!(stdout(&o).trim(), "[]");

    let o = mailpulse(&["metrics", "--socket", sock(&d)]);
    assert_eq!(code(&o), 70);
    assert_eq!(
        stderr(&o),
        "mailpulse: the daemon could not answer: metrics are off in this test\n"
    );
}

#[test]
fn a_regular_file_where_the_socket_should_be_is_not_a_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    std::fs::write(&path, "").unwrap();
    let o = mailpulse(&["status", "--socket", path.to_str().unwrap()]);
    assert_eq!(code(&o), 69, "{}", stderr(&o));
    assert!(stderr(&o).contains(&path.display().to_string()));
}

#[test]
fn a_socket_the_user_may_not_open_exits_77() {
    // Root passes every permission check, so the client runs as `nobody` (uid 65534).
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .expect("id(1) is needed");
    assert!(
        is_root,
        "this test needs root, to run the client as another user with setpriv(1)"
    );
    let d = start_fake_daemon();
    let dir = d.socket.parent().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_mailpulse"))
        .args(["status", "--socket", sock(&d)])
        .output()
        .expect("setpriv(1) (util-linux) is needed");
    assert_eq!(code(&o), 77, "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "mailpulse: permission denied on {}: run as root or as a member of the socket's group\n",
            sock(&d)
        )
    );
}
