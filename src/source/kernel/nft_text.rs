//! The listing `iptables-nft -t T -L -v -n -x --line-numbers` prints, written from the
//! table's chains and rules as nftables hands them out over netlink, so that a table
//! iptables-nft made is listed without running it: at 50k rules the child costs about
//! three times iptop's own read of every rule.
//!
//! iptables-nft lists a rule by turning its expressions back into the x_tables rule they
//! stand for (`nft_rule_to_iptables_command_state`) and printing that as iptables-legacy
//! prints its entries: the same rules loaded either way list byte for byte the same. So
//! each rule is turned here into the x_tables entry iptables-nft would make of it and
//! written as the legacy writer writes an entry's line (`legacy_text::rule`), under
//! its chain; the chains then go in libiptc's order (built-in chains by hook, those the
//! kernel does not hold listed empty as iptables-nft does; user chains by name, with
//! the jumps to them counted). Only what iptables-nft 1.8 itself writes is read: the
//! interfaces, protocol and addresses as `meta` and `payload` comparisons (address
//! prefixes as shorter loads or a mask, `-f` as the fragment offset under its mask),
//! TCP and UDP ports as `payload` comparisons and ranges, TCP flags under a mask, a mark
//! as `meta mark` under a mask, every other match and target as its x_tables extension
//! (`match`, `target`), the counter, the verdict. Any
//! other expression, register use, table layout (a built-in chain at another hook or
//! priority) or a rule set that changed while it was read is [`Unsupported`]: the caller
//! runs iptables-nft as before. A root test compares the text with iptables-nft's own
//! listing of the same rules.

use std::io;

mod rule;

use super::legacy_text::{self, EXT_HEAD, Entry, Head, Layout, Unsupported, V4, V6, unsupported};
use super::nft::{ChainInfo, NftSocket, RuleInfo, chain_info, rule_info};
use super::nft_native::{ChainFull, chain_full};
use super::quick::HOOKS;
use super::request::{self, NftRequest};
use rule::{Rule, Target, decode};

/// x_tables' alignment of a match's or target's data.
pub(super) const XT_ALIGN: usize = 8;

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

/// What a full read of the counters takes from the same messages the listing is
/// written from, so that they are not asked for twice: each chain as the kernel dumps
/// them, and each of its rules (counter, jump).
#[derive(Debug, Default)]
pub struct Seen {
    pub chains: Vec<ChainInfo>,
    /// Per chain of `chains`, its rules in order.
    pub rules: Vec<Vec<RuleInfo>>,
}

