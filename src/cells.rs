//! What each column shows for a tree row: one definition for the screen and the text
//! export, so both read the same. The columns themselves are described in `columns.rs`.

mod columns;
pub use columns::{COLUMNS, Cells, Column, ColumnDef, ColumnSet, Fit, Kind, Width};

use std::borrow::Cow;
use std::time::Duration;

use crate::diff::{Delta, TableDelta};
use crate::format;
use crate::model::{ChainKind, Counter, Fell, FirewallTable, Text, protocol_name};
use crate::tree::{Fold, RowKind, TreeRow};

/// How a row's counters moved over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// No window yet (first sample).
    NoWindow,
    /// The rule did not exist at the start of the window.
    New,
    /// The rule has copies (rules with the same text) that came or went, and the counters
    /// do not say which old copy it is.
    Unknown,
    /// No counters to compare (a user chain's own row).
    None,
    Delta(Delta),
}

impl Movement {
    pub fn moved(&self) -> bool {
        matches!(self, Movement::Delta(d) if d.moved())
    }

    pub fn delta(&self) -> Option<&Delta> {
        match self {
            Movement::Delta(d) => Some(d),
            _ => None,
        }
    }
}

/// A rule of a native table without a `counter` statement (a verdict map's element
/// included): it has no numbers at all, so it can neither have moved nor not.
pub fn uncounted(table: &FirewallTable, row: &TreeRow) -> bool {
    match row.kind {
        RowKind::Rule { chain, rule } => table.chains[chain].rules[rule]
            .native
            .as_ref()
            .is_some_and(|n| !n.has_counter),
        _ => false,
    }
}

/// The movement of a row of `table` over the window (`deltas` None: no window yet).
pub fn movement(table: &FirewallTable, row: &TreeRow, deltas: Option<&TableDelta>) -> Movement {
    let window = match (row.kind, deltas) {
        (RowKind::Verdict { .. }, Some(td)) => Some(crate::flow::window_ends(table, td)),
        _ => None,
    };
    movement_in(table, row, deltas, window)
}

/// [`movement`], with what fell through each chain over the window given
/// ([`crate::flow::window_ends`]).
fn movement_in(
    table: &FirewallTable,
    row: &TreeRow,
    deltas: Option<&TableDelta>,
    window: Option<&[Fell]>,
) -> Movement {
    let Some(td) = deltas else {
        return Movement::NoWindow;
    };
    match row.kind {
        RowKind::Verdict { chain } if td.known(chain) => {
            let fell = window
                .and_then(|w| w.get(chain))
                .copied()
                .unwrap_or_default();
            match crate::flow::as_delta(fell) {
                Some(d) => Movement::Delta(d),
                None if table.chains[chain].is_builtin() => Movement::None,
                None => Movement::Unknown,
            }
        }
        RowKind::Verdict { .. } => Movement::New,
        RowKind::Chain { chain } if td.known(chain) => td
            .policy(chain)
            .copied()
            .map_or(Movement::None, Movement::Delta),
        RowKind::Chain { .. } => Movement::New,
        RowKind::Ref { .. } => Movement::None,
        RowKind::Rule { chain, rule } => match td.rule(chain, rule) {
            Some(d) => Movement::Delta(*d),
            None if td.is_unknown(chain, rule) => Movement::Unknown,
            None => Movement::New,
        },
    }
}

/// What fell through each chain of a table (by chain index), computed once per table by
/// [`crate::flow`]: by the counters, over the window of the Δ columns and over the one
/// the rate covers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ends<'a> {
    pub total: &'a [Fell],
    pub shown: Option<&'a [Fell]>,
    pub rate: Option<&'a [Fell]>,
}

impl<'a> Ends<'a> {
    /// Every chain's, for the deltas of `view`.
    pub fn of(table: &'a FirewallTable, view: &ShownDeltas<'a>) -> Ends<'a> {
        Ends {
            total: crate::flow::ends(table),
            shown: view.shown.map(|td| crate::flow::window_ends(table, td)),
            rate: view.rate.map(|td| crate::flow::window_ends(table, td)),
        }
    }
}

/// What a row's cells show, derived before them: how it moved, its rate, and for the end
/// of a chain what fell through it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowFacts {
    /// Over the window of the Δ columns.
    pub movement: Movement,
    /// Packets per second over the rate's window.
    pub pps: Option<f64>,
    /// A verdict row: what fell through its chain by the counters.
    pub fell: Fell,
    /// A verdict row: what fell through over the window is within a rounding (of
    /// abbreviated counters), not exact.
    pub approx_window: bool,
}

