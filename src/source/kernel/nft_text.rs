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
    // each chain's rules, decoded
    let mut rules: Vec<Vec<Rule>> = Vec::with_capacity(order.len());
    let held: std::collections::HashSet<&str> = chains.iter().map(|c| c.name.as_str()).collect();
    for (name, base) in &order {
        let mut v = Vec::new();
        let mut bad = None;
        if base.is_none() || held.contains(name.as_str()) {
            let r = sock.request(&NftRequest::Rules { table, chain: name }, family, |m| {
                if bad.is_none() {
                    match decode(m, l) {
                        Ok(r) => v.push(r),
                        Err(e) => bad = Some(e),
                    }
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
        rules.push(v);
    }
    Ok(lay_out(&order, &rules, l))
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
    let decoded = |msgs: &[&[u8]]| -> Result<Vec<Rule>, Unsupported> {
        msgs.iter().map(|m| decode(m, l)).collect()
    };
    let (mut order, mut rules) = (Vec::new(), Vec::new());
    for &(hook, ..) in builtin {
        order.push((HOOKS[hook].to_string(), Some((hook, -2, [0, 0]))));
        rules.push(match chains.iter().find(|c| c.0 == HOOKS[hook]) {
            Some((_, msgs)) => decoded(msgs)?,
            None => Vec::new(),
        });
    }
    for (name, msgs) in chains {
        if !builtin.iter().any(|&(h, ..)| HOOKS[h] == *name) {
            order.push((name.to_string(), None));
            rules.push(decoded(msgs)?);
        }
    }
    lay_out(&order, &rules, l)
}

/// The table of entries: per chain its head (a user chain's ERROR entry), its rules and
/// its end (policy or RETURN), then the closing ERROR entry; and its info.
fn lay_out(
    order: &[(String, Option<Builtin>)],
    rules: &[Vec<Rule>],
    l: Layout,
) -> Result<String, Unsupported> {
    let std_size = l.entry + EXT_HEAD + XT_ALIGN;
    let err_size = l.entry + EXT_HEAD + 32;
    // where each chain's first rule (or end) is: the offset a jump to it names
    let mut first = Vec::with_capacity(order.len());
    let mut off = 0;
    for ((_, base), rs) in order.iter().zip(rules) {
        if base.is_none() {
            off += err_size;
        }
        first.push(off);
        off += rs.iter().map(|r| r.size(l)).sum::<usize>() + std_size;
    }
    let total = off + err_size;
    // a jump is an `int` offset
    if i32::try_from(total).is_err() {
        return Err(unsupported("a table too large"));
    }
    // the user chains by name, for the jumps
    let user: std::collections::HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .filter(|(_, (_, b))| b.is_none())
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    let size = u32::try_from(total).map_err(|_| unsupported("a table too large"))?;
    let mut info = TableInfo {
        size,
        ..TableInfo::default()
    };
    let mut out: Vec<u8> = Vec::with_capacity(total);
    let mut entries = 0u32;
    let mut entry =
        |out: &mut Vec<u8>, head: Option<&[u8]>, matches: &[u8], t: &Target, verdict: i32| {
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
            entries += 1;
            Ok::<(), Unsupported>(())
        };
    for ((name, base), rs) in order.iter().zip(rules) {
        if base.is_none() {
            let mut n = [0u8; 32];
            if name.len() > 28 {
                return Err(unsupported("a chain name longer than iptables allows"));
            }
            n[..name.len()].copy_from_slice(name.as_bytes());
            let t = Target::Ext {
                name: b"ERROR".to_vec(),
                rev: 0,
                data: n.to_vec(),
            };
            entry(&mut out, None, &[], &t, 0)?;
        }
        if let Some((hook, ..)) = base {
            info.valid_hooks |= 1 << hook;
            info.hook_entry[*hook] = out.len() as u32;
        }
        for r in rs {
            let verdict = match &r.target {
                Target::Next => (out.len() + r.size(l)) as i32,
                Target::Verdict(v) => *v,
                Target::Jump(to) => {
                    let i = *user
                        .get(to.as_str())
                        .ok_or_else(|| unsupported("a jump to a chain that is not there"))?;
                    first[i] as i32
                }
                Target::Ext { .. } => 0,
            };
            entry(&mut out, Some(&r.head), &r.matches, &r.target, verdict)?;
        }
        match base {
            Some((hook, policy, [packets, bytes])) => {
                info.underflow[*hook] = out.len() as u32;
                let mut h = vec![0u8; l.entry];
                h[l.counters..l.counters + 8].copy_from_slice(&packets.to_ne_bytes());
                h[l.counters + 8..l.counters + 16].copy_from_slice(&bytes.to_ne_bytes());
                entry(&mut out, Some(&h), &[], &Target::Verdict(*policy), *policy)?;
            }
            None => entry(&mut out, None, &[], &Target::Verdict(-5), -5)?,
        }
    }
    let mut n = [0u8; 32];
    n[..5].copy_from_slice(b"ERROR");
    let t = Target::Ext {
        name: b"ERROR".to_vec(),
        rev: 0,
        data: n.to_vec(),
    };
    entry(&mut out, None, &[], &t, 0)?;
    info.num_entries = entries;
    legacy_text::render(&out, &info, l)
}

#[cfg(test)]
mod tests;