/// Writes the listing of `table` (IPv4 or IPv6 by `ipv6`): the text, or why iptables-nft
/// must list it; with `seen`, also what a full read of its counters would read. Reads
/// the generation id around the chains and rules: a rule set that changed in between is
/// not written.
pub fn write(
    sock: &mut NftSocket,
    table: &str,
    ipv6: bool,
    mut seen: Option<&mut Seen>,
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
            if let Some(s) = seen.as_deref_mut() {
                s.chains.push(chain_info(m));
            }
        }
        Ok(())
    })?;
    if chains.is_empty() {
        return Ok(Err(unsupported("no such table")));
    }
    let text = table_of(sock, table, family, &chains, builtin, l, seen)?;
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
    mut seen: Option<&mut Seen>,
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
    let held: std::collections::HashMap<&str, usize> = chains
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    if let Some(s) = seen.as_deref_mut() {
        s.rules = vec![Vec::new(); chains.len()];
    }
    let mut t = Listing::new(&order, l);
    for (i, (name, base)) in order.iter().enumerate() {
        if let Err(e) = t.begin(i) {
            return Ok(Err(e));
        }
        let mut bad = None;
        let k = held.get(name.as_str()).copied();
        if base.is_none() || k.is_some() {
            let mut into = seen.as_deref_mut().zip(k).map(|(s, k)| &mut s.rules[k]);
            let r = sock.request(&NftRequest::Rules { table, chain: name }, family, |m| {
                if let Some(v) = into.as_deref_mut() {
                    v.push(rule_info(m));
                }
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
        if let Some(e) = bad {
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
    let mut t = Listing::new(&order, l);
    for (i, (name, _)) in order.iter().enumerate() {
        t.begin(i)?;
        for m in chains.iter().filter(|c| c.0 == name).flat_map(|c| &c.1) {
            t.rule(&decode(m, l)?)?;
        }
    }
    t.finish()
}

/// The listing as it is written: each rule, as its message is decoded, made into its
/// x_tables entry (one buffer, reused) and written as its line under its chain; each
/// chain's references counted from the jumps; the chains put together at the end in
/// libiptc's order (built-in chains by hook, then user chains by name). No rule and no
/// table of entries is kept: at 50k rules, the lines (10 MB) are all there is.
struct Listing<'a> {
    order: &'a [(String, Option<Builtin>)],
    l: Layout,
    /// Per chain of `order`: its rule lines, how many, and the jumps to it.
    lines: Vec<Vec<u8>>,
    rules: Vec<usize>,
    references: Vec<u32>,
    /// The user chains by name: their index in `order`.
    user: std::collections::HashMap<&'a str, usize>,
    /// The chain begun last.
    cur: usize,
    /// One entry.
    buf: Vec<u8>,
}

impl<'a> Listing<'a> {
    fn new(order: &'a [(String, Option<Builtin>)], l: Layout) -> Self {
        let n = order.len();
        Listing {
            order,
            l,
            lines: vec![Vec::new(); n],
            rules: vec![0; n],
            references: vec![0; n],
            user: order
                .iter()
                .enumerate()
                .filter(|(_, (_, b))| b.is_none())
                .map(|(i, (n, _))| (n.as_str(), i))
                .collect(),
            cur: 0,
            buf: Vec::new(),
        }
    }

    /// The start of chain `i` of the order.
    fn begin(&mut self, i: usize) -> Result<(), Unsupported> {
        if self.order[i].1.is_none() && self.order[i].0.len() > 28 {
            return Err(unsupported("a chain name longer than iptables allows"));
        }
        self.cur = i;
        Ok(())
    }

    /// A rule of the chain begun last: its entry, then its line.
    fn rule(&mut self, r: &Rule) -> Result<(), Unsupported> {
        let l = self.l;
        // the standard target: a verdict, or (jump, the next entry) an offset, whose
        // chain is named here
        let (verdict, jump) = match &r.target {
            Target::Verdict(v) => (Some(*v), None),
            Target::Jump(to) => {
                let i = *self
                    .user
                    .get(to.as_str())
                    .ok_or_else(|| unsupported("a jump to a chain that is not there"))?;
                (Some(0), Some(i))
            }
            Target::Next => (Some(0), None),
            Target::Ext { .. } => (None, None),
        };
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(&r.head);
        b.extend_from_slice(&r.matches);
        let target = b.len();
        push_target(b, &r.target, verdict.unwrap_or(0))?;
        let size = b.len();
        if size > usize::from(u16::MAX) {
            return Err(unsupported("a rule too large for an x_tables entry"));
        }
        b[l.target_offset..l.target_offset + 2].copy_from_slice(&(target as u16).to_ne_bytes());
        b[l.next_offset..l.next_offset + 2].copy_from_slice(&(size as u16).to_ne_bytes());
        let name: &[u8] = match jump {
            Some(i) => {
                self.references[i] += 1;
                self.order[i].0.as_bytes()
            }
            None => &[],
        };
        let c = self.cur;
        self.rules[c] += 1;
        let at = Entry {
            off: 0,
            size,
            target,
            verdict,
        };
        legacy_text::rule(&mut self.lines[c], self.rules[c], b, at, name, l, None)
    }

    /// The chains in libiptc's order, each under its header.
    fn finish(self) -> Result<String, Unsupported> {
        let order = legacy_text::chain_order(
            self.order
                .iter()
                .map(|(name, base)| (base.is_some(), name.as_bytes())),
        );
        let mut out: Vec<u8> =
            Vec::with_capacity(self.lines.iter().map(Vec::len).sum::<usize>() + 256 * order.len());
        for (n, &c) in order.iter().enumerate() {
            let (name, base) = &self.order[c];
            let head = match *base {
                Some((_, policy, [packets, bytes])) => Head::Policy(Some(policy), packets, bytes),
                None => Head::References(self.references[c]),
            };
            legacy_text::push_head(&mut out, n == 0, name.as_bytes(), head)?;
            out.extend_from_slice(&self.lines[c]);
        }
        Ok(crate::model::text::lossy_string(out))
    }
}

#[cfg(test)]
mod tests;
