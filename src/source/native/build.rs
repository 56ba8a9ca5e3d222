//! Native tables from the kernel: their chains (hooks, priorities, policies) from the
//! chain dump, their rules (handles, counters, verdicts) from one dump per chain, with
//! the text and verdict maps of `nft -a list ruleset` where nft is there; and on every
//! later poll only the counters, put on the rules by handle.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use crate::model::native::{BaseChain, NativeChain, NativeRule, is_iptables_table};
use crate::model::{ChainKind, FirewallTable, Rule, RuleSpec};
use crate::parse::nft::listing::{self, Listing, VmapRef};
use crate::parse::nft::{new_chain, vmap_chain};
use crate::source::kernel::nft::NftSocket;
use crate::source::kernel::nft_native::{RuleFull, Verdict, family_number};

/// Why a read of the kernel's tables gave nothing.
#[derive(Debug)]
pub enum Failed {
    /// The rule set changed while it was read (or no longer fits the tables listed):
    /// list it again.
    Changed,
    Io(io::Error),
}

impl From<io::Error> for Failed {
    fn from(e: io::Error) -> Self {
        Failed::Io(e)
    }
}

/// Checks that the last dump's messages came from `generation` (each carries its low
/// 16 bits); a dump without messages says nothing.
pub(super) fn same_generation(sock: &mut NftSocket, generation: u32) -> Result<(), Failed> {
    match sock.dump_gen.take() {
        Some(g) if g != generation as u16 => Err(Failed::Changed),
        _ => Ok(()),
    }
}

/// Whether the namespace holds a native table with a chain (none: nothing for nft to
/// print, iptables-nft's tables aside).
pub fn any_native(sock: &mut NftSocket) -> io::Result<bool> {
    Ok(sock
        .all_chains()?
        .iter()
        .any(|c| c.family.is_some_and(|f| !is_iptables_table(f, &c.table))))
}

/// The text of a rule when nft is not there to print it.
pub fn no_text(handle: u64) -> String {
    format!("rule handle {handle} (install nft to see its text)")
}

/// Every native table of the namespace (those iptables-nft did not make), in the
/// kernel's order, with their counters now. `listing`: `nft -a list ruleset` of the same
/// generation (None: no nft; the rules are shown by handle).
pub fn list(
    sock: &mut NftSocket,
    generation: u32,
    listing: Option<&Listing>,
) -> Result<Vec<FirewallTable>, Failed> {
    sock.dump_gen = None;
    let chains = sock.all_chains()?;
    same_generation(sock, generation)?;
    let mut tables: Vec<FirewallTable> = Vec::new();
    let mut at: HashMap<(&str, &str), usize> = HashMap::new();
    let mut vmaps: Vec<Vec<crate::model::Chain>> = Vec::new();
    for c in &chains {
        let Some(family) = c.family else { continue };
        if is_iptables_table(family, &c.table) {
            continue;
        }
        let ti = *at.entry((family, &c.table)).or_insert_with(|| {
            let mut t = FirewallTable::new(&c.table);
            t.family = Some(family.to_string());
            tables.push(t);
            vmaps.push(Vec::new());
            tables.len() - 1
        });
        let base = c.base.as_ref().map(|b| BaseChain {
            kind: b.kind.clone(),
            hook: b.hook.clone(),
            priority: b.priority,
            policy: b.policy.clone(),
        });
        let kind = match &base {
            Some(b) => ChainKind::Builtin {
                policy: b.policy.clone(),
            },
            None => ChainKind::User { references: None },
        };
        let native = NativeChain {
            handle: c.handle,
            base,
            vmap: false,
        };
        let mut chain = new_chain(&c.name, kind, native);
        if let Some(b) = &c.base {
            chain.packets = b.counter.packets;
            chain.bytes = b.counter.bytes;
        }
        let fam = family_number(family).unwrap_or(0);
        let mut rules = Vec::new();
        let mut counters = Vec::new();
        let key = |h: u64| (family.to_string(), c.table.clone(), h);
        sock.dump_gen = None;
        sock.chain_rules(fam, &c.table, &c.name, |r| {
            let text = match listing {
                Some(l) => match l.texts.get(&key(r.handle)) {
                    Some(t) => Some(t.as_str()),
                    // the listing is of another rule set than the dump
                    None => return Err(io::Error::other(CHANGED)),
                },
                None => None,
            };
            counters.push(r.counters.last().copied().unwrap_or_default());
            let (r, stand_in) = rule_of(r, text, listing, family, &c.table, rules.len());
            rules.push(r);
            if let Some(v) = stand_in
                && !vmaps[ti].iter().any(|x| x.name == v.name)
            {
                vmaps[ti].push(v);
            }
            Ok(())
        })
        .map_err(changed)?;
        same_generation(sock, generation)?;
        chain.rules = Arc::new(rules);
        chain.counters = counters;
        tables[ti].push_chain(chain);
    }
    Ok(tables
        .into_iter()
        .zip(vmaps)
        .map(|(mut t, vs)| {
            for v in vs {
                t.push_chain(v);
            }
            for i in 0..t.chains.len() {
                t.chain_mut(i).assign_keys();
            }
            t.link();
            t
        })
        .collect())
}

