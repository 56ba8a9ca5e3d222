//! The path view drawn in colour: the path view's model ([`crate::derive::path`]) as
//! [`crate::report::path`] lines it up, in the live view's colours, for the live view
//! (key `v`) and the SVG picture of `--view path`.

use std::borrow::Cow;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use super::theme::Theme;
use crate::cells::Column;
use crate::derive::Row;
use crate::derive::path::PathModel;
use crate::model::FirewallTable;
use crate::report::path;
use crate::tree::TreeRow;

/// Is a row (of a table, among its chain's rows) on the last traced path?
pub type Traced<'a> = dyn Fn(&FirewallTable, &[TreeRow], &TreeRow) -> bool + 'a;

/// A run of text in one style.
pub type Piece = (String, Style);

/// The path view's lines in the live view's colours: hook titles, column titles and rows
/// (their tree drawing dim, labels in the colour of their verdict, moved rows lit).
/// `traced`: is a row (of a table, among its chain's rows) on the last traced path? Its
/// label is marked `◆` as in the tree.
pub fn styled_lines(
    model: &PathModel,
    cols: &[Column],
    fold: bool,
    theme: &Theme,
    traced: Option<&Traced>,
) -> Vec<Vec<Piece>> {
    styled_lines_within(model, cols, fold, theme, traced, None)
}

/// [`styled_lines`] in `width` screen columns (None: as wide as they are): when the
/// columns do not fit, they give way as the tree's do (`ui/column_plan.rs`), so that
/// what tells rules apart stays: columns that say nothing on any row (`*`,
/// `0.0.0.0/0`) go first, then the totals and the rate, the interfaces are cut, the
/// tree gives up room, and the match text keeps a port and a DNAT's `to:` whole.
pub fn styled_lines_within(
    model: &PathModel,
    cols: &[Column],
    fold: bool,
    theme: &Theme,
    traced: Option<&Traced>,
    width: Option<u16>,
) -> Vec<Vec<Piece>> {
    // per hook: its title and its rows, a row on the traced path marked
    let sections: Vec<(String, Vec<Cow<Row>>)> = model
        .hooks
        .iter()
        .map(|h| {
            let shown = if path::folded(h, fold) {
                &[][..]
            } else {
                &h.chains[..]
            };
            let rows = shown
                .iter()
                .flat_map(|hc| {
                    let t = &model.tables[hc.table];
                    hc.rows.iter().zip(&hc.lines).map(move |(r, line)| {
                        if traced.is_some_and(|on_path| on_path(t, &hc.rows, r)) {
                            let mut marked = line.clone();
                            marked.cells.label = format!("◆ {}", marked.cells.label).into();
                            Cow::Owned(marked)
                        } else {
                            Cow::Borrowed(line)
                        }
                    })
                })
                .collect();
            (path::hook_title(h, fold), rows)
        })
        .collect();
    let widths = path::widths(
        cols,
        sections.iter().flat_map(|(_, l)| l.iter().map(|r| &**r)),
    );
    let fitted = width.and_then(|w| {
        let lines: Vec<&Row> = sections
            .iter()
            .flat_map(|(_, l)| l.iter().map(|r| &**r))
            .collect();
        plan(cols, &widths, &lines, w as usize)
    });
    if let Some(fitted) = fitted {
        return fitted_lines(&sections, &fitted, theme);
    }
    let mut out: Vec<Vec<Piece>> = Vec::new();
    for (title, lines) in &sections {
        if !out.is_empty() {
            out.push(vec![]);
        }
        out.push(vec![(title.clone(), theme.title_row())]);
        if lines.is_empty() {
            continue;
        }
        let mut titles = String::new();
        path::push_titles(&mut titles, cols, &widths);
        out.push(vec![(titles.trim_end().to_string(), theme.dim())]);
        for line in lines {
            let c = &line.cells;
            let mut row = String::new();
            path::push_cells(&mut row, cols, c, line.free, &widths, None);
            let row = row.trim_end().to_string();
            let label_style = if c.prefix.is_empty() {
                theme.chain_row()
            } else {
                theme.target(line.verdict, line.jump)
            };
            let head = (c.prefix.len() + c.label.len()).min(row.len());
            // by checked byte index: the label is outside text (a chain name)
            let (tree_part, rest) = row.split_at_checked(head).unwrap_or((&row, ""));
            let (prefix, label) = tree_part
                .split_at_checked(c.prefix.len().min(tree_part.len()))
                .unwrap_or(("", tree_part));
            let drop = matches!(line.verdict, "DROP" | "REJECT");
            let rest_style = if c.moved {
                theme.moved(drop)
            } else {
                Style::new()
            };
            out.push(vec![
                (prefix.to_string(), theme.guide()),
                (label.to_string(), label_style),
                (rest.to_string(), rest_style),
            ]);
        }
    }
    out
}

/// Values that say nothing: a column of only these gives way first.
const SAYS_NOTHING: &[&str] = &["", "*", "any", "0.0.0.0/0", "::/0", "anywhere", "--"];
/// The tree column gives up room down to this...
const TREE_MIN: usize = 24;
/// ...after the interfaces are cut to this (`docker_gw…` still tells bridges apart),
const CUT_EASY: usize = 10;
/// and before they are cut to this at the least.
const CUT_MIN: usize = 4;
/// The match text keeps this much while the others give way (`tcp dpt:80
/// to:172.18.0.2:80`), and this at the least.
const MATCH_KEEP: usize = 28;
const MATCH_MIN: usize = 14;

