//! What the live view knows of one table: its last good snapshot, the deltas, the
//! baseline, the rate history, and where the user is in its tree (expansion, drill,
//! selection).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use super::baseline::Baseline;
use super::column_plan::ColumnStats;
use super::history::{HEAT_POLLS, HISTORY, History};
use crate::cells::ShownDeltas;
use crate::diff::{Delta, TableDelta, diff_table};
use crate::model::{FirewallTable, IdMap, KeyedBuild, TableSnapshot, hash_str, mix};
use crate::tree::{self, ExpandQuery, NodeId, RowKind, TreeRow};

/// Everything known about one iptables table.
#[derive(Debug, Clone, Default)]
pub struct TableData {
    pub snap: Option<TableSnapshot>,
    /// Deltas between the last two good polls.
    pub deltas: Option<TableDelta>,
    pub window: Duration,
    /// When the window of `deltas` started (the previous poll).
    pub window_start: Option<SystemTime>,
    pub baseline: Option<Baseline>,
    /// Baseline sums laid out like `snap` (kept in step with it).
    pub baseline_deltas: Option<TableDelta>,
    pub history: IdMap<History>,
    /// The keys two rows of the table share ([`contested_keys`]): their baseline sums and
    /// histories are unknown rather than each other's. Kept while the rules stay the same.
    pub(super) contested: IdMap<()>,
    /// Widths of the text columns over the table's rules.
    pub col_stats: ColumnStats,
    /// The tree's default roots (built-ins and unreached chains), kept while the rules
    /// stay the same.
    pub(super) roots: Vec<usize>,
    /// Good polls so far.
    pub polls: u64,
    /// The last poll failed: why. The last good snapshot stays on screen.
    pub error: Option<crate::source::PollError>,
    /// The table's counters are read less often than polled (a big legacy table): how
    /// often, as the last poll said.
    pub spared: Option<crate::model::Spared>,
    /// The last poll read no counters of it ([`crate::model::Spared::held`]): when it
    /// was and how long it took. `snap`, the deltas and rates are the last read's.
    pub held: Option<(SystemTime, Duration)>,
    /// Expansion differing from the default, per node.
    pub(super) toggled: HashSet<NodeId, KeyedBuild>,
    pub(super) mode: ExpandMode,
    pub(super) drill: Vec<Drill>,
    /// Ids from the root to the selected row.
    pub(super) selected: Vec<NodeId>,
    pub(super) offset: usize,
    /// The good polls of the last export window and the one before it
    /// ([`super::live_view::window`]): what the export key measures its deltas over.
    pub(super) recent: std::collections::VecDeque<std::sync::Arc<crate::model::Snapshot>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum ExpandMode {
    /// Roots open; jumps open down to a few levels into small chains.
    #[default]
    Auto,
    All,
    None,
}

#[derive(Debug, Clone)]
pub(super) struct Drill {
    pub(super) chain: String,
    /// Chains from the original root down to `chain`, for the breadcrumb.
    pub(super) crumbs: Vec<String>,
    /// Selection to return to.
    pub(super) back_to: Vec<NodeId>,
    pub(super) back_offset: usize,
}

/// Jumps open by default down to this depth...
const AUTO_DEPTH: u16 = 3;
/// ...into chains of at most this many rules.
const AUTO_RULES: usize = 64;

impl TableData {
    pub fn table(&self) -> Option<&FirewallTable> {
        self.snap.as_ref().map(TableSnapshot::table)
    }

    pub(super) fn is_expanded(&self, q: ExpandQuery) -> bool {
        let default = match self.mode {
            ExpandMode::All => true,
            ExpandMode::None => false,
            // a jump into an empty chain opens onto its end only when asked
            ExpandMode::Auto => {
                q.depth == 0 || (q.depth <= AUTO_DEPTH && (1..=AUTO_RULES).contains(&q.rules))
            }
        };
        default != self.toggled.contains(&q.id)
    }

    pub(super) fn set_expanded(&mut self, q: ExpandQuery, on: bool) {
        if self.is_expanded(q) != on && !self.toggled.remove(&q.id) {
            self.toggled.insert(q.id);
        }
    }

