//! How output looks: whether to colour (`--color`), which palette (`--theme`), ASCII
//! tree lines (`--ascii`), and colours for `--once` text on a terminal.

use std::io::IsTerminal;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// `--theme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeName {
    Default,
    Colorblind,
}

/// The look options, after the config file and the flags.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    pub color: ColorWhen,
    pub theme: ThemeName,
    pub ascii: bool,
    /// The columns the config file lists (bit i: `crate::cells::COLUMNS[i]`); None: the
    /// defaults.
    pub columns: Option<u32>,
}

/// Whether to colour output to a terminal-or-not `is_tty`: `always` and `never` say so;
/// `auto` colours a terminal unless `NO_COLOR` is set (and not empty) or `TERM=dumb`.
pub fn use_color(when: ColorWhen, is_tty: bool) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
            is_tty && !no_color && !dumb
        }
    }
}

/// Whether stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// Box drawing and markers as ASCII, one character for one (widths stay the same).
pub fn ascii_char(c: char) -> char {
    match c {
        '│' | '├' => '|',
        '└' => '`',
        '─' => '-',
        '▾' => 'v',
        '▸' => '>',
        '↻' => '@',
        '…' => '~',
        '×' => 'x',
        'Δ' => 'D',
        '·' => '-',
        '›' | '→' | '≥' => '>',
        '≈' => '~',
        '−' => '-',
        '±' => '+',
        '↺' => '^',
        '✓' => '+',
        '✗' => 'x',
        c => c,
    }
}

/// [`ascii_char`] over a string.
pub fn ascii(s: &str) -> String {
    s.chars().map(ascii_char).collect()
}

/// [`ascii`], then every other character outside ASCII (a rule comment's, a Docker
/// name's) as `?`, one per column it takes, so that the text is ASCII and stays aligned.
pub fn ascii_only(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(ascii_char) {
        if c.is_ascii() {
            out.push(c);
        } else {
            let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            out.extend(std::iter::repeat_n('?', w));
        }
    }
    out
}

