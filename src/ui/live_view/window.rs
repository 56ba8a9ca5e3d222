//! The export key's window: the Δ an export shows is measured since the local baseline
//! (`z`) when one is set, else over the last [`DEFAULT`] of polls (`--export-window`),
//! so that a file written a few seconds after the traffic still shows it. Each table
//! view keeps the polls of that window (snapshots share their unchanged chains).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::LiveView;
use crate::diff::{Deltas, diff_table};
use crate::format;
use crate::model::Snapshot;
use crate::ui::table_state::TableData;

/// The export window when `--export-window` does not say.
pub const DEFAULT: Duration = Duration::from_secs(10);

/// The deltas an export shows, and what window they cover.
pub struct ExportWindow {
    pub deltas: Option<Deltas>,
    pub start: Option<SystemTime>,
    /// For the file: `since the baseline (z)`, `the last 10s of polls`.
    pub note: String,
    /// For the status line: `Δ over the last 10s`, `Δ since the baseline (z)`.
    pub said: String,
}

impl TableData {
    /// Keeps `snap` with the polls of the last `window`, and the newest one before it
    /// (the start of the window); a discontinuity (a replay starting over) forgets them.
    pub(crate) fn remember(&mut self, snap: Arc<Snapshot>, discontinuity: bool, window: Duration) {
        if discontinuity {
            self.recent.clear();
        }
        let now = snap.at;
        self.recent.push_back(snap);
        // drop the oldest while the next one is old enough to start the window
        while self.recent.len() > 1
            && self
                .recent
                .get(1)
                .is_some_and(|s| now.saturating_sub(s.at) >= window)
        {
            self.recent.pop_front();
        }
    }

    /// The deltas for an export of the view: since the baseline, else from the oldest
    /// kept poll (at most `window` ago, or as far back as polls go) to the newest.
    pub fn export_window(&self, window: Duration) -> ExportWindow {
        self.export_window_since(window, None)
    }

    /// The oldest poll kept for the export window (none with a baseline: it starts the
    /// window), by its offset from the start of the source.
    pub fn window_first_at(&self) -> Option<Duration> {
        if self.baseline.is_some() {
            return None;
        }
        self.recent.front().map(|s| s.at)
    }

    /// [`TableData::export_window`] from the first kept poll at or after `since` (the
    /// path view: every table over the same polls).
    pub fn export_window_since(&self, window: Duration, since: Option<Duration>) -> ExportWindow {
        let Some(snap) = &self.snap else {
            return ExportWindow {
                deltas: None,
                start: None,
                note: String::new(),
                said: "without Δ (one poll so far)".into(),
            };
        };
        if let Some(b) = &self.baseline {
            return ExportWindow {
                deltas: self.baseline_deltas.clone().map(|d| Deltas {
                    elapsed: snap.at.saturating_sub(b.at),
                    tables: vec![Some(d)],
                }),
                start: Some(b.since),
                note: "since the baseline (z)".into(),
                said: "Δ since the baseline (z)".into(),
            };
        }
        let first = self
            .recent
            .iter()
            .find(|f| since.is_none_or(|at| f.at >= at))
            .filter(|f| !Arc::ptr_eq(f, snap.snapshot()));
        let deltas = match (first.and_then(|f| f.tables.first()), snap.tables.first()) {
            (Some(p), Some(c)) => Some(Deltas {
                elapsed: snap.at.saturating_sub(first.map_or(snap.at, |f| f.at)),
                tables: vec![Some(diff_table(p, c))],
            }),
            _ => None,
        };
        let note = match &deltas {
            Some(d) if d.elapsed + Duration::from_millis(500) < window => format!(
                "the last {} of polls: all there were of the {} asked for",
                format::duration(d.elapsed),
                format::duration(window)
            ),
            Some(_) => format!("the last {} of polls", format::duration(window)),
            None => "one poll: no window yet".into(),
        };
        let said = match &deltas {
            Some(d) => format!("Δ over the last {}", format::duration(d.elapsed)),
            None => "without Δ (one poll so far)".into(),
        };
        ExportWindow {
            deltas,
            start: first.map(|f| f.taken_at),
            note,
            said,
        }
    }
}

impl LiveView {
    /// The chain the view is drilled into, if any.
    pub fn drilled(&self) -> Option<String> {
        self.table_data().drill.last().map(|d| d.chain.clone())
    }
}
