//! The listing `iptables-nft -t T -L -v -n -x --line-numbers` prints, written from the
//! table's chains and rules as nftables hands them out over netlink, so that a table
//! iptables-nft made is listed without running it: at 50k rules the child costs about
//! three times iptop's own read of every rule.
//!
//! iptables-nft lists a rule by turning its expressions back into the x_tables rule they
//! stand for (`nft_rule_to_iptables_command_state`) and printing that as iptables-legacy
//! prints its entries: the same rules loaded either way list byte for byte the same. So
//! each rule is turned here into the x_tables entry iptables-nft would make of it, the
//! chains into a table of entries (built-in chains by hook, each ending in its policy;
//! user chains between their head and their RETURN; a jump as the offset of its chain),
//! and [`legacy_text::render`] writes it. Only what iptables-nft 1.8 itself writes is
//! read: the interfaces, protocol and addresses as `meta` and `payload` comparisons
//! (address prefixes as shorter loads or a mask), TCP and UDP ports as `payload`
//! comparisons and ranges, a mark as `meta mark` under a mask, every other match and
//! target as its x_tables extension (`match`, `target`), the counter, the verdict. Any
//! other expression, register use, table layout (a built-in chain at another hook or
//! priority) or a rule set that changed while it was read is [`Unsupported`]: the caller
//! runs iptables-nft as before. A root test compares the text with iptables-nft's own
//! listing of the same rules.

use std::io;

mod rule;

use super::legacy_text::{self, Layout, Unsupported, V4, V6};
use super::nft::NftSocket;
use super::nft_native::{ChainFull, chain_full};
use super::quick::TableInfo;
use super::request::{self, NftRequest};
use rule::{Rule, Target, decode};

/// x_tables' alignment of a match's or target's data.
pub(super) const XT_ALIGN: usize = 8;
/// sizeof(struct xt_entry_match) / xt_entry_target.
pub(super) const EXT_HEAD: usize = 32;
const HOOKS: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/// The built-in chains of a table iptables-nft makes: (hook, nftables chain type,
/// priority), as iptables-nft 1.8 registers them (and refuses to list a table whose
/// built-in chain differs).
fn builtins(table: &str) -> Option<&'static [(usize, &'static str, i64)]> {
    Some(match table {
        "filter" => &[(1, "filter", 0), (2, "filter", 0), (3, "filter", 0)],
        "nat" => &[
            (0, "nat", -100),
            (1, "nat", 100),
            (3, "nat", -100),
            (4, "nat", 100),
        ],
        "mangle" => &[
            (0, "filter", -150),
            (1, "filter", -150),
            (2, "filter", -150),
            (3, "route", -150),
            (4, "filter", -150),
        ],
        "raw" => &[(0, "filter", -300), (3, "filter", -300)],
        "security" => &[(1, "filter", 50), (2, "filter", 50), (3, "filter", 50)],
        _ => return None,
    })
}

pub(super) fn unsupported(why: impl Into<String>) -> Unsupported {
    Unsupported(why.into())
}

/// A match or target as x_tables holds it (`struct xt_entry_match` / `xt_entry_target`:
/// its size, name and revision, then its data padded to x_tables' alignment).
pub(super) fn push_ext(
    out: &mut Vec<u8>,
    name: &[u8],
    rev: u8,
    data: &[u8],
) -> Result<(), Unsupported> {
    if name.len() > 28 || name.contains(&0) {
        return Err(unsupported("an extension name iptables cannot hold"));
    }
    let size = EXT_HEAD + data.len().next_multiple_of(XT_ALIGN);
    let size16 = u16::try_from(size).map_err(|_| unsupported("an extension too large"))?;
    let start = out.len();
    out.extend_from_slice(&size16.to_ne_bytes());
    out.extend_from_slice(name);
    out.resize(start + 31, 0);
    out.push(rev);
    out.extend_from_slice(data);
    out.resize(start + size, 0);
    Ok(())
}

/// A rule's target: its extension, or the standard target holding `verdict` (an
/// offset for a jump or the next entry, else a verdict).
fn push_target(out: &mut Vec<u8>, t: &Target, verdict: i32) -> Result<(), Unsupported> {
    match t {
        Target::Ext { name, rev, data } => push_ext(out, name, *rev, data),
        _ => push_ext(out, b"", 0, &verdict.to_ne_bytes()),
    }
}

/// Writes the listing of `table` (IPv4 or IPv6 by `ipv6`): the text, or why iptables-nft
/// must list it. Reads the generation id around the chains and rules: a rule set that
/// changed in between is not written.
pub fn write(
    sock: &mut NftSocket,
    table: &str,
    ipv6: bool,
) -> io::Result<Result<(String, u32), Unsupported>> {
    let l = if ipv6 { V6 } else { V4 };
    let family = request::family(ipv6);
    let Some(builtin) = builtins(table) else {
        return Ok(Err(unsupported("a table iptables-nft does not make")));
    };
    let generation = sock.generation()?;
    let mut chains: Vec<ChainFull> = Vec::new();
    sock.request(&NftRequest::Chains, family, |m| {
        let c = chain_full(family, m);
        if c.table == table {
            chains.push(c);
        }
        Ok(())
    })?;
    if chains.is_empty() {
        return Ok(Err(unsupported("no such table")));
    }
    let text = table_of(sock, table, family, &chains, builtin, l)?;
    if sock.generation()? != generation {
        return Ok(Err(unsupported("the rule set changed while it was read")));
    }
    Ok(text.map(|t| (t, generation)))
}

