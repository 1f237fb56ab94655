//! The timeline: every observation the daemon made that is not a packet — link and route
//! changes, which interfaces are the WAN, probe results, gateway samples, firewall timeouts — as
//! JSON Lines (`timeline.jsonl`) in the state directory. With it, `mailpulse replay CAPTURE
//! --timeline timeline.jsonl` rebuilds the WAN and probe context of a capture, so a verdict seen
//! on the router can be reproduced anywhere from the evidence ring and this file.
//!
//! Bounded like the journal: when the live file passes half the limit it becomes
//! `timeline.1.jsonl` and a new one starts. Write errors become state, never a stop.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::observe::observation::{
    FirewallTimeouts, GatewaySample, LinkChange, Observation, ObservationKind, ProbeResult,
};
use crate::report::jsonl::{Ending, LineReader};
use crate::time::Timestamp;

/// The live timeline's file name.
pub const FILE_NAME: &str = "timeline.jsonl";
const PREVIOUS_NAME: &str = "timeline.1.jsonl";

/// Longest line read back; a probe result with capabilities is a few KiB.
const MAX_LINE: usize = 256 * 1024;

/// One recorded observation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub time: Timestamp,
    #[serde(flatten)]
    pub recorded: Recorded,
}

/// The observations worth recording (packets are in the evidence ring instead).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "kebab-case")]
pub enum Recorded {
    Link(LinkChange),
    WanInterfaces(Vec<String>),
    // Boxed: a probe result is ten times the size of the other entries.
    Probe(Box<ProbeResult>),
    Gateway(GatewaySample),
    Firewall(FirewallTimeouts),
}

impl Recorded {
    /// The recordable part of an observation; `None` for packets, sessions and ticks.
    pub fn from_observation(kind: &ObservationKind) -> Option<Self> {
        Some(match kind {
            ObservationKind::Link(change) => Recorded::Link(change.clone()),
            ObservationKind::WanInterfaces(names) => Recorded::WanInterfaces(names.clone()),
            ObservationKind::Probe(result) => Recorded::Probe(Box::new(result.clone())),
            ObservationKind::Gateway(sample) => Recorded::Gateway(sample.clone()),
            ObservationKind::FirewallTimeouts(t) => Recorded::Firewall(t.clone()),
            ObservationKind::SessionEnded(_)
            | ObservationKind::SessionUpdate(_)
            | ObservationKind::DnsLookup(_)
            | ObservationKind::Tick => return None,
        })
    }

    pub fn into_observation(self) -> ObservationKind {
        match self {
            Recorded::Link(change) => ObservationKind::Link(change),
            Recorded::WanInterfaces(names) => ObservationKind::WanInterfaces(names),
            Recorded::Probe(result) => ObservationKind::Probe(*result),
            Recorded::Gateway(sample) => ObservationKind::Gateway(sample),
            Recorded::Firewall(t) => ObservationKind::FirewallTimeouts(t),
        }
    }
}

/// Appends observations to `timeline.jsonl`.
pub struct TimelineWriter {
    dir: PathBuf,
    max_bytes: u64,
    file: Option<BufWriter<File>>,
    bytes: u64,
    /// The last write error, kept until a write succeeds.
    pub error: Option<String>,
}

impl TimelineWriter {
    /// A writer keeping at most about `max_bytes` in `dir` (two files of half that each).
    pub fn new(dir: &Path, max_bytes: u64) -> Self {
        Self {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(64 * 1024),
            file: None,
            bytes: 0,
            error: None,
        }
    }

    /// Records `kind` if it is worth recording.
    pub fn record(&mut self, time: Timestamp, kind: &ObservationKind) {
        let Some(recorded) = Recorded::from_observation(kind) else {
            return;
        };
        let entry = Entry { time, recorded };
        match self.write(&entry) {
            Ok(()) => self.error = None,
            Err(e) => {
                self.error = Some(format!("{}: {e}", self.dir.join(FILE_NAME).display()));
                // Start a fresh file next time rather than append after a torn line.
                self.file = None;
            }
        }
    }

    /// Pushes buffered lines to the file.
    pub fn flush(&mut self) {
        if let Some(file) = self.file.as_mut() {
            if let Err(e) = file.flush() {
                self.error = Some(format!("{}: {e}", self.dir.join(FILE_NAME).display()));
                self.file = None;
            }
        }
    }

    fn write(&mut self, entry: &Entry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        if self.file.is_some() && self.bytes + line.len() as u64 > self.max_bytes / 2 {
            self.rotate()?;
        }
        if self.file.is_none() {
            fs::create_dir_all(&self.dir)?;
            let path = self.dir.join(FILE_NAME);
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            self.bytes = file.metadata()?.len();
            self.file = Some(BufWriter::new(file));
        }
        if let Some(file) = self.file.as_mut() {
            file.write_all(&line)?;
            self.bytes += line.len() as u64;
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
        }
        fs::rename(self.dir.join(FILE_NAME), self.dir.join(PREVIOUS_NAME))?;
        self.bytes = 0;
        Ok(())
    }
}

/// What [`read`] found.
#[derive(Debug, Default)]
pub struct LoadedTimeline {
    /// In time order.
    pub observations: Vec<Observation>,
    /// Lines that could not be used, each naming the file and line.
    pub warnings: Vec<String>,
}

