//! The one walk over the jump tree, iterative (however deep chains nest) and bounded in
//! rows, with an expand policy ([`Expand`]) deciding what opens: the live view's policy
//! opens what the user opened ([`crate::tree::build`]); the exports' and search's opens
//! every chain once, under the jump a spanning tree picked, other jumps to it getting one
//! reference row ([`crate::tree::once`]). A jump back into a chain on the path is a
//! cycle, cut and marked, whatever the policy.

use std::sync::Arc;

use super::{ExpandQuery, Fold, NodeId, RowKind, TreeRow, verdict_row, with_level};
use crate::model::{Fell, FirewallTable};

/// What a walk does with a jump that has children.
pub enum Open {
    /// Its chain's rules are not shown (collapsed).
    Closed,
    /// Its chain's rules follow, under it.
    Here,
    /// Its chain is shown elsewhere: one reference row under it says where.
    Elsewhere(String),
    /// Its chain is not shown under it: the jump's own row says what it does (a leaf).
    Inline(String),
}

/// A walk's expand policy.
pub trait Expand {
    /// Each root chain once (a root named twice, or one out of range, is left out).
    fn roots_once(&self) -> bool;
    /// Whether root chain `q` is expanded.
    fn root(&self, q: ExpandQuery) -> bool;
    /// What to do with the jump `q` to chain `target` (not on the path); `shown`: the
    /// walk expanded `target` already.
    fn jump(&self, q: ExpandQuery, target: usize, shown: bool) -> Open;
}

/// One chain being walked.
struct Frame {
    chain: usize,
    next: usize,
    depth: u16,
    parent_row: u32,
    parent_id: NodeId,
    guides: u64,
    /// A rule matches everything and ends the chain: no row for its end.
    no_end: bool,
}

impl Frame {
    fn new(
        table: &FirewallTable,
        chain: usize,
        depth: u16,
        row: u32,
        id: NodeId,
        guides: u64,
    ) -> Frame {
        Frame {
            chain,
            no_end: crate::flow::fell_through_total(table, chain) == Fell::Unreachable,
            next: 0,
            depth,
            parent_row: row,
            parent_id: id,
            guides,
        }
    }
}

/// The rows of the tree from `roots` as `policy` opens it; stops after `max_rows` rows
/// (a chain jumped to from many places repeats under each open jump: this bounds
/// pathological fan-out) and says whether it stopped early.
pub fn walk(
    table: &FirewallTable,
    roots: &[usize],
    policy: &dyn Expand,
    max_rows: usize,
) -> (Vec<TreeRow>, bool) {
    let mut rows: Vec<TreeRow> = Vec::new();
    let mut on_path = vec![false; table.chains.len()];
    let mut shown = vec![false; table.chains.len()];
    let roots: Vec<usize> = if policy.roots_once() {
        roots
            .iter()
            .copied()
            .filter(|&r| r < table.chains.len() && !std::mem::replace(&mut shown[r], true))
            .collect()
    } else {
        roots.to_vec()
    };
    let mut stack: Vec<Frame> = Vec::new();
    for (k, &root) in roots.iter().enumerate() {
        if rows.len() >= max_rows {
            return (rows, true);
        }
        let chain = &table.chains[root];
        let id = NodeId::root(&chain.name);
        let open = policy.root(ExpandQuery {
            id,
            depth: 0,
            rules: chain.rules.len(),
            jump: None,
        });
        let row = rows.len() as u32;
        rows.push(TreeRow {
            kind: RowKind::Chain { chain: root },
            id,
            depth: 0,
            parent: None,
            fold: if open {
                Fold::Expanded
            } else {
                Fold::Collapsed
            },
            jump: None,
            last: k + 1 == roots.len(),
            guides: 0,
            note: None,
        });
        if !open {
            continue;
        }
        on_path[root] = true;
        stack.push(Frame::new(table, root, 1, row, id, 0));
        while let Some(top) = stack.last_mut() {
            let chain = &table.chains[top.chain];
            if rows.len() >= max_rows {
                return (rows, true);
            }
            if top.next >= chain.rules.len() {
                if !top.no_end {
                    rows.push(verdict_row(
                        top.chain,
                        top.parent_id,
                        top.depth,
                        top.parent_row,
                        top.guides,
                    ));
                }
                on_path[top.chain] = false;
                stack.pop();
                continue;
            }
            let (c, ri) = (top.chain, top.next);
            top.next += 1;
            let rule = &chain.rules[ri];
            let id = top.parent_id.child(rule.key);
            // the last row under the chain when no row for its end follows
            let last = top.no_end && top.next == chain.rules.len();
            let jump = table.jump_target(rule);
            let open = match jump {
                Some(t) if on_path[t] => None,
                Some(t) => Some(policy.jump(
                    ExpandQuery {
                        id,
                        depth: top.depth,
                        rules: table.chains[t].rules.len(),
                        jump: Some((c, ri)),
                    },
                    t,
                    shown[t],
                )),
                None => None,
            };
            let fold = match (&open, jump) {
                (_, None) | (Some(Open::Inline(_)), _) => Fold::Leaf,
                (None, Some(_)) => Fold::Cycle,
                (Some(Open::Closed), _) => Fold::Collapsed,
                (Some(Open::Here | Open::Elsewhere(_)), _) => Fold::Expanded,
            };
            let note = match &open {
                Some(Open::Inline(action)) => Some(Arc::from(action.as_str())),
                _ => None,
            };
            let (depth, guides, row) = (top.depth, top.guides, rows.len() as u32);
            rows.push(TreeRow {
                kind: RowKind::Rule { chain: c, rule: ri },
                id,
                depth,
                parent: Some(top.parent_row),
                fold,
                jump,
                last,
                guides,
                note,
            });
            let Some(t) = jump else {
                continue;
            };
            let guides = with_level(guides, depth, !last);
            match open {
                Some(Open::Here) => {
                    shown[t] = true;
                    on_path[t] = true;
                    stack.push(Frame::new(
                        table,
                        t,
                        depth.saturating_add(1),
                        row,
                        id,
                        guides,
                    ));
                }
                Some(Open::Elsewhere(note)) => {
                    if rows.len() >= max_rows {
                        return (rows, true);
                    }
                    rows.push(TreeRow {
                        kind: RowKind::Ref { chain: c, rule: ri },
                        id: id.child(REF_KEY),
                        depth: depth.saturating_add(1),
                        parent: Some(row),
                        fold: Fold::Leaf,
                        jump: Some(t),
                        last: true,
                        guides,
                        note: Some(Arc::from(note)),
                    });
                }
                Some(Open::Closed | Open::Inline(_)) | None => {}
            }
        }
    }
    (rows, false)
}

/// The key under which a reference row hangs below its jump.
const REF_KEY: u64 = 0x7e_f0_7e_f0;
