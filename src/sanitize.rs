//! Text that leaves iptop for a terminal or a text file: rule comments, chain names,
//! interface names and listing lines are written by other programs (orchestrators name
//! chains after user-chosen service names), so every character that could move the
//! cursor, retitle the window, clear the screen, reorder what follows or hide itself is
//! shown as a visible escape instead:
//!
//! - C0 controls, DEL and C1 controls (U+0080–U+009F, such as U+009B CSI) as `\t`, `\n`,
//!   `\r` or `\xNN` (`\x1b` for ESC, `\x9b` for CSI);
//! - bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E/F, U+061C) and
//!   zero-width or otherwise invisible characters (U+200B–U+200D, U+2060–U+2064, U+FEFF,
//!   soft hyphen, fillers, tags, variation selectors, line and paragraph separators, ...)
//!   as `⟨U+202E⟩`;
//! - combining and other zero-width marks over an ASCII character (or at the start of a
//!   text) as `⟨U+0336⟩`: `A̶C̶C̶E̶P̶T̶` (each letter struck through) would otherwise read
//!   as ACCEPT. Over a letter that is not ASCII (Indic vowel signs, Hebrew points) they
//!   stay: there they are how the script is written.
//!
//! The model keeps the true text: matching, diffs and JSON stay faithful. Sanitizing
//! happens once, where text is written out, and before any column is measured, so the
//! escapes take their width in the layout (`⟨U+202E⟩` is 8 columns).

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::ser::Formatter as _;

mod pretty;

/// Characters shown as `⟨U+XXXX⟩`: bidi controls and invisible formatting characters.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'                      // soft hyphen
        | '\u{034F}'                    // combining grapheme joiner
        | '\u{061C}'                    // Arabic letter mark
        | '\u{0600}'..='\u{0605}'       // Arabic number signs
        | '\u{06DD}' | '\u{070F}' | '\u{08E2}'
        | '\u{115F}' | '\u{1160}'       // Hangul fillers
        | '\u{17B4}' | '\u{17B5}'       // Khmer inherent vowels
        | '\u{180B}'..='\u{180F}'       // Mongolian free variation selectors, vowel separator
        | '\u{200B}'..='\u{200F}'       // zero-width space, (non-)joiner, LRM, RLM
        | '\u{2028}'..='\u{202E}'       // line/paragraph separators, bidi embeddings
        | '\u{2060}'..='\u{206F}'       // word joiner, invisible operators, bidi isolates
        | '\u{3164}'                    // Hangul filler
        | '\u{FEFF}'                    // zero-width no-break space (BOM)
        | '\u{FFA0}'                    // halfwidth Hangul filler
        | '\u{FFF9}'..='\u{FFFB}'       // interlinear annotation
        | '\u{110BD}' | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}'     // Egyptian hieroglyph format controls
        | '\u{1BCA0}'..='\u{1BCA3}'     // shorthand format controls
        | '\u{1D173}'..='\u{1D17A}'     // musical symbol format controls
        | '\u{FE00}'..='\u{FE0F}'       // variation selectors
        | '\u{E0000}'..='\u{E007F}'     // tags
        | '\u{E0100}'..='\u{E01EF}'     // variation selectors supplement
    )
}

/// A combining or other zero-width mark (U+0301 acute, U+0336 long stroke overlay): it
/// draws over the character before it.
fn is_mark(c: char) -> bool {
    !c.is_ascii() && !c.is_control() && unicode_width::UnicodeWidthChar::width(c) == Some(0)
}

/// Which characters of a text are written as escapes: the unsafe ones, and marks over an
/// ASCII character, over an escape or at the start (a run of marks goes with its base).
#[derive(Debug, Clone, Copy)]
struct Escapes {
    /// Whether what a mark here would draw over is ASCII (or an escape, or nothing).
    over_ascii: bool,
}

impl Escapes {
    fn new() -> Escapes {
        Escapes { over_ascii: true }
    }

