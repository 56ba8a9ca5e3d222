use super::*;
use unicode_width::UnicodeWidthStr;

pub(super) const HOSTILE: &str =
    "a\u{1b}]0;pwned\u{7}\u{1b}[2J\r\u{9b}1m\u{202e}z\u{200b}\u{7f}\tb\n";

#[test]
fn escapes_are_visible_and_ascii_stays() {
    assert!(matches!(text("DOCKER-USER tcp dpt:80"), Cow::Borrowed(_)));
    assert!(matches!(text("ß → café ×2"), Cow::Borrowed(_)));
    assert_eq!(
        text(HOSTILE),
        "a\\x1b]0;pwned\\x07\\x1b[2J\\r\\x9b1m⟨U+202E⟩z⟨U+200B⟩\\x7f\\tb\\n"
    );
    assert!(!text(HOSTILE).chars().any(is_unsafe));
    assert_eq!(text("\u{202e}").width(), 8);
    assert_eq!(text("\u{e0041}"), "⟨U+E0041⟩");
}

#[test]
fn scrub_leaves_no_raw_character_in_a_frame() {
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    let mut buf = Buffer::empty(Rect::new(0, 0, 20, 1));
    buf[(0, 0)].set_symbol("a\u{200d}");
    buf[(1, 0)].set_symbol("\u{1b}");
    buf[(2, 0)].set_symbol("é");
    scrub(&mut buf);
    assert_eq!(buf[(0, 0)].symbol(), "?");
    assert_eq!(buf[(1, 0)].symbol(), "?");
    assert_eq!(buf[(2, 0)].symbol(), "é");
}

#[test]
fn eight_bytes_at_a_time_find_what_one_at_a_time_finds() {
    for bad in [0u8, 0x09, 0x0a, 0x1f, 0x7f, 0x80, 0xc2, 0xff] {
        for at in 0..8 {
            let mut w = *b"abcdefgh";
            w[at] = bad;
            assert!(!plain_ascii(u64::from_le_bytes(w)), "{bad:#x} at {at}");
        }
    }
    assert!(plain_ascii(u64::from_le_bytes(*b" ~AZaz09")));
    let s = format!("{}\u{1b}x{}\u{202e}", "a".repeat(21), "b".repeat(9));
    assert_eq!(first_unsafe(&s, false), Some(21));
    assert_eq!(first_unsafe(&s[22..], false), Some(10));
    assert_eq!(first_unsafe(&"x\n".repeat(9), true), None);
    assert_eq!(first_unsafe(&"x\n".repeat(9), false), Some(1));
}

#[test]
fn every_byte_of_a_short_text_is_read() {
    // each length up to 17, each kind of byte at each place among plain ones
    for n in 0..=17 {
        for bad in [0u8, 0x09, 0x1f, b'"', b'\\', 0x7f, 0x80, 0xff] {
            for at in 0..n {
                let mut b: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
                b[at] = bad;
                let want = b.iter().all(|c| (0x20..0x7f).contains(c));
                assert_eq!(all_plain(&b), want, "{bad:#x} at {at} of {n}");
                // no byte of the word is `"` (none of `w ^ "…"` is zero)
                let quote = all_words(&b, |w| {
                    let x = w ^ 0x2222_2222_2222_2222;
                    x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080 == 0
                });
                assert_eq!(quote, !b.contains(&b'"'), "quote: {bad:#x} at {at} of {n}");
            }
            let plain: Vec<u8> = (0..n).map(|i| b' ' + (i % 95) as u8).collect();
            assert!(all_plain(&plain), "{n}");
        }
    }
}

#[test]
fn the_pretty_layout_is_serde_jsons() {
    let mut deep = serde_json::json!({"x": [1, {}, [], {"y": null}]});
    for _ in 0..40 {
        deep = serde_json::json!({"a": [deep.clone(), "s"], "b": {}, "c": []});
    }
    let theirs = serde_json::to_string_pretty(&deep).expect("json");
    assert_eq!(json_pretty(&deep).expect("json"), theirs);
}

