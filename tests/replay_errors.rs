//! `mailpulse replay` on bad input: exit codes and messages that name the file and the place.

use std::path::{Path, PathBuf};
use std::process::Command;

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(file)
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
    assert!(err.contains("notes.txt") && err.contains("not a pcap or pcapng capture"), "{err}");
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
    for expected in ["192.168.77.10:", "imap.mail.test", "imap/143", "unknown", "AUTHENTICATIONFAILED"] {
        assert!(row.contains(expected), "{expected} missing in {row}");
    }
    // Columns line up with the header.
    assert_eq!(lines[0].find("SERVER"), row.find("imap.mail.test"));
    assert!(err.contains("packets"), "{err}");
}

#[test]
fn timeline_is_accepted_with_a_message_and_checked_for_existence() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    std::fs::write(&journal, "").unwrap();
    let (code, _, err) = replay(&data("imaps-good.pcap"), Some(&journal), true);
    assert_eq!(code, 0);
    assert!(err.contains("--timeline") && err.contains("journal.jsonl"), "{err}");
    let missing = dir.path().join("missing.jsonl");
    let (code, _, err) = replay(&data("imaps-good.pcap"), Some(&missing), true);
    assert_eq!(code, 66);
    assert!(err.contains("missing.jsonl"), "{err}");
}
