//! The hashes of rule identities: stable between runs (FNV-1a) for keys that are shown or
//! exported, and fast ones, keyed per run, for the maps keyed by them.

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

/// The keys of this process's maps, random in every run, so that the bucket a chain
/// name or a rule key lands in cannot be chosen by whoever writes the rules: a tenant
/// names the Services that kube-proxy's chains and comments quote, and keys that share
/// a bucket make every lookup walk past each other (tens of thousands of them a poll).
fn keys() -> [u64; 2] {
    static KEYS: std::sync::OnceLock<[u64; 2]> = std::sync::OnceLock::new();
    *KEYS.get_or_init(|| {
        use std::hash::BuildHasher;
        // std's own randomly keyed SipHash, asked once for two words
        let r = std::collections::hash_map::RandomState::new();
        [r.hash_one(1u64), r.hash_one(2u64) | 1]
    })
}

/// The high and low halves of a 128-bit product folded together: every bit of either
/// factor reaches the low bits, which choose a map's bucket.
#[inline]
fn fold(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A map hasher keyed per run (a random key drawn once): each word goes through a folded
/// multiplication with the key (foldhash's step), so that which keys collide depends on
/// a key nobody outside the process knows. About as fast as the FxHash step it replaced
/// (one multiplication a word), several times faster than `std`'s SipHash.
#[derive(Debug, Clone, Copy)]
pub struct KeyedHasher {
    state: u64,
    key: u64,
}

impl KeyedHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.state = fold(self.state ^ w, self.key);
    }
}

