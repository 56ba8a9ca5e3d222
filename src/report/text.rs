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
    let mut out = String::new();
    render_with(input, &mut out, &mut |_| {});
    out
}

/// Makes a buffer this large before it is handed on, when it is handed on.
pub const CHUNK: usize = 1 << 16;

/// [`render`] into `out`, handing it to `flush` whenever it holds [`CHUNK`] bytes or
/// more and once at the end: always whole lines. `flush` may take them out (the export
/// written as it is made) or leave them (the whole export in `out`).
pub fn render_with(input: &Input, out: &mut String, flush: &mut dyn FnMut(&mut String)) {
    let snap = input.snapshot;
    out.push_str(&preamble(&crate::derive::header(input)));
    // iptables' columns line up across iptables tables, a native table's across native
    // ones: nft rules have no prot/opt/in/out/source/destination columns, only their text
    let (ipt, native) = (Laid::new(columns(false)), Laid::new(columns(true)));
    let mut laid = [ipt, native];
    let mut notes = Notes::default();
    // every table's rows laid out first so that columns line up across tables
    let mut sections = Vec::new();
    for (ti, t) in snap.tables.iter().enumerate() {
        let roots = tree::roots(t, input.roots);
        let l = &mut laid[usize::from(t.family.is_some())];
        let from = l.len();
        let cut = crate::derive::table_rows_each(input, ti, &roots, |r| l.push(&r, &mut notes));
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
        let to = l.len();
        sections.push((title, t.family.is_some(), from..to, cut, notes.len()));
    }
    // the whole export in one buffer, or a chunk at a time
    out.reserve(laid.iter().map(Laid::bytes).sum::<usize>().min(CHUNK * 2));
    for (title, native, rows, cut, noted) in sections {
        out.push('\n');
        out.push_str(&title);
        out.push('\n');
        let l = &laid[usize::from(native)];
        l.push_titles(out);
        l.write(out, rows, flush);
        if cut {
            let _ = writeln!(out, "… tree cut after {MAX_ROWS} rows");
        }
        notes.push_new(out, noted);
    }
    push_findings(out, &crate::derive::findings(input));
    flush(out);
}

/// Rows laid out for columns: each cell's text, as it will be written, in one buffer
/// with its width, and the widths of the columns so far. Rows are added as they are
/// made and written once every row is in, so that the columns line up without keeping
/// any row's cells.
#[derive(Debug)]
pub struct Laid {
    cols: Vec<Column>,
    /// Each column's width: its title's, or its widest cell's, bounded.
    widths: Vec<usize>,
    text: String,
    /// Where each cell ends in `text`...
    ends: Vec<usize>,
    /// ...and its width, up to `u16::MAX` (only a narrower one is padded).
    cell_widths: Vec<u16>,
    rows: Vec<LaidRow>,
}

#[derive(Debug)]
struct LaidRow {
    /// Where its cells end in `ends` (one for a free row: its prefix and label).
    end: usize,
    /// Only its label, where the chain is shown or what fell through.
    free: bool,
    /// The number of its note.
    note: Option<u32>,
}