/// The path view's columns in `width` screen columns, each with its width, when they do
/// not fit as they are (None: they do). The columns are one space apart then.
fn plan(
    cols: &[Column],
    widths: &[usize],
    lines: &[&Row],
    width: usize,
) -> Option<Vec<(Column, usize)>> {
    let natural = widths.iter().sum::<usize>() + 2 * cols.len().saturating_sub(1);
    if natural <= width {
        return None;
    }
    let says = |col: Column| {
        !matches!(
            col,
            Column::In | Column::Out | Column::Source | Column::Destination | Column::Match
        ) || lines
            .iter()
            .any(|r| !r.free && !SAYS_NOTHING.contains(&r.cells.get(col).trim()))
    };
    let mut plan: Vec<(Column, usize)> = cols
        .iter()
        .zip(widths)
        .filter(|(c, _)| says(**c))
        .map(|(c, w)| {
            let w = if *c == Column::Match {
                (*w).min(MATCH_KEEP)
            } else {
                *w
            };
            (*c, w)
        })
        .collect();
    let over = |p: &[(Column, usize)]| {
        let total = p.iter().map(|(_, w)| w).sum::<usize>() + p.len().saturating_sub(1);
        total.saturating_sub(width)
    };
    let iface = |c: Column| {
        matches!(
            c,
            Column::In | Column::Out | Column::Source | Column::Destination
        )
    };
    for drop in [Column::Pkts, Column::Rate] {
        if over(&plan) > 0 {
            plan.retain(|(c, _)| *c != drop);
        }
    }
    let steps: [(&dyn Fn(Column) -> bool, usize); 4] = [
        (&iface, CUT_EASY),
        (&|c| c == Column::Tree, TREE_MIN),
        (&iface, CUT_MIN),
        (&|c| c == Column::Match, MATCH_MIN),
    ];
    for (which, floor) in steps {
        // one column at a time from the widest, none below the floor
        while over(&plan) > 0 {
            let Some(x) = plan
                .iter_mut()
                .filter(|(c, w)| which(*c) && *w > floor)
                .max_by_key(|(_, w)| *w)
            else {
                break;
            };
            x.1 -= 1;
        }
    }
    // then the columns go from the right, the tree last
    while over(&plan) > 0 && plan.len() > 1 {
        let at = plan.iter().rposition(|(c, _)| *c != Column::Tree)?;
        plan.remove(at);
    }
    // the last column takes what is left
    let used = plan.iter().map(|(_, w)| w).sum::<usize>() + plan.len().saturating_sub(1);
    if let Some(last) = plan.last_mut() {
        last.1 += width.saturating_sub(used);
    }
    Some(plan)
}

/// The sections' lines in the planned columns, each cell cut to its width.
fn fitted_lines(
    sections: &[(String, Vec<Cow<Row>>)],
    plan: &[(Column, usize)],
    theme: &Theme,
) -> Vec<Vec<Piece>> {
    use super::fit::truncate_right as truncate;
    use unicode_width::UnicodeWidthStr;
    let cell = |text: &str, col: Column, w: usize| {
        let t = truncate(text, w);
        let pad = " ".repeat(w.saturating_sub(t.width()));
        if col.right_aligned() {
            format!("{pad}{t}")
        } else {
            format!("{t}{pad}")
        }
    };
    let mut out: Vec<Vec<Piece>> = Vec::new();
    for (title, lines) in sections {
        if !out.is_empty() {
            out.push(vec![]);
        }
        out.push(vec![(title.clone(), theme.title_row())]);
        if lines.is_empty() {
            continue;
        }
        let titles: Vec<String> = plan.iter().map(|&(c, w)| cell(c.title(), c, w)).collect();
        out.push(vec![(titles.join(" ").trim_end().to_string(), theme.dim())]);
        for line in lines {
            let c = &line.cells;
            let label_style = if c.prefix.is_empty() {
                theme.chain_row()
            } else {
                theme.target(line.verdict, line.jump)
            };
            if line.free {
                // a reference to where a chain is shown: the whole line, no columns
                out.push(vec![
                    (c.prefix.to_string(), theme.guide()),
                    (c.label.to_string(), label_style),
                ]);
                continue;
            }
            let mut pieces = Vec::new();
            let mut rest = String::new();
            for (i, &(col, w)) in plan.iter().enumerate() {
                if col == Column::Tree {
                    let prefix = truncate(&c.prefix, w);
                    let label = truncate(&c.label, w.saturating_sub(prefix.width()));
                    let pad = w.saturating_sub(prefix.width() + label.width());
                    pieces.push((prefix, theme.guide()));
                    pieces.push((label, label_style));
                    rest.push_str(&" ".repeat(pad));
                    continue;
                }
                if i > 0 {
                    rest.push(' ');
                }
                rest.push_str(&cell(c.get(col), col, w));
            }
            let drop = matches!(line.verdict, "DROP" | "REJECT");
            let rest_style = if c.moved {
                theme.moved(drop)
            } else {
                Style::new()
            };
            pieces.push((rest.trim_end().to_string(), rest_style));
            out.push(pieces);
        }
    }
    out
}

/// Draws styled lines into `buf` from line `first` on, starting at (x, y).
pub fn draw_lines(buf: &mut Buffer, area: Rect, lines: &[Vec<Piece>], first: usize) {
    for (k, pieces) in lines
        .iter()
        .skip(first)
        .take(area.height as usize)
        .enumerate()
    {
        let y = area.y + k as u16;
        let mut x = area.x;
        for (t, style) in pieces {
            if x >= area.right() {
                break;
            }
            let (nx, _) = buf.set_stringn(x, y, t, (area.right() - x) as usize, *style);
            x = nx;
        }
    }
}
