//! Where packets end: what falls through the end of each chain, computed from the
//! counters and the jump graph alone.
//!
//! A built-in chain's end is its policy, which has counters of its own. A user chain's
//! end sends packets back to the rule that jumped to it; nothing counts them, so they are
//! computed: the packets that entered (the sum of the jump rules into the chain), minus
//! those that left through a rule that ends the chain (a verdict, RETURN, a NAT target, a
//! goto...), minus those that sub-chains kept (gave a verdict to). What a sub-chain kept
//! belongs to this chain only when no other chain sent it packets: a sub-chain also
//! called from elsewhere, with packets from both, leaves the split unknown, and so the
//! result (`None`: never a guessed number). Bytes the same way.

use crate::diff::Delta;
use crate::model::{Counter, Fell, FirewallTable, rounding_error};

mod ends;
pub use ends::{matches_everything, unreachable_end};

/// What a rule's target does to the packets it matches, seen from its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The packet goes on to the next rule (LOG, MARK, no target...).
    Continue,
    /// A verdict: the packet leaves the chain and the chains that called it (ACCEPT,
    /// DROP, REJECT, the NAT targets, QUEUE...).
    Verdict,
    /// RETURN: back to the caller.
    Return,
    /// A jump (or goto) to a user chain of the table.
    Jump,
    /// A target whose effect iptop does not know (it may do either).
    Unknown,
}

/// The effect of rule `rule` of chain `chain`.
pub fn effect(table: &FirewallTable, chain: usize, rule: usize) -> Effect {
    let r = &table.chains[chain].rules[rule];
    if r.jump.is_some() {
        return Effect::Jump;
    }
    match r.spec.target.as_str() {
        "RETURN" => Effect::Return,
        // the packet's walk through the table ends
        "ACCEPT" | "DROP" | "REJECT" | "DNAT" | "SNAT" | "MASQUERADE" | "REDIRECT" | "NETMAP"
        | "QUEUE" | "NFQUEUE" | "TPROXY" => Effect::Verdict,
        // the packet goes on to the next rule
        "" | "LOG" | "NFLOG" | "ULOG" | "MARK" | "CONNMARK" | "CONNSECMARK" | "SECMARK" | "CT"
        | "NOTRACK" | "TRACE" | "TCPMSS" | "TCPOPTSTRIP" | "CLASSIFY" | "CHECKSUM" | "SET"
        | "AUDIT" | "DSCP" | "TOS" | "TTL" | "HL" | "ECN" | "HMARK" | "TEE" | "IDLETIMER"
        | "LED" | "RATEEST" | "CONNLIMIT" => Effect::Continue,
        _ => Effect::Unknown,
    }
}

/// Packets and bytes, summed with checks, with the ± bound of the sum (abbreviated
/// counters' rounding, added up whatever the sign).
#[derive(Debug, Clone, Copy)]
struct Sum {
    packets: i128,
    bytes: i128,
    err_packets: i128,
    err_bytes: i128,
    reset: bool,
}

impl Sum {
    const ZERO: Sum = Sum {
        packets: 0,
        bytes: 0,
        err_packets: 0,
        err_bytes: 0,
        reset: false,
    };

    fn of(d: &Delta, err: Counter) -> Sum {
        Sum {
            packets: i128::from(d.packets),
            bytes: i128::from(d.bytes),
            err_packets: i128::from(err.packets),
            err_bytes: i128::from(err.bytes),
            reset: d.reset,
        }
    }

    fn add(self, o: Sum, sign: i128) -> Sum {
        Sum {
            packets: self.packets + sign * o.packets,
            bytes: self.bytes + sign * o.bytes,
            err_packets: self.err_packets + o.err_packets,
            err_bytes: self.err_bytes + o.err_bytes,
            reset: self.reset || o.reset,
        }
    }

    /// Zero, or so close that the rounding could account for all of it.
    fn is_zero(self) -> bool {
        self.packets.abs() <= self.err_packets && self.bytes.abs() <= self.err_bytes
    }

    /// What reached a chain's end: inconsistent when below zero beyond the rounding
    /// (more left than entered), else counted (below zero within the rounding: zero).
    fn fell(self) -> Fell {
        if self.packets + self.err_packets < 0 || self.bytes + self.err_bytes < 0 {
            return Fell::Inconsistent;
        }
        let clamp = |v: i128| u64::try_from(v.max(0)).unwrap_or(u64::MAX);
        Fell::Counted {
            packets: clamp(self.packets),
            bytes: clamp(self.bytes),
            error: Counter {
                packets: clamp(self.err_packets),
                bytes: clamp(self.err_bytes),
            },
            reset: self.reset,
        }
    }
}