    /// Whether `c`, the next character, is escaped.
    fn escapes(&mut self, c: char) -> bool {
        if c.is_ascii() {
            self.over_ascii = true;
            return c.is_ascii_control();
        }
        if is_unsafe(c) {
            self.over_ascii = true;
            return true;
        }
        if is_mark(c) {
            return self.over_ascii;
        }
        self.over_ascii = false;
        false
    }
}

/// Whether `c` is never written out as it is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

/// Whether `s` holds any character [`text`] would escape. Fast for ASCII.
pub fn needs(s: &str) -> bool {
    first_unsafe(s, false).is_some()
}

/// Where the first character to escape starts (`lines`: line ends stay). Decodes only
/// where a lead byte can start an unsafe character, or a mark over an ASCII character:
/// printable ASCII is passed over eight bytes at a time.
fn first_unsafe(s: &str, lines: bool) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // eight bytes at a time to the first that is not printable ASCII (an export is
        // tens of MB of them, a line break and some tree drawing a line)
        if let Some(w) = b.get(i..i + 8) {
            let bad = unplain(u64::from_le_bytes(w.try_into().unwrap_or_default()));
            if bad == 0 {
                i += 8;
                continue;
            }
            i += bad.trailing_zeros() as usize / 8;
        }
        let x = b[i];
        if x < 0x80 {
            if (x < 0x20 || x == 0x7f) && !(lines && x == b'\n') {
                return Some(i);
            }
            i += 1;
            continue;
        }
        // box drawing (U+2500..U+257F), the tree's own lines: never unsafe, never a mark
        if x == 0xE2 && matches!(b.get(i + 1), Some(0x94 | 0x95)) {
            i += 3;
            continue;
        }
        // the lead bytes of C1 controls and of every character `is_invisible` names; any
        // character right after an ASCII one (or first) may be a mark over it
        let after_ascii = i == 0 || b[i - 1] < 0x80;
        if (after_ascii
            || matches!(
                x,
                0xC2 | 0xCD | 0xD8 | 0xDB | 0xDC | 0xE0 | 0xE1 | 0xE2 | 0xE3 | 0xEF | 0xF0 | 0xF3
            ))
            && s[i..]
                .chars()
                .next()
                .is_some_and(|c| is_unsafe(c) || (after_ascii && is_mark(c)))
        {
            return Some(i);
        }
        i += match x {
            0xF0.. => 4,
            0xE0.. => 3,
            _ => 2,
        };
    }
    None
}

/// Whether every byte of `b` is printable ASCII, eight at a time.
#[inline]
fn all_plain(b: &[u8]) -> bool {
    all_words(b, plain_ascii)
}

/// Whether `word` holds for every eight bytes of `b` read as one little-endian word: the
/// last eight overlap the word before them, a shorter `b` is padded with spaces (so
/// `word` must hold for spaces).
#[inline]
fn all_words(b: &[u8], word: impl Fn(u64) -> bool) -> bool {
    let load = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or_default());
    if b.len() < 8 {
        let mut pad = [b' '; 8];
        pad[..b.len()].copy_from_slice(b);
        return word(u64::from_le_bytes(pad));
    }
    let mut words = b.chunks_exact(8);
    words.by_ref().all(|w| word(load(w)))
        && (words.remainder().is_empty() || word(load(&b[b.len() - 8..])))
}

/// Whether the eight bytes in `w` are all printable ASCII (0x20..0x7e): none below a
/// space (the borrow of the subtraction sets the top bit), none at DEL or above (adding
/// one sets it; a carry only starts at a byte that already has it).
fn plain_ascii(w: u64) -> bool {
    unplain(w) == 0
}

/// The top bit of every byte of `w` (read little-endian) that is not printable ASCII, and
/// maybe of bytes after one: the lowest bit set is exactly the first such byte (a borrow
/// or carry only starts at a byte that is flagged itself).
#[inline]
fn unplain(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let del_or_above = (w | w.wrapping_add(ONES)) & HIGH;
    below_space | del_or_above
}

fn push_escape(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if c.is_control() => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "⟨U+{:04X}⟩", c as u32);
        }
    }
}

