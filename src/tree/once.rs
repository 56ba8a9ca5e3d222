//! The tree for exports: each chain expanded once, so that the output is about the size
//! of the listing whatever the shape of the jumps. A chain jumped to from several rules
//! is expanded under the one that carried the most (exports: packets in the window, then
//! in total; the first in tree order on a tie); every other jump to it gets one
//! reference row naming that place.
//! The same spanning tree gives search a path to any rule without expanding the rest.

use super::walk::{Expand, Open, walk};
use super::{ExpandQuery, TreeRow};
use crate::model::FirewallTable;

/// Which jump each chain is expanded under.
#[derive(Debug, Clone)]
pub struct Spanning {
    /// Per chain: the rule (chain, index) it is expanded under; None for the roots and
    /// for chains the roots do not reach.
    pub parent: Vec<Option<(u32, u32)>>,
    /// Per chain: it is a root or reached from one.
    pub reached: Vec<bool>,
    /// Per chain: the root it hangs under, and how many jumps below it.
    root_of: Vec<u32>,
    depth: Vec<u32>,
}

impl Spanning {
    /// `weight(chain, rule)`: what the jump carried (in the window, then in total); a
    /// chain is expanded under its heaviest jump that the roots reach, the first of them
    /// in tree order on a tie. Linear in the rules of the chains the roots reach.
    pub fn new(
        table: &FirewallTable,
        roots: &[usize],
        weight: &dyn Fn(usize, usize) -> (u64, u64),
    ) -> Self {
        let n = table.chains.len();
        let mut sp = Spanning {
            parent: vec![None; n],
            reached: vec![false; n],
            root_of: vec![0; n],
            depth: vec![0; n],
        };
        let mut claimed_order: Vec<usize> = Vec::new();
        for &r in roots {
            if r < n && !sp.reached[r] {
                sp.reached[r] = true;
                sp.root_of[r] = r as u32;
                claimed_order.push(r);
            }
        }
        let best = heaviest_jumps(table, roots, weight);
        let callers = table.callers();
        // First along each chain's heaviest jumps, then along all of them: a chain is
        // claimed by the first jump (depth first, in rule order) that reaches it.
        for only_best in [true, false] {
            let mut visited = vec![false; n];
            let mut stack: Vec<(usize, usize)> = Vec::new();
            for &r in roots {
                if r >= n || visited[r] || sp.parent[r].is_some() {
                    continue;
                }
                visited[r] = true;
                stack.push((r, 0));
                // (chain, its next jump): along the jumps only, in rule order
                while let Some(top) = stack.last_mut() {
                    let (c, ji) = *top;
                    let Some(&(ri, t)) = callers.jumps_from(c).get(ji) else {
                        stack.pop();
                        continue;
                    };
                    top.1 += 1;
                    let t = t as usize;
                    let here = Some((c as u32, ri));
                    if !sp.reached[t] && (!only_best || weight(c, ri as usize) == best[t]) {
                        sp.reached[t] = true;
                        sp.parent[t] = here;
                        claimed_order.push(t);
                    }
                    if sp.parent[t] == here && !visited[t] {
                        visited[t] = true;
                        stack.push((t, 0));
                    }
                }
            }
        }
        // parents are claimed before their children
        for c in claimed_order {
            if let Some((p, _)) = sp.parent[c] {
                sp.root_of[c] = sp.root_of[p as usize];
                sp.depth[c] = sp.depth[p as usize] + 1;
            }
        }
        sp
    }

    /// Where chain `target` is expanded, for a reference row:
    /// `FORWARD › DOCKER-ISOLATION-STAGE-1 › rule 1`, the middle of long paths cut to `…`.
    pub fn place(&self, table: &FirewallTable, target: usize) -> String {
        let Some((via, rule)) = self.parent.get(target).copied().flatten() else {
            return table.chains[target].name.to_string();
        };
        // the chains from the root down to `via`: the root, then at most the last three
        const NEAR: u32 = 3;
        let mut near: Vec<usize> = Vec::new();
        let mut c = via as usize;
        for _ in 0..NEAR {
            near.push(c);
            match self.parent[c] {
                Some((p, _)) => c = p as usize,
                None => break,
            }
        }
        let root = self.root_of[via as usize] as usize;
        let mut parts: Vec<&str> = Vec::new();
        if near.last() != Some(&root) {
            parts.push(&table.chains[root].name);
            if self.depth[via as usize] > NEAR {
                parts.push("…");
            }
        }
        parts.extend(near.iter().rev().map(|&c| &*table.chains[c].name));
        format!("{} › rule {}", parts.join(" › "), rule + 1)
    }
}