impl Hasher for KeyedHasher {
    /// The state with its high bits folded onto the low ones (MurmurHash3's finish): a
    /// folded multiplication leaves the low bits of keys that differ only in their high
    /// bits alike for one key in several, and the low bits choose the bucket.
    #[inline]
    fn finish(&self) -> u64 {
        let mut x = self.state;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^ (x >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // the length in the top byte: "a\0" and "a" differ
            w[7] = rest.len() as u8;
            self.add(u64::from_le_bytes(w));
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

/// The builder of [`KeyedHasher`]s, for every map keyed by what the rules' authors
/// shape: the chain index (names) and the maps keyed by a hash already (rule keys, node
/// ids). A rule key is a hash of text a comment can shape, so used as it is it would
/// let the comment choose the bucket.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyedBuild;

impl std::hash::BuildHasher for KeyedBuild {
    type Hasher = KeyedHasher;
    fn build_hasher(&self) -> KeyedHasher {
        let [state, key] = keys();
        KeyedHasher { state, key }
    }
}

/// A map keyed by a hash.
pub type IdMap<V> = HashMap<u64, V, KeyedBuild>;

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

/// Each rule's identity within its chain: the hash of its text and how many rules before
/// it have the same text ([`super::Rule::key`], [`super::Rule::occurrence`]).
pub fn assign_keys(rules: &mut [super::Rule]) {
    /// Chains up to this many rules (nearly all) count the texts seen in a list, longer
    /// ones in a map (the keys are hashes already).
    const FEW: usize = 16;
    let mut few = [(0u64, 0u32); FEW];
    let mut k = 0;
    let mut many: Option<IdMap<u32>> =
        (rules.len() > FEW).then(|| IdMap::with_capacity_and_hasher(rules.len(), KeyedBuild));
    for r in rules.iter_mut() {
        let h = r.spec.stable_hash();
        let n = match &mut many {
            Some(m) => m.entry(h).or_insert(0),
            None => {
                let i = few[..k]
                    .iter()
                    .position(|(x, _)| *x == h)
                    .unwrap_or_else(|| {
                        few[k] = (h, 0);
                        k += 1;
                        k - 1
                    });
                &mut few[i].1
            }
        };
        r.occurrence = *n;
        r.key = mix(h, u64::from(*n));
        *n += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;

    /// How many of 4096 hashes' low 12 bits (a 4096-bucket map's index) are distinct: a
    /// random hash gives about 2590, keys that all choose one bucket give 1.
    fn buckets(hashes: impl Iterator<Item = u64>) -> usize {
        hashes.map(|h| h & 0xfff).collect::<HashSet<_>>().len()
    }

    /// Hashers with 300 keys (a run draws one at random: each must spread), and the
    /// run's own.
    fn hashers() -> impl Iterator<Item = KeyedHasher> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let drawn: Vec<KeyedHasher> = (0..300)
            .map(|_| KeyedHasher {
                state: next(),
                key: next() | 1,
            })
            .collect();
        drawn.into_iter().chain([KeyedBuild.build_hasher()])
    }

    fn hash_with<T: std::hash::Hash + ?Sized>(h: KeyedHasher, v: &T) -> u64 {
        let mut h = h;
        v.hash(&mut h);
        h.finish()
    }

    #[test]
    fn rule_keys_alike_in_their_low_bits_spread_over_the_buckets() {
        // keys a comment was shaped for: their low 32 bits the same (a map that used a
        // key as its own hash put all of them in one bucket)
        for h in hashers() {
            let keys = (0..4096u64).map(|k| (k << 32) | 0x1234_5678);
            let n = buckets(keys.map(|k| hash_with(h, &k)));
            assert!(n > 2400, "{n} buckets of 4096 with {h:?}");
        }
    }

    #[test]
    fn chain_names_alike_but_for_their_last_bytes_spread_over_the_buckets() {
        // names that differ only where a word's high byte is (FxHash, unkeyed, left the
        // low bits of such words' hash alike whatever they held)
        const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let names: Vec<String> = (0..4096usize)
            .map(|i| {
                let (a, b) = (char::from(ABC[i % 64]), char::from(ABC[i / 64]));
                // 16 bytes: the two that differ are the high bytes of the second word
                format!("KUBE-SVC-ABCDE{a}{b}")
            })
            .collect();
        assert_eq!(names.iter().collect::<HashSet<_>>().len(), 4096);
        for h in hashers() {
            let n = buckets(names.iter().map(|s| hash_with(h, s.as_str())));
            assert!(n > 2400, "{n} buckets of 4096 with {h:?}");
        }
    }

    #[test]
    fn the_hash_is_the_same_within_a_run_and_tells_texts_apart() {
        assert_eq!(
            KeyedBuild.hash_one("KUBE-SERVICES"),
            KeyedBuild.hash_one("KUBE-SERVICES")
        );
        assert_eq!(KeyedBuild.hash_one(7u64), KeyedBuild.hash_one(7u64));
        // the same bytes in other pieces, and a text with a trailing zero byte
        let words = |parts: &[&[u8]]| {
            let mut h = KeyedBuild.build_hasher();
            for p in parts {
                h.write(p);
            }
            h.finish()
        };
        assert_ne!(words(&[b"a"]), words(&[b"a\0"]));
        assert_ne!(KeyedBuild.hash_one("ab"), KeyedBuild.hash_one("ba"));
        assert_ne!(KeyedBuild.hash_one(1u64), KeyedBuild.hash_one(2u64));
    }

    #[test]
    fn keys_count_the_same_texts_before_each_rule_in_short_and_long_chains() {
        use crate::model::{Rule, RuleSpec};
        use std::sync::Arc;
        for n in [0usize, 1, 3, 16, 17, 40] {
            // texts repeated in a pattern: a few alike, most not
            let mut rules: Vec<Rule> = (0..n)
                .map(|i| Rule {
                    num: i as u32 + 1,
                    spec: Arc::new(RuleSpec {
                        target: ["ACCEPT", "DROP", "KUBE-MARK-MASQ"][i % 3].into(),
                        extra: format!("rule {}", i % 5).into(),
                        ..RuleSpec::default()
                    }),
                    occurrence: 9,
                    key: 0,
                    jump: None,
                    native: None,
                })
                .collect();
            assign_keys(&mut rules);
            for (i, r) in rules.iter().enumerate() {
                let before = rules[..i].iter().filter(|o| o.spec == r.spec).count();
                assert_eq!(r.occurrence as usize, before, "rule {i} of {n}");
                assert_eq!(r.key, mix(r.spec.stable_hash(), before as u64));
            }
            let keys: std::collections::HashSet<u64> = rules.iter().map(|r| r.key).collect();
            assert_eq!(keys.len(), n, "keys of {n} rules");
        }
    }
}
