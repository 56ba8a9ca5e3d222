//! The kernel reads of one poll, run off the async runtime: per (table, back end) the
//! counters of every chain, fully or only where packets can have gone since the last
//! poll (nft), with the stamp that says which rule set they belong to.

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use super::legacy::{LegacySocket, LegacyTable};
use super::nft::{NftSocket, RuleInfo};
use super::request;
use crate::model::{Backend, Counter};

/// The counters of one chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelChain {
    /// Built-in (base) chains: the policy counters.
    pub policy: Option<Counter>,
    pub rules: Arc<Vec<Counter>>,
}

/// The counters of one table as the kernel holds them, by chain name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub names: Arc<HashMap<String, usize>>,
    pub chains: Vec<KernelChain>,
}

/// Why a read gave no counters.
#[derive(Debug)]
pub enum ReadError {
    /// The rule set changed while it was read: list it again.
    Changed,
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// A read: the counters and the stamp of the rule set they come from (nft: generation
/// id; legacy: a number that changes whenever the entries without counters do).
pub struct Read {
    pub counters: Arc<Counters>,
    pub stamp: u64,
}

/// What is remembered of an nft table between polls.
#[derive(Default)]
struct NftState {
    generation: u32,
    names: Vec<String>,
    base: Vec<usize>,
    /// Per chain: (rule index, chain index) of each jump or goto behind a counter.
    jumps: Vec<Vec<(usize, usize)>>,
    /// Chains packets can enter without moving a counter iptop reads (a jump without a
    /// counter, a verdict map): read on every poll, like the base chains.
    always: Vec<usize>,
    /// Chains a moving jump led into on the last poll.
    entered_last: Vec<usize>,
    counters: Counters,
    polls_since_full: u32,
}

/// What is remembered of a legacy table between polls.
#[derive(Default)]
struct LegacyState {
    /// The entries of the last read, counters zeroed, and the stamp given to them.
    entries: Vec<u8>,
    stamp: u64,
    names: Arc<HashMap<String, usize>>,
    /// The counters of the last read: a chain that did not move keeps its `Arc`.
    chains: Vec<KernelChain>,
}

/// The sockets, made inside the target namespace, and the state of each table read.
pub struct Reader {
    ipv6: bool,
    nft: Result<NftSocket, String>,
    legacy: Result<LegacySocket, String>,
    nft_state: HashMap<String, NftState>,
    legacy_state: HashMap<String, LegacyState>,
    /// A selective nft read at most this many polls after a full one.
    pub full_every: u32,
    rules: Vec<RuleInfo>,
    legacy_table: LegacyTable,
    /// The last legacy stamp given out: each new rule set gets the next one.
    legacy_stamps: u64,
}

impl LegacyState {
    /// Takes the entries of a read (counters zeroed): true, with a stamp never given
    /// before, when they differ in any byte from the last read's. Compared whole: a
    /// hash of them can be steered by a rule's own comment into keeping its value.
    fn update(&mut self, entries: &[u8], stamps: &mut u64) -> bool {
        if self.stamp != 0 && self.entries == entries {
            return false;
        }
        *stamps += 1;
        self.stamp = *stamps;
        self.entries.clear();
        self.entries.extend_from_slice(entries);
        true
    }
}

impl Reader {
    /// Opens both sockets from a thread that entered `netns` (iptop itself stays where
    /// it is); a socket stays in the namespace it was made in.
    pub fn open(netns: Option<&OwnedFd>, ipv6: bool) -> Reader {
        let (nft, legacy) = std::thread::scope(|s| {
            s.spawn(|| {
                if let Some(fd) = netns
                    && let Err(e) = nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)
                {
                    let m = format!("cannot enter the network namespace: {e}");
                    return (Err(m.clone()), Err(m));
                }
                (
                    NftSocket::open().map_err(|e| format!("netlink socket: {e}")),
                    LegacySocket::open(ipv6).map_err(|e| format!("raw socket: {e}")),
                )
            })
            .join()
            .unwrap_or_else(|_| {
                (
                    Err("socket thread failed".into()),
                    Err("socket thread failed".into()),
                )
            })
        });
        Reader {
            ipv6,
            nft,
            legacy,
            nft_state: HashMap::new(),
            legacy_state: HashMap::new(),
            full_every: 20,
            rules: Vec::new(),
            legacy_table: LegacyTable::default(),
            legacy_stamps: 0,
        }
    }

