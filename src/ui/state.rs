//! The live view's state machine: snapshots per table, deltas, history, and what the user
//! has opened, selected, drilled into or searched. Keys become [`Action`]s and
//! [`App::apply`] changes the state; nothing here touches the terminal, so all of it is
//! tested without one.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use super::baseline::Baseline;
use super::render::ColumnStats;
use crate::columns::{DeltaView, Movement, movement};
use crate::diff::{Delta, TableDelta, diff_table};
use crate::model::{IdBuild, IdMap, Snapshot, SourceInfo, TABLES, Table, hash_str, mix};
use crate::tree::{self, ExpandQuery, Fold, NodeId, Row, RowKind};
pub use hot::HotRow;
pub use search::Search;

/// Rows beyond this are not built (a chain jumped to from thousands of rules, all expanded).
pub const MAX_ROWS: usize = 1_000_000;
/// Rate samples kept per rule for the sparkline.
pub const HISTORY: usize = 60;
/// Polls over which a moved row's highlight fades.
pub const HEAT_POLLS: u64 = 3;
/// Intervals offered by `+` and `-`.
pub const INTERVALS_MS: [u64; 9] = [100, 250, 500, 1000, 2000, 3000, 5000, 10_000, 30_000];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    ScrollUp(usize),
    ScrollDown(usize),
    /// `→`/`l`: expand, or go to the first child when already expanded.
    Expand,
    /// `←`/`h`: collapse, or go to the parent.
    Collapse,
    Toggle,
    ExpandAll,
    CollapseAll,
    /// `Enter` on a jump: its chain becomes the root.
    Drill,
    /// `Backspace`/`Esc`: out of a drill (or search, hot view, filter).
    Back,
    NextTable,
    PrevTable,
    Table(usize),
    SearchStart,
    SearchInput(char),
    SearchBackspace,
    SearchConfirm,
    SearchCancel,
    SearchNext,
    SearchPrev,
    ToggleMovedOnly,
    ToggleHot,
    TogglePause,
    IntervalShorter,
    IntervalLonger,
    /// `z`: deltas count from now (a local baseline; iptables is not touched).
    Baseline,
    /// `Z`: back to per-poll deltas.
    ClearBaseline,
    ToggleDetail,
    ToggleHelp,
    /// `.`: next poll of a stepwise replay.
    Step,
    /// `s`: export the current view (see the UI loop).
    Export,
    Quit,
}

/// What the UI loop must tell the poller after an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    SetTable(String),
    SetInterval(Duration),
    Pause(bool),
    Step,
    Export,
}

/// Rate history of one rule that moved. Only polls in which it moved are recorded; the
/// idle polls since then are zeros, filled in when read, so an idle rule costs nothing
/// per poll.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Packets per second up to the poll `moved_at`, oldest first.
    samples: VecDeque<f32>,
    /// Poll number of the last movement.
    pub moved_at: Option<u64>,
    /// Source time ([`Snapshot::at`]) of the last movement.
    pub moved_time: Duration,
}

impl History {
    /// Records a movement at poll `poll` (after the last one).
    fn moved(&mut self, poll: u64, at: Duration, rate: f32) {
        if let Some(m) = self.moved_at {
            let idle = poll.saturating_sub(m + 1).min(HISTORY as u64) as usize;
            self.samples.extend(std::iter::repeat_n(0.0, idle));
        }
        self.samples.push_back(rate);
        let extra = self.samples.len().saturating_sub(HISTORY);
        self.samples.drain(..extra);
        self.moved_at = Some(poll);
        self.moved_time = at;
    }

    /// Packets per second over the last [`HISTORY`] polls up to poll `now`, oldest first.
    pub fn rates(&self, now: u64) -> Vec<f32> {
        let idle = self
            .moved_at
            .map_or(0, |m| now.saturating_sub(m).min(HISTORY as u64) as usize);
        let mut out: Vec<f32> = self.samples.iter().copied().collect();
        out.resize(out.len() + idle, 0.0);
        out.split_off(out.len().saturating_sub(HISTORY))
    }

    /// The highest rate over the same polls.
    pub fn peak(&self, now: u64) -> f32 {
        self.rates(now).into_iter().fold(0.0, f32::max)
    }
}

