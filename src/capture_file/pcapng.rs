//! pcapng: blocks of `type, total length, body, total length`, in sections that each begin
//! with a Section Header Block giving the byte order. Layout: draft-ietf-opsawg-pcapng
//! (<https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html>).
//!
//! Packets come from Enhanced, Simple and (obsolete) Packet Blocks; Interface Description
//! Blocks give each interface's link type, snapshot length and timestamp unit and offset;
//! every other block is skipped. Options are read only in Interface Description Blocks, and
//! leniently: a list may end without its end-of-options marker.

use std::io::Read;

use super::chunks::{Chunks, MAX_BLOCK};
use super::{Order, ReadError};
use crate::time::Timestamp;
use crate::wire::{Frame, LinkType};

mod block_type {
    pub const SECTION_HEADER: u32 = 0x0a0d_0d0a;
    pub const INTERFACE_DESCRIPTION: u32 = 1;
    /// Obsolete, still written by old tools.
    pub const PACKET: u32 = 2;
    pub const SIMPLE_PACKET: u32 = 3;
    pub const ENHANCED_PACKET: u32 = 6;
}

mod option {
    pub const END: u16 = 0;
    pub const IF_TSRESOL: u16 = 9;
    pub const IF_TSOFFSET: u16 = 14;
}

const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Block type, total length, trailing total length.
const BLOCK_OVERHEAD: usize = 12;
/// At most this many interfaces per section are kept (their count costs memory).
const MAX_INTERFACES: usize = 4096;

pub fn is_magic(magic: [u8; 4]) -> bool {
    u32::from_be_bytes(magic) == block_type::SECTION_HEADER
}

/// What an Interface Description Block says about its packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interface {
    link_type: LinkType,
    /// 0: no limit.
    snaplen: u32,
    /// Timestamp units per second (if_tsresol; microseconds by default).
    units_per_sec: u64,
    /// Seconds added to every timestamp (if_tsoffset).
    offset_secs: i64,
}

impl Interface {
    fn time(&self, high: u32, low: u32) -> Timestamp {
        let units = (u128::from(high) << 32) | u128::from(low);
        let nanos = units * 1_000_000_000 / u128::from(self.units_per_sec);
        let nanos = i128::try_from(nanos).unwrap_or(i128::MAX)
            + i128::from(self.offset_secs) * 1_000_000_000;
        Timestamp::from_unix_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }
}

/// The section being read.
struct Section {
    order: Order,
    interfaces: Vec<Interface>,
}

