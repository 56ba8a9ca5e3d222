//! The column layout a chain's title line announces, and a rule line's tokens.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Col {
    Num,
    Pkts,
    Bytes,
    Target,
    Prot,
    In,
    Out,
    Source,
    Destination,
}

impl Col {
    pub(super) fn name(self) -> &'static str {
        match self {
            Col::Num => "num",
            Col::Pkts => "pkts",
            Col::Bytes => "bytes",
            Col::Target => "target",
            Col::Prot => "prot",
            Col::In => "in",
            Col::Out => "out",
            Col::Source => "source",
            Col::Destination => "destination",
        }
    }
}

/// A few columns, without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cols {
    items: [Col; 5],
    len: u8,
}

impl Cols {
    const fn new() -> Cols {
        Cols {
            items: [Col::Num; 5],
            len: 0,
        }
    }

    pub(super) fn push(&mut self, c: Col) -> bool {
        if self.len as usize == self.items.len() || self.contains(&c) {
            return false;
        }
        self.items[self.len as usize] = c;
        self.len += 1;
        true
    }
}

impl std::ops::Deref for Cols {
    type Target = [Col];
    fn deref(&self) -> &[Col] {
        &self.items[..self.len as usize]
    }
}

/// The columns a chain's title line announced, split at `opt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ColumnLayout {
    pub(super) pre: Cols,
    pub(super) post: Cols,
    /// How many leading columns are `num`/`pkts`/`bytes`.
    pub(super) counter_prefix: usize,
}

impl ColumnLayout {
    /// The columns as a number: 4 bits a column, `opt` as 15.
    pub(super) fn code(&self) -> u64 {
        self.pre
            .iter()
            .map(|c| *c as u64 + 1)
            .chain(std::iter::once(15))
            .chain(self.post.iter().map(|c| *c as u64 + 1))
            .fold(0, |acc, v| (acc << 4) | v)
    }

    pub(super) fn has(&self, c: Col) -> bool {
        self.pre.contains(&c) || self.post.contains(&c)
    }
}

pub(super) const MAX_TOKENS: usize = 12;

/// Whitespace-separated tokens of a line with their byte spans.
pub(super) struct Tokens<'a> {
    line: &'a str,
    pub(super) spans: [(usize, usize); MAX_TOKENS],
    pub(super) len: usize,
}

impl<'a> Tokens<'a> {
    pub(super) fn new(line: &'a str, max: usize) -> Self {
        Tokens::after(line, 0, 0, max)
    }

    /// The tokens of `line` from byte `at` on, numbered from `skip`: tokens `0..skip`
    /// (read before, up to `at`) are left empty.
    pub(super) fn after(line: &'a str, skip: usize, at: usize, max: usize) -> Self {
        let bytes = line.as_bytes();
        let mut spans = [(at, at); MAX_TOKENS];
        let mut len = skip.min(max).min(MAX_TOKENS);
        let mut i = at;
        while len < max.min(MAX_TOKENS) {
            i = next(bytes, i, false);
            if i >= bytes.len() {
                break;
            }
            let start = i;
            i = next(bytes, i, true);
            spans[len] = (start, i);
            len += 1;
        }
        Tokens { line, spans, len }
    }

    pub(super) fn get(&self, i: usize) -> Option<&'a str> {
        (i < self.len).then(|| &self.line[self.spans[i].0..self.spans[i].1])
    }

    pub(super) fn end_of(&self, i: usize) -> usize {
        self.spans[i].1
    }
}

/// Whether the listing's first line ends in `\r`: a listing saved with CRLF line ends,
/// whose every line then loses one `\r` before its `\n`. In any other listing a `\r`
/// is text (a comment may hold one) and is kept, to be shown as `\r`.
pub(super) fn ends_in_cr(body: &str) -> bool {
    let b = body.as_bytes();
    let first = &b[..memchr::memchr(b'\n', b).unwrap_or(b.len())];
    first.ends_with(b"\r")
}

