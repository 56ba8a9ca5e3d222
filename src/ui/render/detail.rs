//! The detail pane: the selected rule or chain in full, with a rate sparkline.

use super::*;
use crate::sanitize::text as clean;

pub(super) fn draw_detail(frame: &mut Frame, area: Rect, app: &LiveView, theme: &Theme) {
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(" detail ", theme.title_row()))
        .border_style(theme.dim());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if app.screen() == Screen::Findings {
        // the selected finding in full (its line in the pane is cut to the width)
        if let Some(f) = app.findings().get(app.findings_selected()) {
            let f = &f.finding;
            let lines = vec![
                Line::from(vec![
                    Span::styled(
                        format!("{} ", f.severity.as_str()),
                        theme.severity(f.severity),
                    ),
                    Span::styled(f.id.as_str(), theme.chain_row()),
                ]),
                Line::from(f.message.clone()),
            ];
            frame.render_widget(
                Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: true }),
                inner,
            );
        }
        return;
    }
    let v = app.table_data();
    let (Some(snap), Some(row)) = (v.snap.as_ref(), app.selected_row()) else {
        return;
    };
    let t = snap.table();
    let view = v.shown_deltas();
    let [text_area, spark_area] = inner.layout(&Layout::horizontal([
        Constraint::Fill(3),
        Constraint::Fill(2),
    ]));
    let mut lines: Vec<Line> = Vec::new();
    let m = cells::movement(t, row, view.shown);
    let delta_words = |d: Option<crate::diff::Delta>| match d {
        Some(d) if d.reset => format!(
            "zeroed, then {} packets, {}",
            format::count(d.packets),
            format::bytes(d.bytes)
        ),
        Some(d) => format!(
            "Δ {} packets, {}",
            format::count(d.packets),
            format::bytes(d.bytes)
        ),
        None => "no Δ yet".into(),
    };
    match row.kind {
        RowKind::Verdict { chain } => verdict_lines(&mut lines, t, row, chain, m, theme),
        RowKind::Chain { chain } => {
            let c = &t.chains[chain];
            lines.push(Line::from(Span::styled(
                format!("chain {}", clean(&c.name)),
                theme.chain_row(),
            )));
            let base = c.native.as_ref().and_then(|n| n.base.as_ref());
            match &c.kind {
                ChainKind::Builtin { policy } if let Some(b) = base => {
                    lines.push(Line::from(format!(
                        "base chain: type {} hook {} priority {}; policy {} (nftables counts no policy)",
                        clean(&b.kind),
                        clean(&b.hook),
                        b.priority,
                        clean(policy)
                    )));
                }
                ChainKind::Builtin { policy } => lines.push(Line::from(format!(
                    "built-in, policy {}: {} packets, {} fell through to it; {}",
                    clean(policy),
                    c.packets,
                    format::bytes(c.bytes),
                    delta_words(m.delta().copied())
                ))),
                ChainKind::User { references } => lines.push(Line::from(format!(
                    "user chain, {} references",
                    references.map_or("?".into(), |n| n.to_string())
                ))),
            }
            lines.push(Line::from(format!("{} rules", c.rules.len())));
            if let Some(n) = crate::explain::notes::about(&t.name, &c.name) {
                lines.push(Line::from(Span::styled(
                    clean(&n.line()).into_owned(),
                    theme.dim(),
                )));
            }
        }
        RowKind::Ref { .. } => {
            lines.push(Line::from(
                clean(row.note.as_deref().unwrap_or_default()).into_owned(),
            ));
        }
        RowKind::Rule { chain, rule } => {
            let c = &t.chains[chain];
            let r = &c.rules[rule];
            let s = &r.spec;
            lines.push(Line::from(vec![
                Span::styled(format!("{} ", clean(&c.name)), theme.chain_row()),
                Span::raw(format!("rule {} of {}", r.num, c.rules.len())),
            ]));
            let target = if s.target.is_empty() {
                "(no target: counts only)"
            } else {
                &s.target
            };
            lines.push(Line::from(vec![
                Span::styled(
                    format!("{}{} ", clean(target), if s.goto { " [goto]" } else { "" }),
                    theme.target(&s.target, row.jump.is_some()),
                ),
                Span::raw(match &r.native {
                    // a native rule: its text (below) says what it matches
                    Some(n) => format!("nft rule, handle {}", n.handle),
                    None => format!(
                        "prot {}  in {}  out {}  {} → {}",
                        clean(&crate::model::protocol_name(&s.prot)),
                        clean(&s.in_iface),
                        clean(&s.out_iface),
                        clean(&s.source),
                        clean(&s.destination)
                    ),
                }),
            ]));
            if !s.extra.is_empty() {
                lines.push(Line::from(clean(&s.extra).into_owned()));
            }
            if let Some(d) = app.names.as_ref().and_then(|n| n.describe(s)) {
                lines.push(Line::from(clean(&d).into_owned()));
            }
            let native = c.rules[rule].native.as_deref();
            let k = c.counter(rule);
            if native.is_some_and(|n| !n.has_counter) {
                lines.push(Line::from(
                    "no counter: the rule has no `counter` statement, so nothing counts its packets (not 0: unknown); `counter` in the rule would show them",
                ));
            } else {
                lines.push(Line::from(format!(
                "{} packets, {} ({} bytes) · {}",
                k.packets,
                format::bytes(k.bytes),
                k.bytes,
                match m {
                    Movement::New => "new since the last poll".to_string(),
                    Movement::Unknown => {
                        "Δ unknown: a copy of this rule came or went, and the counters do not say which one this is".to_string()
                    }
                    _ => delta_words(m.delta().copied()),
                }
            )));
            }
            if let Some(n) = native.filter(|n| n.counters.len() > 1) {
                let all: Vec<String> = n
                    .counters
                    .iter()
                    .map(|k| format!("{} pkts {} bytes", k.packets, k.bytes))
                    .collect();
                lines.push(Line::from(format!(
                    "{} counters in the rule (the last is shown): {}",
                    n.counters.len(),
                    all.join(" · ")
                )));
            }
            let note = crate::explain::notes::shipped()
                .about_rule(&t.name, &c.name, s, app.source.netns.as_deref())
                .or_else(|| {
                    row.jump
                        .and_then(|j| crate::explain::notes::about(&t.name, &t.chains[j].name))
                });
            if let Some(n) = note {
                lines.push(Line::from(Span::styled(
                    clean(&n.line()).into_owned(),
                    theme.dim(),
                )));
            }
            if let Some(j) = row.jump {
                let target = &t.chains[j];
                // the count iptables printed in the chain's header
                let refs = target.references().unwrap_or(0);
                if refs > 1 {
                    lines.push(Line::from(Span::styled(
                        format!(
                            "{} is jumped to from {refs} rules: the counters below it are totals over all of them",
                            clean(&target.name)
                        ),
                        theme.dim(),
                    )));
                }
            }
        }
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: true }),
        text_area,
    );

    if let RowKind::Rule { chain, rule } = row.kind {
        let hist = v.history_of(t, chain, rule);
        let rates = hist.map(|h| h.rates(v.polls)).unwrap_or_default();
        let data: Vec<u64> = rates.iter().map(|r| (*r * 10.0).round() as u64).collect();
        let max = rates.iter().copied().fold(0.0, f32::max);
        let now = view.pps(t, row).unwrap_or(0.0);
        let uncounted = crate::cells::uncounted(t, row);
        let title = if uncounted {
            " no counter ".to_string()
        } else {
            format!(
                " pkt/s now {} · max {} ",
                format::rate(now),
                format::rate(f64::from(max))
            )
        };
        let block = Block::default()
            .borders(Borders::LEFT)
            .border_style(theme.dim())
            .title(title);
        let spark_in = block.inner(spark_area);
        frame.render_widget(block, spark_area);
        // newest at the right edge, older samples scrolling off to the left
        let w = spark_in.width as usize;
        let data = &data[data.len().saturating_sub(w)..];
        let mut padded = vec![0u64; w - data.len()];
        padded.extend_from_slice(data);
        frame.render_widget(
            Sparkline::default().data(padded).style(theme.sparkline()),
            spark_in,
        );
    }
}

