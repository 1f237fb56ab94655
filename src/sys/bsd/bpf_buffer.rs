//! Walking a FreeBSD BPF read buffer, and the link types a capture accepts.
//!
//! One `read()` on /dev/bpf returns zero or more records (bpf(4), "BPF HEADER"; written by
//! `catchpacket` in sys/net/bpf.c). Each record is a header, `bh_hdrlen` bytes long (not `sizeof`
//! the header: the kernel pads it so the network header lands aligned), then `bh_caplen`
//! captured bytes; the next record starts at `BPF_WORDALIGN(bh_hdrlen + bh_caplen)` with
//! `BPF_ALIGNMENT = sizeof(long) = 8` on LP64. The capture sets `BPF_T_NANOTIME` with
//! BIOCSTSTAMP, so every header is a `struct bpf_xhdr` (sys/net/bpf.h): `struct bpf_ts {int64
//! bt_sec; uint64 bt_frac}` with `bt_frac` in nanoseconds, then `bh_caplen u32@16`,
//! `bh_datalen u32@20`, `bh_hdrlen u16@24` (26 meaningful bytes).

use std::fmt;

use super::{i64_at, u16_at, u32_at, u64_at};
use crate::time::Timestamp;
use crate::wire::LinkType;

/// `BPF_ALIGNMENT` on LP64 (`sizeof(long)`).
pub const BPF_ALIGNMENT: usize = 8;
/// The meaningful bytes of `bpf_hdr`/`bpf_xhdr` on LP64: 16 of timestamp, caplen, datalen,
/// hdrlen.
pub const BPF_HDR_MIN: usize = 26;

// bpf.h timestamp format for BIOCSTSTAMP: the capture asks for NANOTIME | NORMAL.
pub const BPF_T_NANOTIME: u32 = 0x0001;
pub const BPF_T_NORMAL: u32 = 0x0000;

// dlt.h link types this module names.
pub const DLT_NULL: u32 = 0;
pub const DLT_EN10MB: u32 = 1;
pub const DLT_RAW: u32 = 12;
pub const DLT_LOOP: u32 = 108;
pub const DLT_ENC: u32 = 109;
pub const DLT_PFLOG: u32 = 117;

/// `BPF_WORDALIGN(x)`: rounds up to `BPF_ALIGNMENT`; `None` on overflow.
pub const fn bpf_wordalign(x: usize) -> Option<usize> {
    match x.checked_add(BPF_ALIGNMENT - 1) {
        Some(v) => Some(v & !(BPF_ALIGNMENT - 1)),
        None => None,
    }
}

/// A `BPF_T_NANOTIME` header's `bt_sec` and `bt_frac` (nanoseconds) as a timestamp; a fraction
/// out of range is clamped, not wrapped.
fn nanotime(sec: i64, frac: u64) -> Timestamp {
    let nanos = u32::try_from(frac.min(999_999_999)).unwrap_or(999_999_999);
    Timestamp::from_unix(sec, nanos)
}

/// One captured packet in a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: Timestamp,
    /// Bytes captured (`bh_caplen`), `data.len()`.
    pub caplen: u32,
    /// Length on the wire (`bh_datalen`).
    pub datalen: u32,
    pub data: &'a [u8],
}

/// Why a walk stopped before the end of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BpfWalkError {
    /// Fewer than 26 bytes left for a header.
    TruncatedHeader { offset: usize },
    /// `bh_hdrlen` is smaller than the header itself.
    BadHeaderLength { offset: usize, hdrlen: u16 },
    /// `bh_hdrlen + bh_caplen` runs past the end of the buffer.
    TruncatedPacket {
        offset: usize,
        caplen: u32,
        available: usize,
    },
}

impl fmt::Display for BpfWalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TruncatedHeader { offset } => {
                write!(f, "bpf record at byte {offset}: header cut short")
            }
            Self::BadHeaderLength { offset, hdrlen } => {
                write!(
                    f,
                    "bpf record at byte {offset}: header length {hdrlen} < 26"
                )
            }
            Self::TruncatedPacket {
                offset,
                caplen,
                available,
            } => write!(
                f,
                "bpf record at byte {offset}: {caplen} captured bytes but {available} left"
            ),
        }
    }
}

