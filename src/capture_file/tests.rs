//! Byte fixtures for the capture readers, built field by field as the formats lay them out.

use std::io::Write;

use super::*;
use crate::time::Timestamp;
use crate::wire::LinkType;

/// (time, link type, bytes, original length) of every frame read.
type Got = Vec<(Timestamp, LinkType, Vec<u8>, u32)>;

fn frames_of(bytes: &[u8]) -> (Got, Result<(), ReadError>) {
    let mut got = Vec::new();
    let result = read(bytes, &mut |f| {
        got.push((f.time, f.link_type, f.data.to_vec(), f.original_len))
    });
    (got, result)
}

fn frames(bytes: &[u8]) -> Got {
    let (got, result) = frames_of(bytes);
    result.unwrap();
    got
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A classic pcap file: header for `magic` (written in the byte order `be` says) and records.
fn pcap(magic: u32, be: bool, link: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut f = Vec::new();
    f.extend_from_slice(&w32(magic));
    f.extend_from_slice(&w16(2));
    f.extend_from_slice(&w16(4));
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&w32(65_535));
    f.extend_from_slice(&w32(link));
    for (sec, frac, data) in records {
        f.extend_from_slice(&w32(*sec));
        f.extend_from_slice(&w32(*frac));
        f.extend_from_slice(&w32(data.len() as u32));
        f.extend_from_slice(&w32(data.len() as u32 + 4));
        if magic == 0xa1b2_cd34 {
            f.extend_from_slice(&[0; 8]);
        }
        f.extend_from_slice(data);
    }
    f
}

#[test]
fn pcap_in_both_byte_orders_and_both_units() {
    let micro_le = pcap(0xa1b2_c3d4, false, 1, &[(1_700_000_000, 250_000, b"abc")]);
    let nano_be = pcap(0xa1b2_3c4d, true, 101, &[(1_700_000_000, 250_000, b"abc")]);
    let modified = pcap(0xa1b2_cd34, false, 113, &[(1_700_000_000, 1, b"abc")]);
    assert_eq!(
        frames(&micro_le),
        vec![(
            Timestamp::from_unix(1_700_000_000, 250_000_000),
            LinkType::ETHERNET,
            b"abc".to_vec(),
            7
        )]
    );
    assert_eq!(
        frames(&nano_be),
        vec![(
            Timestamp::from_unix(1_700_000_000, 250_000),
            LinkType::RAW,
            b"abc".to_vec(),
            7
        )]
    );
    assert_eq!(
        frames(&modified),
        vec![(
            Timestamp::from_unix(1_700_000_000, 1_000),
            LinkType::LINUX_SLL,
            b"abc".to_vec(),
            7
        )]
    );
}

#[test]
fn a_cut_pcap_record_stops_at_its_offset_after_the_whole_ones() {
    let mut bytes = pcap(
        0xa1b2_c3d4,
        false,
        1,
        &[(1, 0, b"first"), (2, 0, b"second")],
    );
    bytes.truncate(bytes.len() - 2);
    let (got, result) = frames_of(&bytes);
    assert_eq!(got.len(), 1);
    match result {
        Err(ReadError::Stopped { offset, .. }) => assert_eq!(offset, 24 + 16 + 5),
        other => panic!("expected Stopped, got {other:?}"),
    }
}

#[test]
fn a_huge_record_length_is_damage_not_an_allocation() {
    let mut bytes = pcap(0xa1b2_c3d4, false, 1, &[]);
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        frames_of(&bytes).1,
        Err(ReadError::Stopped { offset: 24, .. })
    ));
}

#[test]
fn text_and_short_files_are_not_captures() {
    for bytes in [&b"hello world\n"[..], b"ab", b"", &gzip(b"hello world\n")] {
        assert!(
            matches!(frames_of(bytes).1, Err(ReadError::NotACapture(_))),
            "{bytes:?}"
        );
    }
}

/// pcapng blocks in either byte order.
struct Ng {
    be: bool,
    out: Vec<u8>,
}

