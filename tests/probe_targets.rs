//! Probe targets are limited to mail ports and to addresses that are not the router's own
//! (loopback), link-local, unspecified or multicast, unless `[probe] allow_any_target = true`
//! (`mailpulse probe --allow-any-target`). The daemon runs as root on the firewall: before,
//! any `host:port` in the configuration (or given to `mailpulse probe`, which the web UI runs
//! through configd) made it connect there.
//!
//! The refusals are checked through the real binary (`check-config`, `probe`) and through the
//! prober, which must also refuse a name that resolves to a loopback address.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use mailpulse::config::ConfigError;
use mailpulse::observe::observation::ProbePhase;
use mailpulse::probe::{ProbeOptions, Prober, Target};

fn mailpulse(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mailpulse"))
        .args(args)
        .output()
        .expect("run mailpulse")
}

/// The refused targets, each with a word its message must contain.
const REFUSED: &[(&str, &str)] = &[
    ("imap://127.0.0.1", "loopback"),
    ("imaps://127.8.9.10", "loopback"),
    ("imaps://[::1]", "loopback"),
    ("imaps://[::ffff:127.0.0.1]", "loopback"),
    ("imaps://localhost", "loopback"),
    ("imaps://db.localhost", "loopback"),
    ("imaps://169.254.169.254", "link-local"),
    ("imaps://[fe80::1]", "link-local"),
    ("imaps://0.0.0.0", "unspecified"),
    ("imaps://[::]", "unspecified"),
    ("imaps://224.0.0.251", "multicast"),
    ("imaps://[ff02::1]", "multicast"),
    ("imaps://mail.example.com:22", "not a mail port"),
    ("submission://mail.example.com:8080", "not a mail port"),
];

/// Mail ports, public names and private LAN addresses are fine.
const ACCEPTED: &[&str] = &[
    "imaps://imap.example.com",
    "imap://192.168.1.10",
    "pop3s://10.0.0.5",
    "pop3://mail.example.com:110",
    "smtps://[2001:db8::25]",
    "submission://mail.example.com",
    "submission://mx.example.com:25",
    "imaps://mail.example.com:143",
];

fn config_text(targets: &[&str], allow: Option<bool>) -> String {
    let list = targets
        .iter()
        .map(|t| format!("  \"{t}\",\n"))
        .collect::<String>();
    let allow = allow.map_or(String::new(), |a| format!("allow_any_target = {a}\n"));
    format!("# test\n[probe]\ninterval = \"60s\"\n{allow}targets = [\n{list}]\n")
}

#[test]
fn the_configuration_refuses_each_bad_target_naming_it_with_its_position() {
    let file = std::path::Path::new("/etc/mailpulse.toml");
    for (url, why) in REFUSED {
        let mut targets = ACCEPTED.to_vec();
        targets.insert(2, url);
        let text = config_text(&targets, None);
        let err = mailpulse::config::parse(&text, file).expect_err(url);
        let ConfigError::Invalid {
            line,
            column,
            message,
            ..
        } = &err
        else {
            panic!("{url}: {err}");
        };
        // The third target is on line 7; the column points inside its string.
        assert_eq!((*line, *column), (7, 4), "{url}: {err}");
        assert!(message.contains(url), "{url}: {message}");
        assert!(message.contains(why), "{url}: {message}");
        assert!(message.contains("allow_any_target"), "{message}");
        // Allowed explicitly: the same file is accepted.
        let text = config_text(&targets, Some(true));
        mailpulse::config::parse(&text, file).unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    let text = config_text(ACCEPTED, Some(false));
    mailpulse::config::parse(&text, file).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn check_config_exits_78_with_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mailpulse.toml");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(
        config_text(&["imaps://imap.example.com", "imap://127.0.0.1:8143"], None).as_bytes(),
    )
    .unwrap();
    let out = mailpulse(&["check-config", "-c", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    let expected = format!(
        "{}:6:4: [probe] targets: imap://127.0.0.1:8143 is refused",
        path.display()
    );
    assert!(err.contains(&expected), "{err}");
}

#[test]
fn mailpulse_probe_refuses_local_targets_unless_allowed() {
    let out = mailpulse(&["probe", "imap://127.0.0.1:1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("imap://127.0.0.1:1 is refused") && err.contains("--allow-any-target"),
        "{err}"
    );
    // Nothing listens on port 1: allowed, the probe runs and fails to connect.
    let out = mailpulse(&["probe", "--allow-any-target", "imap://127.0.0.1:1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(69), "{text}");
    assert!(
        text.contains("FAILED at connect: connection refused"),
        "{text}"
    );
}

/// A DNS server on 127.0.0.1 that answers every A question with 127.0.0.1 (and every other
/// question with no answer), like a resolver rebinding a public-looking name to the router.
fn rebinding_dns() -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            let query = &buf[..n];
            // Header (12 bytes), then one question: name, type, class.
            let Some(name_len) = query[12..].iter().position(|&b| b == 0) else {
                continue;
            };
            let question_end = 12 + name_len + 1 + 4;
            if question_end > n {
                continue;
            }
            let qtype = u16::from_be_bytes([query[question_end - 4], query[question_end - 3]]);
            let answers = u16::from(qtype == 1);
            let mut reply = query[..question_end].to_vec();
            reply[2] = 0x81; // response, recursion desired
            reply[3] = 0x80; // recursion available, NOERROR
            reply[6..8].copy_from_slice(&answers.to_be_bytes());
            reply[8..12].fill(0);
            if answers == 1 {
                reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
            }
            let _ = socket.send_to(&reply, peer);
        }
    });
    addr
}

#[test]
fn a_name_resolving_to_loopback_is_refused_after_dns() {
    let options = ProbeOptions {
        timeout: Duration::from_secs(3),
        nameservers: vec![rebinding_dns()],
        ..ProbeOptions::default()
    };
    let prober = Prober::new(&options).expect("prober");
    let target = Target::parse("imaps://mail.example.com").unwrap();
    assert_eq!(
        target.refusal(),
        None,
        "the name itself passes the first check"
    );
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(prober.run(&target));
    assert_eq!(
        result.addresses,
        vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap()],
        "the test DNS server answered: {result:#?}"
    );
    let failure = result.failure.expect("refused");
    assert_eq!(failure.phase, ProbePhase::Connect);
    assert!(
        failure.error.contains("target refused") && failure.error.contains("loopback"),
        "{}",
        failure.error
    );
    assert_eq!(result.connected_to, None, "no connection was made");
}
