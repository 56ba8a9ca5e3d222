//! `--view path`: the built-in chains of every table in the order netfilter runs them,
//! hook by hook (PREROUTING: raw, mangle, nat; ...), each with its jump tree and verdict
//! rows. A request to a published port reads top to bottom: nat PREROUTING's DNAT, then
//! filter FORWARD, then nat POSTROUTING. Hooks where nothing moved in the window are
//! folded to one line in text and SVG.

use std::fmt::Write as _;

use serde::Serialize;

use super::text::{self, Line};
pub use super::text::{push_row, push_titles, widths};
use super::{Input, SourceReport};
use crate::cells::{self, ALL, Column, Movement};
use crate::diff::Delta;
use crate::model::{FirewallTable, builtin_chains};
use crate::tree::{self, RowKind, TreeRow};

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
    pub rows: Vec<TreeRow>,
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
pub fn table_label(snap_tables: &[FirewallTable], t: &FirewallTable) -> String {
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
    let mut per_table: Vec<Vec<(usize, Vec<TreeRow>)>> = Vec::new();
    let mut cut_of = Vec::new();
    for (ti, t) in snap.tables.iter().enumerate() {
        let roots: Vec<usize> = builtin_chains(&t.name)
            .iter()
            .filter_map(|n| t.chain_index(n))
            .collect();
        let td = input.deltas.and_then(|d| d.table(ti));
        let weight = |c: usize, r: usize| text::jump_weight(t, td, c, r);
        let (rows, cut) = tree::once::build_by(t, &roots, &weight, text::MAX_ROWS);
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
                    let on = tree::moved_on_path(&hc.rows, |r| cells::movement(t, r, td).moved());
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
fn split(rows: Vec<TreeRow>, table: &str) -> Vec<(usize, Vec<TreeRow>)> {
    let mut out: Vec<(usize, Vec<TreeRow>)> = Vec::new();
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
pub type Look = (String, bool);

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
            let keep = tree::moved_mask(&hc.rows, |r| cells::movement(t, r, td).moved());
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
                cells::verdict_of(t, r).unwrap_or_default().to_string(),
                matches!(r.kind, RowKind::Rule { .. }) && r.jump.is_some(),
            ));
        }
    }
    (title, lines, looks)
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
                    let keep = tree::moved_mask(&hc.rows, |r| cells::movement(t, r, td).moved());
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

fn path_row(
    t: &FirewallTable,
    label: &str,
    r: &TreeRow,
    td: Option<&crate::diff::TableDelta>,
) -> PathRow {
    let chain = t.chains[r.chain()].name.to_string();
    let delta = match cells::movement(t, r, td) {
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
            let k = crate::flow::fell_through_total(t, chain);
            row.packets = k.counted().map(|d| d.packets);
            row.bytes = k.counted().map(|d| d.bytes);
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