    /// Takes a new good poll of this table: false for a poll that read none of its
    /// counters ([`crate::model::Spared::held`]), which changes nothing but `held`.
    pub fn update(&mut self, snap: TableSnapshot, discontinuity: bool) -> bool {
        self.error = None;
        self.spared = snap.table().spared;
        if snap.table().spared.is_some_and(|s| s.held) && self.snap.is_some() && !discontinuity {
            // nothing read: the last read's deltas and rates stand, measured between
            // the two reads
            self.held = Some((snap.taken_at, snap.took));
            return false;
        }
        self.held = None;
        self.polls += 1;
        self.window_start = self.snap.as_ref().map(|s| s.taken_at);
        if discontinuity {
            // a replay that starts over: what moved in the last round is not recent
            self.history.clear();
        }
        let cur = snap.table();
        if !(cur.same_rules_as_prev && self.snap.is_some()) {
            self.contested = contested_keys(cur);
        }
        let (deltas, window) = match &self.snap {
            Some(prev) if !discontinuity => (
                Some(diff_table(prev.table(), cur)),
                snap.at.saturating_sub(prev.at),
            ),
            _ => (None, Duration::ZERO),
        };
        // The baseline's sums laid out like the table: while the rules stay the same, the
        // last layout plus this poll's movement; else laid out again from the sums.
        let same_rules = self.snap.is_some() && cur.same_rules_as_prev;
        let mut baseline_patched = false;
        if let Some(d) = &deltas {
            self.record_history(cur, d, window, snap.at);
            let prev = self.snap.as_ref().map(TableSnapshot::table);
            if let Some(b) = &mut self.baseline {
                b.add(prev, cur, d, &self.contested);
                if same_rules
                    && let Some(sums) = &mut self.baseline_deltas
                    && sums.same_shape(d)
                {
                    Baseline::patch(sums, d);
                    baseline_patched = true;
                }
            }
        }
        self.deltas = deltas;
        self.window = window;
        if let Some(p) = self.table()
            && cur.same_rules_as_prev
        {
            // the jumps are the same: so is the index of who jumps where
            cur.share_callers(p);
        }
        if !(cur.same_rules_as_prev && self.snap.is_some()) {
            self.col_stats = ColumnStats::of(cur);
            self.roots = tree::roots(cur, &[]);
        }
        self.snap = Some(snap);
        if !baseline_patched {
            self.refresh_baseline_view();
        }
        true
    }

    /// When the table was last looked at and how long that took: the last poll, read
    /// or only checked.
    pub fn polled(&self) -> Option<(SystemTime, Duration)> {
        self.held
            .or_else(|| self.snap.as_ref().map(|s| (s.taken_at, s.took)))
    }

    pub(super) fn record_history(
        &mut self,
        cur: &FirewallTable,
        d: &TableDelta,
        window: Duration,
        at: Duration,
    ) {
        let secs = window.as_secs_f64();
        let poll = self.polls;
        // a key two rows share keeps no history (neither row's movement is its own)
        let (history, contested) = (&mut self.history, &self.contested);
        let mut record = |key: u64, delta: Delta| {
            if contested.contains_key(&key) {
                return;
            }
            let rate = if secs > 0.0 {
                delta.packets as f64 / secs
            } else {
                0.0
            };
            history.entry(key).or_default().moved(poll, at, rate as f32);
        };
        for (ci, chain) in cur.chains.iter().enumerate() {
            if !d.known(ci) {
                continue;
            }
            // Most rules of a big ruleset sit idle: they cost a glance at their delta (the
            // chain's name is hashed once one of them moved)
            let mut ch = None;
            for (ri, delta) in d.rules_of(ci).iter().enumerate() {
                let Some(delta) = delta.filter(Delta::moved) else {
                    continue;
                };
                let Some(rule) = chain.rules.get(ri) else {
                    continue;
                };
                let ch = *ch.get_or_insert_with(|| hash_str(&chain.name));
                record(mix(ch, rule.key), delta);
            }
            // the chain's end: its policy, or what fell through it
            if let Some(delta) = crate::flow::as_delta(crate::flow::fell_through_window(cur, d, ci))
                .filter(Delta::moved)
            {
                record(verdict_key(cur, ci), delta);
            }
        }
        // Forget rules idle for a whole history window, and rules that are gone.
        if poll.is_multiple_of(16) {
            self.history.retain(|_, h| {
                h.moved_at
                    .is_some_and(|m| poll.saturating_sub(m) < HISTORY as u64)
            });
        }
    }