#[test]
fn lines_keep_line_breaks() {
    assert_eq!(lines("a\u{1b}b\r\nc\rd\n"), "a\\x1bb\\r\nc\\rd\n");
    assert!(matches!(lines("│  ├─ ACCEPT\n"), Cow::Borrowed(_)));
    // every lead byte the fast scan skips decodes to a safe character, alone and
    // after a letter that is not ASCII
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
        let s = c.to_string();
        assert_eq!(needs(&s), is_unsafe(c) || is_mark(c), "U+{:04X}", c as u32);
        assert_eq!(needs(&format!("é{c}")), is_unsafe(c), "U+{:04X}", c as u32);
    }
    assert!(!lines(HOSTILE).chars().any(|c| c != '\n' && is_unsafe(c)));
}

#[test]
fn json_stays_faithful_without_raw_characters() {
    let v = serde_json::json!({ "extra": HOSTILE, "name": "é\u{2066}x" });
    let s = json_pretty(&v).expect("json");
    assert!(!s.chars().any(|c| c != '\n' && is_unsafe(c)), "{s}");
    assert!(s.contains("\\u202e") && s.contains("\\u009b") && s.contains("\\u001b"));
    let back: serde_json::Value = serde_json::from_str(&s).expect("parse");
    assert_eq!(back, v);
    // the same layout as serde_json's own pretty printer
    let plain = serde_json::json!({"a": [1, {"b": "c"}], "d": null});
    assert_eq!(
        json_pretty(&plain).expect("json"),
        serde_json::to_string_pretty(&plain).expect("json")
    );
    assert_eq!(
        json_line(&v).expect("json"),
        json_pretty(&v)
            .expect("json")
            .replace("\n", "")
            .replace("  ", "")
            .replace("\": ", "\":")
    );
    let astral = serde_json::json!("\u{e0041}");
    assert_eq!(json_pretty(&astral).expect("json"), "\"\\udb40\\udc41\"");
    // what json_pretty_to writes needs no escaping after it (`--once` streams it)
    let marks = serde_json::json!({ "\u{336}k\u{202e}": ["\u{336}DROP", "a\n\u{301}", "é\u{301}", HOSTILE] });
    for v in [&v, &marks, &astral] {
        let mut out = Vec::new();
        json_pretty_to(&mut out, v).expect("json");
        let out = String::from_utf8(out).expect("utf-8");
        assert!(matches!(lines(&out), Cow::Borrowed(_)), "{out}");
    }
}

/// Variation selectors, tags and marks over ASCII: escaped in text, lines, JSON (both
/// layouts) and the live view's cells.
#[test]
fn variation_selectors_tags_and_marks_over_ascii() {
    for c in [
        '\u{fe00}',
        '\u{fe0f}',
        '\u{e0100}',
        '\u{e01ef}',
        '\u{e0001}',
        '\u{e007f}',
    ] {
        let s = format!("a{c}b");
        assert_eq!(text(&s), format!("a⟨U+{:04X}⟩b", c as u32));
        assert_eq!(lines(&s), text(&s));
        for j in [json_pretty(&s).expect("json"), json_line(&s).expect("json")] {
            assert!(!j.contains(c), "{j}");
            assert_eq!(serde_json::from_str::<String>(&j).expect("parse"), s);
        }
    }
    // a struck-through ACCEPT cannot read as ACCEPT
    let struck = "A\u{336}C\u{336}C\u{336}E\u{336}P\u{336}T\u{336}";
    assert_eq!(
        text(struck),
        "A⟨U+0336⟩C⟨U+0336⟩C⟨U+0336⟩E⟨U+0336⟩P⟨U+0336⟩T⟨U+0336⟩"
    );
    // several marks on one letter, a mark first, after an escape, after a line break
    assert_eq!(text("X\u{301}\u{20d2}"), "X⟨U+0301⟩⟨U+20D2⟩");
    assert_eq!(text("\u{336}DROP"), "⟨U+0336⟩DROP");
    assert_eq!(text("\u{1b}\u{336}"), "\\x1b⟨U+0336⟩");
    assert_eq!(lines("a\n\u{336}b"), "a\n⟨U+0336⟩b");
    // over a letter that is not ASCII, marks are how the script is written
    assert!(matches!(text("कि é\u{301} ש\u{5b8}"), Cow::Borrowed(_)));
    assert!(matches!(text("├─ ACCEPT ×2 …"), Cow::Borrowed(_)));
    for j in [
        json_pretty(&struck).expect("json"),
        json_line(&serde_json::json!({"a": struck, "b": "\"\u{336}x"})).expect("json"),
    ] {
        assert!(!j.contains('\u{336}'), "{j}");
    }
    assert_eq!(
        serde_json::from_str::<String>(&json_line(&struck).expect("json")).expect("parse"),
        struck
    );
    // a mark after a letter that is not ASCII stays raw in JSON too
    assert_eq!(json_line("é\u{301}").expect("json"), "\"é\u{301}\"");

    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    let mut buf = Buffer::empty(Rect::new(0, 0, 3, 1));
    buf[(0, 0)].set_symbol("A\u{336}");
    buf[(1, 0)].set_symbol("é\u{301}");
    scrub(&mut buf);
    assert_eq!(buf[(0, 0)].symbol(), "?");
    assert_eq!(buf[(1, 0)].symbol(), "é\u{301}");
}

