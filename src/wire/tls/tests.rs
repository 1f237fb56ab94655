//! Fixtures are TCP payloads cut from the lab captures (tests/data/imaps-good.pcap frames 6
//! and 8: curl ↔ dovecot, TLS 1.3; tls10-refused.pcap frames 6 and 8: a TLS 1.0-only client
//! refused by stunnel). Expected values are tshark's reading of the same frames.

use super::*;

static CLIENT_HELLO_TLS13: &[u8] = include_bytes!("testdata/client_hello_curl_tls13.bin");
static SERVER_FLIGHT_TLS13: &[u8] = include_bytes!("testdata/server_flight_tls13.bin");
static CLIENT_HELLO_TLS10: &[u8] = include_bytes!("testdata/client_hello_tls10.bin");
static ALERT_PROTOCOL_VERSION: &[u8] = include_bytes!("testdata/alert_protocol_version.bin");

fn hello_body(record: &[u8]) -> (u8, &[u8]) {
    let (header, body, rest) = split_record(record).unwrap();
    assert_eq!(header.content_type, content_type::HANDSHAKE);
    assert!(rest.is_empty());
    let (msg_type, body, _) = split_handshake(body).unwrap();
    (msg_type, body)
}

#[test]
fn test_parse_client_hello_tls13() {
    let (header, _, _) = split_record(CLIENT_HELLO_TLS13).unwrap();
    // tshark: tls.record.length 512, tls.record.version 0x0301.
    assert_eq!(header.length, 512);
    assert_eq!(header.version, 0x0301);
    let (msg_type, body) = hello_body(CLIENT_HELLO_TLS13);
    assert_eq!(msg_type, handshake_type::CLIENT_HELLO);
    let hello = ClientHello::parse(body).unwrap();
    assert_eq!(hello.legacy_version, 0x0303);
    assert_eq!(hello.server_name, Some(&b"imap.mail.test"[..]));
    assert_eq!(
        hello.offered_versions().collect::<Vec<_>>(),
        vec![0x0304, 0x0303, 0x0302, 0x0301]
    );
    assert_eq!(hello.max_offered_version(), Some(0x0304));
    // tshark: cipher_suites_length 62.
    assert_eq!(hello.cipher_suite_count, 31);
}

#[test]
fn test_parse_client_hello_tls10_without_supported_versions() {
    let (_, body) = hello_body(CLIENT_HELLO_TLS10);
    let hello = ClientHello::parse(body).unwrap();
    assert_eq!(hello.server_name, Some(&b"tls12.mail.test"[..]));
    assert_eq!(hello.supported_versions, None);
    assert_eq!(hello.max_offered_version(), Some(0x0301));
    // tshark: cipher_suites_length 18.
    assert_eq!(hello.cipher_suite_count, 9);
}

#[test]
fn test_parse_server_flight_tls13() {
    // tshark: records of 122 (ServerHello), 1 (ChangeCipherSpec), 27 and 1021 (encrypted).
    let (header, body, rest) = split_record(SERVER_FLIGHT_TLS13).unwrap();
    assert_eq!(header.length, 122);
    let (msg_type, body, _) = split_handshake(body).unwrap();
    assert_eq!(msg_type, handshake_type::SERVER_HELLO);
    let hello = ServerHello::parse(body).unwrap();
    assert_eq!(hello.legacy_version, 0x0303);
    assert_eq!(hello.selected_version, Some(0x0304));
    assert_eq!(hello.version(), 0x0304);
    assert_eq!(hello.cipher_suite, 0x1302);
    assert!(!hello.hello_retry);
    let (ccs, _, rest) = split_record(rest).unwrap();
    assert_eq!(
        (ccs.content_type, ccs.length),
        (content_type::CHANGE_CIPHER_SPEC, 1)
    );
    let (app, _, rest) = split_record(rest).unwrap();
    assert_eq!(
        (app.content_type, app.length),
        (content_type::APPLICATION_DATA, 27)
    );
    let (app, _, rest) = split_record(rest).unwrap();
    assert_eq!(
        (app.content_type, app.length),
        (content_type::APPLICATION_DATA, 1021)
    );
    // The next record starts here and ends in the next segment (tshark shows it there).
    assert_eq!(
        rest.len(),
        1448 - (5 + 122) - (5 + 1) - (5 + 27) - (5 + 1021)
    );
    assert_eq!(
        split_record(rest).map(|_| ()),
        Err(Error::Truncated("TLS record"))
    );
}

#[test]
fn test_parse_alert() {
    // tshark: level 2 (fatal), description 70 (protocol_version).
    let (header, body, _) = split_record(ALERT_PROTOCOL_VERSION).unwrap();
    assert_eq!(header.content_type, content_type::ALERT);
    assert_eq!(
        Alert::parse(body),
        Ok(Alert {
            level: 2,
            description: 70
        })
    );
    assert!(Alert::parse(&[2, 70, 0]).is_err());
}

#[test]
fn alpn_and_grease_from_rfc_examples() {
    // ALPN with "h2" and "http/1.1" (RFC 7301 §3.1) and a GREASE version (RFC 8701 §2)
    // in supported_versions, built for the test.
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
    let alpn: &[u8] = &[
        0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
    ];
    let versions: &[u8] = &[6, 0x7a, 0x7a, 0x03, 0x04, 0x03, 0x03];
    let mut ext = vec![0, 16, 0, alpn.len() as u8];
    ext.extend_from_slice(alpn);
    ext.extend_from_slice(&[0, 43, 0, versions.len() as u8]);
    ext.extend_from_slice(versions);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let hello = ClientHello::parse(&body).unwrap();
    assert_eq!(
        hello.offered_versions().collect::<Vec<_>>(),
        vec![0x0304, 0x0303]
    );
    assert_eq!(hello.server_name, None);
    // The names are not kept, but a list longer than its extension refuses the hello.
    let mut cut = body.clone();
    let list_len_at = 2 + 32 + 1 + 6 + 2 + 4;
    assert_eq!(&cut[list_len_at..list_len_at + 2], &[0, 12]);
    cut[list_len_at + 1] = 13;
    assert!(ClientHello::parse(&cut).is_err());
}

#[test]
fn test_impossible_len() {
    // Plain text is not a record; an oversized record is refused.
    assert_eq!(
        RecordHeader::parse(b"* OK IMAP ready"),
        Err(Error::Malformed("TLS content type"))
    );
    assert_eq!(
        RecordHeader::parse(&[23, 3, 3, 0xff, 0xff]),
        Err(Error::BadLength("TLS record"))
    );
    let (_, body) = hello_body(CLIENT_HELLO_TLS13);
    for cut in [0, 1, 34, 40, 100, body.len() - 1] {
        assert!(ClientHello::parse(&body[..cut]).is_err(), "cut at {cut}");
    }
}
