//! `--view path`: the base chains of every table in the order netfilter runs them,
//! hook by hook, each with its jump tree and verdict rows: iptables' tables at their
//! fixed priorities (PREROUTING: raw −300, mangle −150, nat −100; ...) and native
//! nftables tables' base chains at their own, sorted by priority; chains of one hook at
//! the same priority are marked (their order is registration order, which the kernel
//! does not show). A request to a published port reads top to bottom: nat PREROUTING's
//! DNAT, then filter FORWARD, then nat POSTROUTING. Hooks where nothing moved in the
//! window are folded to one line in text and SVG.

use std::fmt::Write as _;

use serde::Serialize;

use super::text::{self, Line};
pub use super::text::{Notes, push_row, push_titles, widths};
use super::{Input, SourceReport};
use crate::cells::{self, Column, Movement};
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

/// One base chain of a hook (an iptables table's built-in chain, or a native table's
/// base chain) with its tree.
pub struct HookChain {
    /// The table's index in the snapshot.
    pub table: usize,
    /// The base chain's index in its table.
    pub chain: usize,
    /// Its priority on the hook: the kernel runs lower numbers first.
    pub priority: i64,
    /// Some other chain of the hook has the same priority: which of them runs first is
    /// their registration order, which the kernel does not show.
    pub same_priority: bool,
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

/// Every hook the path view can list, in the order a packet meets them: the IP hooks
/// (with netdev's ingress before and egress after them), then the bridge family's and
/// arp's. The five IP hooks of iptables are always listed, the others when some native
/// base chain is on them.
const ALL_HOOKS: [&str; 14] = [
    "INGRESS",
    "PREROUTING",
    "INPUT",
    "FORWARD",
    "OUTPUT",
    "POSTROUTING",
    "EGRESS",
    "bridge PREROUTING",
    "bridge INPUT",
    "bridge FORWARD",
    "bridge OUTPUT",
    "bridge POSTROUTING",
    "arp INPUT",
    "arp OUTPUT",
];

/// The fixed priority of iptables table `table` on `hook` (netfilter's
/// `NF_IP_PRI_*`): raw −300, mangle −150, nat −100 before routing (dstnat) and 100
/// after it (srcnat), filter 0, security 50.
pub fn iptables_priority(table: &str, hook: &str) -> i64 {
    match (table, hook) {
        ("raw", _) => -300,
        ("mangle", _) => -150,
        ("nat", "PREROUTING" | "OUTPUT") => -100,
        ("nat", _) => 100,
        ("security", _) => 50,
        _ => 0,
    }
}

/// The path view's hook of a native base chain of `family` on `hook` (as nft spells
/// them), None for one it does not know.
pub fn native_hook(family: &str, hook: &str) -> Option<&'static str> {
    let upper = hook.to_ascii_uppercase();
    let name = match family {
        "ip" | "ip6" | "inet" | "netdev" => upper,
        "bridge" | "arp" => format!("{family} {upper}"),
        _ => return None,
    };
    ALL_HOOKS.iter().copied().find(|h| *h == name)
}

/// The name a base chain goes by in the path view: its table's for an iptables
/// table's (`nat`), `ip docker-bridges raw-PREROUTING` for a native one.
pub fn chain_label(snap_tables: &[FirewallTable], t: &FirewallTable, chain: usize) -> String {
    match &t.family {
        Some(_) => format!("{} {}", table_label(snap_tables, t), t.chains[chain].name),
        None => table_label(snap_tables, t),
    }
}

/// The name a table goes by in the path view: `nat`, or `nat (legacy)` when both back
/// ends hold it; `ip docker-bridges` for a native table.
pub fn table_label(snap_tables: &[FirewallTable], t: &FirewallTable) -> String {
    if let Some(f) = &t.family {
        return format!("{f} {}", t.name);
    }
    let twice = snap_tables
        .iter()
        .filter(|o| o.name == t.name && o.family.is_none())
        .count()
        > 1;
    match t.backend {
        Some(b) if twice => format!("{} ({b})", t.name),
        _ => t.name.clone(),
    }
}

/// The hook and priority of table `t`'s chain `c` when it is a base chain: an
/// iptables table's built-in chain at its table's fixed priority, a native base chain
/// at its own.
fn base_of(t: &FirewallTable, c: usize) -> Option<(&'static str, i64)> {
    let chain = &t.chains[c];
    match (&t.family, &chain.native) {
        (Some(f), Some(n)) => {
            let b = n.base.as_ref()?;
            Some((native_hook(f, &b.hook)?, b.priority))
        }
        (Some(_), None) => None,
        (None, _) => {
            let (hook, tables) = HOOKS.iter().find(|(h, _)| *h == chain.name.as_ref())?;
            tables
                .contains(&t.name.as_str())
                .then(|| (*hook, iptables_priority(&t.name, hook)))
        }
    }
}

