//! Drawing the live view, one file per screen region:
//!
//! ```text
//! ┌──────────────────────────────────────────────────────────────┐
//! │ header.rs   source · table · interval · state marks          │ 1 line
//! │ header.rs   table tabs · breadcrumb                          │ 1 line (8+ lines tall)
//! ├──────────────────────────────────────────────────────────────┤
//! │ tree.rs     the tree table (or hot.rs: the hot view, `o`)    │ the rest
//! │             columns planned by ui/column_plan.rs             │
//! ├──────────────────────────────────────────────────────────────┤
//! │ detail.rs   the selected rule or chain, rate sparkline       │ 8 lines (see `draw`)
//! ├──────────────────────────────────────────────────────────────┤
//! │ footer.rs   key hints · message · search prompt              │ 1 line
//! └──────────────────────────────────────────────────────────────┘
//!   findings.rs the findings pane (`!`), services.rs kube-proxy's Services (`K`),
//!               in the main area instead of the tree
//!   overlay.rs  the help (`?`) with the selected chain's note, drawn over everything
//! ```
//!
//! Only the visible rows of the tree are built. Drawing takes `&LiveView`: what depends
//! on the frame's size (detail pane, list height, scroll) is fitted before by
//! `LiveView::layout`, which the UI loop calls with the frame's area.

mod detail;
mod findings;
mod footer;
mod header;
mod hot;
mod overlay;
mod services;
mod trace;
mod tree;

use std::time::Duration;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Paragraph, Row as TRow, Sparkline, Table as TTable, TableState,
};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::column_plan::layout_shown;
use super::history::HISTORY;
use super::keymap;
use super::live_view::LiveView;
use super::mode::{Overlay, Screen};
use super::theme::Theme;
use crate::cells::{self, Column, Kind, Movement};
use crate::format;
use crate::model::{ChainKind, FirewallTable, TABLES};
use crate::tree::{Fold, RowKind, TreeRow};

use crate::sanitize::text as clean;
use detail::draw_detail;
use findings::draw_findings;
use footer::draw_status;
use header::{draw_header, draw_tabs};
use hot::draw_hot;
use overlay::draw_help;
use services::draw_services;
use tree::draw_tree;

/// A list pane (hot view, findings): fixed-width columns and a last one that fills the
/// rest, the title row, row `selected` (counted from the first row shown) highlighted.
fn draw_list(
    frame: &mut Frame,
    area: Rect,
    rows: Vec<TRow>,
    header: TRow,
    widths: &[u16],
    selected: usize,
    theme: &Theme,
) {
    let constraints = widths
        .iter()
        .map(|&w| Constraint::Length(w))
        .chain([Constraint::Fill(1)]);
    let table = TTable::new(rows, constraints)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(theme.selected());
    let mut state = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, area, &mut state);
}

/// Cuts `s` to `width` columns, ending in `…` when it had to cut.
pub fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > width - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

pub(super) fn pad_left(s: &str, width: usize) -> String {
    let s = truncate(s, width);
    format!("{}{s}", " ".repeat(width.saturating_sub(s.width())))
}

pub(super) fn waiting(frame: &mut Frame, area: Rect, app: &LiveView, theme: &Theme) {
    let v = app.table_data();
    let text = match &v.error {
        Some(e) => Line::from(vec![
            Span::styled(" no listing of this table: ", theme.error()),
            Span::raw(format!(" {}", clean(&e.to_string()))),
        ]),
        None if app.playback().replay && app.playback().ended => Line::from(format!(
            " the replay has no listing of table {}",
            app.tab_label(app.current())
        )),
        None => Line::from(format!(
            " waiting for the first poll of table {}…",
            app.tab_label(app.current())
        )),
    };
    frame.render_widget(Paragraph::new(text), area);
}

pub(super) fn pad_right(s: &str, width: usize) -> String {
    format!("{s}{}", " ".repeat(width.saturating_sub(s.width())))
}

/// Draws a frame of the view. It only reads the view: what depends on the frame's size
/// (the detail pane, the list's height, the scroll) was fitted by
/// [`LiveView::layout`] for this frame's area first.
pub fn draw(frame: &mut Frame, app: &LiveView, theme: &Theme) {
    let area = frame.area();
    if area.height == 0 || area.width == 0 {
        return;
    }
    let r = app.regions(area);
    draw_header(frame, r.header, app, theme);
    if r.tabs.height > 0 {
        draw_tabs(frame, r.tabs, app, theme);
    }
    match app.screen() {
        Screen::Tree => draw_tree(frame, r.main, app, theme),
        Screen::Hot => draw_hot(frame, r.main, app, theme),
        Screen::Findings => draw_findings(frame, r.main, app, theme),
        Screen::Services => draw_services(frame, r.main, app, theme),
        Screen::Path => crate::ui::pathview::draw(frame, r.main, app, theme),
        Screen::Trace => trace::draw_trace(frame, r.main, app, theme),
    }
    if r.detail.height > 0 {
        draw_detail(frame, r.detail, app, theme);
    }
    draw_status(frame, r.status, app, theme);
    if app.shows_help() {
        draw_help(frame, area, app, theme);
    }
    crate::sanitize::scrub(frame.buffer_mut());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation() {
        assert_eq!(truncate("DOCKER-ISOLATION-STAGE-1", 10), "DOCKER-IS…");
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(truncate("漢字漢字", 5), "漢字…");
        assert_eq!(truncate("☃☃☃", 3), "☃☃☃");
        assert_eq!(pad_left("12", 5), "   12");
    }
}
