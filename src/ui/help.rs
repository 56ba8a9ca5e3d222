//! The help overlay's lines (`?`), fitted to the terminal: the key table's help lines
//! with their descriptions wrapped under themselves, then what the selected chain is
//! for. The renderer styles them; the layout counts them to keep the scroll in range.

use unicode_width::UnicodeWidthStr;

use super::keymap;
use crate::explain::notes::Note;

/// One line of the help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelpLine {
    /// Keys (padded to the key column) and the first line of what they do.
    Key(String, String),
    /// More of what the keys above do, under its first line.
    More(String),
    /// A line in a dim style.
    Dim(String),
    Blank,
    /// The selected chain and who writes it.
    Chain(String, String),
    /// The chain's note, wrapped.
    Text(String),
}

/// The help's lines in a box at most `width` columns wide (borders included), and the
/// width of the box.
pub fn lines(width: u16, note: Option<&(String, Note)>) -> (Vec<HelpLine>, u16) {
    let help = keymap::help_lines();
    let kw = help.clone().map(|(k, _)| k.width()).max().unwrap_or(10);
    let dw = help.clone().map(|(_, d)| d.width()).max().unwrap_or(10);
    // inside the borders: a space, the keys, two spaces, what they do, a space
    let inner = (kw + dw + 4)
        .min(usize::from(width).saturating_sub(2))
        .max(20);
    let kw = kw.min(inner / 2);
    let dw = inner.saturating_sub(kw + 4).max(8);
    let mut out = Vec::new();
    for (k, what) in help {
        let mut parts = wrap(what, dw).into_iter();
        let first = parts.next().unwrap_or_default();
        // keys wider than their column (never in the shipped table) cut
        let k: String = k
            .chars()
            .scan(0, |w, c| {
                *w += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                (*w <= kw).then_some(c)
            })
            .collect();
        let pad = kw.saturating_sub(k.width());
        out.push(HelpLine::Key(
            format!(" {k}{:pad$}", ""),
            format!("  {first}"),
        ));
        for p in parts {
            out.push(HelpLine::More(format!(" {:kw$}  {p}", "")));
        }
    }
    for l in wrap(
        "iptop only lists rules: z sets a local baseline, never iptables -Z",
        inner - 1,
    ) {
        out.push(HelpLine::Dim(format!(" {l}")));
    }
    if let Some((chain, note)) = note {
        out.push(HelpLine::Blank);
        out.push(HelpLine::Chain(
            format!(" {chain}"),
            format!(" — written by {}", note.by),
        ));
        for l in wrap(&note.about, inner - 1) {
            out.push(HelpLine::Text(format!(" {l}")));
        }
    }
    (out, (inner + 2) as u16)
}

/// `text` in lines of at most `width` columns, word by word (a longer word on a line of
/// its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.width() + 1 + word.width() > width {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

/// The scroll of a help of `n` lines in a box `height` rows tall (borders included),
/// kept where the last line is still on screen.
pub fn clamp_scroll(scroll: u16, n: usize, height: u16) -> u16 {
    let inner = usize::from(height.saturating_sub(2)).max(1);
    scroll.min(n.saturating_sub(inner) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_80_columns_and_keeps_every_key() {
        let (l, w) = lines(80, None);
        assert!(w <= 80, "{w}");
        let keys = l.iter().filter(|l| matches!(l, HelpLine::Key(..))).count();
        assert_eq!(keys, keymap::help_lines().count());
        for line in &l {
            let text = match line {
                HelpLine::Key(k, d) => format!("{k}{d}"),
                HelpLine::More(t) | HelpLine::Dim(t) | HelpLine::Text(t) => t.clone(),
                HelpLine::Chain(a, b) => format!("{a}{b}"),
                HelpLine::Blank => String::new(),
            };
            assert!(text.width() <= usize::from(w) - 2, "{text:?}");
        }
    }

    #[test]
    fn wraps_words_and_clamps() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(clamp_scroll(50, 40, 24), 18);
        assert_eq!(clamp_scroll(3, 10, 24), 0);
    }
}