/// The hooks with the chains the snapshot holds, each hook's chains in the order the
/// kernel runs them (by priority; at one priority, iptables' tables first).
pub fn hooks(input: &Input) -> Vec<Hook> {
    let snap = input.snapshot;
    // per table: its base chains' trees, each chain expanded once across them
    let mut per_table: Vec<Vec<(usize, Vec<TreeRow>)>> = Vec::new();
    let mut cut_of = Vec::new();
    for (ti, t) in snap.tables.iter().enumerate() {
        let roots: Vec<usize> = match t.family {
            None => builtin_chains(&t.name)
                .iter()
                .filter_map(|n| t.chain_index(n))
                .collect(),
            Some(_) => (0..t.chains.len())
                .filter(|&c| base_of(t, c).is_some())
                .collect(),
        };
        let td = input.deltas.and_then(|d| d.table(ti));
        let weight = |c: usize, r: usize| text::jump_weight(t, td, c, r);
        let (rows, cut) = tree::once::build_by(t, &roots, &weight, text::MAX_ROWS);
        let label = table_label(&snap.tables, t);
        per_table.push(split(rows, &label));
        cut_of.push(cut);
    }
    let mut out = Vec::new();
    for name in ALL_HOOKS {
        let mut chains = Vec::new();
        let mut cut = false;
        // iptables' tables in HOOKS' order (the order of their priorities), then the
        // native tables' base chains in the snapshot's order; sorted stably below
        let iptables = HOOKS
            .iter()
            .find(|(h, _)| *h == name)
            .map_or(&[][..], |(_, ts)| *ts);
        let order = iptables
            .iter()
            .flat_map(|want| {
                snap.tables
                    .iter()
                    .enumerate()
                    .filter(move |(_, t)| t.family.is_none() && t.name == *want)
            })
            .chain(
                snap.tables
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.family.is_some()),
            );
        for (ti, t) in order {
            for (root, rows) in &per_table[ti] {
                let Some((hook, priority)) = base_of(t, *root) else {
                    continue;
                };
                if hook != name {
                    continue;
                }
                chains.push(HookChain {
                    table: ti,
                    chain: *root,
                    priority,
                    same_priority: false,
                    rows: rows.clone(),
                });
                cut |= cut_of[ti];
            }
        }
        chains.sort_by_key(|hc| hc.priority);
        let prios: Vec<i64> = chains.iter().map(|hc| hc.priority).collect();
        for hc in &mut chains {
            hc.same_priority = prios.iter().filter(|&&p| p == hc.priority).count() > 1;
        }
        if chains.is_empty() && iptables.is_empty() {
            continue;
        }
        let moved = input.deltas.map(|_| {
            chains.iter().any(|hc| {
                let t = &snap.tables[hc.table];
                let td = input.deltas.and_then(|d| d.table(hc.table));
                let on = tree::moved_through(
                    &hc.rows,
                    |r| cells::movement(t, r, td).moved(),
                    |r| cells::uncounted(t, r),
                );
                on.iter().any(|&m| m)
            })
        });
        out.push(Hook {
            name,
            chains,
            moved,
            cut,
        });
    }
    out
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
    let all = text::columns(false);
    let widths = text::widths(&all, sections.iter().flat_map(|(_, l, _)| l));
    let mut notes = text::Notes::default();
    for (title, lines, cut) in &sections {
        out.push('\n');
        out.push_str(title);
        out.push('\n');
        if lines.is_empty() {
            continue;
        }
        text::push_titles(&mut out, &all, &widths);
        for l in lines {
            text::push_row(&mut out, &all, l, &widths, &mut notes);
        }
        if *cut {
            let _ = writeln!(out, "… tree cut after {} rows", text::MAX_ROWS);
        }
        notes.push_new(&mut out);
    }
    text::push_findings(&mut out, input);
    out
}

/// How a row is coloured: the verdict it stands for, and whether it jumps.
pub type Look = (String, bool);

