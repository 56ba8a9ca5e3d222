//! The header line (source, table, interval, state marks) and the table tabs with the breadcrumb.

use super::*;
use crate::sanitize::text as clean;

pub(super) fn draw_header(frame: &mut Frame, area: Rect, app: &LiveView, theme: &Theme) {
    let v = app.table_data();
    let id = app.table_id();
    // the path view shows every table: it is named, not the tab's table
    let what = if app.screen() == Screen::Path {
        "path".into()
    } else if let Some(k) = id.native {
        let (family, name) = app.native_name(k as usize).cloned().unwrap_or_default();
        format!("{} {} · nftables", clean(&family), clean(&name))
    } else {
        clean(&id.label()).into_owned()
    };
    let mut left = format!(" iptop · {what} · {}", clean(&app.source.describe()));
    // auto: the back end(s) this table's rules are in (the tab shows one of two)
    if app.source.backend.is_none() {
        let mut b: Vec<&str> = app
            .tabs()
            .iter()
            .zip(app.tables())
            .filter(|(t, _)| t.name == id.name)
            .filter_map(|(_, d)| d.table().and_then(|t| t.backend))
            .map(crate::model::Backend::as_str)
            .collect();
        b.dedup();
        if !b.is_empty() {
            left.push_str(" · ");
            left.push_str(&b.join(" + "));
        }
    }
    let mut right = String::new();
    if app.playback().replay {
        right.push_str("recorded pace");
    } else {
        right.push_str(&format!(
            "every {}",
            format::duration(app.playback().interval)
        ));
        if let Some(s) = app.playback().effective_interval {
            right.push_str(&format!(" (slow polls: {})", format::duration(s)));
        }
        // a big legacy table: its counters read every few polls
        if let Some(s) = v.spared {
            let every = app
                .playback()
                .effective_interval
                .unwrap_or(app.playback().interval);
            right.push_str(&format!(
                " · counters every {}",
                format::duration(every * s.every)
            ));
        }
    }
    if let Some((at, took)) = v.polled() {
        let t = humantime::format_rfc3339_seconds(at).to_string();
        let clock = t.get(11..19).unwrap_or(&t).to_string();
        right.push_str(&format!(" · {clock} took {} ", format::duration(took)));
    } else {
        right.push(' ');
    }
    let mut marks: Vec<Span> = Vec::new();
    if let Some(worst) = app.worst_finding() {
        let n = app.findings().len();
        marks.push(Span::styled(
            format!(" ! {n} finding{} ", if n == 1 { "" } else { "s" }),
            theme.severity(worst),
        ));
    }
    if app.playback().paused {
        marks.push(Span::styled(" PAUSED ", theme.warn()));
    }
    if v.error.is_some() && v.snap.is_some() {
        marks.push(Span::styled(" STALE ", theme.error()));
    }
    if app.playback().ended {
        marks.push(Span::styled(" END OF REPLAY ", theme.warn()));
    }
    let width = area.width as usize;
    let mw: usize = marks.iter().map(|s| s.content.width()).sum();
    // the source description gives way first, then the timing
    let right = truncate(&right, width.saturating_sub(mw));
    let lw = width.saturating_sub(mw + right.width());
    let left = truncate(&left, lw.saturating_sub(1));
    let mut spans = vec![Span::raw(pad_right(&left, lw)), Span::raw(right)];
    spans.extend(marks);
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(theme.header()),
        area,
    );
}

pub(super) fn draw_tabs(frame: &mut Frame, area: Rect, app: &LiveView, theme: &Theme) {
    let mut spans = Vec::new();
    for (i, t) in app.tabs().iter().enumerate() {
        // the digit once per table; both back ends' tabs of a table side by side;
        // native tables after iptables' five (6, 7, ... up to 9)
        let first = i == 0 || app.tabs()[i - 1].name != t.name || t.native.is_some();
        let n = match t.native {
            Some(k) => TABLES.len() + k as usize + 1,
            None => TABLES
                .iter()
                .position(|n| *n == t.name)
                .map_or(0, |n| n + 1),
        };
        let label = match (first, n) {
            (true, 1..=9) => format!(" {n} {} ", app.tab_label(i)),
            _ => format!(" {} ", app.tab_label(i)),
        };
        spans.push(Span::styled(label, theme.tab(i == app.current())));
    }
    let v = app.table_data();
    let mut tags: Vec<String> = Vec::new();
    let crumb = app.breadcrumb().map(|c| clean(&c).into_owned());
    if let Some(c) = &crumb {
        tags.push(c.clone());
    } else if !app.root_chains().is_empty() {
        tags.push(format!("from {}", clean(&app.root_chains().join(", "))));
    }
    match app.screen() {
        Screen::Hot => tags.push("hot: by rate now, then last moved".into()),
        Screen::Findings => tags.push(format!(
            "findings of the last {}: Enter shows the rule",
            crate::format::duration(app.export_window)
        )),
        Screen::Services => tags.push("kube-proxy Services (nat)".into()),
        Screen::Path => tags.push("path: every table, hook by hook (v: back)".into()),
        Screen::Trace => tags.push("trace: Enter shows a packet's path (T: back)".into()),
        Screen::Tree => {}
    }
    if app.moved_only {
        tags.push("only moved".into());
    }
    if let Some(b) = &v.baseline {
        let secs = v
            .snap
            .as_ref()
            .map(|s| s.at.saturating_sub(b.at))
            .unwrap_or_default();
        tags.push(format!("Δ since baseline ({} ago)", format::duration(secs)));
    }
    if !app.search().query.is_empty() && !app.searching() {
        tags.push(match app.search().found {
            Some((0, _)) => format!("search “{}”: no match", clean(&app.search().query)),
            Some((i, n)) => format!("search “{}” {i}/{n} (n/N)", clean(&app.search().query)),
            None => format!("search “{}” (n/N)", clean(&app.search().query)),
        });
    }
    if let Some(c) = &crumb {
        // a deep drill keeps the chains nearest it: the path is cut from the left
        let used: usize = spans.iter().map(Span::width).sum::<usize>()
            + 2
            + tags[1..].iter().map(|t| t.width() + 5).sum::<usize>();
        let room = (area.width as usize).saturating_sub(used).max(12);
        let parts: Vec<String> = c.split(" › ").map(str::to_string).collect();
        tags[0] = crate::ui::fit::path_from_right(&parts, room);
    }
    if !tags.is_empty() {
        spans.push(Span::styled("  ", Style::new()));
        spans.push(Span::styled(tags.join("  ·  "), theme.warn()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
