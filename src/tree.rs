//! The chain tree: roots are the built-in chains (or the chains asked for), and a rule
//! whose target is a user chain has that chain's rules as its children. A chain
//! referenced twice appears under both references; a jump back into a chain already on
//! the path is a cycle, cut and marked. Chains no root reaches are listed after the roots.
//!
//! Rows carry a [`NodeId`] made of the rule identities along their path, so collapse
//! state and selection survive refreshes and rule churn. One walk ([`walk`]) builds the
//! rows, with an expand policy: [`build`] opens what the live view opened; exports and
//! search use [`once::build`] instead: every chain expanded once, other jumps to it
//! pointing there.

pub mod once;
pub mod walk;

use std::collections::HashSet;
use std::sync::Arc;

use crate::model::{FirewallTable, hash_str, mix};

/// Identity of a tree node: stable across polls while the rules on its path exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u64);

impl NodeId {
    pub fn root(chain: &str) -> NodeId {
        NodeId(mix(0x5eed, hash_str(chain)))
    }

    pub fn child(self, rule_key: u64) -> NodeId {
        NodeId(mix(self.0, rule_key))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// A root: a chain's header (policy, counters).
    Chain { chain: usize },
    /// A rule of `chain`, at index `rule`.
    Rule { chain: usize, rule: usize },
    /// Under rule `rule` of `chain`, a jump to a chain shown elsewhere: says where
    /// ([`TreeRow::note`]). Only in trees that show every chain once ([`once::build`]).
    Ref { chain: usize, rule: usize },
    /// The end of `chain`, after its last rule: a built-in chain's policy, or what fell
    /// through a user chain back to its caller ([`crate::flow`]).
    Verdict { chain: usize },
}

/// The key under which a chain's verdict row hangs below the chain.
pub const VERDICT_KEY: u64 = 0x5e_7d_1c_70;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Nothing below: a verdict, an empty chain, or a jump into an empty chain.
    Leaf,
    Collapsed,
    Expanded,
    /// A jump into a chain already on the path: not expanded.
    Cycle,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeRow {
    pub kind: RowKind,
    pub id: NodeId,
    pub depth: u16,
    /// TreeRow index of the parent, `None` for roots.
    pub parent: Option<u32>,
    pub fold: Fold,
    /// The user chain this rule jumps to.
    pub jump: Option<usize>,
    /// Last among its siblings (draws `└─` rather than `├─`).
    pub last: bool,
    /// Bit k % 64 (depth - 64 < k < depth, k ≥ 1): the ancestor at depth k has later
    /// siblings (draws `│`). Only the levels near a row are drawn ([`TreeRow::prefix`]).
    pub guides: u64,
    /// What a [`RowKind::Ref`] row says: where the chain is shown.
    pub note: Option<Arc<str>>,
}

/// Rows down to this depth draw every level of the tree in front of them; deeper rows
/// draw the depth as a number and the last [`NEAR_LEVELS`] levels, so that a row's
/// prefix (and a text export) stays small however deep chains nest.
pub const DRAWN_DEPTH: u16 = 8;
pub const NEAR_LEVELS: u16 = 3;

/// `guides` with the bar of level `level` set to `bar`.
pub fn with_level(guides: u64, level: u16, bar: bool) -> u64 {
    let bit = 1u64 << (level % 64);
    if bar { guides | bit } else { guides & !bit }
}

impl TreeRow {
    pub fn chain(&self) -> usize {
        match self.kind {
            RowKind::Chain { chain }
            | RowKind::Rule { chain, .. }
            | RowKind::Ref { chain, .. }
            | RowKind::Verdict { chain } => chain,
        }
    }

    /// The tree drawing in front of the row's label: `│  ├─ `, or for a deep row
    /// `…37   │     │  ├─ ` (its depth, then the levels just above it).
    pub fn prefix(&self) -> crate::model::Text {
        // at most 7 levels of 5 bytes and a 7-byte end (a deeper row: its depth and the 3
        // nearest levels)
        let mut s = crate::model::Short::default();
        if self.depth == 0 {
            return s.text();
        }
        let from = if self.depth > DRAWN_DEPTH {
            // `…{depth:<5}`
            let mut digits = itoa::Buffer::new();
            let d = digits.format(self.depth);
            s.push("…").push(d).push(&"     "[d.len().min(5)..]);
            self.depth - NEAR_LEVELS
        } else {
            1
        };
        for k in from..self.depth {
            let bar = self.guides & (1 << (k % 64)) != 0;
            s.push(if bar { "│  " } else { "   " });
        }
        s.push(if self.last { "└─ " } else { "├─ " });
        s.text()
    }

