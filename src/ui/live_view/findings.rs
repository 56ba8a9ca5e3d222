//! Findings in the live view: the rules of thumb of [`crate::explain::findings`] evaluated
//! on every poll over the tables that poll listed and kept over a window (the export
//! window, 10 s unless `--export-window` says otherwise), so that the header's badge and
//! the pane (`!`) agree and a trap that fired a few polls ago is still listed, with when
//! it was last seen; Enter on one shows its rule in the tree (its table's tab, the path
//! to it opened).

use std::time::{Duration, SystemTime};

use super::{LiveView, MAX_ROWS, Screen};
use crate::diff::Deltas;
use crate::explain::findings::{self, Finding, Severity};
use crate::model::Snapshot;
use crate::tree::{self, RowKind};

/// A finding of the window, with the tab its table is shown in.
#[derive(Debug, Clone)]
pub struct LiveFinding {
    pub finding: Finding,
    /// Index into [`LiveView::tables`].
    pub tab: usize,
    /// The poll (its time) that last found it.
    pub seen: SystemTime,
    /// How long before the last poll that was: zero when the last poll found it.
    pub ago: Duration,
}

/// The findings pane's state: the findings of the window, worst first, and the one
/// selected.
#[derive(Debug, Default)]
pub(super) struct FindingsState {
    pub(super) list: Vec<LiveFinding>,
    pub(super) selected: usize,
    /// What the last poll found when nothing moved in it and its rules were those of the
    /// poll before: the same tabs, rules and counters find the same again, so a run of
    /// quiet polls is judged once (at 50k rules an evaluation is milliseconds a poll).
    pub(super) still: Option<Still>,
}

/// The findings of a quiet poll, with what they were judged on.
#[derive(Debug)]
pub(super) struct Still {
    pub(super) seq: u64,
    tabs: Vec<usize>,
    found: Vec<Finding>,
}

/// The same finding, found again: the same rule of thumb at the same place.
fn same(a: &LiveFinding, b: &LiveFinding) -> bool {
    let (x, y) = (&a.finding, &b.finding);
    a.tab == b.tab
        && x.id == y.id
        && x.table == y.table
        && x.backend == y.backend
        && x.chain == y.chain
        && x.rule == y.rule
}

impl LiveView {
    /// The findings of the window (the last poll's and those seen within the export
    /// window before it), worst first.
    pub fn findings(&self) -> &[LiveFinding] {
        &self.findings.list
    }

    /// The finding selected in the pane.
    pub fn findings_selected(&self) -> usize {
        self.findings.selected
    }

    /// Evaluates the findings over the tables of the last poll (the tabs whose snapshot
    /// is the newest; a table whose poll failed keeps its last good snapshot, so it is
    /// left out, as are tables not listed on this poll).
    pub fn evaluate_findings(&mut self) {
        let Some(seq) = self
            .tables
            .iter()
            .filter_map(|v| v.snap.as_ref().map(|s| s.seq))
            .max()
        else {
            self.findings.list.clear();
            return;
        };
        let tabs: Vec<usize> = (0..self.tables.len())
            .filter(|&i| {
                let v = &self.tables[i];
                v.error.is_none() && v.snap.as_ref().is_some_and(|s| s.seq == seq)
            })
            .collect();
        // quiet: every table's rules as on the poll before and nothing moved since it
        let quiet = !tabs.is_empty()
            && tabs.iter().all(|&i| {
                let v = &self.tables[i];
                v.table().is_some_and(|t| t.same_rules_as_prev)
                    && v.deltas
                        .as_ref()
                        .is_some_and(crate::diff::TableDelta::is_still)
            });
        let again = match self.findings.still.take() {
            Some(st) if quiet && st.seq + 1 == seq && st.tabs == tabs => Some(st.found),
            _ => None,
        };
        let (found, now) = match again {
            Some(found) => {
                let now = self.tables[tabs[0]].snap.as_ref().map(|s| s.taken_at);
                (found, now.unwrap_or(SystemTime::UNIX_EPOCH))
            }
            None => self.judge(&tabs),
        };
        if quiet {
            self.findings.still = Some(Still {
                seq,
                tabs: tabs.clone(),
                found: found.clone(),
            });
        }
        self.keep_over_window(&tabs, found, now);
    }