/// The facts of row `row` of `table` over the deltas of `view`, from what fell through
/// each chain (`ends`, computed once per table).
pub fn facts(table: &FirewallTable, row: &TreeRow, view: &ShownDeltas, ends: &Ends) -> RowFacts {
    let movement = movement_in(table, row, view.shown, ends.shown);
    let secs = view.rate_window.as_secs_f64();
    let pps = match movement_in(table, row, view.rate, ends.rate) {
        Movement::Delta(d) if secs > 0.0 => Some(d.packets as f64 / secs),
        _ => None,
    };
    let (fell, approx_window) = match row.kind {
        RowKind::Verdict { chain } => {
            let window = view
                .shown
                .filter(|td| td.known(chain))
                .and(ends.shown)
                .and_then(|w| w.get(chain));
            (
                ends.total.get(chain).copied().unwrap_or_default(),
                window.is_some_and(|w| w.error() != Counter::default()),
            )
        }
        _ => (Fell::Unknown, false),
    };
    RowFacts {
        movement,
        pps,
        fell,
        approx_window,
    }
}

/// Packets and bytes that entered a user chain (its callers' counters), and their
/// delta over the window if every caller has one.
pub fn entered(
    table: &FirewallTable,
    chain: usize,
    deltas: Option<&TableDelta>,
) -> (u64, u64, Option<Delta>) {
    let (mut p, mut b) = (0u64, 0u64);
    let mut d = deltas.map(|_| Delta::default());
    for &(ci, ri) in table.callers().of(chain) {
        let (ci, ri) = (ci as usize, ri as usize);
        let k = table.chains[ci].counter(ri);
        p = p.saturating_add(k.packets);
        b = b.saturating_add(k.bytes);
        if let Some(sum) = &mut d {
            match deltas.and_then(|td| td.rule(ci, ri)) {
                Some(x) => sum.add(x),
                None => d = None,
            }
        }
    }
    (p, b, d)
}

/// The label of a row without tree drawing: `FORWARD (policy DROP)`, `DOCKER (2 references)`,
/// `DOCKER-USER`, `EDGE-EMPTY [goto]`, `A ↻ cycle`, `(no target)`.
pub fn label(table: &FirewallTable, row: &TreeRow) -> String {
    label_of(table, row).into_owned()
}

/// [`label`], borrowed from the table when it is a rule's target as it is.
fn label_of<'a>(table: &'a FirewallTable, row: &TreeRow) -> Cow<'a, str> {
    match row.kind {
        RowKind::Chain { chain } => {
            let c = &table.chains[chain];
            match &c.kind {
                ChainKind::Builtin { policy } => {
                    [&*c.name, " (policy ", policy, ")"].concat().into()
                }
                ChainKind::User {
                    references: Some(n),
                } => [
                    &*c.name,
                    " (",
                    itoa::Buffer::new().format(*n),
                    " references)",
                ]
                .concat()
                .into(),
                ChainKind::User { references: None } => Cow::Borrowed(&c.name),
            }
        }
        RowKind::Rule { chain, rule } => {
            let spec = &table.chains[chain].rules[rule].spec;
            let target = if spec.target.is_empty() {
                "(no target)"
            } else {
                spec.target.as_str()
            };
            // a chain with several callers shows their totals under each of them
            let callers = row
                .jump
                .map(|t| table.callers().of(t).len())
                .filter(|&n| n > 1);
            let cycle = row.fold == Fold::Cycle;
            if !spec.goto && callers.is_none() && !cycle {
                return Cow::Borrowed(target);
            }
            let mut s = String::with_capacity(target.len() + 24);
            s.push_str(target);
            if spec.goto {
                s.push_str(" [goto]");
            }
            if let Some(n) = callers {
                s.push_str(" ×");
                s.push_str(itoa::Buffer::new().format(n));
            }
            if cycle {
                s.push_str(" ↻ cycle");
            }
            Cow::Owned(s)
        }
        RowKind::Ref { .. } => row.note.as_deref().unwrap_or_default().to_string().into(),
        RowKind::Verdict { chain } => match table.chains[chain].policy() {
            Some(p) => ["policy ", p].concat().into(),
            // a chain with several callers: its end totals all of them
            None => match table.callers().of(chain).len() {
                n if n > 1 => [
                    FELL_THROUGH,
                    " (all ",
                    itoa::Buffer::new().format(n),
                    " callers)",
                ]
                .concat()
                .into(),
                _ => Cow::Borrowed(FELL_THROUGH),
            },
        },
    }
}