/// The counts `flow` reads: `count(chain, rule)` (a rule's counters or their delta;
/// `None`: unknown), with the ± bound of each when the listing abbreviated them.
struct Counts<'a> {
    table: &'a FirewallTable,
    count: &'a dyn Fn(usize, usize) -> Option<Delta>,
    /// 0: exact counters; else each count is within `error_scale` times the rounding of
    /// the counter the table holds (1 for the counters, 2 for a delta of two of them).
    error_scale: u64,
}

impl Counts<'_> {
    fn error(&self, k: Counter) -> Counter {
        if self.error_scale == 0 {
            return Counter::default();
        }
        Counter {
            packets: self.error_scale.saturating_mul(rounding_error(k.packets)),
            bytes: self.error_scale.saturating_mul(rounding_error(k.bytes)),
        }
    }

    fn sum(&self, c: usize, r: usize) -> Option<Sum> {
        let d = (self.count)(c, r)?;
        Some(Sum::of(&d, self.error(self.table.chains[c].counter(r))))
    }
}

/// Per chain, what reached its end: for a built-in chain `policy(chain)`, for a user
/// chain the packets and bytes computed from `count(chain, rule)` (a rule's counters or
/// their delta; `None`: unknown). With `error_scale` above 0 the listing abbreviated its
/// counters and each count is within that many times the rounding of the table's counter
/// (see [`rounding_error`]): the results carry the bound. Linear in the rules.
pub fn fell_through(
    table: &FirewallTable,
    count: &dyn Fn(usize, usize) -> Option<Delta>,
    policy: &dyn Fn(usize) -> Option<Delta>,
    error_scale: u64,
) -> Vec<Fell> {
    let counts = Counts {
        table,
        count,
        error_scale,
    };
    let senders = senders(table, count);
    let jumps = all_jumps(table, count);
    let kept = kept(table, &counts, &senders, &jumps);
    let callers = table.callers();
    (0..table.chains.len())
        .map(|c| {
            let chain = &table.chains[c];
            if chain.is_builtin() {
                return policy(c).map_or(Fell::Unknown, |d| {
                    let k = Counter {
                        packets: chain.packets,
                        bytes: chain.bytes,
                    };
                    Sum::of(&d, counts.error(k)).fell()
                });
            }
            let sum = user_chain_end(table, &counts, &kept, &senders, &jumps, callers, c);
            if !unreachable_end(table, c) {
                return sum.map_or(Fell::Unknown, Sum::fell);
            }
            // nothing can reach the end: the counters may only agree, or say that the
            // chain's rules are not the ones that counted what entered it
            match sum {
                Some(s) if !s.is_zero() => Fell::Inconsistent,
                _ => Fell::Unreachable,
            }
        })
        .collect()
}

/// What entered user chain `c` minus what left it by a rule that ends it, minus what its
/// sub-chains kept; `None` when the counters do not tell.
fn user_chain_end(
    table: &FirewallTable,
    counts: &Counts,
    kept: &[Option<Sum>],
    senders: &[Senders],
    jumps: &AllJumps,
    callers: &crate::model::Callers,
    c: usize,
) -> Option<Sum> {
    let chain = &table.chains[c];
    let mut s = Sum::ZERO;
    for &(ci, ri) in callers.of(c) {
        s = s.add(counts.sum(ci as usize, ri as usize)?, 1);
    }
    for (ri, r) in chain.rules.iter().enumerate() {
        match effect(table, c, ri) {
            Effect::Continue => {}
            Effect::Verdict | Effect::Return => s = s.add(counts.sum(c, ri)?, -1),
            Effect::Jump if r.spec.goto => s = s.add(counts.sum(c, ri)?, -1),
            Effect::Jump => {}
            Effect::Unknown => {
                if !counts.sum(c, ri)?.is_zero() {
                    return None;
                }
            }
        }
    }
    for j in jumps.of(c) {
        // jumped to and gone to: what came back cannot be told apart
        if j.goto && j.jump {
            return None;
        }
        if j.jump {
            s = s.add(share(kept, senders, j, c)?, -1);
        }
    }
    Some(s)
}

