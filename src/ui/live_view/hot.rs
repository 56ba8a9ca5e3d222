//! The hot view (`o`): every rule that moved in the last [`super::HISTORY`] polls, fastest now
//! first, then the most recently moved, each once, on a path whose jumps moved too. The
//! paths come from the tree that shows each chain once, expanded under jumps that moved
//! ([`tree::once`]): one pass over the rules however the chains fan out.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::{Action, LiveView, MAX_ROWS, Screen};
use crate::model::{FirewallTable, hash_str, mix};
use crate::tree::{self, RowKind, TreeRow};

/// One row of the hot view: a rule (or a chain's end) and how fast it moves.
#[derive(Debug, Clone)]
pub struct HotRow {
    pub chain: usize,
    /// The rule; None for the chain's end (its policy, or what fell through it).
    pub rule: Option<usize>,
    /// Packets per second in the last poll.
    pub pps: f64,
    /// The highest rate of its recent history (at least `pps`).
    pub peak: f64,
    /// How long ago it last moved; None: it moved in the last poll.
    pub idle_for: Option<Duration>,
    /// Its identity across polls (chain name and rule text).
    pub key: u64,
    /// Chain names from the root to the rule's chain; the middle of a long path is `…`.
    pub path: Vec<String>,
    /// The tree it was found in, and its row there (to show it in the live tree).
    pub tree: Arc<Vec<TreeRow>>,
    pub at: usize,
}

/// The hot view's state: its selection, and its rows for the tree's current rows.
#[derive(Debug, Default)]
pub(super) struct HotState {
    pub(super) selected: usize,
    /// Built on demand.
    pub(super) cache: Option<Arc<Vec<HotRow>>>,
    /// The rule selected before the rows were rebuilt.
    pub(super) pick: Option<u64>,
}

/// Chains of a hot row's path kept next to the rule's own (after the root).
const NEAR_CHAINS: usize = 6;

impl LiveView {
    /// The row selected in the hot view (past its end: the last).
    pub fn hot_selected(&self) -> usize {
        self.hot.selected
    }

    /// Keys while the hot view is shown.
    pub(super) fn apply_hot(&mut self, action: Action) {
        match action {
            Action::Up => self.hot.selected = self.hot.selected.saturating_sub(1),
            Action::Down => self.hot.selected += 1,
            Action::Top => self.hot.selected = 0,
            Action::Bottom => self.hot.selected = usize::MAX / 2,
            Action::PageUp => {
                self.hot.selected = self.hot.selected.saturating_sub(self.frame.viewport);
            }
            Action::PageDown => self.hot.selected += self.frame.viewport,
            Action::ScrollUp(n) => self.hot.selected = self.hot.selected.saturating_sub(n),
            Action::ScrollDown(n) => self.hot.selected += n,
            Action::Drill | Action::Expand => {
                // jump to the rule in the tree
                let rows = self.hot_rows();
                if let Some(h) = rows.get(self.hot.selected.min(rows.len().saturating_sub(1))) {
                    let path = Self::id_path(&h.tree, h.at);
                    let open = self.ancestors_to_open(&h.tree, h.at);
                    self.screen = Screen::Tree;
                    self.reveal(&path, &open);
                }
            }
            Action::ToggleHot | Action::Back => self.screen = Screen::Tree,
            _ => self.apply_common(action),
        }
        let n = self.hot_rows().len();
        self.hot.selected = self.hot.selected.min(n.saturating_sub(1));
    }

    /// The hot view's rows as the last layout built them (built here if it did not).
    pub fn hot_shown(&self) -> Arc<Vec<HotRow>> {
        match &self.hot.cache {
            Some(rows) => rows.clone(),
            None => Arc::new(self.build_hot_rows()),
        }
    }

    /// The hot view's rows. Built once per poll (or change of view), not per frame.
    pub fn hot_rows(&mut self) -> Arc<Vec<HotRow>> {
        if let Some(rows) = &self.hot.cache {
            return rows.clone();
        }
        let rows = Arc::new(self.build_hot_rows());
        if let Some(k) = self.hot.pick.take()
            && let Some(i) = rows.iter().position(|h| h.key == k)
        {
            self.hot.selected = i;
        }
        self.hot.cache = Some(rows.clone());
        rows
    }

