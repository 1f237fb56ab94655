//! The control socket's request decoder (src/control/frame.rs + `Request`) on arbitrary bytes:
//! no panic, no allocation beyond the cap, and every accepted request survives a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailpulse::control::{frame, Request, MAX_REQUEST};

/// A small cap as well, so over-cap prefixes near the boundary are reached often.
const SMALL_CAP: u64 = 256;

fuzz_target!(|data: &[u8]| {
    for cap in [MAX_REQUEST, SMALL_CAP] {
        let mut input = data;
        if let Ok(request) = frame::read::<Request>(&mut input, cap) {
            // What the daemon accepted, the CLI can write and the daemon read back the same.
            let bytes = frame::encode(&request, MAX_REQUEST).expect("an accepted request encodes");
            let mut again: &[u8] = &bytes;
            let back: Request = frame::read(&mut again, MAX_REQUEST).expect("re-encoded request reads");
            assert_eq!(back, request);
        }
    }
});