    /// Why counters of `backend` cannot be read here (None: they can).
    pub fn unavailable(&self, backend: Backend) -> Option<&str> {
        match backend {
            Backend::Nft => self.nft.as_ref().err().map(String::as_str),
            Backend::Legacy => self.legacy.as_ref().err().map(String::as_str),
        }
    }

    /// Checks that nftables answers (the generation id): iptop may read it here.
    pub fn probe_nft(&mut self) -> Result<(), String> {
        match self.generation() {
            Ok(_) => Ok(()),
            Err(e) => {
                let m = format!("nftables generation id: {e}");
                self.nft = Err(m.clone());
                Err(m)
            }
        }
    }

    pub fn generation(&mut self) -> io::Result<u32> {
        match &mut self.nft {
            Ok(s) => s.generation(),
            Err(m) => Err(io::Error::other(m.clone())),
        }
    }

    /// The chains of an nftables table with their use counts, and the generation id
    /// after them (one message a chain: no rule is read).
    pub fn chain_uses(&mut self, table: &str) -> io::Result<(Vec<super::nft::ChainInfo>, u32)> {
        let family = request::family(self.ipv6);
        let sock = match &mut self.nft {
            Ok(s) => s,
            Err(m) => return Err(io::Error::other(m.clone())),
        };
        let chains = sock.chains(family, table)?;
        Ok((chains, sock.generation()?))
    }

    /// An x_tables table's info, without its entries (the table must exist).
    pub fn legacy_info(&mut self, table: &str) -> io::Result<super::quick::TableInfo> {
        match &self.legacy {
            Ok(s) => s.info(table),
            Err(m) => Err(io::Error::other(m.clone())),
        }
    }

    /// Reads one table. `full`: every chain, whatever moved.
    pub fn read(&mut self, table: &str, backend: Backend, full: bool) -> Result<Read, ReadError> {
        match backend {
            Backend::Nft => self.read_nft(table, full),
            Backend::Legacy => self.read_legacy(table, false).map(|(read, _)| read),
        }
    }

    /// Reads a legacy table like [`Reader::read`] and writes its listing from the same
    /// entries ([`super::legacy_text`]): the text, or why iptables must list it.
    pub fn read_legacy_text(
        &mut self,
        table: &str,
    ) -> Result<(Read, Result<String, super::legacy_text::Unsupported>), ReadError> {
        let (read, text) = self.read_legacy(table, true)?;
        let text = text.unwrap_or_else(|| {
            Err(super::legacy_text::Unsupported(
                "no listing was written".into(),
            ))
        });
        Ok((read, text))
    }

    /// A legacy table built from one read of its entries, nothing kept, no listing
    /// written; or why iptables must list it.
    pub fn legacy_table(
        &mut self,
        table: &str,
    ) -> io::Result<Result<crate::model::FirewallTable, super::legacy_text::Unsupported>> {
        match &mut self.legacy {
            Ok(s) => s.read_table(table),
            Err(m) => Err(io::Error::other(m.clone())),
        }
    }

    /// The listing of an nftables table iptables-nft made, written from its chains and
    /// rules ([`super::nft_text`]), with the generation it was read at; or why
    /// iptables-nft must list it.
    pub fn nft_text(
        &mut self,
        table: &str,
    ) -> io::Result<Result<(String, u32), super::legacy_text::Unsupported>> {
        match &mut self.nft {
            Ok(s) => super::nft_text::write(s, table, self.ipv6, None),
            Err(m) => Err(io::Error::other(m.clone())),
        }
    }

    /// [`Reader::nft_text`], and the full read of its counters from the same messages
    /// (what [`Reader::read`] would read next, at the same generation), remembered as
    /// `read` remembers a full read: the next polls read selectively from it.
    pub fn nft_text_read(
        &mut self,
        table: &str,
    ) -> io::Result<Result<(String, Read), super::legacy_text::Unsupported>> {
        let sock = match &mut self.nft {
            Ok(s) => s,
            Err(m) => return Err(io::Error::other(m.clone())),
        };
        let mut seen = super::nft_text::Seen::default();
        let (text, generation) =
            match super::nft_text::write(sock, table, self.ipv6, Some(&mut seen))? {
                Ok(w) => w,
                Err(e) => return Ok(Err(e)),
            };
        let st = self.nft_state.entry(table.to_string()).or_default();
        let mut read = Full::new(&seen.chains);
        for rules in &seen.rules {
            read.chain(rules);
        }
        read.install(st, &seen.chains);
        st.generation = generation;
        let read = Read {
            counters: Arc::new(st.counters.clone()),
            stamp: u64::from(generation),
        };
        Ok(Ok((text, read)))
    }

