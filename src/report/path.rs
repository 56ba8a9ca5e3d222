//! `--view path`: the built-in chains of every table in the order netfilter runs them,
//! hook by hook (PREROUTING: raw, mangle, nat; ...), each with its jump tree and verdict
//! rows. A request to a published port reads top to bottom: nat PREROUTING's DNAT, then
//! filter FORWARD, then nat POSTROUTING. Hooks where nothing moved in the window are
//! folded to one line in text and SVG.

use std::fmt::Write as _;

use serde::Serialize;

use super::text::{self, Line};
use super::{Input, SourceReport};
use crate::columns::{self, ALL, Column, Movement};
use crate::diff::Delta;
use crate::model::{Table, builtin_chains};
use crate::tree::{self, Row, RowKind};

/// The hooks in the order a packet meets them, each with its tables in priority order.
pub const HOOKS: [(&str, &[&str]); 5] = [
    ("PREROUTING", &["raw", "mangle", "nat"]),
    ("INPUT", &["mangle", "filter", "security", "nat"]),
    ("FORWARD", &["mangle", "filter", "security"]),
    ("OUTPUT", &["raw", "mangle", "nat", "filter", "security"]),
    ("POSTROUTING", &["mangle", "nat"]),
];

/// The columns of the live view's path view: what tells rules apart, on one screen.
pub const LIVE_COLUMNS: [Column; 7] = [
    Column::Tree,
    Column::DPkts,
    Column::Rate,
    Column::Pkts,
    Column::In,
    Column::Out,
    Column::Match,
];

/// Every table a hook uses: what the path view polls.
pub const TABLES: [&str; 5] = ["raw", "mangle", "nat", "filter", "security"];

/// One built-in chain of a hook with its tree.
pub struct HookChain {
    /// The table's index in the snapshot.
    pub table: usize,
    pub rows: Vec<Row>,
}

/// One hook: its chains in order, and whether anything in them moved.
pub struct Hook {
    pub name: &'static str,
    pub chains: Vec<HookChain>,
    /// None without a window.
    pub moved: Option<bool>,
    /// Some table's tree was cut (a safety net: each chain is shown once).
    pub cut: bool,
}

/// The name a table goes by in the path view: `nat`, or `nat (legacy)` when both back
/// ends hold it.
pub fn table_label(snap_tables: &[Table], t: &Table) -> String {
    let twice = snap_tables.iter().filter(|o| o.name == t.name).count() > 1;
    match t.backend {
        Some(b) if twice => format!("{} ({b})", t.name),
        _ => t.name.clone(),
    }
}

/// The hooks with the chains the snapshot holds.
pub fn hooks(input: &Input) -> Vec<Hook> {
    let snap = input.snapshot;
    // per table: its built-in chains' trees, each chain expanded once across them
    let mut per_table: Vec<Vec<(usize, Vec<Row>)>> = Vec::new();
    let mut cut_of = Vec::new();
    for (ti, t) in snap.tables.iter().enumerate() {
        let roots: Vec<usize> = builtin_chains(&t.name)
            .iter()
            .filter_map(|n| t.chain_index(n))
            .collect();
        let td = input.deltas.and_then(|d| d.table(ti));
        let moved = |c: usize, r: usize| td.and_then(|td| td.rule(c, r)).is_some_and(Delta::moved);
        let (rows, cut) = tree::once::build(t, &roots, &moved, text::MAX_ROWS);
        let label = table_label(&snap.tables, t);
        per_table.push(split(rows, &label));
        cut_of.push(cut);
    }
    HOOKS
        .iter()
        .map(|&(name, tables)| {
            let mut chains = Vec::new();
            let mut cut = false;
            for want in tables {
                for (ti, t) in snap.tables.iter().enumerate() {
                    if t.name != *want {
                        continue;
                    }
                    let Some(c) = t.chain_index(name) else {
                        continue;
                    };
                    if let Some((_, rows)) = per_table[ti].iter().find(|(root, _)| *root == c) {
                        chains.push(HookChain {
                            table: ti,
                            rows: rows.clone(),
                        });
                        cut |= cut_of[ti];
                    }
                }
            }
            let moved = input.deltas.map(|_| {
                chains.iter().any(|hc| {
                    let t = &snap.tables[hc.table];
                    let td = input.deltas.and_then(|d| d.table(hc.table));
                    let on = tree::moved_on_path(&hc.rows, |r| columns::movement(t, r, td).moved());
                    on.iter().any(|&m| m)
                })
            });
            Hook {
                name,
                chains,
                moved,
                cut,
            }
        })
        .collect()
}

