//! The hashes of rule identities: stable between runs (FNV-1a) for keys that are shown or
//! exported, and fast ones for the maps keyed by them.

use std::collections::HashMap;
use std::hash::Hasher;

/// FNV-1a: a fixed, fast hash so that rule identities are stable between runs
/// (collapse state and exported keys) and cheap for short strings.
#[derive(Debug, Clone, Copy)]
pub struct StableHasher(u64);

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// FxHash (rustc's): a fast hasher for the chain index, whose keys are not hostile
/// enough to need SipHash's protection (a listing has at most tens of thousands).
#[derive(Debug, Clone, Copy, Default)]
pub struct FxBuild;

#[derive(Debug, Clone, Copy, Default)]
pub struct FxHasher(u64);

impl std::hash::BuildHasher for FxBuild {
    type Hasher = FxHasher;
    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }

    fn write_u8(&mut self, v: u8) {
        self.add(u64::from(v));
    }

    fn write_usize(&mut self, v: usize) {
        self.add(v as u64);
    }
}

/// Keys that are already hashes (rule keys, node ids) need no more hashing.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdBuild;

#[derive(Debug, Clone, Copy, Default)]
pub struct IdHasher(u64);

impl std::hash::BuildHasher for IdBuild {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

/// A map keyed by a hash.
pub type IdMap<V> = HashMap<u64, V, IdBuild>;

/// Combines two hashes (order matters).
pub fn mix(a: u64, b: u64) -> u64 {
    let mut h = StableHasher(a);
    h.write(&b.to_le_bytes());
    // a final avalanche so that nearby inputs spread out
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

/// Hash of a string with [`StableHasher`].
pub fn hash_str(s: &str) -> u64 {
    let mut h = StableHasher::default();
    h.write(s.as_bytes());
    h.finish()
}
