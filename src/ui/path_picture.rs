//! The path view drawn in colour: the lines of [`crate::report::path`] in the live view's
//! colours, for the live view (key `v`) and the SVG picture of `--view path`.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use super::theme::Theme;
use crate::cells::Column;
use crate::report::Input;
use crate::report::path::{self, Look, hook_lines, hooks};
use crate::report::text::Line;

/// A run of text in one style.
pub type Piece = (String, Style);

/// The path view's lines in the live view's colours: hook titles, column titles and rows
/// (their tree drawing dim, labels in the colour of their verdict, moved rows lit).
pub fn styled_lines(input: &Input, cols: &[Column], fold: bool, theme: &Theme) -> Vec<Vec<Piece>> {
    let hooks = hooks(input);
    let sections: Vec<(String, Vec<Line>, Vec<Look>)> =
        hooks.iter().map(|h| hook_lines(input, h, fold)).collect();
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
