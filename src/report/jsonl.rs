//! Reading JSON Lines files back (the journal, the timeline) one line at a time, with a bound on
//! how much of a line is held: a file in the state directory, or one given to `replay`, may hold
//! anything. What a reader does with a torn or an overlong line is its own decision.

use std::io::{self, BufRead};

/// How the line just read ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// With its newline: a whole line.
    Newline,
    /// The input ended first: a writer stopped mid-line, or the last line lacks its newline.
    Torn,
    /// The limit was reached without a newline; the rest of the line is still unread
    /// ([`LineReader::skip_rest`] reads past it).
    TooLong,
}

/// Reads lines of at most `limit` bytes (newline included).
pub struct LineReader<R> {
    reader: R,
    limit: usize,
    line: Vec<u8>,
    number: usize,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(reader: R, limit: usize) -> Self {
        Self {
            reader,
            limit,
            line: Vec::new(),
            number: 0,
        }
    }

    /// Reads the next line; `None` at the end of the input. The line is then [`Self::bytes`],
    /// and its number (from 1) [`Self::number`]. On an error the number is not advanced.
    pub fn next_line(&mut self) -> io::Result<Option<Ending>> {
        self.line.clear();
        loop {
            let chunk = fill(&mut self.reader)?;
            if chunk.is_empty() {
                if self.line.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(self.ended(Ending::Torn)));
            }
            let room = self.limit.saturating_sub(self.line.len());
            let window = &chunk[..chunk.len().min(room)];
            let (take, ending) = match window.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, Some(Ending::Newline)),
                None if window.len() == room => (window.len(), Some(Ending::TooLong)),
                None => (window.len(), None),
            };
            self.line.extend_from_slice(&window[..take]);
            self.reader.consume(take);
            if let Some(ending) = ending {
                return Ok(Some(self.ended(ending)));
            }
        }
    }

    fn ended(&mut self, ending: Ending) -> Ending {
        self.number += 1;
        ending
    }

    /// The line last read, newline included when it had one.
    pub fn bytes(&self) -> &[u8] {
        &self.line
    }

    /// The number of the line last read, counting from 1.
    pub fn number(&self) -> usize {
        self.number
    }

    /// Reads past the rest of a [`Ending::TooLong`] line, up to and including its newline (or
    /// to the end of the input); returns how many bytes that was, and whether a newline ended
    /// it (a long line is not a torn one).
    pub fn skip_rest(&mut self) -> io::Result<(usize, bool)> {
        let mut skipped = 0;
        loop {
            let chunk = fill(&mut self.reader)?;
            if chunk.is_empty() {
                return Ok((skipped, false));
            }
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            self.reader.consume(take);
            skipped += take;
            if done {
                return Ok((skipped, true));
            }
        }
    }
}

/// The reader's buffered bytes, refilled when empty; a read interrupted by a signal is retried.
/// (The second `fill_buf` hands back what the first buffered, without reading again except at
/// the end of the input: returning the first one's slice from the loop does not borrow-check.)
fn fill(reader: &mut impl BufRead) -> io::Result<&[u8]> {
    loop {
        match reader.fill_buf() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    reader.fill_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], limit: usize) -> Vec<(Ending, Vec<u8>)> {
        let mut reader = LineReader::new(input, limit);
        let mut out = Vec::new();
        while let Some(ending) = reader.next_line().unwrap() {
            out.push((ending, reader.bytes().to_vec()));
            assert_eq!(reader.number(), out.len());
        }
        out
    }

    #[test]
    fn whole_torn_and_overlong_lines() {
        use Ending::*;
        assert_eq!(
            lines(b"ab\n\ncd", 4),
            vec![
                (Newline, b"ab\n".to_vec()),
                (Newline, b"\n".to_vec()),
                (Torn, b"cd".to_vec())
            ]
        );
        // A newline that is the limit-th byte still ends a whole line.
        assert_eq!(lines(b"abc\n", 4), vec![(Newline, b"abc\n".to_vec())]);
        // At the limit without a newline: too long, even when the input ends there.
        assert_eq!(lines(b"abcd", 4), vec![(TooLong, b"abcd".to_vec())]);
        assert!(lines(b"", 4).is_empty());
    }

    #[test]
    fn the_rest_of_a_long_line_can_be_skipped() {
        let mut reader = LineReader::new(&b"abcdefg\nhi\n"[..], 3);
        assert_eq!(reader.next_line().unwrap(), Some(Ending::TooLong));
        assert_eq!(reader.skip_rest().unwrap(), (5, true));
        assert_eq!(reader.next_line().unwrap(), Some(Ending::Newline));
        assert_eq!((reader.number(), reader.bytes()), (2, &b"hi\n"[..]));
        assert_eq!(reader.next_line().unwrap(), None);
        // Without a newline, skipping stops at the end of the input.
        let mut reader = LineReader::new(&b"abcdefg"[..], 3);
        assert_eq!(reader.next_line().unwrap(), Some(Ending::TooLong));
        assert_eq!(reader.skip_rest().unwrap(), (4, false));
        assert_eq!(reader.next_line().unwrap(), None);
    }
}
