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
