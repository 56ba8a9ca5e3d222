//! Drawing the live view: header, table tabs and breadcrumb, the tree table (only the
//! visible rows are built), the detail pane with a rate sparkline, the status line, and
//! the help overlay.

use std::time::Duration;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Paragraph, Row as TRow, Sparkline, Table as TTable, TableState,
};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::keys::HELP;
use super::state::{App, HISTORY};
use super::theme::Theme;
use crate::columns::{self, Column, Movement};
use crate::format;
use crate::model::{ChainKind, TABLES, Table};
use crate::sanitize::text as clean;
use crate::tree::{Fold, Row, RowKind};

/// Cuts `s` to `width` columns, ending in `…` when it had to cut.
pub fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > width - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

fn pad_left(s: &str, width: usize) -> String {
    let s = truncate(s, width);
    format!("{}{s}", " ".repeat(width.saturating_sub(s.width())))
}

/// Widths of the numeric columns: fixed, so numbers never shift between polls.
fn number_width(c: Column) -> u16 {
    match c {
        Column::DPkts => 7,
        Column::Pkts | Column::Rate => 6,
        Column::DBytes | Column::Bytes => 11,
        _ => 0,
    }
}

/// Which columns fit in `width`, and how wide each is, in display order.
/// Columns that say nothing in this table (every rule `*` or `0.0.0.0/0`) go first; then
/// columns drop from the least useful while watching traffic: total bytes, Δbytes,
/// protocol, addresses, interfaces, totals; the tree, Δpkts, rate and match stay.
pub fn layout_columns(width: u16, tree_width: u16, stats: &ColumnStats) -> Vec<(Column, u16)> {
    let keep_order = [
        Column::DPkts,
        Column::Rate,
        Column::Match,
        Column::Pkts,
        Column::Source,
        Column::Destination,
        Column::In,
        Column::Out,
        Column::Prot,
        Column::DBytes,
        Column::Bytes,
    ];
    let tree_w = tree_width.clamp(12, 48).min(width);
    let mut used = tree_w;
    let mut chosen: Vec<(Column, u16)> = vec![(Column::Tree, tree_w)];
    const MATCH_MIN: u16 = 16;
    for c in keep_order {
        let w = match c {
            Column::Match => MATCH_MIN,
            Column::Prot | Column::In | Column::Out | Column::Source | Column::Destination => {
                match stats.width(c) {
                    Some(w) => w,
                    None => continue,
                }
            }
            _ => number_width(c),
        };
        if used + 1 + w <= width {
            used += 1 + w;
            chosen.push((c, w));
        }
    }
    // the match text takes what is left
    if let Some(m) = chosen.iter_mut().find(|(c, _)| *c == Column::Match) {
        m.1 += width.saturating_sub(used);
    }
    let order = |c: &Column| columns::ALL.iter().position(|x| x == c).unwrap_or(99);
    chosen.sort_by_key(|(c, _)| order(c));
    chosen
}

/// Widths of a table's text columns over all its rules (None: the column says nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnStats {
    pub prot: Option<u16>,
    pub in_iface: Option<u16>,
    pub out_iface: Option<u16>,
    pub source: Option<u16>,
    pub destination: Option<u16>,
}

impl ColumnStats {
    pub fn of(t: &Table) -> ColumnStats {
        fn grow(slot: &mut Option<u16>, v: &str, any: &[&str], cap: u16, title: u16) {
            if any.contains(&v) || v.is_empty() {
                return;
            }
            let w = (clean(v).width() as u16).min(cap).max(title);
            *slot = Some(slot.map_or(w, |s| s.max(w)));
        }
        let mut s = ColumnStats::default();
        for c in &t.chains {
            for r in c.rules.iter() {
                let p = &r.spec;
                grow(
                    &mut s.prot,
                    &crate::model::protocol_name(&p.prot),
                    &["all", "0"],
                    9,
                    4,
                );
                grow(&mut s.in_iface, &p.in_iface, &["*", "any"], 10, 3);
                grow(&mut s.out_iface, &p.out_iface, &["*", "any"], 10, 3);
                let anyaddr = ["0.0.0.0/0", "::/0", "anywhere"];
                grow(&mut s.source, &p.source, &anyaddr, 20, 6);
                grow(&mut s.destination, &p.destination, &anyaddr, 20, 4);
            }
        }
        s
    }

