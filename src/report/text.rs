//! The tree as fixed-width text: one row per chain or rule, indentation showing the
//! nesting, the columns lined up. No colour codes: made to paste into a ticket. Each chain
//! is expanded once ([`tree::once`]); its other jumps say where. Deep rows draw their
//! depth as a number and columns are padded to a bounded width (a longer value pushes
//! the rest of its own row only), so the output stays about the size of the listing.

use std::fmt::Write as _;

use unicode_width::UnicodeWidthStr;

use super::Input;
use crate::cells::{self, Cells, Column, ColumnSet};
use crate::explain::{findings, notes};
use crate::format;
use crate::model::{Counter, Fell, FirewallTable};
use crate::tree::{self, RowKind};

/// A row's cells, whether it is a line of its own without columns (a reference to where
/// a chain is shown, or the end of a chain that nothing reached), and the note on the
/// chain it shows (once per chain).
pub type Line<'a> = (Cells<'a>, bool, Option<String>);

/// Rows beyond this are cut (a safety net: each chain is shown once).
pub const MAX_ROWS: usize = 2_000_000;

/// The columns of the export: those on by default, and of a native nftables table only
/// those it has (counters and the rule as nft prints it).
pub fn columns(native: bool) -> Vec<Column> {
    ColumnSet::default()
        .columns()
        .into_iter()
        .filter(|c| !native || c.def().native)
        .collect()
}

/// Columns are padded to at most this width...
const MAX_PAD: usize = 48;
/// ...and the tree column to at most this.
const MAX_TREE_PAD: usize = 64;

pub fn render(input: &Input) -> String {
    let snap = input.snapshot;
    let mut out = preamble(input);
    // Build every table's rows first so that columns line up across tables.
    let mut sections: Vec<(String, Vec<Line>, bool)> = Vec::new();
    for (ti, t) in snap.tables.iter().enumerate() {
        let roots = tree::roots(t, input.roots);
        let (cells, cut) = table_lines(input, ti, &roots);
        let mut title = match &t.family {
            Some(f) => format!("table {f} {} · nftables", crate::sanitize::text(&t.name)),
            None => format!("table {}", crate::sanitize::text(&t.name)),
        };
        if let Some(b) = t.backend {
            title.push_str(&format!(" · {b}"));
        }
        if input.moved_only {
            title.push_str(" (only rules that moved)");
        }
        if !t.exact {
            title.push_str(" (abbreviated counters: listing without -x)");
        }
        sections.push((title, cells, cut));
    }
    // iptables' columns line up across iptables tables, a native table's across native
    // ones: nft rules have no prot/opt/in/out/source/destination columns, only their text
    let native = |ti: usize| snap.tables[ti].family.is_some();
    let (ipt_cols, native_cols) = (columns(false), columns(true));
    let cols_of = |ti: usize| -> &[Column] { if native(ti) { &native_cols } else { &ipt_cols } };
    let width_of = |n: bool| {
        let cols: &[Column] = if n { &native_cols } else { &ipt_cols };
        let lines = sections
            .iter()
            .enumerate()
            .filter(|(ti, _)| native(*ti) == n)
            .flat_map(|(_, (_, cells, _))| cells);
        widths(cols, lines)
    };
    let (ipt_widths, native_widths) = (width_of(false), width_of(true));
    let mut notes = Notes::default();
    for (ti, (title, cells, cut)) in sections.iter().enumerate() {
        let cols = cols_of(ti);
        let widths = if native(ti) {
            &native_widths
        } else {
            &ipt_widths
        };
        out.push('\n');
        out.push_str(title);
        out.push('\n');
        push_titles(&mut out, cols, widths);
        for line in cells {
            push_row(&mut out, cols, line, widths, &mut notes);
        }
        if *cut {
            let _ = writeln!(out, "… tree cut after {MAX_ROWS} rows");
        }
        notes.push_new(&mut out);
    }
    push_findings(&mut out, input);
    out
}

/// The first lines of a text export: version and source, when it was taken and the
/// window its deltas cover, warnings.
pub(super) fn preamble(input: &Input) -> String {
    let snap = input.snapshot;
    let mut out = String::new();
    let _ = write!(
        out,
        "iptop {} · {}",
        env!("CARGO_PKG_VERSION"),
        crate::sanitize::text(&input.source.describe())
    );
    if !input.source.version.is_empty() {
        let _ = write!(out, " · {}", crate::sanitize::text(&input.source.version));
    }
    out.push('\n');
    let _ = write!(out, "taken {}", format::timestamp(snap.taken_at));
    match (input.deltas, input.window_start) {
        (Some(d), Some(start)) => {
            let _ = write!(
                out,
                " · window {} from {}",
                format::duration(d.elapsed),
                format::timestamp(start)
            );
        }
        (Some(d), None) => {
            let _ = write!(out, " · window {}", format::duration(d.elapsed));
        }
        (None, _) => out.push_str(" · no window (use --window 2s for deltas)"),
    }
    if let Some(w) = input.window_note {
        let _ = write!(out, " ({w})");
    }
    out.push('\n');
    for w in &snap.warnings {
        let _ = writeln!(out, "warning: {}", crate::sanitize::text(w));
    }
    out
}