/// The detail of a chain's end: its policy, or what fell through it and how that is
/// computed.
fn verdict_lines(
    lines: &mut Vec<Line>,
    t: &crate::model::FirewallTable,
    row: &crate::tree::TreeRow,
    chain: usize,
    m: cells::Movement,
    theme: &Theme,
) {
    let c = &t.chains[chain];
    let what = match c.policy() {
        Some(p) => format!(
            "the end of {}: its policy {p} takes what no rule decided on",
            c.name
        ),
        None => format!(
            "the end of {}: what reached it without a verdict goes back to the rule that jumped here (entered − left by verdict, RETURN or goto − kept in sub-chains)",
            c.name
        ),
    };
    lines.push(Line::from(Span::styled(
        what,
        theme.target(cells::verdict_of(t, row).unwrap_or_default(), false),
    )));
    let fell = crate::flow::fell_through_total(t, chain);
    let about = if fell.within_rounding() {
        "≈ (abbreviated counters: the rounding could account for all of it, ± "
    } else if fell.error() != crate::model::Counter::default() {
        "≈ (abbreviated counters, ± "
    } else {
        ""
    };
    let approx = if about.is_empty() {
        String::new()
    } else {
        format!("{about}{} packets) ", fell.error().packets)
    };
    lines.push(Line::from(match fell {
        crate::model::Fell::Inconsistent => format!(
            "{}: more left than entered, or packets past a rule that matches everything",
            cells::INCONSISTENT
        ),
        crate::model::Fell::Unreachable => {
            "nothing reaches it: a rule matches everything and ends the chain".to_string()
        }
        crate::model::Fell::Counted { .. } => format!(
            "{approx}{} packets, {} ({} bytes) · {}",
            fell.counted().unwrap_or_default().packets,
            format::bytes(fell.counted().unwrap_or_default().bytes),
            fell.counted().unwrap_or_default().bytes,
            match m.delta() {
                Some(d) => format!("Δ {} packets, {}", format::count(d.packets), format::bytes(d.bytes)),
                None if m == cells::Movement::Unknown => "Δ unknown".to_string(),
                None => "no Δ yet".to_string(),
            }
        ),
        crate::model::Fell::Unknown => "unknown: a chain it jumps to is also called from elsewhere, and the counters do not say whose packets it kept".to_string(),
    }));
}
