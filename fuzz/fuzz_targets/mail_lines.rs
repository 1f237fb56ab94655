//! IMAP, POP3 and SMTP lines through the bounded framer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailpulse::wire::line::LineFramer;
use mailpulse::wire::{imap, pop3, smtp};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(1, |b| usize::from(*b % 16) + 1);
    let mut framer = LineFramer::new(256);
    for chunk in data.chunks(split) {
        framer.push(chunk, |line| {
            assert!(line.text.len() <= 256);
            let _ = imap::Response::parse(line.text).map(|r| r.code.map(|c| c.is_transient()));
            let _ = imap::Command::parse(line.text);
            let _ = pop3::Response::parse(line.text);
            let _ = pop3::Command::parse(line.text);
            let _ = smtp::ReplyLine::parse(line.text);
            let _ = smtp::Command::parse(line.text);
        });
        assert!(framer.pending() <= 256);
    }
});