    /// Display width of [`TreeRow::prefix`], without building it.
    pub fn prefix_width(&self) -> usize {
        match self.depth {
            0 => 0,
            d if d > DRAWN_DEPTH => 6 + 3 * NEAR_LEVELS as usize + 3,
            d => 3 * d as usize,
        }
    }
}

/// The chains the tree starts from: the given names, or the built-in chains in kernel
/// order followed by every user chain the built-ins do not reach (listing order).
/// Names not in the table are skipped.
pub fn roots(table: &FirewallTable, wanted: &[String]) -> Vec<usize> {
    if !wanted.is_empty() {
        return wanted.iter().filter_map(|n| table.chain_index(n)).collect();
    }
    let mut roots: Vec<usize> = (0..table.chains.len())
        .filter(|&i| table.chains[i].is_builtin())
        .collect();
    let mut reached = vec![false; table.chains.len()];
    let mut stack = roots.clone();
    for &r in &roots {
        reached[r] = true;
    }
    let visit = |stack: &mut Vec<usize>, reached: &mut Vec<bool>| {
        while let Some(c) = stack.pop() {
            for rule in table.chains[c].rules.iter() {
                if let Some(t) = table.jump_target(rule)
                    && !reached[t]
                {
                    reached[t] = true;
                    stack.push(t);
                }
            }
        }
    };
    visit(&mut stack, &mut reached);
    // Unreached chains: first those nothing references at all, then (for rings of
    // chains that only reference each other) whatever is still left.
    let mut referenced = vec![false; table.chains.len()];
    for c in &table.chains {
        for r in c.rules.iter() {
            if let Some(t) = table.jump_target(r) {
                referenced[t] = true;
            }
        }
    }
    for pass_unreferenced in [true, false] {
        for i in 0..table.chains.len() {
            if !reached[i] && (referenced[i] != pass_unreferenced) {
                reached[i] = true;
                roots.push(i);
                stack.push(i);
                visit(&mut stack, &mut reached);
            }
        }
    }
    roots
}

/// What [`build`] asks about a node that has children.
#[derive(Debug, Clone, Copy)]
pub struct ExpandQuery {
    pub id: NodeId,
    /// 0 for a root chain, 1 for its rules, and so on.
    pub depth: u16,
    /// How many rules the node's chain (root) or jump target holds.
    pub rules: usize,
    /// The jump (chain, rule index); None for a root.
    pub jump: Option<(usize, usize)>,
}

/// Builds the visible rows: `expanded` says whether a node's children are shown.
/// Stops after `max_rows` rows (a chain jumped to from many places repeats under each
/// jump; this bounds pathological fan-out); returns whether it stopped early.
pub fn build(
    table: &FirewallTable,
    roots: &[usize],
    expanded: &dyn Fn(ExpandQuery) -> bool,
    max_rows: usize,
) -> (Vec<TreeRow>, bool) {
    walk::walk(table, roots, &WhatIsOpen(expanded), max_rows)
}

/// The live view's expand policy: what the user opened (every root in the order given).
struct WhatIsOpen<'a>(&'a dyn Fn(ExpandQuery) -> bool);

impl walk::Expand for WhatIsOpen<'_> {
    fn roots_once(&self) -> bool {
        false
    }

    fn root(&self, q: ExpandQuery) -> bool {
        (self.0)(q)
    }

    fn jump(&self, q: ExpandQuery, _target: usize, _shown: bool) -> walk::Open {
        if (self.0)(q) {
            walk::Open::Here
        } else {
            walk::Open::Closed
        }
    }
}