impl Laid {
    pub fn new(cols: Vec<Column>) -> Self {
        Laid {
            widths: cols.iter().map(|c| c.title().width()).collect(),
            cols,
            text: String::new(),
            ends: Vec::new(),
            cell_widths: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Rows laid out so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// About the bytes these rows take written.
    pub fn bytes(&self) -> usize {
        self.text.len() + 2 * self.ends.len() + self.rows.len()
    }

    /// Adds a row, its note numbered in `notes`.
    pub fn push(&mut self, row: &Row, notes: &mut Notes) {
        let c = &row.cells;
        let mut cell = |[a, b]: [&str; 2]| {
            self.text.push_str(a);
            self.text.push_str(b);
            let w = width(a) + width(b);
            self.ends.push(self.text.len());
            self.cell_widths.push(w.min(usize::from(u16::MAX)) as u16);
            w
        };
        if row.free {
            cell(parts(c, Column::Tree));
        } else {
            for (i, col) in self.cols.iter().enumerate() {
                let w = cell(parts(c, *col));
                self.widths[i] = self.widths[i].max(bounded(*col, w));
            }
        }
        self.rows.push(LaidRow {
            end: self.ends.len(),
            free: row.free,
            note: row.note.as_deref().map(|n| notes.number(n) as u32),
        });
    }

    /// The column titles.
    pub fn push_titles(&self, out: &mut String) {
        push_titles(out, &self.cols, &self.widths);
    }

    /// These rows, their columns lined up; `out` handed to `flush` whenever it holds
    /// [`CHUNK`] bytes.
    pub fn write(
        &self,
        out: &mut String,
        rows: std::ops::Range<usize>,
        flush: &mut dyn FnMut(&mut String),
    ) {
        // the first row's cells start after the row before it
        let mut cell = match rows.start.checked_sub(1) {
            Some(p) => self.rows[p].end,
            None => 0,
        };
        for r in &self.rows[rows] {
            if out.len() >= CHUNK {
                flush(out);
            }
            let (ends, widths) = (&self.ends[cell..r.end], &self.cell_widths[cell..r.end]);
            let at = cell.checked_sub(1).map_or(0, |p| self.ends[p]);
            cell = r.end;
            if r.free {
                out.push_str(&self.text[at..ends[0]]);
                out.push('\n');
                continue;
            }
            push_line(
                out,
                &self.cols,
                |i, _| {
                    let from = if i == 0 { at } else { ends[i - 1] };
                    ([&self.text[from..ends[i]], ""], usize::from(widths[i]))
                },
                &self.widths,
                r.note.map(|n| n as usize),
            );
        }
    }
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
            let [a, b] = parts(c, *col);
            widths[i] = widths[i].max(bounded(*col, width(a) + width(b)));
        }
    }
    widths
}

/// A column's value in two parts (the tree's prefix and label, written together), so
/// that nothing is built to be measured.
fn parts<'a>(c: &'a Cells, col: Column) -> [&'a str; 2] {
    match col {
        Column::Tree => [c.prefix.as_str(), &c.label],
        _ => [c.get(col), ""],
    }
}

/// The width a cell claims for its column: longer ones push the rest of their own row.
fn bounded(col: Column, w: usize) -> usize {
    w.min(match col {
        Column::Tree => MAX_TREE_PAD,
        _ => MAX_PAD,
    })
}