    /// A legacy read; `text`: with the listing written from its entries.
    fn read_legacy(
        &mut self,
        table: &str,
        text: bool,
    ) -> Result<
        (
            Read,
            Option<Result<String, super::legacy_text::Unsupported>>,
        ),
        ReadError,
    > {
        let sock = match &mut self.legacy {
            Ok(s) => s,
            Err(m) => return Err(io::Error::other(m.clone()).into()),
        };
        let written = sock.read(table, &mut self.legacy_table, text)?;
        let lt = &self.legacy_table;
        let st = self.legacy_state.entry(table.to_string()).or_default();
        if st.update(sock.entries(), &mut self.legacy_stamps) || st.chains.len() != lt.chains.len()
        {
            st.names = Arc::new(
                lt.chains
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (sock.name(c), i))
                    .collect(),
            );
            st.chains.clear();
        }
        let chains: Vec<KernelChain> = lt
            .chains
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let now = &lt.counters[c.rules.clone()];
                let rules = match st.chains.get(i) {
                    Some(p) if p.rules[..] == *now => p.rules.clone(),
                    _ => Arc::new(now.to_vec()),
                };
                KernelChain {
                    policy: c.policy,
                    rules,
                }
            })
            .collect();
        st.chains.clone_from(&chains);
        let read = Read {
            counters: Arc::new(Counters {
                names: st.names.clone(),
                chains,
            }),
            stamp: st.stamp,
        };
        Ok((read, written))
    }

    fn read_nft(&mut self, table: &str, full: bool) -> Result<Read, ReadError> {
        let family = request::family(self.ipv6);
        let sock = match &mut self.nft {
            Ok(s) => s,
            Err(m) => return Err(io::Error::other(m.clone()).into()),
        };
        let g0 = sock.generation()?;
        let st = self.nft_state.entry(table.to_string()).or_default();
        let same = |s: &NftSocket| s.dump_gen.is_none_or(|g| g == g0 as u16);
        let full = full
            || st.generation != g0
            || st.counters.chains.is_empty()
            || st.polls_since_full + 1 >= self.full_every;
        if full {
            let chains = sock.chains(family, table)?;
            let mut read = Full::new(&chains);
            for c in &chains {
                sock.dump_gen = None;
                sock.rules(family, table, &c.name, &mut self.rules)?;
                if !same(sock) {
                    return Err(ReadError::Changed);
                }
                read.chain(&self.rules);
            }
            read.install(st, &chains);
        } else {
            // Packets reach a user chain through a jump whose counter moves, or some way
            // no counter tells ([`NftState::always`]): read the base chains and those,
            // then every chain a moving jump leads into, this poll or the last (a packet
            // may count on the jump before the read and in the chain after it).
            st.polls_since_full += 1;
            let n = st.names.len();
            let mut queued = vec![false; n];
            let mut queue: Vec<usize> = Vec::new();
            for &i in st.base.iter().chain(&st.always).chain(&st.entered_last) {
                if !queued[i] {
                    queued[i] = true;
                    queue.push(i);
                }
            }
            let mut entered = Vec::new();
            let mut q = 0;
            while q < queue.len() {
                let ci = queue[q];
                q += 1;
                let name = &st.names[ci];
                let policy = if st.counters.chains[ci].policy.is_some() {
                    match sock.chain(family, table, name)? {
                        Some(c) => c.policy,
                        None => return Err(ReadError::Changed),
                    }
                } else {
                    None
                };
                sock.dump_gen = None;
                sock.rules(family, table, name, &mut self.rules)?;
                if !same(sock) || self.rules.len() != st.counters.chains[ci].rules.len() {
                    return Err(ReadError::Changed);
                }
                let old = &st.counters.chains[ci].rules;
                for &(ri, target) in &st.jumps[ci] {
                    if self.rules[ri].counter != old[ri] {
                        entered.push(target);
                        if !queued[target] {
                            queued[target] = true;
                            queue.push(target);
                        }
                    }
                }
                let new: Vec<Counter> = self.rules.iter().map(|r| r.counter).collect();
                let kc = &mut st.counters.chains[ci];
                if *kc.rules != new {
                    kc.rules = Arc::new(new);
                }
                kc.policy = policy;
            }
            entered.sort_unstable();
            entered.dedup();
            st.entered_last = entered;
        }
        if sock.generation()? != g0 {
            st.generation = 0;
            st.counters.chains.clear();
            return Err(ReadError::Changed);
        }
        st.generation = g0;
        Ok(Read {
            counters: Arc::new(st.counters.clone()),
            stamp: u64::from(g0),
        })
    }

    /// Forgets what is remembered of `table` (it is listed again).
    pub fn forget(&mut self, table: &str) {
        self.nft_state.remove(table);
        self.legacy_state.remove(table);
    }
}

