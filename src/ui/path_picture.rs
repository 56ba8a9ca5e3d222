//! The path view drawn in colour: the lines of [`crate::report::path`] in the live view's
//! colours, for the live view (key `v`) and the SVG picture of `--view path`.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use super::theme::Theme;
use crate::cells::Column;
use crate::model::FirewallTable;
use crate::report::Input;
use crate::report::path::{self, Look, hook_lines, hooks};
use crate::report::text::Line;
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
    input: &Input,
    cols: &[Column],
    fold: bool,
    theme: &Theme,
    traced: Option<&Traced>,
) -> Vec<Vec<Piece>> {
    let hooks = hooks(input);
    let mut sections: Vec<(String, Vec<Line>, Vec<Look>)> =
        hooks.iter().map(|h| hook_lines(input, h, fold)).collect();
    if let Some(on_path) = traced {
        for (h, (_, lines, _)) in hooks.iter().zip(&mut sections) {
            if lines.is_empty() {
                continue;
            }
            let mut line = lines.iter_mut();
            for hc in &h.chains {
                let t = &input.snapshot.tables[hc.table];
                let rows = path::chain_rows(input, hc);
                for r in &rows {
                    let Some((cells, _, _)) = line.next() else {
                        break;
                    };
                    if on_path(t, &rows, r) {
                        cells.label = format!("◆ {}", cells.label).into();
                    }
                }
            }
        }
    }
    let widths = path::widths(cols, sections.iter().flat_map(|(_, l, _)| l));
    let mut out: Vec<Vec<Piece>> = Vec::new();
    for (title, lines, looks) in &sections {
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
        for (line, (verdict, jump)) in lines.iter().zip(looks) {
            let (c, free, _) = line;
            let mut row = String::new();
            let mut notes = path::Notes::default();
            path::push_row(
                &mut row,
                cols,
                &(c.clone(), *free, None),
                &widths,
                &mut notes,
            );
            let row = row.trim_end().to_string();
            let label_style = if c.prefix.is_empty() {
                theme.chain_row()
            } else {
                theme.target(verdict, *jump)
            };
            let head = (c.prefix.len() + c.label.len()).min(row.len());
            // by checked byte index: the label is outside text (a chain name)
            let (tree_part, rest) = row.split_at_checked(head).unwrap_or((&row, ""));
            let (prefix, label) = tree_part
                .split_at_checked(c.prefix.len().min(tree_part.len()))
                .unwrap_or(("", tree_part));
            let drop = matches!(verdict.as_str(), "DROP" | "REJECT");
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