impl std::error::Error for BpfWalkError {}

/// Iterator over the records of one read buffer. After it returns `None`, [`Records::error`]
/// says whether it stopped early and why.
pub struct Records<'a> {
    buf: &'a [u8],
    offset: usize,
    error: Option<BpfWalkError>,
}

/// Walks `buf` (exactly the bytes one `read()` returned, headers in `BPF_T_NANOTIME` form).
pub fn records(buf: &[u8]) -> Records<'_> {
    Records {
        buf,
        offset: 0,
        error: None,
    }
}

impl<'a> Records<'a> {
    /// Why the walk stopped early, if it did.
    pub fn error(&self) -> Option<BpfWalkError> {
        self.error
    }

    fn stop(&mut self, error: BpfWalkError) -> Option<Record<'a>> {
        self.error = Some(error);
        self.offset = self.buf.len();
        None
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        let offset = self.offset;
        if offset >= self.buf.len() {
            return None;
        }
        let buf = self.buf;
        let Some(header) = buf.get(offset..).filter(|h| h.len() >= BPF_HDR_MIN) else {
            return self.stop(BpfWalkError::TruncatedHeader { offset });
        };
        // The 26-byte length check above makes every read below succeed; the fallbacks are
        // never taken but keep the code free of panics.
        let sec = i64_at(header, 0).unwrap_or(0);
        let frac = u64_at(header, 8).unwrap_or(0);
        let caplen = u32_at(header, 16).unwrap_or(0);
        let datalen = u32_at(header, 20).unwrap_or(0);
        let hdrlen = u16_at(header, 24).unwrap_or(0);
        if usize::from(hdrlen) < BPF_HDR_MIN {
            return self.stop(BpfWalkError::BadHeaderLength { offset, hdrlen });
        }
        let start = usize::from(hdrlen);
        let end = usize::try_from(caplen)
            .ok()
            .and_then(|c| start.checked_add(c));
        let Some(data) = end.and_then(|end| header.get(start..end)) else {
            return self.stop(BpfWalkError::TruncatedPacket {
                offset,
                caplen,
                available: header.len().saturating_sub(start),
            });
        };
        // `end` is inside the buffer, so the aligned step cannot overflow a usize.
        let step = end.and_then(bpf_wordalign).unwrap_or(usize::MAX);
        self.offset = offset.saturating_add(step);
        Some(Record {
            time: nanotime(sec, frac),
            caplen,
            datalen,
            data,
        })
    }
}

/// The wire link type for a BIOCGDLT value the capture can parse, or an error naming it.
pub fn link_type_for_dlt(dlt: u32) -> Result<LinkType, UnsupportedDlt> {
    match dlt {
        DLT_EN10MB => Ok(LinkType::ETHERNET),
        DLT_NULL => Ok(LinkType::NULL),
        _ => Err(UnsupportedDlt(dlt)),
    }
}

/// A data-link type the capture does not handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnsupportedDlt(pub u32);

impl fmt::Display for UnsupportedDlt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            DLT_RAW => "DLT_RAW",
            DLT_LOOP => "DLT_LOOP",
            DLT_ENC => "DLT_ENC (enc0, IPsec)",
            DLT_PFLOG => "DLT_PFLOG (pflog0)",
            _ => "unknown",
        };
        write!(
            f,
            "data-link type {} ({name}) is not supported: capture needs Ethernet (DLT_EN10MB) \
             or DLT_NULL (loopback, tun)",
            self.0
        )
    }
}

