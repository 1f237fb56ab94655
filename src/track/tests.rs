//! Tracker mechanics with packets built for the test (IPv4 raw frames).

use std::net::Ipv4Addr;

use super::*;
use crate::observe::record::{AuthOutcome, DnsLookup};

const CLIENT: [u8; 4] = [192, 168, 1, 10];
const SERVER: [u8; 4] = [192, 0, 2, 25];

fn t(ms: i64) -> Timestamp {
    Timestamp::from_unix_nanos(1_700_000_000_000_000_000 + ms * 1_000_000)
}

/// An IPv4 packet carrying `l4` (checksums are not checked by the tracker).
fn ipv4(src: [u8; 4], dst: [u8; 4], protocol: u8, l4: &[u8]) -> Vec<u8> {
    let total = (20 + l4.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(l4);
    p
}

fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&seq.to_be_bytes());
    h.extend_from_slice(&ack.to_be_bytes());
    h.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    h.extend_from_slice(data);
    h
}

fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(data);
    h
}

const SYN: u8 = flags::SYN;
const ACK: u8 = flags::ACK;
const PSH_ACK: u8 = flags::PSH | flags::ACK;
const FIN_ACK: u8 = flags::FIN | flags::ACK;

/// Feeds packets to a tracker; the test keeps the sequence numbers.
struct Wire {
    tracker: Tracker,
    out: Vec<Observation>,
}

impl Wire {
    fn new(max_sessions: usize) -> Self {
        Self {
            tracker: Tracker::new(TrackerConfig {
                max_sessions,
                ..TrackerConfig::default()
            }),
            out: Vec::new(),
        }
    }

    fn send(&mut self, at: i64, src: [u8; 4], dst: [u8; 4], l4: Vec<u8>, protocol: u8) {
        let data = ipv4(src, dst, protocol, &l4);
        let frame = Frame {
            time: t(at),
            link_type: wire::LinkType::RAW,
            data: &data,
            original_len: data.len() as u32,
        };
        self.tracker.on_frame(&frame, &mut self.out);
    }

    #[allow(clippy::too_many_arguments)]
    fn c2s(&mut self, at: i64, sport: u16, dport: u16, seq: u32, ack: u32, f: u8, data: &[u8]) {
        self.send(at, CLIENT, SERVER, tcp(sport, dport, seq, ack, f, data), 6);
    }

    #[allow(clippy::too_many_arguments)]
    fn s2c(&mut self, at: i64, sport: u16, dport: u16, seq: u32, ack: u32, f: u8, data: &[u8]) {
        self.send(at, SERVER, CLIENT, tcp(sport, dport, seq, ack, f, data), 6);
    }

    /// SYN, SYN-ACK, ACK between client port 40000 and `port`, client ISN `c`, server ISN `s`.
    fn handshake(&mut self, port: u16, c: u32, s: u32) {
        self.c2s(0, 40000, port, c, 0, SYN, b"");
        self.s2c(1, port, 40000, s, c + 1, SYN | ACK, b"");
        self.c2s(2, 40000, port, c + 1, s + 1, ACK, b"");
    }

