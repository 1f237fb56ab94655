use std::io::Read;

use super::*;
use crate::control::tests_support::event;

fn options(max_size: u64, keep: u32) -> JournalOptions {
    JournalOptions {
        max_size,
        keep,
        sync_every: 2,
        recover_events: 100,
    }
}

fn line_len(id: u64) -> u64 {
    serde_json::to_vec(&event(id)).unwrap().len() as u64 + 1
}

#[test]
fn events_round_trip_and_ids_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, rec) = Journal::open(dir.path(), JournalOptions::default());
    assert_eq!(rec.last_id, None);
    assert!(rec.events.is_empty());
    for id in 1..=3 {
        j.append(&event(id));
    }
    j.sync();
    assert!(!j.needs_sync());
    let state = j.state();
    assert!(state.healthy);
    assert_eq!(state.events_written, 3);
    drop(j);

    let mut text = String::new();
    File::open(dir.path().join("journal.jsonl"))
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text.lines().count(), 3);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], 1);
    assert_eq!(first["kind"], "session-failed");
    assert_eq!(first["verdict"], "wan-down");

    let (_, rec) = Journal::open(dir.path(), JournalOptions::default());
    assert_eq!(rec.last_id, Some(3));
    assert_eq!(rec.events, vec![event(1), event(2), event(3)]);
    assert!(rec.warnings.is_empty(), "{:?}", rec.warnings);
}

#[test]
fn rotation_keeps_a_bounded_number_of_files() {
    let dir = tempfile::tempdir().unwrap();
    // Room for two lines per file (all lines of ids 1..=9 have the same length).
    let per_line = line_len(1);
    let (mut j, _) = Journal::open(dir.path(), options(per_line * 2, 2));
    for id in 1..=9 {
        j.append(&event(id));
    }
    j.sync();
    assert_eq!(j.state().rotations, 4);
    let ids = |name: &str| -> Vec<u64> {
        fs::read_to_string(dir.path().join(name))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Event>(l).unwrap().id)
            .collect()
    };
    assert_eq!(ids("journal.jsonl"), vec![9]);
    assert_eq!(ids("journal.1.jsonl"), vec![7, 8]);
    assert_eq!(ids("journal.2.jsonl"), vec![5, 6]);
    assert!(!dir.path().join("journal.3.jsonl").exists());

    let (_, rec) = Journal::open(dir.path(), options(per_line * 2, 2));
    assert_eq!(rec.last_id, Some(9));
    let got: Vec<u64> = rec.events.iter().map(|e| e.id).collect();
    assert_eq!(got, vec![5, 6, 7, 8, 9]);
}

#[test]
fn torn_last_line_is_dropped_with_a_warning_and_writing_resumes_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let mut text = String::new();
    for id in 1..=2 {
        text.push_str(&serde_json::to_string(&event(id)).unwrap());
        text.push('\n');
    }
    let good = text.len() as u64;
    let fragment = "{\"id\":3,\"time\":\"2023-11";
    text.push_str(fragment);
    fs::write(&path, &text).unwrap();

    let (mut j, rec) = Journal::open(dir.path(), JournalOptions::default());
    assert_eq!(rec.last_id, Some(2));
    assert_eq!(rec.warnings.len(), 1);
    assert_eq!(
        rec.warnings[0],
        format!(
            "{}:3: incomplete last line ({} bytes) dropped",
            path.display(),
            fragment.len()
        )
    );
    assert_eq!(fs::metadata(&path).unwrap().len(), good);
    j.append(&event(3));
    j.sync();
    let (_, rec) = Journal::open(dir.path(), JournalOptions::default());
    assert_eq!(rec.last_id, Some(3));
    assert!(rec.warnings.is_empty(), "{:?}", rec.warnings);
}

#[test]
fn an_overlong_line_in_the_middle_is_skipped_and_the_events_after_it_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let text = format!(
        "{}\n{}\n{}\n",
        serde_json::to_string(&event(1)).unwrap(),
        "x".repeat(MAX_LINE + 10),
        serde_json::to_string(&event(2)).unwrap()
    );
    fs::write(&path, &text).unwrap();
    let (_, rec) = Journal::open(dir.path(), JournalOptions::default());
    assert_eq!(rec.last_id, Some(2), "{:?}", rec.warnings);
    assert_eq!(rec.events.len(), 2);
    assert!(
        rec.warnings[0].contains("skipped a line of"),
        "{:?}",
        rec.warnings
    );
    // Nothing was cut off the file.
    assert_eq!(fs::metadata(&path).unwrap().len(), text.len() as u64);
}

#[test]
fn corrupt_line_in_the_middle_is_skipped_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let text = format!(
        "{}\nnot json at all\n{}\n",
        serde_json::to_string(&event(1)).unwrap(),
        serde_json::to_string(&event(2)).unwrap()
    );
    fs::write(&path, text).unwrap();
    let (_, rec) = Journal::open(dir.path(), JournalOptions::default());
    assert_eq!(rec.last_id, Some(2));
    assert_eq!(rec.events.len(), 2);
    assert_eq!(rec.warnings.len(), 1);
    assert!(
        rec.warnings[0].starts_with(&format!("{}:2: skipped unreadable line:", path.display())),
        "{:?}",
        rec.warnings
    );
}

#[test]
fn write_errors_become_state_not_panics() {
    let full = Path::new("/dev/full");
    assert!(full.exists(), "prerequisite /dev/full is missing");
    let dir = tempfile::tempdir().unwrap();
    // The device itself (char 1:7) in the directory, not a link to it: links are not followed.
    let meta = std::os::unix::fs::MetadataExt::rdev(&fs::metadata(full).unwrap());
    nix::sys::stat::mknod(
        &dir.path().join("journal.jsonl"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        meta,
    )
    .expect("mknod (this test needs root)");
    let (mut j, rec) = Journal::open(dir.path(), JournalOptions::default());
    // Reading /dev/full yields zeros forever: it must not be read back.
    assert_eq!(rec.warnings.len(), 1);
    assert!(rec.warnings[0].ends_with("not a regular file; not read back"));
    j.append(&event(1));
    j.sync();
    let state = j.state();
    assert!(!state.healthy);
    assert_eq!(state.events_written, 0);
    assert_eq!(state.events_lost, 1);
    let error = state.last_error.unwrap_or_default();
    assert!(error.starts_with("cannot write"), "{error}");
    assert!(error.contains("No space left on device"), "{error}");
}

#[test]
fn unusable_directory_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("state");
    fs::write(&blocker, "a file where the directory should be").unwrap();
    let (mut j, _) = Journal::open(&blocker, JournalOptions::default());
    assert!(!j.state().healthy);
    j.append(&event(1));
    assert_eq!(j.state().events_lost, 1);
}

/// A `journal.jsonl` planted as a link to another file (the state directory belongs to the
/// daemon's user) is neither appended to, nor truncated, nor read back: the journal reports
/// itself unhealthy and the target keeps its content.
#[test]
fn a_planted_link_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("secret");
    // An incomplete last line: a followed link would also be trimmed by the read-back.
    std::fs::write(&target, b"root:$6$hash:19000:0:99999:7:::").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join(FILE_NAME)).unwrap();
    let (mut journal, recovered) = Journal::open(dir.path(), options(1 << 20, 2));
    journal.append(&event(1));
    journal.sync();
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"root:$6$hash:19000:0:99999:7:::"
    );
    assert!(!journal.state().healthy);
    assert!(recovered.events.is_empty());
}
