//! The counters of listed native tables on every poll, by handle: per chain one rule
//! dump, each rule's handle checked against the listed rule at its place. Only the
//! chains packets can have entered since the last poll are read: base chains, chains
//! entered some way no counter tells (a verdict map's element, a jump without a
//! counter, no jump iptop knows of), and chains whose counted jump moved in this read
//! or the last one; every [`FULL_EVERY`] polls all of them.

use std::io;

use super::build::{CHANGED, Failed, changed, same_generation};
use crate::model::{Counter, FirewallTable};
use crate::source::kernel::nft::NftSocket;
use crate::source::kernel::nft_native::family_number;

/// A full read at most this many polls after the last one.
pub const FULL_EVERY: u32 = 20;

/// How packets can enter a table's chains, from its listing.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Read on every poll.
    always: Vec<bool>,
    /// Per chain: (rule, chain entered) of each jump or goto whose rule counts.
    jumps: Vec<Vec<(usize, usize)>>,
    /// Chains a moving jump led into on the last read.
    entered_last: Vec<bool>,
}

impl Plan {
    /// The plan of a listed table. `bare`: listed without nft, so verdict maps are not
    /// known and every chain is read on every poll.
    pub fn of(t: &FirewallTable, bare: bool) -> Plan {
        let n = t.chains.len();
        let mut counted = vec![false; n];
        let mut uncounted = vec![false; n];
        let mut jumps = vec![Vec::new(); n];
        for (ci, c) in t.chains.iter().enumerate() {
            let vmap = c.native.as_ref().is_some_and(|n| n.vmap);
            for (ri, r) in c.rules.iter().enumerate() {
                let Some(nr) = r.native.as_deref() else {
                    continue;
                };
                // a counter in a rule with one jump moves for every packet that takes
                // it (the verdict comes last); a verdict map's branches are not told
                let one_jump = !vmap && nr.has_counter && nr.jumps_to.len() == 1 && {
                    let tg = &r.spec.target;
                    !tg.starts_with('@') && !tg.starts_with("vmap {")
                };
                for target in &nr.jumps_to {
                    let Some(ti) = t.chain_index(target) else {
                        continue;
                    };
                    if one_jump {
                        counted[ti] = true;
                        jumps[ci].push((ri, ti));
                    } else {
                        uncounted[ti] = true;
                    }
                }
            }
        }
        let always = (0..n)
            .map(|i| {
                let c = &t.chains[i];
                let base = c.native.as_ref().is_some_and(|n| n.base.is_some());
                bare || base || uncounted[i] || !counted[i]
            })
            .collect();
        Plan {
            always,
            jumps,
            entered_last: vec![false; n],
        }
    }
}

/// Puts the kernel's counters now on `tables` (listed from the same `generation`, one
/// plan each). `full`: every chain. A chain whose counters did not move stays shared.
pub fn read(
    sock: &mut NftSocket,
    generation: u32,
    tables: &mut [FirewallTable],
    plans: &mut [Plan],
    full: bool,
) -> Result<(), Failed> {
    let mut buf: Vec<Counter> = Vec::new();
    let mut multi: Vec<(usize, Vec<Counter>)> = Vec::new();
    for (t, plan) in tables.iter_mut().zip(plans.iter_mut()) {
        let fam = family_number(t.family.as_deref().unwrap_or_default()).unwrap_or(0);
        let n = t.chains.len();
        let mut done = vec![false; n];
        let mut entered = vec![false; n];
        let mut queue: Vec<usize> = (0..n)
            .rev()
            .filter(|&i| full || plan.always[i] || plan.entered_last[i])
            .collect();
        while let Some(ci) = queue.pop() {
            if std::mem::replace(&mut done[ci], true) {
                continue;
            }
            read_chain(sock, generation, fam, t, ci, &mut buf, &mut multi)?;
            for &(ri, target) in &plan.jumps[ci] {
                if buf[ri] != t.chains[ci].counters[ri] {
                    entered[target] = true;
                    if !done[target] {
                        queue.push(target);
                    }
                }
            }
            store(t, ci, &buf, &mut multi);
        }
        plan.entered_last = entered;
    }
    Ok(())
}

