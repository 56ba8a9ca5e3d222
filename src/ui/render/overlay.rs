//! Overlays drawn over the rest: the help (`?`), with what the selected chain is for.

use super::*;

/// The note on the chain of the selected row (the chain itself, or the chain a rule
/// sits in, or the one it jumps to): `(chain, who writes it, what it is for)`.
fn chain_note(app: &LiveView) -> Option<(String, crate::explain::notes::Note)> {
    if app.screen() != Screen::Tree {
        return None;
    }
    let t = app.table_data().table()?;
    let row = app.selected_row()?;
    let mut chains = vec![row.chain()];
    if let Some(j) = row.jump {
        chains.insert(0, j);
    }
    chains.into_iter().find_map(|c| {
        let name = &t.chains[c].name;
        crate::explain::notes::about(&t.name, name).map(|n| (name.to_string(), n.clone()))
    })
}

pub(super) fn draw_help(frame: &mut Frame, area: Rect, app: &LiveView, theme: &Theme) {
    let help = keymap::help_lines();
    let kw = help.clone().map(|(k, _)| k.width()).max().unwrap_or(10);
    let dw = help.clone().map(|(_, d)| d.width()).max().unwrap_or(10);
    let inner_w = kw + dw + 4;
    let mut lines: Vec<Line> = help
        .clone()
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
    let note = chain_note(app);
    if let Some((chain, note)) = &note {
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            Span::styled(format!(" {chain}"), theme.chain_row()),
            Span::raw(format!(" — written by {}", note.by)),
        ]));
        // the note wrapped to the box's width, word by word
        let mut cur = String::from(" ");
        for word in note.about.split_whitespace() {
            if cur.width() + word.width() + 1 > inner_w && !cur.trim().is_empty() {
                lines.push(Line::from(std::mem::replace(&mut cur, String::from(" "))));
            }
            if cur.len() > 1 {
                cur.push(' ');
            }
            cur.push_str(word);
        }
        if !cur.trim().is_empty() {
            lines.push(Line::from(cur));
        }
    }
    let w = ((inner_w + 2) as u16).min(area.width);
    // borders, and a blank line at the end unless a note closes the box
    let h = (lines.len() as u16 + if note.is_some() { 2 } else { 3 }).min(area.height);
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
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}