/// `s` with every unsafe character shown as a visible escape.
#[inline]
pub fn text(s: &str) -> Cow<'_, str> {
    // most texts (a rule's columns) are short and printable ASCII: a word or a few,
    // checked where they are written out, before any call
    if all_plain(s.as_bytes()) {
        return Cow::Borrowed(s);
    }
    escape_from(s, first_unsafe(s, false), false)
}

/// `s` with a space for each character [`text`] would escape (for `/metrics` labels).
pub fn blanked(s: &str) -> Cow<'_, str> {
    let Some(at) = first_unsafe(s, false) else {
        return Cow::Borrowed(s);
    };
    let (head, tail) = s.split_at_checked(at).unwrap_or(("", s));
    let mut esc = Escapes::new();
    let mut out = String::with_capacity(s.len());
    out.push_str(head);
    out.extend(tail.chars().map(|c| if esc.escapes(c) { ' ' } else { c }));
    Cow::Owned(out)
}

/// [`text`] in place.
pub fn in_place(s: &mut String) {
    if let Cow::Owned(t) = text(s) {
        *s = t;
    }
}

/// [`text`] for a multi-line text (an export, a message): its line breaks stay, every
/// other unsafe character is escaped (`\r` too).
pub fn lines(s: &str) -> Cow<'_, str> {
    escape_from(s, first_unsafe(s, true), true)
}

fn escape_from(s: &str, first: Option<usize>, lines: bool) -> Cow<'_, str> {
    let Some(at) = first else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    // `at` is where the first escape starts: what comes before is safe and ends in a
    // character the scan looked at (a mark at `at` is over ASCII, else it is unsafe)
    let (head, tail) = s.split_at_checked(at).unwrap_or(("", s));
    out.push_str(head);
    let mut esc = Escapes::new();
    for c in tail.chars() {
        match c {
            '\n' if lines => {
                esc.escapes(c);
                out.push('\n');
            }
            c if esc.escapes(c) => push_escape(&mut out, c),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The last guard before the terminal: a cell of the live view whose symbol still holds
/// a control, bidi or invisible character, or a mark over an ASCII character (every text
/// drawn is escaped first), shows `?`.
pub fn scrub(buf: &mut ratatui::buffer::Buffer) {
    for cell in &mut buf.content {
        let mut esc = Escapes::new();
        if cell.symbol().chars().any(|c| esc.escapes(c)) {
            cell.set_symbol("?");
        }
    }
}

/// Writes one message and a line end to stderr, escaped with [`lines`]: errors and
/// warnings quote chain names, comments and listing lines.
pub fn eprint_line(msg: &str) {
    use std::io::Write as _;
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{}", lines(msg.trim_end_matches('\n')));
}

/// Installs the panic hook that writes the panic's message and place escaped with
/// [`lines`]: a panic's message can quote outside text (a Docker answer, a rule), and the
/// default hook writes it raw to stderr. Installed first: the live view's hooks (which
/// restore the terminal) call it after their own work.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let _ = write_panic(info, &mut std::io::stderr().lock());
    }));
}

/// What the panic hook writes: `thread 'T' panicked at FILE:LINE:COL:`, the message,
/// then the backtrace (with `RUST_BACKTRACE` set) or the note about it; all escaped.
pub fn write_panic(
    info: &std::panic::PanicHookInfo<'_>,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let payload = info.payload();
    let msg = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    let at = info
        .location()
        .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_default();
    let thread = std::thread::current();
    let mut out = format!(
        "thread '{}' panicked{at}:\n{}\n",
        thread.name().unwrap_or("<unnamed>"),
        msg.trim_end_matches('\n')
    );
    match std::env::var_os("RUST_BACKTRACE") {
        Some(v) if v != "0" => {
            let _ = writeln!(out, "{}", std::backtrace::Backtrace::force_capture());
        }
        _ => out.push_str(
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
        ),
    }
    // one write, so that the lines of two panicking threads do not mix
    w.write_all(lines(&out).as_bytes())
}

