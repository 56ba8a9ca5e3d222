//! Putting the kernel's counters on a listed table, by (chain, position).
//!
//! The first time, and whenever the kernel's chains were read anew (another rule set),
//! every listed chain is found by name and checked against the kernel's (same rule
//! count) before its counters are taken. After that the table says which counters it
//! holds ([`KernelCounters`]): a read hands each chain that did not move the very same
//! counters (`Arc`) as the read before, so only the chains whose counters are new, and the
//! built-in chains (their policy counters), are looked at. At 50k rules that is a few
//! chains a poll instead of 18,000 name lookups and comparisons.

use std::sync::Arc;

use super::{Counters, KernelChain};
use crate::model::{FirewallTable, KernelCounters};

/// Puts the kernel's counters on a parsed table, by (chain, position). Chains whose
/// counters did not move stay shared with the previous poll.
pub fn apply(t: &mut FirewallTable, k: &Counters) -> Result<(), String> {
    let held = t
        .kernel_counters()
        .filter(|h| {
            Arc::ptr_eq(&h.names, &k.names)
                && h.names.len() == k.chains.len()
                && h.put.len() == t.chains.len()
        })
        .cloned();
    let kept = match held {
        Some(h) => since(t, k, &h)?,
        None => whole(t, k)?,
    };
    t.set_kernel_counters(Some(kept));
    t.exact = true;
    Ok(())
}

/// Takes chain `i`'s counters from kernel chain `kc`: checked, and copied when they
/// differ from the chain's.
fn put(t: &mut FirewallTable, i: usize, kc: &KernelChain) -> Result<(), String> {
    let c = &t.chains[i];
    if kc.rules.len() != c.rules.len() {
        return Err(format!(
            "chain {}: the kernel holds {} rules, the listing shows {}",
            c.name,
            kc.rules.len(),
            c.rules.len()
        ));
    }
    let policy_moved = kc
        .policy
        .is_some_and(|p| (p.packets, p.bytes) != (c.packets, c.bytes));
    if policy_moved || c.counters[..] != kc.rules[..] {
        let m = t.counters_mut(i);
        m.counters.clear();
        m.counters.extend_from_slice(&kc.rules);
        if let Some(p) = kc.policy {
            m.packets = p.packets;
            m.bytes = p.bytes;
        }
    }
    Ok(())
}

/// Every chain, found by name.
fn whole(t: &mut FirewallTable, k: &Counters) -> Result<Arc<KernelCounters>, String> {
    let mut seen = 0;
    let mut put_on = Vec::with_capacity(t.chains.len());
    for i in 0..t.chains.len() {
        let c = &t.chains[i];
        let Some(&ki) = k.names.get(&*c.name) else {
            if c.rules.is_empty() && c.is_builtin() {
                put_on.push(None);
                continue;
            }
            return Err(format!("chain {} is listed but not in the kernel", c.name));
        };
        seen += 1;
        let kc = &k.chains[ki];
        put(t, i, kc)?;
        put_on.push(Some((ki, kc.rules.clone())));
    }
    if seen != k.chains.len() {
        let extra = k
            .names
            .keys()
            .find(|n| t.chain(n).is_none())
            .cloned()
            .unwrap_or_default();
        return Err(format!(
            "chain {extra} is in the kernel but not in the listing"
        ));
    }
    Ok(Arc::new(KernelCounters {
        names: k.names.clone(),
        put: put_on,
    }))
}

