//! The tree as fixed-width text: one row per chain or rule, indentation showing the
//! nesting, the columns lined up. No colour codes: made to paste into a ticket. Each chain
//! is expanded once ([`tree::once`]); its other jumps say where. Deep rows draw their
//! depth as a number and columns are padded to a bounded width (a longer value pushes
//! the rest of its own row only), so the output stays about the size of the listing.

use std::fmt::Write as _;

use unicode_width::UnicodeWidthStr;

use super::Input;
use crate::cells::{Cells, Column, ColumnSet};
pub use crate::derive::MAX_ROWS;
use crate::derive::{Header, Row};
use crate::explain::findings::Finding;
use crate::format;
use crate::tree;

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
    let mut out = preamble(&crate::derive::header(input));
    // Build every table's rows first so that columns line up across tables.
    let mut sections: Vec<(String, Vec<Row>, bool)> = Vec::new();
    for (ti, t) in snap.tables.iter().enumerate() {
        let roots = tree::roots(t, input.roots);
        let (cells, cut) = crate::derive::table_rows(input, ti, &roots);
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
    push_findings(&mut out, &crate::derive::findings(input));
    out
}

/// The first lines of a text export: version and source, when it was taken and the
/// window its deltas cover, warnings.
pub(super) fn preamble(h: &Header) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "iptop {} · {}",
        env!("CARGO_PKG_VERSION"),
        crate::sanitize::text(&h.source.describe())
    );
    if !h.source.version.is_empty() {
        let _ = write!(out, " · {}", crate::sanitize::text(&h.source.version));
    }
    out.push('\n');
    let _ = write!(out, "taken {}", format::timestamp(h.taken_at));
    match (h.window, h.window_start) {
        (Some(d), Some(start)) => {
            let _ = write!(
                out,
                " · window {} from {}",
                format::duration(d),
                format::timestamp(start)
            );
        }
        (Some(d), None) => {
            let _ = write!(out, " · window {}", format::duration(d));
        }
        (None, _) => out.push_str(" · no window (use --window 2s for deltas)"),
    }
    if let Some(w) = h.window_note {
        let _ = write!(out, " ({w})");
    }
    out.push('\n');
    for w in h.warnings {
        let _ = writeln!(out, "warning: {}", crate::sanitize::text(w));
    }
    out
}

/// Column widths for these lines (titles included), each bounded.
pub fn widths<'a, 'b: 'a>(cols: &[Column], lines: impl Iterator<Item = &'a Row<'b>>) -> Vec<usize> {
    let mut widths: Vec<usize> = cols.iter().map(|c| c.title().width()).collect();
    for c in lines.filter(|r| !r.free).map(|r| &r.cells) {
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
    pub fn number(&mut self, note: &str) -> usize {
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
pub fn push_row(out: &mut String, cols: &[Column], row: &Row, widths: &[usize], notes: &mut Notes) {
    let note = row.note.as_deref().map(|n| notes.number(n));
    push_cells(out, cols, &row.cells, row.free, widths, note);
}

/// A row's cells with their columns lined up (`free`: only its label, where the chain is
/// shown or what fell through), ending in the number of its note.
pub fn push_cells(
    out: &mut String,
    cols: &[Column],
    c: &Cells,
    free: bool,
    widths: &[usize],
    note: Option<usize>,
) {
    if free {
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
        note,
    );
}

/// The findings, at the end of the export.
pub(super) fn push_findings(out: &mut String, found: &[Finding]) {
    if found.is_empty() {
        return;
    }
    out.push_str("\nfindings\n");
    for f in found {
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

/// The columns `s` takes: its length when it is ASCII (almost every cell), else
/// [`width_of_drawn`].
#[inline]
fn width(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        width_of_drawn(s)
    }
}

/// [`width`] of a text that is not all ASCII: printable ASCII, tree drawing (box
/// drawing, U+2500..U+257F, and `…`) and the marks iptop writes into labels (`×2`,
/// `→`, `↻`, `≈`, `±`, `↺`) are one column a character, counted without decoding;
/// anything else is measured by unicode-width.
fn width_of_drawn(s: &str) -> usize {
    let b = s.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        i += match (b[i], b.get(i + 1), b.get(i + 2)) {
            (b' '..=b'~', ..) => 1,
            // × ±
            (0xC3, Some(0x97), _) | (0xC2, Some(0xB1), _) => 2,
            // box drawing, …, → ↺ ↻, ≈
            (0xE2, Some(0x94 | 0x95), _)
            | (0xE2, Some(0x80), Some(0xA6))
            | (0xE2, Some(0x86), Some(0x92 | 0xBA | 0xBB))
            | (0xE2, Some(0x89), Some(0x88)) => 3,
            _ => return s.width(),
        };
        n += 1;
    }
    n
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

/// One line of columns, each value given in two parts (the tree's prefix and label) so
/// that nothing is built to be measured; trailing blanks cut.
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
    // the padding cut as bytes; any other white space at the end as `trim_end` does
    let line = &out.as_bytes()[start..];
    let mut end = line.len();
    while end > 0 && line[end - 1] == b' ' {
        end -= 1;
    }
    let kept = match line[..end].last() {
        Some(c) if c.is_ascii_graphic() => end,
        _ => out[start..start + end].trim_end().len(),
    };
    out.truncate(start + kept);
    if let Some(n) = note {
        let _ = write!(out, "  [{n}]");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawn_widths_are_unicode_widths() {
        let parts = [
            "a", " ", "~", "│", "├", "└", "─", "┌", "╴", "…", "×", "±", "→", "↺", "↻", "≈", "é",
            "中", "\u{301}",
        ];
        for a in parts {
            for b in parts {
                for c in parts {
                    let s = [a, b, c, "x"].concat();
                    assert_eq!(width(&s), s.width(), "{s:?}");
                }
            }
        }
    }
}
