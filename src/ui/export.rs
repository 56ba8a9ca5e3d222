//! Exports in every format: text and JSON from [`crate::report`], and the SVG picture of
//! the coloured tree, drawn here because the live view's own render code draws each
//! table into an off-screen buffer (every chain open, the window's deltas), and the
//! buffer's cells become SVG text and rectangles. For chats, tickets and docs.

use std::fmt::Write as _;
use std::sync::Arc;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use super::live_view::LiveView;
use super::path_picture;
use super::render;
use super::theme::Theme;
use crate::derive::path::PathModel;
use crate::derive::{self, Want};
use crate::format;
use crate::model::Snapshot;
use crate::report::{self, Format, Input};

/// The export of `input` in `format`.
pub fn render(format: Format, input: &Input) -> String {
    report::render(format, input).unwrap_or_else(|| picture(input))
}

/// The path view (`--view path`) in `format`: derived once, then written out.
pub fn render_path(format: Format, input: &Input) -> String {
    let want = match format {
        Format::Text => Want::TEXT,
        Format::Json => Want::JSON,
        Format::Svg => Want::PICTURE,
    };
    let model = derive::path::path(input, want);
    match format {
        Format::Text => report::path::render_text(&model),
        Format::Json => report::path::render_json(&model),
        Format::Svg => path_svg(&model),
    }
}

/// The path view as a picture: the text's lines in the live view's colours.
fn path_svg(model: &PathModel) -> String {
    use unicode_width::UnicodeWidthStr;
    let theme = Theme {
        color: true,
        ..Theme::default()
    };
    let h = &model.header;
    let caption = match (h.window, h.window_start) {
        (Some(d), Some(start)) => format!(
            "iptop path view · window {} from {} to {}",
            format::duration(d),
            format::timestamp(start),
            format::timestamp(h.taken_at)
        ),
        _ => format!(
            "iptop path view · {} · no window",
            format::timestamp(h.taken_at)
        ),
    };
    let caption = match h.window_note {
        Some(n) => format!("{caption} ({n})"),
        None => caption,
    };
    let mut out: Vec<Vec<path_picture::Piece>> = vec![vec![(caption, theme.dim())], vec![]];
    out.extend(path_picture::styled_lines(
        model,
        &crate::report::text::columns(false),
        true,
        &theme,
        None,
    ));
    let width = out
        .iter()
        .map(|l| l.iter().map(|(t, _)| t.width()).sum::<usize>())
        .max()
        .unwrap_or(1)
        .clamp(40, 400) as u16;
    let height = (out.len().min(u16::MAX as usize) as u16).max(1);
    let area = ratatui::layout::Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    path_picture::draw_lines(&mut buf, area, &out, 0);
    buffer_to_svg(&buf)
}

/// Columns of the picture: wide enough that no column has to drop.
pub const WIDTH: u16 = 160;
const CELL_W: f64 = 8.4;
const CELL_H: f64 = 18.0;
const FONT: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";
const BG: &str = "#1e1e1e";
const FG: &str = "#d4d4d4";

/// The xterm palette for the 16 named colours.
fn named(c: Color) -> Option<&'static str> {
    Some(match c {
        Color::Black => "#000000",
        Color::Red => "#cd3131",
        Color::Green => "#0dbc79",
        Color::Yellow => "#e5e510",
        Color::Blue => "#2472c8",
        Color::Magenta => "#bc3fbc",
        Color::Cyan => "#11a8cd",
        Color::Gray => "#a0a0a0",
        Color::DarkGray => "#666666",
        Color::LightRed => "#f14c4c",
        Color::LightGreen => "#23d18b",
        Color::LightYellow => "#f5f543",
        Color::LightBlue => "#3b8eea",
        Color::LightMagenta => "#d670d6",
        Color::LightCyan => "#29b8db",
        Color::White => "#e5e5e5",
        _ => return None,
    })
}

fn hex(c: Color, default: &str) -> String {
    match c {
        Color::Reset => default.to_string(),
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(i) => {
            let (r, g, b) = xterm256(i);
            format!("#{r:02x}{g:02x}{b:02x}")
        }
        c => named(c).unwrap_or(default).to_string(),
    }
}