/// The chains whose counters this read changed since the one the table holds
/// (`held`: the same kernel chains, the same listed chains), and the built-in ones.
fn since(
    t: &mut FirewallTable,
    k: &Counters,
    held: &Arc<KernelCounters>,
) -> Result<Arc<KernelCounters>, String> {
    let mut changed: Option<Vec<_>> = None;
    for (i, p) in held.put.iter().enumerate() {
        let Some((ki, had)) = p else { continue };
        let kc = &k.chains[*ki];
        let same = Arc::ptr_eq(had, &kc.rules);
        if same && kc.policy.is_none() {
            continue;
        }
        put(t, i, kc)?;
        if !same {
            changed.get_or_insert_with(|| held.put.clone())[i] = Some((*ki, kc.rules.clone()));
        }
    }
    Ok(match changed {
        Some(put) => Arc::new(KernelCounters {
            names: held.names.clone(),
            put,
        }),
        None => held.clone(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::model::Counter;

    // OUTPUT: a built-in chain iptables-nft lists without the kernel holding it
    const LISTING: &str = "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
num   pkts bytes target     prot opt in     out     source               destination
1        0     0 SUB        0    --  *      *       0.0.0.0/0            0.0.0.0/0
2        0     0 OTHER      6    --  *      *       0.0.0.0/0            0.0.0.0/0

Chain OUTPUT (policy ACCEPT 0 packets, 0 bytes)
num   pkts bytes target     prot opt in     out     source               destination

Chain OTHER (1 references)
num   pkts bytes target     prot opt in     out     source               destination
1        0     0 DROP       6    --  *      *       10.0.0.1             0.0.0.0/0

Chain SUB (1 references)
num   pkts bytes target     prot opt in     out     source               destination
1        0     0 ACCEPT     6    --  *      *       0.0.0.0/0            0.0.0.0/0
2        0     0 DROP       17   --  *      *       0.0.0.0/0            0.0.0.0/0
";

    /// The kernel's chains (in another order than the listing's), as a reader keeps
    /// them: a chain that did not move keeps its `Arc`.
    fn kernel() -> Counters {
        let rules = |n: usize| Arc::new(vec![Counter::default(); n]);
        Counters {
            names: Arc::new(HashMap::from([
                ("SUB".to_string(), 0),
                ("INPUT".to_string(), 1),
                ("OTHER".to_string(), 2),
            ])),
            chains: vec![
                KernelChain {
                    policy: None,
                    rules: rules(2),
                },
                KernelChain {
                    policy: Some(Counter::default()),
                    rules: rules(2),
                },
                KernelChain {
                    policy: None,
                    rules: rules(1),
                },
            ],
        }
    }

    fn seen(t: &FirewallTable) -> Vec<(u64, u64, Vec<Counter>)> {
        t.chains
            .iter()
            .map(|c| (c.packets, c.bytes, c.counters.clone()))
            .collect()
    }

    #[test]
    fn reads_put_on_chain_by_chain_leave_what_whole_reads_leave() {
        let mut t = crate::parse::parse_table("filter", LISTING, None).expect("parses");
        let mut k = kernel();
        apply(&mut t, &k).expect("fits");
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for step in 0..500 {
            // some chains move (new counters), a policy may move, often nothing does
            for c in &mut k.chains {
                if next() % 4 == 0 {
                    let mut v = (*c.rules).clone();
                    let r = (next() % v.len() as u64) as usize;
                    // sometimes a new Arc with the same counters: still taken
                    if next() % 3 != 0 {
                        v[r].packets += 1 + next() % 5;
                        v[r].bytes += 60;
                    }
                    c.rules = Arc::new(v);
                }
                if let Some(p) = &mut c.policy
                    && next() % 5 == 0
                {
                    p.packets += 1;
                }
            }
            let held = t.kernel_counters().cloned().expect("held");
            let mut short = t.clone();
            apply(&mut short, &k).expect("fits");
            let mut whole = t.clone();
            whole.set_kernel_counters(None);
            apply(&mut whole, &k).expect("fits");
            assert_eq!(seen(&short), seen(&whole), "step {step}");
            let now = short.kernel_counters().expect("held");
            assert!(
                Arc::ptr_eq(&now.names, &held.names),
                "step {step}: the short way"
            );
            t = short;
        }
        assert_eq!(t.chains[0].counters.len(), 2);
    }

    #[test]
    fn a_read_that_changed_nothing_keeps_what_the_table_holds() {
        let mut t = crate::parse::parse_table("filter", LISTING, None).expect("parses");
        let k = kernel();
        apply(&mut t, &k).expect("fits");
        let held = t.kernel_counters().cloned().expect("held");
        let mut next = t.clone();
        apply(&mut next, &k).expect("fits");
        assert!(Arc::ptr_eq(next.kernel_counters().expect("held"), &held));
        assert!(
            Arc::ptr_eq(&next.chains[2], &t.chains[2]),
            "OTHER not copied"
        );
    }

    #[test]
    fn a_chain_whose_rule_count_changed_is_refused_the_short_way_too() {
        let mut t = crate::parse::parse_table("filter", LISTING, None).expect("parses");
        let mut k = kernel();
        apply(&mut t, &k).expect("fits");
        k.chains[0].rules = Arc::new(vec![Counter::default(); 3]);
        let e = apply(&mut t.clone(), &k).expect_err("SUB has 2 rules listed");
        assert!(e.contains("chain SUB: the kernel holds 3 rules"), "{e}");
    }

    #[test]
    fn counters_changed_by_anything_else_are_taken_whole_again() {
        let mut t = crate::parse::parse_table("filter", LISTING, None).expect("parses");
        let k = kernel();
        apply(&mut t, &k).expect("fits");
        t.counters_mut(3).counters[0].packets = 99;
        assert!(t.kernel_counters().is_none());
        apply(&mut t, &k).expect("fits");
        assert_eq!(t.chains[3].counters[0].packets, 0, "the kernel's again");
    }
}
