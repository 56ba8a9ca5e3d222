//! The tree as fixed-width text: one row per chain or rule, indentation showing the
//! nesting, the columns lined up. No colour codes: made to paste into a ticket. Each chain
//! is expanded once ([`tree::once`]); its other jumps say where. Deep rows draw their
//! depth as a number and columns are padded to a bounded width (a longer value pushes
//! the rest of its own row only), so the output stays about the size of the listing.

use std::fmt::Write as _;

use unicode_width::UnicodeWidthStr;

use super::Input;
use crate::cells::{self, ALL, Cells, Column};
use crate::diff::Delta;
use crate::explain::{findings, notes};
use crate::format;
use crate::model::FirewallTable;
use crate::tree::{self, RowKind};

/// A row's cells, whether it is a reference to where a chain is shown, and the note on
/// the chain it shows (once per chain).
type Line = (Cells, bool, Option<String>);

/// Rows beyond this are cut (a safety net: each chain is shown once).
pub const MAX_ROWS: usize = 2_000_000;
/// Columns are padded to at most this width...
const MAX_PAD: usize = 48;
/// ...and the tree column to at most this.
const MAX_TREE_PAD: usize = 64;

pub fn render(input: &Input) -> String {
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
    out.push('\n');
    for w in &snap.warnings {
        let _ = writeln!(out, "warning: {}", crate::sanitize::text(w));
    }

    // Build every table's rows first so that columns line up across tables.
    let mut sections: Vec<(String, Vec<Line>, bool)> = Vec::new();
    for (ti, t) in snap.tables.iter().enumerate() {
        let roots = tree::roots(t, input.roots);
        let td = input.deltas.and_then(|d| d.table(ti));
        // a shared chain is expanded under the first jump that moved
        let moved = |c: usize, r: usize| td.and_then(|td| td.rule(c, r)).is_some_and(Delta::moved);
        let (rows, cut) = tree::once::build(t, &roots, &moved, MAX_ROWS);
        let rows = if input.moved_only {
            let keep = tree::moved_mask(&rows, |r| cells::movement(r, td).moved());
            tree::keep(&rows, &keep)
        } else {
            rows
        };
        let elapsed = input.deltas.map(|d| d.elapsed).unwrap_or_default();
        let view = cells::ShownDeltas::window(td, elapsed);
        let noted = note_rows(t, &rows);
        let cells = rows
            .iter()
            .zip(noted)
            .map(|(r, note)| {
                let mut cells = cells::cells(t, r, &view);
                if let Some(n) = input.names {
                    n.decorate(&mut cells);
                }
                // escaped before the columns are measured
                cells.sanitize();
                let note = note.map(|n| crate::sanitize::text(&n).into_owned());
                (cells, matches!(r.kind, RowKind::Ref { .. }), note)
            })
            .collect();
        let mut title = format!("table {}", crate::sanitize::text(&t.name));
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
    let mut widths: Vec<usize> = ALL.iter().map(|c| c.title().width()).collect();
    for (_, cells, _) in &sections {
        for (c, _, _) in cells.iter().filter(|(_, is_ref, _)| !is_ref) {
            for (i, col) in ALL.iter().enumerate() {
                let w = match col {
                    Column::Tree => (c.prefix.width() + c.label.width()).min(MAX_TREE_PAD),
                    _ => c.get(*col).width().min(MAX_PAD),
                };
                widths[i] = widths[i].max(w);
            }
        }
    }
    for (title, cells, cut) in &sections {
        out.push('\n');
        out.push_str(title);
        out.push('\n');
        let titles: Vec<String> = ALL.iter().map(|c| c.title().to_string()).collect();
        push_line(&mut out, &titles, &widths, None);
        for (c, is_ref, note) in cells {
            if *is_ref {
                // only where the chain is shown: no columns to line up
                let _ = writeln!(out, "{}{}", c.prefix, c.label);
                continue;
            }
            let vals: Vec<String> = ALL
                .iter()
                .map(|col| match col {
                    Column::Tree => format!("{}{}", c.prefix, c.label),
                    _ => c.get(*col).to_string(),
                })
                .collect();
            push_line(&mut out, &vals, &widths, note.as_deref());
        }
        if *cut {
            let _ = writeln!(out, "… tree cut after {MAX_ROWS} rows");
        }
    }
    let found = findings::evaluate(snap, input.deltas);
    if !found.is_empty() {
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
    out
}

/// The note to print after each row: on the row where a chain's rules are shown (a root,
/// or the jump they are expanded under), else its first jump; once per chain. The
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
    for (c, (a, f)) in at.into_iter().zip(first).enumerate() {
        if let Some(i) = a.or(f)
            && let Some(n) = notes::about(&t.name, &t.chains[c].name)
            && n.by != "kernel"
        {
            out[i] = Some(n.line());
        }
    }
    out
}

fn push_line(out: &mut String, vals: &[String], widths: &[usize], note: Option<&str>) {
    let mut line = String::new();
    for (i, (v, col)) in vals.iter().zip(ALL.iter()).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        let pad = widths[i].saturating_sub(v.width());
        if col.right_aligned() {
            line.extend(std::iter::repeat_n(' ', pad));
            line.push_str(v);
        } else {
            line.push_str(v);
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    out.push_str(line.trim_end());
    if let Some(n) = note {
        out.push_str("  # ");
        out.push_str(n);
    }
    out.push('\n');
}
