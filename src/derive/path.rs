//! The path view's model: every base chain of every table on its hook, the hooks in the
//! order a packet meets them, each chain's rows derived once ([`super::Row`]). iptables'
//! tables sit at their fixed priorities (PREROUTING: raw −300, mangle −150, nat −100;
//! ...), native nftables tables' base chains at their own, sorted by priority; chains of
//! one hook at the same priority are marked (their order is registration order, which
//! the kernel does not show).

use super::{
    Counts, Header, Input, Row, TableFacts, Want, derive_counts, derive_rows, findings, header,
};
use crate::cells::RowFacts;
use crate::explain::findings::Finding;
use crate::model::{FirewallTable, builtin_chains};
use crate::tree::{RowKind, TreeRow};

/// The hooks in the order a packet meets them, each with its tables in priority order.
pub const HOOKS: [(&str, &[&str]); 5] = [
    ("PREROUTING", &["raw", "mangle", "nat"]),
    ("INPUT", &["mangle", "filter", "security", "nat"]),
    ("FORWARD", &["mangle", "filter", "security"]),
    ("OUTPUT", &["raw", "mangle", "nat", "filter", "security"]),
    ("POSTROUTING", &["mangle", "nat"]),
];

/// Every table a hook uses: what the path view polls.
pub const TABLES: [&str; 5] = ["raw", "mangle", "nat", "filter", "security"];

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

/// The path view of a snapshot, derived.
pub struct PathModel<'a> {
    pub header: Header<'a>,
    /// The snapshot's tables, which [`HookChain::table`] indexes.
    pub tables: &'a [FirewallTable],
    /// Only the rows that moved, with the way to them.
    pub moved_only: bool,
    pub hooks: Vec<Hook<'a>>,
    /// Empty unless asked for ([`Want::findings`]).
    pub findings: Vec<Finding>,
}

/// One hook: its chains in order, and whether anything in them moved.
pub struct Hook<'a> {
    pub name: &'static str,
    pub chains: Vec<HookChain<'a>>,
    /// None without a window.
    pub moved: Option<bool>,
    /// Some table's tree was cut (a safety net: each chain is shown once).
    pub cut: bool,
}

/// One base chain of a hook (an iptables table's built-in chain, or a native table's
/// base chain) with its tree.
pub struct HookChain<'a> {
    /// The table's index in the snapshot.
    pub table: usize,
    /// The base chain's index in its table.
    pub chain: usize,
    /// Its table as the path view names it ([`table_label`]).
    pub label: String,
    /// The chain as the path view names it ([`chain_label`]).
    pub chain_label: String,
    /// Its priority on the hook: the kernel runs lower numbers first.
    pub priority: i64,
    /// Some other chain of the hook has the same priority: which of them runs first is
    /// their registration order, which the kernel does not show.
    pub same_priority: bool,
    /// The rows shown (with `moved_only`, those that moved and the way to them)...
    pub rows: Vec<TreeRow>,
    /// ...each as text shows it (empty unless asked, [`Want::rows`])...
    pub lines: Vec<Row<'a>>,
    /// ...and each one's numbers (empty unless asked, [`Want::counts`]).
    pub counts: Vec<Counts>,
}

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

/// One base chain's tree: its rows with their facts, whether anything on them moved
/// (None without a window).
struct Subtree {
    table: usize,
    chain: usize,
    rows: Vec<TreeRow>,
    facts: Vec<RowFacts>,
    moved: Option<bool>,
    cut: bool,
}

/// The path view of `input`, with what `want` shows.
pub fn path<'a>(input: &Input<'a>, want: Want) -> PathModel<'a> {
    let snap = input.snapshot;
    let facts: Vec<TableFacts> = (0..snap.tables.len())
        .map(|ti| TableFacts::of(input, ti))
        .collect();
    let mut subtrees: Vec<Vec<Subtree>> = facts
        .iter()
        .enumerate()
        .map(|(ti, tf)| base_chains(&snap.tables, ti, tf))
        .collect();
    let mut hooks = Vec::new();
    for name in ALL_HOOKS {
        // iptables' tables in HOOKS' order (the order of their priorities), then the
        // native tables' base chains in the snapshot's order; sorted stably below
        let iptables = HOOKS
            .iter()
            .find(|(h, _)| *h == name)
            .map_or(&[][..], |(_, ts)| *ts);
        let order = iptables
            .iter()
            .flat_map(|want| {
                (0..snap.tables.len()).filter(move |&ti| {
                    let t = &snap.tables[ti];
                    t.family.is_none() && t.name == *want
                })
            })
            .chain((0..snap.tables.len()).filter(|&ti| snap.tables[ti].family.is_some()));
        let mut on: Vec<(i64, Subtree)> = Vec::new();
        for ti in order {
            let t = &snap.tables[ti];
            let (here, rest): (Vec<Subtree>, Vec<Subtree>) = std::mem::take(&mut subtrees[ti])
                .into_iter()
                .partition(|s| base_of(t, s.chain).is_some_and(|(h, _)| h == name));
            subtrees[ti] = rest;
            on.extend(
                here.into_iter()
                    .filter_map(|s| Some((base_of(t, s.chain)?.1, s))),
            );
        }
        on.sort_by_key(|(p, _)| *p);
        if on.is_empty() && iptables.is_empty() {
            continue;
        }
        let prios: Vec<i64> = on.iter().map(|(p, _)| *p).collect();
        let moved = input
            .deltas
            .map(|_| on.iter().any(|(_, s)| s.moved == Some(true)));
        let cut = on.iter().any(|(_, s)| s.cut);
        let mut chains: Vec<HookChain> = on
            .into_iter()
            .map(|(priority, s)| {
                let same_priority = prios.iter().filter(|&&p| p == priority).count() > 1;
                hook_chain(input, &facts[s.table], s, priority, same_priority, want)
            })
            .collect();
        name_heads(&mut chains);
        hooks.push(Hook {
            name,
            chains,
            moved,
            cut,
        });
    }
    PathModel {
        header: header(input),
        tables: &snap.tables,
        moved_only: input.moved_only,
        hooks,
        findings: match want.findings {
            true => findings(input),
            false => Vec::new(),
        },
    }
}