/// The jumps of one chain to one target.
struct Jumps {
    target: usize,
    /// Some of them are `-j`, some `-g`.
    jump: bool,
    goto: bool,
    /// Every one of them counted nothing (known).
    zero: bool,
}

/// Every chain's jumps, grouped by target, in one allocation.
struct AllJumps {
    /// Chain `c`'s are `jumps[starts[c]..starts[c + 1]]`.
    starts: Vec<u32>,
    jumps: Vec<Jumps>,
}

impl AllJumps {
    fn of(&self, c: usize) -> &[Jumps] {
        &self.jumps[self.starts[c] as usize..self.starts[c + 1] as usize]
    }
}

fn all_jumps(table: &FirewallTable, count: &dyn Fn(usize, usize) -> Option<Delta>) -> AllJumps {
    let mut starts = Vec::with_capacity(table.chains.len() + 1);
    let mut jumps: Vec<Jumps> = Vec::new();
    for (c, chain) in table.chains.iter().enumerate() {
        let from = jumps.len();
        starts.push(from as u32);
        for (ri, r) in chain.rules.iter().enumerate() {
            let Some(t) = table.jump_target(r) else {
                continue;
            };
            let (goto, zero) = (r.spec.goto, count(c, ri).is_some_and(|d| !d.moved()));
            jumps.push(Jumps {
                target: t,
                jump: !goto,
                goto,
                zero,
            });
        }
        // a chain's jumps to one target are one group
        let mine = &mut jumps[from..];
        if mine.len() > 1 {
            mine.sort_unstable_by_key(|j| j.target);
            let mut w = from;
            for r in from + 1..jumps.len() {
                if jumps[r].target == jumps[w].target {
                    let (goto, jump, zero) = (jumps[r].goto, jumps[r].jump, jumps[r].zero);
                    let j = &mut jumps[w];
                    j.goto |= goto;
                    j.jump |= jump;
                    j.zero &= zero;
                } else {
                    w += 1;
                    jumps.swap(w, r);
                }
            }
            jumps.truncate(w + 1);
        }
    }
    starts.push(jumps.len() as u32);
    AllJumps { starts, jumps }
}

/// Which chains sent packets to a chain (or may have: a count that is unknown).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Senders {
    None,
    One(usize),
    Many,
}

/// Per chain, the chains that sent it packets. One pass over the jumps.
fn senders(table: &FirewallTable, count: &dyn Fn(usize, usize) -> Option<Delta>) -> Vec<Senders> {
    let mut v = vec![Senders::None; table.chains.len()];
    for (c, chain) in table.chains.iter().enumerate() {
        for (ri, r) in chain.rules.iter().enumerate() {
            let Some(t) = table.jump_target(r) else {
                continue;
            };
            if count(c, ri).is_some_and(|d| !d.moved()) {
                continue;
            }
            v[t] = match v[t] {
                Senders::None => Senders::One(c),
                Senders::One(o) if o == c => Senders::One(c),
                _ => Senders::Many,
            };
        }
    }
    v
}

/// Of what chain `j.target` kept (gave a verdict to, itself or in its sub-chains), the
/// part that chain `from` sent it: none when `from`'s jumps to it counted nothing or it
/// kept nothing, all of it when no other chain sent it packets; else unknown.
fn share(kept: &[Option<Sum>], senders: &[Senders], j: &Jumps, from: usize) -> Option<Sum> {
    if j.zero {
        return Some(Sum::ZERO);
    }
    let k = kept[j.target]?;
    let only_ours = match senders[j.target] {
        Senders::None => true,
        Senders::One(c) => c == from,
        Senders::Many => false,
    };
    if only_ours || k.is_zero() {
        Some(k)
    } else {
        None
    }
}

/// Per chain: the packets it kept, itself or in its sub-chains (`None`: unknown, also
/// for chains on a cycle of jumps). Sub-chains first, without recursion (chains can nest
/// thousands deep).
fn kept(
    table: &FirewallTable,
    counts: &Counts,
    senders: &[Senders],
    jumps: &AllJumps,
) -> Vec<Option<Sum>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    let n = table.chains.len();
    let mut state = vec![State::New; n];
    let mut kept: Vec<Option<Sum>> = vec![None; n];
    let mut on_cycle = vec![false; n];
    for start in 0..n {
        if state[start] != State::New {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = State::Open;
        while let Some(top) = stack.last_mut() {
            let (c, k) = *top;
            if let Some(j) = jumps.of(c).get(k) {
                let t = j.target;
                top.1 += 1;
                match state[t] {
                    State::New => {
                        state[t] = State::Open;
                        stack.push((t, 0));
                    }
                    // a jump back onto the path: every chain of the cycle is unknown
                    State::Open => {
                        for &(p, _) in stack.iter().rev() {
                            on_cycle[p] = true;
                            if p == t {
                                break;
                            }
                        }
                    }
                    State::Done => {}
                }
                continue;
            }
            stack.pop();
            state[c] = State::Done;
            kept[c] = if on_cycle[c] {
                None
            } else {
                kept_by(table, &kept, senders, jumps.of(c), counts, c)
            };
        }
    }
    kept
}