/// Everything known about one iptables table.
#[derive(Debug, Clone, Default)]
pub struct TableView {
    pub snap: Option<Arc<Snapshot>>,
    /// Deltas between the last two good polls.
    pub deltas: Option<TableDelta>,
    pub window: Duration,
    /// When the window of `deltas` started (the previous poll).
    pub window_start: Option<SystemTime>,
    pub baseline: Option<Baseline>,
    /// Baseline sums laid out like `snap` (kept in step with it).
    pub baseline_deltas: Option<TableDelta>,
    pub history: IdMap<History>,
    /// Widths of the text columns over the table's rules.
    pub col_stats: ColumnStats,
    /// The tree's default roots (built-ins and unreached chains), kept while the rules
    /// stay the same.
    roots: Vec<usize>,
    /// Good polls so far.
    pub polls: u64,
    /// The last poll failed: why. The last good snapshot stays on screen.
    pub error: Option<String>,
    /// Expansion differing from the default, per node.
    toggled: HashSet<NodeId, IdBuild>,
    mode: ExpandMode,
    drill: Vec<Drill>,
    /// Ids from the root to the selected row.
    selected: Vec<NodeId>,
    offset: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ExpandMode {
    /// Roots open; jumps open down to a few levels into small chains.
    #[default]
    Auto,
    All,
    None,
}

#[derive(Debug, Clone)]
struct Drill {
    chain: String,
    /// Chains from the original root down to `chain`, for the breadcrumb.
    crumbs: Vec<String>,
    /// Selection to return to.
    back_to: Vec<NodeId>,
    back_offset: usize,
}

/// Jumps open by default down to this depth...
const AUTO_DEPTH: u16 = 3;
/// ...into chains of at most this many rules.
const AUTO_RULES: usize = 64;

impl TableView {
    pub fn table(&self) -> Option<&Table> {
        self.snap.as_ref().and_then(|s| s.tables.first())
    }

    fn is_expanded(&self, q: ExpandQuery) -> bool {
        let default = match self.mode {
            ExpandMode::All => true,
            ExpandMode::None => false,
            ExpandMode::Auto => q.depth == 0 || (q.depth <= AUTO_DEPTH && q.rules <= AUTO_RULES),
        };
        default != self.toggled.contains(&q.id)
    }

    fn set_expanded(&mut self, q: ExpandQuery, on: bool) {
        if self.is_expanded(q) != on && !self.toggled.remove(&q.id) {
            self.toggled.insert(q.id);
        }
    }

