//! Flow keys and the keyed fast hasher of the tracker's tables.

use std::hash::{BuildHasher, Hash, Hasher};
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

/// A fast hasher keyed with random words drawn once per process, for tables whose keys come
/// off the wire. Each word is mixed by a folded 64×64→128-bit multiply with a secret key (the
/// construction of foldhash and aHash's fallback), so every input bit reaches every output bit
/// and an outsider who does not know the keys cannot aim many keys at one bucket. An unkeyed
/// hash with a fixed seed let one client's ports all land in one probe sequence: the table
/// went quadratic (docs/threat-model.md).
#[derive(Clone, Copy)]
pub struct KeyedHasher {
    hash: u64,
    key: u64,
}

/// The process's hash keys: drawn from the standard library's per-process random source.
fn process_keys() -> [u64; 2] {
    static KEYS: std::sync::OnceLock<[u64; 2]> = std::sync::OnceLock::new();
    *KEYS.get_or_init(|| {
        let random = std::collections::hash_map::RandomState::new();
        // Odd multiplier keys: a zero key would fold every word to zero.
        [
            random.hash_one(0x6d61_696c_u64) | 1,
            random.hash_one(0x7075_6c73_u64),
        ]
    })
}

/// The 128-bit product of `a` and `b`, high and low halves folded together.
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

impl KeyedHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = folded_multiply(self.hash ^ word, self.key);
    }
}

impl Hasher for KeyedHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length keeps "ab" and "ab\0" apart.
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
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
        // One more fold so the last word's bits reach the low bits the table indexes by.
        folded_multiply(self.hash, self.key.rotate_left(32) | 1)
    }
}

/// `BuildHasher` for `HashMap`s keyed by flows, addresses and names seen on the wire.
#[derive(Clone, Copy)]
pub struct KeyedBuildHasher {
    keys: [u64; 2],
}

impl Default for KeyedBuildHasher {
    fn default() -> Self {
        Self {
            keys: process_keys(),
        }
    }
}

impl BuildHasher for KeyedBuildHasher {
    type Hasher = KeyedHasher;

    #[inline]
    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher {
            hash: self.keys[1],
            key: self.keys[0],
        }
    }
}

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

    /// Slots visited to insert `keys` into an open-addressing table indexed by the hash's low
    /// bits (as the standard `HashMap` indexes), sized for them at 7/8 load; stops counting
    /// past `limit`. Work, not time: a hash that drops a varying field from its low bits sends
    /// every key down one probe sequence and the count grows with the square of the keys.
    fn probe_work(keys: &[FlowKey], limit: u64) -> u64 {
        let hasher = KeyedBuildHasher::default();
        let buckets = (keys.len() * 8 / 7).next_power_of_two();
        let mask = buckets - 1;
        let mut used = vec![false; buckets];
        let mut work = 0u64;
        for key in keys {
            let mut pos = hasher.hash_one(key) as usize & mask;
            work += 1;
            while used[pos] {
                pos = (pos + 1) & mask;
                work += 1;
                if work > limit {
                    return work;
                }
            }
            used[pos] = true;
        }
        work
    }

    /// One client opening many connections to one server, with the client's address below
    /// and above the server's (the key's canonical order puts its port first or second).
    #[test]
    fn one_clients_many_ports_spread_over_the_table() {
        const FLOWS: u16 = 20_000;
        let server: SocketAddr = "192.0.2.25:993".parse().unwrap();
        for client in ["10.0.0.5", "198.51.100.7", "fd00::5", "2001:db8::7"] {
            let client: IpAddr = client.parse().unwrap();
            let server = match client {
                IpAddr::V4(_) => server,
                IpAddr::V6(_) => "[2001:db8:1::25]:993".parse().unwrap(),
            };
            let keys: Vec<FlowKey> = (0..FLOWS)
                .map(|i| FlowKey::from_sockets(SocketAddr::new(client, 20_000 + i), server))
                .collect();
            let limit = 8 * u64::from(FLOWS);
            let work = probe_work(&keys, limit);
            // A uniform hash at 7/8 load averages about 4.5 slots per insert with linear
            // probing; a degenerate one needs thousands.
            assert!(
                work <= limit,
                "{client}: {work}+ slots visited for {FLOWS} inserts"
            );
        }
    }

    #[test]
    fn the_keyed_hasher_separates_nearby_words_and_tails() {
        let build = KeyedBuildHasher::default();
        let hash = |bytes: &[u8]| {
            let mut h = build.build_hasher();
            h.write(bytes);
            h.finish()
        };
        assert_ne!(hash(b"ab"), hash(b"ab\0"));
        assert_ne!(hash(b"abcdefgh"), hash(b"abcdefgi"));
        // Low bits, which the table indexes by, differ for consecutive ports.
        let low: std::collections::HashSet<u64> = (0..256u64)
            .map(|p| build.hash_one(p << 32) & 0xff)
            .collect();
        assert!(low.len() > 128, "{} distinct low bytes of 256", low.len());
    }
}
