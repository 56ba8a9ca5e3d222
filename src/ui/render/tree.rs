//! The tree table: only the visible rows are built, each cell written straight into the buffer.

use super::*;
use crate::sanitize::text as clean;

pub(super) fn draw_tree(frame: &mut Frame, area: Rect, app: &LiveView, theme: &Theme) {
    let Some(snap) = app.table_data().snap.clone() else {
        waiting(frame, area, app, theme);
        return;
    };
    let t = snap.table();
    // the selection was scrolled into view by the layout of this frame
    let viewport = area.height.saturating_sub(1) as usize;
    let offset = app.offset();
    let end = (offset + viewport).min(app.rows().len());
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
    let mut stats = app.table_data().col_stats.clone();
    if let Some(n) = &app.names {
        // the names shown beside bridges and addresses (`docker0 (bridge)`) need their
        // room: at most the widest value and the widest name
        let (iface, addr) = n.widest();
        for (c, name, cap) in [
            (Column::In, iface, 22),
            (Column::Out, iface, 22),
            (Column::Source, addr, 30),
            (Column::Destination, addr, 30),
        ] {
            if let Some(w) = stats.width(c) {
                stats.grow(c, (w as usize + 3 + name).min(cap) as u16);
            }
        }
    }
    // columns nothing on screen is in give way first
    stats.seen_in(t, &app.rows()[offset..end]);
    let cols = layout_shown(area.width, app.tree_width(), &stats, theme.columns);
    let buf = frame.buffer_mut();
    // The rows are written straight into the buffer, cell by cell, as a ratatui FirewallTable with
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
        .caption()
        .is_none()
        .then(|| app.selected_index())
        .filter(|s| (offset..end).contains(s));
    let view = app.table_data().shown_deltas();
    let traced = app.traced_path(t);
    for (k, r) in app.rows()[offset..end].iter().enumerate() {
        let y = area.y + 1 + k as u16;
        let live = app.live_path().get(offset + k).copied().unwrap_or(true);
        if let Some(age) = app.table_data().heat(t, r).filter(|_| live) {
            buf.set_style(row_area(y), theme.heat(age));
        }
        let names = app.names.as_deref();
        let on_path = traced.is_some_and(|p| LiveView::traced_row(p, t, app.rows(), r));
        tree_row(
            buf,
            area.x,
            y,
            t,
            r,
            &cols,
            &view,
            (live, on_path),
            names,
            theme,
        );
        if selected == Some(offset + k) {
            buf.set_style(row_area(y), theme.selected());
        }
    }
}

/// Writes `text` from column `x` of line `y` in at most `width` cells, its style patched
/// onto theirs, exactly as rendering a [`Span`] there would.
pub(super) fn put(buf: &mut Buffer, x: u16, y: u16, width: u16, text: &str, style: Style) -> u16 {
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
pub(super) fn put_right(buf: &mut Buffer, x: u16, y: u16, width: u16, text: &str, style: Style) {
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
pub(super) fn tree_row(
    buf: &mut Buffer,
    x0: u16,
    y: u16,
    t: &FirewallTable,
    r: &TreeRow,
    cols: &[(Column, u16)],
    view: &cells::ShownDeltas,
    (live, traced): (bool, bool),
    names: Option<&crate::docker::Names>,
    theme: &Theme,
) {
    let mut c = cells::cells(t, r, view);
    // the names beside the values, as text output puts them: `!docker0 (bridge)`
    let named = |col: Column| -> Option<String> {
        let n = names?;
        let name = match col {
            Column::In => n.iface(&c.in_iface),
            Column::Out => n.iface(&c.out_iface),
            Column::Source => n.addr(&c.source),
            Column::Destination => n.addr(&c.destination),
            _ => None,
        };
        name.map(|n| clean(n).into_owned())
    };
    let named: Vec<(Column, String)> =
        [Column::In, Column::Out, Column::Source, Column::Destination]
            .into_iter()
            .filter_map(|col| Some((col, named(col)?)))
            .collect();
    if let RowKind::Rule { chain, rule } = r.kind
        && let Some((label, rest)) =
            crate::ui::fit::nat_named(&t.chains[chain].rules[rule].spec, names)
    {
        // `DNAT → 172.18.0.2:80 (web)`: where it sends packets, whole, in the tree column
        c.label = label.into();
        c.matches = rest.into();
    }
    // comments apart before escaping: a line break tells where a comment ends
    let (main, comments) = crate::ui::fit::split_comments(&c.matches);
    let (main, comments) = (
        crate::sanitize::text(&main).into_owned(),
        crate::sanitize::text(&comments).into_owned(),
    );
    c.sanitize();
    if traced {
        // on the last traced packet's path
        c.label = format!("◆ {}", c.label).into();
    }
    let m = cells::movement(t, r, view.shown);
    let (target, is_drop) = match r.kind {
        RowKind::Rule { .. } | RowKind::Verdict { .. } => {
            let tg = cells::verdict_of(t, r).unwrap_or_default();
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
        match col.def().kind {
            Kind::Tree => tree_cell(buf, x, y, t, r, &c, target, w, theme),
            Kind::Delta => {
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
            Kind::Rate => {
                let style = if c.pps > 0.0 && live {
                    theme.moved(false)
                } else {
                    theme.dim()
                };
                put_right(buf, x, y, w, c.get(col), style);
            }
            Kind::Match => {
                // what it matches first, its comments dim after it (and cut first)
                let n = put(buf, x, y, w, &truncate(&main, w as usize), Style::default());
                if !comments.is_empty() && n + 2 < w {
                    let gap = if n > 0 { 1 } else { 0 };
                    let room = (w - n - gap) as usize;
                    put(
                        buf,
                        x + n + gap,
                        y,
                        w - n - gap,
                        &truncate(&comments, room),
                        theme.dim(),
                    );
                }
            }
            Kind::Plain if col.right_aligned() => {
                put_right(buf, x, y, w, c.get(col), Style::default());
            }
            Kind::Plain => {
                let text = c.get(col);
                if let Some((_, name)) = named.iter().find(|(n, _)| *n == col) {
                    let text = crate::ui::fit::named(text, name, w as usize);
                    put(buf, x, y, w, &text, Style::default());
                } else if text.width() <= w as usize {
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
pub(super) fn tree_cell(
    buf: &mut Buffer,
    x: u16,
    y: u16,
    t: &FirewallTable,
    r: &TreeRow,
    c: &cells::Cells,
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
    let prefix = if theme.ascii {
        crate::look::ascii(&prefix)
    } else {
        prefix
    };
    let w = width as usize;
    let room = w.saturating_sub(prefix.width());
    let right = x.saturating_add(width);
    let mut x = x + put(buf, x, y, width, &truncate(&prefix, w), theme.guide());
    let mut seg = |text: &str, style: Style| {
        let text = if theme.ascii {
            std::borrow::Cow::Owned(crate::look::ascii(text))
        } else {
            std::borrow::Cow::Borrowed(text)
        };
        x += put(buf, x, y, right.saturating_sub(x), &text, style);
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
            let label = truncate(&c.label, room);
            let rest = room.saturating_sub(label.width());
            let style = theme.target(target, r.jump.is_some());
            seg(&label, style);
            if let Some(mark) = theme.verdict_mark(target).filter(|m| m.width() <= rest) {
                seg(mark, style);
            }
        }
        RowKind::Ref { .. } => seg(&truncate(&c.label, room), theme.dim()),
        // the end of a chain, in the colour of what happens there
        RowKind::Verdict { .. } => seg(&truncate(&c.label, room), theme.target(target, false)),
    }
}