impl Ng {
    fn new(be: bool) -> Self {
        Ng {
            be,
            out: Vec::new(),
        }
    }
    fn u16(&self, v: u16) -> [u8; 2] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u32(&self, v: u32) -> [u8; 4] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn block(&mut self, kind: u32, body: &[u8]) -> &mut Self {
        let total = (12 + body.len()) as u32;
        let (k, t) = (self.u32(kind), self.u32(total));
        self.out.extend_from_slice(&k);
        self.out.extend_from_slice(&t);
        self.out.extend_from_slice(body);
        self.out.extend_from_slice(&t);
        self
    }
    /// An option: code, length, value padded to four bytes.
    fn option(&self, code: u16, value: &[u8]) -> Vec<u8> {
        let mut o = Vec::new();
        o.extend_from_slice(&self.u16(code));
        o.extend_from_slice(&self.u16(value.len() as u16));
        o.extend_from_slice(value);
        o.resize(o.len().next_multiple_of(4), 0);
        o
    }
    /// A section header with a comment that is not UTF-8 and no end-of-options marker.
    fn section(&mut self) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32(0x1a2b_3c4d));
        body.extend_from_slice(&self.u16(1));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&[0xff; 8]);
        body.extend_from_slice(&self.option(1, &[0xc3, 0x28, 0xff]));
        self.block(0x0a0d_0d0a, &body)
    }
    fn interface(&mut self, link: u16, snaplen: u32, options: &[Vec<u8>]) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u16(link));
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&self.u32(snaplen));
        for o in options {
            body.extend_from_slice(o);
        }
        self.block(1, &body)
    }
    fn enhanced(&mut self, iface: u32, units: u64, data: &[u8], options: &[Vec<u8>]) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32(iface));
        body.extend_from_slice(&self.u32((units >> 32) as u32));
        body.extend_from_slice(&self.u32(units as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(&self.u32(data.len() as u32 + 10));
        body.extend_from_slice(data);
        body.resize(body.len().next_multiple_of(4), 0);
        for o in options {
            body.extend_from_slice(o);
        }
        self.block(6, &body)
    }
    fn simple(&mut self, original_len: u32, data: &[u8]) -> &mut Self {
        let mut body = self.u32(original_len).to_vec();
        body.extend_from_slice(data);
        body.resize(body.len().next_multiple_of(4), 0);
        self.block(3, &body)
    }
    fn obsolete(&mut self, iface: u16, units: u64, data: &[u8]) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u16(iface));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&self.u32((units >> 32) as u32));
        body.extend_from_slice(&self.u32(units as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(data);
        body.resize(body.len().next_multiple_of(4), 0);
        self.block(2, &body)
    }
}

/// Two sections in opposite byte orders, interfaces with their own link types and units,
/// every packet block kind, an unknown block, and options written the lenient way.
fn two_sections() -> Vec<u8> {
    let mut le = Ng::new(false);
    let comment = le.option(1, b"\xff\xfe not UTF-8");
    let units = [le.option(9, &[9]), le.option(14, &10i64.to_le_bytes())];
    le.section()
        .interface(1, 0, &[])
        // Nanosecond units, a ten-second offset, no end-of-options marker.
        .interface(101, 0, &units)
        .block(0x0bad_f00d, &[1, 2, 3, 4])
        .enhanced(0, 1_700_000_000_500_000, b"eth", &[comment])
        .enhanced(1, 1_700_000_000_000_000_007, b"raw", &[])
        .simple(9, b"simple!!!")
        .obsolete(0, 1_700_000_001_000_000, b"old")
        // An interface that was never described: skipped.
        .enhanced(7, 0, b"nowhere", &[]);
    let mut be = Ng::new(true);
    let options = [be.option(9, &[0x80 | 10]), be.option(0, &[])];
    // The second section knows only its own interfaces; SPB cut to the snaplen of 4.
    be.section()
        .interface(113, 4, &options)
        .enhanced(0, 1024 * 1_700_000_002, b"sll", &[])
        .simple(6, b"cut here");
    let mut out = le.out;
    out.extend_from_slice(&be.out);
    out
}

