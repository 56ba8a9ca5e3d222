//! The path view in the live view (key `v`, or `--view path`): the built-in chains of
//! every table hook by hook in netfilter's order, as `--view path` prints them, with the
//! Δ on screen (per poll, or since the baseline). The poller lists every table while it
//! is on. Read-only: it scrolls; `v` or Esc goes back to the tree.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::Paragraph;

use super::action::{Action, Command};
use super::live_view::LiveView;
use super::mode::{Overlay, Screen};
use super::path_picture;
use super::theme::Theme;
use crate::diff::Deltas;
use crate::model::Snapshot;
use crate::report::path;

/// What the path view shows: every table at the last poll, and their deltas.
pub struct PathSnapshot {
    pub snap: Arc<Snapshot>,
    pub deltas: Option<Deltas>,
    /// For an export: what window the deltas cover, and when it started.
    pub note: String,
    pub start: Option<std::time::SystemTime>,
    /// For the status line: `Δ over the last 10s`.
    pub said: String,
}

impl LiveView {
    /// Turns the path view on or off.
    pub fn toggle_path(&mut self) {
        let on = self.screen != Screen::Path;
        self.path.offset = 0;
        self.path.lines.take();
        self.screen = if on { Screen::Path } else { Screen::Tree };
        self.pending.commands.push(Command::AllTables(on));
    }

