use super::*;
use crate::time::Timestamp;
use crate::wire::LinkType;

const CLIENT: [u8; 4] = [192, 168, 1, 20];
const SERVER: [u8; 4] = [203, 0, 113, 5];

/// An Ethernet/IPv4/TCP frame; the IP and TCP checksums are left zero (the decoder does not
/// check them, and the ring keeps what was captured).
fn tcp_frame(from_client: bool, port: u16, flags_byte: u8, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sport, dport) = if from_client {
        (CLIENT, SERVER, 50_000, port)
    } else {
        (SERVER, CLIENT, port, 50_000)
    };
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
    let total = (20 + 20 + payload.len()) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[
        0, 0, 0, 1, 0, 0, 0, 1, 0x50, flags_byte, 0xff, 0xff, 0, 0, 0, 0,
    ]);
    f.extend_from_slice(payload);
    f
}

fn frame(data: &[u8]) -> Frame<'_> {
    Frame {
        time: Timestamp::from_unix(1_700_000_000, 0),
        link_type: LinkType::ETHERNET,
        data,
        original_len: data.len() as u32,
    }
}

/// A session on `port` as (from_client, payload); returns the payloads as kept.
fn session(port: u16, exchange: &[(bool, &str)]) -> Vec<String> {
    let mut r = Redactor::new();
    let syn = tcp_frame(true, port, flags::SYN, b"");
    r.redact(&frame(&syn), 4096).expect("kept");
    exchange
        .iter()
        .map(|(from_client, text)| {
            let data = tcp_frame(*from_client, port, flags::ACK | flags::PSH, text.as_bytes());
            let kept = r.redact(&frame(&data), 4096).expect("kept");
            assert_eq!(kept.len(), data.len(), "lengths are kept");
            assert_eq!(kept[..54], data[..54], "headers are kept");
            String::from_utf8(kept[54..].to_vec()).unwrap()
        })
        .collect()
}

fn assert_absent(kept: &[String], secrets: &[&str]) {
    let all = kept.concat();
    for s in secrets {
        assert!(!all.contains(s), "{s:?} is still in {all:?}");
    }
}

