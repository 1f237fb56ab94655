//! The event journal: append-only JSON Lines (`journal.jsonl`) in the state directory,
//! rotated by size (`journal.jsonl` → `journal.1.jsonl` → … → `journal.K.jsonl`), read back on
//! start so event ids continue.
//!
//! Nothing here reads a clock: the caller decides when to [`Journal::sync`] (the daemon does it
//! every second; [`JournalOptions::sync_every`] events force one sooner). I/O errors (a full
//! disk, a read-only file system) never stop the daemon: they become [`JournalState`].

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::control::JournalState;
use crate::diagnose::event::Event;
use crate::report::jsonl::{Ending, LineReader};

/// The live journal's file name.
pub const FILE_NAME: &str = "journal.jsonl";

/// Opens one of the journal's own files without following a symbolic link: the state
/// directory belongs to the daemon's user, and a link planted there must never lead a write
/// (or a read back into the event history) to a file of someone else's (ELOOP instead).
fn open_no_follow(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    options.custom_flags(libc::O_NOFOLLOW).open(path)
}

/// Opens one file to read back; `None`, with a warning unless it is simply missing, when it
/// cannot be read.
fn open_for_read_back(path: &Path, out: &mut Recovered) -> Option<File> {
    let file = match open_no_follow(OpenOptions::new().read(true), path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            out.warnings
                .push(format!("{}: cannot read: {e}", path.display()));
            return None;
        }
    };
    // A device (say /dev/zero) would never end; only regular files are read back.
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        out.warnings.push(format!(
            "{}: not a regular file; not read back",
            path.display()
        ));
        return None;
    }
    Some(file)
}

/// Reads the next line; returns its length in the file and whether it ended with its newline
/// (`None` at the end of the file). An error comes with the number of the line being read.
fn line_length(
    lines: &mut LineReader<impl BufRead>,
) -> Result<Option<(usize, bool)>, (usize, io::Error)> {
    match lines.next_line() {
        Ok(None) => Ok(None),
        Ok(Some(Ending::Newline)) => Ok(Some((lines.bytes().len(), true))),
        Ok(Some(Ending::Torn)) => Ok(Some((lines.bytes().len(), false))),
        // Not kept whole: read past it to name its length. Ended by its newline, it is skipped
        // and the lines after it are read; cut off by the end of the file, it is torn.
        Ok(Some(Ending::TooLong)) => lines
            .skip_rest()
            .map(|(rest, newline)| Some((lines.bytes().len() + rest, newline)))
            .map_err(|e| (lines.number(), e)),
        Err(e) => Err((lines.number() + 1, e)),
    }
}

/// Longest journal line read back; an event is a few KiB at most.
const MAX_LINE: usize = 1 << 20;

/// Sizes and counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalOptions {
    /// Rotate before a write would take the live file past this many bytes.
    pub max_size: u64,
    /// Rotated files kept (`journal.1.jsonl` … `journal.K.jsonl`).
    pub keep: u32,
    /// Sync after this many unsynced events even if the caller has not asked yet.
    pub sync_every: usize,
    /// Most events handed back by [`Journal::open`] (the newest ones).
    pub recover_events: usize,
}

impl Default for JournalOptions {
    fn default() -> Self {
        Self {
            max_size: 8 << 20,
            keep: 4,
            sync_every: 64,
            recover_events: 10_000,
        }
    }
}

/// What was read back on open.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recovered {
    /// The newest events, oldest first (at most [`JournalOptions::recover_events`]).
    pub events: Vec<Event>,
    /// The highest id seen, so the engine can continue after it.
    pub last_id: Option<u64>,
    /// Lines skipped and repairs made, each naming the file and line.
    pub warnings: Vec<String>,
}

/// The open journal.
pub struct Journal {
    dir: PathBuf,
    options: JournalOptions,
    file: Option<File>,
    unsynced: usize,
    state: JournalState,
}

impl Journal {
    /// Opens (creating the directory and file if needed) and reads back what is there. Never
    /// fails: a problem leaves the journal unhealthy and is retried on the next write.
    pub fn open(dir: &Path, options: JournalOptions) -> (Journal, Recovered) {
        let mut journal = Journal {
            dir: dir.to_path_buf(),
            state: JournalState {
                path: dir.join(FILE_NAME),
                healthy: true,
                ..JournalState::default()
            },
            options,
            file: None,
            unsynced: 0,
        };
        let mut recovered = Recovered::default();
        if let Err(e) = fs::create_dir_all(dir) {
            journal.fail(format!("cannot create {}: {e}", dir.display()));
            return (journal, recovered);
        }
        journal.read_back(&mut recovered);
        journal.ensure_open();
        (journal, recovered)
    }

    /// The file names, oldest first.
    fn files_oldest_first(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = (1..=self.options.keep)
            .rev()
            .map(|n| self.rotated(n))
            .collect();
        files.push(self.state.path.clone());
        files
    }

    fn rotated(&self, n: u32) -> PathBuf {
        self.dir.join(format!("journal.{n}.jsonl"))
    }

    /// Reads every file back, oldest first, keeping the newest events.
    fn read_back(&self, out: &mut Recovered) {
        let mut newest: VecDeque<Event> = VecDeque::new();
        for path in self.files_oldest_first() {
            if let Some(file) = open_for_read_back(&path, out) {
                self.read_file(&path, file, &mut newest, out);
            }
        }
        out.events = newest.into();
    }

