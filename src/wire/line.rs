//! Bounded CRLF line framing for the text protocols (IMAP, POP3, SMTP).
//!
//! Lines longer than the bound are cut, not grown: the first `max` bytes are delivered with
//! `overlong` set, the rest up to the line feed is dropped.

/// Collects bytes into lines of at most `max` bytes.
#[derive(Clone, Debug)]
pub struct LineFramer {
    buf: Vec<u8>,
    max: usize,
    overlong: bool,
}

/// One line, without its CR LF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    pub text: &'a [u8],
    /// The line was longer than the framer's bound and was cut.
    pub overlong: bool,
}

impl LineFramer {
    /// A framer for lines of at most `max` bytes (its buffer is allocated on first use).
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            max,
            overlong: false,
        }
    }

    /// Feeds bytes; calls `on_line` for every line they complete.
    pub fn push(&mut self, mut data: &[u8], mut on_line: impl FnMut(Line<'_>)) {
        while !data.is_empty() {
            let (chunk, complete) = match memchr::memchr(b'\n', data) {
                Some(i) => (&data[..i], true),
                None => (data, false),
            };
            data = data
                .get(chunk.len() + usize::from(complete)..)
                .unwrap_or(&[]);
            // Fast path: a whole line inside one chunk, nothing buffered.
            if complete && self.buf.is_empty() && !self.overlong && chunk.len() <= self.max {
                on_line(Line {
                    text: strip_cr(chunk),
                    overlong: false,
                });
                continue;
            }
            let room = self.max.saturating_sub(self.buf.len());
            if chunk.len() > room {
                self.overlong = true;
            }
            self.buf
                .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or(&[]));
            if complete {
                on_line(Line {
                    text: strip_cr(&self.buf),
                    overlong: self.overlong,
                });
                self.buf.clear();
                self.overlong = false;
            }
        }
    }

    /// Feeds bytes whose lines nobody needs: the same state as `push` with a callback that
    /// ignores them, in one search for the last line feed instead of one per line.
    pub fn skip(&mut self, data: &[u8]) {
        let partial = match memchr::memrchr(b'\n', data) {
            Some(i) => {
                self.buf.clear();
                self.overlong = false;
                &data[i + 1..]
            }
            None => data,
        };
        let room = self.max.saturating_sub(self.buf.len());
        if partial.len() > room {
            self.overlong = true;
        }
        self.buf
            .extend_from_slice(partial.get(..room.min(partial.len())).unwrap_or(&[]));
    }

    /// Bytes of an incomplete line held.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Splits off the first space-separated word.
pub(crate) fn word(text: &[u8]) -> (&[u8], &[u8]) {
    match text.iter().position(|&b| b == b' ') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, &[]),
    }
}

/// A bracketed response code at the start of `text` (`[AUTH] text` → `AUTH`), and the rest.
/// Only the code's first atom is returned (`[SYS/TEMP]` → `SYS/TEMP`,
/// `[CAPABILITY IMAP4rev1 …]` → `CAPABILITY`).
pub(crate) fn bracket_code(text: &[u8]) -> (Option<&[u8]>, &[u8]) {
    let Some(inner) = text.strip_prefix(b"[") else {
        return (None, text);
    };
    let Some(close) = inner.iter().position(|&b| b == b']') else {
        return (None, text);
    };
    let code = &inner[..close];
    let atom_end = code.iter().position(|&b| b == b' ').unwrap_or(code.len());
    let rest = inner.get(close + 1..).unwrap_or(&[]);
    (
        Some(&code[..atom_end]),
        rest.strip_prefix(b" ").unwrap_or(rest),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(framer: &mut LineFramer, data: &[u8]) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        framer.push(data, |l| out.push((l.text.to_vec(), l.overlong)));
        out
    }

    #[test]
    fn lines_split_across_pushes_are_joined() {
        let mut f = LineFramer::new(64);
        assert!(lines(&mut f, b"* OK Dove").is_empty());
        assert_eq!(f.pending(), 9);
        let got = lines(&mut f, b"cot ready.\r\na1 OK\r\n+");
        assert_eq!(
            got,
            vec![
                (b"* OK Dovecot ready.".to_vec(), false),
                (b"a1 OK".to_vec(), false)
            ]
        );
        assert_eq!(f.pending(), 1);
    }

    #[test]
    fn overlong_lines_are_cut_not_grown() {
        let mut f = LineFramer::new(8);
        let mut got = lines(&mut f, b"0123456789abcdef");
        got.extend(lines(&mut f, b"ghij\r\nok\r\n"));
        assert_eq!(
            got,
            vec![(b"01234567".to_vec(), true), (b"ok".to_vec(), false)]
        );
        assert!(f.pending() == 0);
    }

    /// `skip` leaves the framer as `push` does, whatever the split: the next line pushed
    /// comes out the same.
    #[test]
    fn skipping_keeps_the_framing() {
        let stream: &[u8] =
            b"* 3 EXISTS\r\n* OK Still here\r\n0123456789abcdefghij\r\n* BYE\r\na1 OK done\r\n";
        for max in [8, 64] {
            for split in 0..stream.len() {
                let (mut pushed, mut skipped) = (LineFramer::new(max), LineFramer::new(max));
                let (head, tail) = stream.split_at(split);
                lines(&mut pushed, head);
                skipped.skip(head);
                assert_eq!(
                    (skipped.pending(), skipped.overlong),
                    (pushed.pending(), pushed.overlong)
                );
                assert_eq!(
                    lines(&mut skipped, tail),
                    lines(&mut pushed, tail),
                    "max {max}, split {split}"
                );
            }
        }
    }

    #[test]
    fn bracket_codes() {
        assert_eq!(
            bracket_code(b"[SYS/TEMP] try later"),
            (Some(&b"SYS/TEMP"[..]), &b"try later"[..])
        );
        assert_eq!(
            bracket_code(b"[CAPABILITY IMAP4rev1 LOGIN] ok").0,
            Some(&b"CAPABILITY"[..])
        );
        assert_eq!(bracket_code(b"[unclosed").0, None);
    }
}