fn expected_two_sections() -> Got {
    let t = Timestamp::from_unix;
    vec![
        (
            t(1_700_000_000, 500_000_000),
            LinkType::ETHERNET,
            b"eth".to_vec(),
            13,
        ),
        (t(1_700_000_010, 7), LinkType::RAW, b"raw".to_vec(), 13),
        (
            t(1_700_000_010, 7),
            LinkType::ETHERNET,
            b"simple!!!".to_vec(),
            9,
        ),
        (t(1_700_000_001, 0), LinkType::ETHERNET, b"old".to_vec(), 3),
        (
            t(1_700_000_002, 0),
            LinkType::LINUX_SLL,
            b"sll".to_vec(),
            13,
        ),
        (
            t(1_700_000_002, 0),
            LinkType::LINUX_SLL,
            b"cut ".to_vec(),
            6,
        ),
    ]
}

#[test]
fn pcapng_sections_interfaces_and_every_packet_block() {
    assert_eq!(frames(&two_sections()), expected_two_sections());
}

#[test]
fn gzip_compressed_captures_read_as_the_plain_ones() {
    assert_eq!(frames(&gzip(&two_sections())), expected_two_sections());
    let plain = pcap(0xa1b2_c3d4, false, 1, &[(1, 0, b"x"), (2, 0, b"y")]);
    assert_eq!(frames(&gzip(&plain)), frames(&plain));
}

#[test]
fn decompression_stops_at_its_bound() {
    let plain = pcap(
        0xa1b2_c3d4,
        false,
        1,
        &[(1, 0, &[0; 100]), (2, 0, &[0; 100])],
    );
    let mut got = 0;
    let result = read_bounded(&gzip(&plain)[..], 24 + 116 + 50, &mut |_| got += 1);
    assert_eq!(got, 1);
    match result {
        Err(ReadError::Stopped { offset, why }) => {
            assert_eq!(offset, 24 + 116);
            assert!(why.contains("decompressed"), "{why}");
        }
        other => panic!("expected Stopped, got {other:?}"),
    }
}

#[test]
fn damaged_compressed_data_stops_after_what_was_read() {
    let plain = pcap(0xa1b2_c3d4, false, 1, &[(1, 0, &[7; 3000])]);
    let mut packed = gzip(&plain);
    let n = packed.len();
    packed.truncate(n - 20);
    packed.extend_from_slice(&[0xff; 20]);
    assert!(matches!(
        frames_of(&packed).1,
        Err(ReadError::Stopped { .. })
    ));
}

#[test]
fn pcapng_block_lengths_that_disagree_stop_the_reading_there() {
    let mut ng = Ng::new(false);
    ng.section().interface(1, 0, &[]).enhanced(0, 0, b"ok", &[]);
    let good = ng.out.len() as u64;
    ng.enhanced(0, 0, b"bad", &[]);
    let n = ng.out.len();
    ng.out[n - 1] = 0x7f; // trailing length
    let (got, result) = frames_of(&ng.out);
    assert_eq!(got.len(), 1);
    assert!(matches!(result, Err(ReadError::Stopped { offset, .. }) if offset == good));
    // A block length too small or past the bound.
    for len in [4u32, u32::MAX] {
        let mut ng = Ng::new(false);
        ng.section();
        let at = ng.out.len() as u64;
        ng.out.extend_from_slice(&6u32.to_le_bytes());
        ng.out.extend_from_slice(&len.to_le_bytes());
        ng.out.extend_from_slice(&[0; 8]);
        let result = frames_of(&ng.out).1;
        assert!(matches!(result, Err(ReadError::Stopped { offset, .. }) if offset == at));
    }
}

#[test]
fn a_captured_length_past_its_block_yields_the_bytes_present() {
    let mut ng = Ng::new(false);
    ng.section()
        .interface(1, 0, &[])
        .enhanced(0, 0, b"four", &[]);
    // Claim 200 captured bytes in the last EPB (captured length at body offset 12).
    let at = ng.out.len() - 4 - 4 - 20 + 12;
    ng.out[at..at + 4].copy_from_slice(&200u32.to_le_bytes());
    assert_eq!(frames(&ng.out)[0].2, b"four".to_vec());
}

#[test]
fn cut_files_report_the_offset_of_the_unfinished_block() {
    let bytes = two_sections();
    for cut in [bytes.len() - 1, bytes.len() - 30] {
        let (got, result) = frames_of(&bytes[..cut]);
        assert!(got.len() < 6);
        assert!(matches!(result, Err(ReadError::Stopped { .. })), "{cut}");
    }
}
