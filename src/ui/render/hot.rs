//! The hot view (`o`): the rules that moved lately, fastest first.

use super::*;
use crate::sanitize::text as clean;
use crate::ui::live_view::HotRow;

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
    let shown_rows = &hot[offset..(offset + viewport).min(hot.len())];
    let (path_w, target_w, rule_w) = hot_widths(area.width, t, shown_rows);
    // PKT/S, PEAK (given up under 100 columns), ΔPKTS, MOVED, CHAIN PATH, TARGET; the
    // rule text takes the rest
    let peak_w = if area.width >= 100 { 7 } else { 0 };
    let widths = [7, peak_w, 7, 9, path_w as u16, target_w as u16];
    let rows: Vec<TRow> = shown_rows
        .iter()
        .map(|h| {
            // a rule, or the chain's end: its policy or what fell through it
            let (target, summary, shown, is_jump) = match h.rule {
                Some(r) => {
                    let rule = &t.chains[h.chain].rules[r];
                    (
                        rule.spec.target.to_string(),
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
                    truncate(&clean(&target), target_w),
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

/// The hot view's CHAIN PATH, TARGET and RULE widths for the rows on screen, sized by
/// what they hold: TARGET as wide as its longest (up to 28), the rule's match kept at
/// least [`RULE_MIN`] columns wide (what tells two ACCEPTs of one chain apart), and the
/// chain path the rest (cut from the left, the chains nearest the rule kept).
fn hot_widths(width: u16, t: &FirewallTable, rows: &[HotRow]) -> (usize, usize, usize) {
    // the number columns (PEAK only from 100 columns) and the spaces between the columns
    let peak = if width >= 100 { 7 } else { 0 };
    let avail = usize::from(width).saturating_sub(7 + peak + 7 + 9 + 6);
    let target = rows
        .iter()
        .map(|h| match h.rule {
            Some(r) => t.chains[h.chain].rules[r].spec.target.width(),
            None => t.chains[h.chain].policy().unwrap_or("RETURN").width(),
        })
        .max()
        .unwrap_or(6)
        .clamp(6, 28);
    let path = rows
        .iter()
        .map(|h| {
            h.path
                .iter()
                .map(|p| p.width() + 3)
                .sum::<usize>()
                .saturating_sub(3)
        })
        .max()
        .unwrap_or(10);
    let path_w = path.min(avail.saturating_sub(target + RULE_MIN)).max(10);
    let rule_w = avail.saturating_sub(path_w + target);
    (path_w, target, rule_w)
}

/// The hot view keeps this much of a rule's match before it gives the chain path room.
const RULE_MIN: usize = 24;