#[test]
fn imap_login_keeps_verbs_and_the_answer_but_not_the_password_or_the_mail() {
    let kept = session(
        143,
        &[
            (
                false,
                "* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\r\n",
            ),
            (true, "a0 CAPABILITY\r\n"),
            (false, "* CAPABILITY IMAP4rev1 LOGIN\r\na0 OK done\r\n"),
            (true, "a1 LOGIN alice s3cret-pw\r\n"),
            (false, "a1 OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
            (true, "a2 SELECT INBOX\r\n"),
            (
                false,
                "* 1 FETCH (BODY[] {40}\r\nSubject: private matter\r\n\r\nbody\r\n)\r\n",
            ),
        ],
    );
    assert_eq!(
        kept[0],
        "* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\r\n"
    );
    assert_eq!(kept[1], "a0 CAPABILITY\r\n");
    assert_eq!(kept[3], "a1 LOGINxxxxxxxxxxxxxxxx\r\n");
    assert_eq!(kept[4], "a1 OK [CAPABILITY IMAP4rev1] Logged in\r\n");
    assert!(
        kept[5].bytes().all(|b| b == MARK),
        "after the login: {:?}",
        kept[5]
    );
    assert!(
        kept[6].bytes().all(|b| b == MARK),
        "after the login: {:?}",
        kept[6]
    );
    assert_absent(&kept, &["alice", "s3cret", "INBOX", "private", "body"]);
}

#[test]
fn sasl_continuations_are_overwritten_and_a_rejection_stays_readable() {
    // AUTHENTICATE PLAIN with a continuation, rejected, then LOGIN with a literal.
    let kept = session(
        143,
        &[
            (false, "* OK ready\r\n"),
            (true, "a1 AUTHENTICATE PLAIN\r\n"),
            (false, "+ \r\n"),
            (true, "AGFsaWNlAHMzY3JldA==\r\n"),
            (
                false,
                "a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
            ),
            (true, "a2 LOGIN {5}\r\n"),
            (false, "+ OK\r\n"),
            (true, "alice {6}\r\n"),
            (true, "s3cret\r\n"),
        ],
    );
    assert_eq!(kept[1], "a1 AUTHENTICATExxxxxx\r\n");
    assert_eq!(kept[3], "xxxxxxxxxxxxxxxxxxxx\r\n");
    assert_eq!(
        kept[4],
        "a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
    );
    assert_absent(&kept, &["AGFsaWNl", "alice", "s3cret", "{5}"]);
}

#[test]
fn pop3_user_pass_and_smtp_auth_login_lose_their_arguments() {
    let pop = session(
        110,
        &[
            (false, "+OK Dovecot ready.\r\n"),
            (true, "USER alice\r\n"),
            (false, "+OK\r\n"),
            (true, "PASS s3cret\r\n"),
            (false, "+OK Logged in.\r\n"),
            (true, "RETR 1\r\n"),
            (false, "+OK 40 octets\r\nSubject: private\r\n"),
        ],
    );
    assert_eq!(pop[1], "USERxxxxxx\r\n");
    assert_eq!(pop[3], "PASSxxxxxxx\r\n");
    assert_eq!(pop[4], "+OK Logged in.\r\n");
    assert_absent(&pop, &["alice", "s3cret", "private", "RETR"]);

    let smtp = session(
        587,
        &[
            (false, "220 mail.test ESMTP\r\n"),
            (true, "EHLO client.lan\r\n"),
            (false, "250-mail.test\r\n250 AUTH PLAIN LOGIN\r\n"),
            (true, "AUTH LOGIN\r\n"),
            (false, "334 VXNlcm5hbWU6\r\n"),
            (true, "YWxpY2U=\r\n"),
            (false, "334 UGFzc3dvcmQ6\r\n"),
            (true, "czNjcmV0\r\n"),
            (false, "235 2.7.0 Authentication successful\r\n"),
            (true, "MAIL FROM:<alice@test>\r\n"),
        ],
    );
    assert_eq!(smtp[3], "AUTHxxxxxx\r\n");
    assert_eq!(smtp[5], "xxxxxxxx\r\n");
    assert_eq!(smtp[8], "235 2.7.0 Authentication successful\r\n");
    assert_absent(&smtp, &["YWxpY2U", "czNjcmV0", "alice@test", "client.lan"]);
}

#[test]
fn smtp_message_content_is_never_kept() {
    let kept = session(
        25,
        &[
            (false, "220 mx ESMTP\r\n"),
            (true, "HELO x\r\n"),
            (true, "MAIL FROM:<a@b>\r\n"),
            (true, "DATA\r\n"),
            (false, "354 go ahead\r\n"),
            (
                true,
                "Subject: Help me\r\n\r\nHelp with the secret plan\r\n.\r\n",
            ),
        ],
    );
    assert_eq!(kept[3], "DATA\r\n");
    assert_absent(&kept, &["Help", "secret", "Subject"]);
}

#[test]
fn starttls_records_are_kept_and_unknown_flows_are_overwritten() {
    let hello = [0x16, 0x03, 0x01, 0x00, 0x05, 1, 0, 0, 1, 0];
    let mut r = Redactor::new();
    let syn = tcp_frame(true, 143, flags::SYN, b"");
    r.redact(&frame(&syn), 4096);
    let data = tcp_frame(true, 143, flags::ACK, b"a1 STARTTLS\r\n");
    assert_eq!(r.redact(&frame(&data), 4096).unwrap(), data);
    let data = tcp_frame(true, 143, flags::ACK, &hello);
    assert_eq!(r.redact(&frame(&data), 4096).unwrap(), data);

    // A flow whose SYN was not seen (the daemon started mid-session): nothing kept.
    let mut fresh = Redactor::new();
    let data = tcp_frame(true, 143, flags::ACK, b"a1 LOGIN alice s3cret\r\n");
    let kept = fresh.redact(&frame(&data), 4096).unwrap();
    assert!(kept[54..].iter().all(|&b| b == MARK));
    // Implicit TLS is kept as is; the cut to `keep` bytes applies to everything.
    let data = tcp_frame(false, 993, flags::ACK, &hello);
    assert_eq!(fresh.redact(&frame(&data), 4096).unwrap(), data);
    assert_eq!(fresh.redact(&frame(&data), 60).unwrap(), data[..60]);
}

#[test]
fn a_second_syn_does_not_reopen_a_sealed_flow() {
    let mut r = Redactor::new();
    let exchange: [(bool, &[u8]); 3] = [
        (true, b"a1 LOGIN alice s3cret\r\n"),
        (false, b"a1 OK Logged in\r\n"),
        (true, b"a2 SELECT INBOX\r\n"),
    ];
    r.redact(&frame(&tcp_frame(true, 143, flags::SYN, b"")), 4096);
    for (from_client, text) in exchange {
        r.redact(&frame(&tcp_frame(from_client, 143, flags::ACK, text)), 4096);
    }
    // A forged SYN with the same addresses and ports, then mail from the server.
    r.redact(&frame(&tcp_frame(true, 143, flags::SYN, b"")), 4096);
    let data = tcp_frame(
        false,
        143,
        flags::ACK,
        b"* 1 FETCH (BODY[] {9}\r\nsecret!\r\n)\r\n",
    );
    let kept = r.redact(&frame(&data), 4096).unwrap();
    assert!(
        kept[54..].iter().all(|&b| b == MARK),
        "{:?}",
        String::from_utf8_lossy(&kept)
    );
}

#[test]
fn other_protocols_are_not_kept_and_non_dns_udp_keeps_headers_only() {
    let mut r = Redactor::new();
    // ICMP (protocol 1): an error could quote a client's segment.
    let mut icmp = tcp_frame(true, 143, flags::ACK, b"a1 LOGIN alice s3cret\r\n");
    icmp[23] = 1;
    assert_eq!(r.redact(&frame(&icmp), 4096), None);
    // UDP to port 9 (not DNS): the payload is overwritten.
    let mut udp = tcp_frame(true, 143, flags::ACK, b"");
    udp.truncate(34);
    udp[23] = 17;
    let total = (20 + 8 + 6) as u16;
    udp[16..18].copy_from_slice(&total.to_be_bytes());
    udp.extend_from_slice(&[0xc3, 0x50, 0, 9, 0, 14, 0, 0]);
    udp.extend_from_slice(b"s3cret");
    let kept = r.redact(&frame(&udp), 4096).unwrap();
    assert_eq!(&kept[42..], b"xxxxxx");
}

#[test]
fn the_flow_table_is_bounded_and_undecodable_frames_are_not_kept() {
    let mut r = Redactor::new();
    for i in 0..(MAX_FLOWS as u32 * 3) {
        let mut syn = tcp_frame(true, 143, flags::SYN, b"");
        syn[26..30].copy_from_slice(&i.to_be_bytes()); // a new client address each time
        r.redact(&frame(&syn), 4096);
        assert!(r.flows() <= MAX_FLOWS);
        assert!(r.order.len() <= 2 * MAX_FLOWS);
    }
    assert_eq!(r.redact(&frame(&[0xab; 100]), 4096), None);
}

proptest::proptest! {
    #[test]
    fn arbitrary_payloads_never_panic_and_keep_their_length(
        payloads in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..200), 1..8),
        port in proptest::sample::select(vec![25u16, 110, 143, 587, 993, 53]),
    ) {
        let mut r = Redactor::new();
        r.redact(&frame(&tcp_frame(true, port, flags::SYN, b"")), 4096);
        for (i, p) in payloads.iter().enumerate() {
            let data = tcp_frame(i % 2 == 0, port, flags::ACK, p);
            let kept = r.redact(&frame(&data), 4096).unwrap();
            proptest::prop_assert_eq!(kept.len(), data.len());
        }
    }
}
