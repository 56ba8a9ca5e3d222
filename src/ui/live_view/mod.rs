//! The live view's state machine: snapshots per table, deltas, history, and what the user
//! has opened, selected, drilled into or searched. Keys become [`Action`]s and
//! [`LiveView::apply`] changes the state; nothing here touches the terminal, so all of it is
//! tested without one.

use std::sync::Arc;
use std::time::Duration;

pub use super::action::{Action, Command, Effect, INTERVALS_MS, Outcome};
pub use super::baseline::Baseline;
use super::column_plan::{ColumnStats, tree_width};
pub use super::history::{HEAT_POLLS, HISTORY, History};
pub use super::mode::{Overlay, Screen};
use super::table_state::ExpandMode;
pub use super::table_state::TableData;
use crate::cells::{Movement, movement, uncounted};
use crate::diff::{Delta, TableDelta};
use crate::model::{
    FirewallTable, KeyedBuild, Snapshot, SourceInfo, TABLES, TableId, TableSnapshot,
};
use crate::tree::{self, ExpandQuery, Fold, NodeId, RowKind, TreeRow};
pub use findings::LiveFinding;
pub use hot::HotRow;
pub use layout::Regions;
pub use playback::Playback;
pub use search::Search;
pub use trace::TracePane;

/// Rows beyond this are not built (a chain jumped to from thousands of rules, all expanded).
pub const MAX_ROWS: usize = 1_000_000;

/// The path view's lines, each runs of styled text.
pub type PathLines = Vec<Vec<(String, ratatui::style::Style)>>;

/// The live view. What the UI loop sets and reads each turn is public; each screen's
/// state is its own (a module each below) and read through accessors.
pub struct LiveView {
    pub source: SourceInfo,
    /// Names from Docker for bridges and container addresses (asked once at start).
    pub names: Option<std::sync::Arc<crate::docker::Names>>,
    /// Only the rules that moved (and the paths to them), `f`.
    pub moved_only: bool,
    /// A message for the status line (export path, errors of keys).
    pub message: Option<String>,
    pub quit: bool,
    /// The export key's window when no baseline is set (`--export-window`).
    pub export_window: Duration,
    /// Per tab: the table it shows ([`TableId`]: name and, when both hold it, back end).
    tabs: Vec<TableId>,
    /// Per tab: what is known of its table.
    tables: Vec<TableData>,
    /// The tab on screen: index into `tabs` and `tables`.
    current: usize,
    /// Chains given with `-c`: roots instead of the built-ins.
    root_chains: Vec<String>,
    /// The poll schedule: interval, pause, step, replay.
    playback: Playback,
    /// What fills the main area.
    pub(super) screen: Screen,
    /// What is drawn over it and has the keyboard first: the help, a prompt.
    pub(super) overlay: Option<Overlay>,
    /// The frame as the last layout found it: the detail pane, the list's height.
    frame: layout::FrameState,
    /// The hot view's selection and rows.
    hot: hot::HotState,
    search: Search,
    search_cache: Option<search::Cache>,
    /// The findings of the last poll and the one selected.
    findings: findings::FindingsState,
    /// The Services view's scroll and text.
    services: services::ServicesState,
    /// The traced packets (`T`).
    trace: trace::TracePane,
    /// What the poller says once in the background (a recording stopped, native tables
    /// unreadable): shown below a poll's error, which matters more, until a key.
    notice: Option<String>,
    /// The tree's rows as shown, and the one selected.
    tree: tree_screen::TreeState,
    /// What the actions so far asked of the poller and the UI loop, until taken.
    pub(super) pending: Outcome,
    /// A picture for an export: this caption replaces the key hints, no row is
    /// highlighted as selected, and each chain is expanded once, its other jumps
    /// pointing there.
    caption: Option<String>,
    /// The path view ([`Screen::Path`](super::mode::Screen), key `v`): its scroll and lines.
    pub(super) path: path_screen::PathState,
    /// The native nftables tables seen so far, and the one `-t` named.
    native: native::NativeTabs,
}