pub fn read<R: Read>(
    chunks: &mut Chunks<R>,
    on_frame: &mut dyn FnMut(&Frame<'_>),
) -> Result<(), ReadError> {
    let mut section: Option<Section> = None;
    // A Simple Packet Block has no timestamp: it is placed at the last time seen.
    let mut last_time = Timestamp::default();
    loop {
        if !chunks.fill(BLOCK_OVERHEAD)? {
            return chunks.finish("the last block is cut short");
        }
        let w = chunks.window();
        let raw_type = [w[0], w[1], w[2], w[3]];
        let is_shb = is_magic(raw_type);
        let order = if is_shb {
            match byte_order([w[8], w[9], w[10], w[11]]) {
                Some(order) => order,
                None if section.is_none() => {
                    return Err(ReadError::NotACapture(
                        "the pcapng byte-order magic is missing".into(),
                    ))
                }
                None => return Err(chunks.stopped("a section header without its byte order")),
            }
        } else {
            match &section {
                Some(s) => s.order,
                None => return Err(ReadError::NotACapture("no pcapng section header".into())),
            }
        };
        let kind = order.u32(raw_type);
        let total = order.u32_at(w, 4).unwrap_or(0) as usize;
        if !(BLOCK_OVERHEAD..=MAX_BLOCK).contains(&total) {
            return Err(chunks.stopped(&format!("a block length of {total} bytes")));
        }
        if !chunks.fill(total)? {
            return chunks.finish("the last block is cut short");
        }
        let block = &chunks.window()[..total];
        if order.u32_at(block, total - 4) != Some(total as u32) {
            return Err(chunks.stopped("a block whose two lengths disagree"));
        }
        let body = &block[8..total - 4];
        if is_shb {
            section = Some(Section {
                order,
                interfaces: Vec::new(),
            });
        } else if let Some(section) = section.as_mut() {
            match kind {
                block_type::INTERFACE_DESCRIPTION if section.interfaces.len() < MAX_INTERFACES => {
                    if let Some(iface) = interface(order, body) {
                        section.interfaces.push(iface);
                    }
                }
                block_type::ENHANCED_PACKET => {
                    if let Some(frame) = enhanced(order, &section.interfaces, body) {
                        last_time = frame.time;
                        on_frame(&frame);
                    }
                }
                block_type::PACKET => {
                    if let Some(frame) = obsolete(order, &section.interfaces, body) {
                        last_time = frame.time;
                        on_frame(&frame);
                    }
                }
                block_type::SIMPLE_PACKET => {
                    if let Some(frame) = simple(order, &section.interfaces, body, last_time) {
                        on_frame(&frame);
                    }
                }
                _ => {}
            }
        }
        chunks.consume(total);
    }
}

fn byte_order(bom: [u8; 4]) -> Option<Order> {
    [Order::Little, Order::Big]
        .into_iter()
        .find(|order| order.u32(bom) == BYTE_ORDER_MAGIC)
}

/// An Interface Description Block: link type, reserved, snaplen, options.
fn interface(order: Order, body: &[u8]) -> Option<Interface> {
    let mut iface = Interface {
        link_type: LinkType(u32::from(order.u16_at(body, 0)?)),
        snaplen: order.u32_at(body, 4)?,
        units_per_sec: 1_000_000,
        offset_secs: 0,
    };
    let mut options = body.get(8..).unwrap_or(&[]);
    while let (Some(code), Some(len)) = (order.u16_at(options, 0), order.u16_at(options, 2)) {
        if code == option::END {
            break;
        }
        let len = usize::from(len);
        let Some(value) = options.get(4..4 + len) else {
            break;
        };
        match (code, value) {
            (option::IF_TSRESOL, [r, ..]) => {
                let exp = u32::from(r & 0x7f);
                let units = if r & 0x80 == 0 {
                    10u64.checked_pow(exp)
                } else {
                    2u64.checked_pow(exp)
                };
                iface.units_per_sec = units.unwrap_or(1_000_000).max(1);
            }
            (option::IF_TSOFFSET, [a, b, c, d, e, f, g, h]) => {
                let bytes = [*a, *b, *c, *d, *e, *f, *g, *h];
                iface.offset_secs = match order {
                    Order::Little => i64::from_le_bytes(bytes),
                    Order::Big => i64::from_be_bytes(bytes),
                };
            }
            _ => {}
        }
        let padded = (4 + len).next_multiple_of(4);
        options = options.get(padded..).unwrap_or(&[]);
    }
    Some(iface)
}

/// The packet bytes of a block: `caplen` claimed, cut to the bytes the block holds.
fn packet_bytes(body: &[u8], at: usize, caplen: u32) -> &[u8] {
    let rest = body.get(at..).unwrap_or(&[]);
    &rest[..rest.len().min(caplen as usize)]
}

/// Enhanced Packet Block: interface, timestamp (high, low), captured and original length.
fn enhanced<'a>(order: Order, interfaces: &[Interface], body: &'a [u8]) -> Option<Frame<'a>> {
    let iface = interfaces.get(order.u32_at(body, 0)? as usize)?;
    let time = iface.time(order.u32_at(body, 4)?, order.u32_at(body, 8)?);
    Some(Frame {
        time,
        link_type: iface.link_type,
        data: packet_bytes(body, 20, order.u32_at(body, 12)?),
        original_len: order.u32_at(body, 16)?,
    })
}

/// The obsolete Packet Block: a 16-bit interface and a drop count, then as the Enhanced one.
fn obsolete<'a>(order: Order, interfaces: &[Interface], body: &'a [u8]) -> Option<Frame<'a>> {
    let iface = interfaces.get(usize::from(order.u16_at(body, 0)?))?;
    let time = iface.time(order.u32_at(body, 4)?, order.u32_at(body, 8)?);
    Some(Frame {
        time,
        link_type: iface.link_type,
        data: packet_bytes(body, 20, order.u32_at(body, 12)?),
        original_len: order.u32_at(body, 16)?,
    })
}

/// Simple Packet Block: interface 0, the original length, the packet cut to the snaplen.
fn simple<'a>(
    order: Order,
    interfaces: &[Interface],
    body: &'a [u8],
    time: Timestamp,
) -> Option<Frame<'a>> {
    let iface = interfaces.first()?;
    let original_len = order.u32_at(body, 0)?;
    let caplen = match iface.snaplen {
        0 => original_len,
        snaplen => original_len.min(snaplen),
    };
    Some(Frame {
        time,
        link_type: iface.link_type,
        data: packet_bytes(body, 4, caplen),
        original_len,
    })
}