/// The label of a user chain's verdict row.
pub const FELL_THROUGH: &str = "fell through";

/// What a user chain's verdict row says when the counters contradict its rules (the
/// live view's short form; the text export says [`INCONSISTENT`]).
pub const INCONSISTENT_SHORT: &str = "counters inconsistent";

/// [`FELL_THROUGH`]`: `[`INCONSISTENT_SHORT`], the label of such a row.
const FELL_THROUGH_INCONSISTENT: &str = "fell through: counters inconsistent";

/// The same, in full.
pub const INCONSISTENT: &str = "inconsistent counters (chain rewritten or zeroed?)";

/// A count computed from abbreviated counters: `≈632`, or when the rounding could
/// account for all of it, `≈632±1000` (the true count lies between zero and the sum).
fn approx(shown: Text, error: u64, fell: Fell, f: fn(u64) -> Text) -> Text {
    if fell.error() == Counter::default() {
        shown
    } else if fell.within_rounding() {
        compact_str::format_compact!("≈{shown}±{}", f(error))
    } else {
        compact_str::format_compact!("≈{shown}")
    }
}

/// The verdict a row stands for, to colour it by: a rule's target, a chain's policy, or
/// `RETURN` for what fell through a user chain (it goes back to the caller).
pub fn verdict_of<'a>(table: &'a FirewallTable, row: &TreeRow) -> Option<&'a str> {
    match row.kind {
        RowKind::Rule { chain, rule } => Some(&table.chains[chain].rules[rule].spec.target),
        RowKind::Verdict { chain } => Some(table.chains[chain].policy().unwrap_or("RETURN")),
        RowKind::Chain { .. } | RowKind::Ref { .. } => None,
    }
}

fn delta_text(m: &Movement, f: impl Fn(&Delta) -> Text) -> Text {
    match m {
        Movement::NoWindow | Movement::None => "-".into(),
        Movement::New => "new".into(),
        Movement::Unknown => "?".into(),
        Movement::Delta(d) if d.reset => compact_str::format_compact!("↺{}", f(d)),
        Movement::Delta(d) => f(d),
    }
}

/// The deltas a view shows: the Δ columns (over a window, or since a baseline) and the
/// rate (over the last poll).
#[derive(Debug, Clone, Copy, Default)]
pub struct ShownDeltas<'a> {
    pub shown: Option<&'a TableDelta>,
    pub rate: Option<&'a TableDelta>,
    /// The window `rate` covers.
    pub rate_window: Duration,
}

impl<'a> ShownDeltas<'a> {
    /// Δ columns and rate from the same window (`--once --window`).
    pub fn window(deltas: Option<&'a TableDelta>, elapsed: Duration) -> Self {
        ShownDeltas {
            shown: deltas,
            rate: deltas,
            rate_window: elapsed,
        }
    }

    /// Packets per second of a row over the rate window.
    pub fn pps(&self, table: &FirewallTable, row: &TreeRow) -> Option<f64> {
        let secs = self.rate_window.as_secs_f64();
        match movement(table, row, self.rate) {
            Movement::Delta(d) if secs > 0.0 => Some(d.packets as f64 / secs),
            _ => None,
        }
    }
}

/// All cells of a row (its facts derived here: for one row of the live view).
pub fn cells<'a>(table: &'a FirewallTable, row: &TreeRow, view: &ShownDeltas) -> Cells<'a> {
    // only the end of a chain reads what fell through
    let ends = match row.kind {
        RowKind::Verdict { .. } => Ends::of(table, view),
        _ => Ends::default(),
    };
    cells_of(table, row, view, &facts(table, row, view, &ends))
}