impl LiveView {
    pub fn new(
        source: SourceInfo,
        table: &str,
        root_chains: Vec<String>,
        interval: Duration,
    ) -> LiveView {
        let current = TABLES.iter().position(|t| *t == table).unwrap_or(0);
        let replay = source.kind != crate::model::SourceKind::Live;
        LiveView {
            source,
            names: None,
            moved_only: false,
            message: None,
            quit: false,
            export_window: window::DEFAULT,
            tabs: TABLES.iter().map(|t| TableId::new(t)).collect(),
            tables: vec![TableData::default(); TABLES.len()],
            current,
            root_chains,
            playback: Playback::new(interval, replay),
            screen: Screen::Tree,
            overlay: None,
            frame: layout::FrameState::default(),
            hot: hot::HotState::default(),
            search: Search::default(),
            search_cache: None,
            findings: findings::FindingsState::default(),
            services: services::ServicesState::default(),
            trace: trace::TracePane::default(),
            notice: None,
            tree: tree_screen::TreeState::default(),
            pending: Outcome::default(),
            caption: None,
            path: Default::default(),
            native: native::NativeTabs::default(),
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
    ) -> LiveView {
        let name = snap
            .tables
            .first()
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let mut app = LiveView::new(source, &name, roots, Duration::from_secs(1));
        let v = app.table_data_mut();
        let Some(snap) = TableSnapshot::split(snap, &name).into_iter().next() else {
            return app;
        };
        v.col_stats = ColumnStats::of(snap.table());
        v.roots = tree::roots(snap.table(), &[]);
        v.snap = Some(snap);
        v.deltas = deltas;
        v.window = window;
        v.mode = ExpandMode::All;
        app.frame.show_detail = Some(false);
        app.moved_only = moved_only;
        app.caption = Some(caption);
        app.rebuild();
        app
    }

    pub fn table_data(&self) -> &TableData {
        &self.tables[self.current]
    }

    fn table_data_mut(&mut self) -> &mut TableData {
        &mut self.tables[self.current]
    }

    /// An export's picture: its caption, shown instead of the key hints.
    pub fn caption(&self) -> Option<&str> {
        self.caption.as_deref()
    }

    /// Replaces an export picture's caption.
    pub fn set_caption(&mut self, caption: String) {
        self.caption = Some(caption);
    }

    /// An export's picture: each chain expanded once, its other jumps pointing there.
    fn once(&self) -> bool {
        self.caption.is_some()
    }

    /// The roots of the current view: the drilled chain, the `-c` chains, or the built-ins.
    pub fn roots(&self, t: &FirewallTable) -> Vec<usize> {
        if let Some(d) = self.table_data().drill.last() {
            return t.chain_index(&d.chain).into_iter().collect();
        }
        let wanted: Vec<String> = self
            .root_chains
            .iter()
            .filter(|c| t.chain(c).is_some())
            .cloned()
            .collect();
        if wanted.is_empty() && !self.table_data().roots.is_empty() {
            return self.table_data().roots.clone();
        }
        tree::roots(t, &wanted)
    }

    pub fn breadcrumb(&self) -> Option<String> {
        self.table_data().drill.last().map(|d| d.crumbs.join(" › "))
    }

    /// Rows with every node open (filter, hot view, export).
    fn full_rows(&self, t: &FirewallTable) -> Vec<TreeRow> {
        if self.once() {
            let shown = self.table_data().shown_deltas().shown;
            let moved =
                |c: usize, r: usize| shown.and_then(|d| d.rule(c, r)).is_some_and(Delta::moved);
            return tree::once::build(t, &self.roots(t), &moved, MAX_ROWS).0;
        }
        tree::build(t, &self.roots(t), &|_| true, MAX_ROWS).0
    }

    /// Rebuilds the visible rows and puts the selection back on its node.
    pub fn rebuild(&mut self) {
        // the hot view follows: rebuilt when next shown, its selection kept on its rule
        if let Some(hot) = self.hot.cache.take() {
            self.hot.pick = hot.get(self.hot.selected).map(|h| h.key);
        }
        let Some(snap) = self.table_data().snap.clone() else {
            self.tree.rows.clear();
            return;
        };
        let t = snap.table();
        let (rows, cut) = if self.moved_only && !self.once() {
            let shown = self.table_data().shown_deltas().shown;
            // only jumps that moved can lead to rules that moved on their path
            // (a jump without a counter cannot tell: it stays open)
            let moved = |q: ExpandQuery| {
                q.jump.is_none_or(|(c, r)| {
                    shown.and_then(|d| d.rule(c, r)).is_some_and(Delta::moved)
                        || t.chains[c].rules[r]
                            .native
                            .as_ref()
                            .is_some_and(|n| !n.has_counter)
                })
            };
            let (full, cut) = tree::build(t, &self.roots(t), &moved, MAX_ROWS);
            let keep = tree::moved_mask_through(
                &full,
                |r| movement(t, r, shown).moved(),
                |r| uncounted(t, r),
            );
            (tree::keep(&full, &keep), cut)
        } else if self.moved_only {
            let view = self.table_data().shown_deltas();
            let full = self.full_rows(t);
            let keep = tree::moved_mask_through(
                &full,
                |r| movement(t, r, view.shown).moved(),
                |r| uncounted(t, r),
            );
            (tree::keep(&full, &keep), false)
        } else if self.once() {
            (self.full_rows(t), false)
        } else {
            let v = self.table_data();
            tree::build(t, &self.roots(t), &|q| v.is_expanded(q), MAX_ROWS)
        };
        self.tree.tree_width = tree_width(t, &rows, self.names.as_deref());
        let v = self.table_data();
        let mut live = vec![true; rows.len()];
        for i in 0..rows.len() {
            if let Some(p) = rows[i].parent.map(|p| p as usize)
                && matches!(rows[p].kind, RowKind::Rule { .. })
            {
                let shown = v.shown_deltas().shown;
                live[i] = live[p]
                    && (v.heat(t, &rows[p]).is_some()
                        || movement(t, &rows[p], shown).moved()
                        || uncounted(t, &rows[p]));
            }
        }
        self.tree.live_path = live;
        self.tree.rows = rows;
        self.tree.rows_cut = cut;
        self.restore_selection();
    }

    /// Scrolls so that the selection is inside the viewport (after a resize).
    pub fn ensure_visible(&mut self) {
        let sel = self.selected_index();
        let vp = self.frame.viewport.max(1);
        let mut o = self.offset();
        if sel < o {
            o = sel;
        } else if sel >= o + vp {
            o = sel + 1 - vp;
        }
        self.table_data_mut().offset = o;
    }

    /// Selects the deepest node of the selection's path that is still shown (one pass
    /// over the rows, however deep the path).
    fn restore_selection(&mut self) {
        let path = &self.table_data().selected;
        let depth_of: std::collections::HashMap<NodeId, usize, KeyedBuild> =
            path.iter().enumerate().map(|(k, id)| (*id, k)).collect();
        let mut best: Option<(usize, usize)> = None;
        for (i, r) in self.tree.rows.iter().enumerate() {
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
        self.tree.sel.min(self.tree.rows.len().saturating_sub(1))
    }

    pub fn selected_row(&self) -> Option<&TreeRow> {
        self.tree.rows.get(self.selected_index())
    }

    /// Ids from the root to row `i`.
    fn id_path(rows: &[TreeRow], i: usize) -> Vec<NodeId> {
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
        if self.tree.rows.is_empty() {
            return;
        }
        let i = i.min(self.tree.rows.len() - 1);
        let path = Self::id_path(&self.tree.rows, i);
        let vp = self.frame.viewport.max(1);
        self.tree.sel = i;
        let v = self.table_data_mut();
        v.selected = path;
        if i < v.offset {
            v.offset = i;
        } else if i >= v.offset + vp {
            v.offset = i + 1 - vp;
        }
    }

    /// First row shown at the top of the table area.
    pub fn offset(&self) -> usize {
        let max = self
            .tree
            .rows
            .len()
            .saturating_sub(self.frame.viewport.max(1));
        self.table_data().offset.min(max)
    }

    fn query_of(&self, row: &TreeRow) -> ExpandQuery {
        let t = self.table_data().table();
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
        let Some(row) = self.tree.rows.get(i) else {
            return;
        };
        if !matches!(row.fold, Fold::Collapsed | Fold::Expanded) {
            return;
        }
        let q = self.query_of(row);
        self.table_data_mut().set_expanded(q, open);
        self.rebuild();
    }

    /// Says `text` on the status line unless a poll's error or a key's answer is there.
    pub fn notify(&mut self, text: String) {
        self.notice = Some(text);
    }

    /// What the poller said in the background, until a key.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Applies a key's action; returns what it asks of the poller and the UI loop.
    pub fn apply(&mut self, action: Action) -> Outcome {
        self.act(action);
        self.take_outcome()
    }

    /// What was asked outside [`LiveView::apply`] (a poll that switched tabs), taken.
    pub fn take_outcome(&mut self) -> Outcome {
        std::mem::take(&mut self.pending)
    }

    fn act(&mut self, action: Action) {
        self.message = None;
        self.notice = None;
        if matches!(self.overlay, Some(Overlay::TracePrompt(_))) && action != Action::Interrupt {
            return self.apply_trace_prompt(action);
        }
        if self.intercept(action) {
            return;
        }
        if self.overlay == Some(Overlay::Search) {
            return self.apply_search(action);
        }
        match self.screen {
            Screen::Hot => return self.apply_hot(action),
            Screen::Findings => return self.apply_findings(action),
            Screen::Trace => return self.apply_trace(action),
            Screen::Services => return self.apply_services(action),
            Screen::Tree | Screen::Path => {}
        }
        let sel = self.selected_index();
        match action {
            Action::Up => self.select(sel.saturating_sub(1)),
            Action::Down => self.select(sel + 1),
            Action::PageUp => self.select(sel.saturating_sub(self.frame.viewport.max(1))),
            Action::PageDown => self.select(sel + self.frame.viewport.max(1)),
            Action::Top => self.select(0),
            Action::Bottom => self.select(self.tree.rows.len().saturating_sub(1)),
            Action::ScrollUp(n) => {
                let o = self.offset().saturating_sub(n);
                self.table_data_mut().offset = o;
                let vp = self.frame.viewport.max(1);
                if sel >= o + vp {
                    self.select(o + vp - 1);
                }
            }
            Action::ScrollDown(n) => {
                let max = self
                    .tree
                    .rows
                    .len()
                    .saturating_sub(self.frame.viewport.max(1));
                let o = (self.offset() + n).min(max);
                self.table_data_mut().offset = o;
                if sel < o {
                    self.select(o);
                }
            }
            Action::Expand => match self.tree.rows.get(sel).map(|r| r.fold) {
                Some(Fold::Collapsed) => self.set_fold(sel, true),
                Some(Fold::Expanded) => self.select(sel + 1),
                _ => {}
            },
            Action::Collapse => match self.tree.rows.get(sel).map(|r| (r.fold, r.parent)) {
                Some((Fold::Expanded, _)) => self.set_fold(sel, false),
                Some((_, Some(p))) => self.select(p as usize),
                _ => {}
            },
            Action::Toggle => match self.tree.rows.get(sel).map(|r| r.fold) {
                Some(Fold::Collapsed) => self.set_fold(sel, true),
                Some(Fold::Expanded) => self.set_fold(sel, false),
                _ => {}
            },
            Action::ExpandAll | Action::CollapseAll => {
                let v = self.table_data_mut();
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
                } else if let Some(d) = self.table_data_mut().drill.pop() {
                    let v = self.table_data_mut();
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
                    before: self.table_data().selected.clone(),
                    before_offset: self.table_data().offset,
                    found: None,
                };
                self.overlay = Some(Overlay::Search);
            }
            Action::SearchNext => self.search_from(sel, true, false),
            Action::SearchPrev => self.search_from(sel, false, false),
            Action::ToggleMovedOnly => {
                self.moved_only = !self.moved_only;
                self.rebuild();
            }
            Action::TogglePath => self.toggle_path(),
            _ => self.apply_common(action),
        }
    }

    /// Keys that mean the same in every mode.
    fn apply_common(&mut self, action: Action) {
        match action {
            Action::Quit => self.quit = true,
            Action::NextTable => self.switch_table((self.current + 1) % self.tabs.len()),
            Action::PrevTable => {
                self.switch_table((self.current + self.tabs.len() - 1) % self.tabs.len());
            }
            Action::SelectTable(i) => self.select_table(i),
            Action::TogglePause => {
                self.playback.paused = !self.playback.paused;
                self.pending
                    .commands
                    .push(Command::Pause(self.playback.paused));
            }
            Action::IntervalShorter | Action::IntervalLonger => {
                if self.playback.replay {
                    self.message = Some("a replay plays at its recorded pace".into());
                    return;
                }
                let cur = self.playback.interval.as_millis() as u64;
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
                self.playback.interval = Duration::from_millis(next);
                self.pending
                    .commands
                    .push(Command::SetInterval(self.playback.interval));
            }
            Action::Baseline => {
                let v = self.table_data_mut();
                if let Some(s) = &v.snap {
                    v.baseline = Some(Baseline::new(s));
                    v.refresh_baseline_view();
                    self.message =
                        Some("baseline set: Δ columns count from now (Z clears it)".into());
                }
                self.rebuild();
            }
            Action::ClearBaseline => {
                let v = self.table_data_mut();
                v.baseline = None;
                v.baseline_deltas = None;
                self.rebuild();
            }
            Action::ToggleDetail => self.frame.show_detail = Some(!self.frame.detail_shown),
            Action::ToggleHelp => self.overlay = Some(Overlay::Help(0)),
            Action::ToggleHot => {
                self.screen = Screen::Hot;
                self.hot.selected = 0;
            }
            Action::ToggleFindings => self.screen = Screen::Findings,
            Action::ToggleTrace => self.screen = Screen::Trace,
            Action::TracePrompt => self.open_trace_prompt(),
            Action::ToggleServices => {
                // kube-proxy's Services are in nat: polled while they are shown
                if let Some(nat) = self.tab_of("nat") {
                    self.switch_table(nat);
                }
                self.screen = Screen::Services;
                self.services.scroll = 0;
            }
            Action::Step => {
                if self.playback.step_mode {
                    self.pending.commands.push(Command::Step);
                } else {
                    self.message = Some("`.` steps a replay started with --step".into());
                }
            }
            Action::Export => self.pending.effects.push(Effect::Export),
            _ => {}
        }
    }

    /// The movement of a row in the current view.
    pub fn movement(&self, row: &TreeRow) -> Movement {
        let Some(t) = self.table_data().table() else {
            return Movement::NoWindow;
        };
        movement(t, row, self.table_data().shown_deltas().shown)
    }
}

mod findings;
mod hot;
mod layout;
mod native;
pub use native::FIRST_NATIVE;
mod path_screen;
mod playback;
mod search;
mod services;
mod tabs;
#[cfg(test)]
mod tests;
mod trace;
mod tree_screen;
pub mod window;