/// Splits a tree into its roots' subtrees (parents renumbered); reference rows name the
/// table of the place they point to.
fn split(rows: Vec<Row>, table: &str) -> Vec<(usize, Vec<Row>)> {
    let mut out: Vec<(usize, Vec<Row>)> = Vec::new();
    let mut base = 0u32;
    for (i, mut r) in rows.into_iter().enumerate() {
        if let RowKind::Chain { chain } = r.kind {
            base = i as u32;
            out.push((chain, Vec::new()));
        }
        let Some((_, v)) = out.last_mut() else {
            continue;
        };
        r.parent = r.parent.map(|p| p - base);
        if let Some(n) = &r.note {
            r.note = Some(n.replacen("→ see ", &format!("→ see {table} "), 1).into());
        }
        v.push(r);
    }
    out
}

/// The path view as text.
pub fn render_text(input: &Input) -> String {
    let mut out = text::preamble(input);
    let hooks = hooks(input);
    let mut sections: Vec<(String, Vec<Line>, bool)> = Vec::new();
    for h in &hooks {
        let (title, lines, _) = hook_lines(input, h, true);
        sections.push((title, lines, h.cut));
    }
    let widths = text::widths(&ALL, sections.iter().flat_map(|(_, l, _)| l));
    for (title, lines, cut) in &sections {
        out.push('\n');
        out.push_str(title);
        out.push('\n');
        if lines.is_empty() {
            continue;
        }
        text::push_titles(&mut out, &ALL, &widths);
        for l in lines {
            text::push_row(&mut out, &ALL, l, &widths);
        }
        if *cut {
            let _ = writeln!(out, "… tree cut after {} rows", text::MAX_ROWS);
        }
    }
    text::push_findings(&mut out, input);
    out
}

/// How a row is coloured: the verdict it stands for, and whether it jumps.
type Look = (String, bool);

/// A hook's title line and its rows (none when it is folded: `fold` and nothing moved),
/// with their looks.
pub fn hook_lines(input: &Input, h: &Hook, fold: bool) -> (String, Vec<Line>, Vec<Look>) {
    let snap = input.snapshot;
    let names: Vec<String> = h
        .chains
        .iter()
        .map(|hc| table_label(&snap.tables, &snap.tables[hc.table]))
        .collect();
    let mut title = format!("hook {}", h.name);
    if names.is_empty() {
        title.push_str(" · no table polled has it");
        return (title, Vec::new(), Vec::new());
    }
    title.push_str(&format!(" · {}", names.join(", ")));
    if fold && h.moved == Some(false) {
        title.push_str(" · nothing moved (folded)");
        return (title, Vec::new(), Vec::new());
    }
    let mut lines = Vec::new();
    let mut looks = Vec::new();
    for hc in &h.chains {
        let t = &snap.tables[hc.table];
        let td = input.deltas.and_then(|d| d.table(hc.table));
        let rows = if input.moved_only {
            let keep = tree::moved_mask(&hc.rows, |r| columns::movement(t, r, td).moved());
            tree::keep(&hc.rows, &keep)
        } else {
            hc.rows.clone()
        };
        let label = table_label(&snap.tables, t);
        for (r, (mut cells, free, note)) in rows.iter().zip(text::lines_of(input, hc.table, &rows))
        {
            if cells.prefix.is_empty() {
                // a built-in chain names its table: `nat PREROUTING (policy ACCEPT)`
                cells.label = format!("{label} {}", cells.label);
            }
            lines.push((cells, free, note));
            looks.push((
                columns::verdict_of(t, r).unwrap_or_default().to_string(),
                matches!(r.kind, RowKind::Rule { .. }) && r.jump.is_some(),
            ));
        }
    }
    (title, lines, looks)
}

/// A run of text in one style.
pub type Piece = (String, ratatui::style::Style);