impl std::error::Error for UnsupportedDlt {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Writes one record as bpf.c `catchpacket` does, from the LP64 layout of `struct bpf_xhdr`
    /// (bt_sec i64@0, bt_frac u64@8, bh_caplen u32@16, bh_datalen u32@20, bh_hdrlen u16@24),
    /// starting at the next 8-byte boundary of `buf`.
    fn push_record(buf: &mut Vec<u8>, sec: i64, frac: u64, hdrlen: u16, datalen: u32, data: &[u8]) {
        buf.resize(buf.len().div_ceil(8) * 8, 0);
        let start = buf.len();
        buf.resize(start + usize::from(hdrlen), 0);
        buf[start..start + 8].copy_from_slice(&sec.to_ne_bytes());
        buf[start + 8..start + 16].copy_from_slice(&frac.to_ne_bytes());
        buf[start + 16..start + 20].copy_from_slice(&(data.len() as u32).to_ne_bytes());
        buf[start + 20..start + 24].copy_from_slice(&datalen.to_ne_bytes());
        buf[start + 24..start + 26].copy_from_slice(&hdrlen.to_ne_bytes());
        buf.extend_from_slice(data);
    }

    fn frame(len: usize, fill: u8) -> Vec<u8> {
        vec![fill; len]
    }