    pub(super) fn refresh_baseline_view(&mut self) {
        self.baseline_deltas = match (&self.baseline, self.table()) {
            (Some(b), Some(t)) => Some(b.laid_out(t)),
            _ => None,
        };
    }

    /// The deltas the Δ columns show: since the baseline, or over the last poll.
    pub fn shown_deltas(&self) -> ShownDeltas<'_> {
        ShownDeltas {
            shown: if self.baseline.is_some() {
                self.baseline_deltas.as_ref()
            } else {
                self.deltas.as_ref()
            },
            rate: self.deltas.as_ref(),
            rate_window: self.window,
        }
    }

    /// How many polls ago a row last moved (0: in the last poll).
    pub fn heat(&self, table: &FirewallTable, row: &TreeRow) -> Option<u64> {
        let ch = hash_str(&table.chains[row.chain()].name);
        let key = match row.kind {
            RowKind::Chain { .. } => mix(ch, 0),
            RowKind::Rule { chain, rule } => mix(ch, table.chains[chain].rules[rule].key),
            RowKind::Verdict { chain } => verdict_key(table, chain),
            RowKind::Ref { .. } => return None,
        };
        let moved = self.history_at(key)?.moved_at?;
        let age = self.polls.saturating_sub(moved);
        (age < HEAT_POLLS).then_some(age)
    }

    /// The rule moved within the last [`HISTORY`] polls.
    pub(super) fn moved_recently(&self, table: &FirewallTable, chain: usize, rule: usize) -> bool {
        self.history_of(table, chain, rule)
            .and_then(|h| h.moved_at)
            .is_some_and(|m| self.polls.saturating_sub(m) < HISTORY as u64)
    }

    pub fn history_of(&self, table: &FirewallTable, chain: usize, rule: usize) -> Option<&History> {
        let ch = hash_str(&table.chains[chain].name);
        self.history_at(mix(ch, table.chains[chain].rules[rule].key))
    }

    /// The history of chain `chain`'s end (its policy, or what fell through it).
    pub fn verdict_history(&self, table: &FirewallTable, chain: usize) -> Option<&History> {
        self.history_at(verdict_key(table, chain))
    }

    /// The history under `key`, unless two rows share the key ([`contested_keys`]).
    fn history_at(&self, key: u64) -> Option<&History> {
        self.history
            .get(&key)
            .filter(|_| !self.contested.contains_key(&key))
    }

    /// The end of chain `chain` moved within the last [`HISTORY`] polls.
    pub(super) fn verdict_moved_recently(&self, table: &FirewallTable, chain: usize) -> bool {
        self.verdict_history(table, chain)
            .and_then(|h| h.moved_at)
            .is_some_and(|m| self.polls.saturating_sub(m) < HISTORY as u64)
    }
}

/// The keys that two rows of `t` share. A row's key (a chain's, its end's, a rule's) is
/// made of 64-bit hashes of texts a rule's comment can shape, so two rows may come to
/// share one; the baseline's sums and the rate histories are kept by key, and such rows
/// get none rather than the sum of both.
pub fn contested_keys(t: &FirewallTable) -> IdMap<()> {
    let mut seen: IdMap<()> =
        IdMap::with_capacity_and_hasher(t.rule_count() + 2 * t.chains.len(), KeyedBuild);
    let mut shared = IdMap::default();
    for c in &t.chains {
        let ch = hash_str(&c.name);
        let rules = c.rules.iter().map(|r| mix(ch, r.key));
        // a built-in chain's row is its end's (the policy)
        let end = (!c.is_builtin()).then(|| end_key(ch, false));
        for k in std::iter::once(mix(ch, 0)).chain(end).chain(rules) {
            if seen.insert(k, ()).is_some() {
                shared.insert(k, ());
            }
        }
    }
    shared
}

/// The history key of chain `chain`'s end: the chain's own (its policy) for a built-in
/// chain, else its fell-through row's.
pub fn verdict_key(table: &FirewallTable, chain: usize) -> u64 {
    let c = &table.chains[chain];
    end_key(hash_str(&c.name), c.is_builtin())
}

/// [`verdict_key`] of the chain whose name hashes to `ch`.
fn end_key(ch: u64, builtin: bool) -> u64 {
    if builtin {
        mix(ch, 0)
    } else {
        mix(ch, tree::VERDICT_KEY)
    }
}