/// A built-in chain: its hook, its policy's verdict, its policy's packets and bytes.
type Builtin = (usize, i32, [u64; 2]);

/// The entries of the table, then its listing.
fn table_of(
    sock: &mut NftSocket,
    table: &str,
    family: u8,
    chains: &[ChainFull],
    builtin: &[(usize, &str, i64)],
    l: Layout,
) -> io::Result<Result<String, Unsupported>> {
    // built-in chains by hook (those the kernel does not hold listed empty, as
    // iptables-nft does), then the user chains
    let mut order: Vec<(String, Option<Builtin>)> = Vec::new();
    for &(hook, kind, prio) in builtin {
        let name = HOOKS[hook];
        match chains.iter().find(|c| c.name == name) {
            Some(c) => {
                let Some(b) = &c.base else {
                    return Ok(Err(unsupported("a built-in chain's name on a user chain")));
                };
                if b.kind != kind || b.priority != prio || !b.hook.eq_ignore_ascii_case(name) {
                    return Ok(Err(unsupported(
                        "a built-in chain iptables-nft would not list",
                    )));
                }
                let policy = if b.policy == "drop" { -1 } else { -2 };
                order.push((
                    name.to_string(),
                    Some((hook, policy, [b.counter.packets, b.counter.bytes])),
                ));
            }
            None => order.push((name.to_string(), Some((hook, -2, [0, 0])))),
        }
    }
    for c in chains {
        match &c.base {
            Some(_) if builtin.iter().any(|&(h, ..)| HOOKS[h] == c.name) => {}
            Some(_) => return Ok(Err(unsupported("a base chain iptables-nft does not make"))),
            None => order.push((c.name.clone(), None)),
        }
    }
    // each chain's rules, decoded into the table's entries as they come
    let held: std::collections::HashSet<&str> = chains.iter().map(|c| c.name.as_str()).collect();
    let mut t = Entries::new(&order, l);
    for (i, (name, base)) in order.iter().enumerate() {
        if let Err(e) = t.begin(i) {
            return Ok(Err(e));
        }
        let mut bad = None;
        if base.is_none() || held.contains(name.as_str()) {
            let r = sock.request(&NftRequest::Rules { table, chain: name }, family, |m| {
                if bad.is_none()
                    && let Err(e) = decode(m, l).and_then(|r| t.rule(&r))
                {
                    bad = Some(e);
                }
                Ok(())
            });
            match r {
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOENT) => {
                    return Ok(Err(unsupported("a chain went away while it was read")));
                }
                r => r?,
            }
        }
        if let Some(e) = bad.or_else(|| t.end(i).err()) {
            return Ok(Err(e));
        }
    }
    Ok(t.finish())
}

/// The listing of `table` from its chains' rule messages as a rule dump hands them over
/// (after the nfgenmsg header), its built-in chains with an ACCEPT policy and no counts
/// (those not given empty): the writing without a socket, for tests and fuzzing.
pub fn from_messages(
    table: &str,
    chains: &[(&str, Vec<&[u8]>)],
    ipv6: bool,
) -> Result<String, Unsupported> {
    let l = if ipv6 { V6 } else { V4 };
    let builtin =
        builtins(table).ok_or_else(|| unsupported("a table iptables-nft does not make"))?;
    let mut order = Vec::new();
    for &(hook, ..) in builtin {
        order.push((HOOKS[hook].to_string(), Some((hook, -2, [0, 0]))));
    }
    for (name, _) in chains {
        if !builtin.iter().any(|&(h, ..)| HOOKS[h] == *name) {
            order.push((name.to_string(), None));
        }
    }
    let mut t = Entries::new(&order, l);
    for (i, (name, _)) in order.iter().enumerate() {
        t.begin(i)?;
        for m in chains.iter().filter(|c| c.0 == name).flat_map(|c| &c.1) {
            t.rule(&decode(m, l)?)?;
        }
        t.end(i)?;
    }
    t.finish()
}

/// The table of entries as it is written: per chain its head (a user chain's ERROR
/// entry), its rules as they are decoded, its end (policy or RETURN), then the closing
/// ERROR entry; a jump's offset filled in once its chain's place is known. No rule is
/// kept: at 50k rules, the entries (29 MB) are all there is.
struct Entries<'a> {
    order: &'a [(String, Option<Builtin>)],
    l: Layout,
    out: Vec<u8>,
    info: TableInfo,
    count: u32,
    /// The user chains by name: their index in `order`.
    user: std::collections::HashMap<&'a str, usize>,
    /// Per chain of `order`: where its first rule (or its end) is, the offset a jump
    /// to it names.
    first: Vec<usize>,
    /// Where each jump's verdict is, and the chain it names.
    jumps: Vec<(usize, usize)>,
}