    /// The findings of the tables of `tabs` (one poll's), and the poll's time.
    fn judge(&mut self, tabs: &[usize]) -> (Vec<Finding>, SystemTime) {
        let parts: Vec<&Snapshot> = tabs
            .iter()
            .filter_map(|&i| self.tables[i].snap.as_deref())
            .collect();
        let snap = Snapshot::combine(&parts);
        // each table's snapshot holds one table: the combined one's table k is tab k's
        let elapsed = tabs
            .iter()
            .map(|&i| self.tables[i].window)
            .find(|w| !w.is_zero());
        // the deltas are lent to the evaluation, not copied (they can be large)
        let deltas = elapsed.map(|elapsed| Deltas {
            elapsed,
            tables: tabs.iter().map(|&i| self.tables[i].deltas.take()).collect(),
        });
        let found = findings::evaluate(&snap, deltas.as_ref());
        if let Some(d) = deltas {
            for (&i, td) in tabs.iter().zip(d.tables) {
                self.tables[i].deltas = td;
            }
        }
        (found, snap.taken_at)
    }

    /// Adds what this poll found to the findings of the window; those not seen for
    /// longer than the window go.
    fn keep_over_window(&mut self, tabs: &[usize], found: Vec<Finding>, now: SystemTime) {
        let found: Vec<LiveFinding> = found
            .into_iter()
            .filter_map(|f| {
                let tab = *tabs.get(f.at.table)?;
                Some(LiveFinding {
                    finding: f,
                    tab,
                    seen: now,
                    ago: Duration::ZERO,
                })
            })
            .collect();
        // kept over the window: found again, it is refreshed; not seen for longer than
        // the window (or, the clock gone back, a replay starting over), it goes
        let window = self.export_window;
        let mut list = std::mem::take(&mut self.findings.list);
        list.retain(|old| {
            now.duration_since(old.seen)
                .is_ok_and(|d| d <= window && !found.iter().any(|f| same(f, old)))
        });
        list.extend(found);
        for f in &mut list {
            f.ago = now.duration_since(f.seen).unwrap_or_default();
        }
        // worst first, then the freshest, then where
        list.sort_by(|a, b| {
            b.finding
                .severity
                .cmp(&a.finding.severity)
                .then(a.ago.cmp(&b.ago))
                .then(a.tab.cmp(&b.tab))
        });
        self.findings.list = list;
        self.findings.selected = self
            .findings
            .selected
            .min(self.findings.list.len().saturating_sub(1));
    }

    /// The worst severity among the findings, if any.
    pub fn worst_finding(&self) -> Option<Severity> {
        self.findings.list.iter().map(|f| f.finding.severity).max()
    }

    /// Keys while the findings pane is shown.
    pub(super) fn apply_findings(&mut self, action: super::Action) {
        use super::Action;
        let n = self.findings.list.len();
        let last = n.saturating_sub(1);
        let s = &mut self.findings.selected;
        match action {
            Action::Up => *s = s.saturating_sub(1),
            Action::Down => *s = (*s + 1).min(last),
            Action::Top => *s = 0,
            Action::Bottom => *s = last,
            Action::PageUp => *s = s.saturating_sub(self.frame.viewport),
            Action::PageDown => *s = (*s + self.frame.viewport).min(last),
            Action::ScrollUp(k) => *s = s.saturating_sub(k),
            Action::ScrollDown(k) => *s = (*s + k).min(last),
            Action::Drill | Action::Expand => self.jump_to_finding(self.findings.selected),
            Action::ToggleFindings | Action::Back => self.screen = Screen::Tree,
            _ => self.apply_common(action),
        }
    }

    /// Shows finding `i`'s rule (or chain) in the tree: its tab, out of any drill, the
    /// path to it opened, the row selected.
    pub fn jump_to_finding(&mut self, i: usize) {
        let Some(f) = self.findings.list.get(i).cloned() else {
            return;
        };
        let Some(chain) = f.finding.at.chain else {
            self.switch_table(f.tab);
            self.screen = Screen::Tree;
            return;
        };
        self.switch_table(f.tab);
        self.screen = Screen::Tree;
        let v = self.table_data_mut();
        if !v.drill.is_empty() {
            v.drill.clear();
            v.offset = 0;
            self.rebuild();
        }
        let Some(t) = self.table_data().table().cloned() else {
            return;
        };
        let roots = self.roots(&t);
        let rows = tree::once::build(&t, &roots, &|_, _| false, MAX_ROWS).0;
        let want = |k: RowKind| match (f.finding.at.rule, k) {
            (Some(r), RowKind::Rule { chain: c, rule }) => c == chain && rule == r,
            (None, RowKind::Chain { chain: c }) => c == chain,
            _ => false,
        };
        match rows.iter().position(|r| want(r.kind)) {
            Some(at) => {
                let path = Self::id_path(&rows, at);
                let open = self.ancestors_to_open(&rows, at);
                self.reveal(&path, &open);
            }
            None => {
                self.message = Some(format!(
                    "{} is not reached from the chains shown",
                    f.finding.chain.as_deref().unwrap_or("the chain")
                ));
            }
        }
    }
}