/// The path view's lines in the live view's colours: hook titles, column titles and rows
/// (their tree drawing dim, labels in the colour of their verdict, moved rows lit).
pub fn styled_lines(
    input: &Input,
    cols: &[Column],
    fold: bool,
    theme: &crate::ui::theme::Theme,
) -> Vec<Vec<Piece>> {
    use ratatui::style::Style;
    let hooks = hooks(input);
    let sections: Vec<(String, Vec<Line>, Vec<Look>)> =
        hooks.iter().map(|h| hook_lines(input, h, fold)).collect();
    let widths = text::widths(cols, sections.iter().flat_map(|(_, l, _)| l));
    let mut out: Vec<Vec<Piece>> = Vec::new();
    for (title, lines, looks) in &sections {
        if !out.is_empty() {
            out.push(vec![]);
        }
        out.push(vec![(title.clone(), theme.title_row())]);
        if lines.is_empty() {
            continue;
        }
        let mut titles = String::new();
        text::push_titles(&mut titles, cols, &widths);
        out.push(vec![(titles.trim_end().to_string(), theme.dim())]);
        for (line, (verdict, jump)) in lines.iter().zip(looks) {
            let (c, free, _) = line;
            let mut row = String::new();
            text::push_row(&mut row, cols, &(c.clone(), *free, None), &widths);
            let row = row.trim_end().to_string();
            let label_style = if c.prefix.is_empty() {
                theme.chain_row()
            } else {
                theme.target(verdict, *jump)
            };
            let head = (c.prefix.len() + c.label.len()).min(row.len());
            let (tree_part, rest) = row.split_at(head);
            let (prefix, label) = tree_part.split_at(c.prefix.len().min(tree_part.len()));
            let drop = matches!(verdict.as_str(), "DROP" | "REJECT");
            let rest_style = if c.moved {
                theme.moved(drop)
            } else {
                Style::new()
            };
            out.push(vec![
                (prefix.to_string(), theme.guide()),
                (label.to_string(), label_style),
                (rest.to_string(), rest_style),
            ]);
        }
    }
    out
}

/// Draws styled lines into `buf` from line `first` on, starting at (x, y).
pub fn draw_lines(
    buf: &mut ratatui::buffer::Buffer,
    area: ratatui::layout::Rect,
    lines: &[Vec<Piece>],
    first: usize,
) {
    for (k, pieces) in lines
        .iter()
        .skip(first)
        .take(area.height as usize)
        .enumerate()
    {
        let y = area.y + k as u16;
        let mut x = area.x;
        for (t, style) in pieces {
            if x >= area.right() {
                break;
            }
            let (nx, _) = buf.set_stringn(x, y, t, (area.right() - x) as usize, *style);
            x = nx;
        }
    }
}

/// The path view as a picture: the text's lines in the live view's colours.
pub fn render_svg(input: &Input) -> String {
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use unicode_width::UnicodeWidthStr;

    let theme = crate::ui::theme::Theme { color: true };
    let caption = match (input.deltas, input.window_start) {
        (Some(d), Some(start)) => format!(
            "iptop path view · window {} from {} to {}",
            crate::format::duration(d.elapsed),
            crate::format::timestamp(start),
            crate::format::timestamp(input.snapshot.taken_at)
        ),
        _ => format!(
            "iptop path view · {} · no window",
            crate::format::timestamp(input.snapshot.taken_at)
        ),
    };
    let caption = match input.window_note {
        Some(n) => format!("{caption} ({n})"),
        None => caption,
    };
    let mut out: Vec<Vec<Piece>> = vec![vec![(caption, theme.dim())], vec![]];
    out.extend(styled_lines(input, &ALL, true, &theme));
    let width = out
        .iter()
        .map(|l| l.iter().map(|(t, _)| t.width()).sum::<usize>())
        .max()
        .unwrap_or(1)
        .clamp(40, 400) as u16;
    let height = (out.len().min(u16::MAX as usize) as u16).max(1);
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    draw_lines(&mut buf, area, &out, 0);
    super::svg::buffer_to_svg(&buf)
}

#[derive(Debug, Serialize)]
pub struct PathReport {
    pub version: u32,
    /// `path`: this document lists the hooks in netfilter's order.
    pub view: &'static str,
    pub taken_at: String,
    pub moved_only: bool,
    pub window_ms: Option<u64>,
    pub window_start: Option<String>,
    pub source: SourceReport,
    pub warnings: Vec<String>,
    pub hooks: Vec<HookReport>,
}

#[derive(Debug, Serialize)]
pub struct HookReport {
    pub hook: &'static str,
    /// The tables whose built-in chain of this hook the snapshot holds, in order.
    pub tables: Vec<String>,
    /// Something in the hook moved in the window; null without a window.
    pub moved: Option<bool>,
    pub rows: Vec<PathRow>,
}

#[derive(Debug, Serialize)]
pub struct PathRow {
    /// 0 for a built-in chain, then one more per jump.
    pub depth: u16,
    /// `chain`, `rule`, `policy`, `fell_through` or `reference`.
    pub kind: &'static str,
    pub table: String,
    pub chain: String,
    /// The rule's number in its chain (rules and references).
    pub rule: Option<u32>,
    pub target: Option<String>,
    /// The rule's text without its counters (`tcp dpt:80 to:172.18.0.2:80`).
    pub text: String,
    /// Null where not determinable (what fell through some user chains).
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    pub delta_packets: Option<u64>,
    pub delta_bytes: Option<u64>,
    /// A reference row: where the chain is shown.
    pub see: Option<String>,
}