/// The message of an error that stands for [`Failed::Changed`] inside a dump.
pub(super) const CHANGED: &str = "the rule set changed while it was read";

pub(super) fn changed(e: io::Error) -> Failed {
    if e.kind() == io::ErrorKind::Other && e.to_string() == CHANGED {
        Failed::Changed
    } else {
        Failed::Io(e)
    }
}

/// One rule of the kernel's, with its text where nft printed it, and the stand-in
/// chain of its verdict map.
fn rule_of(
    r: &RuleFull,
    text: Option<&str>,
    listing: Option<&Listing>,
    family: &str,
    table: &str,
    at: usize,
) -> (Rule, Option<crate::model::Chain>) {
    let mut spec = RuleSpec::default();
    let mut jumps_to = Vec::new();
    let mut stand_in = None;
    match &r.verdict {
        Some(Verdict::Plain(v)) => spec.target = (*v).into(),
        Some(Verdict::Jump(c)) => {
            spec.target = c.as_str().into();
            jumps_to.push(c.clone());
        }
        Some(Verdict::Goto(c)) => {
            spec.target = c.as_str().into();
            spec.goto = true;
            jumps_to.push(c.clone());
        }
        None => {}
    }
    let mut conditional = r.conditional;
    if let Some(t) = text {
        let l = listing::label(t);
        if !l.target.is_empty() && l.vmap.is_none() {
            spec.target = l.target.into();
            spec.goto = l.goto;
        }
        if let Some(v) = l.vmap {
            let (name, elems) = match v {
                VmapRef::Named(m) => (
                    format!("@{m}"),
                    listing
                        .and_then(|l| {
                            l.maps
                                .get(&(family.to_string(), table.to_string(), m.clone()))
                        })
                        .cloned()
                        .unwrap_or_default(),
                ),
                VmapRef::Anonymous(e) => (format!("vmap {{…}} #{}", r.handle), e),
            };
            jumps_to.extend(
                elems
                    .iter()
                    .filter(|e| e.verdict.chain)
                    .map(|e| e.verdict.target.clone()),
            );
            stand_in = Some(vmap_chain(&name, &elems));
            spec.target = name.into();
            spec.goto = false;
            conditional = true;
        }
    }
    let text = text.map_or_else(|| no_text(r.handle), str::to_string);
    spec.extra = text.as_str().into();
    let rule = Rule {
        num: at as u32 + 1,
        spec: Arc::new(spec),
        native: Some(Arc::new(NativeRule {
            handle: r.handle,
            text: text.into(),
            has_counter: !r.counters.is_empty(),
            jumps_to,
            counters: if r.counters.len() > 1 {
                r.counters.clone()
            } else {
                Vec::new()
            },
            conditional,
        })),
        ..Rule::default()
    };
    (rule, stand_in)
}