/// What chain `c` kept, its sub-chains' shares already known.
fn kept_by(
    table: &FirewallTable,
    kept: &[Option<Sum>],
    senders: &[Senders],
    jumps: &[Jumps],
    counts: &Counts,
    c: usize,
) -> Option<Sum> {
    let mut s = Sum::ZERO;
    for ri in 0..table.chains[c].rules.len() {
        match effect(table, c, ri) {
            Effect::Verdict => s = s.add(counts.sum(c, ri)?, 1),
            Effect::Continue | Effect::Return | Effect::Jump => {}
            Effect::Unknown => {
                if !counts.sum(c, ri)?.is_zero() {
                    return None;
                }
            }
        }
    }
    for j in jumps {
        s = s.add(share(kept, senders, j, c)?, 1);
    }
    Some(s)
}

/// What reached the end of chain `chain` by the table's counters: the policy's for a
/// built-in chain, computed for a user chain. Computed once per table.
pub fn fell_through_total(table: &FirewallTable, chain: usize) -> Fell {
    ends(table).get(chain).copied().unwrap_or_default()
}

/// What reached the end of every chain of `table` by its counters ([`fell_through_total`]
/// of each, by chain index), computed once per table.
pub fn ends(table: &FirewallTable) -> &[Fell] {
    table
        .fell_cache()
        .get_or_init(|| std::sync::Arc::new(fell_through_counters(table)))
}

/// What reached the end of chain `chain` of `table` over the window of `td` (laid out
/// like `table`). Computed once per window.
pub fn fell_through_window(
    table: &FirewallTable,
    td: &crate::diff::TableDelta,
    chain: usize,
) -> Fell {
    window_ends(table, td)
        .get(chain)
        .copied()
        .unwrap_or_default()
}

/// [`fell_through_window`] of every chain (by chain index), computed once per window.
pub fn window_ends<'a>(table: &FirewallTable, td: &'a crate::diff::TableDelta) -> &'a [Fell] {
    td.fell_cache().get_or_init(|| {
        // a window in which nothing moved gives what the last such window gave, while
        // the rules are the same (with exact counters: rounding errors follow the counts)
        if table.exact && td.is_still() {
            table
                .fell_still_cache()
                .get_or_init(|| std::sync::Arc::new(fell_through_deltas(table, td)))
                .clone()
        } else {
            std::sync::Arc::new(fell_through_deltas(table, td))
        }
    })
}

/// A [`Fell`] as a delta (none past an unconditional end), when the counters give one.
pub fn as_delta(f: Fell) -> Option<Delta> {
    let reset = matches!(f, Fell::Counted { reset: true, .. });
    f.counted().map(|k| Delta {
        packets: k.packets,
        bytes: k.bytes,
        reset,
    })
}

/// [`fell_through`] over a table's own counters.
pub fn fell_through_counters(table: &FirewallTable) -> Vec<Fell> {
    let as_delta = |k: Counter| Delta {
        packets: k.packets,
        bytes: k.bytes,
        reset: false,
    };
    fell_through(
        table,
        &|c, r| Some(as_delta(table.chains[c].counter(r))),
        &|c| {
            let ch = &table.chains[c];
            Some(as_delta(Counter {
                packets: ch.packets,
                bytes: ch.bytes,
            }))
        },
        u64::from(!table.exact),
    )
}

/// [`fell_through`] over the deltas of a window (of abbreviated counters: each delta is
/// within twice the rounding of the later counter, which is the larger).
pub fn fell_through_deltas(table: &FirewallTable, td: &crate::diff::TableDelta) -> Vec<Fell> {
    fell_through(
        table,
        &|c, r| td.rule(c, r).copied(),
        &|c| td.policy(c).copied(),
        if table.exact { 0 } else { 2 },
    )
}

#[cfg(test)]
mod tests;
