//! Derive once, then render: a poll's derived facts, computed per table once, as plain
//! data that every format of an export only writes out. What fell through each chain is
//! computed once per table ([`crate::flow`]), each row of a table's tree gets its facts
//! (movement, rate, what fell through its chain: [`crate::cells::RowFacts`]), then the
//! rows that `--moved-only` keeps, the note each chain carries, a row's verdict and, for
//! a format that shows them, its cells; the findings once per snapshot. The path view's
//! model (hooks in netfilter's order) is [`path`].
//!
//! The formatters (`report/`, `ui/export.rs`, the live view's path view) take what is
//! derived here and read nothing else of the counters.

pub mod path;
pub mod table;

use std::time::{Duration, SystemTime};

use crate::cells::{self, Cells, Ends, Movement, RowFacts, ShownDeltas};
use crate::diff::{Delta, Deltas, TableDelta};
use crate::explain::{findings, notes};
use crate::model::{Counter, Fell, FirewallTable, Snapshot, SourceInfo};
use crate::tree::{self, RowKind, TreeRow};

/// Everything an export needs.
#[derive(Clone, Copy)]
pub struct Input<'a> {
    pub snapshot: &'a Snapshot,
    /// Deltas over the window, if there was one.
    pub deltas: Option<&'a Deltas>,
    /// When the window started.
    pub window_start: Option<SystemTime>,
    pub source: &'a SourceInfo,
    /// Chains to start the tree from (`-c`); empty: the built-ins.
    pub roots: &'a [String],
    /// Only rules whose counters moved in the window, with their chain path.
    pub moved_only: bool,
    /// Names from Docker for bridges and container addresses, when it answered.
    pub names: Option<&'a crate::docker::Names>,
    /// What the window is, when it is not two samples (`since the baseline (z)`).
    pub window_note: Option<&'a str>,
}

/// Rows beyond this are cut (a safety net: each chain is shown once).
pub const MAX_ROWS: usize = 2_000_000;

/// What a format shows, so that nothing else is derived: JSON writes numbers and no
/// cells, a picture no findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// Each row as text shows it: cells (escaped), note, verdict ([`Row`]).
    pub rows: bool,
    /// Each row's numbers ([`Counts`]).
    pub counts: bool,
    /// The findings ([`crate::explain::findings`]).
    pub findings: bool,
}

impl Want {
    /// The text export: rows and findings.
    pub const TEXT: Want = Want {
        rows: true,
        counts: false,
        findings: true,
    };
    /// JSON: the numbers alone.
    pub const JSON: Want = Want {
        rows: false,
        counts: true,
        findings: false,
    };
    /// A picture (the SVG, the live view's path view): rows.
    pub const PICTURE: Want = Want {
        rows: true,
        counts: false,
        findings: false,
    };
}

/// What every export starts with: where the tables came from, when, over what window.
pub struct Header<'a> {
    pub source: &'a SourceInfo,
    /// The back ends the tables came from, `nft+legacy` (empty when none is known).
    pub backends: String,
    pub taken_at: SystemTime,
    /// The window the deltas cover, None without deltas.
    pub window: Option<Duration>,
    pub window_start: Option<SystemTime>,
    /// What the window is, when it is not two samples (`since the baseline (z)`).
    pub window_note: Option<&'a str>,
    pub warnings: &'a [String],
}

/// The header of an export of `input`.
pub fn header<'a>(input: &Input<'a>) -> Header<'a> {
    let snap = input.snapshot;
    let backends: Vec<&str> = snap.backends().iter().map(|b| b.as_str()).collect();
    Header {
        source: input.source,
        backends: backends.join("+"),
        taken_at: snap.taken_at,
        window: input.deltas.map(|d| d.elapsed),
        window_start: input.window_start,
        window_note: input.window_note,
        warnings: &snap.warnings,
    }
}

/// The findings of `input` ([`crate::explain::findings`]), once per snapshot, over each
/// rule's match text read once ([`findings::Facts`]).
pub fn findings(input: &Input) -> Vec<findings::Finding> {
    let facts = findings::Facts::of(input.snapshot);
    findings::evaluate_facts(&facts, input.deltas)
}

/// One table with its deltas and what fell through each of its chains, computed once.
pub struct TableFacts<'a> {
    pub table: &'a FirewallTable,
    pub deltas: Option<&'a TableDelta>,
    view: ShownDeltas<'a>,
    ends: Ends<'a>,
}