impl<'a> Entries<'a> {
    fn new(order: &'a [(String, Option<Builtin>)], l: Layout) -> Self {
        Entries {
            order,
            l,
            out: Vec::new(),
            info: TableInfo::default(),
            count: 0,
            user: order
                .iter()
                .enumerate()
                .filter(|(_, (_, b))| b.is_none())
                .map(|(i, (n, _))| (n.as_str(), i))
                .collect(),
            first: vec![0; order.len()],
            jumps: Vec::new(),
        }
    }

    /// One entry; where its target's data is.
    fn entry(
        &mut self,
        head: Option<&[u8]>,
        matches: &[u8],
        t: &Target,
        verdict: i32,
    ) -> Result<usize, Unsupported> {
        let (l, out) = (self.l, &mut self.out);
        let start = out.len();
        match head {
            Some(h) => out.extend_from_slice(h),
            None => out.resize(start + l.entry, 0),
        }
        out.extend_from_slice(matches);
        let toff = out.len() - start;
        push_target(out, t, verdict)?;
        let next = out.len() - start;
        if next > usize::from(u16::MAX) {
            return Err(unsupported("a rule too large for an x_tables entry"));
        }
        out[start + l.target_offset..start + l.target_offset + 2]
            .copy_from_slice(&(toff as u16).to_ne_bytes());
        out[start + l.next_offset..start + l.next_offset + 2]
            .copy_from_slice(&(next as u16).to_ne_bytes());
        self.count += 1;
        Ok(start + toff + EXT_HEAD)
    }

    /// An ERROR entry naming `name` (a user chain's head, or the table's end).
    fn error(&mut self, name: &str) -> Result<(), Unsupported> {
        if name.len() > 28 {
            return Err(unsupported("a chain name longer than iptables allows"));
        }
        let mut n = vec![0u8; 32];
        n[..name.len()].copy_from_slice(name.as_bytes());
        let t = Target::Ext {
            name: b"ERROR".to_vec(),
            rev: 0,
            data: n,
        };
        self.entry(None, &[], &t, 0).map(drop)
    }

    /// The start of chain `i` of the order.
    fn begin(&mut self, i: usize) -> Result<(), Unsupported> {
        match self.order[i].1 {
            None => self.error(&self.order[i].0)?,
            Some((hook, ..)) => {
                self.info.valid_hooks |= 1 << hook;
                self.info.hook_entry[hook] = self.out.len() as u32;
            }
        }
        self.first[i] = self.out.len();
        Ok(())
    }

    /// A rule of the chain begun last.
    fn rule(&mut self, r: &Rule) -> Result<(), Unsupported> {
        let (verdict, jump) = match &r.target {
            Target::Next => ((self.out.len() + r.size(self.l)) as i32, None),
            Target::Verdict(v) => (*v, None),
            Target::Jump(to) => {
                let i = *self
                    .user
                    .get(to.as_str())
                    .ok_or_else(|| unsupported("a jump to a chain that is not there"))?;
                (0, Some(i))
            }
            Target::Ext { .. } => (0, None),
        };
        let at = self.entry(Some(&r.head), &r.matches, &r.target, verdict)?;
        if let Some(i) = jump {
            self.jumps.push((at, i));
        }
        Ok(())
    }

    /// The end of chain `i`: its policy, or the RETURN of a user chain.
    fn end(&mut self, i: usize) -> Result<(), Unsupported> {
        match self.order[i].1 {
            Some((hook, policy, [packets, bytes])) => {
                let l = self.l;
                self.info.underflow[hook] = self.out.len() as u32;
                let mut h = vec![0u8; l.entry];
                h[l.counters..l.counters + 8].copy_from_slice(&packets.to_ne_bytes());
                h[l.counters + 8..l.counters + 16].copy_from_slice(&bytes.to_ne_bytes());
                self.entry(Some(&h), &[], &Target::Verdict(policy), policy)?;
            }
            None => {
                self.entry(None, &[], &Target::Verdict(-5), -5)?;
            }
        }
        Ok(())
    }

    /// The table's end, its jumps filled in, and its listing.
    fn finish(mut self) -> Result<String, Unsupported> {
        self.error("ERROR")?;
        // a jump is an `int` offset
        let size = i32::try_from(self.out.len()).map_err(|_| unsupported("a table too large"))?;
        for &(at, i) in &self.jumps {
            let to = self.first[i] as i32;
            self.out[at..at + 4].copy_from_slice(&to.to_ne_bytes());
        }
        self.info.size = size as u32;
        self.info.num_entries = self.count;
        legacy_text::render(&self.out, &self.info, self.l)
    }
}

#[cfg(test)]
mod tests;
