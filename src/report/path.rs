//! `--view path` as text and JSON: the path view's model ([`crate::derive::path`]),
//! hooks in netfilter's order each with its base chains' trees, written out. A request
//! to a published port reads top to bottom: nat PREROUTING's DNAT, then filter FORWARD,
//! then nat POSTROUTING. Hooks where nothing moved in the window are folded to one line
//! in text and SVG.

use std::fmt::Write as _;

use serde::Serialize;

use super::SourceReport;
pub use super::text::{Laid, Notes, push_cells, push_titles, widths};
use crate::cells::Column;
pub use crate::derive::path::TABLES;
use crate::derive::path::{Hook, HookChain, PathModel};
use crate::derive::{Counts, Row};
use crate::model::FirewallTable;
use crate::tree::{RowKind, TreeRow};

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

/// Is hook `h` folded to its title: `fold` asked and nothing in it moved.
pub fn folded(h: &Hook, fold: bool) -> bool {
    fold && h.moved == Some(false)
}

/// A hook's title line: its chains grouped by priority, and whether it is folded.
pub fn hook_title(h: &Hook, fold: bool) -> String {
    let mut title = format!("hook {}", h.name);
    if h.chains.is_empty() {
        title.push_str(" · no table polled has it");
        return title;
    }
    title.push_str(" · ");
    title.push_str(&priority_groups(h).join(", "));
    if folded(h, fold) {
        title.push_str(" · nothing moved (folded)");
    }
    title
}

/// A hook's rows in order (none when it is folded).
pub fn hook_rows<'m, 'a>(h: &'m Hook<'a>, fold: bool) -> impl Iterator<Item = &'m Row<'a>> {
    let shown = if folded(h, fold) {
        &[][..]
    } else {
        &h.chains[..]
    };
    shown.iter().flat_map(|hc| &hc.lines)
}

/// The path view as text.
pub fn render_text(model: &PathModel) -> String {
    let mut out = super::text::preamble(&model.header);
    let sections: Vec<(String, Vec<&Row>, bool)> = model
        .hooks
        .iter()
        .map(|h| (hook_title(h, true), hook_rows(h, true).collect(), h.cut))
        .collect();
    let mut laid = Laid::new(super::text::columns(false));
    let mut notes = Notes::default();
    let sections: Vec<_> = sections
        .into_iter()
        .map(|(title, lines, cut)| {
            let from = laid.len();
            for l in lines {
                laid.push(l, &mut notes);
            }
            (title, from..laid.len(), cut, notes.len())
        })
        .collect();
    for (title, rows, cut, noted) in sections {
        out.push('\n');
        out.push_str(&title);
        out.push('\n');
        if rows.is_empty() {
            continue;
        }
        laid.push_titles(&mut out);
        laid.write(&mut out, rows, &mut |_| {});
        if cut {
            let _ = writeln!(out, "… tree cut after {} rows", crate::derive::MAX_ROWS);
        }
        notes.push_new(&mut out, noted);
    }
    super::text::push_findings(&mut out, &model.findings);
    out
}

/// A hook's chains as its title names them, grouped by priority: `raw = ip
/// docker-bridges raw-PREROUTING (-300, same priority)`, `mangle (-150)`.
fn priority_groups(h: &Hook) -> Vec<String> {
    let mut groups: Vec<(i64, Vec<&str>)> = Vec::new();
    for hc in &h.chains {
        match groups.last_mut() {
            Some((p, names)) if *p == hc.priority => names.push(&hc.chain_label),
            _ => groups.push((hc.priority, vec![&hc.chain_label])),
        }
    }
    groups
        .into_iter()
        .map(|(p, names)| match names.len() {
            1 => format!("{} ({p})", names[0]),
            _ => format!("{} ({p}, same priority)", names.join(" = ")),
        })
        .collect()
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
    /// The tables whose base chain of this hook the snapshot holds, in the order the
    /// kernel runs them (a native table once per base chain on the hook).
    pub tables: Vec<String>,
    /// The base chains on the hook in the order the kernel runs them: by priority.
    pub chains: Vec<HookChainReport>,
    /// Something in the hook moved in the window; null without a window.
    pub moved: Option<bool>,
    pub rows: Vec<PathRow>,
}

#[derive(Debug, Serialize)]
pub struct HookChainReport {
    /// `nat`, `nat (legacy)`, or a native table's `ip docker-bridges`.
    pub table: String,
    pub chain: String,
    pub priority: i64,
    /// Another chain of the hook has the same priority: their order is registration
    /// order, which the kernel does not show.
    pub same_priority: bool,
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
    /// A native rule's handle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<u64>,
}

/// The path view as JSON: every hook with all its rows (nothing folded).
pub fn render_json(model: &PathModel) -> String {
    let h = super::build_header(&model.header);
    let hooks = model
        .hooks
        .iter()
        .map(|hook| HookReport {
            hook: hook.name,
            tables: hook.chains.iter().map(|hc| hc.label.clone()).collect(),
            chains: hook
                .chains
                .iter()
                .map(|hc| HookChainReport {
                    table: hc.label.clone(),
                    chain: model.tables[hc.table].chains[hc.chain].name.to_string(),
                    priority: hc.priority,
                    same_priority: hc.same_priority,
                })
                .collect(),
            moved: hook.moved,
            rows: hook
                .chains
                .iter()
                .flat_map(|hc| {
                    let t = &model.tables[hc.table];
                    hc.rows
                        .iter()
                        .zip(&hc.counts)
                        .map(move |(r, counts)| path_row(t, hc, r, counts))
                })
                .collect(),
        })
        .collect();
    let report = PathReport {
        version: 1,
        view: "path",
        taken_at: h.taken_at,
        moved_only: model.moved_only,
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

fn path_row(t: &FirewallTable, hc: &HookChain, r: &TreeRow, line: &Counts) -> PathRow {
    let mut row = PathRow {
        depth: r.depth,
        kind: "rule",
        table: hc.label.clone(),
        chain: t.chains[r.chain()].name.to_string(),
        rule: None,
        target: None,
        text: String::new(),
        packets: line.count.map(|k| k.packets),
        bytes: line.count.map(|k| k.bytes),
        delta_packets: line.delta.map(|d| d.packets),
        delta_bytes: line.delta.map(|d| d.bytes),
        see: None,
        handle: None,
    };
    match r.kind {
        RowKind::Chain { chain } => {
            row.kind = "chain";
            row.target = t.chains[chain].policy().map(str::to_string);
        }
        RowKind::Rule { chain, rule } => {
            let r = &t.chains[chain].rules[rule];
            let spec = &r.spec;
            row.rule = Some(r.num);
            row.target = (!spec.target.is_empty()).then(|| spec.target.to_string());
            row.text = spec.summary();
            if let Some(n) = &r.native {
                row.text = n.text.to_string();
                row.handle = Some(n.handle);
            }
        }
        RowKind::Verdict { chain } => {
            let c = &t.chains[chain];
            row.kind = if c.is_builtin() {
                "policy"
            } else {
                "fell_through"
            };
            row.target = c.policy().map(str::to_string);
        }
        RowKind::Ref { chain, rule } => {
            row.kind = "reference";
            row.rule = Some(t.chains[chain].rules[rule].num);
            row.see = r.note.as_deref().map(str::to_string);
        }
    }
    row
}

#[cfg(test)]
mod tests;
