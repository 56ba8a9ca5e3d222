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
/// id; legacy: hash of the entries without counters).
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
    /// Per chain: (rule index, chain index) of each jump or goto.
    jumps: Vec<Vec<(usize, usize)>>,
    /// Chains a moving jump led into on the last poll.
    entered_last: Vec<usize>,
    counters: Counters,
    polls_since_full: u32,
}

/// What is remembered of a legacy table between polls.
#[derive(Default)]
struct LegacyState {
    hash: u64,
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

    /// Reads one table. `full`: every chain, whatever moved.
    pub fn read(&mut self, table: &str, backend: Backend, full: bool) -> Result<Read, ReadError> {
        match backend {
            Backend::Nft => self.read_nft(table, full),
            Backend::Legacy => self.read_legacy(table),
        }
    }

    fn read_legacy(&mut self, table: &str) -> Result<Read, ReadError> {
        let sock = match &mut self.legacy {
            Ok(s) => s,
            Err(m) => return Err(io::Error::other(m.clone()).into()),
        };
        let hash = sock.read(table, &mut self.legacy_table)?;
        let lt = &self.legacy_table;
        let st = self.legacy_state.entry(table.to_string()).or_default();
        if st.hash != hash || st.chains.len() != lt.chains.len() {
            st.hash = hash;
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
        Ok(Read {
            counters: Arc::new(Counters {
                names: st.names.clone(),
                chains,
            }),
            stamp: hash,
        })
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
            let names: Vec<String> = chains.iter().map(|c| c.name.clone()).collect();
            let index: HashMap<String, usize> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i))
                .collect();
            let mut counters = Vec::with_capacity(chains.len());
            let mut jumps = Vec::with_capacity(chains.len());
            for c in &chains {
                sock.dump_gen = None;
                sock.rules(family, table, &c.name, &mut self.rules)?;
                if !same(sock) {
                    return Err(ReadError::Changed);
                }
                jumps.push(
                    self.rules
                        .iter()
                        .enumerate()
                        .filter_map(|(i, r)| Some((i, *index.get(r.jump.as_deref()?)?)))
                        .collect(),
                );
                counters.push(KernelChain {
                    policy: c.policy,
                    rules: Arc::new(self.rules.iter().map(|r| r.counter).collect()),
                });
            }
            st.base = chains
                .iter()
                .enumerate()
                .filter(|(_, c)| c.policy.is_some())
                .map(|(i, _)| i)
                .collect();
            st.names = names;
            st.jumps = jumps;
            st.entered_last.clear();
            st.counters = Counters {
                names: Arc::new(index),
                chains: counters,
            };
            st.polls_since_full = 0;
        } else {
            // Packets reach a user chain only through a jump whose counter moves: read
            // the base chains, then every chain such a jump leads into, this poll or
            // the last (a packet may count on the jump before the read and in the chain
            // after it).
            st.polls_since_full += 1;
            let n = st.names.len();
            let mut queued = vec![false; n];
            let mut queue: Vec<usize> = Vec::new();
            for &i in st.base.iter().chain(&st.entered_last) {
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
