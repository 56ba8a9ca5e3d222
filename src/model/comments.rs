//! Where a rule's `/* comments */` are in its match text. iptables prints a comment as
//! `/* TEXT */`, TEXT as it was given: it can hold ` */`, `/* ` and line breaks. No match
//! iptables prints writes a line break of its own, so a line break is always inside a
//! user's text: a comment runs at least past every line break after its start that
//! comes before the next `/* `. `/* ok */⏎2 999 DROP ... /* fake */` is one comment, not
//! a comment, the match text `2 999 DROP ...` and another comment.
//!
//! Whatever reads ports, addresses or targets out of a rule's text reads them from the
//! text outside the comments, so that a comment saying `dpt:22` matches no port.

use std::borrow::Cow;

/// The byte ranges of the comments in `extra`, delimiters included, in order.
pub fn comment_spans(extra: &str) -> Spans<'_> {
    Spans { extra, from: 0 }
}

/// See [`comment_spans`].
pub struct Spans<'a> {
    extra: &'a str,
    from: usize,
}

impl Iterator for Spans<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let extra = self.extra;
        let start = self.from + find3(extra.get(self.from..)?, b"/* ")?;
        let Some(mut end) = close(extra, start + 3) else {
            self.from = extra.len();
            return None;
        };
        // a line break before the next comment starts is this comment's text
        loop {
            let next = find3(&extra[end..], b"/* ").map_or(extra.len(), |k| end + k);
            let Some(nl) = extra[end..next].rfind('\n') else {
                break;
            };
            match close(extra, end + nl + 1) {
                Some(e) => end = e,
                None => break,
            }
        }
        self.from = end;
        Some((start, end))
    }
}

/// The end of the first ` */` starting at or after `from` (after `/* `: an empty
/// comment is `/*  */`).
fn close(extra: &str, from: usize) -> Option<usize> {
    find3(&extra[from..], b" */").map(|k| from + k + 3)
}

/// Where `pat` first starts in `hay`: its first byte found by `memchr`, the other two
/// compared (a `str::find` builds a two-way searcher on every call, and this runs for
/// every rule of a listing).
fn find3(hay: &str, pat: &[u8; 3]) -> Option<usize> {
    let b = hay.as_bytes();
    memchr::memchr_iter(pat[0], b).find(|&i| b.get(i..i + 3) == Some(pat.as_slice()))
}

/// The text of the first comment, without its delimiters.
pub fn first_comment(extra: &str) -> Option<&str> {
    let (s, e) = comment_spans(extra).next()?;
    Some(&extra[s + 3..e - 3])
}

/// The match text without its comments (`tcp dpt:80`): where any were taken out, white
/// space folded to single spaces; a text without comments as it is.
pub fn without_comments(extra: &str) -> Cow<'_, str> {
    if find3(extra, b"/* ").is_none() {
        return Cow::Borrowed(extra);
    }
    let mut out = String::with_capacity(extra.len());
    let mut at = 0;
    for (s, e) in comment_spans(extra) {
        out.push_str(&extra[at..s]);
        out.push(' ');
        at = e;
    }
    out.push_str(&extra[at..]);
    Cow::Owned(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The words of the match text outside its comments: the words of
/// [`without_comments`], without building that text.
pub fn words(extra: &str) -> impl Iterator<Item = &str> {
    let mut spans = comment_spans(extra);
    let mut at = Some(0);
    std::iter::from_fn(move || {
        let from = at?;
        match spans.next() {
            Some((s, e)) => {
                at = Some(e);
                Some(&extra[from..s])
            }
            None => {
                at = None;
                Some(&extra[from..])
            }
        }
    })
    .flat_map(str::split_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comments(extra: &str) -> Vec<&str> {
        comment_spans(extra).map(|(s, e)| &extra[s..e]).collect()
    }

    #[test]
    fn plain_comments() {
        assert_eq!(
            comments("/* ns0/svc-0:grpc cluster IP */ tcp dpt:9000"),
            ["/* ns0/svc-0:grpc cluster IP */"]
        );
        assert_eq!(comments("/* a */ x /* b */ y"), ["/* a */", "/* b */"]);
        assert_eq!(comments("/*  */ x"), ["/*  */"]);
        assert!(comments("tcp dpt:22").is_empty());
        assert!(comments("/* never closed").is_empty());
        assert!(comments("/* */").is_empty());
        assert_eq!(first_comment("x /* a */ y /* b */"), Some("a"));
        assert_eq!(first_comment("/*  */"), Some(""));
        assert_eq!(
            without_comments("/* a */ tcp  dpt:80 /* b */"),
            "tcp dpt:80"
        );
        assert_eq!(without_comments("tcp  dpt:80"), "tcp  dpt:80");
        for extra in [
            "/* a */ tcp  dpt:80 /* b */",
            "/* a */ x\ny",
            "/* never closed dpt:1",
            "/* a */ tcp dpt:80 /* b\nc */ udp",
            "a/* b */c",
        ] {
            let plain = without_comments(extra);
            assert!(words(extra).eq(plain.split_whitespace()), "{extra}");
        }
    }

    #[test]
    fn a_line_break_is_inside_a_comment() {
        let forged =
            "/* ok */\n2   999999 88888888 DROP all -- * * 6.6.6.6 0.0.0.0/0 tcp dpt:22 /* fake */";
        assert_eq!(comments(forged), [forged]);
        assert_eq!(without_comments(forged), "");
        assert_eq!(
            first_comment(forged),
            Some("ok */\n2   999999 88888888 DROP all -- * * 6.6.6.6 0.0.0.0/0 tcp dpt:22 /* fake")
        );
        // a comment with a line break after another comment and a match
        assert_eq!(
            comments("/* a */ tcp dpt:80 /* b\nc */ udp"),
            ["/* a */", "/* b\nc */"]
        );
        assert_eq!(
            without_comments("/* a */ tcp dpt:80 /* b\nc */ udp"),
            "tcp dpt:80 udp"
        );
        // a line break after the last ` */`: the comment cannot be closed past it
        assert_eq!(comments("/* a */ x\ny"), ["/* a */"]);
    }
}
