//! A table's chains and rules as the `--once` JSON lists them, derived: each rule's
//! counters and their delta over the window (a rule new in it: from zero), its rate,
//! notes and Docker's names; each chain's policy delta and what fell through it, in
//! total and over the window (once per table, [`crate::flow`]); and with `--moved-only`
//! only what moved.

use super::Input;
use crate::diff::Delta;
use crate::docker::RuleNames;
use crate::explain::notes::{self, Note};
use crate::model::{Counter, Fell, FirewallTable};

/// One chain of a table, derived.
pub struct ChainFacts {
    /// The chain's index in its table.
    pub chain: usize,
    /// The policy's counters over the window (built-in chains).
    pub policy_delta: Option<Delta>,
    /// What fell through it by the counters ([`Fell::Unknown`] for a native table's,
    /// whose counters may be missing).
    pub fell: Fell,
    /// The same over the window, where the counters give it.
    pub fell_window: Option<Counter>,
    /// What the chain is for and who writes it.
    pub about: Option<&'static Note>,
    /// Its rules (with `--moved-only`, those that moved).
    pub rules: Vec<RuleFacts>,
}

/// One rule, derived.
pub struct RuleFacts {
    /// The rule's index in its chain.
    pub rule: usize,
    /// False for a native rule without a `counter` statement: it counts nothing.
    pub counted: bool,
    pub count: Counter,
    /// Over the window (none for a copy that cannot be told from its copies, or a rule
    /// that counts nothing).
    pub delta: Option<Delta>,
    /// Packets per second over the window.
    pub rate_pps: Option<f64>,
    /// The rule did not exist when the window started.
    pub new: bool,
    /// Docker's names for its interfaces and addresses, when some are known.
    /// (Boxed: most rules have none, and a 50k-rule table's facts stay small.)
    pub names: Option<Box<RuleNames>>,
    /// A note on this very rule.
    pub about: Option<&'static Note>,
}

/// Table `ti` of `input`'s chains, derived (with `--moved-only`: a chain stays when a
/// rule in it, its policy or what fell through it moved).
pub fn chains(input: &Input, ti: usize) -> Vec<ChainFacts> {
    let t = &input.snapshot.tables[ti];
    let td = input.deltas.and_then(|d| d.table(ti));
    (0..t.chains.len())
        .map(|ci| {
            // counters that may be missing (a native chain's) do not tell what fell
            // through; the table's are computed once (flow's caches)
            let counted = t.chains[ci].native.is_none();
            ChainFacts {
                chain: ci,
                policy_delta: td.and_then(|td| td.policy(ci)).copied(),
                fell: match counted {
                    true => crate::flow::fell_through_total(t, ci),
                    false => Fell::Unknown,
                },
                fell_window: td
                    .filter(|td| counted && td.known(ci))
                    .and_then(|td| crate::flow::fell_through_window(t, td, ci).counted()),
                about: notes::about(&t.name, &t.chains[ci].name),
                rules: rules(input, t, ti, ci),
            }
        })
        .filter(|c| {
            !input.moved_only
                || !c.rules.is_empty()
                || c.policy_delta.is_some_and(|d| d.packets > 0)
                || c.fell_window.is_some_and(|d| d.packets > 0)
        })
        .collect()
}

/// Chain `ci`'s rules, derived (with `--moved-only`, those that moved).
fn rules(input: &Input, t: &FirewallTable, ti: usize, ci: usize) -> Vec<RuleFacts> {
    let deltas = input.deltas;
    let td = deltas.and_then(|d| d.table(ti));
    let secs = deltas.map_or(0.0, |d| d.elapsed.as_secs_f64());
    let c = &t.chains[ci];
    c.rules
        .iter()
        .enumerate()
        .map(|(ri, r)| {
            let k = c.counter(ri);
            let d = td.and_then(|td| td.rule(ci, ri));
            let unknown = td.is_some_and(|td| td.is_unknown(ci, ri));
            let counted = r.native.as_ref().is_none_or(|n| n.has_counter);
            let delta = match (deltas, d) {
                (Some(_), Some(d)) => Some(*d),
                // a copy that cannot be told from its copies: no delta
                (Some(_), None) if unknown => None,
                // a rule new in the window moved from zero
                (Some(_), None) => Some(Delta {
                    packets: k.packets,
                    bytes: k.bytes,
                    reset: false,
                }),
                (None, _) => None,
            }
            .filter(|_| counted);
            RuleFacts {
                rule: ri,
                counted,
                count: k,
                delta,
                rate_pps: delta
                    .filter(|_| secs > 0.0)
                    .map(|d| d.packets as f64 / secs),
                new: td.is_some() && d.is_none() && !unknown,
                names: input
                    .names
                    .map(|n| n.rule(&r.spec))
                    .filter(|n| !n.is_empty())
                    .map(Box::new),
                about: notes::shipped().about_rule(
                    &t.name,
                    &c.name,
                    &r.spec,
                    input.source.netns.as_deref(),
                ),
            }
        })
        .filter(|r| !input.moved_only || r.delta.is_some_and(|d| d.packets > 0 || d.bytes > 0))
        .collect()
}
