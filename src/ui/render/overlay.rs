//! Overlays drawn over the rest: the help (`?`).

use super::*;

pub(super) fn draw_help(frame: &mut Frame, area: Rect, theme: &Theme) {
    let help = keymap::help_lines();
    let kw0 = help.clone().map(|(k, _)| k.width()).max().unwrap_or(10);
    let dw = help.clone().map(|(_, d)| d.width()).max().unwrap_or(10);
    let w = ((kw0 + dw + 6) as u16).min(area.width);
    let h = (help.clone().count() as u16 + 4).min(area.height);
    let rect = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .title(Span::styled(" keys — any key closes ", theme.title_row()))
        .border_style(theme.key());
    let kw = help.clone().map(|(k, _)| k.width()).max().unwrap_or(10);
    let mut lines: Vec<Line> = help
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {}", pad_right(k, kw)), theme.key()),
                Span::raw(format!("  {what}")),
            ])
        })
        .collect();
    lines.push(Line::from(Span::styled(
        " iptop only lists rules: z sets a local baseline, never iptables -Z",
        theme.dim(),
    )));
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}