/// The panic hook writes a hostile message and its place escaped.
#[test]
fn the_panic_hook_escapes_what_it_writes() {
    use std::sync::{Arc, Mutex};
    let got = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = Arc::clone(&got);
    let before = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut v) = sink.lock() {
            let _ = write_panic(info, &mut *v);
        }
    }));
    let r = std::panic::catch_unwind(|| {
        panic!("bad id {}", "a\u{1b}]0;pwned\u{7}\u{202e}\u{fe0f}X\u{336}");
    });
    std::panic::set_hook(before);
    assert!(r.is_err());
    let out = String::from_utf8(got.lock().expect("lock").clone()).expect("utf-8");
    assert!(
        out.contains("bad id a\\x1b]0;pwned\\x07⟨U+202E⟩⟨U+FE0F⟩X⟨U+0336⟩"),
        "{out}"
    );
    assert!(out.contains("panicked at src/sanitize/tests.rs:"), "{out}");
    assert!(!out.chars().any(|c| c != '\n' && is_unsafe(c)), "{out}");
}

#[test]
fn tree_lines_are_skipped_what_follows_them_is_not() {
    assert_eq!(first_unsafe("│  ├─ └─ x", false), None);
    let s = "│  ├─\u{202e}x";
    assert_eq!(first_unsafe(s, false), Some(s.find('\u{202e}').unwrap()));
    let s = "├─ a\u{336}";
    assert_eq!(first_unsafe(s, false), Some(s.find('\u{336}').unwrap()));
}

#[test]
fn the_first_byte_flagged_in_a_word_is_the_first_not_printable() {
    let palette = [
        b' ', b'a', b'~', 0x00, 0x0a, 0x1f, 0x7f, 0x80, 0xc2, 0xe2, 0xff,
    ];
    for k in 0..palette.len().pow(4) {
        let mut w = *b"abcdefgh";
        for (j, at) in [0, 3, 4, 7].into_iter().enumerate() {
            w[at] = palette[k / palette.len().pow(j as u32) % palette.len()];
        }
        let first = w.iter().position(|&c| !(b' '..=b'~').contains(&c));
        let bad = unplain(u64::from_le_bytes(w));
        let got = (bad != 0).then(|| bad.trailing_zeros() as usize / 8);
        assert_eq!(got, first, "{w:x?}");
    }
}

#[test]
fn the_word_scan_finds_what_a_character_scan_finds() {
    fn by_char(s: &str, lines: bool) -> Option<usize> {
        let mut after_ascii = true;
        for (i, c) in s.char_indices() {
            let bad = if c.is_ascii() {
                c.is_ascii_control() && !(lines && c == '\n')
            } else {
                is_unsafe(c) || (after_ascii && is_mark(c))
            };
            if bad {
                return Some(i);
            }
            after_ascii = c.is_ascii();
        }
        None
    }
    let palette = [
        "a", "b", " ", "~", "\n", "\t", "│", "├─", "…", "×", "é", "\u{202e}", "\u{336}", "\u{85}",
        "\u{200b}", "\u{7f}",
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..20_000 {
        let mut s = String::new();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 40) as usize;
        for j in 0..len {
            let pick = (x >> (j % 60)) as usize;
            // mostly plain letters, as a listing is
            let p = if pick.is_multiple_of(5) {
                pick / 5 % palette.len()
            } else {
                pick % 2
            };
            s.push_str(palette[p]);
        }
        for lines in [false, true] {
            assert_eq!(first_unsafe(&s, lines), by_char(&s, lines), "{s:?} {lines}");
        }
    }
}
