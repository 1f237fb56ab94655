//! Text from the network never reaches the administrator's terminal raw (docs/threat-model.md,
//! "Hostile text"). Before, `replay` and `probe` printed DNS names, SNI and server replies as
//! received: an escape sequence set the terminal title, a carriage return or newline forged a
//! line, and a Unicode direction override reordered what followed.
//!
//! Two ways in, both through the real binary: a capture written here (a DNS failure for a
//! hostile name, a TLS ClientHello with a hostile SNI, a plaintext IMAP login refused with a
//! hostile reply) given to `mailpulse replay`, and a real TCP server sending a hostile POP3
//! greeting and capability list to `mailpulse probe`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;

const CLIENT: [u8; 4] = [192, 168, 1, 20];
const SERVER: [u8; 4] = [203, 0, 113, 5];
const RESOLVER: [u8; 4] = [192, 168, 1, 1];

/// Terminal title, bell, a carriage return that overwrites the line, C1 CSI, right-to-left
/// override and isolate. (A CR LF would end the line in the mail protocols themselves.)
const HOSTILE: &str = "\x1b]0;pwned\x07\rFAKE: line\u{9b}2J\u{202e}lmth.exe\u{2066}";

fn mailpulse(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mailpulse"))
        .args(args)
        .output()
        .expect("run mailpulse")
}

/// Fails when `text` holds a control or invisible/reordering character other than the line
/// ends of its own layout, or a line the network forged.
fn assert_clean(what: &str, text: &str) {
    for (i, line) in text.lines().enumerate() {
        for c in line.chars() {
            let bad = c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            assert!(!bad, "{what}: line {i} holds {c:?}: {line:?}\n{text}");
        }
        assert!(
            !line.trim_start().starts_with("FAKE:"),
            "{what}: a forged line: {line:?}"
        );
    }
}

// ---- a capture ------------------------------------------------------------------------------

fn ethernet_ipv4(src: [u8; 4], dst: [u8; 4], protocol: u8, transport: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
    let total = (20 + transport.len()) as u16;
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        protocol,
        0,
        0,
    ];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend(ip);
    f.extend_from_slice(transport);
    f
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One TCP connection, tracking both sides' sequence numbers.
struct Tcp {
    client_port: u16,
    server_port: u16,
    client_seq: u32,
    server_seq: u32,
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;

impl Tcp {
    fn segment(&mut self, from_client: bool, flags: u8, payload: &[u8]) -> Vec<u8> {
        let (src, dst, sport, dport, seq, ack) = if from_client {
            (
                CLIENT,
                SERVER,
                self.client_port,
                self.server_port,
                self.client_seq,
                self.server_seq,
            )
        } else {
            (
                SERVER,
                CLIENT,
                self.server_port,
                self.client_port,
                self.server_seq,
                self.client_seq,
            )
        };
        let mut t = Vec::new();
        t.extend_from_slice(&sport.to_be_bytes());
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&seq.to_be_bytes());
        t.extend_from_slice(&(if flags & ACK != 0 { ack } else { 0 }).to_be_bytes());
        t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        t.extend_from_slice(payload);
        let advance = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
        if from_client {
            self.client_seq = self.client_seq.wrapping_add(advance);
        } else {
            self.server_seq = self.server_seq.wrapping_add(advance);
        }
        ethernet_ipv4(src, dst, 6, &t)
    }

    fn handshake(&mut self) -> Vec<Vec<u8>> {
        vec![
            self.segment(true, SYN, b""),
            self.segment(false, SYN | ACK, b""),
            self.segment(true, ACK, b""),
        ]
    }
}

