//! Replays the captures the client × server matrix kept (tests/data/matrix, each with the
//! server's own log as ground truth in manifest.json) and holds the verdicts to the matrix's
//! rules: no refused login is `ok`; a refused login repeated within the window is
//! `auth-rejected`; a single one is `auth-rejected` or `unknown` with the refused-login shape in
//! its evidence; a refused TLS version is `tls-rejected`. Cells that still fail are listed in
//! `KNOWN` with the reason, and the test fails when one of them starts to pass.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Captures whose verdicts are still wrong, and why.
const KNOWN: &[(&str, &str)] = &[(
    "pop3s-wrong-again-60s-fetchmail-dovecot-nodelay.pcap",
    "two refusals a minute apart, each answered in 0.5 s with status lines only and alike: a \
     polling client's short accepted logins look the same, and this capture holds no session \
     that went on past the login to teach the server's pace (4 ms; the live daemon that saw one \
     concludes the repeat, as the matrix shows): unknown twice, never ok",
)];

/// The span within which a repeat confirms a refused login (the engine's LOGIN_RETRY_WINDOW).
const WINDOW_SECS: u64 = 300;

fn replay(file: &Path) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_mailpulse"))
        .arg("replay")
        .arg("--json")
        .arg(file)
        .output()
        .expect("run mailpulse replay");
    assert!(out.status.success(), "replay {} failed", file.display());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The problem with one capture's verdicts, or `None`.
fn judge(entry: &Value, sessions: &[Value]) -> Option<String> {
    let port = entry["server_port"].as_u64().unwrap();
    // Replay prints a revised verdict as a later line for the same session: keep the last.
    let mut last: BTreeMap<u64, &Value> = BTreeMap::new();
    for s in sessions.iter().filter(|s| s["type"] == "session") {
        if s["server_port"].as_u64() == Some(port) {
            last.insert(s["client_port"].as_u64().unwrap(), s);
        }
    }
    let verdicts: Vec<&str> = last
        .values()
        .map(|s| s["verdict"].as_str().unwrap())
        .collect();
    if verdicts.is_empty() {
        return Some("no session to the server's port".into());
    }
    let refusals: Vec<u64> = entry["server_truth"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| {
            let t = t.as_str().unwrap();
            t.contains(" failed ")
                .then(|| t.split(' ').next().unwrap().parse().unwrap())
        })
        .collect();
    if entry["scenario"] == "wan-down" {
        // Replay has no link timeline: the outage may read as the path failing, or unknown,
        // never as a healthy session or the password.
        let allowed = ["wan-down", "upstream-unreachable", "unknown"];
        return (verdicts.iter().any(|v| !allowed.contains(v)))
            .then(|| format!("a WAN outage judged {verdicts:?}"));
    }
    if entry["scenario"] == "tls-refused" {
        return (verdicts.iter().any(|v| *v != "tls-rejected"))
            .then(|| format!("a refused TLS version judged {verdicts:?}"));
    }
    if refusals.is_empty() {
        return None;
    }
    if entry["scenario"] == "wrong-then-right" {
        // The user fixed the password: the last session logged in and is never blamed.
        let good = last
            .values()
            .max_by_key(|s| s["start"].as_str().unwrap_or(""));
        return good
            .filter(|s| s["verdict"] == "auth-rejected" || s["credentials"] == "rejected")
            .map(|s| {
                format!(
                    "the good login after the refused one judged {}",
                    s["verdict"]
                )
            });
    }
    if verdicts.contains(&"ok") {
        return Some(format!("`ok` for a login the server refused: {verdicts:?}"));
    }
    // Repeated: refusals in more than one session, all within the window (a client may be
    // refused twice in one session, trying a second mechanism).
    let span = refusals.iter().max().unwrap() - refusals.iter().min().unwrap();
    let repeated = last.len() >= 2 && span < WINDOW_SECS;
    if repeated && verdicts.iter().any(|v| *v != "auth-rejected") {
        return Some(format!("repeated refused logins judged {verdicts:?}"));
    }
    let shapeless = last.values().any(|s| {
        s["verdict"] == "unknown"
            && !s["evidence"].as_array().unwrap().iter().any(|e| {
                e.as_str()
                    .unwrap()
                    .contains("a refused login looks like this")
            })
    });
    shapeless.then(|| "an `unknown` without the refused-login shape in its evidence".into())
}

#[test]
fn matrix_captures_are_judged_by_the_servers_truth() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/matrix");
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest.len() >= 9, "the matrix keeps its captures");
    let (mut failures, mut now_passing) = (Vec::new(), Vec::new());
    for entry in &manifest {
        let file = entry["file"].as_str().unwrap();
        let problem = judge(entry, &replay(&dir.join(file)));
        let known = KNOWN.iter().find(|(f, _)| *f == file);
        match (problem, known) {
            (Some(p), None) => failures.push(format!("{file}: {p}")),
            (Some(p), Some((_, why))) => println!("known: {file}: {p} ({why})"),
            (None, Some(_)) => now_passing.push(file),
            (None, None) => println!("agrees: {file}"),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        now_passing.is_empty(),
        "listed as known failures but judged right now (remove them from KNOWN): {now_passing:?}"
    );
}
