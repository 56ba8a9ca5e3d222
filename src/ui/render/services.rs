//! kube-proxy's Services (`K`): the text of `--view services` over the live nat table,
//! scrolled with the movement keys.

use super::*;

pub(super) fn draw_services(frame: &mut Frame, area: Rect, app: &mut LiveView, theme: &Theme) {
    app.viewport = area.height.max(1) as usize;
    let Some(text) = app.services_text() else {
        frame.render_widget(
            Paragraph::new(
                " waiting for a poll of table nat (kube-proxy writes its Services there)…",
            ),
            area,
        );
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let max = lines.len().saturating_sub(area.height as usize);
    app.clamp_services_scroll(max);
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