    fn ended(&self) -> Vec<&SessionRecord> {
        self.out
            .iter()
            .filter_map(|o| match &o.kind {
                ObservationKind::SessionEnded(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// A connection to port 993 (client ISN 100, server ISN 900), then 10 bytes of client
    /// data at 10 ms, not yet answered: the client's and the server's ISNs.
    fn connected_then_request(&mut self) -> (u32, u32) {
        let (c, s) = (100u32, 900u32);
        self.c2s(0, 40000, 993, c, 0, SYN, b"");
        self.s2c(5, 993, 40000, s, c + 1, SYN | ACK, b"");
        self.c2s(6, 40000, 993, c + 1, s + 1, ACK, b"");
        self.c2s(10, 40000, 993, c + 1, s + 1, PSH_ACK, b"0123456789");
        (c, s)
    }

    fn updates(&self) -> Vec<&SessionRecord> {
        self.out
            .iter()
            .filter_map(|o| match &o.kind {
                ObservationKind::SessionUpdate(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn lookups(&self) -> Vec<&DnsLookup> {
        self.out
            .iter()
            .filter_map(|o| match &o.kind {
                ObservationKind::DnsLookup(l) => Some(l),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn reordered_and_duplicated_segments_still_give_the_login_reply() {
    let mut w = Wire::new(16);
    let (c, s) = (1000u32, 5000u32);
    w.c2s(0, 40000, 143, c, 0, SYN, b"");
    w.s2c(12, 143, 40000, s, c + 1, SYN | ACK, b"");
    w.c2s(13, 40000, 143, c + 1, s + 1, ACK, b"");
    // The greeting arrives in two segments, second first.
    let greeting = b"* OK ready\r\n";
    w.s2c(30, 143, 40000, s + 1 + 5, c + 1, PSH_ACK, &greeting[5..]);
    w.s2c(31, 143, 40000, s + 1, c + 1, PSH_ACK, &greeting[..5]);
    let login = b"a1 LOGIN alice wrong\r\n";
    w.c2s(40, 40000, 143, c + 1, s + 13, PSH_ACK, login);
    let reply = b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n";
    let s2 = s + 13;
    w.s2c(
        1540,
        143,
        40000,
        s2,
        c + 1 + login.len() as u32,
        PSH_ACK,
        reply,
    );
    // The same reply again: a retransmission.
    w.s2c(
        1800,
        143,
        40000,
        s2,
        c + 1 + login.len() as u32,
        PSH_ACK,
        reply,
    );
    let c2 = c + 1 + login.len() as u32;
    let s3 = s2 + reply.len() as u32;
    w.c2s(1810, 40000, 143, c2, s3, FIN_ACK, b"");
    w.s2c(1811, 143, 40000, s3, c2 + 1, FIN_ACK, b"");
    w.c2s(1812, 40000, 143, c2 + 1, s3 + 1, ACK, b"");
    w.tracker.poll(t(2200), &mut w.out);
    assert!(w.ended().is_empty(), "waits for stragglers");
    // A RST after both FINs (a client dropping unread data) still belongs to the session.
    w.c2s(2600, 40000, 143, c2 + 1, 0, flags::RST, b"");
    w.tracker.poll(t(3700), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    let r = ended[0];
    assert_eq!(r.auth, AuthOutcome::Failed);
    assert_eq!(
        r.auth_reply.as_deref(),
        Some("a1 NO [AUTHENTICATIONFAILED] Authentication failed.")
    );
    assert_eq!(r.tcp_connect, Some(Duration::from_millis(12)));
    assert_eq!(r.greeting, Some(Duration::from_millis(17)));
    assert_eq!(
        r.slowest_reply,
        Some((Duration::from_millis(1500), t(1540)))
    );
    assert_eq!(r.retransmits_from_server, 1);
    assert_eq!(r.retransmits_from_client, 0);
    assert_eq!(
        r.bytes_from_server,
        (greeting.len() + 2 * reply.len()) as u64
    );
    assert_eq!(r.packets_from_client, 6);
    assert_eq!(r.close, Close::Fin);
    assert_eq!(r.closed_by, Some(Side::Client));
    assert_eq!(r.unanswered_since, None);
}

/// LIVE-FINDINGS F5: a login reply that arrives after the client closed answered nobody; the
/// client's close time is what shows how long it waited.
#[test]
fn a_reply_after_the_clients_close_is_not_a_reply() {
    let mut w = Wire::new(16);
    let (c, s) = (1000u32, 5000u32);
    w.c2s(0, 40000, 143, c, 0, SYN, b"");
    w.s2c(10, 143, 40000, s, c + 1, SYN | ACK, b"");
    w.c2s(11, 40000, 143, c + 1, s + 1, ACK, b"");
    let greeting = b"* OK ready\r\n";
    w.s2c(20, 143, 40000, s + 1, c + 1, PSH_ACK, greeting);
    let login = b"a1 LOGIN alice slow\r\n";
    let s1 = s + 1 + greeting.len() as u32;
    w.c2s(30, 40000, 143, c + 1, s1, PSH_ACK, login);
    let c1 = c + 1 + login.len() as u32;
    w.s2c(31, 143, 40000, s1, c1, ACK, b"");
    // The client gives up at 7 s; the server's answer comes at 8 s, then its FIN.
    w.c2s(7030, 40000, 143, c1, s1, FIN_ACK, b"");
    w.s2c(7031, 143, 40000, s1, c1 + 1, ACK, b"");
    let reply = b"a1 OK logged in\r\n";
    w.s2c(8030, 143, 40000, s1, c1 + 1, PSH_ACK, reply);
    w.s2c(
        8031,
        143,
        40000,
        s1 + reply.len() as u32,
        c1 + 1,
        FIN_ACK,
        b"",
    );
    w.tracker.poll(t(20_000), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    let r = ended[0];
    assert_eq!(r.client_closed_at, Some(t(7030)));
    assert_eq!(r.closed_by, Some(Side::Client));
    assert_eq!(
        r.slowest_reply, None,
        "the only answer came after the client's FIN"
    );
    assert_eq!(r.greeting, Some(Duration::from_millis(9)));
    assert_eq!(
        r.server_data_missing, None,
        "the client had everything the server sent before it closed"
    );
}

/// Seen in the lab (dovecot refusing a login, curl closing): the client's FIN crosses the
/// server's last record, which acknowledges the client's data but not the FIN; the client
/// answers it with a reset. The server was alive and reachable: nothing waited unanswered.
#[test]
fn a_fin_crossed_by_the_servers_last_record_is_not_unanswered() {
    let mut w = Wire::new(16);
    let (c, s) = (1000u32, 5000u32);
    w.handshake(993, c, s);
    w.c2s(3, 40000, 993, c + 1, s + 1, PSH_ACK, &[0x16; 20]);
    w.s2c(4, 993, 40000, s + 1, c + 21, PSH_ACK, &[0x16; 30]);
    w.c2s(6000, 40000, 993, c + 21, s + 31, PSH_ACK, &[0x17; 24]);
    w.s2c(6001, 993, 40000, s + 31, c + 45, ACK, b"");
    w.c2s(6002, 40000, 993, c + 45, s + 31, FIN_ACK, b"");
    // Sent before the FIN arrived: acknowledges c + 45, not the FIN at c + 45.
    w.s2c(6003, 993, 40000, s + 31, c + 45, PSH_ACK, &[0x17; 24]);
    w.c2s(6004, 40000, 993, c + 46, 0, flags::RST, b"");
    w.tracker.poll(t(20_000), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].unanswered_since, None);
    assert_eq!(ended[0].client_closed_at, Some(t(6002)));
}

/// A FIN that nothing from the server follows still waits (the sign of a firewall that
/// forgot the session, LIVE-FINDINGS F7); only a segment crossing it ends the wait.
#[test]
fn a_fin_nothing_answers_stays_unanswered() {
    let mut w = Wire::new(16);
    let (c, s) = (1000u32, 5000u32);
    w.handshake(993, c, s);
    w.c2s(3, 40000, 993, c + 1, s + 1, PSH_ACK, &[0x16; 20]);
    w.s2c(4, 993, 40000, s + 1, c + 21, PSH_ACK, &[0x16; 30]);
    w.c2s(60_000, 40000, 993, c + 21, s + 31, FIN_ACK, b"");
    w.c2s(60_400, 40000, 993, c + 21, s + 31, FIN_ACK, b"");
    w.tracker.poll(t(62_000), &mut w.out);
    let updates = w.updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].unanswered_since, Some(t(60_000)));
}

/// A server segment lost on the way and never resent: the client's ACK stays below what the
/// server sent, which the record keeps as the transfer not arriving (the WAN address change).
#[test]
fn server_data_the_client_never_got_is_recorded_as_missing() {
    let mut w = Wire::new(16);
    let (c, s) = (1000u32, 5000u32);
    w.c2s(0, 40000, 143, c, 0, SYN, b"");
    w.s2c(10, 143, 40000, s, c + 1, SYN | ACK, b"");
    w.c2s(11, 40000, 143, c + 1, s + 1, ACK, b"");
    let chunk = [b'x'; 100];
    w.s2c(20, 143, 40000, s + 1, c + 1, PSH_ACK, &chunk);
    w.c2s(21, 40000, 143, c + 1, s + 101, ACK, b"");
    // s + 101 .. s + 201 is lost; the next two arrive and the client repeats its ACK.
    w.s2c(30, 143, 40000, s + 201, c + 1, PSH_ACK, &chunk);
    w.c2s(31, 40000, 143, c + 1, s + 101, ACK, b"");
    w.s2c(40, 143, 40000, s + 301, c + 1, PSH_ACK, &chunk);
    w.c2s(41, 40000, 143, c + 1, s + 101, ACK, b"");
    // Eight seconds later the server (behind a NAT that forgot the session) resets.
    w.s2c(8040, 143, 40000, s + 101, 0, flags::RST, b"");
    w.tracker.poll(t(20_000), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].server_data_missing, Some(t(40)));
}

#[test]
fn the_oldest_session_is_evicted_when_the_table_is_full() {
    let mut w = Wire::new(2);
    for (i, port) in [40001u16, 40002, 40003].into_iter().enumerate() {
        let ms = i as i64 * 10;
        w.c2s(ms, port, 993, 7, 0, SYN, b"");
        w.s2c(ms + 1, 993, port, 100, 8, SYN | ACK, b"");
    }
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].client.port(), 40001);
    assert_eq!(ended[0].close, Close::Open);
    let stats = w.tracker.stats();
    assert_eq!(stats.sessions_evicted, 1);
    assert_eq!(stats.sessions_open, 2);
    assert_eq!(stats.sessions_total, 3);
}

/// Regression (tests/robust flood): 200 000 spoofed SYNs made one event each as they were
/// evicted, which pushed a real session's verdict out of the history and rotated the whole
/// journal away within seconds. Unanswered attempts evicted for room are only counted.
#[test]
fn unanswered_attempts_evicted_by_a_syn_flood_are_counted_not_reported() {
    let mut w = Wire::new(2);
    for port in 1000u16..1100 {
        w.c2s(i64::from(port), port, 993, 7, 0, SYN, b"");
    }
    assert!(w.ended().is_empty());
    let stats = w.tracker.stats();
    assert_eq!(stats.sessions_evicted, 98);
    assert_eq!(stats.sessions_open, 2);
}

/// Regression (tests/robust flood): a real IMAP session made during a SYN flood was evicted
/// again and again and came out as six verdicts (`unknown`, `ok`…). Unanswered attempts go
/// first, so an answered session keeps its place and ends as one normal session.
#[test]
fn a_syn_flood_evicts_its_own_attempts_before_a_real_session() {
    let mut w = Wire::new(4);
    w.c2s(0, 40000, 143, 7, 0, SYN, b"");
    w.s2c(1, 143, 40000, 100, 8, SYN | ACK, b"");
    w.c2s(2, 40000, 143, 8, 101, ACK, b"");
    for port in 1000u16..1500 {
        w.c2s(10 + i64::from(port), port, 993, 7, 0, SYN, b"");
    }
    assert!(w.ended().is_empty(), "the real session is not evicted");
    w.c2s(2000, 40000, 143, 8, 101, FIN_ACK, b"");
    w.s2c(2001, 143, 40000, 101, 9, FIN_ACK, b"");
    w.c2s(2002, 40000, 143, 9, 102, ACK, b"");
    w.tracker.poll(t(4000), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].client.port(), 40000);
    assert_eq!(ended[0].close, Close::Fin);
    // Four slots: the real session and three attempts; each later attempt evicts one.
    assert_eq!(w.tracker.stats().sessions_evicted, 497);
}

#[test]
fn unanswered_syns_stall_then_time_out() {
    let mut w = Wire::new(16);
    w.c2s(0, 40000, 993, 1, 0, SYN, b"");
    w.c2s(1000, 40000, 993, 1, 0, SYN, b"");
    w.tracker.poll(t(1600), &mut w.out);
    let updates = w.updates();
    assert_eq!(updates.len(), 1, "one stall snapshot");
    assert_eq!(updates[0].unanswered_since, Some(t(0)));
    assert_eq!(updates[0].close, Close::Open);
    w.c2s(3000, 40000, 993, 1, 0, SYN, b"");
    w.tracker.poll(t(5000), &mut w.out);
    assert_eq!(w.updates().len(), 1, "not repeated");
    assert!(w.ended().is_empty());
    w.tracker.poll(t(3000 + 10_000), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].syns_from_client, 3);
    assert_eq!(ended[0].close, Close::Timeout);
    assert_eq!(ended[0].tcp_connect, None);
    assert_eq!(ended[0].unanswered_since, Some(t(0)));
    assert_eq!(w.tracker.stats().sessions_open, 0);
}

/// A server's reset right after the client's data says nothing of the path; after the data had
/// gone unanswered for a stall's length (retransmitted into a dead WAN), the reset that comes when
/// the path returns leaves the stall on the record.
#[test]
fn a_reset_after_a_long_silence_keeps_the_stall() {
    for (reset_at, kept) in [(100i64, None), (10_000, Some(t(10)))] {
        let mut w = Wire::new(16);
        let (_, s) = w.connected_then_request();
        w.s2c(reset_at, 993, 40000, s + 1, 0, flags::RST, b"");
        w.tracker.poll(t(reset_at + 1000), &mut w.out);
        let ended = w.ended();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].unanswered_since, kept, "reset at {reset_at} ms");
    }
}

/// Unanswered data is looked at again each time the wait doubles (the world around it may have
/// changed: the WAN went down), five times at most; an ACK starts the count afresh.
#[test]
fn a_data_stall_is_snapshot_again_as_the_wait_doubles() {
    let mut w = Wire::new(16);
    let (c, s) = w.connected_then_request();
    let mut snapshots_at = Vec::new();
    for ms in (100..=40_000).step_by(100) {
        let before = w.updates().len();
        w.tracker.poll(t(ms), &mut w.out);
        if w.updates().len() > before {
            snapshots_at.push(ms);
        }
    }
    assert_eq!(snapshots_at, [1600, 3100, 6100, 12_100, 24_100]);
    // Answered, then a new wait: snapshots again from 1.5 s.
    w.s2c(40_010, 993, 40000, s + 1, c + 11, PSH_ACK, b"abc");
    w.c2s(40_020, 40000, 993, c + 11, s + 4, PSH_ACK, b"more");
    w.tracker.poll(t(41_000), &mut w.out);
    assert_eq!(w.updates().len(), 5, "not stalled yet");
    w.tracker.poll(t(41_600), &mut w.out);
    assert_eq!(w.updates().len(), 6);
}

#[test]
fn data_after_a_long_idle_that_gets_no_answer_shows_the_idle_time() {
    let mut w = Wire::new(16);
    let (c, s) = w.connected_then_request();
    w.s2c(20, 993, 40000, s + 1, c + 11, PSH_ACK, b"abc");
    // Ten minutes of silence (a firewall forgets the state), then client data, unanswered.
    let later = 20 + 600_000;
    w.c2s(later, 40000, 993, c + 11, s + 4, PSH_ACK, b"more");
    w.c2s(later + 400, 40000, 993, c + 11, s + 4, PSH_ACK, b"more");
    w.tracker.poll(t(later + 1000), &mut w.out);
    assert!(w.updates().is_empty(), "not stalled yet");
    w.tracker.poll(t(later + 2000), &mut w.out);
    let updates = w.updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].unanswered_since, Some(t(later)));
    assert_eq!(
        updates[0].idle_before_unanswered,
        Some(Duration::from_secs(600))
    );
    assert_eq!(updates[0].retransmits_from_client, 1);
    w.tracker.poll(t(later + 61_000), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].close, Close::Timeout);
}

/// A DNS message: one question, and A answers when given.
fn dns_message(id: u16, response: bool, rcode: u8, name: &str, answers: &[[u8; 4]]) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    let flags: u16 = if response {
        0x8180 | u16::from(rcode)
    } else {
        0x0100
    };
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    for a in answers {
        m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
        m.extend_from_slice(a);
    }
    m
}

