//! The hot view (`o`): the rules that moved lately, fastest first.

use super::*;
use crate::sanitize::text as clean;

pub(super) fn draw_hot(frame: &mut Frame, area: Rect, app: &LiveView, theme: &Theme) {
    let Some(snap) = app.table_data().snap.clone() else {
        waiting(frame, area, app, theme);
        return;
    };
    let t = snap.table();
    let hot = app.hot_shown();
    let viewport = area.height.saturating_sub(1) as usize;
    if hot.is_empty() {
        let span = format::duration(app.playback().interval * HISTORY as u32);
        frame.render_widget(
            Paragraph::new(format!(
                " no rule moved in the last {HISTORY} polls (~{span}); o or Esc: back to the tree"
            )),
            area,
        );
        return;
    }
    let sel = app.hot_selected().min(hot.len() - 1);
    let offset = sel.saturating_sub(viewport.saturating_sub(1));
    let view = app.table_data().shown_deltas();
    let path_w = (area.width as usize * 2 / 5).clamp(10, 60);
    // PKT/S, PEAK, ΔPKTS, MOVED, CHAIN PATH, TARGET; the rule text takes the rest
    let widths = [7, 7, 7, 9, path_w as u16, 16];
    let used: u16 = widths.iter().map(|w| w + 1).sum();
    let rule_w = area.width.saturating_sub(used) as usize;
    let rows: Vec<TRow> = hot[offset..(offset + viewport).min(hot.len())]
        .iter()
        .map(|h| {
            // a rule, or the chain's end: its policy or what fell through it
            let (target, summary, shown, is_jump) = match h.rule {
                Some(r) => {
                    let rule = &t.chains[h.chain].rules[r];
                    (
                        rule.spec.target.clone(),
                        rule.spec.summary(),
                        view.shown.and_then(|d| d.rule(h.chain, r)).copied(),
                        t.jump_target(rule).is_some(),
                    )
                }
                None => {
                    let c = &t.chains[h.chain];
                    let label = match c.policy() {
                        Some(p) => format!("policy {p}"),
                        None => crate::cells::FELL_THROUGH.to_string(),
                    };
                    (
                        c.policy().unwrap_or("RETURN").to_string(),
                        label,
                        view.shown.and_then(|d| {
                            crate::flow::as_delta(crate::flow::fell_through_window(t, d, h.chain))
                        }),
                        false,
                    )
                }
            };
            let (rate_style, last) = match h.idle_for {
                None => (theme.moved(false), "now".to_string()),
                Some(d) => (
                    theme.dim(),
                    format!("{} ago", format::duration(Duration::from_secs(d.as_secs()))),
                ),
            };
            TRow::new(vec![
                Cell::from(Span::styled(pad_left(&format::rate(h.pps), 7), rate_style)),
                Cell::from(pad_left(&format::rate(h.peak), 7)),
                Cell::from(pad_left(
                    &shown.map(|d| format::count(d.packets)).unwrap_or_default(),
                    7,
                )),
                Cell::from(Span::styled(pad_left(&last, 9), rate_style)),
                Cell::from(crate::ui::fit::path_from_right(
                    &h.path
                        .iter()
                        .map(|p| clean(p).into_owned())
                        .collect::<Vec<_>>(),
                    path_w,
                )),
                Cell::from(Span::styled(
                    truncate(&clean(&target), 16),
                    theme.target(&target, is_jump),
                )),
                Cell::from(truncate(&clean(&summary), rule_w)),
            ])
        })
        .collect();
    let header = TRow::new([
        "  PKT/S",
        "   PEAK",
        "  ΔPKTS",
        "    MOVED",
        "CHAIN PATH",
        "TARGET",
        "RULE",
    ])
    .style(theme.title_row());
    draw_list(frame, area, rows, header, &widths, sel - offset, theme);
}
