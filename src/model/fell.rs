//! What reached the end of a chain, as `flow` computes it from the counters: the
//! plain data that the table's and the window's caches keep.

use super::Counter;

/// What reached the end of one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fell {
    /// The counters do not tell (a sub-chain shared with another caller, a target iptop
    /// does not know, a cycle of jumps, a counter missing from the window).
    #[default]
    Unknown,
    /// Computed: `packets` and `bytes`, exact when `error` is zero, else within
    /// ± `error` (the rounding of abbreviated counters, `332K`, added up). `reset`: a
    /// counter went down in the window.
    Counted {
        packets: u64,
        bytes: u64,
        error: Counter,
        reset: bool,
    },
    /// Nothing can reach the end: the chain has a rule that matches everything and ends
    /// it (ACCEPT, DROP, RETURN, a goto...). The counters agree (or do not tell).
    Unreachable,
    /// The counters contradict the rules: more left than entered, or packets past a rule
    /// that matches everything and ends the chain (the chain was rewritten and its new
    /// rules counted from zero, or its counters were zeroed).
    Inconsistent,
}

impl Fell {
    /// Packets and bytes that reached the end, when the counters give them (none past an
    /// unconditional end).
    pub fn counted(&self) -> Option<Counter> {
        match *self {
            Fell::Counted { packets, bytes, .. } => Some(Counter { packets, bytes }),
            Fell::Unreachable => Some(Counter::default()),
            Fell::Unknown | Fell::Inconsistent => None,
        }
    }

    /// The ± bound of [`Fell::counted`]: zero when exact.
    pub fn error(&self) -> Counter {
        match *self {
            Fell::Counted { error, .. } => error,
            _ => Counter::default(),
        }
    }

    /// Computed from abbreviated counters whose rounding could account for the whole of
    /// it: the true count may be anything from zero to `packets + error`.
    pub fn within_rounding(&self) -> bool {
        matches!(*self, Fell::Counted { packets, error, .. }
            if error.packets > 0 && packets <= error.packets)
    }
}

/// The rounding error of a counter iptables printed without `-x`: up to 99999 exactly,
/// then rounded to the nearest K (up to 9999K), M, G or T, each step rounding the
/// rounded value again. `value` is what was read (`227K` → 227000).
pub fn rounding_error(value: u64) -> u64 {
    match value {
        0..=99_999 => 0,
        100_000..=9_999_499 => 500,
        9_999_500..=9_999_499_999 => 500_500,
        9_999_500_000..=9_999_499_999_999 => 500_500_500,
        _ => 500_500_500_500,
    }
}