/// Per chain, the weight of its heaviest jump from a chain the roots reach.
fn heaviest_jumps(
    table: &FirewallTable,
    roots: &[usize],
    weight: &dyn Fn(usize, usize) -> (u64, u64),
) -> Vec<(u64, u64)> {
    let n = table.chains.len();
    let mut reached = vec![false; n];
    let mut stack: Vec<usize> = roots.iter().copied().filter(|&r| r < n).collect();
    for &r in &stack {
        reached[r] = true;
    }
    let callers = table.callers();
    while let Some(c) = stack.pop() {
        for &(_, t) in callers.jumps_from(c) {
            let t = t as usize;
            if !std::mem::replace(&mut reached[t], true) {
                stack.push(t);
            }
        }
    }
    (0..n)
        .map(|t| {
            callers
                .of(t)
                .iter()
                .filter(|&&(c, _)| reached[c as usize])
                .map(|&(c, r)| weight(c as usize, r as usize))
                .max()
                .unwrap_or_default()
        })
        .collect()
}

/// The rows of the tree that shows each chain once (see the module doc); stops after
/// `max_rows` rows and says so. `moved(chain, rule)`: the jump moved in the window (its
/// target is expanded under the first jump that moved).
pub fn build(
    table: &FirewallTable,
    roots: &[usize],
    moved: &dyn Fn(usize, usize) -> bool,
    max_rows: usize,
) -> (Vec<TreeRow>, bool) {
    build_by(table, roots, &|c, r| (u64::from(moved(c, r)), 0), max_rows)
}

/// [`build`] with each shared chain expanded under the jump that carried the most:
/// `weight(chain, rule)` is (packets in the window, packets in total).
pub fn build_by(
    table: &FirewallTable,
    roots: &[usize],
    weight: &dyn Fn(usize, usize) -> (u64, u64),
    max_rows: usize,
) -> (Vec<TreeRow>, bool) {
    let sp = Spanning::new(table, roots, weight);
    walk(table, roots, &Once { table, sp: &sp }, max_rows)
}

/// The exports' expand policy: each chain under the jump the spanning tree picked, the
/// other jumps to it pointing there.
struct Once<'a> {
    table: &'a FirewallTable,
    sp: &'a Spanning,
}

impl Expand for Once<'_> {
    fn roots_once(&self) -> bool {
        true
    }

    fn root(&self, _q: ExpandQuery) -> bool {
        true
    }

    fn jump(&self, q: ExpandQuery, target: usize, shown: bool) -> Open {
        let here = q.jump.map(|(c, r)| (c as u32, r as u32));
        if self.sp.parent[target] == here && !shown {
            Open::Here
        } else if let Some(action) = inline_action(self.table, target) {
            // a one-rule MARK chain jumped from many places (KUBE-MARK-MASQ): what it
            // does, on the jump's own row, instead of a row pointing to it
            Open::Inline(action)
        } else {
            let name = &self.table.chains[target].name;
            Open::Elsewhere(format!(
                "{name} → see {}",
                self.sp.place(self.table, target)
            ))
        }
    }
}