    /// Takes a new good poll of this table.
    pub fn update(&mut self, snap: Arc<Snapshot>, discontinuity: bool) {
        self.error = None;
        self.polls += 1;
        self.window_start = self.snap.as_ref().map(|s| s.taken_at);
        let (deltas, window) = match (&self.snap, snap.tables.first()) {
            (Some(prev), Some(cur)) if !discontinuity => match prev.tables.first() {
                Some(p) => (Some(diff_table(p, cur)), snap.at.saturating_sub(prev.at)),
                None => (None, Duration::ZERO),
            },
            _ => (None, Duration::ZERO),
        };
        // The baseline's sums laid out like the table: while the rules stay the same, the
        // last layout plus this poll's movement; else laid out again from the sums.
        let same_rules =
            self.snap.is_some() && snap.tables.first().is_some_and(|t| t.same_rules_as_prev);
        let mut baseline_patched = false;
        if let (Some(cur), Some(d)) = (snap.tables.first(), &deltas) {
            self.record_history(cur, d, window, snap.at);
            let prev = self.snap.as_ref().and_then(|s| s.tables.first());
            if let Some(b) = &mut self.baseline {
                b.add(prev, cur, d);
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
        if let (Some(t), Some(p)) = (snap.tables.first(), self.table())
            && t.same_rules_as_prev
        {
            // the jumps are the same: so is the index of who jumps where
            t.share_callers(p);
        }
        if let Some(t) = snap.tables.first()
            && !(t.same_rules_as_prev && self.snap.is_some())
        {
            self.col_stats = ColumnStats::of(t);
            self.roots = tree::roots(t, &[]);
        }
        self.snap = Some(snap);
        if !baseline_patched {
            self.refresh_baseline_view();
        }
    }

    fn record_history(&mut self, cur: &Table, d: &TableDelta, window: Duration, at: Duration) {
        let secs = window.as_secs_f64();
        let poll = self.polls;
        for (ci, chain) in cur.chains.iter().enumerate() {
            if !d.known(ci) {
                continue;
            }
            // Most rules of a big ruleset sit idle: they cost a glance at their delta.
            let ch = hash_str(&chain.name);
            for (ri, delta) in d.rules_of(ci).iter().enumerate() {
                let Some(delta) = delta.filter(Delta::moved) else {
                    continue;
                };
                let Some(rule) = chain.rules.get(ri) else {
                    continue;
                };
                let rate = if secs > 0.0 {
                    delta.packets as f64 / secs
                } else {
                    0.0
                };
                self.history
                    .entry(mix(ch, rule.key))
                    .or_default()
                    .moved(poll, at, rate as f32);
            }
            if d.policy(ci).is_some_and(Delta::moved) {
                self.history
                    .entry(mix(ch, 0))
                    .or_default()
                    .moved(poll, at, 0.0);
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

    fn refresh_baseline_view(&mut self) {
        self.baseline_deltas = match (&self.baseline, self.table()) {
            (Some(b), Some(t)) => Some(b.view(t)),
            _ => None,
        };
    }

    /// The deltas the Δ columns show: since the baseline, or over the last poll.
    pub fn delta_view(&self) -> DeltaView<'_> {
        DeltaView {
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
    pub fn heat(&self, table: &Table, row: &Row) -> Option<u64> {
        let ch = hash_str(&table.chains[row.chain()].name);
        let key = match row.kind {
            RowKind::Chain { .. } => mix(ch, 0),
            RowKind::Rule { chain, rule } => mix(ch, table.chains[chain].rules[rule].key),
            RowKind::Ref { .. } => return None,
        };
        let moved = self.history.get(&key)?.moved_at?;
        let age = self.polls.saturating_sub(moved);
        (age < HEAT_POLLS).then_some(age)
    }

    /// The rule moved within the last [`HISTORY`] polls.
    fn moved_recently(&self, table: &Table, chain: usize, rule: usize) -> bool {
        self.history_of(table, chain, rule)
            .and_then(|h| h.moved_at)
            .is_some_and(|m| self.polls.saturating_sub(m) < HISTORY as u64)
    }

    pub fn history_of(&self, table: &Table, chain: usize, rule: usize) -> Option<&History> {
        let ch = hash_str(&table.chains[chain].name);
        self.history
            .get(&mix(ch, table.chains[chain].rules[rule].key))
    }
}

/// The live view.
pub struct App {
    pub source: SourceInfo,
    /// Names from Docker for bridges and container addresses (asked once at start).
    pub names: Option<std::sync::Arc<crate::docker::Names>>,
    pub tables: Vec<TableView>,
    /// Index into [`TABLES`].
    pub current: usize,
    /// Chains given with `-c`: roots instead of the built-ins.
    pub root_chains: Vec<String>,
    pub interval: Duration,
    /// The interval the user chose (the poller may stretch it).
    pub paused: bool,
    pub step_mode: bool,
    pub replay: bool,
    /// Detail pane chosen with `d`; None: shown when the terminal is tall enough.
    pub show_detail: Option<bool>,
    /// Whether the last draw showed the detail pane.
    pub detail_shown: bool,
    pub show_help: bool,
    pub moved_only: bool,
    pub hot: bool,
    pub hot_selected: usize,
    /// The hot view's rows for the current rows of the tree (built on demand).
    hot_cache: Option<Arc<Vec<HotRow>>>,
    /// The rule selected in the hot view before its rows were rebuilt.
    hot_pick: Option<u64>,
    pub search: Search,
    /// A message for the status line (export path, errors of keys).
    pub message: Option<String>,
    /// Rows of the tree as shown (after drill, filter).
    pub rows: Vec<Row>,
    /// Rows cut at [`MAX_ROWS`].
    pub rows_cut: bool,
    /// Width the tree column needs for the current rows.
    pub tree_width: u16,
    /// Index of the selected row in `rows` (its path is kept in the table's view).
    sel: usize,
    /// Per row: every jump above it moved in the last few polls, so its movement came
    /// (at least partly) along this path. Under a jump that did not move, a shared
    /// chain's counters are shown without highlight.
    pub live_path: Vec<bool>,
    /// Height of the table area at the last draw.
    pub viewport: usize,
    pub quit: bool,
    pub commands: Vec<Command>,
    /// Stretched interval in use, when polls are slow.
    pub effective_interval: Option<Duration>,
    /// The replay reached its end.
    pub ended: bool,
    pub last_poll: Option<(SystemTime, Duration)>,
    /// A picture for an export: this caption replaces the key hints, and no row is
    /// highlighted as selected.
    pub caption: Option<String>,
    /// Each chain expanded once, its other jumps pointing there (an export's picture).
    once: bool,
    search_cache: Option<search::Cache>,
}

impl App {
    pub fn new(
        source: SourceInfo,
        table: &str,
        root_chains: Vec<String>,
        interval: Duration,
    ) -> App {
        let current = TABLES.iter().position(|t| *t == table).unwrap_or(0);
        let replay = source.kind != "live";
        App {
            source,
            names: None,
            tables: vec![TableView::default(); TABLES.len()],
            current,
            root_chains,
            interval,
            paused: false,
            step_mode: false,
            replay,
            show_detail: None,
            detail_shown: false,
            show_help: false,
            moved_only: false,
            hot: false,
            hot_selected: 0,
            hot_cache: None,
            hot_pick: None,
            search: Search::default(),
            message: None,
            rows: Vec::new(),
            rows_cut: false,
            tree_width: 24,
            sel: 0,
            live_path: Vec::new(),
            viewport: 20,
            quit: false,
            commands: Vec::new(),
            effective_interval: None,
            ended: false,
            last_poll: None,
            caption: None,
            once: false,
            search_cache: None,
        }
    }

    /// The view of one table as an export picture shows it: every chain open, the given
    /// window's deltas, no detail pane, no selection.
    pub fn for_export(
        source: SourceInfo,
        snap: Arc<Snapshot>,
        deltas: Option<TableDelta>,
        window: Duration,
        roots: Vec<String>,
        moved_only: bool,
        caption: String,
    ) -> App {
        let name = snap
            .tables
            .first()
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let mut app = App::new(source, &name, roots, Duration::from_secs(1));
        let v = app.view_mut();
        if let Some(t) = snap.tables.first() {
            v.col_stats = ColumnStats::of(t);
            v.roots = tree::roots(t, &[]);
        }
        v.snap = Some(snap);
        v.deltas = deltas;
        v.window = window;
        v.mode = ExpandMode::All;
        app.show_detail = Some(false);
        app.moved_only = moved_only;
        app.caption = Some(caption);
        app.once = true;
        app.rebuild();
        app
    }

    pub fn table_name(&self) -> &'static str {
        TABLES[self.current]
    }

    pub fn view(&self) -> &TableView {
        &self.tables[self.current]
    }

    fn view_mut(&mut self) -> &mut TableView {
        &mut self.tables[self.current]
    }

    /// A good poll of `table` arrived.
    pub fn on_snapshot(&mut self, table: &str, snap: Arc<Snapshot>, discontinuity: bool) {
        let Some(i) = TABLES.iter().position(|t| *t == table) else {
            return;
        };
        self.last_poll = Some((snap.taken_at, snap.took));
        self.forget_search_tree(i, &snap);
        self.tables[i].update(snap, discontinuity);
        if i == self.current {
            self.rebuild();
        }
    }

    /// A poll of `table` failed; the last good snapshot stays.
    pub fn on_error(&mut self, table: &str, error: String) {
        if let Some(i) = TABLES.iter().position(|t| *t == table) {
            self.tables[i].error = Some(error);
        }
    }

    /// The roots of the current view: the drilled chain, the `-c` chains, or the built-ins.
    fn roots(&self, t: &Table) -> Vec<usize> {
        if let Some(d) = self.view().drill.last() {
            return t.chain_index(&d.chain).into_iter().collect();
        }
        let wanted: Vec<String> = self
            .root_chains
            .iter()
            .filter(|c| t.chain(c).is_some())
            .cloned()
            .collect();
        if wanted.is_empty() && !self.view().roots.is_empty() {
            return self.view().roots.clone();
        }
        tree::roots(t, &wanted)
    }

    pub fn breadcrumb(&self) -> Option<String> {
        self.view().drill.last().map(|d| d.crumbs.join(" › "))
    }

    /// Rows with every node open (filter, hot view, export).
    fn full_rows(&self, t: &Table) -> Vec<Row> {
        if self.once {
            let shown = self.view().delta_view().shown;
            let moved =
                |c: usize, r: usize| shown.and_then(|d| d.rule(c, r)).is_some_and(Delta::moved);
            return tree::once::build(t, &self.roots(t), &moved, MAX_ROWS).0;
        }
        tree::build(t, &self.roots(t), &|_| true, MAX_ROWS).0
    }

    /// Rebuilds the visible rows and puts the selection back on its node.
    pub fn rebuild(&mut self) {
        // the hot view follows: rebuilt when next shown, its selection kept on its rule
        if let Some(hot) = self.hot_cache.take() {
            self.hot_pick = hot.get(self.hot_selected).map(|h| h.key);
        }
        let Some(snap) = self.view().snap.clone() else {
            self.rows.clear();
            return;
        };
        let Some(t) = snap.tables.first() else {
            return;
        };
        let (rows, cut) = if self.moved_only && !self.once {
            let shown = self.view().delta_view().shown;
            // only jumps that moved can lead to rules that moved on their path
            let moved = |q: ExpandQuery| {
                q.jump
                    .is_none_or(|(c, r)| shown.and_then(|d| d.rule(c, r)).is_some_and(Delta::moved))
            };
            let (full, cut) = tree::build(t, &self.roots(t), &moved, MAX_ROWS);
            let keep = tree::moved_mask(&full, |r| movement(r, shown).moved());
            (tree::keep(&full, &keep), cut)
        } else if self.moved_only {
            let view = self.view().delta_view();
            let full = self.full_rows(t);
            let keep = tree::moved_mask(&full, |r| movement(r, view.shown).moved());
            (tree::keep(&full, &keep), false)
        } else if self.once {
            (self.full_rows(t), false)
        } else {
            let v = self.view();
            tree::build(t, &self.roots(t), &|q| v.is_expanded(q), MAX_ROWS)
        };
        self.tree_width = tree_width(t, &rows);
        let v = self.view();
        let mut live = vec![true; rows.len()];
        for i in 0..rows.len() {
            if let Some(p) = rows[i].parent.map(|p| p as usize)
                && matches!(rows[p].kind, RowKind::Rule { .. })
            {
                let shown = v.delta_view().shown;
                live[i] =
                    live[p] && (v.heat(t, &rows[p]).is_some() || movement(&rows[p], shown).moved());
            }
        }
        self.live_path = live;
        self.rows = rows;
        self.rows_cut = cut;
        self.restore_selection();
    }

    /// Scrolls so that the selection is inside the viewport (after a resize).
    pub fn ensure_visible(&mut self) {
        let sel = self.selected_index();
        let vp = self.viewport.max(1);
        let mut o = self.offset();
        if sel < o {
            o = sel;
        } else if sel >= o + vp {
            o = sel + 1 - vp;
        }
        self.view_mut().offset = o;
    }

    /// Selects the deepest node of the selection's path that is still shown (one pass
    /// over the rows, however deep the path).
    fn restore_selection(&mut self) {
        let path = &self.view().selected;
        let depth_of: std::collections::HashMap<NodeId, usize, IdBuild> =
            path.iter().enumerate().map(|(k, id)| (*id, k)).collect();
        let mut best: Option<(usize, usize)> = None;
        for (i, r) in self.rows.iter().enumerate() {
            if let Some(&k) = depth_of.get(&r.id)
                && best.is_none_or(|(bk, _)| k > bk)
            {
                best = Some((k, i));
                if k + 1 == path.len() {
                    break;
                }
            }
        }
        self.select(best.map_or(0, |(_, i)| i));
    }

    pub fn selected_index(&self) -> usize {
        self.sel.min(self.rows.len().saturating_sub(1))
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.rows.get(self.selected_index())
    }

    /// Ids from the root to row `i`.
    fn id_path(rows: &[Row], i: usize) -> Vec<NodeId> {
        let mut path = Vec::new();
        let mut j = Some(i);
        while let Some(k) = j {
            path.push(rows[k].id);
            j = rows[k].parent.map(|p| p as usize);
        }
        path.reverse();
        path
    }

    /// Selects row `i` (clamped), scrolling it into view.
    pub fn select_row(&mut self, i: usize) {
        self.select(i);
    }

    fn select(&mut self, i: usize) {
        if self.rows.is_empty() {
            return;
        }
        let i = i.min(self.rows.len() - 1);
        let path = Self::id_path(&self.rows, i);
        let vp = self.viewport.max(1);
        self.sel = i;
        let v = self.view_mut();
        v.selected = path;
        if i < v.offset {
            v.offset = i;
        } else if i >= v.offset + vp {
            v.offset = i + 1 - vp;
        }
    }

    /// First row shown at the top of the table area.
    pub fn offset(&self) -> usize {
        let max = self.rows.len().saturating_sub(self.viewport.max(1));
        self.view().offset.min(max)
    }

    fn query_of(&self, row: &Row) -> ExpandQuery {
        let t = self.view().table();
        let rules = match (row.kind, row.jump, t) {
            (RowKind::Chain { chain }, _, Some(t)) => t.chains[chain].rules.len(),
            (_, Some(j), Some(t)) => t.chains[j].rules.len(),
            _ => 0,
        };
        ExpandQuery {
            id: row.id,
            depth: row.depth,
            rules,
            jump: match row.kind {
                RowKind::Rule { chain, rule } => Some((chain, rule)),
                _ => None,
            },
        }
    }

    fn set_fold(&mut self, i: usize, open: bool) {
        let Some(row) = self.rows.get(i) else {
            return;
        };
        if !matches!(row.fold, Fold::Collapsed | Fold::Expanded) {
            return;
        }
        let q = self.query_of(row);
        self.view_mut().set_expanded(q, open);
        self.rebuild();
    }

    pub fn apply(&mut self, action: Action) {
        self.message = None;
        if self.show_help {
            // any key closes the help
            self.show_help = false;
            if action == Action::Quit {
                self.quit = true;
            }
            return;
        }
        if self.search.editing {
            match action {
                Action::SearchInput(c) => {
                    self.search.query.push(c);
                    self.search_from(self.selected_index(), true, true);
                }
                Action::SearchBackspace => {
                    self.search.query.pop();
                    let s = self.search.before.clone();
                    self.view_mut().selected = s;
                    self.restore_selection();
                    if !self.search.query.is_empty() {
                        self.search_from(self.selected_index(), true, true);
                    }
                }
                Action::SearchConfirm => self.search.editing = false,
                Action::SearchCancel | Action::Back => {
                    self.search.editing = false;
                    self.search.query.clear();
                    let (s, o) = (self.search.before.clone(), self.search.before_offset);
                    self.view_mut().selected = s;
                    self.view_mut().offset = o;
                    self.restore_selection();
                }
                Action::Quit => self.quit = true,
                _ => {}
            }
            return;
        }
        if self.hot {
            match action {
                Action::Up => self.hot_selected = self.hot_selected.saturating_sub(1),
                Action::Down => self.hot_selected += 1,
                Action::Top => self.hot_selected = 0,
                Action::Bottom => self.hot_selected = usize::MAX / 2,
                Action::PageUp => {
                    self.hot_selected = self.hot_selected.saturating_sub(self.viewport)
                }
                Action::PageDown => self.hot_selected += self.viewport,
                Action::ScrollUp(n) => self.hot_selected = self.hot_selected.saturating_sub(n),
                Action::ScrollDown(n) => self.hot_selected += n,
                Action::Drill | Action::Expand => {
                    // jump to the rule in the tree
                    let rows = self.hot_rows();
                    if let Some(h) = rows.get(self.hot_selected.min(rows.len().saturating_sub(1))) {
                        let path = Self::id_path(&h.tree, h.at);
                        let open = self.ancestors_to_open(&h.tree, h.at);
                        self.hot = false;
                        self.reveal(&path, &open);
                    }
                }
                Action::ToggleHot | Action::Back => self.hot = false,
                _ => self.apply_common(action),
            }
            let n = self.hot_rows().len();
            self.hot_selected = self.hot_selected.min(n.saturating_sub(1));
            return;
        }
        let sel = self.selected_index();
        match action {
            Action::Up => self.select(sel.saturating_sub(1)),
            Action::Down => self.select(sel + 1),
            Action::PageUp => self.select(sel.saturating_sub(self.viewport.max(1))),
            Action::PageDown => self.select(sel + self.viewport.max(1)),
            Action::Top => self.select(0),
            Action::Bottom => self.select(self.rows.len().saturating_sub(1)),
            Action::ScrollUp(n) => {
                let o = self.offset().saturating_sub(n);
                self.view_mut().offset = o;
                let vp = self.viewport.max(1);
                if sel >= o + vp {
                    self.select(o + vp - 1);
                }
            }
            Action::ScrollDown(n) => {
                let max = self.rows.len().saturating_sub(self.viewport.max(1));
                let o = (self.offset() + n).min(max);
                self.view_mut().offset = o;
                if sel < o {
                    self.select(o);
                }
            }
            Action::Expand => match self.rows.get(sel).map(|r| r.fold) {
                Some(Fold::Collapsed) => self.set_fold(sel, true),
                Some(Fold::Expanded) => self.select(sel + 1),
                _ => {}
            },
            Action::Collapse => match self.rows.get(sel).map(|r| (r.fold, r.parent)) {
                Some((Fold::Expanded, _)) => self.set_fold(sel, false),
                Some((_, Some(p))) => self.select(p as usize),
                _ => {}
            },
            Action::Toggle => match self.rows.get(sel).map(|r| r.fold) {
                Some(Fold::Collapsed) => self.set_fold(sel, true),
                Some(Fold::Expanded) => self.set_fold(sel, false),
                _ => {}
            },
            Action::ExpandAll | Action::CollapseAll => {
                let v = self.view_mut();
                v.toggled.clear();
                v.mode = if action == Action::ExpandAll {
                    ExpandMode::All
                } else {
                    ExpandMode::None
                };
                self.rebuild();
            }
            Action::Drill => self.drill(sel),
            Action::Back => {
                if self.moved_only {
                    self.moved_only = false;
                    self.rebuild();
                } else if let Some(d) = self.view_mut().drill.pop() {
                    let v = self.view_mut();
                    v.selected = d.back_to;
                    v.offset = d.back_offset;
                    self.rebuild();
                } else if !self.search.query.is_empty() {
                    self.search.query.clear();
                }
            }
            Action::SearchStart => {
                self.search = Search {
                    query: String::new(),
                    editing: true,
                    before: self.view().selected.clone(),
                    before_offset: self.view().offset,
                };
            }
            Action::SearchNext => self.search_from(sel, true, false),
            Action::SearchPrev => self.search_from(sel, false, false),
            Action::ToggleMovedOnly => {
                self.moved_only = !self.moved_only;
                self.rebuild();
            }
            Action::ToggleHot => {
                self.hot = true;
                self.hot_selected = 0;
            }
            _ => self.apply_common(action),
        }
    }

    /// Keys that mean the same in every mode.
    fn apply_common(&mut self, action: Action) {
        match action {
            Action::Quit => self.quit = true,
            Action::NextTable => self.switch_table((self.current + 1) % TABLES.len()),
            Action::PrevTable => {
                self.switch_table((self.current + TABLES.len() - 1) % TABLES.len())
            }
            Action::Table(i) if i < TABLES.len() => self.switch_table(i),
            Action::TogglePause => {
                self.paused = !self.paused;
                self.commands.push(Command::Pause(self.paused));
            }
            Action::IntervalShorter | Action::IntervalLonger => {
                if self.replay {
                    self.message = Some("a replay plays at its recorded pace".into());
                    return;
                }
                let cur = self.interval.as_millis() as u64;
                let next = if action == Action::IntervalShorter {
                    INTERVALS_MS
                        .iter()
                        .rev()
                        .find(|&&ms| ms < cur)
                        .copied()
                        .unwrap_or(INTERVALS_MS[0])
                } else {
                    INTERVALS_MS
                        .iter()
                        .find(|&&ms| ms > cur)
                        .copied()
                        .unwrap_or(INTERVALS_MS[INTERVALS_MS.len() - 1])
                };
                self.interval = Duration::from_millis(next);
                self.commands.push(Command::SetInterval(self.interval));
            }
            Action::Baseline => {
                let v = self.view_mut();
                if let Some(s) = &v.snap {
                    v.baseline = Some(Baseline::new(s));
                    v.refresh_baseline_view();
                    self.message =
                        Some("baseline set: Δ columns count from now (Z clears it)".into());
                }
                self.rebuild();
            }
            Action::ClearBaseline => {
                let v = self.view_mut();
                v.baseline = None;
                v.baseline_deltas = None;
                self.rebuild();
            }
            Action::ToggleDetail => self.show_detail = Some(!self.detail_shown),
            Action::ToggleHelp => self.show_help = true,
            Action::Step => {
                if self.step_mode {
                    self.commands.push(Command::Step);
                } else {
                    self.message = Some("`.` steps a replay started with --step".into());
                }
            }
            Action::Export => self.commands.push(Command::Export),
            _ => {}
        }
    }

    fn switch_table(&mut self, i: usize) {
        if i == self.current {
            return;
        }
        self.current = i;
        self.hot_selected = 0;
        self.commands.push(Command::SetTable(TABLES[i].to_string()));
        self.rebuild();
    }

    fn drill(&mut self, sel: usize) {
        let Some(t) = self.view().table().cloned() else {
            return;
        };
        let Some(row) = self.rows.get(sel) else {
            return;
        };
        let Some(target) = row.jump else {
            self.message = Some("Enter drills into a jump to a user chain".into());
            return;
        };
        // the chains on the path to this row, then the target
        let mut crumbs: Vec<String> = match self.view().drill.last() {
            Some(d) => d.crumbs.clone(),
            None => Vec::new(),
        };
        let mut chain_path = Vec::new();
        let mut j = Some(sel);
        while let Some(k) = j {
            chain_path.push(self.rows[k].chain());
            j = self.rows[k].parent.map(|p| p as usize);
        }
        chain_path.reverse();
        for c in chain_path {
            let name = &t.chains[c].name;
            if crumbs.last().map(String::as_str) != Some(&**name) {
                crumbs.push(name.to_string());
            }
        }
        crumbs.push(t.chains[target].name.to_string());
        let back_to = self.view().selected.clone();
        let back_offset = self.view().offset;
        let v = self.view_mut();
        v.drill.push(Drill {
            chain: t.chains[target].name.to_string(),
            crumbs,
            back_to,
            back_offset,
        });
        v.selected.clear();
        v.offset = 0;
        self.rebuild();
    }

    /// The movement of a row in the current view.
    pub fn movement(&self, row: &Row) -> Movement {
        movement(row, self.view().delta_view().shown)
    }
}

/// Columns the tree needs: guides, fold marker and label, without building the labels.
fn tree_width(t: &Table, rows: &[Row]) -> u16 {
    use unicode_width::UnicodeWidthStr;
    let w = rows
        .iter()
        .map(|r| {
            match r.kind {
                // `▾ FORWARD DROP`, `▾ DOCKER (2 refs)`
                RowKind::Chain { chain } => {
                    let c = &t.chains[chain];
                    // measured as drawn: escaped
                    2 + crate::sanitize::text(&c.name).width() + if c.is_builtin() { 8 } else { 11 }
                }
                // `│  ├─▾ TARGET [goto] ↻ cycle`
                RowKind::Rule { chain, rule } => {
                    let spec = &t.chains[chain].rules[rule].spec;
                    let label = crate::sanitize::text(&spec.target).width().max(11)
                        + if spec.goto { 7 } else { 0 }
                        + if r.fold == Fold::Cycle { 8 } else { 0 }
                        // ` ×2`: a chain with several callers
                        + match r.jump.map(|j| t.callers().of(j).len()) {
                            Some(n) if n > 1 => 2 + n.to_string().len(),
                            _ => 0,
                        };
                    r.prefix_width() + 1 + label
                }
                // drawn across the whole row
                RowKind::Ref { .. } => 0,
            }
        })
        .max()
        .unwrap_or(24);
    w.min(u16::MAX as usize) as u16
}

mod hot;
mod search;
#[cfg(test)]
mod tests;