fn dns_name(labels: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in labels {
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
    out
}

fn dns(query: bool, name: &[u8]) -> Vec<u8> {
    let mut m = vec![0x12, 0x34];
    m.extend_from_slice(if query { &[0x01, 0x00] } else { &[0x81, 0x83] }); // NXDOMAIN
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(name);
    m.extend_from_slice(&[0, 1, 0, 1]);
    let (sport, dport): (u16, u16) = if query { (40000, 53) } else { (53, 40000) };
    let mut udp = Vec::new();
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&((8 + m.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend(m);
    if query {
        ethernet_ipv4(CLIENT, RESOLVER, 17, &udp)
    } else {
        ethernet_ipv4(RESOLVER, CLIENT, 17, &udp)
    }
}

fn client_hello(sni: &[u8]) -> Vec<u8> {
    let mut sni_ext = Vec::new();
    sni_ext.extend_from_slice(&((sni.len() + 3) as u16).to_be_bytes());
    sni_ext.push(0);
    sni_ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    sni_ext.extend_from_slice(sni);
    let mut exts = vec![0, 0];
    exts.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
    exts.extend(sni_ext);
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // TLS_AES_128_GCM_SHA256
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend(exts);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend(hs);
    record
}

fn write_capture(path: &std::path::Path) {
    let mut frames: Vec<Vec<u8>> = Vec::new();
    // A failed lookup of a mail host whose name carries the hostile bytes.
    // DNS labels may hold any byte, a newline too.
    let label = format!("{HOSTILE}\nfake: dns");
    let name = dns_name(&[b"imap", label.as_bytes(), b"example"]);
    frames.push(dns(true, &name));
    frames.push(dns(false, &name));
    // IMAPS with a hostile SNI; the server resets the connection.
    let mut tls = Tcp {
        client_port: 50001,
        server_port: 993,
        client_seq: 1000,
        server_seq: 9000,
    };
    frames.extend(tls.handshake());
    let sni = format!("imap.{HOSTILE}.example");
    frames.push(tls.segment(true, ACK | PSH, &client_hello(sni.as_bytes())));
    frames.push(tls.segment(false, 0x04 | ACK, b"")); // RST
                                                      // Plaintext IMAP: a hostile greeting, a login refused with a hostile reply.
    let mut imap = Tcp {
        client_port: 50002,
        server_port: 143,
        client_seq: 2000,
        server_seq: 7000,
    };
    frames.extend(imap.handshake());
    frames.push(imap.segment(
        false,
        ACK | PSH,
        format!("* OK {HOSTILE} ready\r\n").as_bytes(),
    ));
    frames.push(imap.segment(true, ACK | PSH, b"a1 LOGIN alice secret\r\n"));
    frames.push(imap.segment(
        false,
        ACK | PSH,
        format!("a1 NO [AUTHENTICATIONFAILED] {HOSTILE} failed.\r\n").as_bytes(),
    ));
    frames.push(imap.segment(true, ACK | PSH, b"a2 LOGOUT\r\n"));
    frames.push(imap.segment(false, ACK | PSH, b"* BYE\r\na2 OK\r\n"));
    frames.push(imap.segment(false, FIN | ACK, b""));
    frames.push(imap.segment(true, FIN | ACK, b""));
    frames.push(imap.segment(false, ACK, b""));

    let file = std::fs::File::create(path).unwrap();
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(file, header).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let at = Duration::from_millis(1_800_000_000_000 + 40 * i as u64);
        writer
            .write_packet(&PcapPacket::new(at, f.len() as u32, f))
            .unwrap();
    }
}

#[test]
fn replay_shows_hostile_names_and_replies_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("hostile.pcap");
    write_capture(&capture);
    let path = capture.to_str().unwrap();

    let out = mailpulse(&["replay", path]);
    let text = String::from_utf8(out.stdout).expect("replay prints UTF-8");
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean("replay", &text);
    // The hostile parts are there, escaped: the DNS name, the SNI, the refused login's reply.
    // DNS names are lower-cased; the SNI, too.
    assert!(text.contains("\\x1b]0;pwned\\x07\\x0dfake: line"), "{text}");
    assert!(
        text.contains("\\x0afake: dns"),
        "the newline in the DNS name: {text}"
    );
    assert!(
        text.contains("AUTHENTICATIONFAILED] \\x1b]0;pwned\\x07\\x0dFAKE: line"),
        "the reply, escaped: {text}"
    );
    assert!(
        text.contains("\\xe2\\x80\\xaelmth.exe\\xe2\\x81\\xa6"),
        "{text}"
    );
    assert!(
        text.contains("AUTHENTICATIONFAILED"),
        "the reply is quoted: {text}"
    );

    let out = mailpulse(&["replay", "--json", path]);
    let text = String::from_utf8(out.stdout).expect("replay --json prints UTF-8");
    assert!(out.status.success(), "{text}");
    for line in text.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        // Every string in the JSON, decoded, is clean too (the web UI shows them).
        let mut strings = Vec::new();
        collect_strings(&value, &mut strings);
        for s in strings {
            assert_clean("replay --json", &s);
        }
    }
    assert!(text.contains("pwned"), "{text}");
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

// ---- a probe --------------------------------------------------------------------------------

/// A POP3 server on 127.0.0.1 that greets and answers CAPA with hostile text; one client.
fn hostile_pop3() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            let _ = write!(writer, "+OK {HOSTILE} ready\r\n");
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let reply = match line.trim_end().to_ascii_uppercase().as_str() {
                    "CAPA" => format!("+OK\r\nUSER\r\nX-{HOSTILE}\r\n.\r\n"),
                    "QUIT" => "+OK bye\r\n".to_string(),
                    _ => "-ERR\r\n".to_string(),
                };
                let _ = writer.write_all(reply.as_bytes());
                line.clear();
            }
        }
    });
    port
}

#[test]
fn probe_shows_a_hostile_greeting_escaped() {
    let port = hostile_pop3();
    let url = format!("pop3://127.0.0.1:{port}");
    let out = mailpulse(&["probe", "--allow-any-target", &url]);
    let text = String::from_utf8(out.stdout).expect("probe prints UTF-8");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean("probe", &text);
    assert!(
        text.contains("greeting     +OK \\x1b]0;pwned\\x07\\x0d"),
        "the greeting is shown, escaped:\n{text}"
    );
    assert!(text.contains("\\xe2\\x80\\xaelmth.exe"), "{text}");

    let out = mailpulse(&["probe", "--allow-any-target", "--json", &url]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let mut strings = Vec::new();
    collect_strings(&value, &mut strings);
    for s in &strings {
        assert_clean("probe --json", s);
    }
    assert!(
        strings.iter().any(|s| s.contains("\\x1b]0;pwned")),
        "{value:#}"
    );
}
