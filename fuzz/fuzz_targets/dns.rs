//! DNS messages: header, question, answers and compressed names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailpulse::wire::dns;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = dns::Packet::new_checked(data) {
        let _ = packet.question().map(|(q, _)| q.name.to_text());
        if let Ok(answers) = packet.answer_addresses() {
            assert!(answers.count() <= usize::from(packet.answer_count()));
        }
    }
    for offset in 0..data.len().min(32) {
        if let Ok((name, _)) = dns::read_name(data, offset) {
            assert!(name.as_bytes().len() <= 255);
        }
    }
});