/// Escapes for JSON string contents that serde_json leaves raw: C1 controls, DEL, the
/// invisible characters and marks over ASCII (as [`text`] picks them), as `\uXXXX` (or a
/// surrogate pair). The JSON keeps the true text (a parser reads back the same string);
/// only the file holds no raw such character.
#[derive(Default)]
pub struct JsonFormatter(Pretty, JsonEscapes);

/// serde_json's `PrettyFormatter` (two spaces an indent), with each line break and its
/// indent written in one piece.
#[derive(Default)]
struct Pretty {
    level: usize,
    has_value: bool,
}

impl Pretty {
    /// `,` (unless first), a line break and the indent of the current level.
    fn line<W: ?Sized + std::io::Write>(&self, w: &mut W, comma: bool) -> std::io::Result<()> {
        const BREAK: &[u8] = b",\n                                                                ";
        let from = usize::from(!comma);
        match BREAK.get(from..2 + 2 * self.level) {
            Some(s) => w.write_all(s),
            None => {
                w.write_all(&BREAK[from..2])?;
                (0..self.level).try_for_each(|_| w.write_all(b"  "))
            }
        }
    }

    fn begin<W: ?Sized + std::io::Write>(&mut self, w: &mut W, b: &[u8]) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b)
    }

    fn end<W: ?Sized + std::io::Write>(&mut self, w: &mut W, b: &[u8]) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.line(w, false)?;
        }
        w.write_all(b)
    }
}

/// The string escapes of both JSON layouts: which character is escaped depends on the
/// one before it, also across the fragments serde_json hands over one by one.
struct JsonEscapes(Escapes);

impl Default for JsonEscapes {
    fn default() -> Self {
        JsonEscapes(Escapes::new())
    }
}

impl JsonEscapes {
    fn begin_string<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0 = Escapes::new();
        w.write_all(b"\"")
    }

    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        // serde_json escapes only ASCII characters
        self.0.escapes('\\');
        serde_json::ser::CompactFormatter.write_char_escape(w, escape)
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // printable ASCII (most of an export) is written as it is; what a mark after it
        // would draw over is ASCII
        if !fragment.is_empty() && all_plain(fragment.as_bytes()) {
            self.0.over_ascii = true;
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if self.0.escapes(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut buf = [0u16; 2];
                for unit in &*c.encode_utf16(&mut buf) {
                    write!(w, "\\u{unit:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

impl serde_json::ser::Formatter for JsonFormatter {
    fn begin_string<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.1.begin_string(w)
    }
    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        self.1.write_char_escape(w, escape)
    }
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        self.1.write_string_fragment(w, fragment)
    }

    // pretty printing: the rest as serde_json's PrettyFormatter does it
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin(w, b"[")
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end(w, b"]")
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.line(w, !first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.0.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin(w, b"{")
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end(w, b"}")
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.line(w, !first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.0.has_value = true;
        Ok(())
    }
}

/// [`JsonFormatter`]'s escapes without the pretty layout: one line.
#[derive(Default)]
struct JsonLine(JsonEscapes);

impl serde_json::ser::Formatter for JsonLine {
    fn begin_string<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_string(w)
    }
    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        self.0.write_char_escape(w, escape)
    }
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        self.0.write_string_fragment(w, fragment)
    }
}

/// `value` as one line of JSON, escaped as [`json_pretty`] escapes.
pub fn json_line<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(4096);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, JsonLine::default());
    value.serialize(&mut ser)?;
    Ok(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()))
}

/// `value` as pretty JSON: serde_json's pretty layout with [`JsonFormatter`]'s escapes.
pub fn json_pretty<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(4096);
    json_pretty_to(&mut out, value)?;
    // the formatter writes only what serde_json and valid UTF-8 fragments give it
    Ok(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()))
}

/// [`json_pretty`] written into `w` as it is made (an export of tens of MB is never held
/// whole). Every string goes through the escapes, so what is written needs no
/// [`lines`] after it: its only control characters are the layout's line breaks.
pub fn json_pretty_to<W: std::io::Write, T: serde::Serialize + ?Sized>(
    w: W,
    value: &T,
) -> serde_json::Result<()> {
    value.serialize(&mut pretty::Pretty::new(w))
}

#[cfg(test)]
mod tests;