/// The row that ends chain `chain`: its policy or what fell through it.
pub fn verdict_row(
    chain: usize,
    parent_id: NodeId,
    depth: u16,
    parent_row: u32,
    guides: u64,
) -> TreeRow {
    TreeRow {
        kind: RowKind::Verdict { chain },
        id: parent_id.child(VERDICT_KEY),
        depth,
        parent: Some(parent_row),
        fold: Fold::Leaf,
        jump: None,
        last: true,
        guides,
        note: None,
    }
}

/// Keeps the rows marked in `keep` (mark a row's ancestors too), with parents, `last`
/// and guides recomputed.
pub fn keep(full: &[TreeRow], keep: &[bool]) -> Vec<TreeRow> {
    let mut map = vec![u32::MAX; full.len()];
    let mut out: Vec<TreeRow> = Vec::new();
    for (i, r) in full.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        map[i] = out.len() as u32;
        let mut r = r.clone();
        r.parent = r.parent.map(|p| map[p as usize]);
        out.push(r);
    }
    // last among siblings: no later row with the same parent
    let mut seen_parent: HashSet<Option<u32>> = HashSet::new();
    for i in (0..out.len()).rev() {
        out[i].last = seen_parent.insert(out[i].parent);
    }
    for i in 0..out.len() {
        out[i].guides = match out[i].parent {
            Some(p) => {
                let p = &out[p as usize];
                with_level(p.guides, p.depth, !p.last && p.depth >= 1)
            }
            None => 0,
        };
    }
    out
}

/// For each row: is it a rule that moved on this path? A rule inside a chain moved on
/// a path only if every jump on the way moved too: a chain jumped to from several places
/// shows its totals under each, and a path whose jump did not move carried none of them.
pub fn moved_on_path(rows: &[TreeRow], moved: impl Fn(&TreeRow) -> bool) -> Vec<bool> {
    moved_through(rows, moved, |_| false)
}

/// [`moved_on_path`], where a jump that has no counter at all (`uncounted`: a native
/// rule without `counter`, a verdict map's element) cannot tell whether it carried
/// anything: it does not close the path below it, and is not itself a moved row.
pub fn moved_through(
    rows: &[TreeRow],
    moved: impl Fn(&TreeRow) -> bool,
    uncounted: impl Fn(&TreeRow) -> bool,
) -> Vec<bool> {
    moved_through_at(rows, |i| moved(&rows[i]), |i| uncounted(&rows[i]))
}

/// [`moved_through`], asking about rows by their index.
pub fn moved_through_at(
    rows: &[TreeRow],
    moved: impl Fn(usize) -> bool,
    uncounted: impl Fn(usize) -> bool,
) -> Vec<bool> {
    let mut eff = vec![false; rows.len()];
    // the path is open through the row: it moved, or it cannot tell
    let mut open = vec![false; rows.len()];
    for (i, r) in rows.iter().enumerate() {
        if !matches!(r.kind, RowKind::Rule { .. } | RowKind::Verdict { .. }) {
            continue;
        }
        let parent_ok = match r.parent {
            Some(p) => match rows[p as usize].kind {
                RowKind::Chain { .. } => true,
                RowKind::Rule { .. } | RowKind::Ref { .. } | RowKind::Verdict { .. } => {
                    open[p as usize]
                }
            },
            None => true,
        };
        if uncounted(i) {
            open[i] = parent_ok;
        } else {
            eff[i] = parent_ok && moved(i);
            open[i] = eff[i];
        }
    }
    eff
}

/// Marks the rules that moved on their path (see [`moved_on_path`]) and their ancestors,
/// and root chains whose own counters (the policy's) moved; a reference row stays with
/// its jump.
pub fn moved_mask(rows: &[TreeRow], moved: impl Fn(&TreeRow) -> bool) -> Vec<bool> {
    moved_mask_through(rows, moved, |_| false)
}

/// [`moved_mask`] with jumps that have no counter left open (see [`moved_through`]).
pub fn moved_mask_through(
    rows: &[TreeRow],
    moved: impl Fn(&TreeRow) -> bool,
    uncounted: impl Fn(&TreeRow) -> bool,
) -> Vec<bool> {
    moved_mask_at(rows, |i| moved(&rows[i]), |i| uncounted(&rows[i]))
}