    /// Every table's last snapshot in one, and the deltas on screen for each: what the
    /// path view shows (`export`: the export window's deltas instead, with what window
    /// they cover and when it started).
    pub fn path_snapshot(&self, export: bool) -> Option<PathSnapshot> {
        let cur = self.table_data().snap.clone()?;
        let mut tables = Vec::new();
        let mut deltas = Vec::new();
        let mut elapsed = self.table_data().window;
        let mut start = None;
        let mut note = String::new();
        let mut said = String::new();
        // iptables' tables, then the native tables' tabs (read on every poll)
        let natives = (0..self.tabs().len()).filter(|&i| self.tabs()[i].native.is_some());
        let tabs: Vec<usize> = path::TABLES
            .iter()
            .filter_map(|name| self.tab_of(name))
            .chain(natives)
            .collect();
        // an export counts every table over the same polls: from the latest of their
        // first kept polls (a table polled only since the path view opened has fewer)
        let firsts: Vec<std::time::Duration> = tabs
            .iter()
            .filter(|&&i| self.tables()[i].snap.is_some())
            .filter_map(|&i| self.tables()[i].window_first_at())
            .collect();
        let since = firsts.iter().max().copied();
        let cut_short = firsts.iter().any(|&at| Some(at) < since);
        let mut notes: Vec<(String, String)> = Vec::new();
        for i in tabs {
            let v = &self.tables()[i];
            let Some(t) = v.snap.as_ref().and_then(|s| s.tables.first()) else {
                continue;
            };
            tables.push(t.clone());
            if export {
                let w = v.export_window_since(self.export_window, since);
                notes.push((self.tab_label(i), w.note.clone()));
                if i == self.current() || note.is_empty() {
                    note = w.note;
                    said = w.said;
                    start = w.start;
                    if let Some(d) = &w.deltas {
                        elapsed = d.elapsed;
                    }
                }
                deltas.push(w.deltas.and_then(|d| d.tables.into_iter().next().flatten()));
            } else {
                deltas.push(v.shown_deltas().shown.cloned());
            }
        }
        if notes.iter().any(|(_, n)| *n != note) {
            // a baseline on some tables: each table's own window
            let each: Vec<String> = notes.iter().map(|(t, n)| format!("{t}: {n}")).collect();
            note = each.join("; ");
        } else if cut_short {
            note.push_str(
                ", every table over the same polls (the path view polls every table since it opened)",
            );
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
            said,
        })
    }

    /// Keys taken before the mode's own: Ctrl-c quits from anywhere, the arrows and page
    /// keys scroll the help and any other key closes it (`q` too: the program stays), the
    /// path view's keys. True: taken.
    pub(crate) fn intercept(&mut self, action: Action) -> bool {
        if let Some(Overlay::Help(s)) = self.overlay {
            // a page: the screen's height less the box's borders
            let page = self.viewport().max(1) as u16;
            let s = match action {
                Action::Down | Action::ScrollDown(_) => Some(s.saturating_add(1)),
                Action::Up | Action::ScrollUp(_) => Some(s.saturating_sub(1)),
                Action::PageDown => Some(s.saturating_add(page)),
                Action::PageUp => Some(s.saturating_sub(page)),
                Action::Top => Some(0),
                _ => None,
            };
            self.quit |= action == Action::Interrupt;
            self.overlay = s.map(Overlay::Help);
            return true;
        }
        if action == Action::Interrupt {
            self.quit = true;
            return true;
        }
        self.screen == Screen::Path && self.apply_path(action)
    }

    /// A key in the path view; false: not one of its own (the common keys apply).
    pub(crate) fn apply_path(&mut self, action: Action) -> bool {
        // scrolling moves over the lines drawn; any other key may change them
        let scrolls = matches!(
            action,
            Action::Up
                | Action::Down
                | Action::ScrollUp(_)
                | Action::ScrollDown(_)
                | Action::PageUp
                | Action::PageDown
                | Action::Top
                | Action::Bottom
        );
        if !scrolls {
            self.path.lines.take();
        }
        let page = self.viewport().max(1) as isize;
        match action {
            Action::Up | Action::ScrollUp(_) => self.scroll_path(-1),
            Action::Down | Action::ScrollDown(_) => self.scroll_path(1),
            Action::PageUp => self.scroll_path(-page),
            Action::PageDown => self.scroll_path(page),
            Action::Top => self.path.offset = 0,
            Action::Bottom => self.scroll_path(isize::MAX / 2),
            Action::TogglePath | Action::Back => self.toggle_path(),
            // only the rules that moved, with their chain paths, hook by hook
            Action::ToggleMovedOnly => self.moved_only = !self.moved_only,
            Action::ToggleHelp => self.overlay = Some(Overlay::Help(0)),
            Action::Quit
            | Action::Baseline
            | Action::ClearBaseline
            | Action::TogglePause
            | Action::IntervalLonger
            | Action::IntervalShorter
            | Action::Export
            | Action::TracePrompt
            | Action::Step => return false,
            _ => {}
        }
        true
    }

    /// Moves the path view by `by` lines (negative: up).
    pub fn scroll_path(&mut self, by: isize) {
        let n = self.path.lines.get().map_or(0, |l| l.len());
        let max = n.saturating_sub(self.viewport().max(1));
        self.path.offset = self.path.offset.saturating_add_signed(by).min(max);
    }
}

/// Draws the path view into `area` (the tree's place).
pub fn draw(frame: &mut Frame, area: Rect, app: &LiveView, theme: &Theme) {
    let lines = app.path.lines.get_or_init(|| {
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
            let traced = |t: &crate::model::FirewallTable,
                          rows: &[crate::tree::TreeRow],
                          r: &crate::tree::TreeRow| {
                app.traced_path(t)
                    .is_some_and(|p| LiveView::traced_row(p, t, rows, r))
            };
            let model = crate::derive::path::path(&input, crate::derive::Want::PICTURE);
            // fitted to the screen: the match text stays readable at 80 columns
            path_picture::styled_lines_within(
                &model,
                &path::LIVE_COLUMNS,
                false,
                theme,
                Some(&traced),
                Some(area.width),
            )
        });
        Arc::new(lines.unwrap_or_default())
    });
    if lines.is_empty() {
        frame.render_widget(Paragraph::new(" waiting for the tables…"), area);
        return;
    }
    let first = app.path.offset.min(lines.len().saturating_sub(1));
    path_picture::draw_lines(frame.buffer_mut(), area, lines, first);
}