/// The lines of table `ti` of the export, from `roots`, each chain expanded once (after
/// --moved-only). Returns whether the tree was cut.
pub(super) fn table_lines<'a>(
    input: &Input<'a>,
    ti: usize,
    roots: &[usize],
) -> (Vec<Line<'a>>, bool) {
    let t = &input.snapshot.tables[ti];
    let td = input.deltas.and_then(|d| d.table(ti));
    // a shared chain is expanded under the jump that carried the most
    let weight = |c: usize, r: usize| jump_weight(t, td, c, r);
    let (rows, cut) = tree::once::build_by(t, roots, &weight, MAX_ROWS);
    let rows = if input.moved_only {
        moved_rows(t, td, &rows)
    } else {
        rows
    };
    (lines_of(input, ti, &rows), cut)
}

/// `--moved-only`: the rows that moved in the window and the way to them.
pub(super) fn moved_rows(
    t: &FirewallTable,
    td: Option<&crate::diff::TableDelta>,
    rows: &[tree::TreeRow],
) -> Vec<tree::TreeRow> {
    let keep = tree::moved_mask_through(
        rows,
        |r| cells::movement(t, r, td).moved(),
        |r| cells::uncounted(t, r),
    );
    tree::keep(rows, &keep)
}

/// What the jump rule `r` of chain `c` carried: packets in the window, then in total.
pub(super) fn jump_weight(
    t: &FirewallTable,
    td: Option<&crate::diff::TableDelta>,
    c: usize,
    r: usize,
) -> (u64, u64) {
    let window = td.and_then(|td| td.rule(c, r)).map_or(0, |d| d.packets);
    (window, t.chains[c].counter(r).packets)
}

/// The lines of these rows of table `ti`.
pub(super) fn lines_of<'a>(input: &Input<'a>, ti: usize, rows: &[tree::TreeRow]) -> Vec<Line<'a>> {
    let t = &input.snapshot.tables[ti];
    let td = input.deltas.and_then(|d| d.table(ti));
    let elapsed = input.deltas.map(|d| d.elapsed).unwrap_or_default();
    let view = cells::ShownDeltas::window(td, elapsed);
    let noted = note_rows(t, rows);
    rows.iter()
        .zip(noted)
        .map(|(r, note)| {
            let mut cells = cells::cells(t, r, &view);
            if let Some(n) = input.names {
                n.decorate(&mut cells);
            }
            // a jump to a one-rule MARK chain says what it does (`tree::once::inline_action`)
            if let (RowKind::Rule { .. }, Some(action)) = (r.kind, &r.note) {
                cells.label = format!("{} → {action}", cells.label).into();
            }
            // the end of a user chain that nothing reached, or whose count the counters
            // do not give, in a few words
            let brief = match r.kind {
                // counters that may be missing do not tell what fell through
                RowKind::Verdict { chain }
                    if t.family.is_some() && !t.chains[chain].is_builtin() =>
                {
                    Some("unknown")
                }
                RowKind::Verdict { chain } if !t.chains[chain].is_builtin() => {
                    let m = cells::movement(t, r, td);
                    let still = !matches!(m, cells::Movement::Delta(d) if d.moved() || d.reset);
                    let fell = crate::flow::fell_through_total(t, chain);
                    match fell.counted() {
                        _ if fell == Fell::Inconsistent => Some(cells::INCONSISTENT),
                        Some(d) if d == Counter::default() && still => Some("nothing"),
                        None if still || m == cells::Movement::Unknown => Some("unknown"),
                        _ => None,
                    }
                }
                _ => None,
            };
            if let Some(b) = brief {
                cells.label = format!("{}: {b}", cells::label(t, r)).into();
            }
            let nothing = brief.is_some();
            // escaped before the columns are measured
            cells.sanitize();
            let note = note.map(|n| crate::sanitize::text(&n).into_owned());
            (
                cells,
                nothing || matches!(r.kind, RowKind::Ref { .. }),
                note,
            )
        })
        .collect()
}

/// Column widths for these lines (titles included), each bounded.
pub fn widths<'a, 'b: 'a>(
    cols: &[Column],
    lines: impl Iterator<Item = &'a Line<'b>>,
) -> Vec<usize> {
    let mut widths: Vec<usize> = cols.iter().map(|c| c.title().width()).collect();
    for (c, _, _) in lines.filter(|(_, is_ref, _)| !is_ref) {
        for (i, col) in cols.iter().enumerate() {
            let w = match col {
                Column::Tree => (width(&c.prefix) + width(&c.label)).min(MAX_TREE_PAD),
                _ => width(c.get(*col)).min(MAX_PAD),
            };
            widths[i] = widths[i].max(w);
        }
    }
    widths
}

