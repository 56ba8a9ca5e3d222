//! kube-proxy's Services (`K`): the text of `--view services` over the live nat table,
//! scrolled with the movement keys.

use super::*;

pub(super) fn draw_services(frame: &mut Frame, area: Rect, app: &LiveView, theme: &Theme) {
    // the text of this frame, and its scroll kept within it, are the layout's
    let Some(text) = app.services_shown() else {
        frame.render_widget(
            Paragraph::new(
                " waiting for a poll of table nat (kube-proxy writes its Services there)…",
            ),
            area,
        );
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let shown: Vec<Line> = lines
        .iter()
        .skip(app.services_scroll())
        .take(area.height as usize)
        .map(|l| {
            if l.starts_with("SERVICE ") {
                Line::from(Span::styled(format!(" {l}"), theme.title_row()))
            } else if l.starts_with("warning:") {
                Line::from(Span::styled(format!(" {l}"), theme.warn()))
            } else {
                Line::from(format!(
                    " {}",
                    truncate(l, area.width.saturating_sub(1) as usize)
                ))
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(shown), area);
}
