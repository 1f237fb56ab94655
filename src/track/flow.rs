//! Flow keys and a small fast hasher for the tracker's tables.

use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

/// A TCP connection's endpoints in a canonical order, so both directions find one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    low: Endpoint,
    high: Endpoint,
}

/// An address and port packed for cheap comparing and hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Endpoint {
    /// The address's bits (an IPv4 address in the low 32).
    bits: u128,
    /// Port in the low 16 bits, bit 16 set for IPv6 (so ::a.b.c.d never equals a.b.c.d).
    port_family: u32,
}

impl Endpoint {
    fn new(ip: IpAddr, port: u16) -> Self {
        let (bits, v6) = match ip {
            IpAddr::V4(a) => (u128::from(a.to_bits()), 0),
            IpAddr::V6(a) => (a.to_bits(), 1 << 16),
        };
        Self {
            bits,
            port_family: u32::from(port) | v6,
        }
    }
}

impl FlowKey {
    pub fn new(a: (IpAddr, u16), b: (IpAddr, u16)) -> Self {
        let (a, b) = (Endpoint::new(a.0, a.1), Endpoint::new(b.0, b.1));
        if a <= b {
            Self { low: a, high: b }
        } else {
            Self { low: b, high: a }
        }
    }

    pub fn from_sockets(a: SocketAddr, b: SocketAddr) -> Self {
        Self::new((a.ip(), a.port()), (b.ip(), b.port()))
    }
}

impl Hash for FlowKey {
    // Five words instead of the derived byte-by-byte walk over two `IpAddr`s.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.low.bits as u64);
        state.write_u64((self.low.bits >> 64) as u64);
        state.write_u64(self.high.bits as u64);
        state.write_u64((self.high.bits >> 64) as u64);
        state.write_u64(u64::from(self.low.port_family) << 32 | u64::from(self.high.port_family));
    }
}

/// FxHash (rustc's hasher): not DoS-resistant on its own, which is why table sizes are bounded
/// and eviction is by age, not by hash bucket.
#[derive(Clone, Copy, Default)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `BuildHasher` for `HashMap`s keyed by flows and addresses.
pub type FxBuildHasher = BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_give_one_key() {
        let a: SocketAddr = "192.0.2.10:50000".parse().unwrap();
        let b: SocketAddr = "198.51.100.1:993".parse().unwrap();
        assert_eq!(FlowKey::from_sockets(a, b), FlowKey::from_sockets(b, a));
        let c: SocketAddr = "192.0.2.10:50001".parse().unwrap();
        assert_ne!(FlowKey::from_sockets(a, b), FlowKey::from_sockets(c, b));
    }
}
