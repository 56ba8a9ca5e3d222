//! The tree as fixed-width text: one row per chain or rule, indentation showing the
//! nesting, every column lined up on every row. No colour codes: made to paste into a
//! ticket.

use std::fmt::Write as _;

use unicode_width::UnicodeWidthStr;

use super::Input;
use crate::columns::{self, ALL, Cells, Column};
use crate::format;
use crate::tree;

/// Rows beyond this are cut (a chain jumped to from many places repeats under each).
pub const MAX_ROWS: usize = 2_000_000;

pub fn render(input: &Input) -> String {
    let snap = input.snapshot;
    let mut out = String::new();
    let _ = write!(
        out,
        "iptop {} · {}",
        env!("CARGO_PKG_VERSION"),
        input.source.describe()
    );
    if !input.source.version.is_empty() {
        let _ = write!(out, " · {}", input.source.version);
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
        let _ = writeln!(out, "warning: {w}");
    }

    // Build every table's rows first so that columns line up across tables.
    let mut sections: Vec<(String, Vec<Cells>, bool)> = Vec::new();
    for (ti, t) in snap.tables.iter().enumerate() {
        let roots = tree::roots(t, input.roots);
        let (rows, cut) = tree::build(t, &roots, &|_| true, MAX_ROWS);
        let td = input.deltas.and_then(|d| d.table(ti));
        let rows = if input.moved_only {
            let keep = tree::moved_mask(&rows, |r| columns::movement(r, td).moved());
            tree::keep(&rows, &keep)
        } else {
            rows
        };
        let elapsed = input.deltas.map(|d| d.elapsed).unwrap_or_default();
        let view = columns::DeltaView::window(td, elapsed);
        let cells = rows.iter().map(|r| columns::cells(t, r, &view)).collect();
        let mut title = format!("table {}", t.name);
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
        for c in cells {
            for (i, col) in ALL.iter().enumerate() {
                let w = match col {
                    Column::Tree => c.prefix.width() + c.label.width(),
                    _ => c.get(*col).width(),
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
        push_line(&mut out, &titles, &widths);
        for c in cells {
            let vals: Vec<String> = ALL
                .iter()
                .map(|col| match col {
                    Column::Tree => format!("{}{}", c.prefix, c.label),
                    _ => c.get(*col).to_string(),
                })
                .collect();
            push_line(&mut out, &vals, &widths);
        }
        if *cut {
            let _ = writeln!(out, "… tree cut after {MAX_ROWS} rows");
        }
    }
    out
}

fn push_line(out: &mut String, vals: &[String], widths: &[usize]) {
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
    out.push('\n');
}
