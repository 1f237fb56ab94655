//! Classic pcap: a 24-byte file header, then records of a 16-byte header and the packet.
//! Layout: pcap-savefile(5) and <https://www.tcpdump.org/manpages/pcap-savefile.5.html>.

use std::io::Read;

use super::chunks::{Chunks, MAX_BLOCK};
use super::{Order, ReadError};
use crate::time::Timestamp;
use crate::wire::{Frame, LinkType};

const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;
/// The "modified" (Alexey Kuznetzov's) records add ifindex, protocol, packet type and a pad.
const MODIFIED_EXTRA: usize = 8;

const MICROS: u32 = 0xa1b2_c3d4;
const NANOS: u32 = 0xa1b2_3c4d;
const MODIFIED: u32 = 0xa1b2_cd34;

/// The file's byte order, timestamp unit and record layout from its magic.
fn format(magic: [u8; 4]) -> Option<(Order, i64, usize)> {
    for order in [Order::Little, Order::Big] {
        match order.u32(magic) {
            MICROS => return Some((order, 1_000, 0)),
            NANOS => return Some((order, 1, 0)),
            MODIFIED => return Some((order, 1_000, MODIFIED_EXTRA)),
            _ => {}
        }
    }
    None
}

pub fn is_magic(magic: [u8; 4]) -> bool {
    format(magic).is_some()
}

pub fn read<R: Read>(
    chunks: &mut Chunks<R>,
    on_frame: &mut dyn FnMut(&Frame<'_>),
) -> Result<(), ReadError> {
    if !chunks.fill(FILE_HEADER)? {
        return Err(ReadError::NotACapture(
            "the pcap file header is cut short".into(),
        ));
    }
    let header = chunks.window();
    let magic = [header[0], header[1], header[2], header[3]];
    let (order, nanos_per_unit, extra) =
        format(magic).ok_or_else(|| ReadError::NotACapture("not a pcap magic number".into()))?;
    // The low 16 bits are the link type; the upper ones may flag a frame check sequence.
    let link_type = LinkType(order.u32_at(header, 20).unwrap_or(0) & 0xffff);
    chunks.consume(FILE_HEADER);
    let record_header = RECORD_HEADER + extra;
    loop {
        if !chunks.fill(record_header)? {
            return chunks.finish("the last packet record is cut short");
        }
        let w = chunks.window();
        let field = |at| order.u32_at(w, at).unwrap_or(0);
        let (sec, frac, caplen, orig_len) = (field(0), field(4), field(8), field(12));
        let caplen = caplen as usize;
        if caplen > MAX_BLOCK {
            return Err(chunks.stopped(&format!(
                "a packet record of {caplen} bytes is taken as damage"
            )));
        }
        let total = record_header + caplen;
        if !chunks.fill(total)? {
            return chunks.finish("the last packet record is cut short");
        }
        let frac = i64::from(frac) * nanos_per_unit;
        let time =
            Timestamp::from_unix_nanos(i64::from(sec) * 1_000_000_000 + frac.min(999_999_999));
        on_frame(&Frame {
            time,
            link_type,
            data: &chunks.window()[record_header..total],
            original_len: orig_len,
        });
        chunks.consume(total);
    }
}