    fn width(&self, c: Column) -> Option<u16> {
        match c {
            Column::Prot => self.prot,
            Column::In => self.in_iface,
            Column::Out => self.out_iface,
            Column::Source => self.source,
            Column::Destination => self.destination,
            _ => None,
        }
    }
}

pub fn draw(frame: &mut Frame, app: &mut App, theme: &Theme) {
    let area = frame.area();
    if area.height == 0 || area.width == 0 {
        return;
    }
    let tall = area.height >= 8;
    let detail_h = match app.show_detail {
        Some(true) if area.height >= 14 => 8,
        None if area.height >= 30 => 8,
        _ => 0,
    };
    app.detail_shown = detail_h > 0;
    let [header, tabs, main, detail, status] = area.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(if tall { 1 } else { 0 }),
        Constraint::Fill(1),
        Constraint::Length(detail_h),
        Constraint::Length(if area.height >= 3 { 1 } else { 0 }),
    ]));
    draw_header(frame, header, app, theme);
    if tall {
        draw_tabs(frame, tabs, app, theme);
    }
    if app.hot {
        draw_hot(frame, main, app, theme);
    } else {
        draw_tree(frame, main, app, theme);
    }
    if detail_h > 0 {
        draw_detail(frame, detail, app, theme);
    }
    draw_status(frame, status, app, theme);
    if app.show_help {
        draw_help(frame, area, theme);
    }
    crate::sanitize::scrub(frame.buffer_mut());
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let v = app.view();
    let mut left = format!(
        " iptop · {} · {}",
        clean(app.table_name()),
        clean(&app.source.describe())
    );
    // auto: the back end(s) this table's rules are in
    if app.source.backend.is_empty()
        && let Some(snap) = &v.snap
    {
        let b: Vec<&str> = snap.backends().iter().map(|b| b.as_str()).collect();
        if !b.is_empty() {
            left.push_str(" · ");
            left.push_str(&b.join(" + "));
        }
    }
    let mut right = String::new();
    if app.replay {
        right.push_str("recorded pace");
    } else {
        right.push_str(&format!("every {}", format::duration(app.interval)));
        if let Some(s) = app.effective_interval {
            right.push_str(&format!(" (slow polls: {})", format::duration(s)));
        }
    }
    if let Some(snap) = &v.snap {
        let t = humantime::format_rfc3339_seconds(snap.taken_at).to_string();
        let clock = t.get(11..19).unwrap_or(&t).to_string();
        right.push_str(&format!(" · {clock} took {} ", format::duration(snap.took)));
    } else {
        right.push(' ');
    }
    let mut marks: Vec<Span> = Vec::new();
    if app.paused {
        marks.push(Span::styled(" PAUSED ", theme.warn()));
    }
    if v.error.is_some() && v.snap.is_some() {
        marks.push(Span::styled(" STALE ", theme.error()));
    }
    if app.ended {
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

fn pad_right(s: &str, width: usize) -> String {
    format!("{s}{}", " ".repeat(width.saturating_sub(s.width())))
}

fn draw_tabs(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = Vec::new();
    for (i, t) in TABLES.iter().enumerate() {
        spans.push(Span::styled(
            format!(" {} {t} ", i + 1),
            theme.tab(i == app.current),
        ));
    }
    let v = app.view();
    let mut tags: Vec<String> = Vec::new();
    if let Some(c) = app.breadcrumb() {
        tags.push(clean(&c).into_owned());
    } else if !app.root_chains.is_empty() {
        tags.push(format!("from {}", clean(&app.root_chains.join(", "))));
    }
    if app.hot {
        tags.push("hot: by rate now, then last moved".into());
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
    if !app.search.query.is_empty() && !app.search.editing {
        tags.push(format!("search “{}” (n/N)", clean(&app.search.query)));
    }
    if !tags.is_empty() {
        spans.push(Span::styled("  ", Style::new()));
        spans.push(Span::styled(tags.join("  ·  "), theme.warn()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn waiting(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let v = app.view();
    let text = match &v.error {
        Some(e) => Line::from(vec![
            Span::styled(" no listing of this table: ", theme.error()),
            Span::raw(format!(" {}", clean(&e.to_string()))),
        ]),
        None if app.replay && app.ended => Line::from(format!(
            " the replay has no listing of table {}",
            app.table_name()
        )),
        None => Line::from(format!(
            " waiting for the first poll of table {}…",
            app.table_name()
        )),
    };
    frame.render_widget(Paragraph::new(text), area);
}

fn draw_tree(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme) {
    let Some(snap) = app.view().snap.clone() else {
        waiting(frame, area, app, theme);
        return;
    };
    let Some(t) = snap.tables.first() else {
        return;
    };
    let viewport = area.height.saturating_sub(1) as usize;
    app.viewport = viewport.max(1);
    app.ensure_visible();
    let offset = app.offset();
    let end = (offset + viewport).min(app.rows.len());
    if offset >= end {
        frame.render_widget(
            Paragraph::new(if app.moved_only {
                " nothing moved in this window (f shows everything again)"
            } else {
                " no chains"
            }),
            area,
        );
        return;
    }
    let mut stats = app.view().col_stats.clone();
    if let Some(n) = &app.names {
        // the names shown instead of bridges and addresses need their room
        let (iface, addr) = n.widest();
        let grow = |w: &mut Option<u16>, name: usize, cap: usize| {
            if let Some(w) = w {
                *w = (*w).max(name.min(cap) as u16);
            }
        };
        grow(&mut stats.in_iface, iface + 1, 16);
        grow(&mut stats.out_iface, iface + 1, 16);
        grow(&mut stats.source, addr, 20);
        grow(&mut stats.destination, addr, 20);
    }
    let cols = layout_columns(area.width, app.tree_width, &stats);
    let buf = frame.buffer_mut();
    // The rows are written straight into the buffer, cell by cell, as a ratatui Table with
    // these columns (spacing 1) would write them: the row's style, then each cell's
    // spans, then the selection's style on top. It costs half of what building
    // Row/Cell/Line/Span values for every visible cell of every frame cost.
    let row_area = |y: u16| Rect {
        y,
        height: 1,
        ..area
    };
    buf.set_style(row_area(area.y), theme.title_row());
    let mut x = area.x;
    for (c, w) in &cols {
        let title = c.title();
        if c.right_aligned() {
            put_right(buf, x, area.y, *w, title, Style::default());
        } else {
            put(buf, x, area.y, *w, title, Style::default());
        }
        x = x.saturating_add(w + 1);
    }
    let selected = app
        .caption
        .is_none()
        .then(|| app.selected_index())
        .filter(|s| (offset..end).contains(s));
    let view = app.view().delta_view();
    for (k, r) in app.rows[offset..end].iter().enumerate() {
        let y = area.y + 1 + k as u16;
        let live = app.live_path.get(offset + k).copied().unwrap_or(true);
        if let Some(age) = app.view().heat(t, r).filter(|_| live) {
            buf.set_style(row_area(y), theme.heat(age));
        }
        let names = app.names.as_deref();
        tree_row(buf, area.x, y, t, r, &cols, &view, live, names, theme);
        if selected == Some(offset + k) {
            buf.set_style(row_area(y), theme.selected());
        }
    }
}

/// Writes `text` from column `x` of line `y` in at most `width` cells, its style patched
/// onto theirs, exactly as rendering a [`Span`] there would.
fn put(buf: &mut Buffer, x: u16, y: u16, width: u16, text: &str, style: Style) -> u16 {
    let width = width.min(buf.area.right().saturating_sub(x));
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        // one cell per byte: no grapheme segmentation, no width tables
        let n = text.len().min(width as usize) as u16;
        for (i, b) in text.bytes().take(n as usize).enumerate() {
            buf[(x + i as u16, y)].set_char(b as char).set_style(style);
        }
        n
    } else {
        let span = Span::styled(text, style);
        let w = (span.width() as u16).min(width);
        span.render(
            Rect {
                x,
                y,
                width,
                height: 1,
            },
            buf,
        );
        w
    }
}

/// [`put`], right-aligned in `width` cells: the padding in front takes the style too
/// (a moving DROP's red reaches across its whole cell).
fn put_right(buf: &mut Buffer, x: u16, y: u16, width: u16, text: &str, style: Style) {
    let w = text.width() as u16;
    if w <= width {
        let right = buf.area.right();
        for px in x..(x + width - w).min(right) {
            buf[(px, y)].set_char(' ').set_style(style);
        }
        put(buf, x + width - w, y, w, text, style);
    } else {
        put(buf, x, y, width, &truncate(text, width as usize), style);
    }
}

#[allow(clippy::too_many_arguments)]
fn tree_row(
    buf: &mut Buffer,
    x0: u16,
    y: u16,
    t: &Table,
    r: &Row,
    cols: &[(Column, u16)],
    view: &columns::DeltaView,
    live: bool,
    names: Option<&crate::docker::Names>,
    theme: &Theme,
) {
    let mut c = columns::cells(t, r, view);
    if let Some(n) = names {
        n.substitute(&mut c);
    }
    c.sanitize();
    let m = columns::movement(r, view.shown);
    let (target, is_drop) = match r.kind {
        RowKind::Rule { chain, rule } => {
            let tg = t.chains[chain].rules[rule].spec.target.as_str();
            (tg, matches!(tg, "DROP" | "REJECT"))
        }
        RowKind::Chain { chain } => (
            "",
            matches!(t.chains[chain].policy(), Some("DROP" | "REJECT")),
        ),
        RowKind::Ref { .. } => {
            // a reference to where a chain is shown takes the whole row
            let w = cols.iter().fold(0u16, |a, (_, w)| a.saturating_add(w + 1));
            tree_cell(buf, x0, y, t, r, &c, "", w, theme);
            return;
        }
    };
    let mut x = x0;
    for &(col, w) in cols {
        match col {
            Column::Tree => tree_cell(buf, x, y, t, r, &c, target, w, theme),
            Column::DPkts | Column::DBytes => {
                let style = if !live {
                    theme.dim()
                } else if c.reset {
                    theme.reset()
                } else if c.moved {
                    theme.moved(is_drop)
                } else if matches!(m, Movement::New | Movement::Unknown) {
                    Style::new().add_modifier(Modifier::ITALIC)
                } else {
                    theme.dim()
                };
                put_right(buf, x, y, w, c.get(col), style);
            }
            Column::Rate => {
                let style = if c.pps > 0.0 && live {
                    theme.moved(false)
                } else {
                    theme.dim()
                };
                put_right(buf, x, y, w, &c.rate, style);
            }
            Column::Pkts | Column::Bytes => put_right(buf, x, y, w, c.get(col), Style::default()),
            _ => {
                let text = c.get(col);
                if text.width() <= w as usize {
                    put(buf, x, y, w, text, Style::default());
                } else {
                    put(buf, x, y, w, &truncate(text, w as usize), Style::default());
                }
            }
        }
        x = x.saturating_add(w + 1);
    }
}

#[allow(clippy::too_many_arguments)]
fn tree_cell(
    buf: &mut Buffer,
    x: u16,
    y: u16,
    t: &Table,
    r: &Row,
    c: &columns::Cells,
    target: &str,
    width: u16,
    theme: &Theme,
) {
    // the fold marker takes the place of the last stroke: `├─▾ `, `├─▸ `, `├── `
    let marker = match (r.fold, r.depth) {
        (Fold::Expanded, _) => '▾',
        (Fold::Collapsed, _) => '▸',
        (Fold::Cycle, _) => '↻',
        (Fold::Leaf, 0) => ' ',
        (Fold::Leaf, _) => '─',
    };
    let prefix = match c.prefix.strip_suffix(' ') {
        Some(p) => format!("{p}{marker} "),
        None => format!("{marker} "),
    };
    let w = width as usize;
    let room = w.saturating_sub(prefix.width());
    let right = x.saturating_add(width);
    let mut x = x + put(buf, x, y, width, &truncate(&prefix, w), theme.guide());
    let mut seg = |text: &str, style: Style| {
        x += put(buf, x, y, right.saturating_sub(x), text, style);
    };
    match r.kind {
        RowKind::Chain { chain } => {
            let ch = &t.chains[chain];
            let name = truncate(&clean(&ch.name), room);
            let rest = room.saturating_sub(name.width());
            seg(&name, theme.chain_row());
            match &ch.kind {
                ChainKind::Builtin { policy } if rest > 3 => {
                    seg(
                        &truncate(&format!(" {}", clean(policy)), rest),
                        theme.policy(policy),
                    );
                }
                ChainKind::User {
                    references: Some(n),
                } if rest > 3 => {
                    seg(&truncate(&format!(" ({n} refs)"), rest), theme.dim());
                }
                _ => {}
            }
        }
        RowKind::Rule { .. } => {
            seg(
                &truncate(&c.label, room),
                theme.target(target, r.jump.is_some()),
            );
        }
        RowKind::Ref { .. } => seg(&truncate(&c.label, room), theme.dim()),
    }
}

fn draw_hot(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme) {
    let Some(snap) = app.view().snap.clone() else {
        waiting(frame, area, app, theme);
        return;
    };
    let Some(t) = snap.tables.first() else {
        return;
    };
    let hot = app.hot_rows();
    let viewport = area.height.saturating_sub(1) as usize;
    app.viewport = viewport.max(1);
    if hot.is_empty() {
        let span = format::duration(app.interval * HISTORY as u32);
        frame.render_widget(
            Paragraph::new(format!(
                " no rule moved in the last {HISTORY} polls (~{span}); o or Esc: back to the tree"
            )),
            area,
        );
        return;
    }
    let sel = app.hot_selected.min(hot.len() - 1);
    let offset = sel.saturating_sub(viewport.saturating_sub(1));
    let view = app.view().delta_view();
    let path_w = (area.width as usize * 2 / 5).clamp(10, 60);
    // PKT/S, PEAK, ΔPKTS, MOVED, CHAIN PATH, TARGET; the rule text takes the rest
    let widths = [7, 7, 7, 9, path_w as u16, 16];
    let used: u16 = widths.iter().map(|w| w + 1).sum();
    let rule_w = area.width.saturating_sub(used) as usize;
    let rows: Vec<TRow> = hot[offset..(offset + viewport).min(hot.len())]
        .iter()
        .map(|h| {
            let rule = &t.chains[h.chain].rules[h.rule];
            let shown = view.shown.and_then(|d| d.rule(h.chain, h.rule)).copied();
            let is_jump = t.jump_target(rule).is_some();
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
                Cell::from(truncate(&clean(&h.path.join(" › ")), path_w)),
                Cell::from(Span::styled(
                    truncate(&clean(&rule.spec.target), 16),
                    theme.target(&rule.spec.target, is_jump),
                )),
                Cell::from(truncate(&clean(&rule.spec.summary()), rule_w)),
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
    let constraints = widths
        .into_iter()
        .map(Constraint::Length)
        .chain([Constraint::Fill(1)]);
    let table = TTable::new(rows, constraints)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(theme.selected());
    let mut state = TableState::default().with_selected(Some(sel - offset));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_detail(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(" detail ", theme.title_row()))
        .border_style(theme.dim());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let v = app.view();
    let (Some(snap), Some(row)) = (v.snap.as_ref(), app.selected_row()) else {
        return;
    };
    let Some(t) = snap.tables.first() else {
        return;
    };
    let view = v.delta_view();
    let [text_area, spark_area] = inner.layout(&Layout::horizontal([
        Constraint::Fill(3),
        Constraint::Fill(2),
    ]));
    let mut lines: Vec<Line> = Vec::new();
    let m = columns::movement(row, view.shown);
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
        RowKind::Chain { chain } => {
            let c = &t.chains[chain];
            lines.push(Line::from(Span::styled(
                format!("chain {}", clean(&c.name)),
                theme.chain_row(),
            )));
            match &c.kind {
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
                Span::raw(format!(
                    "prot {}  in {}  out {}  {} → {}",
                    clean(&crate::model::protocol_name(&s.prot)),
                    clean(&s.in_iface),
                    clean(&s.out_iface),
                    clean(&s.source),
                    clean(&s.destination)
                )),
            ]));
            if !s.extra.is_empty() {
                lines.push(Line::from(clean(&s.extra).into_owned()));
            }
            if let Some(d) = app.names.as_ref().and_then(|n| n.describe(s)) {
                lines.push(Line::from(clean(&d).into_owned()));
            }
            let k = c.counter(rule);
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
        let now = view.pps(row).unwrap_or(0.0);
        let title = format!(
            " pkt/s now {} · max {} ",
            format::rate(now),
            format::rate(max as f64)
        );
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

fn draw_status(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let v = app.view();
    let line = if let Some(c) = &app.caption {
        Line::from(Span::styled(format!(" {}", clean(c)), theme.dim()))
    } else if app.search.editing {
        Line::from(vec![
            Span::styled("/", theme.key()),
            Span::raw(clean(&app.search.query).into_owned()),
            Span::styled("█", theme.dim()),
            Span::styled("   Enter keep · Esc cancel", theme.dim()),
        ])
    } else if let Some(m) = &app.message {
        Line::from(Span::styled(format!(" {}", clean(m)), theme.warn()))
    } else if let Some(e) = &v.error {
        let since = v
            .snap
            .as_ref()
            .map(|s| {
                let t = humantime::format_rfc3339_seconds(s.taken_at).to_string();
                format!(
                    " — showing the poll of {}; retrying",
                    t.get(11..19).unwrap_or(&t)
                )
            })
            .unwrap_or_default();
        Line::from(Span::styled(
            format!(" ⚠ {}{since}", clean(&e.to_string())),
            theme.error(),
        ))
    } else if let Some(w) = v.snap.as_ref().and_then(|s| s.warnings.first()) {
        Line::from(Span::styled(format!(" {}", clean(w)), theme.warn()))
    } else {
        let hints = [
            ("q", "quit"),
            ("?", "help"),
            ("↵", "drill"),
            ("/", "search"),
            ("f", "moved"),
            ("o", "hot"),
            ("z", "baseline"),
            ("p", "pause"),
            ("s", "export"),
        ];
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

fn draw_help(frame: &mut Frame, area: Rect, theme: &Theme) {
    let kw0 = HELP.iter().map(|(k, _)| k.width()).max().unwrap_or(10);
    let dw = HELP.iter().map(|(_, d)| d.width()).max().unwrap_or(10);
    let w = ((kw0 + dw + 6) as u16).min(area.width);
    let h = (HELP.len() as u16 + 4).min(area.height);
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
    let kw = HELP.iter().map(|(k, _)| k.width()).max().unwrap_or(10);
    let mut lines: Vec<Line> = HELP
        .iter()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation() {
        assert_eq!(truncate("DOCKER-ISOLATION-STAGE-1", 10), "DOCKER-IS…");
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(truncate("漢字漢字", 5), "漢字…");
        assert_eq!(truncate("☃☃☃", 3), "☃☃☃");
        assert_eq!(pad_left("12", 5), "   12");
    }

    #[test]
    fn columns_drop_from_the_right_order() {
        let stats = ColumnStats {
            prot: Some(4),
            in_iface: Some(12),
            out_iface: Some(12),
            source: Some(13),
            destination: Some(11),
        };
        let names = |w: u16| -> Vec<Column> {
            layout_columns(w, 34, &stats)
                .into_iter()
                .map(|(c, _)| c)
                .collect()
        };
        let wide = names(200);
        assert_eq!(wide.len(), 13 - 1, "all but OPT");
        let narrow = names(80);
        assert_eq!(narrow[..3], [Column::Tree, Column::DPkts, Column::Rate]);
        assert!(narrow.contains(&Column::Match));
        assert!(!narrow.contains(&Column::Bytes));
        for w in [0u16, 5, 20, 40, 80, 120, 200] {
            let total: u16 = layout_columns(w, 34, &stats)
                .iter()
                .map(|(_, w)| w + 1)
                .sum();
            assert!(total <= w + 1, "{w}: {total}");
        }
    }
}