#[test]
fn dns_answers_name_sessions_and_unanswered_queries_time_out() {
    let mut w = Wire::new(16);
    let resolver = [192, 168, 1, 1];
    w.send(
        0,
        CLIENT,
        resolver,
        udp(5353, 53, &dns_message(7, false, 0, "Mail.Example.COM", &[])),
        17,
    );
    w.send(
        30,
        resolver,
        CLIENT,
        udp(
            53,
            5353,
            &dns_message(7, true, 0, "mail.example.com", &[SERVER]),
        ),
        17,
    );
    let lookups = w.lookups();
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].name, "mail.example.com");
    assert_eq!(lookups[0].latency, Some(Duration::from_millis(30)));
    assert_eq!(lookups[0].answers, vec![IpAddr::V4(Ipv4Addr::from(SERVER))]);
    assert_eq!(
        lookups[0].rcode,
        Some(crate::observe::record::Rcode::NOERROR)
    );
    // A plaintext session to the answer gets its name from DNS.
    w.c2s(100, 40000, 110, 1, 0, SYN, b"");
    w.tracker.finish(t(200), &mut w.out);
    assert_eq!(
        w.ended()[0].server_name.as_deref(),
        Some("mail.example.com")
    );

    let mut w = Wire::new(16);
    w.send(
        0,
        CLIENT,
        resolver,
        udp(5353, 53, &dns_message(8, false, 0, "slow.example", &[])),
        17,
    );
    w.send(
        5000,
        CLIENT,
        resolver,
        udp(5354, 53, &dns_message(9, false, 0, "slow.example", &[])),
        17,
    );
    w.tracker.poll(t(9000), &mut w.out);
    assert!(w.lookups().is_empty());
    w.tracker.poll(t(15_000), &mut w.out);
    let lookups = w.lookups();
    assert_eq!(lookups.len(), 1);
    assert!(lookups[0].timed_out);
    assert_eq!(lookups[0].retries, 1);
    assert_eq!(lookups[0].start, t(0));
}