/// The column titles.
pub fn push_titles(out: &mut String, cols: &[Column], widths: &[usize]) {
    push_line(
        out,
        cols,
        |_, col| ([col.title(), ""], col.title().width()),
        widths,
        None,
    );
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

    /// Notes numbered so far.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Lists the notes numbered since the last call up to the `upto`th, under a `notes`
    /// line.
    pub fn push_new(&mut self, out: &mut String, upto: usize) {
        let upto = upto.min(self.list.len());
        if self.listed >= upto {
            return;
        }
        out.push_str("notes\n");
        for (i, n) in self.list[..upto].iter().enumerate().skip(self.listed) {
            let _ = writeln!(out, "  [{}] {n}", i + 1);
        }
        self.listed = upto;
    }
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
        |_, col| {
            let [a, b] = parts(c, col);
            ([a, b], width(a) + width(b))
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

/// One line of columns, each value given in two parts (the tree's prefix and label)
/// with its width, so that nothing is built or measured again; trailing blanks cut.
fn push_line<'a>(
    out: &mut String,
    cols: &[Column],
    value: impl Fn(usize, Column) -> ([&'a str; 2], usize),
    widths: &[usize],
    note: Option<usize>,
) {
    let start = out.len();
    for (i, col) in cols.iter().enumerate() {
        if i > 0 {
            out.push_str("  ");
        }
        let ([a, b], w) = value(i, *col);
        let pad = widths[i].saturating_sub(w);
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
    fn laid_rows_are_the_rows_written_one_by_one() {
        let cols = columns(false);
        let row = |prefix: &str, label: &str, src: &str, free: bool, note: Option<&str>| {
            let mut cells = Cells {
                prefix: prefix.into(),
                label: label.to_string().into(),
                source: src.to_string().into(),
                ..Default::default()
            };
            cells.pkts = "12".into();
            Row {
                cells,
                free,
                note: note.map(str::to_string),
                verdict: "",
                jump: false,
            }
        };
        let long = "x".repeat(70_000);
        let sections = [
            vec![
                row("", "INPUT (policy ACCEPT)", "", false, Some("a note")),
                row("├─ ", "ACCEPT", "10.0.0.0/8", false, None),
                row("│  └─ ", "DOCKER → see FORWARD", "", true, Some("another")),
            ],
            vec![
                row("", "FORWARD", "", false, Some("a note")),
                row("└─ ", "DROP", &long, false, Some("a third")),
                row("", "", "", false, None),
            ],
        ];
        // written one by one, with the widths of every row
        let mut want = String::new();
        let widths = widths(&cols, sections.iter().flatten());
        let mut notes = Notes::default();
        for rows in &sections {
            push_titles(&mut want, &cols, &widths);
            for r in rows {
                let n = r.note.as_deref().map(|n| notes.number(n));
                push_cells(&mut want, &cols, &r.cells, r.free, &widths, n);
            }
            notes.push_new(&mut want, usize::MAX);
        }
        // laid out, then written
        let mut laid = Laid::new(cols.clone());
        let mut notes = Notes::default();
        let ranges: Vec<_> = sections
            .iter()
            .map(|rows| {
                let from = laid.len();
                rows.iter().for_each(|r| laid.push(r, &mut notes));
                (from..laid.len(), notes.len())
            })
            .collect();
        let mut got = String::new();
        for (rows, noted) in ranges {
            laid.push_titles(&mut got);
            laid.write(&mut got, rows, &mut |_| {});
            notes.push_new(&mut got, noted);
        }
        assert_eq!(got, want);
        assert!(
            got.contains("  [3]\n") && got.contains("  [3] a third\n"),
            "{got}"
        );
    }

    #[test]
    fn an_export_handed_out_in_chunks_is_the_whole_export() {
        use crate::model::{Snapshot, SourceInfo};
        use std::time::{Duration, SystemTime};
        let mut t = crate::synth::kube_nat(3000, 7);
        // hostile text in a rule: escaped the same in a chunk as in the whole
        use std::sync::Arc;
        let chain = Arc::make_mut(&mut t.chains[0]);
        let rule = &mut Arc::make_mut(&mut chain.rules)[0];
        Arc::make_mut(&mut rule.spec).extra = "/* a\u{202e}b\u{7}c\u{301} */".into();
        let snap = Snapshot {
            taken_at: SystemTime::UNIX_EPOCH,
            at: Duration::ZERO,
            took: Duration::ZERO,
            tables: vec![t],
            warnings: vec![],
            seq: 1,
        };
        let source = SourceInfo::default();
        let input = Input {
            snapshot: &snap,
            deltas: None,
            window_start: None,
            source: &source,
            roots: &[],
            moved_only: false,
            names: None,
            window_note: None,
        };
        let whole = render(&input);
        let (mut chunks, mut out) = (Vec::new(), String::new());
        render_with(&input, &mut out, &mut |c| chunks.push(std::mem::take(c)));
        assert!(out.is_empty() && chunks.len() > 3, "{}", chunks.len());
        assert!(chunks.iter().all(|c| c.ends_with('\n')));
        assert_eq!(chunks.concat(), whole);
        let escaped: String = chunks.iter().map(|c| crate::sanitize::lines(c)).collect();
        assert_eq!(escaped, crate::sanitize::lines(&whole));
        let line = escaped
            .lines()
            .find(|l| l.contains("/* a"))
            .unwrap_or_default();
        assert!(line.contains("a⟨U+202E⟩b\\x07c⟨U+0301⟩"), "{line}");
        // text the cells did not escape (a title, a note) escaped a line at a time as whole
        let raw = "a\u{301}\n\u{301}b\n\u{7}\u{202e}\u{301}\né\u{301}\n\u{301}\n".repeat(3);
        let by_line: String = raw
            .split_inclusive('\n')
            .map(crate::sanitize::lines)
            .collect();
        assert_eq!(by_line, crate::sanitize::lines(&raw));
    }

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