/// Table `ti`'s base chains, each with its tree (each chain expanded once across them).
fn base_chains(snap_tables: &[FirewallTable], ti: usize, tf: &TableFacts) -> Vec<Subtree> {
    let t = tf.table;
    let roots: Vec<usize> = match t.family {
        None => builtin_chains(&t.name)
            .iter()
            .filter_map(|n| t.chain_index(n))
            .collect(),
        Some(_) => (0..t.chains.len())
            .filter(|&c| base_of(t, c).is_some())
            .collect(),
    };
    let (rows, mut facts, cut) = tf.tree(&roots);
    let label = table_label(snap_tables, t);
    let mut out: Vec<Subtree> = split(rows, &label)
        .into_iter()
        .rev()
        .map(|(chain, range, rows)| {
            // the subtrees are in the tree's order: the last one's facts are its tail
            let facts = facts.split_off(range.start);
            let moved = tf.deltas.map(|_| tf.any_moved(&rows, &facts));
            Subtree {
                table: ti,
                chain,
                rows,
                facts,
                moved,
                cut,
            }
        })
        .collect();
    out.reverse();
    out
}

/// A base chain of a hook with its rows derived (after `--moved-only`).
fn hook_chain<'a>(
    input: &Input<'a>,
    tf: &TableFacts<'a>,
    s: Subtree,
    priority: i64,
    same_priority: bool,
    want: Want,
) -> HookChain<'a> {
    let snap = input.snapshot;
    let t = tf.table;
    let (rows, facts) = if input.moved_only {
        tf.moved(&s.rows, &s.facts)
    } else {
        (s.rows, s.facts)
    };
    let lines = match want.rows {
        true => derive_rows(input, tf, &rows, &facts),
        false => Vec::new(),
    };
    let counts = match want.counts {
        true => derive_counts(tf, &rows, &facts),
        false => Vec::new(),
    };
    HookChain {
        table: s.table,
        chain: s.chain,
        label: table_label(&snap.tables, t),
        chain_label: chain_label(&snap.tables, t, s.chain),
        priority,
        same_priority,
        rows,
        lines,
        counts,
    }
}

/// A base chain's own row names its table (`nat PREROUTING (policy ACCEPT)`), and notes
/// the other chains of the hook at its priority.
fn name_heads(chains: &mut [HookChain]) {
    let labels: Vec<(i64, String)> = chains
        .iter()
        .map(|hc| (hc.priority, hc.chain_label.clone()))
        .collect();
    for (i, hc) in chains.iter_mut().enumerate() {
        let same: Vec<&str> = labels
            .iter()
            .enumerate()
            .filter(|&(j, (p, _))| j != i && *p == hc.priority)
            .map(|(_, (_, l))| l.as_str())
            .collect();
        for (r, line) in hc.rows.iter().zip(&mut hc.lines) {
            if r.depth != 0 {
                continue;
            }
            line.cells.label = format!("{} {}", hc.label, line.cells.label).into();
            if hc.same_priority {
                let same = format!(
                    "same priority ({}) as {}: their order is registration order, which the kernel does not show",
                    hc.priority,
                    same.join(", ")
                );
                line.note = Some(match line.note.take() {
                    Some(n) => format!("{same} · {n}"),
                    None => same,
                });
            }
        }
    }
}

/// Splits a tree into its roots' subtrees (parents renumbered), each with the range of
/// rows it was; reference rows name the table of the place they point to.
fn split(rows: Vec<TreeRow>, table: &str) -> Vec<(usize, std::ops::Range<usize>, Vec<TreeRow>)> {
    let mut out: Vec<(usize, std::ops::Range<usize>, Vec<TreeRow>)> = Vec::new();
    let mut base = 0u32;
    for (i, mut r) in rows.into_iter().enumerate() {
        if let RowKind::Chain { chain } = r.kind {
            base = i as u32;
            out.push((chain, i..i, Vec::new()));
        }
        let Some((_, range, v)) = out.last_mut() else {
            continue;
        };
        r.parent = r.parent.map(|p| p - base);
        if let Some(n) = &r.note {
            r.note = Some(n.replacen("→ see ", &format!("→ see {table} "), 1).into());
        }
        range.end = i + 1;
        v.push(r);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