    /// Reads one file back line by line; stops at its first incomplete line.
    fn read_file(
        &self,
        path: &Path,
        file: File,
        newest: &mut VecDeque<Event>,
        out: &mut Recovered,
    ) {
        // One byte over the limit is kept, so a line of just over it is told from one that fits.
        let mut lines = LineReader::new(BufReader::new(file), MAX_LINE + 1);
        // Where the last whole line ends: an incomplete line after it is cut off there.
        let mut good_end = 0u64;
        loop {
            let (n, complete) = match line_length(&mut lines) {
                Ok(Some(line)) => line,
                Ok(None) => return,
                Err((number, e)) => {
                    out.warnings
                        .push(format!("{}:{number}: cannot read: {e}", path.display()));
                    return;
                }
            };
            let number = lines.number();
            if !complete {
                self.drop_incomplete_line(path, number, n, good_end, out);
                return;
            }
            good_end += n as u64;
            if n > MAX_LINE {
                out.warnings.push(format!(
                    "{}:{number}: skipped a line of {n} bytes (over {MAX_LINE})",
                    path.display()
                ));
                continue;
            }
            let text = lines.bytes().trim_ascii();
            if text.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Event>(text) {
                Ok(event) => self.keep(event, newest, out),
                Err(e) => out.warnings.push(format!(
                    "{}:{number}: skipped unreadable line: {e}",
                    path.display()
                )),
            }
        }
    }

    /// Keeps `event` among the newest [`JournalOptions::recover_events`].
    fn keep(&self, event: Event, newest: &mut VecDeque<Event>, out: &mut Recovered) {
        out.last_id = Some(out.last_id.map_or(event.id, |id| id.max(event.id)));
        newest.push_back(event);
        if newest.len() > self.options.recover_events {
            newest.pop_front();
        }
    }

    /// The daemon stopped mid-write: the fragment is dropped from the live file, so the next
    /// line starts clean (only the live file is ever written).
    fn drop_incomplete_line(
        &self,
        path: &Path,
        number: usize,
        len: usize,
        good_end: u64,
        out: &mut Recovered,
    ) {
        out.warnings.push(format!(
            "{}:{number}: incomplete last line ({len} bytes) dropped",
            path.display()
        ));
        if path == self.state.path {
            if let Err(e) = open_no_follow(OpenOptions::new().write(true), path)
                .and_then(|f| f.set_len(good_end))
            {
                out.warnings.push(format!(
                    "{}: cannot trim the incomplete line: {e}",
                    path.display()
                ));
            }
        }
    }

    fn ensure_open(&mut self) -> bool {
        if self.file.is_some() {
            return true;
        }
        let opened = open_no_follow(
            OpenOptions::new().create(true).append(true),
            &self.state.path,
        )
        .and_then(|f| Ok((f.metadata()?.len(), f)));
        match opened {
            Ok((len, file)) => {
                self.state.bytes = len;
                self.file = Some(file);
                true
            }
            Err(e) => {
                self.fail(format!("cannot open {}: {e}", self.state.path.display()));
                false
            }
        }
    }

    fn fail(&mut self, message: String) {
        self.state.healthy = false;
        self.state.last_error = Some(message);
    }

    /// Appends one event. On an error the event is counted as lost, the journal is marked
    /// unhealthy, and the next append tries again.
    pub fn append(&mut self, event: &Event) {
        let mut line = match serde_json::to_vec(event) {
            Ok(l) => l,
            Err(e) => {
                self.state.events_lost += 1;
                self.fail(format!("cannot encode event {}: {e}", event.id));
                return;
            }
        };
        line.push(b'\n');
        let len = line.len() as u64;
        if self.state.bytes > 0 && self.state.bytes + len > self.options.max_size {
            self.rotate();
        }
        if !self.ensure_open() {
            self.state.events_lost += 1;
            return;
        }
        let Some(file) = self.file.as_mut() else {
            return;
        };
        match file.write_all(&line) {
            Ok(()) => {
                self.state.bytes += len;
                self.state.events_written += 1;
                self.state.healthy = true;
                self.unsynced += 1;
                if self.unsynced >= self.options.sync_every {
                    self.sync();
                }
            }
            Err(e) => {
                // Cut off whatever part of the line made it, so the file stays line-aligned.
                let _ = file.set_len(self.state.bytes);
                self.file = None;
                self.state.events_lost += 1;
                self.fail(format!("cannot write {}: {e}", self.state.path.display()));
            }
        }
    }

    /// True when events were written since the last sync.
    #[cfg(test)]
    pub fn needs_sync(&self) -> bool {
        self.unsynced > 0
    }

    /// Flushes written events to stable storage; nothing to do when nothing was written since
    /// the last sync, so calling it on every tick costs no disk flush.
    pub fn sync(&mut self) {
        if self.unsynced == 0 {
            return;
        }
        let Some(file) = self.file.as_ref() else {
            return;
        };
        match file.sync_data() {
            Ok(()) => self.unsynced = 0,
            Err(e) => {
                self.file = None;
                self.fail(format!("cannot sync {}: {e}", self.state.path.display()));
            }
        }
    }

    /// journal.jsonl → journal.1.jsonl, shifting the older ones and dropping the oldest.
    fn rotate(&mut self) {
        self.sync();
        self.file = None;
        if self.options.keep == 0 {
            if let Err(e) = fs::remove_file(&self.state.path) {
                self.fail(format!("cannot rotate {}: {e}", self.state.path.display()));
            }
        } else {
            for n in (1..self.options.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    if let Err(e) = fs::rename(&from, self.rotated(n + 1)) {
                        self.fail(format!("cannot rotate {}: {e}", from.display()));
                    }
                }
            }
            if let Err(e) = fs::rename(&self.state.path, self.rotated(1)) {
                self.fail(format!("cannot rotate {}: {e}", self.state.path.display()));
                return;
            }
        }
        self.state.rotations += 1;
        self.state.bytes = 0;
    }

    /// The journal's health and counters.
    pub fn state(&self) -> JournalState {
        self.state.clone()
    }
}

#[cfg(test)]
mod tests;