/// A full read of an nft table put together chain by chain, in the kernel's order: each
/// chain's counters and its counted jumps.
struct Full {
    index: HashMap<String, usize>,
    counters: Vec<KernelChain>,
    jumps: Vec<Vec<(usize, usize)>>,
}

impl Full {
    fn new(chains: &[super::nft::ChainInfo]) -> Full {
        Full {
            index: chains
                .iter()
                .enumerate()
                .map(|(i, c)| (c.name.clone(), i))
                .collect(),
            counters: Vec::with_capacity(chains.len()),
            jumps: Vec::with_capacity(chains.len()),
        }
    }

    /// The next chain's rules (policy counters come with [`Full::install`]).
    fn chain(&mut self, rules: &[super::nft::RuleInfo]) {
        self.jumps.push(
            rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.jump_counted)
                .filter_map(|(i, r)| Some((i, *self.index.get(r.jump.as_deref()?)?)))
                .collect(),
        );
        self.counters.push(KernelChain {
            policy: None,
            rules: Arc::new(rules.iter().map(|r| r.counter).collect()),
        });
    }

    /// Makes `st` this read's: the base chains, the chains entered some way no counter
    /// tells, the counters.
    fn install(mut self, st: &mut NftState, chains: &[super::nft::ChainInfo]) {
        for (k, c) in self.counters.iter_mut().zip(chains) {
            k.policy = c.policy;
        }
        st.base = chains
            .iter()
            .enumerate()
            .filter(|(_, c)| c.policy.is_some())
            .map(|(i, _)| i)
            .collect();
        // a chain the kernel holds more references to than the counted jumps into
        // it is entered some other way: a jump without a counter, a verdict map
        let mut counted = vec![0u32; chains.len()];
        for &(_, target) in self.jumps.iter().flatten() {
            counted[target] += 1;
        }
        let sizes: Vec<u32> = self.counters.iter().map(|k| k.rules.len() as u32).collect();
        let own = own_rules_in_use(chains, &sizes);
        st.always = chains
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                c.policy.is_none()
                    && !match own {
                        Some(true) => c.uses == Some(counted[*i] + sizes[*i]),
                        Some(false) => c.uses == Some(counted[*i]),
                        None => {
                            c.uses == Some(counted[*i]) || c.uses == Some(counted[*i] + sizes[*i])
                        }
                    }
            })
            .map(|(i, _)| i)
            .collect();
        st.names = chains.iter().map(|c| c.name.clone()).collect();
        st.jumps = self.jumps;
        st.entered_last.clear();
        st.counters = Counters {
            names: Arc::new(self.index),
            chains: self.counters,
        };
        st.polls_since_full = 0;
    }
}

/// Whether a chain's use count counts its own rules besides the jumps into it (Linux
/// 6.5 and the stable kernels it was backported to do), told by the base chains: nothing
/// jumps to them, so theirs is their rule count or zero. None: no base chain has rules.
fn own_rules_in_use(chains: &[super::nft::ChainInfo], sizes: &[u32]) -> Option<bool> {
    chains
        .iter()
        .zip(sizes)
        .find(|(c, n)| c.policy.is_some() && **n > 0 && c.uses.is_some())
        .map(|(c, n)| c.uses == Some(*n))
}

#[cfg(test)]
mod tests {
    use super::super::legacy::walk_v4;
    use super::*;

    /// An x_tables entry (IPv4): `match_area` bytes of matches, then the target.
    fn entry(out: &mut Vec<u8>, matches: &[u8], target: &str, data: &[u8], packets: u64) {
        let toff = 112 + matches.len();
        let tlen = (32 + data.len()).next_multiple_of(8);
        let mut e = vec![0u8; toff + tlen];
        e[88..90].copy_from_slice(&(toff as u16).to_ne_bytes());
        e[90..92].copy_from_slice(&((toff + tlen) as u16).to_ne_bytes());
        e[96..104].copy_from_slice(&packets.to_ne_bytes());
        e[112..toff].copy_from_slice(matches);
        e[toff..toff + 2].copy_from_slice(&(tlen as u16).to_ne_bytes());
        e[toff + 2..toff + 2 + target.len()].copy_from_slice(target.as_bytes());
        e[toff + 32..toff + 32 + data.len()].copy_from_slice(data);
        out.extend_from_slice(&e);
    }