/// [`moved_mask_through`], asking about rows by their index.
pub fn moved_mask_at(
    rows: &[TreeRow],
    moved: impl Fn(usize) -> bool,
    uncounted: impl Fn(usize) -> bool,
) -> Vec<bool> {
    let eff = moved_through_at(rows, &moved, uncounted);
    let mut keep = vec![false; rows.len()];
    for i in 0..rows.len() {
        if eff[i] || (matches!(rows[i].kind, RowKind::Chain { .. }) && moved(i)) {
            let mut j = Some(i);
            while let Some(k) = j {
                if keep[k] {
                    break;
                }
                keep[k] = true;
                j = rows[k].parent.map(|p| p as usize);
            }
        }
    }
    for i in 0..rows.len() {
        if let (RowKind::Ref { .. }, Some(p)) = (rows[i].kind, rows[i].parent) {
            keep[i] = eff[p as usize];
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_table;

    fn swarm() -> FirewallTable {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/iptables/docker-swarm.nft.filter-vnxL.txt"
        ))
        .expect("fixture");
        parse_table("filter", &text, None).expect("parse")
    }

    fn label(t: &FirewallTable, r: &TreeRow) -> String {
        match r.kind {
            RowKind::Chain { chain } => t.chains[chain].name.to_string(),
            RowKind::Rule { chain, rule } => {
                let spec = &t.chains[chain].rules[rule].spec;
                format!("{}{} {}", r.prefix(), spec.target, spec.summary())
                    .trim_end()
                    .to_string()
            }
            RowKind::Ref { .. } => String::new(),
            RowKind::Verdict { chain } => format!(
                "{}{}",
                r.prefix(),
                match t.chains[chain].policy() {
                    Some(p) => format!("policy {p}"),
                    None => "fell through".into(),
                }
            ),
        }
    }

    #[test]
    fn swarm_path_nests_as_it_jumps() {
        let t = swarm();
        let roots = roots(&t, &[]);
        let names: Vec<&str> = roots.iter().map(|&i| &*t.chains[i].name).collect();
        assert_eq!(names, ["INPUT", "FORWARD", "OUTPUT"]);
        let (rows, cut) = build(&t, &roots, &|_| true, 10_000);
        assert!(!cut);
        let text: Vec<String> = rows.iter().map(|r| label(&t, r)).collect();
        let expect = [
            "INPUT",
            "└─ policy ACCEPT",
            "FORWARD",
            "├─ DOCKER-USER",
            "│  ├─ RETURN",
            "│  └─ fell through",
            "├─ DOCKER-INGRESS",
            "│  ├─ ACCEPT tcp dpt:80",
            "│  ├─ ACCEPT state RELATED,ESTABLISHED tcp spt:80",
            "│  ├─ RETURN",
            "│  └─ fell through",
            "├─ DOCKER-ISOLATION-STAGE-1",
            "│  ├─ DOCKER-ISOLATION-STAGE-2 docker_gwbridge !docker_gwbridge",
            "│  │  ├─ DROP docker_gwbridge",
            "│  │  ├─ DROP docker0",
            "│  │  ├─ RETURN",
            "│  │  └─ fell through",
            "│  ├─ DOCKER-ISOLATION-STAGE-2 docker0 !docker0",
            "│  │  ├─ DROP docker_gwbridge",
            "│  │  ├─ DROP docker0",
            "│  │  ├─ RETURN",
            "│  │  └─ fell through",
            "│  ├─ RETURN",
            "│  └─ fell through",
        ];
        assert_eq!(&text[..expect.len()], expect);
        assert_eq!(
            text[text.len() - 2..],
            ["OUTPUT".to_string(), "└─ policy ACCEPT".to_string()]
        );
        // DOCKER (2 references, both empty) opens onto what fell through it
        let docker_rows: Vec<&TreeRow> = rows
            .iter()
            .filter(|r| r.jump == t.chain_index("DOCKER"))
            .collect();
        assert_eq!(docker_rows.len(), 2);
        assert!(docker_rows.iter().all(|r| r.fold == Fold::Expanded));
        let i = rows
            .iter()
            .position(|r| r.jump == t.chain_index("DOCKER"))
            .expect("DOCKER");
        assert_eq!(label(&t, &rows[i + 1]), "│  └─ fell through");
        // ids are unique even where the same chain appears twice
        let mut ids: Vec<NodeId> = rows.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), rows.len());
    }

    #[test]
    fn collapsed_nodes_hide_children_and_ids_survive_insertions() {
        let t = swarm();
        let roots = roots(&t, &[]);
        let (all, _) = build(&t, &roots, &|_| true, 10_000);
        let ingress = all
            .iter()
            .find(|r| r.jump == t.chain_index("DOCKER-INGRESS"))
            .expect("row")
            .id;
        let (rows, _) = build(&t, &roots, &|q| q.id != ingress, 10_000);
        assert_eq!(rows.len(), all.len() - 4);

        // Insert a rule at the top of FORWARD: the DOCKER-INGRESS jump keeps its id.
        let mut t2 = t.clone();
        let fwd = t2.chain_index("FORWARD").expect("fwd");
        let mut extra = t2.chains[fwd].rules[0].clone();
        extra.spec = std::sync::Arc::new(crate::model::RuleSpec {
            target: "LOG".into(),
            ..Default::default()
        });
        std::sync::Arc::make_mut(&mut t2.chain_mut(fwd).rules).insert(0, extra);
        t2.chain_mut(fwd).counters.insert(0, Default::default());
        t2.chain_mut(fwd).assign_keys();
        let (all2, _) = build(&t2, &roots, &|_| true, 10_000);
        assert!(
            all2.iter()
                .any(|r| r.id == ingress && r.jump == t.chain_index("DOCKER-INGRESS"))
        );
    }

    #[test]
    fn cycles_are_cut_and_unreached_chains_listed() {
        let text = "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
 pkts bytes target prot opt in out source destination
    0     0 A      0    --  *  *   0.0.0.0/0 0.0.0.0/0

Chain A (2 references)
 pkts bytes target prot opt in out source destination
    0     0 B      0    --  *  *   0.0.0.0/0 0.0.0.0/0

Chain B (1 references)
 pkts bytes target prot opt in out source destination
    0     0 A      0    --  *  *   0.0.0.0/0 0.0.0.0/0

Chain LONELY (0 references)
 pkts bytes target prot opt in out source destination

Chain RING1 (1 references)
 pkts bytes target prot opt in out source destination
    0     0 RING2  0    --  *  *   0.0.0.0/0 0.0.0.0/0

Chain RING2 (1 references)
 pkts bytes target prot opt in out source destination
    0     0 RING1  0    --  *  *   0.0.0.0/0 0.0.0.0/0
";
        let t = parse_table("filter", text, None).expect("parse");
        let r = roots(&t, &[]);
        let names: Vec<&str> = r.iter().map(|&i| &*t.chains[i].name).collect();
        assert_eq!(names, ["INPUT", "LONELY", "RING1"]);
        let (rows, _) = build(&t, &r, &|_| true, 100);
        let folds: Vec<Fold> = rows.iter().map(|r| r.fold).collect();
        assert_eq!(
            folds,
            [
                Fold::Expanded, // INPUT
                Fold::Expanded, // -> A
                Fold::Expanded, //    -> B
                Fold::Cycle,    //       -> A again
                Fold::Leaf,     //       fell through B
                Fold::Leaf,     //    fell through A
                Fold::Leaf,     // policy ACCEPT
                Fold::Expanded, // LONELY (empty)
                Fold::Leaf,     // fell through LONELY
                Fold::Expanded, // RING1
                Fold::Expanded, // -> RING2
                Fold::Cycle,    //    -> RING1
                Fold::Leaf,     //    fell through RING2
                Fold::Leaf,     // fell through RING1
            ]
        );
        let (rows, cut) = build(&t, &r, &|_| true, 3);
        assert!(cut);
        assert_eq!(rows.len(), 3);
    }

    #[test]
    fn wanted_roots() {
        let t = swarm();
        let r = roots(&t, &["DOCKER-USER".into(), "NOPE".into()]);
        assert_eq!(r, vec![t.chain_index("DOCKER-USER").expect("chain")]);
    }

    #[test]
    fn a_generated_kube_table_has_only_the_built_ins_as_roots() {
        // every jump of synth's kube-proxy table lands on a chain; nothing is unreachable
        let t = crate::synth::kube_nat(2000, 7);
        assert_eq!(roots(&t, &[]).len(), 4, "only the built-ins are roots");
    }
}