impl<'a> TableFacts<'a> {
    /// Table `ti` of `input`.
    pub fn of(input: &Input<'a>, ti: usize) -> TableFacts<'a> {
        let table = &input.snapshot.tables[ti];
        let deltas = input.deltas.and_then(|d| d.table(ti));
        let elapsed = input.deltas.map(|d| d.elapsed).unwrap_or_default();
        let view = ShownDeltas::window(deltas, elapsed);
        TableFacts {
            table,
            deltas,
            view,
            ends: Ends::of(table, &view),
        }
    }

    /// The table's tree from `roots`, each chain expanded once (a shared chain under the
    /// jump that carried the most), with each row's facts; and whether it was cut.
    pub fn tree(&self, roots: &[usize]) -> (Vec<TreeRow>, Vec<RowFacts>, bool) {
        let (t, td) = (self.table, self.deltas);
        // what the jump rule carried: packets in the window, then in total
        let weight = |c: usize, r: usize| {
            let window = td.and_then(|td| td.rule(c, r)).map_or(0, |d| d.packets);
            (window, t.chains[c].counter(r).packets)
        };
        let (rows, cut) = tree::once::build_by(t, roots, &weight, MAX_ROWS);
        let facts = rows
            .iter()
            .map(|r| cells::facts(t, r, &self.view, &self.ends))
            .collect();
        (rows, facts, cut)
    }

    /// `--moved-only`: the rows that moved in the window and the way to them, with
    /// their facts.
    pub fn moved(&self, rows: &[TreeRow], facts: &[RowFacts]) -> (Vec<TreeRow>, Vec<RowFacts>) {
        let keep = tree::moved_mask_at(
            rows,
            |i| facts[i].movement.moved(),
            |i| cells::uncounted(self.table, &rows[i]),
        );
        let facts = facts
            .iter()
            .zip(&keep)
            .filter_map(|(f, &k)| k.then_some(*f))
            .collect();
        (tree::keep(rows, &keep), facts)
    }

    /// Did anything on these rows move, through jumps that moved (or cannot tell)?
    pub fn any_moved(&self, rows: &[TreeRow], facts: &[RowFacts]) -> bool {
        let on = tree::moved_through_at(
            rows,
            |i| facts[i].movement.moved(),
            |i| cells::uncounted(self.table, &rows[i]),
        );
        on.iter().any(|&m| m)
    }
}

/// One row of a table's tree as text shows it.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    /// The text columns, escaped.
    pub cells: Cells<'a>,
    /// A line of its own without columns: a reference to where a chain is shown, or the
    /// end of a chain that nothing reached.
    pub free: bool,
    /// The note on the chain the row shows (once per chain), escaped.
    pub note: Option<String>,
    /// The verdict it stands for, to colour it by ([`cells::verdict_of`]).
    pub verdict: &'a str,
    /// A rule that jumps to a user chain.
    pub jump: bool,
}

/// One row's numbers, as JSON writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Its packets and bytes; None where not determinable or where nothing counts.
    pub count: Option<Counter>,
    /// Their delta over the window (a rule new in it: from zero).
    pub delta: Option<Delta>,
}

/// The rows of one table's tree from `roots` (after `--moved-only`), each handed to
/// `each` as it is made (a text export lays out its cells then; none are kept), and
/// whether the tree was cut.
pub fn table_rows_each<'a>(
    input: &Input<'a>,
    ti: usize,
    roots: &[usize],
    each: impl FnMut(Row<'a>),
) -> bool {
    let tf = TableFacts::of(input, ti);
    let (rows, facts, cut) = tf.tree(roots);
    let (rows, facts) = if input.moved_only {
        tf.moved(&rows, &facts)
    } else {
        (rows, facts)
    };
    derive_rows_each(input, &tf, &rows, &facts, each);
    cut
}

/// Each of these rows of a table with its facts, as text shows it.
pub fn derive_rows<'a>(
    input: &Input<'a>,
    tf: &TableFacts<'a>,
    rows: &[TreeRow],
    facts: &[RowFacts],
) -> Vec<Row<'a>> {
    let mut out = Vec::with_capacity(rows.len());
    derive_rows_each(input, tf, rows, facts, |r| out.push(r));
    out
}

/// [`derive_rows`], each row handed to `each` as it is made.
fn derive_rows_each<'a>(
    input: &Input<'a>,
    tf: &TableFacts<'a>,
    rows: &[TreeRow],
    facts: &[RowFacts],
    mut each: impl FnMut(Row<'a>),
) {
    let t = tf.table;
    for ((r, f), note) in rows.iter().zip(facts).zip(note_rows(t, rows)) {
        let (cells, brief) = shown_cells(input, tf, r, f);
        each(Row {
            cells,
            free: brief || matches!(r.kind, RowKind::Ref { .. }),
            note: note.map(|n| crate::sanitize::text(&n).into_owned()),
            verdict: cells::verdict_of(t, r).unwrap_or_default(),
            jump: matches!(r.kind, RowKind::Rule { .. }) && r.jump.is_some(),
        });
    }
}

/// Each of these rows' numbers.
pub fn derive_counts(tf: &TableFacts, rows: &[TreeRow], facts: &[RowFacts]) -> Vec<Counts> {
    rows.iter()
        .zip(facts)
        .map(|(r, f)| Counts {
            count: count(tf.table, r, f),
            delta: delta(tf.table, r, f),
        })
        .collect()
}