/// The column titles.
pub fn push_titles(out: &mut String, cols: &[Column], widths: &[usize]) {
    push_line(out, cols, |col| [col.title(), ""], widths, None);
}

/// The notes of an export: a row that has one ends in its number (`[1]`), and the notes
/// are listed once, under the table (or hook) where they were first referenced, so that
/// no row carries a paragraph and a note shared by many chains is printed once.
#[derive(Debug, Default)]
pub struct Notes {
    list: Vec<String>,
    listed: usize,
}

impl Notes {
    /// The number of this note, given one the first time it is seen.
    fn number(&mut self, note: &str) -> usize {
        match self.list.iter().position(|n| n == note) {
            Some(i) => i + 1,
            None => {
                self.list.push(note.to_string());
                self.list.len()
            }
        }
    }

    /// Lists the notes numbered since the last call, under a `notes` line.
    pub fn push_new(&mut self, out: &mut String) {
        if self.listed == self.list.len() {
            return;
        }
        out.push_str("notes\n");
        for (i, n) in self.list.iter().enumerate().skip(self.listed) {
            let _ = writeln!(out, "  [{}] {n}", i + 1);
        }
        self.listed = self.list.len();
    }
}

/// One row: its columns lined up, or for a reference only where the chain is shown. A
/// note on the row is numbered in `notes` and the row ends in its number.
pub fn push_row(
    out: &mut String,
    cols: &[Column],
    (c, is_ref, note): &Line,
    widths: &[usize],
    notes: &mut Notes,
) {
    if *is_ref {
        // only where the chain is shown: no columns to line up
        let _ = writeln!(out, "{}{}", c.prefix, c.label);
        return;
    }
    push_line(
        out,
        cols,
        |col| match col {
            Column::Tree => [c.prefix.as_str(), &c.label],
            _ => [c.get(col), ""],
        },
        widths,
        note.as_deref().map(|n| notes.number(n)),
    );
}

/// The findings, at the end of the export.
pub(super) fn push_findings(out: &mut String, input: &Input) {
    let found = findings::evaluate(input.snapshot, input.deltas);
    if found.is_empty() {
        return;
    }
    out.push_str("\nfindings\n");
    for f in &found {
        let mut place = f.table.clone();
        if let Some(b) = f.backend {
            place.push_str(&format!(" · {b}"));
        }
        if let Some(c) = &f.chain {
            place.push_str(&format!(" {c}"));
        }
        if let Some(r) = f.rule {
            place.push_str(&format!(" rule {r}"));
        }
        let _ = writeln!(
            out,
            "{:<8}  {:<29}  {}: {}",
            f.severity.as_str(),
            f.id,
            crate::sanitize::text(&place),
            crate::sanitize::text(&f.message)
        );
    }
}

/// The note to print after each row: on the row where a chain's rules are shown (a root,
/// or the jump they are expanded under), else its first jump; once per chain, and a note
/// that many chains share (`KUBE-SEP-*`) only at the first of them. The
/// built-in chains are left out: a ticket needs no note on what FORWARD is.
fn note_rows(t: &FirewallTable, rows: &[tree::TreeRow]) -> Vec<Option<String>> {
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
        {
            let line = n.line();
            if said.insert(line.clone()) {
                out[i] = Some(line);
            }
        }
    }
    out
}

/// One line of columns, each value given in two parts (the tree's prefix and label) so
/// that nothing is built to be measured; trailing blanks cut.
/// The columns `s` takes: its length when it is ASCII (almost every cell), its count of
/// characters when it is tree drawing.
fn width(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else if s
        .chars()
        .all(|c| matches!(c, '│' | '├' | '└' | '─' | '…' | ' '..='~'))
    {
        s.chars().count()
    } else {
        s.width()
    }
}

fn push_spaces(out: &mut String, n: usize) {
    const SPACES: &str = "                                                                ";
    let mut n = n;
    while n > 0 {
        let k = n.min(SPACES.len());
        out.push_str(&SPACES[..k]);
        n -= k;
    }
}

fn push_line<'a>(
    out: &mut String,
    cols: &[Column],
    value: impl Fn(Column) -> [&'a str; 2],
    widths: &[usize],
    note: Option<usize>,
) {
    let start = out.len();
    for (i, col) in cols.iter().enumerate() {
        if i > 0 {
            out.push_str("  ");
        }
        let [a, b] = value(*col);
        let pad = widths[i].saturating_sub(width(a) + width(b));
        if col.right_aligned() {
            push_spaces(out, pad);
            out.push_str(a);
            out.push_str(b);
        } else {
            out.push_str(a);
            out.push_str(b);
            push_spaces(out, pad);
        }
    }
    let kept = out[start..].trim_end().len();
    out.truncate(start + kept);
    if let Some(n) = note {
        let _ = write!(out, "  [{n}]");
    }
    out.push('\n');
}