/// A minimal ClientHello record with SNI and supported_versions (layout per RFC 8446 §4.1.2).
fn client_hello(sni: &str) -> Vec<u8> {
    let mut ext = Vec::new();
    let name = sni.as_bytes();
    ext.extend_from_slice(&[0, 0]);
    ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    ext.extend_from_slice(&[0, 43, 0, 5, 4, 0x03, 0x04, 0x03, 0x03]);
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x11; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut record = vec![22, 3, 1];
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

#[test]
fn accepted_starttls_switches_to_tls_and_reads_a_split_client_hello() {
    let mut w = Wire::new(16);
    let (c, s) = (10u32, 20u32);
    w.c2s(0, 40000, 143, c, 0, SYN, b"");
    w.s2c(1, 143, 40000, s, c + 1, SYN | ACK, b"");
    let greeting = b"* OK IMAP ready\r\n";
    w.s2c(2, 143, 40000, s + 1, c + 1, PSH_ACK, greeting);
    let cmd = b"x STARTTLS\r\n";
    w.c2s(3, 40000, 143, c + 1, s + 18, PSH_ACK, cmd);
    let ok = b"x OK Begin TLS negotiation now.\r\n";
    w.s2c(4, 143, 40000, s + 18, c + 13, PSH_ACK, ok);
    let hello = client_hello("IMAP.Example.com");
    // The ClientHello crosses a segment boundary inside its handshake header.
    let (a, b) = hello.split_at(7);
    let c1 = c + 13;
    w.c2s(5, 40000, 143, c1, s + 51, PSH_ACK, a);
    w.c2s(6, 40000, 143, c1 + a.len() as u32, s + 51, PSH_ACK, b);
    w.tracker.finish(t(10), &mut w.out);
    let r = w.ended()[0];
    assert_eq!(r.tls, TlsMode::Starttls);
    assert_eq!(r.server_name.as_deref(), Some("imap.example.com"));
    assert_eq!(
        r.tls_client_max,
        Some(crate::observe::record::TlsVersion::TLS1_3)
    );
    assert_eq!(r.close, Close::Open);
}

#[test]
fn non_mail_traffic_and_garbage_are_ignored() {
    let mut w = Wire::new(16);
    w.c2s(0, 40000, 443, 1, 0, SYN, b"");
    w.send(1, CLIENT, SERVER, vec![0xff; 3], 6);
    let frame = Frame {
        time: t(2),
        link_type: wire::LinkType::RAW,
        data: &[0x45, 0x00],
        original_len: 2,
    };
    w.tracker.on_frame(&frame, &mut w.out);
    w.tracker.finish(t(3), &mut w.out);
    assert!(w.out.is_empty());
    let stats = w.tracker.stats();
    assert_eq!(stats.packets, 3);
    assert_eq!(stats.undecodable, 2);
    assert_eq!(stats.sessions_total, 0);
}

/// ARP (and any other ethertype that carries no IP) is counted apart from damage.
#[test]
fn frames_without_ip_are_not_counted_as_undecodable() {
    let mut w = Wire::new(16);
    let mut arp = vec![0xff; 12];
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    let frame = Frame {
        time: t(1),
        link_type: wire::LinkType::ETHERNET,
        data: &arp,
        original_len: arp.len() as u32,
    };
    w.tracker.on_frame(&frame, &mut w.out);
    let stats = w.tracker.stats();
    assert_eq!((stats.not_ip, stats.undecodable), (1, 0));
}

/// `poll` passes a session by until its earliest timer (`poll_due`), and still ends it at
/// exactly the threshold of the state it is in, polled often or rarely.
#[test]
fn quiet_sessions_end_at_their_thresholds_however_often_polled() {
    let mut w = Wire::new(16);
    let (c, s) = (100u32, 900u32);
    for port in [40000, 40001] {
        w.c2s(0, port, 993, c, 0, SYN, b"");
        w.s2c(5, 993, port, s, c + 1, SYN | ACK, b"");
        w.c2s(6, port, 993, c + 1, s + 1, ACK, b"");
        w.c2s(10, port, 993, c + 1, s + 1, PSH_ACK, b"0123456789");
        w.s2c(20, 993, port, s + 1, c + 11, PSH_ACK, b"abc");
    }
    // The first session's server closes its side: half closed from 30 ms on.
    w.s2c(30, 993, 40000, s + 4, c + 11, FIN_ACK, b"");
    for ms in (1_000..30_030).step_by(1_000).chain([30_029]) {
        w.tracker.poll(t(ms), &mut w.out);
    }
    assert!(w.ended().is_empty(), "half closed for less than 30 s");
    w.tracker.poll(t(30_030), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(
        (ended[0].client.port(), ended[0].close),
        (40000, Close::Fin)
    );
    let idle_end = 20 + 2 * 3600 * 1000;
    w.tracker.poll(t(idle_end - 1), &mut w.out);
    assert_eq!(w.ended().len(), 1, "quiet for less than two hours");
    w.tracker.poll(t(idle_end), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 2);
    assert_eq!(
        (ended[1].client.port(), ended[1].close),
        (40001, Close::Timeout)
    );
}

/// The three-way handshake of `client`:`port` with SERVER:993 (client ISN 1000, server 5000).
fn open_from(w: &mut Wire, ms: i64, client: [u8; 4], port: u16) {
    w.send(ms, client, SERVER, tcp(port, 993, 1000, 0, SYN, b""), 6);
    w.send(
        ms,
        SERVER,
        client,
        tcp(993, port, 5000, 1001, SYN | ACK, b""),
        6,
    );
    w.send(ms, client, SERVER, tcp(port, 993, 1001, 5001, ACK, b""), 6);
}

/// Regression (docs/threat-model.md, buffers): a LAN host fabricating TLS sessions whose
/// hellos never complete, with out-of-order data after a gap both ways, made every session
/// hold about 64 KiB until it timed out. The tracker's budget caps the sum, refusals are
/// counted, and everything comes back when the sessions go.
#[test]
fn fabricated_half_open_hellos_stay_within_the_buffer_budget() {
    const BUDGET: usize = 256 << 10;
    let mut w = Wire {
        tracker: Tracker::new(TrackerConfig {
            buffer_budget: BUDGET,
            ..TrackerConfig::default()
        }),
        out: Vec::new(),
    };
    // A handshake record announcing 16 000 bytes, of which 8 000 arrive: the hello waits.
    let mut partial_hello = vec![22, 3, 1];
    partial_hello.extend_from_slice(&16_000u16.to_be_bytes());
    partial_hello.extend_from_slice(&[1, 0, 0x3e, 0x7b]);
    partial_hello.resize(8000, 0x41);
    let chunk = vec![0x42; 1800];
    for i in 0..64u8 {
        let client = [10, 9, 0, i];
        let port = 40_000 + u16::from(i);
        let ms = i64::from(i);
        open_from(&mut w, ms, client, port);
        w.send(
            ms,
            client,
            SERVER,
            tcp(port, 993, 1001, 5001, PSH_ACK, &partial_hello),
            6,
        );
        w.send(
            ms,
            SERVER,
            client,
            tcp(993, port, 5001, 1001, PSH_ACK, &partial_hello),
            6,
        );
        // Seven segments after a one-byte gap, each way.
        for k in 0..7u32 {
            let c = 1001 + 8001 + k * 1800;
            let s = 5001 + 8001 + k * 1800;
            w.send(
                ms,
                client,
                SERVER,
                tcp(port, 993, c, 5001, PSH_ACK, &chunk),
                6,
            );
            w.send(
                ms,
                SERVER,
                client,
                tcp(993, port, s, 1001, PSH_ACK, &chunk),
                6,
            );
        }
        let used = w.tracker.stats().buffer_bytes as usize;
        assert!(used <= BUDGET, "{used} bytes buffered after {i} sessions");
    }
    let stats = w.tracker.stats();
    assert_eq!(stats.sessions_open, 64);
    assert!(stats.buffer_refused > 0, "the flood wanted ~2.8 MB");
    assert!(
        stats.buffer_bytes as usize > BUDGET / 2,
        "the budget was used"
    );
    // A real session during the flood: its hello fits one segment and needs no buffer.
    let real = [192, 168, 1, 77];
    open_from(&mut w, 100, real, 50_000);
    let hello = client_hello("imap.example.net");
    w.send(
        100,
        real,
        SERVER,
        tcp(50_000, 993, 1001, 5001, PSH_ACK, &hello),
        6,
    );
    w.tracker.finish(t(200), &mut w.out);
    assert_eq!(w.tracker.stats().buffer_bytes, 0, "every charge came back");
    let named = w.ended().into_iter().find(|r| r.client.port() == 50_000);
    assert_eq!(
        named.and_then(|r| r.server_name.as_deref()),
        Some("imap.example.net")
    );
}

/// Regression (docs/threat-model.md, per-client cap): one LAN host opening thousands of
/// sessions filled the table and pushed every other client's sessions out, oldest first.
/// Now it pushes out only its own, and its fabricated ones (the server never spoke) are
/// counted, not reported.
#[test]
fn one_client_flooding_the_table_evicts_only_its_own_sessions() {
    let cap = TrackerConfig::default().max_sessions_per_client;
    let mut w = Wire::new(cap + 100);
    let neighbour = [192, 168, 1, 20];
    open_from(&mut w, 0, neighbour, 41_000);
    w.send(
        0,
        SERVER,
        neighbour,
        tcp(
            993,
            41_000,
            5001,
            1001,
            PSH_ACK,
            b"\x16\x03\x03\x00\x01\x02",
        ),
        6,
    );
    let flooder = [192, 168, 1, 66];
    for port in 0..(2 * cap as u16) {
        open_from(&mut w, 1 + i64::from(port), flooder, 10_000 + port);
    }
    let stats = w.tracker.stats();
    assert!(
        w.ended().iter().all(|r| r.client.port() != 41_000),
        "the neighbour's session was evicted"
    );
    assert_eq!(stats.sessions_open, cap as u64 + 1);
    assert_eq!(stats.client_cap_evicted, cap as u64);
    assert!(w.ended().is_empty(), "fabricated sessions are only counted");
}

/// Regression (docs/threat-model.md, learned names): names learned from DNS answers were
/// shared by all clients, so one LAN host's (forged) answer made another client's session to
/// the same address show as `outlook.office365.com`, with that provider's advice. A name now
/// names only the sessions of the client that looked it up.
#[test]
fn a_name_learned_by_one_client_does_not_name_anothers_session() {
    let mut w = Wire::new(16);
    let spoofer = [192, 168, 1, 66];
    let resolver = [192, 168, 1, 1];
    w.send(
        0,
        spoofer,
        resolver,
        udp(
            53000,
            53,
            &dns_message(7, false, 0, "outlook.office365.com", &[]),
        ),
        17,
    );
    w.send(
        1,
        resolver,
        spoofer,
        udp(
            53,
            53000,
            &dns_message(7, true, 0, "outlook.office365.com", &[SERVER]),
        ),
        17,
    );
    // CLIENT's own session to SERVER (plain IMAP: no SNI to name it), and the spoofer's.
    w.handshake(143, 100, 200);
    w.c2s(3, 40000, 143, 101, 201, FIN_ACK, b"");
    w.s2c(4, 143, 40000, 201, 102, FIN_ACK, b"");
    open_from(&mut w, 5, spoofer, 41000);
    w.tracker.finish(t(10_000), &mut w.out);
    let ended = w.ended();
    let own = ended.iter().find(|r| r.client.ip() == IpAddr::from(CLIENT));
    assert_eq!(own.map(|r| r.server_name.as_deref()), Some(None));
    let spoofers = ended
        .iter()
        .find(|r| r.client.ip() == IpAddr::from(spoofer));
    assert_eq!(
        spoofers.and_then(|r| r.server_name.as_deref()),
        Some("outlook.office365.com")
    );
}

/// Python's imaplib after a refused login (lab capture imaps-imaplib-wrong-password): the
/// server's last records acknowledge the LOGOUT, the client sends its FIN and resets the
/// connection a fraction of a millisecond later, before the server could acknowledge the FIN.
/// The client dropped the connection itself: nothing waits for an answer.
#[test]
fn a_client_reset_right_after_its_own_fin_leaves_nothing_unanswered() {
    let mut w = Wire::new(16);
    let (c, s) = (1000u32, 5000u32);
    w.handshake(993, c, s);
    w.c2s(3, 40000, 993, c + 1, s + 1, PSH_ACK, &[0x17; 36]);
    w.s2c(4, 993, 40000, s + 1, c + 37, PSH_ACK, &[0x17; 41]);
    w.c2s(5, 40000, 993, c + 37, s + 42, FIN_ACK, b"");
    w.c2s(5, 40000, 993, c + 38, 0, flags::RST, b"");
    w.tracker.poll(t(20_000), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].unanswered_since, None);
    assert_eq!(ended[0].closed_by, Some(Side::Client));
}

/// A reset long after an unanswered FIN is a client giving up on a silent path: still waiting.
#[test]
fn a_client_reset_long_after_an_unanswered_fin_still_waits() {
    let mut w = Wire::new(16);
    let (c, s) = (1000u32, 5000u32);
    w.handshake(993, c, s);
    w.c2s(3, 40000, 993, c + 1, s + 1, PSH_ACK, &[0x17; 36]);
    w.s2c(4, 993, 40000, s + 1, c + 37, PSH_ACK, &[0x17; 41]);
    w.c2s(5, 40000, 993, c + 37, s + 42, FIN_ACK, b"");
    w.c2s(3_000, 40000, 993, c + 38, 0, flags::RST, b"");
    w.tracker.poll(t(20_000), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].unanswered_since, Some(t(5)));
}

