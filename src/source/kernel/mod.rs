//! Counters straight from the kernel (`--source kernel`): nftables over netlink for
//! iptables-nft, `getsockopt` for iptables-legacy. The rule texts still come from
//! `iptables -L`, run only at the start and when the rule set changed (nft generation id,
//! entries of x_tables compared byte for byte), with the stamp checked around it; every other poll reads
//! only counters and maps them onto the listed rules by (chain, position).
//!
//! Strictly read-only: [`request`] is the only place a request is built, and it can
//! only build reads.

mod apply;
pub mod legacy;
pub mod legacy_text;
pub mod nft;
pub mod nft_native;
pub mod nft_text;
pub mod quick;
mod reader;
pub mod request;
mod shape;
pub mod spare;

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

pub use apply::apply;
pub use reader::{Counters, KernelChain, Reader};
use reader::{Read, ReadError};
pub use shape::{listing_shape, mismatch, parsed_mismatch};

use super::live::{BackendChoice, LiveSource, legacy_tables};
use super::{Failure, RawListing, RawPoll};
use crate::model::{Backend, FirewallTable};

/// How often the listing is tried again when the rule set changes while it is listed.
const ATTEMPTS: usize = 4;

/// The cached listings of one table, and the stamp each one's counters must carry.
struct Listed {
    listings: Vec<RawListing>,
    stamps: Vec<Option<u64>>,
}

pub struct KernelSource {
    live: Box<LiveSource>,
    reader: Option<Box<Reader>>,
    netns: Option<Arc<OwnedFd>>,
    choice: BackendChoice,
    ipv6: bool,
    /// `--source auto`: a listing whose chains do not match the kernel's falls back to
    /// the listing's own counters instead of failing.
    auto: bool,
    tables: Vec<String>,
    listed: HashMap<String, Listed>,
    /// (table, back end) read from the listing, not the kernel (auto only).
    fallback: Vec<(String, Backend)>,
    started: Instant,
    seq: u64,
    info: crate::model::SourceInfo,
    /// One poll and done (`--once` without a window): see [`KernelSource::once`].
    once: bool,
    /// The live view: big legacy tables read less often than polled ([`spare`]).
    spare: Option<spare::Spare>,
}

/// What is read of the kernel's rule set before a listing, to tell after it whether the
/// rule set changed while it was listed.
#[derive(Default)]
struct Before {
    generation: Option<u32>,
    legacy_stamp: Option<u64>,
    legacy_info: Option<quick::TableInfo>,
    /// The legacy listing written from the read that gave `legacy_stamp`, and how long
    /// the read and the writing took.
    legacy_text: Option<(String, std::time::Duration)>,
    /// That read's counters: the written listing's own, read no second time.
    legacy_read: Option<Read>,
    /// `--once`: the table built from one read of its entries (no listing written), and
    /// how long the read and the building took.
    legacy_built: Option<(FirewallTable, std::time::Duration)>,
    /// The nftables listing written from the table's chains and rules at `generation`,
    /// and how long that took.
    nft_text: Option<(String, std::time::Duration)>,
    /// That listing's counters, read from the same messages (not with `--once`).
    nft_read: Option<Read>,
}

/// One back end's part of a poll of a listed table: its counters read (with what
/// `GET_INFO` said just before, for a spared legacy table), or a spared table's rules
/// found standing still and nothing read; how long that took.
enum Got {
    Read(
        Result<Read, ReadError>,
        Option<quick::TableInfo>,
        std::time::Duration,
    ),
    Held(std::time::Duration),
}

/// The failures of a kernel read, for the listing it belongs to.
fn kernel_failure(l: &mut RawListing, e: &std::io::Error) {
    let detail = format!("reading the counters from the kernel: {e}");
    l.stderr = format!("{detail}\n");
    l.failure = Some(if e.raw_os_error() == Some(nix::libc::EPERM) {
        Failure::Denied(detail)
    } else {
        Failure::Kernel(detail)
    });
}

/// The table to put this poll's counters on: the previous poll's, when it was parsed
/// from the very same listing (nothing to parse again).
pub fn reuse(prev: Option<&FirewallTable>, l: &RawListing) -> Option<FirewallTable> {
    let p = prev?;
    l.kernel.as_ref()?;
    if !p
        .listing
        .as_ref()
        .is_some_and(|t| Arc::ptr_eq(t, &l.stdout))
    {
        return None;
    }
    let mut t = p.clone();
    t.same_rules_as_prev = true;
    t.share_callers(p);
    Some(t)
}