/// Reads a timeline file (a rotated `timeline.1.jsonl` beside it is read first). Lines that are
/// not timeline entries are skipped with a warning; an event journal given by mistake is named.
pub fn read(path: &Path) -> io::Result<LoadedTimeline> {
    let mut loaded = LoadedTimeline::default();
    let previous = path.with_file_name(PREVIOUS_NAME);
    if path.file_name() == Some(FILE_NAME.as_ref()) && previous.is_file() {
        read_file(&previous, &mut loaded)?;
    }
    read_file(path, &mut loaded)?;
    // Stable: observations with the same time keep their recorded order.
    loaded.observations.sort_by_key(|o| o.time);
    Ok(loaded)
}

fn read_file(path: &Path, loaded: &mut LoadedTimeline) -> io::Result<()> {
    let file = File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut lines = LineReader::new(BufReader::new(file), MAX_LINE);
    while let Some(ending) = lines.next_line()? {
        let number = lines.number();
        // Text that is not UTF-8 stops the reading, even in a line too long to use.
        let line = std::str::from_utf8(lines.bytes()).map_err(|_| not_utf8())?;
        if ending == Ending::TooLong {
            loaded.warnings.push(format!(
                "{}:{number}: line longer than {MAX_LINE} bytes, stopped reading",
                path.display()
            ));
            return Ok(());
        }
        // A torn last line is parsed as it is, and skipped with a warning if it does not parse.
        let text = line.trim();
        if !text.is_empty() {
            read_entry(text, path, number, loaded);
        }
    }
    Ok(())
}

/// The error a line that is not UTF-8 stops the reading with (the words of std's `read_line`).
fn not_utf8() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "stream did not contain valid UTF-8",
    )
}

/// Adds the observation on line `number`, or a warning naming the file and line.
fn read_entry(text: &str, path: &Path, number: usize, loaded: &mut LoadedTimeline) {
    match serde_json::from_str::<Entry>(text) {
        Ok(entry) => loaded.observations.push(Observation {
            time: entry.time,
            kind: entry.recorded.into_observation(),
        }),
        Err(e) => {
            let hint = if text.contains("\"severity\"") {
                " (this looks like the event journal; pass timeline.jsonl from the same state directory)"
            } else {
                ""
            };
            loaded
                .warnings
                .push(format!("{}:{number}: skipped: {e}{hint}", path.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link_down(secs: i64) -> (Timestamp, ObservationKind) {
        (
            Timestamp::from_unix(secs, 0),
            ObservationKind::Link(LinkChange::LinkDown {
                interface: "wan0".into(),
            }),
        )
    }

    #[test]
    fn records_what_replay_needs_and_reads_it_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = TimelineWriter::new(dir.path(), 1 << 20);
        writer.record(
            Timestamp::from_unix(5, 0),
            &ObservationKind::WanInterfaces(vec!["wan0".into()]),
        );
        writer.record(Timestamp::from_unix(6, 0), &ObservationKind::Tick);
        let (t, down) = link_down(10);
        writer.record(t, &down);
        writer.flush();
        assert_eq!(writer.error, None);

        let loaded = read(&dir.path().join(FILE_NAME)).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let kinds: Vec<_> = loaded
            .observations
            .iter()
            .map(|o| (o.time.unix_secs(), o.kind.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (5, ObservationKind::WanInterfaces(vec!["wan0".into()])),
                (10, down)
            ],
            "ticks are not recorded"
        );
    }

    #[test]
    fn stays_bounded_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = TimelineWriter::new(dir.path(), 64 * 1024);
        for i in 0..10_000 {
            let (t, down) = link_down(i);
            writer.record(t, &down);
        }
        writer.flush();
        let total: u64 = [FILE_NAME, PREVIOUS_NAME]
            .iter()
            .map(|n| {
                fs::metadata(dir.path().join(n))
                    .map(|m| m.len())
                    .unwrap_or(0)
            })
            .sum();
        assert!(total <= 64 * 1024 + 1024, "{total} bytes kept");
        let loaded = read(&dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(loaded.observations.last().unwrap().time.unix_secs(), 9_999);
    }

    #[test]
    fn an_event_journal_or_a_torn_line_is_named_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mixed.jsonl");
        let (t, down) = link_down(1);
        let good = serde_json::to_string(&Entry {
            time: t,
            recorded: Recorded::from_observation(&down).unwrap(),
        })
        .unwrap();
        fs::write(
            &path,
            format!("{good}\n{{\"id\":3,\"severity\":\"warning\"}}\n{{\"time\":\"2026-"),
        )
        .unwrap();
        let loaded = read(&path).unwrap();
        assert_eq!(loaded.observations.len(), 1);
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        assert!(
            loaded.warnings[0].contains("mixed.jsonl:2")
                && loaded.warnings[0].contains("event journal")
        );
        assert!(loaded.warnings[1].contains("mixed.jsonl:3"));
    }

    #[test]
    fn text_that_is_not_utf8_stops_the_reading_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.jsonl");
        fs::write(&path, b"\xff\n").unwrap();
        let err = read(&path).unwrap_err();
        let mut text = String::new();
        let std_err = std::io::BufRead::read_line(&mut &b"\xff\n"[..], &mut text).unwrap_err();
        assert_eq!(
            (err.kind(), err.to_string()),
            (std_err.kind(), std_err.to_string())
        );
    }
}