/// A request the client sends in pieces (a DATA body line by line, a command typed slowly):
/// the server's delay runs from the last piece, not the first.
#[test]
fn the_servers_delay_is_counted_from_the_end_of_the_request() {
    let mut w = Wire::new(16);
    let (c, s) = (1000u32, 5000u32);
    w.handshake(143, c, s);
    let greeting = b"* OK ready\r\n";
    w.s2c(3, 143, 40000, s + 1, c + 1, PSH_ACK, greeting);
    let s1 = s + 1 + greeting.len() as u32;
    w.c2s(10, 40000, 143, c + 1, s1, PSH_ACK, b"a1 NOOP");
    w.s2c(11, 143, 40000, s1, c + 8, ACK, b"");
    w.c2s(4_010, 40000, 143, c + 8, s1, PSH_ACK, b"\r\n");
    w.s2c(4_020, 143, 40000, s1, c + 10, PSH_ACK, b"a1 OK\r\n");
    w.c2s(4_030, 40000, 143, c + 10, s1 + 7, FIN_ACK, b"");
    w.s2c(4_031, 143, 40000, s1 + 7, c + 11, FIN_ACK, b"");
    w.tracker.poll(t(20_000), &mut w.out);
    let ended = w.ended();
    let last = ended.first().expect("a record");
    assert_eq!(
        last.slowest_reply.map(|(wait, _)| wait),
        Some(Duration::from_millis(10))
    );
}

