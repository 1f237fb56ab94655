//! TLS records and hellos.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailpulse::wire::tls;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok((header, body, after)) = tls::split_record(rest) {
        if header.content_type == tls::content_type::HANDSHAKE {
            if let Ok((kind, body, _)) = tls::split_handshake(body) {
                match kind {
                    tls::handshake_type::CLIENT_HELLO => {
                        if let Ok(hello) = tls::ClientHello::parse(body) {
                            let _ = hello.max_offered_version();
                        }
                    }
                    tls::handshake_type::SERVER_HELLO => {
                        let _ = tls::ServerHello::parse(body).map(|h| h.version());
                    }
                    _ => {}
                }
            }
        }
        let _ = tls::Alert::parse(body);
        rest = after;
    }
    // Bodies without a record header too.
    let _ = tls::ClientHello::parse(data);
    let _ = tls::ServerHello::parse(data);
});