impl KernelSource {
    /// Wraps a live source: it lists the rule texts; the kernel gives the counters.
    /// `auto`: fall back to the listing (Err with why) when the kernel cannot be read.
    pub fn new(
        live: Box<LiveSource>,
        netns: Option<Arc<OwnedFd>>,
        choice: BackendChoice,
        ipv6: bool,
        auto: bool,
    ) -> Result<KernelSource, (Box<LiveSource>, String)> {
        let mut reader = Reader::open(netns.as_deref(), ipv6);
        let nft_ok = reader.probe_nft();
        let legacy_ok = reader.unavailable(Backend::Legacy).map(str::to_string);
        let usable = match choice {
            BackendChoice::Nft => nft_ok.clone().err(),
            BackendChoice::Legacy => legacy_ok.clone(),
            BackendChoice::Auto => nft_ok.clone().err().filter(|_| legacy_ok.is_some()),
        };
        if let Some(why) = usable {
            return Err((live, why));
        }
        let mut info = live.info().clone();
        info.counters = "kernel".into();
        Ok(KernelSource {
            tables: live.tables().to_vec(),
            live,
            reader: Some(Box::new(reader)),
            netns,
            choice,
            ipv6,
            auto,
            listed: HashMap::new(),
            fallback: Vec::new(),
            started: Instant::now(),
            seq: 0,
            info,
            once: false,
            spare: None,
        })
    }

    pub fn info(&self) -> &crate::model::SourceInfo {
        &self.info
    }

    /// Polled once and done (`--once` without a window): the listing is checked against
    /// what the kernel tells without copying a rule ([`quick`]) and, when it fits, shown
    /// with its own counters; only a listing that does not fit reads the counters and
    /// rule counts in full.
    /// `--source kernel` reads its counters from the kernel all the same.
    pub fn once(&mut self) {
        self.once = self.auto;
        self.live.last = true;
    }

    /// The live view polling every `interval`: a legacy table whose reads take more
    /// than 1/`share` of it ([`spare::SHARE`]) is read less often ([`spare`]).
    pub fn spare_reads(&mut self, interval: std::time::Duration, share: u32) {
        match &mut self.spare {
            Some(s) => s.set_interval(interval),
            None => self.spare = Some(spare::Spare::new(interval, share)),
        }
    }

    /// The live source that lists the rule texts.
    pub fn live(&self) -> &LiveSource {
        &self.live
    }

    pub fn live_mut(&mut self) -> &mut LiveSource {
        &mut self.live
    }

    /// Waits for the listing source's version probe (see [`LiveSource::settle_version`]).
    pub async fn settle_version(&mut self) {
        self.live.settle_version().await;
        self.follow_live_info();
    }

    /// The version and back end as the listing source learned them from iptables.
    fn follow_live_info(&mut self) {
        let live = self.live.info();
        self.info.version.clone_from(&live.version);
        self.info.backend = live.backend;
    }

    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    pub fn set_tables(&mut self, tables: Vec<String>) {
        self.tables = tables;
    }