/// RGB of an xterm 256-colour index.
fn xterm256(i: u8) -> (u8, u8, u8) {
    const BASE: [(u8, u8, u8); 16] = [
        (0, 0, 0),
        (205, 49, 49),
        (13, 188, 121),
        (229, 229, 16),
        (36, 114, 200),
        (188, 63, 188),
        (17, 168, 205),
        (229, 229, 229),
        (102, 102, 102),
        (241, 76, 76),
        (35, 209, 139),
        (245, 245, 67),
        (59, 142, 234),
        (214, 112, 214),
        (41, 184, 219),
        (255, 255, 255),
    ];
    match i {
        0..=15 => BASE[i as usize],
        16..=231 => {
            let i = i - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            (level(i / 36), level((i / 6) % 6), level(i % 6))
        }
        _ => {
            let v = 8 + (i - 232) * 10;
            (v, v, v)
        }
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // control characters are not allowed in XML text; invisible ones are not drawn
            // (the view escapes both before they reach a cell)
            c if crate::sanitize::is_unsafe(c) => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[derive(PartialEq, Clone)]
struct Look {
    fg: String,
    bg: String,
    bold: bool,
    italic: bool,
    underline: bool,
    dim: bool,
}

fn look(cell: &ratatui::buffer::Cell) -> Look {
    let m = cell.modifier;
    let (mut fg, mut bg) = (hex(cell.fg, FG), hex(cell.bg, BG));
    if m.contains(Modifier::REVERSED) {
        std::mem::swap(&mut fg, &mut bg);
    }
    Look {
        fg,
        bg,
        bold: m.contains(Modifier::BOLD),
        italic: m.contains(Modifier::ITALIC),
        underline: m.contains(Modifier::UNDERLINED),
        dim: m.contains(Modifier::DIM),
    }
}

/// Turns a rendered buffer into an SVG document.
pub fn buffer_to_svg(buf: &Buffer) -> String {
    let area = buf.area;
    let (w, h) = (
        f64::from(area.width) * CELL_W,
        f64::from(area.height) * CELL_H,
    );
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.1} {h:.1}" font-family="{FONT}" font-size="14">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="{BG}"/>"#);
    for y in 0..area.height {
        // runs of cells with the same look
        let mut x = 0;
        while x < area.width {
            let cell = &buf[(x, y)];
            let l = look(cell);
            let start = x;
            let mut text = String::new();
            while x < area.width && look(&buf[(x, y)]) == l {
                let sym = buf[(x, y)].symbol();
                text.push_str(if sym.is_empty() { " " } else { sym });
                x += 1;
            }
            let (px, py) = (f64::from(start) * CELL_W, f64::from(y) * CELL_H);
            let run_w = f64::from(x - start) * CELL_W;
            if l.bg != BG {
                let _ = writeln!(
                    s,
                    r#"<rect x="{px:.1}" y="{py:.1}" width="{run_w:.1}" height="{CELL_H:.1}" fill="{}"/>"#,
                    l.bg
                );
            }
            if text.trim().is_empty() {
                continue;
            }
            let mut attrs = format!(r#"fill="{}""#, l.fg);
            if l.bold {
                attrs.push_str(r#" font-weight="bold""#);
            }
            if l.italic {
                attrs.push_str(r#" font-style="italic""#);
            }
            if l.underline {
                attrs.push_str(r#" text-decoration="underline""#);
            }
            if l.dim {
                attrs.push_str(r#" opacity="0.6""#);
            }
            // textLength keeps the grid even where a font's glyphs are wider
            let _ = writeln!(
                s,
                r#"<text x="{px:.1}" y="{:.1}" {attrs} textLength="{run_w:.1}" lengthAdjust="spacingAndGlyphs" xml:space="preserve">{}</text>"#,
                py + CELL_H * 0.75,
                escape(&text)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Draws every table of the export with the live view's render code, one above the other.
pub fn picture(input: &Input) -> String {
    let theme = Theme {
        color: true,
        ..Theme::default()
    };
    let mut pieces: Vec<Buffer> = Vec::new();
    for (ti, t) in input.snapshot.tables.iter().enumerate() {
        let snap = Arc::new(Snapshot {
            tables: vec![t.clone()],
            ..input.snapshot.clone()
        });
        let (deltas, window) = match input.deltas {
            Some(d) => (d.table(ti).cloned(), d.elapsed),
            None => (None, Default::default()),
        };
        let caption = match (input.deltas, input.window_start) {
            (Some(d), Some(start)) => format!(
                "iptop export · window {} from {} to {}",
                format::duration(d.elapsed),
                format::timestamp(start),
                format::timestamp(input.snapshot.taken_at)
            ),
            _ => format!(
                "iptop export · {} · no window",
                format::timestamp(input.snapshot.taken_at)
            ),
        };
        let caption = match input.window_note {
            Some(n) => format!("{caption} ({n})"),
            None => caption,
        };
        let mut app = LiveView::for_export(
            input.source.clone(),
            snap,
            deltas,
            window,
            input.roots.to_vec(),
            input.moved_only,
            caption,
        );
        // header, tabs, column titles, the rows, the caption
        const MAX_ROWS: usize = 4000;
        if app.rows().len() > MAX_ROWS {
            let c = app.caption().unwrap_or_default();
            let c = format!("{c} · the first {MAX_ROWS} of {} rows", app.rows().len());
            app.set_caption(c);
        }
        let rows = app.rows().len().clamp(1, MAX_ROWS) as u16;
        let height = rows + 4;
        // a test backend cannot fail
        let Ok(mut term) = Terminal::new(TestBackend::new(WIDTH, height));
        let drawn = term.draw(|f| {
            app.layout(f.area());
            render::draw(f, &app, &theme);
        });
        if drawn.is_ok() {
            pieces.push(term.backend().buffer().clone());
        }
    }
    // stack the tables with an empty line between them
    let total: u16 = pieces
        .iter()
        .map(|b| b.area.height + 1)
        .sum::<u16>()
        .saturating_sub(1)
        .max(1);
    let mut all = Buffer::empty(ratatui::layout::Rect::new(0, 0, WIDTH, total));
    let mut y0 = 0;
    for b in &pieces {
        for y in 0..b.area.height {
            for x in 0..WIDTH {
                all[(x, y0 + y)] = b[(x, y)].clone();
            }
        }
        y0 += b.area.height + 1;
    }
    buffer_to_svg(&all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_and_escaping() {
        assert_eq!(xterm256(16), (0, 0, 0));
        assert_eq!(xterm256(231), (255, 255, 255));
        assert_eq!(xterm256(58), (95, 95, 0));
        assert_eq!(xterm256(232), (8, 8, 8));
        assert_eq!(escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;?");
    }
}