/// The rows a hook's chain shows: all, or with `moved_only` those that moved and the
/// way to them. One line of [`hook_lines`] each, in its order.
pub fn chain_rows(input: &Input, hc: &HookChain) -> Vec<TreeRow> {
    let t = &input.snapshot.tables[hc.table];
    let td = input.deltas.and_then(|d| d.table(hc.table));
    if input.moved_only {
        text::moved_rows(t, td, &hc.rows)
    } else {
        hc.rows.clone()
    }
}

/// A hook's title line and its rows (none when it is folded: `fold` and nothing moved),
/// with their looks.
pub fn hook_lines<'a>(
    input: &Input<'a>,
    h: &Hook,
    fold: bool,
) -> (String, Vec<Line<'a>>, Vec<Look>) {
    let snap = input.snapshot;
    let mut title = format!("hook {}", h.name);
    if h.chains.is_empty() {
        title.push_str(" · no table polled has it");
        return (title, Vec::new(), Vec::new());
    }
    title.push_str(" · ");
    title.push_str(&priority_groups(input, h).join(", "));
    if fold && h.moved == Some(false) {
        title.push_str(" · nothing moved (folded)");
        return (title, Vec::new(), Vec::new());
    }
    let mut lines = Vec::new();
    let mut looks = Vec::new();
    for hc in &h.chains {
        let t = &snap.tables[hc.table];
        let rows = chain_rows(input, hc);
        let label = table_label(&snap.tables, t);
        for (r, (mut cells, free, note)) in rows.iter().zip(text::lines_of(input, hc.table, &rows))
        {
            let mut note = note;
            if cells.prefix.is_empty() {
                // a built-in chain names its table: `nat PREROUTING (policy ACCEPT)`
                cells.label = format!("{label} {}", cells.label).into();
                if hc.same_priority {
                    let same = format!(
                        "same priority ({}) as {}: their order is registration order, which the kernel does not show",
                        hc.priority,
                        same_as(input, h, hc).join(", ")
                    );
                    note = Some(match note {
                        Some(n) => format!("{same} · {n}"),
                        None => same,
                    });
                }
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

/// A hook's chains as its title names them, grouped by priority: `raw = ip
/// docker-bridges raw-PREROUTING (-300, same priority)`, `mangle (-150)`.
fn priority_groups(input: &Input, h: &Hook) -> Vec<String> {
    let snap = input.snapshot;
    let mut groups: Vec<(i64, Vec<String>)> = Vec::new();
    for hc in &h.chains {
        let name = chain_label(&snap.tables, &snap.tables[hc.table], hc.chain);
        match groups.last_mut() {
            Some((p, names)) if *p == hc.priority => names.push(name),
            _ => groups.push((hc.priority, vec![name])),
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

/// The other chains of hook `h` at `hc`'s priority, by name.
fn same_as(input: &Input, h: &Hook, hc: &HookChain) -> Vec<String> {
    let snap = input.snapshot;
    h.chains
        .iter()
        .filter(|o| o.priority == hc.priority && (o.table, o.chain) != (hc.table, hc.chain))
        .map(|o| chain_label(&snap.tables, &snap.tables[o.table], o.chain))
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
                let shown = chain_rows(input, hc);
                rows.extend(shown.iter().map(|r| path_row(t, &label, r, td)));
            }
            HookReport {
                hook: hook.name,
                tables: hook
                    .chains
                    .iter()
                    .map(|hc| table_label(&snap.tables, &snap.tables[hc.table]))
                    .collect(),
                chains: hook
                    .chains
                    .iter()
                    .map(|hc| HookChainReport {
                        table: table_label(&snap.tables, &snap.tables[hc.table]),
                        chain: snap.tables[hc.table].chains[hc.chain].name.to_string(),
                        priority: hc.priority,
                        same_priority: hc.same_priority,
                    })
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
        handle: None,
    };
    match r.kind {
        RowKind::Chain { chain } => {
            let c = &t.chains[chain];
            row.kind = "chain";
            row.target = c.policy().map(str::to_string);
            // a native base chain has no policy counters
            if c.is_builtin() && t.family.is_none() {
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
            if let Some(n) = &c.rules[rule].native {
                row.text = n.text.to_string();
                row.handle = Some(n.handle);
                if !n.has_counter {
                    // it counts nothing: null, never 0
                    row.packets = None;
                    row.bytes = None;
                    row.delta_packets = None;
                    row.delta_bytes = None;
                }
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
            // counters that may be missing do not tell what fell through
            let k = crate::flow::fell_through_total(t, chain)
                .counted()
                .filter(|_| t.family.is_none());
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
mod tests;