    /// Runs `f` on the reader off the async runtime's thread.
    async fn with_reader<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Reader) -> T + Send + 'static,
    ) -> T {
        let mut r = self
            .reader
            .take()
            .expect("the reader is back after every use");
        let (r, out) = tokio::task::spawn_blocking(move || {
            let out = f(&mut r);
            (r, out)
        })
        .await
        .expect("the kernel reader panicked");
        self.reader = Some(r);
        out
    }

    fn uses_kernel(&self, table: &str, l: &RawListing) -> Option<Backend> {
        let b = l.backend?;
        let reader = self.reader.as_ref()?;
        (l.listed()
            && reader.unavailable(b).is_none()
            && !self.fallback.iter().any(|(t, fb)| t == table && *fb == b))
        .then_some(b)
    }

    pub async fn poll(&mut self) -> RawPoll {
        self.seq += 1;
        let at = self.started.elapsed();
        let taken_at = SystemTime::now();
        let legacy_now = match self.choice {
            BackendChoice::Nft => None,
            _ => legacy_tables(self.netns.as_deref(), self.ipv6).ok(),
        };
        let mut listings = Vec::new();
        for table in self.tables.clone() {
            let mut fresh = self.read_listed(&table, legacy_now.as_deref()).await;
            if fresh.is_none() {
                fresh = Some(self.relist(&table).await);
            }
            listings.extend(fresh.unwrap_or_default());
        }
        // the header says `counters from the kernel` only while some are
        let from_kernel = listings.iter().any(|l| l.kernel.is_some());
        let failed = listings.iter().any(|l| !l.absent && !l.listed());
        if from_kernel {
            self.info.counters = "kernel".into();
            // the tables read whole from the listing while others came from the kernel
            self.info.listed_counters = listings
                .iter()
                .filter(|l| l.kernel.is_none() && l.listed())
                .map(|l| match l.backend {
                    Some(b) => format!("{}·{b}", l.table),
                    None => l.table.clone(),
                })
                .collect();
        } else if !failed {
            self.info.counters.clear();
            self.info.listed_counters.clear();
        }
        self.info.written = listings
            .iter()
            .filter(|l| l.written)
            .map(|l| match l.backend {
                Some(b) => format!("{}·{b}", l.table),
                None => l.table.clone(),
            })
            .collect();
        RawPoll {
            seq: self.seq,
            at,
            taken_at,
            listings,
            discontinuity: false,
            last: self.live.last,
        }
    }

    /// This poll's listings of `table` from the cached texts and fresh counters; None
    /// when it must be listed again.
    async fn read_listed(
        &mut self,
        table: &str,
        legacy_now: Option<&[String]>,
    ) -> Option<Vec<RawListing>> {
        let listed = self.listed.get(table)?;
        // a legacy table that came or went since the listing
        let had_legacy = listed
            .listings
            .iter()
            .any(|l| l.backend == Some(Backend::Legacy) && !l.absent);
        if legacy_now.is_some_and(|n| n.iter().any(|t| t == table) != had_legacy) {
            return None;
        }
        let mut keys = Vec::new();
        for (l, stamp) in listed.listings.iter().zip(&listed.stamps) {
            match self.uses_kernel(table, l) {
                Some(b) => keys.push((b, *stamp)),
                None if l.absent => {}
                // a failed listing, or one read from its own counters: list again
                None => return None,
            }
        }
        // per back end: read, or only check a spared legacy table (its info at the read)
        let plans: Vec<(Backend, Option<quick::TableInfo>)> = keys
            .iter()
            .map(|&(b, stamp)| {
                let hold = (b == Backend::Legacy)
                    .then(|| self.spare.as_ref()?.may_hold(table, stamp))
                    .flatten();
                (b, hold)
            })
            .collect();
        let sparing = self.spare.is_some();
        let t = table.to_string();
        let reads = self
            .with_reader(move |r| {
                plans
                    .iter()
                    .map(|&(b, hold)| {
                        let started = Instant::now();
                        if let Some(was) = hold
                            && r.legacy_info(&t).is_ok_and(|now| now == was)
                        {
                            return Got::Held(started.elapsed());
                        }
                        // what the next polls check the table against, asked before the
                        // read: a change in between is seen by them
                        let info = (sparing && b == Backend::Legacy)
                            .then(|| r.legacy_info(&t).ok())
                            .flatten();
                        let read = r.read(&t, b, false);
                        Got::Read(read, info, started.elapsed())
                    })
                    .collect::<Vec<_>>()
            })
            .await;
        let listed = self.listed.get(table)?;
        let mut out = listed.listings.clone();
        let mut reads = reads.into_iter();
        for l in &mut out {
            if self.uses_kernel(table, l).is_none() {
                continue;
            }
            let (_, stamp) = keys.iter().find(|k| Some(k.0) == l.backend)?;
            match reads.next()? {
                Got::Held(took) => {
                    let (counters, spared) = self.spare.as_mut()?.held(table)?;
                    l.took = took;
                    l.kernel = Some(counters);
                    l.spared = Some(spared);
                }
                Got::Read(read, info, took) => {
                    // this poll's cost is the read's, not the listing's of back then
                    l.took = took;
                    match read {
                        Ok(Read { counters, stamp: s }) if Some(s) == *stamp => {
                            if l.backend == Some(Backend::Legacy)
                                && let Some(spare) = &mut self.spare
                            {
                                l.spared = spare.read(table, info, &counters, s, took);
                            }
                            l.kernel = Some(counters);
                        }
                        Ok(_) | Err(ReadError::Changed) => return None,
                        Err(ReadError::Io(e)) => kernel_failure(l, &e),
                    }
                }
            }
        }
        Some(out)
    }

    /// Whether every listing of `table` the kernel can check fits what it tells without
    /// copying a rule ([`quick`]), with the rule set unchanged since `before`: then the
    /// listings are shown as they are, with their own counters.
    async fn fits_quickly(
        &mut self,
        table: &str,
        listings: &[RawListing],
        wanted: &[Option<Backend>],
        before: &Before,
    ) -> bool {
        if listings
            .iter()
            .zip(wanted)
            .any(|(l, b)| b.is_none() && !l.absent)
        {
            return false;
        }
        // a written listing is the kernel's own: nothing to check
        let texts: Vec<(Backend, Arc<crate::model::text::ListingText>)> = listings
            .iter()
            .zip(wanted)
            .filter(|(l, _)| !l.written)
            .filter_map(|(l, b)| Some((b.as_ref().copied()?, l.stdout.clone())))
            .collect();
        let (t, generation, info) = (table.to_string(), before.generation, before.legacy_info);
        self.with_reader(move |r| {
            texts.iter().all(|(b, text)| match b {
                Backend::Nft => r.chain_uses(&t).is_ok_and(|(chains, after)| {
                    Some(after) == generation
                        && quick::nft_mismatch(text.as_str(), &chains).is_none()
                }),
                Backend::Legacy => r.legacy_info(&t).is_ok_and(|after| {
                    Some(after) == info && quick::legacy_mismatch(text.as_str(), &after).is_none()
                }),
            })
        })
        .await
    }

    /// Lists `table` again, with the stamps checked around the listing, and reads its
    /// counters in full.
    async fn relist(&mut self, table: &str) -> Vec<RawListing> {
        if let Some(s) = &mut self.spare {
            s.forget(table);
        }
        let mut last = Vec::new();
        for attempt in 0..ATTEMPTS {
            let quick = self.once && attempt == 0;
            let t = table.to_string();
            // never ask x_tables for a table that is not there: that would create it
            let legacy_exists = self.choice != BackendChoice::Nft
                && legacy_tables(self.netns.as_deref(), self.ipv6)
                    .is_ok_and(|n| n.iter().any(|x| x == table));
            let write = legacy_exists && self.live.may_write(Backend::Legacy);
            let write_nft =
                self.choice != BackendChoice::Legacy && self.live.may_write(Backend::Nft);
            let mut before = self
                .with_reader(move |r| {
                    r.forget(&t);
                    let mut b = Before {
                        generation: r.generation().ok(),
                        ..Before::default()
                    };
                    let started = Instant::now();
                    if write_nft && quick {
                        // one read and done: nothing kept for a next poll
                        if let Ok(Ok((text, generation))) = r.nft_text(&t)
                            && Some(generation) == b.generation
                        {
                            b.nft_text = Some((text, started.elapsed()));
                        }
                    } else if write_nft
                        && let Ok(Ok((text, read))) = r.nft_text_read(&t)
                        && Some(read.stamp) == b.generation.map(u64::from)
                    {
                        // the counters of the very messages the listing was written from
                        b.nft_text = Some((text, started.elapsed()));
                        b.nft_read = Some(read);
                    }
                    let started = Instant::now();
                    if write && quick {
                        // one read and done: the table built from it, no listing
                        // written to be parsed back, nothing kept for a next poll
                        if let Ok(Ok(built)) = r.legacy_table(&t) {
                            b.legacy_built = Some((built, started.elapsed()));
                        }
                    } else if write {
                        // the listing written from the very read that gives the stamp
                        if let Ok((read, text)) = r.read_legacy_text(&t) {
                            b.legacy_stamp = Some(read.stamp);
                            b.legacy_text = text.ok().map(|s| (s, started.elapsed()));
                            b.legacy_read = b.legacy_text.is_some().then_some(read);
                        }
                    }
                    if legacy_exists && quick && b.legacy_built.is_none() {
                        b.legacy_info = r.legacy_info(&t).ok();
                    } else if legacy_exists && !quick && b.legacy_stamp.is_none() {
                        b.legacy_stamp = r.read(&t, Backend::Legacy, true).ok().map(|x| x.stamp);
                    }
                    b
                })
                .await;
            let written = [
                (Backend::Legacy, before.legacy_text.take()),
                (Backend::Nft, before.nft_text.take()),
            ];
            let listing = |b: Backend, took| RawListing {
                backend: Some(b),
                status: Some(0),
                took,
                written: true,
                ..RawListing::empty(table)
            };
            self.live.written = written
                .into_iter()
                .filter_map(|(b, w)| {
                    let (text, took) = w?;
                    Some(RawListing {
                        stdout: Arc::new(text.into()),
                        ..listing(b, took)
                    })
                })
                .chain(before.legacy_built.take().map(|(t, took)| RawListing {
                    built: Some(Arc::new(t)),
                    ..listing(Backend::Legacy, took)
                }))
                .collect();
            self.live.set_tables(vec![table.to_string()]);
            let raw = self.live.poll().await;
            self.follow_live_info();
            let mut listings = raw.listings;
            let wanted: Vec<Option<Backend>> = listings
                .iter()
                .map(|l| self.uses_kernel(table, l))
                .collect();
            if quick && self.fits_quickly(table, &listings, &wanted, &before).await {
                return listings;
            }
            let t = table.to_string();
            // a written listing's counters are those of the read it was written from
            let from_writing = |l: &RawListing, before: &Before| {
                l.written
                    && match l.backend {
                        Some(Backend::Legacy) => true,
                        Some(Backend::Nft) => before.nft_read.is_some(),
                        None => false,
                    }
            };
            let w: Vec<Option<Backend>> = wanted
                .iter()
                .zip(&listings)
                .map(|(b, l)| b.filter(|_| !from_writing(l, &before)))
                .collect();
            let mut reads = self
                .with_reader(move |r| {
                    w.iter()
                        .map(|b| b.map(|b| r.read(&t, b, true)))
                        .collect::<Vec<_>>()
                })
                .await;
            for (read, l) in reads.iter_mut().zip(&listings) {
                if from_writing(l, &before) {
                    *read = match l.backend {
                        Some(Backend::Legacy) => before.legacy_read.take().map(Ok),
                        _ => before.nft_read.take().map(Ok),
                    };
                }
            }
            let mut stamps = Vec::with_capacity(listings.len());
            let mut settled = true;
            for ((l, b), read) in listings.iter_mut().zip(&wanted).zip(reads) {
                let (Some(b), Some(read)) = (b, read) else {
                    stamps.push(None);
                    continue;
                };
                let before = match b {
                    Backend::Nft => before.generation.map(u64::from),
                    Backend::Legacy => before.legacy_stamp,
                };
                match read {
                    Ok(Read { counters, stamp }) if Some(stamp) == before => {
                        let shape = listing_shape(&l.stdout);
                        // more lines than rules: comments with line breaks, read as
                        // the parser reads them with the kernel's rule counts
                        let why = mismatch(&shape, &counters)
                            .and_then(|_| parsed_mismatch(table, l.stdout.as_str(), &counters));
                        match why {
                            Some(why) if self.auto => {
                                self.fallback.push((table.to_string(), *b));
                                l.stderr.push_str(&format!(
                                    "counters of table {table} ({b}) come from the iptables listing: its chains do not match the kernel's ({why})\n"
                                ));
                            }
                            _ => l.kernel = Some(counters),
                        }
                        stamps.push(Some(stamp));
                    }
                    Ok(_) | Err(ReadError::Changed) => {
                        settled = false;
                        stamps.push(None);
                    }
                    Err(ReadError::Io(e)) => {
                        kernel_failure(l, &e);
                        stamps.push(None);
                    }
                }
            }
            let keep: Vec<RawListing> = listings
                .iter()
                .map(|l| {
                    let mut c = l.clone();
                    c.kernel = None;
                    c
                })
                .collect();
            last = listings;
            if settled {
                self.listed.insert(
                    table.to_string(),
                    Listed {
                        listings: keep,
                        stamps,
                    },
                );
                return last;
            }
        }
        // the rule set kept changing: shown from the listing's own counters this once
        self.listed.remove(table);
        for l in &mut last {
            l.kernel = None;
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Counter;

    const LISTING: &str = "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
num   pkts bytes target     prot opt in     out     source               destination
1       10   600 SUB        0    --  *      *       0.0.0.0/0            0.0.0.0/0

Chain SUB (1 references)
num   pkts bytes target     prot opt in     out     source               destination
1        4   240 DROP       6    --  *      *       0.0.0.0/0            0.0.0.0/0
";

    fn counters(jump: u64, drop: u64) -> Counters {
        let k = |p: u64| Counter {
            packets: p,
            bytes: p * 60,
        };
        Counters {
            names: Arc::new([("INPUT".to_string(), 0), ("SUB".to_string(), 1)].into()),
            chains: vec![
                KernelChain {
                    policy: Some(Counter::default()),
                    rules: Arc::new(vec![k(jump)]),
                },
                KernelChain {
                    policy: None,
                    rules: Arc::new(vec![k(drop)]),
                },
            ],
        }
    }

    #[test]
    fn counters_put_on_a_reused_table_forget_what_fell_through_only_when_they_move() {
        let mut t = crate::parse::parse_table("filter", LISTING, None).expect("parses");
        apply(&mut t, &counters(10, 4)).expect("fits");
        // what flow computed from these counters (the next poll starts from a copy)
        let _ = t.fell_cache().set(Arc::new(Vec::new()));
        let mut next = t.clone();
        apply(&mut next, &counters(10, 4)).expect("fits");
        assert!(next.fell_cache().get().is_some(), "nothing moved: kept");
        apply(&mut next, &counters(30, 5)).expect("fits");
        assert!(next.fell_cache().get().is_none(), "moved: computed again");
        assert_eq!(next.chains[1].counters[0].packets, 5);
    }
}