/// A row's cells as a text export shows them (escaped), and whether its label says in a
/// few words what fell through the end of a chain.
fn shown_cells<'a>(
    input: &Input<'a>,
    tf: &TableFacts<'a>,
    r: &TreeRow,
    f: &RowFacts,
) -> (Cells<'a>, bool) {
    let t = tf.table;
    let mut cells = cells::cells_of(t, r, &tf.view, f);
    if let Some(n) = input.names {
        n.decorate(&mut cells);
    }
    // a jump to a one-rule MARK chain says what it does (`tree::once::inline_action`)
    if let (RowKind::Rule { .. }, Some(action)) = (r.kind, &r.note) {
        cells.label = [&*cells.label, " → ", action].concat().into();
    }
    // the end of a user chain that nothing reached, or whose count the counters do not
    // give, in a few words
    let brief = match r.kind {
        // counters that may be missing do not tell what fell through
        RowKind::Verdict { chain } if t.family.is_some() && !t.chains[chain].is_builtin() => {
            Some("unknown")
        }
        RowKind::Verdict { chain } if !t.chains[chain].is_builtin() => {
            let m = f.movement;
            let still = !matches!(m, Movement::Delta(d) if d.moved() || d.reset);
            match f.fell.counted() {
                _ if f.fell == Fell::Inconsistent => Some(cells::INCONSISTENT),
                Some(d) if d == Counter::default() && still => Some("nothing"),
                None if still || m == Movement::Unknown => Some("unknown"),
                _ => None,
            }
        }
        _ => None,
    };
    if let Some(b) = brief {
        cells.label = [&*cells::label(t, r), ": ", b].concat().into();
    }
    // escaped before the columns are measured
    cells.sanitize();
    (cells, brief.is_some())
}

/// A row's packets and bytes: a built-in chain's policy counters (an iptables table's:
/// a native base chain has none), a rule's (none for a native rule without `counter`),
/// what fell through a chain when the counters tell (never for a native table, whose
/// counters may be missing).
fn count(t: &FirewallTable, r: &TreeRow, f: &RowFacts) -> Option<Counter> {
    match r.kind {
        RowKind::Chain { chain } => {
            let c = &t.chains[chain];
            (c.is_builtin() && t.family.is_none()).then_some(Counter {
                packets: c.packets,
                bytes: c.bytes,
            })
        }
        RowKind::Rule { .. } if cells::uncounted(t, r) => None,
        RowKind::Rule { chain, rule } => Some(t.chains[chain].counter(rule)),
        RowKind::Verdict { .. } => f.fell.counted().filter(|_| t.family.is_none()),
        RowKind::Ref { .. } => None,
    }
}

/// A row's delta over the window: a rule new in it moved from zero; none for a rule
/// that counts nothing.
fn delta(t: &FirewallTable, r: &TreeRow, f: &RowFacts) -> Option<Delta> {
    match (f.movement, r.kind) {
        _ if cells::uncounted(t, r) => None,
        (Movement::Delta(d), _) => Some(d),
        (Movement::New, RowKind::Rule { chain, rule }) => {
            let k = t.chains[chain].counter(rule);
            Some(Delta {
                packets: k.packets,
                bytes: k.bytes,
                reset: false,
            })
        }
        _ => None,
    }
}

/// The note to print after each row: on the row where a chain's rules are shown (a root,
/// or the jump they are expanded under), else its first jump; once per chain, and a note
/// that many chains share (`KUBE-SEP-*`) only at the first of them. The
/// built-in chains are left out: a ticket needs no note on what FORWARD is.
fn note_rows(t: &FirewallTable, rows: &[TreeRow]) -> Vec<Option<String>> {
    let mut at: Vec<Option<usize>> = vec![None; t.chains.len()];
    let mut first: Vec<Option<usize>> = vec![None; t.chains.len()];
    for (i, r) in rows.iter().enumerate() {
        let (chain, expanded) = match (r.kind, r.jump) {
            (RowKind::Chain { chain }, _) => (chain, true),
            (RowKind::Rule { .. }, Some(j)) => {
                // a Ref row right under the jump: the chain is shown elsewhere
                let elsewhere = rows.get(i + 1).is_some_and(|n| {
                    matches!(n.kind, RowKind::Ref { .. }) && n.parent == Some(i as u32)
                });
                (j, !elsewhere && r.fold == tree::Fold::Expanded)
            }
            _ => continue,
        };
        first[chain].get_or_insert(i);
        if expanded {
            at[chain].get_or_insert(i);
        }
    }
    let mut out = vec![None; rows.len()];
    // a note shared by many chains (one per kube-proxy endpoint) is printed once
    let mut said = std::collections::HashSet::new();
    // the line of each note met (by its address: the notes are loaded once), made once
    let mut met = std::collections::HashSet::new();
    let mut places: Vec<(usize, usize)> = at
        .into_iter()
        .zip(first)
        .enumerate()
        .filter_map(|(c, (a, f))| Some((a.or(f)?, c)))
        .collect();
    places.sort_unstable();
    for (i, c) in places {
        if let Some(n) = notes::about(&t.name, &t.chains[c].name)
            && n.by != "kernel"
            && met.insert(std::ptr::from_ref(n))
        {
            let line = n.line();
            if said.insert(line.clone()) {
                out[i] = Some(line);
            }
        }
    }
    out
}