/// What chain `t` does, when it is one rule that marks every packet and goes on (kube-proxy's
/// `KUBE-MARK-MASQ`: `MARK or 0x4000`): said on each jump to it rather than pointed to.
/// Only for iptables tables: a native rule's text says it already.
pub fn inline_action(table: &FirewallTable, t: usize) -> Option<String> {
    let chain = &table.chains[t];
    if table.family.is_some() || chain.is_builtin() {
        return None;
    }
    let [rule] = chain.rules.as_slice() else {
        return None;
    };
    let s = &rule.spec;
    (rule.jump.is_none()
        && matches!(s.target.as_str(), "MARK" | "CONNMARK")
        && crate::flow::matches_everything(s))
    .then(|| {
        crate::model::comments::without_comments(&s.extra)
            .trim()
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_table;
    use crate::tree::{Fold, RowKind};

    fn label(t: &FirewallTable, r: &TreeRow) -> String {
        match r.kind {
            RowKind::Chain { chain } => t.chains[chain].name.to_string(),
            RowKind::Rule { chain, rule } => {
                let spec = &t.chains[chain].rules[rule].spec;
                format!("{}{} {}", r.prefix(), spec.target, spec.summary())
                    .trim_end()
                    .to_string()
            }
            RowKind::Ref { .. } => format!("{}{}", r.prefix(), r.note.as_deref().unwrap_or("")),
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

    fn swarm() -> FirewallTable {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/iptables/docker-swarm.nft.filter-vnxL.txt"
        ))
        .expect("fixture");
        parse_table("filter", &text, None).expect("parse")
    }

    #[test]
    fn a_shared_chain_is_expanded_once_and_referenced_from_its_other_jump() {
        let t = swarm();
        let roots = super::super::roots(&t, &[]);
        let (rows, cut) = build(&t, &roots, &|_, _| false, 10_000);
        assert!(!cut);
        let text: Vec<String> = rows.iter().map(|r| label(&t, r)).collect();
        let want = [
            "├─ DOCKER-ISOLATION-STAGE-1",
            "│  ├─ DOCKER-ISOLATION-STAGE-2 docker_gwbridge !docker_gwbridge",
            "│  │  ├─ DROP docker_gwbridge",
            "│  │  ├─ DROP docker0",
            "│  │  ├─ RETURN",
            "│  │  └─ fell through",
            "│  ├─ DOCKER-ISOLATION-STAGE-2 docker0 !docker0",
            "│  │  └─ DOCKER-ISOLATION-STAGE-2 → see FORWARD › DOCKER-ISOLATION-STAGE-1 › rule 1",
            "│  ├─ RETURN",
            "│  └─ fell through",
        ];
        let at = text.iter().position(|l| l == want[0]).expect("STAGE-1");
        assert_eq!(&text[at..at + want.len()], want);
        // every rule of every chain once
        let rule_rows = rows
            .iter()
            .filter(|r| matches!(r.kind, RowKind::Rule { .. }))
            .count();
        assert_eq!(rule_rows, t.rule_count());
        // ... under the jump that moved, when one did
        let fwd = t.chain_index("FORWARD").expect("chain");
        let stage1 = t.chain_index("DOCKER-ISOLATION-STAGE-1").expect("chain");
        let moved = |c, r| (c, r) == (stage1, 1) || (c, r) == (fwd, 2);
        let (rows, _) = build(&t, &roots, &moved, 10_000);
        let text: Vec<String> = rows.iter().map(|r| label(&t, r)).collect();
        let at = text
            .iter()
            .position(|l| l.ends_with("see FORWARD › DOCKER-ISOLATION-STAGE-1 › rule 2"))
            .expect("reference to the jump that moved");
        assert_eq!(
            text[at - 1],
            "│  ├─ DOCKER-ISOLATION-STAGE-2 docker_gwbridge !docker_gwbridge"
        );
        assert_eq!(
            text[at + 1],
            "│  ├─ DOCKER-ISOLATION-STAGE-2 docker0 !docker0"
        );
        assert_eq!(text[at + 2], "│  │  ├─ DROP docker_gwbridge");
    }

    /// `n` chains C0..C(n-1), each jumping `fan` times to the next.
    fn ladder(n: usize, fan: usize) -> FirewallTable {
        let mut s = String::from(
            "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target prot opt in out source destination\n    0     0 C0     0    --  *  *   0.0.0.0/0 0.0.0.0/0\n",
        );
        for i in 0..n {
            s.push_str(&format!(
                "\nChain C{i} ({} references)\n pkts bytes target prot opt in out source destination\n",
                if i == 0 { 1 } else { fan }
            ));
            for k in 0..fan {
                if i + 1 < n {
                    s.push_str(&format!(
                        "    0     0 C{}     0    --  *  *   0.0.0.0/0 0.0.0.0/0 tcp dpt:{k}\n",
                        i + 1
                    ));
                }
            }
            s.push_str("    0     0 RETURN 0    --  *  *   0.0.0.0/0 0.0.0.0/0\n");
        }
        parse_table("filter", &s, None).expect("ladder")
    }

    #[test]
    fn jumps_that_fan_out_stay_linear_and_paths_are_cut_in_the_middle() {
        let t = ladder(40, 2);
        let roots = super::super::roots(&t, &[]);
        let (rows, cut) = build(&t, &roots, &|_, _| false, 1_000_000);
        assert!(!cut);
        // a row per rule, per root and per chain's end (but the 40 that end in an
        // unconditional RETURN), and one reference per second jump
        assert_eq!(
            rows.len(),
            t.rule_count() + roots.len() + t.chains.len() - 40 + 39
        );
        let notes: Vec<&str> = rows.iter().filter_map(|r| r.note.as_deref()).collect();
        for want in [
            "C1 → see INPUT › C0 › rule 1",
            "C3 → see INPUT › C0 › C1 › C2 › rule 1",
            "C4 → see INPUT › … › C1 › C2 › C3 › rule 1",
            "C39 → see INPUT › … › C36 › C37 › C38 › rule 1",
        ] {
            assert!(notes.contains(&want), "{want} in {notes:#?}");
        }
        // deep rows draw their depth, not forty levels
        let deepest = rows.iter().max_by_key(|r| r.depth).expect("rows");
        assert_eq!(deepest.depth, 41);
        assert_eq!(deepest.prefix(), "…41   │  │  │  └─ ");
        assert_eq!(deepest.prefix().chars().count(), deepest.prefix_width());
    }

    #[test]
    fn cycles_and_chains_that_are_roots_themselves() {
        let t = ladder(3, 1);
        let c0 = t.chain_index("C0").expect("C0");
        let c2 = t.chain_index("C2").expect("C2");
        let input = t.chain_index("INPUT").expect("INPUT");
        // C0 and C2 are roots of their own: jumps to them point there; a root given
        // twice is shown once
        let (rows, _) = build(&t, &[input, c2, c0, input], &|_, _| false, 100);
        let text: Vec<String> = rows.iter().map(|r| label(&t, r)).collect();
        assert_eq!(
            text,
            [
                "INPUT",
                "├─ C0",
                "│  └─ C0 → see C0",
                "└─ policy ACCEPT",
                // no row for the end of a chain ending in an unconditional RETURN
                "C2",
                "└─ RETURN",
                "C0",
                "├─ C1 tcp dpt:0",
                "│  ├─ C2 tcp dpt:0",
                "│  │  └─ C2 → see C2",
                "│  └─ RETURN",
                "└─ RETURN",
            ]
        );
        // a jump back up the path is a cycle, as in the live view
        let t = parse_table(
            "filter",
            "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
 pkts bytes target prot opt in out source destination
    0     0 A      0    --  *  *   0.0.0.0/0 0.0.0.0/0

Chain A (2 references)
 pkts bytes target prot opt in out source destination
    0     0 B      0    --  *  *   0.0.0.0/0 0.0.0.0/0

Chain B (1 references)
 pkts bytes target prot opt in out source destination
    0     0 A      0    --  *  *   0.0.0.0/0 0.0.0.0/0
",
            None,
        )
        .expect("parse");
        let roots = super::super::roots(&t, &[]);
        let (rows, _) = build(&t, &roots, &|_, _| false, 100);
        let folds: Vec<Fold> = rows.iter().map(|r| r.fold).collect();
        assert_eq!(
            folds,
            [
                Fold::Expanded,
                Fold::Expanded,
                Fold::Expanded,
                Fold::Cycle,
                Fold::Leaf,
                Fold::Leaf,
                Fold::Leaf
            ]
        );
    }

    #[test]
    fn a_shared_chain_is_expanded_under_the_caller_that_carried_most() {
        // ufw-skip-to-policy-input has 7 callers; the tcp 445 one (4000 packets) is 4th
        let path = format!(
            "{}/tests/fixtures/iptables/ufw.nft.filter-vnxL.txt",
            env!("CARGO_MANIFEST_DIR")
        );
        let t = parse_table(
            "filter",
            &std::fs::read_to_string(path).expect("fixture"),
            None,
        )
        .expect("parse");
        let roots = crate::tree::roots(&t, &[]);
        let weight = |c: usize, r: usize| (0, t.chains[c].counter(r).packets);
        let (rows, _) = build_by(&t, &roots, &weight, 10_000);
        let skip = t.chain_index("ufw-skip-to-policy-input").expect("chain");
        let after = t.chain_index("ufw-after-input").expect("chain");
        let under = rows
            .iter()
            .position(|r| matches!(r.kind, RowKind::Rule { chain, .. } if chain == skip))
            .map(|i| rows[rows[i].parent.expect("parent") as usize].kind);
        assert_eq!(
            under,
            Some(RowKind::Rule {
                chain: after,
                rule: 3
            })
        );
        // in the window first: a caller that moved wins over a heavier one that did not
        let weight = |c: usize, r: usize| {
            (
                u64::from(r == 1 && c == after),
                t.chains[c].counter(r).packets,
            )
        };
        let (rows, _) = build_by(&t, &roots, &weight, 10_000);
        let under = rows
            .iter()
            .position(|r| matches!(r.kind, RowKind::Rule { chain, .. } if chain == skip))
            .map(|i| rows[rows[i].parent.expect("parent") as usize].kind);
        assert_eq!(
            under,
            Some(RowKind::Rule {
                chain: after,
                rule: 1
            })
        );
    }
}