/// The path view as JSON: every hook with all its rows (nothing folded).
pub fn render_json(input: &Input) -> String {
    let snap = input.snapshot;
    let h = super::build_header(input);
    let hooks = hooks(input)
        .into_iter()
        .map(|hook| {
            let mut rows = Vec::new();
            for hc in &hook.chains {
                let t = &snap.tables[hc.table];
                let td = input.deltas.and_then(|d| d.table(hc.table));
                let label = table_label(&snap.tables, t);
                let shown = if input.moved_only {
                    let keep = tree::moved_mask(&hc.rows, |r| columns::movement(t, r, td).moved());
                    tree::keep(&hc.rows, &keep)
                } else {
                    hc.rows.clone()
                };
                rows.extend(shown.iter().map(|r| path_row(t, &label, r, td)));
            }
            HookReport {
                hook: hook.name,
                tables: hook
                    .chains
                    .iter()
                    .map(|hc| table_label(&snap.tables, &snap.tables[hc.table]))
                    .collect(),
                moved: hook.moved,
                rows,
            }
        })
        .collect();
    let report = PathReport {
        version: 1,
        view: "path",
        taken_at: h.taken_at,
        moved_only: input.moved_only,
        window_ms: h.window_ms,
        window_start: h.window_start,
        source: h.source,
        warnings: h.warnings,
        hooks,
    };
    let mut s =
        serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

fn path_row(t: &Table, label: &str, r: &Row, td: Option<&crate::diff::TableDelta>) -> PathRow {
    let chain = t.chains[r.chain()].name.to_string();
    let delta = match columns::movement(t, r, td) {
        Movement::Delta(d) => Some(d),
        // a rule new in the window moved from zero
        Movement::New => match r.kind {
            RowKind::Rule { chain, rule } => {
                let k = t.chains[chain].counter(rule);
                Some(Delta {
                    packets: k.packets,
                    bytes: k.bytes,
                    reset: false,
                })
            }
            _ => None,
        },
        _ => None,
    };
    let mut row = PathRow {
        depth: r.depth,
        kind: "rule",
        table: label.to_string(),
        chain,
        rule: None,
        target: None,
        text: String::new(),
        packets: None,
        bytes: None,
        delta_packets: delta.map(|d| d.packets),
        delta_bytes: delta.map(|d| d.bytes),
        see: None,
    };
    match r.kind {
        RowKind::Chain { chain } => {
            let c = &t.chains[chain];
            row.kind = "chain";
            row.target = c.policy().map(str::to_string);
            if c.is_builtin() {
                row.packets = Some(c.packets);
                row.bytes = Some(c.bytes);
            }
        }
        RowKind::Rule { chain, rule } => {
            let c = &t.chains[chain];
            let k = c.counter(rule);
            let spec = &c.rules[rule].spec;
            row.rule = Some(c.rules[rule].num);
            row.target = (!spec.target.is_empty()).then(|| spec.target.clone());
            row.text = spec.summary();
            row.packets = Some(k.packets);
            row.bytes = Some(k.bytes);
        }
        RowKind::Verdict { chain } => {
            let c = &t.chains[chain];
            row.kind = if c.is_builtin() {
                "policy"
            } else {
                "fell_through"
            };
            row.target = c.policy().map(str::to_string);
            let k = t.fell_through(chain);
            row.packets = k.map(|d| d.packets);
            row.bytes = k.map(|d| d.bytes);
        }
        RowKind::Ref { chain, rule } => {
            row.kind = "reference";
            row.chain = t.chains[chain].name.to_string();
            row.rule = Some(t.chains[chain].rules[rule].num);
            row.see = r.note.as_deref().map(str::to_string);
        }
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_run_in_netfilter_order() {
        let names: Vec<&str> = HOOKS.iter().map(|h| h.0).collect();
        assert_eq!(
            names,
            ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]
        );
        // every table of a hook has that built-in chain
        for (hook, tables) in HOOKS {
            for t in tables {
                assert!(builtin_chains(t).contains(&hook), "{t} {hook}");
            }
        }
        assert_eq!(HOOKS[0].1, ["raw", "mangle", "nat"]);
        assert_eq!(HOOKS[3].1, ["raw", "mangle", "nat", "filter", "security"]);
    }
}