/// A lone crafted segment (every flag set) or a reset from a mail port with nothing before it
/// starts no session: live, any spoofed reset would otherwise become a failed session.
#[test]
fn a_lone_crafted_segment_or_reset_starts_no_session() {
    let mut w = Wire::new(16);
    let every_flag = flags::FIN | flags::SYN | flags::RST | flags::PSH | flags::ACK | 0x20;
    w.c2s(0, 40000, 993, 1000, 1, every_flag, b"");
    w.s2c(1, 993, 40001, 5000, 7, flags::RST | ACK, b"");
    w.s2c(2, 993, 40002, 5000, 7, flags::RST, b"");
    w.c2s(3, 40003, 110, 1000, 1, SYN | flags::FIN, b"");
    w.tracker.poll(t(60_000), &mut w.out);
    w.tracker.finish(t(60_000), &mut w.out);
    assert!(
        w.ended().is_empty() && w.updates().is_empty(),
        "{:?}",
        w.out
    );
    assert_eq!(w.tracker.stats().sessions_total, 0);
}

/// A server that answers an implicit-TLS ClientHello with a plaintext greeting (a client set to
/// SSL/TLS on a port where the server speaks plaintext): the record says so, quoting it.
#[test]
fn a_plaintext_banner_on_an_implicit_tls_port_is_recorded() {
    let mut w = Wire::new(16);
    let (c, s) = (1000u32, 5000u32);
    w.handshake(993, c, s);
    let hello = client_hello("imap.example.org");
    w.c2s(3, 40000, 993, c + 1, s + 1, PSH_ACK, &hello);
    let banner = b"* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\r\n";
    let c1 = c + 1 + hello.len() as u32;
    w.s2c(4, 993, 40000, s + 1, c1, PSH_ACK, banner);
    w.c2s(5, 40000, 993, c1, 0, flags::RST, b"");
    w.tracker.poll(t(20_000), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(
        ended[0].tls_mismatch.as_deref(),
        Some("the server answered the TLS ClientHello in plaintext: * OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.")
    );
}

/// A FIN beside SYNs nobody answered leaves the session an attempt: it ends on the attempt's
/// limit ([`SYN_GIVE_UP`], not [`HALF_CLOSED_IDLE`]), reported closed by that FIN.
#[test]
fn a_fin_beside_unanswered_syns_keeps_the_attempts_limit() {
    let mut w = Wire::new(16);
    w.c2s(0, 40000, 993, 1, 0, SYN, b"");
    w.c2s(100, 40000, 993, 2, 0, flags::FIN, b"");
    w.tracker
        .poll(t(100 + SYN_GIVE_UP.as_millis() as i64 - 1), &mut w.out);
    assert!(w.ended().is_empty());
    w.tracker
        .poll(t(100 + SYN_GIVE_UP.as_millis() as i64), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].close, Close::Fin);
    assert_eq!(ended[0].closed_by, Some(Side::Client));
    assert_eq!(ended[0].tcp_connect, None);
}

