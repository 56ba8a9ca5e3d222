//! The findings pane (`!`): one line per finding of the window, worst first: severity,
//! id, when it was last seen, where (table, chain › rule) and what it means.

use super::*;

pub(super) fn draw_findings(frame: &mut Frame, area: Rect, app: &LiveView, theme: &Theme) {
    let viewport = area.height.saturating_sub(1) as usize;
    if app.findings().is_empty() {
        let text = if app.tables().iter().all(|v| v.snap.is_none()) {
            " waiting for the first poll…".to_string()
        } else {
            format!(
                " no finding in the last {}: none of the known traps matched; ! or Esc: back to the tree",
                format::duration(app.export_window)
            )
        };
        frame.render_widget(Paragraph::new(text), area);
        return;
    }
    let sel = app.findings_selected().min(app.findings().len() - 1);
    let offset = sel.saturating_sub(viewport.saturating_sub(1));
    let id_w = app
        .findings()
        .iter()
        .map(|f| f.finding.id.as_str().width())
        .max()
        .unwrap_or(10);
    let places: Vec<String> = app.findings().iter().map(|f| place(app, f)).collect();
    let place_w = places
        .iter()
        .map(|p| p.width())
        .max()
        .unwrap_or(10)
        .min(area.width as usize / 3);
    let widths = [8u16, id_w as u16, 7, place_w as u16];
    let used: u16 = widths.iter().map(|w| w + 1).sum();
    let msg_w = area.width.saturating_sub(used) as usize;
    let rows: Vec<TRow> = app.findings()[offset..(offset + viewport).min(app.findings().len())]
        .iter()
        .zip(&places[offset..])
        .map(|(lf, p)| {
            let f = &lf.finding;
            let seen = if lf.ago < Duration::from_millis(500) {
                "now".to_string()
            } else {
                format!("{}s ago", lf.ago.as_secs_f64().round() as u64)
            };
            TRow::new(vec![
                Cell::from(Span::styled(
                    pad_right(f.severity.as_str(), 8),
                    theme.severity(f.severity),
                )),
                Cell::from(f.id.as_str()),
                Cell::from(Span::styled(
                    pad_left(&seen, 7),
                    if lf.ago.is_zero() {
                        Style::default()
                    } else {
                        theme.dim()
                    },
                )),
                Cell::from(truncate(p, place_w)),
                Cell::from(truncate(&f.message, msg_w)),
            ])
        })
        .collect();
    let header = TRow::new(["SEVERITY", "FINDING", "   SEEN", "WHERE", "WHAT IT MEANS"])
        .style(theme.title_row());
    draw_list(frame, area, rows, header, &widths, sel - offset, theme);
}

/// `filter INPUT › 3`, `nat DOCKER`, with the back end when both hold the table.
fn place(app: &LiveView, f: &crate::ui::live_view::LiveFinding) -> String {
    let f2 = &f.finding;
    let mut s = app.tab_label(f.tab);
    if let Some(c) = &f2.chain {
        s.push(' ');
        s.push_str(c);
    }
    if let Some(r) = f2.rule {
        s.push_str(&format!(" › {r}"));
    }
    s
}
