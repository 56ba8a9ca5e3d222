//! The trace pane (`T`): one line per traced packet, or one packet's path (Enter).

use super::*;

pub(super) fn draw_trace(frame: &mut Frame, area: Rect, app: &LiveView, theme: &Theme) {
    let viewport = area.height.saturating_sub(1) as usize;
    let t = app.trace();
    let Some(expr) = t.expr.as_deref().map(clean) else {
        let text = " no trace running: t and an nft expression starts one (e.g. tcp dport 80), as --trace EXPR does; T or Esc: back";
        frame.render_widget(Paragraph::new(text), area);
        return;
    };
    let mut title = format!(" trace {expr}: {} seen", t.seen);
    if t.lost > 0 {
        title.push_str(&format!(", events lost {} times", t.lost));
    }
    title.push_str(&format!(", last {} kept", t.packets.len()));
    if t.packets.is_empty() {
        title.push_str(" · waiting for a matching packet…");
    }
    let sel = t.selected.min(t.packets.len().saturating_sub(1));
    let mut lines = vec![Line::from(Span::styled(title, theme.title_row()))];
    if t.open
        && let Some(p) = t.packets.get(sel)
    {
        lines.push(Line::from(
            clean(&format!(" {}  → {}", p.summary, p.place)).into_owned(),
        ));
        for s in &p.steps {
            let step = format!("   {}", crate::report::trace::step_text(s));
            lines.push(Line::from(clean(&step).into_owned()));
        }
        lines.push(Line::from(" Enter or Esc: back to the list"));
    } else {
        let offset = sel.saturating_sub(viewport.saturating_sub(1));
        for (i, p) in t.packets.iter().enumerate().skip(offset).take(viewport) {
            let time = p
                .time
                .map(|t| {
                    crate::format::timestamp(t)
                        .get(11..19)
                        .unwrap_or_default()
                        .to_string()
                })
                .unwrap_or_default();
            let text = clean(&format!(" {time}  {}  → {}", p.summary, p.place)).into_owned();
            let style = if i == sel {
                theme.selected()
            } else if p.verdict == "drop" {
                theme.severity(crate::explain::findings::Severity::Warning)
            } else {
                Style::default()
            };
            lines.push(Line::from(Span::styled(text, style)));
        }
    }
    frame.render_widget(Paragraph::new(lines), area);
}