    fn build_hot_rows(&self) -> Vec<HotRow> {
        let v = self.table_data();
        let (Some(snap), Some(t)) = (v.snap.as_ref(), v.table()) else {
            return Vec::new();
        };
        // every rule that moved lately has a history
        if v.history.is_empty() {
            return Vec::new();
        }
        let view = v.shown_deltas();
        let secs = view.rate_window.as_secs_f64();
        let now = |c: usize, r: usize| {
            secs > 0.0
                && view
                    .rate
                    .and_then(|d| d.rule(c, r))
                    .is_some_and(|d| d.packets > 0)
        };
        let lately = |c: usize, r: usize| now(c, r) || v.moved_recently(t, c, r);
        // a chain's end: its policy, or what fell through it
        let end_now = |c: usize| {
            secs > 0.0
                && view
                    .rate
                    .and_then(|d| crate::flow::as_delta(crate::flow::fell_through_window(t, d, c)))
                    .is_some_and(|d| d.packets > 0)
        };
        let end_lately = |c: usize| end_now(c) || v.verdict_moved_recently(t, c);
        let roots = self.roots(t);
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        // a rule of a shared chain is listed under a path that moves now if it has one
        type Pass<'a> = (&'a dyn Fn(usize, usize) -> bool, &'a dyn Fn(usize) -> bool);
        let passes: [Pass; 2] = [(&now, &end_now), (&lately, &end_lately)];
        for (moved, end_moved) in passes {
            let rows = Arc::new(tree::once::build(t, &roots, moved, MAX_ROWS).0);
            let mut root_of = vec![0; rows.len()];
            for (k, r) in rows.iter().enumerate() {
                root_of[k] = r.parent.map_or(k, |p| root_of[p as usize]);
            }
            let on_path = tree::moved_through(
                &rows,
                |r| match r.kind {
                    RowKind::Rule { chain, rule } => moved(chain, rule),
                    RowKind::Verdict { chain } => end_moved(chain),
                    _ => false,
                },
                |r| crate::cells::uncounted(t, r),
            );
            for (i, r) in rows.iter().enumerate() {
                let (chain, rule) = match r.kind {
                    RowKind::Rule { chain, rule } => (chain, Some(rule)),
                    RowKind::Verdict { chain } => (chain, None),
                    _ => continue,
                };
                if !on_path[i] || !seen.insert((chain, rule)) {
                    continue;
                }
                let pps = view.pps(t, r).unwrap_or(0.0);
                let history = match rule {
                    Some(rule) => v.history_of(t, chain, rule),
                    None => v.verdict_history(t, chain),
                };
                let peak = history.map_or(0.0, |h| f64::from(h.peak(v.polls))).max(pps);
                let idle_for = match history {
                    Some(h) if pps == 0.0 => Some(snap.at.saturating_sub(h.moved_time)),
                    _ => None,
                };
                out.push(HotRow {
                    chain,
                    rule,
                    pps,
                    peak,
                    idle_for,
                    key: match rule {
                        Some(rule) => mix(
                            hash_str(&t.chains[chain].name),
                            t.chains[chain].rules[rule].key,
                        ),
                        None => crate::ui::table_state::verdict_key(t, chain),
                    },
                    path: chain_path(t, &rows, &root_of, i),
                    tree: rows.clone(),
                    at: i,
                });
            }
        }
        out.sort_by(|a, b| {
            b.pps
                .total_cmp(&a.pps)
                .then(a.idle_for.cmp(&b.idle_for))
                .then(b.peak.total_cmp(&a.peak))
        });
        out
    }
}

/// The chain names from the root to row `i`'s chain: the root, `…` for what a deep path
/// leaves out, then the chains nearest the rule (a few steps up however deep it is).
fn chain_path(t: &FirewallTable, rows: &[TreeRow], root_of: &[usize], i: usize) -> Vec<String> {
    let name = |k: usize| t.chains[rows[k].chain()].name.to_string();
    // the rule's chain, then the chains of the jumps above it, up to the root's rules
    let mut near: Vec<String> = Vec::new();
    let mut j = Some(i);
    while let Some(k) = j {
        if rows[k].parent.is_none() || near.len() > NEAR_CHAINS {
            break;
        }
        near.push(name(k));
        j = rows[k].parent.map(|p| p as usize);
    }
    let root = name(root_of[i]);
    let mut path = vec![];
    if near.last() != Some(&root) {
        path.push(root);
        if near.len() > NEAR_CHAINS {
            near.truncate(NEAR_CHAINS);
            path.push("…".into());
        }
    }
    path.extend(near.into_iter().rev());
    path
}