/// The SYN-ACK that finally answers such an attempt makes it half-closed.
#[test]
fn a_syn_ack_after_the_clients_fin_makes_the_session_half_closed() {
    let mut w = Wire::new(16);
    w.c2s(0, 40000, 993, 1, 0, SYN, b"");
    w.c2s(100, 40000, 993, 2, 0, flags::FIN, b"");
    w.s2c(200, 993, 40000, 7, 2, SYN | ACK, b"");
    w.tracker
        .poll(t(200 + SYN_GIVE_UP.as_millis() as i64), &mut w.out);
    assert!(w.ended().is_empty(), "no longer an attempt");
    w.tracker.finish(t(1000), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].close, Close::Fin);
}

/// A reset closes the session whatever came before, and a new SYN on its addresses is a new
/// session; the reset one is reported first.
#[test]
fn a_reset_attempt_is_closed_and_its_ports_reused() {
    let mut w = Wire::new(16);
    w.c2s(0, 40000, 993, 1, 0, SYN, b"");
    w.s2c(10, 993, 40000, 0, 2, flags::RST | ACK, b"");
    w.c2s(100, 40000, 993, 50, 0, SYN, b"");
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].close, Close::Rst);
    assert_eq!(ended[0].closed_by, Some(Side::Server));
    assert_eq!(w.tracker.stats().sessions_open, 1);
}

/// A session picked up mid-stream that then shows a SYN nobody answers is an attempt again.
#[test]
fn a_picked_up_session_that_sends_a_syn_is_an_attempt_again() {
    let mut w = Wire::new(16);
    w.c2s(0, 40000, 993, 1, 0, PSH_ACK, &[0x17; 20]);
    w.c2s(100, 40000, 993, 500, 0, SYN, b"");
    w.tracker.finish(t(200), &mut w.out);
    let ended = w.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].close, Close::Timeout);
}
