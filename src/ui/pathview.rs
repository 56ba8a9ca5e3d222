//! The path view in the live view (key `v`, or `--view path`): the built-in chains of
//! every table hook by hook in netfilter's order, as `--view path` prints them, with the
//! Δ on screen (per poll, or since the baseline). The poller lists every table while it
//! is on. Read-only: it scrolls; `v` or Esc goes back to the tree.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::Paragraph;

use super::state::{App, Command};
use super::theme::Theme;
use crate::diff::Deltas;
use crate::model::{Snapshot, TABLES};
use crate::report::path::{self, Piece};

/// What the path view shows: every table at the last poll, and their deltas.
pub struct PathSnapshot {
    pub snap: Arc<Snapshot>,
    pub deltas: Option<Deltas>,
    /// For an export: what window the deltas cover, and when it started.
    pub note: String,
    pub start: Option<std::time::SystemTime>,
}

impl App {
    /// Turns the path view on or off.
    pub fn toggle_path(&mut self) {
        self.path_view = !self.path_view;
        self.path_offset = 0;
        self.path_lines = None;
        self.hot = false;
        self.commands.push(Command::AllTables(self.path_view));
    }

    /// Every table's last snapshot in one, and the deltas on screen for each: what the
    /// path view shows (`export`: the export window's deltas instead, with what window
    /// they cover and when it started).
    pub fn path_snapshot(&self, export: bool) -> Option<PathSnapshot> {
        let cur = self.view().snap.clone()?;
        let mut tables = Vec::new();
        let mut deltas = Vec::new();
        let mut elapsed = self.view().window;
        let mut start = None;
        let mut note = String::new();
        for name in path::TABLES {
            let Some(i) = TABLES.iter().position(|t| *t == name) else {
                continue;
            };
            let v = &self.tables[i];
            let Some(t) = v.snap.as_ref().and_then(|s| s.tables.first()) else {
                continue;
            };
            tables.push(t.clone());
            if export {
                let w = v.export_window(self.export_window);
                if i == self.current || note.is_empty() {
                    note = w.note;
                    start = w.start;
                    if let Some(d) = &w.deltas {
                        elapsed = d.elapsed;
                    }
                }
                deltas.push(w.deltas.and_then(|d| d.tables.into_iter().next().flatten()));
            } else {
                deltas.push(v.delta_view().shown.cloned());
            }
        }
        let snap = Snapshot {
            tables,
            ..(*cur).clone()
        };
        let any = deltas.iter().any(Option::is_some);
        let deltas = any.then_some(Deltas {
            elapsed,
            tables: deltas,
        });
        Some(PathSnapshot {
            snap: Arc::new(snap),
            deltas,
            note,
            start,
        })
    }

    /// Moves the path view by `by` lines (negative: up).
    pub fn scroll_path(&mut self, by: isize) {
        let n = self.path_lines.as_ref().map_or(0, |l| l.len());
        let max = n.saturating_sub(self.viewport.max(1));
        self.path_offset = self.path_offset.saturating_add_signed(by).min(max);
    }
}

/// Draws the path view into `area` (the tree's place).
pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme) {
    if app.path_lines.is_none() {
        let lines = app.path_snapshot(false).map(|p| {
            let input = crate::report::Input {
                snapshot: &p.snap,
                deltas: p.deltas.as_ref(),
                window_start: None,
                source: &app.source,
                roots: &[],
                moved_only: app.moved_only,
                names: app.names.as_deref(),
                window_note: None,
            };
            // nothing folds here: a hook that opened and closed with every poll would jump
            path::styled_lines(&input, &path::LIVE_COLUMNS, false, theme)
        });
        app.path_lines = Some(Arc::new(lines.unwrap_or_default()));
    }
    let lines: Arc<Vec<Vec<Piece>>> = app.path_lines.clone().unwrap_or_default();
    app.viewport = (area.height as usize).max(1);
    if lines.is_empty() {
        frame.render_widget(Paragraph::new(" waiting for the tables…"), area);
        return;
    }
    let first = app.path_offset.min(lines.len().saturating_sub(1));
    path::draw_lines(frame.buffer_mut(), area, &lines, first);
}