    #[test]
    fn several_records_with_alignment_padding() {
        let mut buf = Vec::new();
        // Ethernet: bh_hdrlen 26 (bpf_hdrlen: WORDALIGN(26 + 14) - 14); 60 + 26 = 86 -> pad 2.
        push_record(
            &mut buf,
            1_700_000_000,
            123_456_789,
            26,
            60,
            &frame(60, 0xa1),
        );
        assert_eq!(buf.len(), 86);
        push_record(&mut buf, 1_700_000_001, 5, 26, 1514, &frame(54, 0xb2));
        assert_eq!(
            buf.len(),
            88 + 80,
            "second record starts at the 8-byte boundary 88"
        );
        // DLT_NULL: bh_hdrlen 28 (WORDALIGN(26 + 4) - 4).
        push_record(&mut buf, 1_700_000_002, 0, 28, 44, &frame(44, 0xc3));

        let mut walk = records(&buf);
        let got: Vec<_> = walk.by_ref().collect();
        assert_eq!(walk.error(), None);
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0].time,
            Timestamp::from_unix_nanos(1_700_000_000_123_456_789)
        );
        assert_eq!((got[0].caplen, got[0].datalen), (60, 60));
        assert_eq!(got[0].data, &frame(60, 0xa1)[..]);
        assert_eq!((got[1].caplen, got[1].datalen), (54, 1514));
        assert_eq!(got[1].data, &frame(54, 0xb2)[..]);
        assert_eq!(got[2].data, &frame(44, 0xc3)[..]);
        assert_eq!(got[2].time, Timestamp::from_unix(1_700_000_002, 0));
    }

    #[test]
    fn truncated_last_record_keeps_the_earlier_ones() {
        let mut buf = Vec::new();
        push_record(&mut buf, 1, 0, 26, 60, &frame(60, 1));
        push_record(&mut buf, 2, 0, 26, 60, &frame(60, 2));
        buf.truncate(buf.len() - 10);
        let mut walk = records(&buf);
        assert_eq!(walk.by_ref().count(), 1);
        assert_eq!(
            walk.error(),
            Some(BpfWalkError::TruncatedPacket {
                offset: 88,
                caplen: 60,
                available: 50
            })
        );
    }

    #[test]
    fn caplen_past_the_end() {
        let mut buf = Vec::new();
        push_record(&mut buf, 1, 0, 26, 60, &frame(60, 1));
        buf[16..20].copy_from_slice(&u32::MAX.to_ne_bytes());
        let mut walk = records(&buf);
        assert_eq!(walk.next(), None);
        assert!(matches!(
            walk.error(),
            Some(BpfWalkError::TruncatedPacket {
                caplen: u32::MAX,
                ..
            })
        ));
    }

    #[test]
    fn header_cut_short_and_bad_hdrlen() {
        let mut walk = records(&[0u8; 20]);
        assert_eq!(walk.next(), None);
        assert_eq!(
            walk.error(),
            Some(BpfWalkError::TruncatedHeader { offset: 0 })
        );

        let mut buf = Vec::new();
        push_record(&mut buf, 1, 0, 26, 4, &frame(4, 1));
        buf[24..26].copy_from_slice(&4u16.to_ne_bytes());
        let mut walk = records(&buf);
        assert_eq!(walk.next(), None);
        assert_eq!(
            walk.error(),
            Some(BpfWalkError::BadHeaderLength {
                offset: 0,
                hdrlen: 4
            })
        );
    }

    #[test]
    fn empty_buffer_yields_nothing() {
        let mut walk = records(&[]);
        assert_eq!(walk.next(), None);
        assert_eq!(walk.error(), None);
    }

    #[test]
    fn a_nanosecond_fraction_out_of_range_is_clamped() {
        let mut buf = Vec::new();
        push_record(&mut buf, 10, u64::MAX, 26, 1, &[0]);
        let nano: Vec<_> = records(&buf).collect();
        assert_eq!(nano[0].time, Timestamp::from_unix(10, 999_999_999));
    }

    #[test]
    fn wordalign_matches_bpf_h() {
        assert_eq!(bpf_wordalign(0), Some(0));
        assert_eq!(bpf_wordalign(86), Some(88));
        assert_eq!(bpf_wordalign(88), Some(88));
        assert_eq!(bpf_wordalign(usize::MAX), None);
    }

    #[test]
    fn data_link_types() {
        assert_eq!(link_type_for_dlt(1), Ok(LinkType::ETHERNET));
        assert_eq!(link_type_for_dlt(0), Ok(LinkType::NULL));
        let err = link_type_for_dlt(117).unwrap_err().to_string();
        assert!(err.contains("117") && err.contains("DLT_PFLOG"), "{err}");
        let err = link_type_for_dlt(4242).unwrap_err().to_string();
        assert!(err.contains("4242"), "{err}");
    }

    #[test]
    fn garbage_does_not_panic() {
        let garbage: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let mut walk = records(&garbage);
        for r in walk.by_ref() {
            assert_eq!(r.data.len() as u32, r.caplen);
        }
        assert!(walk.error().is_some());
    }

    /// Written by tests/data/freebsd/make_fixtures.py from the bpf_xhdr layout.
    const BPF_FIXTURE: &[u8] = include_bytes!("../../../tests/data/freebsd/bpf_nanotime_3.bin");

    #[test]
    fn fixture_three_records() {
        let mut walk = records(BPF_FIXTURE);
        let got: Vec<_> = walk.by_ref().collect();
        assert_eq!(walk.error(), None);
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0].time,
            Timestamp::from_unix(1_763_800_000, 123_456_789)
        );
        assert_eq!(got[0].data, &(0u8..60).collect::<Vec<_>>()[..]);
        assert_eq!((got[1].caplen, got[1].datalen), (54, 1514));
        assert!(got[1].data.iter().all(|&b| b == 0xab));
        assert_eq!(
            got[2].time,
            Timestamp::from_unix(1_763_800_002, 999_999_999)
        );
        assert_eq!(&got[2].data[..4], &[2, 0, 0, 0]);
        // Every cut of the buffer yields a prefix of the records and never panics.
        for cut in 0..BPF_FIXTURE.len() {
            let n = records(&BPF_FIXTURE[..cut]).count();
            assert!(n <= 3);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..4096)) {
            for r in records(&buf) {
                prop_assert_eq!(r.data.len() as u64, u64::from(r.caplen));
            }
        }

        /// Any sequence of well-formed records comes back exactly.
        #[test]
        fn written_records_round_trip(lens in proptest::collection::vec(0usize..300, 0..20)) {
            let mut buf = Vec::new();
            for (i, len) in lens.iter().enumerate() {
                push_record(&mut buf, i as i64, 7, 26, *len as u32, &frame(*len, i as u8));
            }
            let mut walk = records(&buf);
            let got: Vec<_> = walk.by_ref().map(|r| (r.caplen as usize, r.data.first().copied())).collect();
            prop_assert_eq!(walk.error(), None);
            let want: Vec<_> = lens.iter().enumerate()
                .map(|(i, len)| (*len, (*len > 0).then_some(i as u8)))
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