/// A line without its CRLF `\r`, in a listing that has them (see [`ends_in_cr`]).
#[inline]
pub(super) fn strip_cr(line: &str, crlf: bool) -> &str {
    if crlf {
        line.strip_suffix('\r').unwrap_or(line)
    } else {
        line
    }
}

pub(super) fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The first byte from `i` on that is a space or tab (`space`), or that is not; the
/// length of `b` if none. Eight bytes at a time: iptables pads its columns with runs of
/// spaces, and a 50k-rule listing has half a million of them.
fn next(b: &[u8], mut i: usize, space: bool) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // the top bit of every byte of `w` equal to `c`, of no other
    let eq = |w: u64, c: u8| {
        let x = w ^ (ONES * u64::from(c));
        !(((x & LOW7) + LOW7) | x) & HIGH
    };
    while let Some(w) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
        let spaces = eq(w, b' ') | eq(w, b'\t');
        let hit = if space { spaces } else { !spaces & HIGH };
        if hit != 0 {
            return i + hit.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    while i < b.len() && is_space(b[i]) != space {
        i += 1;
    }
    i
}

pub(super) fn is_opt(tok: &str) -> bool {
    matches!(tok, "--" | "-f" | "!f")
}

/// Does a token look like a source/destination column (`0.0.0.0/0`, `!10.0.0.0/8`,
/// `fd00::2`, `anywhere`)? Used only for listings whose `opt` column is blank
/// (ip6tables before 1.8.9).
pub(super) fn looks_like_address(tok: &str) -> bool {
    let t = tok.strip_prefix('!').unwrap_or(tok);
    if t == "anywhere" {
        return true;
    }
    let addr = t.split('/').next().unwrap_or("");
    !addr.is_empty()
        && (addr.parse::<std::net::Ipv4Addr>().is_ok()
            || addr.parse::<std::net::Ipv6Addr>().is_ok())
}

pub(super) fn parse_title(line: &str) -> Option<ColumnLayout> {
    let mut pre = Cols::new();
    let mut post = Cols::new();
    let mut seen_opt = false;
    for tok in line.split_ascii_whitespace() {
        let col = match tok {
            "num" => Col::Num,
            "pkts" => Col::Pkts,
            "bytes" => Col::Bytes,
            "target" => Col::Target,
            "prot" => Col::Prot,
            "opt" => {
                if seen_opt {
                    return None;
                }
                seen_opt = true;
                continue;
            }
            "in" => Col::In,
            "out" => Col::Out,
            "source" => Col::Source,
            "destination" => Col::Destination,
            _ => return None,
        };
        // counters, target and protocol come before `opt`, interfaces and addresses after
        let before = matches!(
            col,
            Col::Num | Col::Pkts | Col::Bytes | Col::Target | Col::Prot
        );
        if before == seen_opt {
            return None;
        }
        let dst = if seen_opt { &mut post } else { &mut pre };
        if !dst.push(col) {
            return None;
        }
    }
    if !seen_opt || pre.last() != Some(&Col::Prot) {
        return None;
    }
    let counter_prefix = pre
        .iter()
        .take_while(|c| matches!(c, Col::Num | Col::Pkts | Col::Bytes))
        .count();
    Some(ColumnLayout {
        pre,
        post,
        counter_prefix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_search_finds_what_a_byte_search_finds() {
        let by_byte = |b: &[u8], mut i: usize, space: bool| {
            while i < b.len() && is_space(b[i]) != space {
                i += 1;
            }
            i
        };
        let palette = [b' ', b'\t', b'a', b'0', 0x00, 0x09 ^ 0x80, 0xa0, b'!', 0xff];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 30) as usize;
            let b: Vec<u8> = (0..len)
                .map(|j| palette[(x >> (j % 60)) as usize % palette.len()])
                .collect();
            for i in 0..=len {
                for space in [false, true] {
                    assert_eq!(
                        next(&b, i, space),
                        by_byte(&b, i, space),
                        "{b:x?} {i} {space}"
                    );
                }
            }
        }
    }
}
