//! Pure parsers for FreeBSD kernel formats, compiled on every OS so they are tested everywhere.
//!
//! Nothing here makes a syscall: `sys::freebsd` reads the bytes and hands them to these parsers.
//! Layouts are FreeBSD 14 LP64 (amd64, aarch64; both little-endian), as given in
//! route(4) and bpf(4) (the headers are listed in docs/freebsd-abi.md), and read in the host's byte order
//! because the kernel writes them in its own. Every read is bounds-checked and unaligned-safe
//! (`from_ne_bytes` on copied slices); none of these parsers panics on any input.

pub(super) mod bpf_buffer;
pub(super) mod bpf_null_program;
pub(super) mod ioctl;
pub(super) mod link_tracker;
pub(super) mod pfctl;
pub(super) mod route;
#[cfg(test)]
mod test_layout;

/// `n` bytes at `offset`, or `None` when they are not all inside `buf`.
fn bytes<const N: usize>(buf: &[u8], offset: usize) -> Option<[u8; N]> {
    let end = offset.checked_add(N)?;
    buf.get(offset..end)?.try_into().ok()
}

fn u8_at(buf: &[u8], offset: usize) -> Option<u8> {
    buf.get(offset).copied()
}

fn u16_at(buf: &[u8], offset: usize) -> Option<u16> {
    bytes(buf, offset).map(u16::from_ne_bytes)
}

fn u32_at(buf: &[u8], offset: usize) -> Option<u32> {
    bytes(buf, offset).map(u32::from_ne_bytes)
}

fn i32_at(buf: &[u8], offset: usize) -> Option<i32> {
    bytes(buf, offset).map(i32::from_ne_bytes)
}

fn u64_at(buf: &[u8], offset: usize) -> Option<u64> {
    bytes(buf, offset).map(u64::from_ne_bytes)
}

fn i64_at(buf: &[u8], offset: usize) -> Option<i64> {
    bytes(buf, offset).map(i64::from_ne_bytes)
}

/// A NUL-terminated name in a fixed-size field (at most `buf.len()` bytes), lossily decoded.
fn c_name(buf: &[u8]) -> String {
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(buf.get(..len).unwrap_or_default()).into_owned()
}
