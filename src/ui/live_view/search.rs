//! Search in the live view (`/`, `n`, `N`): chain names and rule text, case-insensitive.
//! Matches are looked for in the tree that shows each chain once ([`tree::once`]), in
//! its order: one pass over the rules however the chains fan out. A match is shown by
//! opening all its ancestors at once along that tree's path, then building the visible
//! rows once: a key costs a few passes over the table, never the fully expanded tree.

use std::sync::Arc;

use super::{LiveView, MAX_ROWS};
use crate::model::{FirewallTable, TableSnapshot};
use crate::tree::{self, ExpandQuery, NodeId, RowKind, TreeRow};

/// Incremental search state.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub query: String,
    /// Selection before the search began, restored by Esc.
    pub(super) before: Vec<NodeId>,
    pub(super) before_offset: usize,
    /// Where the last search landed: the match's place among all matches (from 1) and
    /// how many there are; `Some((0, 0))`: no match.
    pub found: Option<(usize, usize)>,
}

/// The tree search walks, kept while the table's rules and the roots stay the same
/// (typing a query and `n` then cost only the walk, poll after poll).
pub(super) struct Cache {
    /// The tab (index into `LiveView::tabs`).
    table: usize,
    roots: Vec<usize>,
    rows: Arc<Vec<TreeRow>>,
}