    /// User chain C with one rule whose matches (a comment, say) are `matches`.
    fn table(matches: &[u8; 64]) -> Vec<u8> {
        let mut b = Vec::new();
        entry(&mut b, &[], "ERROR", &[b'C'; 1], 0);
        entry(&mut b, matches, "", &[0; 4], 7);
        entry(&mut b, &[], "", &[0; 4], 0);
        entry(&mut b, &[], "ERROR", b"ERROR", 0);
        b
    }

    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn word(c: &[u8]) -> u64 {
        u64::from_ne_bytes(c.try_into().expect("8 bytes"))
    }

    /// The four lanes of the old change hash after `chunks` chunks of 32 bytes.
    fn old_lanes(b: &[u8], chunks: usize) -> [u64; 4] {
        let mut h = [1u64, 2, 3, 4];
        for c in b.chunks_exact(32).take(chunks) {
            for (i, h) in h.iter_mut().enumerate() {
                *h = (h.rotate_left(5) ^ word(&c[i * 8..i * 8 + 8])).wrapping_mul(K);
            }
        }
        h
    }

    /// The change hash iptop used before: FxHash-style lanes per entry, chained.
    fn old_hash(entries: &[u8]) -> u64 {
        let hash_bytes = |b: &[u8]| {
            let h = old_lanes(b, usize::MAX);
            let mut x = h[0] ^ h[1].rotate_left(16) ^ h[2].rotate_left(32) ^ h[3].rotate_left(48);
            for &v in b.chunks_exact(32).remainder() {
                x = (x.rotate_left(5) ^ u64::from(v)).wrapping_mul(K);
            }
            (x.rotate_left(5) ^ b.len() as u64).wrapping_mul(K)
        };
        let mut hash = entries.len() as u64;
        let mut o = 0;
        while o < entries.len() {
            let next = u16::from_ne_bytes([entries[o + 90], entries[o + 91]]) as usize;
            hash = hash_bytes(&entries[o..o + next])
                ^ hash.rotate_left(7).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            o += next;
        }
        hash
    }

    /// A replaced rule whose comment carries one solved 8-byte word keeps the old hash;
    /// the entries compared whole still tell the change.
    #[test]
    fn a_replacement_steered_to_the_old_hash_is_seen() {
        let old_rule = *b"ok, an innocent comment ........................................";
        let mut new_rule = old_rule;
        // the new rule's text: a changed word at offset 120 of its entry (lane 3 of
        // chunk 3); the word of the same lane in the next chunk (offset 152) solved
        new_rule[8..16].copy_from_slice(b"DROP ALL");
        let (a, b) = (table(&old_rule), table(&new_rule));
        // the rule entry follows the chain's head entry
        let rule_at = u16::from_ne_bytes([a[90], a[91]]) as usize;
        let lane = |t: &[u8]| old_lanes(&t[rule_at..], 4)[3];
        let w = word(&a[rule_at + 152..rule_at + 160])
            ^ lane(&a).rotate_left(5)
            ^ lane(&b).rotate_left(5);
        new_rule[40..48].copy_from_slice(&w.to_ne_bytes());
        let b = table(&new_rule);

        let read = |mut t: Vec<u8>| {
            let mut lt = LegacyTable::default();
            walk_v4(&mut t, &mut lt).expect("well formed");
            assert_eq!(lt.chains.len(), 1);
            assert_eq!(lt.chains[0].rules, 0..1, "one rule");
            assert_eq!(lt.counters[0].packets, 7);
            t
        };
        let (a, b) = (read(a), read(b));
        assert_ne!(a, b, "the rule changed");
        assert_eq!(old_hash(&a), old_hash(&b), "the old hash did not see it");

        let mut st = LegacyState::default();
        let mut stamps = 0;
        assert!(st.update(&a, &mut stamps), "the first read is new");
        let first = st.stamp;
        assert!(!st.update(&a, &mut stamps), "the same entries: no re-list");
        assert_eq!(st.stamp, first);
        assert!(
            st.update(&b, &mut stamps),
            "the replaced rule triggers a re-list"
        );
        assert_ne!(st.stamp, first);
        // a state forgotten and made again never gives out an old stamp
        let mut again = LegacyState::default();
        again.update(&a, &mut stamps);
        assert!(again.stamp != first && again.stamp != st.stamp);
    }
}
