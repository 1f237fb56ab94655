//! `mailpulse replay` on bad input: exit codes and messages that name the file and the place.

use std::path::{Path, PathBuf};
use std::process::Command;

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file)
}

fn replay(path: &Path, timeline: Option<&Path>, json: bool) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = mailpulse::replay::run(path, timeline, json, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).expect("UTF-8 stdout"),
        String::from_utf8(err).expect("UTF-8 stderr"),
    )
}

#[test]
fn a_missing_file_exits_66_naming_it() {
    let path = Path::new("/nonexistent/capture.pcap");
    let (code, out, err) = replay(path, None, true);
    assert_eq!(code, 66);
    assert!(out.is_empty());
    assert!(err.contains("/nonexistent/capture.pcap"), "{err}");
}

#[test]
fn a_file_that_is_not_a_capture_exits_65() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "this is not a capture\n").unwrap();
    let (code, _, err) = replay(&path, None, false);
    assert_eq!(code, 65);
    assert!(
        err.contains("notes.txt") && err.contains("not a pcap or pcapng capture"),
        "{err}"
    );
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(replay(&empty, None, false).0, 65);
}

#[test]
fn a_truncated_capture_prints_what_was_read_and_names_the_offset() {
    // editcap writes the first 8 packets as a pcap of its own: its size is the byte offset
    // of packet 9 in the original (same header, same records).
    let dir = tempfile::tempdir().unwrap();
    let original = data("imap-wrong-password.pcap");
    let head = dir.path().join("head.pcap");
    let status = Command::new("editcap")
        .args(["-F", "pcap", "-r"])
        .arg(&original)
        .arg(&head)
        .arg("1-8")
        .status()
        .unwrap_or_else(|e| panic!("editcap (from tshark's package) is required: {e}"));
    assert!(status.success());
    let boundary = std::fs::metadata(&head).unwrap().len() as usize;
    let bytes = std::fs::read(&original).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..boundary + 10]).unwrap();
    let (code, out, err) = replay(&cut, None, true);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("stops at byte {boundary}")), "{err}");
    assert!(err.contains("cut.pcap"), "{err}");
    // The session read so far is still reported, as open.
    let sessions: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["type"] == "session")
        .collect();
    assert_eq!(sessions.len(), 1, "{out}");
    assert_eq!(sessions[0]["close"], "open");
}

#[test]
fn the_table_has_one_aligned_row_per_session() {
    let (code, out, err) = replay(&data("imap-wrong-password.pcap"), None, false);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("TIME"));
    let row = lines[1];
    // The same session as --json shows it.
    let (_, json, _) = replay(&data("imap-wrong-password.pcap"), None, true);
    let session: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    let verdict = session["verdict"].as_str().unwrap();
    let credentials = session["credentials"].as_str().unwrap();
    for expected in [
        "192.168.77.10:",
        "imap.mail.test",
        "imap/143",
        verdict,
        credentials,
        "AUTHENTICATIONFAILED",
    ] {
        assert!(row.contains(expected), "{expected} missing in {row}");
    }
    // Columns line up with the header.
    assert_eq!(lines[0].find("SERVER"), row.find("imap.mail.test"));
    assert!(err.contains("packets"), "{err}");
}

#[test]
fn a_missing_timeline_exits_66_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jsonl");
    let (code, _, err) = replay(&data("imaps-good.pcap"), Some(&missing), true);
    assert_eq!(code, 66);
    assert!(err.contains("missing.jsonl"), "{err}");
}

/// One timeline line as the daemon writes it (report::timeline::Entry).
fn timeline_line(secs: f64, kind: mailpulse::observe::observation::ObservationKind) -> String {
    use mailpulse::report::timeline::{Entry, Recorded};
    let time = mailpulse::time::Timestamp::from_unix_nanos((secs * 1e9) as i64);
    let recorded = Recorded::from_observation(&kind).expect("a recordable observation");
    serde_json::to_string(&Entry { time, recorded }).unwrap()
}

#[test]
fn a_timeline_gives_the_engine_the_wan_context() {
    use mailpulse::observe::observation::{LinkChange, ObservationKind};
    // imaps-wan-down.pcap: the lab took the WAN link down 1-2 s into the transfer (its
    // packets span 1795326176.03 … 1795326186.26). Without a timeline the engine cannot know.
    let capture = data("imaps-wan-down.pcap");
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("timeline.jsonl");
    let lines = [
        timeline_line(
            1795326170.0,
            ObservationKind::WanInterfaces(vec!["wan0".into()]),
        ),
        timeline_line(
            1795326177.5,
            ObservationKind::Link(LinkChange::LinkDown {
                interface: "wan0".into(),
            }),
        ),
        "not a timeline line".to_string(),
    ];
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let (code, out, err) = replay(&capture, Some(&journal), true);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("timeline.jsonl:3"),
        "the bad line is named: {err}"
    );
    let (_, plain, _) = replay(&capture, None, true);
    let verdict = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["type"] == "session")
            .map(|v| v["verdict"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(verdict(&out), vec!["wan-down".to_string()], "{out}");
    assert_ne!(verdict(&plain), verdict(&out));
}