/// The `--once` text as the look options say: ASCII tree lines, and colours when asked
/// (`--color always`) or when it goes to a terminal (`auto`; `to_stdout`: the text goes
/// to stdout, not a file).
pub fn once_text(look: &Look, to_stdout: bool, out: String) -> String {
    let out = if look.ascii { ascii_only(&out) } else { out };
    if use_color(look.color, to_stdout && stdout_is_tty()) {
        colorize_text(&out, look.theme, look.ascii)
    } else {
        out
    }
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";

/// Colours the `--once` text export: table titles and column headers bold, each row's
/// target in its verdict's colour (DROP and REJECT also bold, and underlined in the
/// colour-blind theme), findings by severity. Columns stay aligned: escapes take no room.
pub fn colorize_text(text: &str, theme: ThemeName, ascii: bool) -> String {
    let cb = theme == ThemeName::Colorblind;
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut in_findings = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let nl = &line[body.len()..];
        if body == "findings" {
            in_findings = true;
        }
        if body.starts_with("table ") || body.starts_with("CHAIN / RULE") || body == "findings" {
            out.push_str(&format!("{BOLD}{body}{RESET}{nl}"));
            continue;
        }
        if in_findings {
            let sev = body.split_whitespace().next().unwrap_or("");
            let code = match sev {
                "critical" => Some(if cb { "\x1b[1;38;5;208m" } else { "\x1b[1;31m" }),
                "warning" => Some("\x1b[33m"),
                "info" => Some("\x1b[36m"),
                _ => None,
            };
            match code {
                Some(c) => out.push_str(&format!("{c}{sev}{RESET}{}{nl}", &body[sev.len()..])),
                None => out.push_str(line),
            }
            continue;
        }
        // a tree row: the drawing, then the chain or target, then the columns
        let start = body
            .char_indices()
            .find(|&(_, c)| {
                !matches!(
                    c,
                    '│' | '├' | '└' | '─' | ' ' | '|' | '`' | '-' | '…' | '~' | '0'..='9'
                )
            })
            .map(|(i, _)| i);
        let Some(start) = start.filter(|&i| i < body.len()) else {
            out.push_str(line);
            continue;
        };
        let word_end = body[start..].find(' ').map_or(body.len(), |e| start + e);
        let word = &body[start..word_end];
        let chain_like = |w: &str| {
            w.chars()
                .all(|c| c.is_ascii_uppercase() || "-_0123456789".contains(c))
                && w.contains(|c: char| c.is_ascii_uppercase())
        };
        let code = if start == 0 {
            // a root chain's row; other lines at the margin are headers and notes
            chain_like(word).then_some(BOLD)
        } else {
            match word {
                "ACCEPT" => Some(if cb { "\x1b[38;5;33m" } else { "\x1b[32m" }),
                "DROP" | "REJECT" => Some(if cb {
                    "\x1b[1;4;38;5;208m"
                } else {
                    "\x1b[1;31m"
                }),
                "RETURN" => Some("\x1b[90m"),
                "LOG" | "NFLOG" | "ULOG" | "AUDIT" => Some("\x1b[33m"),
                "DNAT" | "SNAT" | "MASQUERADE" | "REDIRECT" | "NETMAP" => Some("\x1b[35m"),
                w if chain_like(w) => Some("\x1b[1;36m"),
                _ => None,
            }
        };
        // the colour-blind theme marks verdicts as the live view does (✓ accepts, ✗
        // drops), on the tree's last stroke so that the columns stay where they are
        let verdict = match word {
            "policy" => body[word_end..].split_whitespace().next().unwrap_or(""),
            w => w,
        };
        let mark = match verdict {
            _ if !cb || start == 0 => None,
            "ACCEPT" => Some(if ascii { '+' } else { '✓' }),
            "DROP" | "REJECT" => Some(if ascii { 'x' } else { '✗' }),
            _ => None,
        };
        let marked;
        let prefix = match (
            mark,
            body[..start].strip_suffix(if ascii { "- " } else { "─ " }),
        ) {
            (Some(m), Some(p)) => {
                marked = format!("{p}{m} ");
                marked.as_str()
            }
            _ => &body[..start],
        };
        let code = code.or(mark.map(|_| ""));
        match code {
            Some(c) => {
                if start > 0 {
                    out.push_str(&format!("\x1b[2m{prefix}{RESET}"));
                }
                if c.is_empty() {
                    out.push_str(&body[start..]);
                    out.push_str(nl);
                } else {
                    out.push_str(&format!("{c}{word}{RESET}{}{nl}", &body[word_end..]));
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_keeps_widths() {
        let s = "│  ├─ DROP ×2 … └─▾▸↻ ΔPKTS · › → ≈1±2 ↺3 ≥ −1";
        let a = ascii(s);
        assert_eq!(a, "|  |- DROP x2 ~ `-v>@ DPKTS - > > ~1+2 ^3 > -1");
        assert_eq!(a.chars().count(), s.chars().count());
        assert!(a.is_ascii());
        // outside text: one `?` per column
        let o = ascii_only("/* 防火墙 é */ ✓");
        assert_eq!(o, "/* ?????? ? */ +");
    }

    #[test]
    fn colorblind_marks_verdicts_in_place() {
        let text = "├─ ACCEPT  1\n│  └─ DROP  2\n└─ policy DROP  3\n└─ RETURN  4\n";
        let plain = |s: String| {
            let mut o = String::new();
            let mut esc = false;
            for c in s.chars() {
                match (esc, c) {
                    (_, '\x1b') => esc = true,
                    (true, 'm') => esc = false,
                    (true, _) => {}
                    (false, c) => o.push(c),
                }
            }
            o
        };
        let cb = plain(colorize_text(text, ThemeName::Colorblind, false));
        assert_eq!(
            cb,
            "├✓ ACCEPT  1\n│  └✗ DROP  2\n└✗ policy DROP  3\n└─ RETURN  4\n"
        );
        let cb = plain(colorize_text(&ascii(text), ThemeName::Colorblind, true));
        assert_eq!(
            cb,
            "|+ ACCEPT  1\n|  `x DROP  2\n`x policy DROP  3\n`- RETURN  4\n"
        );
        // the default theme leaves the drawing alone
        assert_eq!(plain(colorize_text(text, ThemeName::Default, false)), text);
    }

    #[test]
    fn never_and_always() {
        assert!(!use_color(ColorWhen::Never, true));
        assert!(use_color(ColorWhen::Always, false));
        assert!(!use_color(ColorWhen::Auto, false));
    }

    #[test]
    fn colours_verdicts_and_keeps_the_text() {
        let t = "table filter\nCHAIN / RULE  PKTS\nFORWARD (policy DROP)  1\n├─ ACCEPT  3\n└─ DROP  4\n";
        let c = colorize_text(t, ThemeName::Default, false);
        assert!(c.contains("\x1b[32mACCEPT"), "{c:?}");
        assert!(c.contains("\x1b[1;31mDROP"), "{c:?}");
        let plain = regex::Regex::new("\x1b\\[[0-9;]*m")
            .expect("re")
            .replace_all(&c, "");
        assert_eq!(plain, t);
        let cb = colorize_text(t, ThemeName::Colorblind, false);
        assert!(cb.contains("\x1b[1;4;38;5;208mDROP"), "{cb:?}");
    }
}