/// The counters of chain `ci` into `buf` (and `multi`), checked by handle; the base
/// chain's policy counters straight onto the chain when they moved.
fn read_chain(
    sock: &mut NftSocket,
    generation: u32,
    fam: u8,
    t: &mut FirewallTable,
    ci: usize,
    buf: &mut Vec<Counter>,
    multi: &mut Vec<(usize, Vec<Counter>)>,
) -> Result<(), Failed> {
    buf.clear();
    multi.clear();
    let c = &t.chains[ci];
    let Some(native) = c.native.clone() else {
        buf.extend_from_slice(&c.counters);
        return Ok(());
    };
    if native.vmap {
        buf.extend_from_slice(&c.counters);
        return Ok(());
    }
    let policy = match &native.base {
        Some(_) => match sock.chain_full(fam, &t.name, &c.name)? {
            Some(k) => k.base.map(|b| b.counter),
            None => return Err(Failed::Changed),
        },
        None => None,
    };
    let rules = &c.rules;
    sock.dump_gen = None;
    sock.chain_rules(fam, &t.name, &c.name, |r| {
        let i = buf.len();
        match rules.get(i).and_then(|x| x.native.as_deref()) {
            Some(n) if n.handle == r.handle && n.has_counter != r.counters.is_empty() => {}
            _ => return Err(io::Error::other(CHANGED)),
        }
        buf.push(r.counters.last().copied().unwrap_or_default());
        if r.counters.len() > 1 {
            multi.push((i, r.counters.clone()));
        }
        Ok(())
    })
    .map_err(changed)?;
    same_generation(sock, generation)?;
    if buf.len() != rules.len() {
        return Err(Failed::Changed);
    }
    if let Some(p) = policy
        && (p.packets, p.bytes) != (c.packets, c.bytes)
    {
        let m = t.chain_mut(ci);
        m.packets = p.packets;
        m.bytes = p.bytes;
    }
    Ok(())
}

/// Puts `buf` (and `multi`) on chain `ci` where they differ from what it holds.
fn store(
    t: &mut FirewallTable,
    ci: usize,
    buf: &[Counter],
    multi: &mut Vec<(usize, Vec<Counter>)>,
) {
    let c = &t.chains[ci];
    let multi_moved = multi.iter().any(|(i, all)| {
        c.rules[*i]
            .native
            .as_ref()
            .is_some_and(|n| n.counters != *all)
    });
    if !multi_moved && c.counters[..] == buf[..] {
        return;
    }
    let m = t.chain_mut(ci);
    m.counters.clear();
    m.counters.extend_from_slice(buf);
    if multi_moved {
        let rules = std::sync::Arc::make_mut(&mut m.rules);
        for (i, all) in multi.drain(..) {
            if let Some(n) = rules[i].native.as_mut() {
                std::sync::Arc::make_mut(n).counters = all;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_jumps_are_followed_the_rest_read_always() {
        let json = include_str!("../../../tests/fixtures/nft/docker29-lab.json");
        let text = include_str!("../../../tests/fixtures/nft/docker29-lab.txt");
        let tables = crate::parse::nft::parse_ruleset(json, Some(text)).expect("fixture");
        let t = &tables[0];
        let plan = Plan::of(t, false);
        let always = |name: &str| plan.always[t.chain_index(name).expect(name)];
        // base chains, and chains behind a verdict map
        assert!(always("nat-PREROUTING"));
        assert!(always("filter-forward-in__bridge1"));
        // entered only through `counter jump`: read when that counter moved
        assert!(!always("nat-prerouting-and-output"));
        let pre = t.chain_index("nat-PREROUTING").expect("chain");
        let target = t.chain_index("nat-prerouting-and-output").expect("chain");
        assert!(plan.jumps[pre].iter().any(|&(_, c)| c == target));
        // without nft nothing is known of verdict maps: every chain, every poll
        assert!(Plan::of(t, true).always.iter().all(|a| *a));
    }
}
