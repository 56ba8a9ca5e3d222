//! The status line: key hints, a message, the prompt of a search.

use super::*;
use crate::sanitize::text as clean;

pub(super) fn draw_status(frame: &mut Frame, area: Rect, app: &LiveView, theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let v = app.table_data();
    // a message wider than the line ends in `…` (the findings pane and `--once` have it whole)
    let fit = |s: String| truncate(&s, area.width as usize);
    let line = if let Some(c) = app.caption() {
        Line::from(Span::styled(fit(format!(" {}", clean(c))), theme.dim()))
    } else if let Some(Overlay::TracePrompt(text)) = app.overlay() {
        Line::from(vec![
            Span::styled("trace ", theme.key()),
            Span::raw(clean(text).into_owned()),
            Span::styled("█", theme.dim()),
            Span::styled("   Enter start (empty: stop) · Esc cancel", theme.dim()),
        ])
    } else if app.searching() {
        Line::from(vec![
            Span::styled("/", theme.key()),
            Span::raw(clean(&app.search().query).into_owned()),
            Span::styled("█", theme.dim()),
            Span::styled(
                match app.search().found {
                    _ if app.search().query.is_empty() => String::new(),
                    Some((0, _)) => "   no match".to_string(),
                    Some((i, n)) => format!("   {i}/{n}"),
                    None => String::new(),
                },
                theme.warn(),
            ),
            Span::styled("   Enter keep · Esc cancel", theme.dim()),
        ])
    } else if let Some(m) = &app.message {
        Line::from(Span::styled(fit(format!(" {}", clean(m))), theme.warn()))
    } else if let Some(e) = &v.error {
        // what is on screen first (a long error is cut at its end, not there)
        let since = v
            .snap
            .as_ref()
            .map(|s| {
                let t = humantime::format_rfc3339_seconds(s.taken_at).to_string();
                format!(
                    "showing the poll of {}, retrying: ",
                    t.get(11..19).unwrap_or(&t)
                )
            })
            .unwrap_or_default();
        Line::from(Span::styled(
            fit(format!(" ⚠ {since}{}", clean(&e.to_string()))),
            theme.error(),
        ))
    } else if let Some(n) = app.notice() {
        Line::from(Span::styled(fit(format!(" {}", clean(n))), theme.warn()))
    } else if let Some(w) = v.snap.as_ref().and_then(|s| s.warnings.first()) {
        Line::from(Span::styled(fit(format!(" {}", clean(w))), theme.warn()))
    } else {
        let hints = keymap::hints_on(app.screen());
        // whole hints only: a narrow terminal drops the last ones rather than cut one
        let mut spans = vec![Span::raw(" ")];
        let mut used = 1;
        for (k, what) in hints {
            let w = k.width() + 1 + what.width();
            if used + w > area.width as usize {
                break;
            }
            used += w + 2;
            spans.push(Span::styled(k, theme.key()));
            spans.push(Span::raw(format!(" {what}  ")));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}
