//! Overlays drawn over the rest: the help (`?`), with what the selected chain is for.

use super::*;
use crate::ui::help::{self, HelpLine};

pub(super) fn draw_help(frame: &mut Frame, area: Rect, app: &LiveView, theme: &Theme) {
    let note = app.selected_chain_note();
    let (help, w) = help::lines(area.width, note.as_ref());
    let mut lines: Vec<Line> = help
        .into_iter()
        .map(|l| match l {
            HelpLine::Key(k, what) => {
                Line::from(vec![Span::styled(k, theme.key()), Span::raw(what)])
            }
            HelpLine::More(t) | HelpLine::Text(t) => Line::from(t),
            HelpLine::Dim(t) => Line::from(Span::styled(t, theme.dim())),
            HelpLine::Blank => Line::from(""),
            HelpLine::Chain(c, by) => {
                Line::from(vec![Span::styled(c, theme.chain_row()), Span::raw(by)])
            }
        })
        .collect();
    // a blank line at the end unless a note closes the box
    if note.is_none() {
        lines.push(Line::from(""));
    }
    let n = lines.len();
    let w = w.min(area.width);
    let h = (n as u16 + 2).min(area.height);
    let scroll = help::clamp_scroll(app.help_scroll(), n, h);
    let rect = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, rect);
    let cut = n > usize::from(h.saturating_sub(2));
    let title = if cut {
        " keys — ↑↓ PgUp PgDn scroll, any other key closes "
    } else {
        " keys — any key closes "
    };
    let mut block = Block::bordered()
        .title(Span::styled(title, theme.title_row()))
        .border_style(theme.key());
    if cut {
        let below = n.saturating_sub(usize::from(scroll) + usize::from(h.saturating_sub(2)));
        let at = if below > 0 {
            format!(" ↓ {below} more ")
        } else {
            " end ".to_string()
        };
        block = block.title_bottom(Line::from(Span::styled(at, theme.dim())).right_aligned());
    }
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), rect);
}