/// `hay` contains `needle`, ignoring case (`needle` is lower case).
fn contains_folded(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let Some(&first) = n.first() else {
        return true;
    };
    if h.len() < n.len() && hay.is_ascii() {
        return false;
    }
    if !(hay.is_ascii() && needle.is_ascii()) {
        return hay.to_lowercase().contains(needle);
    }
    // candidates where the first byte matches in either case, then the rest
    let (lo, up) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    memchr::memchr2_iter(lo, up, h)
        .any(|i| h.len() - i >= n.len() && h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Does a row match the query (lower case)?
fn matches(t: &FirewallTable, row: &TreeRow, q: &str) -> bool {
    let hit = |s: &str| contains_folded(s, q);
    match row.kind {
        RowKind::Chain { chain } => hit(&t.chains[chain].name),
        RowKind::Rule { chain, rule } => {
            let s = &t.chains[chain].rules[rule].spec;
            hit(&s.target)
                || hit(&s.extra)
                || hit(&s.in_iface)
                || hit(&s.out_iface)
                || hit(&s.source)
                || hit(&s.destination)
        }
        RowKind::Verdict { .. } => hit(&crate::cells::label(t, row)),
        RowKind::Ref { .. } => false,
    }
}

impl LiveView {
    /// The search: its query and where it landed.
    pub fn search(&self) -> &Search {
        &self.search
    }

    /// Keys while the search prompt is open: typing refines the match, Enter keeps it,
    /// Esc goes back to where the search began.
    pub(super) fn apply_search(&mut self, action: super::Action) {
        use super::Action;
        match action {
            Action::SearchInput(c) => {
                self.search.query.push(c);
                self.search_from(self.selected_index(), true, true);
            }
            Action::SearchBackspace => {
                self.search.query.pop();
                let s = self.search.before.clone();
                self.table_data_mut().selected = s;
                self.restore_selection();
                self.search.found = None;
                if !self.search.query.is_empty() {
                    self.search_from(self.selected_index(), true, true);
                }
            }
            Action::SearchConfirm => self.overlay = None,
            Action::SearchCancel | Action::Back => {
                self.overlay = None;
                self.search.query.clear();
                let (s, o) = (self.search.before.clone(), self.search.before_offset);
                self.table_data_mut().selected = s;
                self.table_data_mut().offset = o;
                self.restore_selection();
            }
            _ => {}
        }
    }

    /// Moves to the next (or previous) match of the query, opening what hides it.
    /// `inclusive`: the current row may match (typing refines a match).
    pub(super) fn search_from(&mut self, sel: usize, forward: bool, inclusive: bool) {
        let q = self.search.query.to_lowercase();
        if q.is_empty() {
            return;
        }
        let Some(snap) = self.table_data().snap.clone() else {
            return;
        };
        let t = snap.table();
        let roots = self.roots(t);
        let rows = match &self.search_cache {
            Some(c) if c.table == self.current && c.roots == roots => c.rows.clone(),
            _ => {
                let rows = Arc::new(tree::once::build(t, &roots, &|_, _| false, MAX_ROWS).0);
                self.search_cache = Some(Cache {
                    table: self.current,
                    roots,
                    rows: rows.clone(),
                });
                rows
            }
        };
        if rows.is_empty() {
            return;
        }
        // The selection in that tree: its own node, or (under another jump to a shared
        // chain) the same rule.
        let cur = self.tree.rows.get(sel);
        let start = cur
            .and_then(|c| {
                rows.iter()
                    .position(|r| r.id == c.id)
                    .or_else(|| rows.iter().position(|r| r.kind == c.kind))
            })
            .unwrap_or(0);
        let n = rows.len();
        let found = (0..n)
            .map(|k| {
                let step = if inclusive { k } else { k + 1 };
                if forward {
                    (start + step) % n
                } else {
                    (start + n * 2 - step % n) % n
                }
            })
            .find(|&i| matches(t, &rows[i], &q));
        // `3/7`: its place among every match of the tree
        self.search.found = Some(match found {
            Some(i) => {
                let hits: Vec<usize> = (0..n).filter(|&k| matches(t, &rows[k], &q)).collect();
                let at = hits.iter().position(|&k| k == i).map_or(0, |p| p + 1);
                (at, hits.len())
            }
            None => (0, 0),
        });
        match found {
            Some(i) => {
                let path = Self::id_path(&rows, i);
                let open = self.ancestors_to_open(&rows, i);
                self.reveal(&path, &open);
            }
            None => self.message = Some(format!("no match for “{}”", self.search.query)),
        }
    }

    /// A poll of table `table` arrived: the tree search walks is kept only if the poll's
    /// rules are those of the last one (it depends on nothing else).
    pub(super) fn forget_search_tree(&mut self, table: usize, snap: &TableSnapshot) {
        let same = snap.table().same_rules_as_prev;
        if !same && self.search_cache.as_ref().is_some_and(|c| c.table == table) {
            self.search_cache = None;
        }
    }

    /// What to open to show row `i` of `rows`: each of its ancestors.
    pub(super) fn ancestors_to_open(&self, rows: &[TreeRow], i: usize) -> Vec<ExpandQuery> {
        let mut open = Vec::new();
        let mut j = rows[i].parent;
        while let Some(k) = j {
            let r = &rows[k as usize];
            open.push(self.query_of(r));
            j = r.parent;
        }
        open.reverse();
        open
    }

    /// Opens the nodes `open` (the ancestors of `path`'s last node) and selects it.
    pub(super) fn reveal(&mut self, path: &[NodeId], open: &[ExpandQuery]) {
        // already in view: only the selection moves
        let v = self.table_data();
        if !self.moved_only
            && open.iter().all(|q| v.is_expanded(*q))
            && let Some(last) = path.last()
            && let Some(i) = self.tree.rows.iter().position(|r| r.id == *last)
        {
            self.select(i);
            return;
        }
        self.moved_only = false;
        let v = self.table_data_mut();
        for q in open {
            v.set_expanded(*q, true);
        }
        v.selected = path.to_vec();
        self.rebuild();
    }
}

#[cfg(test)]
mod tests {
    use super::contains_folded;

    #[test]
    fn folding() {
        assert!(contains_folded("DOCKER-Ingress", "ingress"));
        assert!(contains_folded("tcp dpt:80", "dpt:80"));
        assert!(!contains_folded("tcp dpt:8", "dpt:80"));
        assert!(contains_folded("/* Ünïcode */", "ünï"));
        assert!(contains_folded("x", ""));
    }
}