/// All cells of a row whose facts are derived.
pub fn cells_of<'a>(
    table: &'a FirewallTable,
    row: &TreeRow,
    view: &ShownDeltas,
    facts: &RowFacts,
) -> Cells<'a> {
    if let RowKind::Ref { .. } = row.kind {
        // no counters of its own: only where the chain is shown
        return Cells {
            prefix: row.prefix(),
            label: label_of(table, row),
            ..Default::default()
        };
    }
    let m = facts.movement;
    let pps = facts.pps;
    let mut c = Cells {
        prefix: row.prefix(),
        label: label_of(table, row),
        dpkts: delta_text(&m, |d| format::count(d.packets)),
        dbytes: delta_text(&m, |d| format::bytes(d.bytes)),
        rate: pps.map_or_else(|| "-".into(), format::rate),
        pps: pps.unwrap_or(0.0),
        moved: m.moved(),
        reset: m.delta().is_some_and(|d| d.reset),
        ..Default::default()
    };
    match row.kind {
        RowKind::Chain { chain } => {
            let ch = &table.chains[chain];
            if ch.is_builtin() {
                c.pkts = format::count(ch.packets);
                c.bytes = format::bytes(ch.bytes);
            } else {
                // A user chain at the root (drilled into, or unreferenced): what entered
                // it through the rules that jump to it.
                let (p, b, d) = entered(table, chain, view.shown);
                c.pkts = format::count(p);
                c.bytes = format::bytes(b);
                if let Some(d) = d {
                    c.dpkts = delta_text(&Movement::Delta(d), |d| format::count(d.packets));
                    c.dbytes = delta_text(&Movement::Delta(d), |d| format::bytes(d.bytes));
                    c.moved = d.moved();
                    c.reset = d.reset;
                }
                if let (Some(d), secs) = (
                    entered(table, chain, view.rate).2,
                    view.rate_window.as_secs_f64(),
                ) && secs > 0.0
                {
                    c.pps = d.packets as f64 / secs;
                    c.rate = format::rate(c.pps);
                }
            }
        }
        RowKind::Rule { chain, rule } => {
            let r = &table.chains[chain].rules[rule];
            let k = table.chains[chain].counter(rule);
            let s = &r.spec;
            c.pkts = format::count(k.packets);
            c.bytes = format::bytes(k.bytes);
            c.prot = protocol_name(&s.prot);
            c.opt = Cow::Borrowed(&s.opt);
            c.in_iface = Cow::Borrowed(&s.in_iface);
            c.out_iface = Cow::Borrowed(&s.out_iface);
            c.source = Cow::Borrowed(&s.source);
            c.destination = Cow::Borrowed(&s.destination);
            c.matches = Cow::Borrowed(&s.extra);
            // a verdict map's element has none of its own (0)
            c.handle = match r.native.as_ref().filter(|n| n.handle != 0) {
                Some(n) => Text::new(itoa::Buffer::new().format(n.handle)),
                None => "-".into(),
            };
        }
        RowKind::Verdict { .. } => {
            let fell = facts.fell;
            match fell.counted() {
                Some(k) => {
                    let e = fell.error();
                    c.pkts = approx(format::count(k.packets), e.packets, fell, format::count);
                    c.bytes = approx(format::bytes(k.bytes), e.bytes, fell, format::bytes);
                }
                None => {
                    c.pkts = "?".into();
                    c.bytes = "?".into();
                }
            }
            // no count to scope by its callers: the reason comes first, unshortened
            if fell == Fell::Inconsistent {
                c.label = Cow::Borrowed(FELL_THROUGH_INCONSISTENT);
            }
            // over a window of abbreviated counters, the Δ is approximate too
            if facts.approx_window && m.delta().is_some() {
                c.dpkts.insert(0, '≈');
                c.dbytes.insert(0, '≈');
            }
        }
        RowKind::Ref { .. } => {}
    }
    if !table.has_counters {
        c.pkts.clear();
        c.bytes.clear();
    }
    if table.family.is_some() {
        native_cells(table, row, &mut c);
    }
    c
}

/// What a native nftables table's counters can say: a rule without a `counter`
/// statement has no numbers at all (never 0), a base chain has no policy counters, and
/// what fell through a chain is not known from counters that may be missing.
fn native_cells(table: &FirewallTable, row: &TreeRow, c: &mut Cells) {
    let none = |c: &mut Cells, what: &str| {
        c.pkts = what.into();
        c.bytes.clear();
        c.dpkts = "-".into();
        c.dbytes = "-".into();
        c.rate = "-".into();
        c.pps = 0.0;
        c.moved = false;
        c.reset = false;
    };
    match row.kind {
        RowKind::Rule { chain, rule } => {
            let r = &table.chains[chain].rules[rule];
            if r.native.as_ref().is_some_and(|n| !n.has_counter) {
                // what a trace saw where nothing counts
                match table.traced(chain, rule) {
                    Some(n) => none(c, &format!("traced {n}")),
                    None => none(c, "no counter"),
                }
            }
            c.prot = Cow::Borrowed("");
        }
        RowKind::Chain { chain } if table.chains[chain].is_builtin() => none(c, "-"),
        RowKind::Verdict { .. } => none(c, "?"),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inconsistent_label_is_its_parts() {
        assert_eq!(
            FELL_THROUGH_INCONSISTENT,
            format!("{FELL_THROUGH}: {INCONSISTENT_SHORT}")
        );
    }
}
