//! Parser for `iptables -L -v -n [-x] [--line-numbers]` listings, in every form seen from
//! iptables 1.4 to 1.8.x, both backends, IPv4 and IPv6, and as users paste them.
//!
//! Columns are minimum widths only (long chain and interface names push the rest of the
//! line right), so a rule line is split on whitespace and anchored on its `opt` token
//! (`--`, `-f`, `!f`); the column-title line of each chain says which columns exist.

use std::fmt;
use std::sync::Arc;

use crate::model::{Chain, ChainKind, Counter, Rule, RuleSpec, RuleTexts, Span, Table};

/// A listing line that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number in the listing.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
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
    fn name(self) -> &'static str {
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
struct Cols {
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

    fn push(&mut self, c: Col) -> bool {
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
struct Layout {
    pre: Cols,
    post: Cols,
    /// How many leading columns are `num`/`pkts`/`bytes`.
    counter_prefix: usize,
}

impl Layout {
    /// The columns as a number: 4 bits a column, `opt` as 15.
    fn code(&self) -> u64 {
        self.pre
            .iter()
            .map(|c| *c as u64 + 1)
            .chain(std::iter::once(15))
            .chain(self.post.iter().map(|c| *c as u64 + 1))
            .fold(0, |acc, v| (acc << 4) | v)
    }

    fn has(&self, c: Col) -> bool {
        self.pre.contains(&c) || self.post.contains(&c)
    }
}

const MAX_TOKENS: usize = 12;

/// Whitespace-separated tokens of a line with their byte spans.
struct Tokens<'a> {
    line: &'a str,
    spans: [(usize, usize); MAX_TOKENS],
    len: usize,
}

impl<'a> Tokens<'a> {
    fn new(line: &'a str, max: usize) -> Self {
        let bytes = line.as_bytes();
        let mut spans = [(0, 0); MAX_TOKENS];
        let mut len = 0;
        let mut i = 0;
        while len < max.min(MAX_TOKENS) {
            while i < bytes.len() && is_space(bytes[i]) {
                i += 1;
            }
            if i >= bytes.len() {
                break;
            }
            let start = i;
            while i < bytes.len() && !is_space(bytes[i]) {
                i += 1;
            }
            spans[len] = (start, i);
            len += 1;
        }
        Tokens { line, spans, len }
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        (i < self.len).then(|| &self.line[self.spans[i].0..self.spans[i].1])
    }

    fn end_of(&self, i: usize) -> usize {
        self.spans[i].1
    }
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_opt(tok: &str) -> bool {
    matches!(tok, "--" | "-f" | "!f")
}

/// Does a token look like a source/destination column (`0.0.0.0/0`, `!10.0.0.0/8`,
/// `fd00::2`, `anywhere`)? Used only for listings whose `opt` column is blank
/// (ip6tables before 1.8.9).
fn looks_like_address(tok: &str) -> bool {
    let t = tok.strip_prefix('!').unwrap_or(tok);
    if t == "anywhere" {
        return true;
    }
    let addr = t.split('/').next().unwrap_or("");
    !addr.is_empty()
        && (addr.parse::<std::net::Ipv4Addr>().is_ok()
            || addr.parse::<std::net::Ipv6Addr>().is_ok())
}

/// Parses a counter as printed by iptables: exact (`-x`) or abbreviated with a K/M/G/T
/// suffix (`332K`, `1000000T`). Returns the value and whether it is exact.
pub fn parse_counter(tok: &str) -> Result<(u64, bool), String> {
    let b = tok.as_bytes();
    let (digits, mult, exact) = match b.last() {
        Some(b'K') => (&b[..b.len() - 1], 1_000u64, false),
        Some(b'M') => (&b[..b.len() - 1], 1_000_000, false),
        Some(b'G') => (&b[..b.len() - 1], 1_000_000_000, false),
        Some(b'T') => (&b[..b.len() - 1], 1_000_000_000_000, false),
        _ => (b, 1, true),
    };
    let too_big = || format!("counter `{}` does not fit in 64 bits", snippet(tok));
    if digits.is_empty() {
        return Err(not_a_counter(tok));
    }
    // one pass: digits in, overflow checked (two counters per rule line, every poll)
    let mut n: u64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return Err(not_a_counter(tok));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d)))
            .ok_or_else(too_big)?;
    }
    let v = n.checked_mul(mult).ok_or_else(too_big)?;
    Ok((v, exact))
}

#[cold]
fn not_a_counter(tok: &str) -> String {
    format!(
        "expected a counter (digits, optionally with K/M/G/T), found `{}`",
        snippet(tok)
    )
}

/// The lines of a listing (without their `\n`), found with a vectorised search.
struct Lines<'a> {
    text: &'a str,
    pos: usize,
    done: bool,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        let rest = &self.text.as_bytes()[self.pos..];
        match memchr::memchr(b'\n', rest) {
            Some(i) => {
                // '\n' is ASCII: both ends are character boundaries
                let line = &self.text[self.pos..self.pos + i];
                self.pos += i + 1;
                Some(line)
            }
            None => {
                self.done = true;
                Some(&self.text[self.pos..])
            }
        }
    }
}

/// A short, printable excerpt of untrusted text for error messages.
fn snippet(s: &str) -> String {
    const MAX: usize = 60;
    let mut out: String = s
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > MAX {
        out.push('…');
    }
    out
}

fn parse_title(line: &str) -> Option<Layout> {
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
    Some(Layout {
        pre,
        post,
        counter_prefix,
    })
}

fn parse_header(line: &str) -> Result<(&str, ChainKind, u64, u64, bool), String> {
    let rest = line
        .trim_start()
        .strip_prefix("Chain ")
        .ok_or("expected `Chain NAME (...)`")?;
    let rest = rest.trim();
    let (name, tail) = match rest.find([' ', '\t']) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    if name.is_empty() {
        return Err("chain header without a name".into());
    }
    let inner = tail
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| {
            format!(
                "expected `(policy ...)` or `(N references)` after chain name `{}`",
                snippet(name)
            )
        })?;
    let mut buf = [""; 7];
    let mut n = 0;
    for w in inner.split_ascii_whitespace().take(buf.len()) {
        buf[n] = w;
        n += 1;
    }
    match &buf[..n] {
        ["policy", policy] => Ok((
            name,
            ChainKind::Builtin {
                policy: (*policy).into(),
            },
            0,
            0,
            true,
        )),
        ["policy", policy, pkts, "packets,", bytes, "bytes"] => {
            let (p, pe) = parse_counter(pkts)?;
            let (b, be) = parse_counter(bytes)?;
            Ok((
                name,
                ChainKind::Builtin {
                    policy: (*policy).into(),
                },
                p,
                b,
                pe && be,
            ))
        }
        [n, "references"] | [n, "reference"] => {
            let refs = n
                .parse::<u32>()
                .map_err(|_| format!("expected a reference count, found `{}`", snippet(n)))?;
            Ok((
                name,
                ChainKind::User {
                    references: Some(refs),
                },
                0,
                0,
                true,
            ))
        }
        ["ERROR", "obtaining", "refs"] => {
            Ok((name, ChainKind::User { references: None }, 0, 0, true))
        }
        _ => Err(format!(
            "expected `(policy P N packets, M bytes)` or `(N references)`, found `({})`",
            snippet(inner)
        )),
    }
}

/// The text columns of a rule line (its counters are read by [`split_counters`]).
fn parse_rule(line: &str, layout: &Layout) -> Result<RuleSpec, String> {
    let n_pre = layout.pre.len();
    let has_target_col = layout.pre.contains(&Col::Target);
    let want = n_pre + 1 + layout.post.len();
    let toks = Tokens::new(line, want);

    // Where is `opt`? Right after the pre columns, or one earlier when the target is
    // empty (a rule without -j prints blanks there).
    let (opt_at, target_missing) =
        if has_target_col && n_pre >= 1 && toks.get(n_pre - 1).is_some_and(is_opt) {
            (Some(n_pre - 1), true)
        } else if toks.get(n_pre).is_some_and(is_opt) {
            (Some(n_pre), false)
        } else {
            (None, false)
        };
    // No `opt` token: ip6tables before 1.8.9 printed blanks there. Decide from where the
    // source address sits whether the target is present.
    let (post_start, target_missing) = match opt_at {
        Some(i) => (i + 1, target_missing),
        None => {
            // Every address column must hold an address at the offset tried.
            let addr_cols: Vec<usize> = (0..layout.post.len())
                .filter(|&k| matches!(layout.post[k], Col::Source | Col::Destination))
                .collect();
            let fits = |start: usize| {
                !addr_cols.is_empty()
                    && addr_cols
                        .iter()
                        .all(|k| toks.get(start + k).is_some_and(looks_like_address))
            };
            let with_target_ok = fits(n_pre);
            let without_target_ok = has_target_col && fits(n_pre - 1);
            if with_target_ok {
                (n_pre, false)
            } else if without_target_ok {
                (n_pre - 1, true)
            } else {
                let found = toks
                    .get(n_pre)
                    .or(toks.get(toks.len.saturating_sub(1)))
                    .unwrap_or("");
                return Err(format!(
                    "expected the `opt` column (`--`, `-f` or `!f`) after {}, found `{}`",
                    layout
                        .pre
                        .iter()
                        .map(|c| c.name())
                        .collect::<Vec<_>>()
                        .join(" "),
                    snippet(found)
                ));
            }
        }
    };

    let mut spec = RuleSpec::default();
    let mut ti = 0;
    for col in layout.pre.iter() {
        if *col == Col::Target && target_missing {
            continue;
        }
        let tok = toks
            .get(ti)
            .ok_or_else(|| format!("expected the `{}` column, found end of line", col.name()))?;
        ti += 1;
        match col {
            Col::Target => spec.target = tok.to_string(),
            Col::Prot => spec.prot = tok.to_string(),
            // counters: read by split_counters
            Col::Num | Col::Pkts | Col::Bytes => {}
            _ => unreachable_col(),
        }
    }
    if let Some(i) = opt_at {
        spec.opt = toks.get(i).unwrap_or_default().to_string();
    }
    let mut end = if post_start == 0 {
        0
    } else {
        toks.end_of(post_start - 1)
    };
    for (k, col) in layout.post.iter().enumerate() {
        let tok = toks
            .get(post_start + k)
            .ok_or_else(|| format!("expected the `{}` column, found end of line", col.name()))?;
        end = toks.end_of(post_start + k);
        let field = match col {
            Col::In => &mut spec.in_iface,
            Col::Out => &mut spec.out_iface,
            Col::Source => &mut spec.source,
            Col::Destination => &mut spec.destination,
            _ => unreachable_col(),
        };
        *field = tok.to_string();
    }
    let mut extra = line[end..].trim();
    if let Some(rest) = extra.strip_prefix("[goto]") {
        spec.goto = true;
        extra = rest.trim();
    }
    spec.extra = extra.to_string();
    Ok(spec)
}

// Layouts are built by `parse_title`, which keeps `Num/Pkts/Bytes/Target/Prot` before
// `opt` and the address columns after it; a column in the wrong half cannot occur.
#[cold]
fn unreachable_col() -> ! {
    unreachable!("parse_title keeps columns in their half")
}

/// Parses one table's listing (`iptables -t <name> -L -v -n ...`).
///
/// Lines starting with `#` (iptables' `# Warning: ...` when stderr was captured along)
/// become [`Table::warnings`]; a `$ ` shell prompt before the first chain is skipped.
pub fn parse_table(name: &str, text: &str) -> Result<Table, ParseError> {
    parse_table_reusing(name, text, None)
}

/// [`parse_table_reusing`], keeping `text` in the table ([`Table::listing`]): the next
/// poll parsed against this one then takes every chain whose lines did not change at all
/// (counters included) with one comparison of bytes, without reading its lines.
pub fn parse_listing_reusing(
    name: &str,
    text: &Arc<crate::model::text::Text>,
    prev: Option<&Table>,
) -> Result<Table, ParseError> {
    let mut t = parse_table_reusing(name, text, prev)?;
    t.listing = Some(text.clone());
    Ok(t)
}

/// Splits the leading counter columns (`num`, `pkts`, `bytes`) off a rule line: their
/// values and where the rest of the line (the rule's text) starts.
fn split_counters(line: &str, layout: &Layout) -> Result<(u64, u64, bool, usize), String> {
    let n = layout.counter_prefix;
    let toks = Tokens::new(line, n);
    let (mut packets, mut bytes, mut exact) = (0, 0, true);
    for (i, col) in layout.pre[..n].iter().enumerate() {
        let tok = toks
            .get(i)
            .ok_or_else(|| format!("expected the `{}` column, found end of line", col.name()))?;
        match col {
            Col::Num => {
                tok.parse::<u32>()
                    .map_err(|_| format!("expected a rule number, found `{}`", snippet(tok)))?;
            }
            Col::Pkts => {
                let (v, e) = parse_counter(tok)?;
                packets = v;
                exact &= e;
            }
            _ => {
                let (v, e) = parse_counter(tok)?;
                bytes = v;
                exact &= e;
            }
        }
    }
    let start = if n == 0 { 0 } else { toks.end_of(n - 1) };
    Ok((packets, bytes, exact, start))
}

/// A line that is neither blank, nor a comment, nor a chain header: in a chain, a rule.
#[inline]
fn is_rule_line(line: &[u8]) -> bool {
    match line.iter().position(|b| !is_space(*b)) {
        None => false,
        Some(i) => match line[i] {
            b'#' => false,
            b'C' => !line[i..].starts_with(b"Chain "),
            _ => true,
        },
    }
}

/// Whether the lines at `start` of `body` are byte for byte those `span` marks in `prev`
/// and the chain ends there too (the listing ends, or the next line is blank or another
/// chain's header; a comment line would not end it). Gives where the next line starts
/// (None: the listing ends there).
fn same_block(body: &str, start: usize, prev: &str, span: &Span) -> Option<Option<usize>> {
    if span.len == 0 {
        return None;
    }
    let b = body.as_bytes();
    let cur = b.get(start..start.checked_add(span.len)?)?;
    let old = prev
        .as_bytes()
        .get(span.start..span.start.checked_add(span.len)?)?;
    if cur != old {
        return None;
    }
    let end = start + span.len;
    match b.get(end) {
        None => Some(None),
        Some(b'\n') => {
            let next = &b[end + 1..];
            let line = &next[..memchr::memchr(b'\n', next).unwrap_or(next.len())];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let ends = match line.iter().position(|b| !is_space(*b)) {
                None => true,
                Some(i) => line[i..].starts_with(b"Chain "),
            };
            ends.then_some(Some(end + 1))
        }
        Some(_) => None,
    }
}

struct Open<'p> {
    chain: Chain,
    layout: Option<Layout>,
    /// The same chain in the previous poll.
    prev: Option<&'p Chain>,
    /// Some rule was parsed anew (not reused from `prev`).
    fresh: bool,
    /// The rule texts, once they differ from `prev`'s (None: the same so far).
    texts: Option<RuleTexts>,
    /// The rules, once they differ from `prev`'s (None: the same so far).
    rules: Option<Vec<Rule>>,
    /// Byte offsets of the header line's start and of the last line's end.
    start: usize,
    end: usize,
    /// Line number of the last line.
    last: usize,
    /// Only the header, titles and rules so far (no comment line among them).
    plain: bool,
    exact: bool,
}

/// Parses a listing, reusing the previous poll's parsed rules wherever a rule's text is
/// unchanged: then only its counters are read. Polling 50k rules a second, almost every
/// line is such a line.
pub fn parse_table_reusing(
    name: &str,
    text: &str,
    prev: Option<&Table>,
) -> Result<Table, ParseError> {
    let mut table = Table::new(name);
    let mut current: Option<Open> = None;
    let mut header_line = 0;
    let mut any_counter_col = false;
    let mut last_line = 0;
    // rules whose jump target must be looked up at the end
    let mut unresolved: Vec<(usize, usize)> = Vec::new();

    // the header line of each chain, for "listed twice"
    let mut header_lines: Vec<usize> = Vec::new();
    // the last title line and its layout: every chain of a listing has the same one
    let mut last_title: Option<(&str, Layout)> = None;
    let finish = |table: &mut Table, open: Open, line: usize, header_lines: &mut Vec<usize>| {
        let Open {
            mut chain,
            prev,
            fresh,
            texts,
            rules,
            layout,
            start,
            end,
            last,
            plain,
            exact,
        } = open;
        table.spans.push(Span {
            start,
            len: if plain { end - start } else { 0 },
            lines: last + 1 - line,
            exact,
            counted: layout.is_some_and(|l| l.has(Col::Pkts)),
        });
        let n = chain.counters.len();
        chain.rules = match (rules, prev) {
            (Some(v), _) => Arc::new(v),
            (None, Some(p)) if p.rules.len() == n => p.rules.clone(),
            (None, Some(p)) => Arc::new(p.rules[..n.min(p.rules.len())].to_vec()),
            (None, None) => Arc::default(),
        };
        if fresh || prev.is_none_or(|p| p.rules.len() != n) {
            chain.assign_keys();
        }
        chain.text = match (texts, prev) {
            (Some(t), _) => Arc::new(t),
            (None, Some(p)) if p.rules.len() == n => p.text.clone(),
            (None, Some(p)) => Arc::new(p.text.prefix(n)),
            (None, None) => Arc::default(),
        };
        table.push_unindexed(Arc::new(chain));
        header_lines.push(line);
    };
    let no_titles = |chain: &Chain, lineno: usize, found: &str| ParseError {
        line: lineno,
        reason: format!(
            "expected the column titles of chain `{}`, found {found}",
            chain.name
        ),
    };

    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut lines = Lines {
        text: body,
        pos: 0,
        done: false,
    };
    let prev_listing = prev.and_then(|p| p.listing.as_deref());
    let mut lineno = 0;
    loop {
        let line_start = lines.pos;
        let Some(raw) = lines.next() else { break };
        lineno += 1;
        let line_end = line_start + raw.len();
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        // Rule lines first: they are nearly all of a big listing.
        if let Some(Open {
            chain,
            layout: Some(layout),
            prev: pc,
            fresh,
            texts,
            rules,
            end,
            last,
            exact: chain_exact,
            ..
        }) = &mut current
            && is_rule_line(line.as_bytes())
        {
            let in_chain = |reason: String| ParseError {
                line: lineno,
                reason: format!("in chain `{}`: {reason}", chain.name),
            };
            let (packets, bytes, exact, start) = split_counters(line, layout).map_err(in_chain)?;
            table.exact &= exact;
            *chain_exact &= exact;
            (*end, *last) = (line_end, lineno);
            let tail = &line[start..];
            let idx = chain.counters.len();
            let num = u32::try_from(idx + 1).unwrap_or(u32::MAX);
            let same = pc.filter(|p| p.text.is(idx, tail));
            match (texts.as_mut(), same) {
                (Some(t), _) => t.push(tail),
                (None, Some(_)) => {}
                (None, None) => {
                    // the first rule that differs: from here on keep this poll's texts
                    let mut t = pc.map(|p| p.text.prefix(idx)).unwrap_or_default();
                    t.push(tail);
                    *texts = Some(t);
                }
            }
            chain.counters.push(Counter { packets, bytes });
            match (same.and_then(|p| p.rules.get(idx)), rules.as_mut()) {
                // unchanged so far: nothing to build, the previous rules serve
                (Some(_), None) => {}
                (Some(p), Some(v)) => v.push(p.clone()),
                (None, v) => {
                    let spec = parse_rule(line, layout).map_err(in_chain)?;
                    *fresh = true;
                    unresolved.push((table.chains.len(), idx));
                    let v = match v {
                        Some(v) => v,
                        None => rules.insert(
                            pc.map(|p| p.rules[..idx.min(p.rules.len())].to_vec())
                                .unwrap_or_default(),
                        ),
                    };
                    v.push(Rule {
                        num,
                        spec: Arc::new(spec),
                        occurrence: 0,
                        key: 0,
                        jump: None,
                    });
                }
            }
            last_line = lineno;
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            last_line = lineno;
            if let Some(open) = current.take() {
                if open.layout.is_none() {
                    return Err(no_titles(&open.chain, lineno, "an empty line"));
                }
                finish(&mut table, open, header_line, &mut header_lines);
            }
            continue;
        }
        last_line = lineno;
        if trimmed.starts_with('#') {
            table.warnings.push(trimmed.to_string());
            if let Some(open) = &mut current {
                open.plain = false;
            }
            continue;
        }
        if trimmed.starts_with("Chain ") {
            if let Some(open) = current.take() {
                if open.layout.is_none() {
                    return Err(no_titles(&open.chain, lineno, "another chain"));
                }
                finish(&mut table, open, header_line, &mut header_lines);
            }
            // A chain whose lines are byte for byte those of the last poll (counters
            // included: no traffic) is the last poll's chain: take it without reading on.
            // Looked for where it was last time; once the header is read, by its name.
            macro_rules! take_whole {
                ($c:expr, $span:expr, $next:expr) => {{
                    let span: Span = $span;
                    table.exact &= span.exact;
                    any_counter_col |= span.counted;
                    header_lines.push(lineno);
                    table.push_unindexed(Arc::clone($c));
                    table.spans.push(Span {
                        start: line_start,
                        ..span
                    });
                    lineno += span.lines - 1;
                    last_line = lineno;
                    match $next {
                        Some(pos) => lines.pos = pos,
                        None => lines.done = true,
                    }
                    continue;
                }};
            }
            let here = table.chains.len();
            if let (Some(pl), Some(p)) = (prev_listing, prev)
                && let (Some(c), Some(span)) = (p.chains.get(here), p.spans.get(here))
                && let Some(next) = same_block(body, line_start, pl, span)
            {
                take_whole!(c, *span, next);
            }
            let (cname, kind, packets, bytes, exact) =
                parse_header(trimmed).map_err(|reason| ParseError {
                    line: lineno,
                    reason,
                })?;
            table.exact &= exact;
            header_line = lineno;
            // the previous poll's chain: usually at the same position
            let pi = prev.and_then(|p| match p.chains.get(here) {
                Some(c) if *c.name == *cname => Some(here),
                _ => p.chain_index(cname),
            });
            let pc: Option<&Chain> = pi.and_then(|i| Some(&**prev?.chains.get(i)?));
            // (at the same position it was compared above already)
            if let (Some(pl), Some(p), Some(i)) = (prev_listing, prev, pi)
                && i != here
                && let (Some(c), Some(span)) = (p.chains.get(i), p.spans.get(i))
                && let Some(next) = same_block(body, line_start, pl, span)
            {
                take_whole!(c, *span, next);
            }
            // the name is shared with the previous poll's chain
            let name = match pc {
                Some(c) => c.name.clone(),
                None => Arc::from(cname),
            };
            current = Some(Open {
                chain: Chain {
                    name,
                    kind,
                    packets,
                    bytes,
                    rules: Arc::default(),
                    counters: Vec::with_capacity(pc.map_or(0, |c| c.rules.len())),
                    text: Arc::default(),
                },
                layout: None,
                prev: pc,
                fresh: false,
                texts: pc.is_none().then(RuleTexts::default),
                rules: pc.is_none().then(Vec::new),
                start: line_start,
                end: line_end,
                last: lineno,
                plain: true,
                exact,
            });
            continue;
        }
        match &mut current {
            None => {
                if table.chains.is_empty() && trimmed.starts_with("$ ") {
                    continue;
                }
                return Err(ParseError {
                    line: lineno,
                    reason: format!(
                        "expected a `Chain NAME (...)` header, found `{}`",
                        snippet(trimmed)
                    ),
                });
            }
            Some(open) => {
                let l = match last_title {
                    Some((t, l)) if t == trimmed => l,
                    _ => {
                        let l = parse_title(trimmed).ok_or_else(|| ParseError {
                            line: lineno,
                            reason: format!(
                                "expected the column titles of chain `{}` (` pkts bytes target prot opt in out source destination`), found `{}`",
                                open.chain.name,
                                snippet(trimmed)
                            ),
                        })?;
                        last_title = Some((trimmed, l));
                        l
                    }
                };
                any_counter_col |= l.has(Col::Pkts);
                // the same text under other columns is another rule: nothing to reuse
                if open.prev.is_some_and(|p| p.text.layout != l.code()) {
                    open.prev = None;
                    open.texts = Some(RuleTexts::default());
                    open.rules = Some(Vec::new());
                }
                if let Some(t) = &mut open.texts {
                    t.layout = l.code();
                }
                open.layout = Some(l);
                (open.end, open.last) = (line_end, lineno);
            }
        }
    }
    if let Some(open) = current.take() {
        if open.layout.is_none() {
            return Err(ParseError {
                line: last_line + 1,
                reason: format!(
                    "listing ends after the header of chain `{}`: expected its column titles (was the output cut off?)",
                    open.chain.name
                ),
            });
        }
        finish(&mut table, open, header_line, &mut header_lines);
    }
    if table.chains.is_empty() {
        return Err(ParseError {
            line: last_line.max(1),
            reason: "no chains found: expected `Chain NAME (...)` headers as printed by `iptables -L -v -n`".into(),
        });
    }
    table.has_counters = any_counter_col;
    // The chain index: the previous poll's when the chains are the same.
    let same_chains = prev.is_some_and(|p| table.share_index(p));
    if !same_chains && let Err(i) = table.reindex() {
        return Err(ParseError {
            line: header_lines[i],
            reason: format!("chain `{}` is listed twice", snippet(&table.chains[i].name)),
        });
    }
    table.same_rules_as_prev = same_chains && unresolved.is_empty();
    // Jumps: reused rules kept their target's index, which holds while the chains are the
    // same as last time; otherwise look every target up.
    if same_chains {
        for (c, r) in unresolved {
            let j = table.resolve(&table.chains[c].rules[r].spec.target);
            Arc::make_mut(&mut Arc::make_mut(&mut table.chains[c]).rules)[r].jump = j;
        }
    } else {
        table.link();
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct RuleLine {
        packets: u64,
        bytes: u64,
        exact: bool,
        spec: RuleSpec,
    }

    fn rule(line: &str, title: &str) -> RuleLine {
        let layout = parse_title(title).expect("title");
        let (packets, bytes, exact, _) = split_counters(line, &layout).expect("counters");
        let spec = parse_rule(line, &layout).expect("rule");
        RuleLine {
            packets,
            bytes,
            exact,
            spec,
        }
    }

    const T_V: &str =
        " pkts bytes target     prot opt in     out     source               destination         ";
    const T_VX_NUM: &str = "num      pkts      bytes target     prot opt in     out     source               destination         ";

    #[test]
    fn counters() {
        assert_eq!(parse_counter("0"), Ok((0, true)));
        assert_eq!(parse_counter("332K"), Ok((332_000, false)));
        assert_eq!(parse_counter("60M"), Ok((60_000_000, false)));
        assert_eq!(
            parse_counter("1000000T"),
            Ok((1_000_000_000_000_000_000, false))
        );
        assert_eq!(parse_counter("18446744073709551615"), Ok((u64::MAX, true)));
        assert!(
            parse_counter("18446744073709551616")
                .unwrap_err()
                .contains("64 bits")
        );
        assert!(parse_counter("99999999T").unwrap_err().contains("64 bits"));
        assert!(parse_counter("12X").is_err());
        assert!(parse_counter("K").is_err());
        assert!(parse_counter("").is_err());
    }

    #[test]
    fn plain_rule() {
        let r = rule(
            "  123   10M ACCEPT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:80",
            T_V,
        );
        assert_eq!((r.packets, r.bytes, r.exact), (123, 10_000_000, false));
        assert_eq!(r.spec.target, "ACCEPT");
        assert_eq!(r.spec.prot, "6");
        assert_eq!(r.spec.opt, "--");
        assert_eq!(r.spec.extra, "tcp dpt:80");
    }

    #[test]
    fn long_names_push_columns() {
        let r = rule(
            "1        0        0 ACCEPT     0    --  docker_gwbridge !docker_gwbridge  0.0.0.0/0            0.0.0.0/0           ",
            T_VX_NUM,
        );
        assert_eq!(r.spec.in_iface, "docker_gwbridge");
        assert_eq!(r.spec.out_iface, "!docker_gwbridge");
        assert_eq!(r.spec.extra, "");
        let r = rule(
            " 1000   12G DOCKER-ISOLATION-STAGE-1  0    --  *      *       0.0.0.0/0            0.0.0.0/0",
            T_V,
        );
        assert_eq!(r.spec.target, "DOCKER-ISOLATION-STAGE-1");
        assert_eq!(r.bytes, 12_000_000_000);
    }

    #[test]
    fn no_target() {
        let r = rule(
            "1          77     4620            0    --  *      *       1.2.3.4              0.0.0.0/0           ",
            T_VX_NUM,
        );
        assert_eq!(r.spec.target, "");
        assert_eq!(r.spec.prot, "0");
        assert_eq!(r.spec.source, "1.2.3.4");
        assert_eq!((r.packets, r.bytes), (77, 4620));
    }

    #[test]
    fn goto_and_spacing() {
        let r = rule(
            "2           2      120 EDGE-REJECT  6    --  *      *       0.0.0.0/0            0.0.0.0/0           [goto]  tcp dpt:25",
            T_VX_NUM,
        );
        assert!(r.spec.goto);
        assert_eq!(r.spec.target, "EDGE-REJECT");
        assert_eq!(r.spec.extra, "tcp dpt:25");
        let r = rule(
            "    9     9 ACCEPT     17   --  *      *       0.0.0.0/0            0.0.0.0/0            multiport sports  !53,123",
            T_V,
        );
        assert_eq!(r.spec.extra, "multiport sports  !53,123");
    }

    #[test]
    fn old_ip6tables_blank_opt() {
        let t = " pkts bytes target     prot opt in     out     source               destination";
        let r = rule(
            "    5   400 ACCEPT     all      *      *       ::/0                 ::/0",
            t,
        );
        assert_eq!(r.spec.target, "ACCEPT");
        assert_eq!(r.spec.prot, "all");
        assert_eq!(r.spec.opt, "");
        assert_eq!(r.spec.source, "::/0");
        let r = rule(
            "    5   400            tcp      eth0   *       fd00::1              ::/0  tcp dpt:22",
            t,
        );
        assert_eq!(r.spec.target, "");
        assert_eq!(r.spec.prot, "tcp");
        assert_eq!(r.spec.in_iface, "eth0");
        assert_eq!(r.spec.extra, "tcp dpt:22");
    }

    #[test]
    fn headers() {
        let (n, k, p, b, e) =
            parse_header("Chain FORWARD (policy DROP 1234 packets, 568K bytes)").expect("header");
        assert_eq!(n, "FORWARD");
        assert_eq!(
            k,
            ChainKind::Builtin {
                policy: "DROP".into()
            }
        );
        assert_eq!((p, b, e), (1234, 568_000, false));
        let (_, k, ..) = parse_header("Chain DOCKER (2 references)").expect("header");
        assert_eq!(
            k,
            ChainKind::User {
                references: Some(2)
            }
        );
        let (_, k, ..) = parse_header("Chain X (ERROR obtaining refs)").expect("header");
        assert_eq!(k, ChainKind::User { references: None });
        let (_, k, p, ..) = parse_header("Chain INPUT (policy ACCEPT)").expect("header");
        assert_eq!(
            (k, p),
            (
                ChainKind::Builtin {
                    policy: "ACCEPT".into()
                },
                0
            )
        );
        assert!(parse_header("Chain X").is_err());
        assert!(parse_header("Chain X (many references)").is_err());
    }

    #[test]
    fn errors_name_the_line() {
        let text = "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target prot opt in out source destination\n  1 2 ACCEPT 0 XX * * 0.0.0.0/0 0.0.0.0/0\n";
        let e = parse_table("filter", text).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("opt"), "{e}");
        assert!(e.to_string().starts_with("line 3: in chain `INPUT`"), "{e}");

        let e = parse_table("filter", "").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse_table("filter", "hello\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.reason.contains("Chain NAME"));
        let e =
            parse_table("filter", "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("cut off"));
    }

    #[test]
    fn trimmed_seed_listing() {
        // The seed blog post's excerpt: only some columns, old protocol names.
        let text = "Chain FORWARD (policy DROP 0 packets, 0 bytes)
 target                    prot opt in              out
 DOCKER-USER               all  --  *               *
 ACCEPT                    all  --  *               docker_gwbridge    ctstate RELATED,ESTABLISHED
 ACCEPT                    all  --  docker_gwbridge !docker_gwbridge

Chain DOCKER-USER (1 references)
 target                    prot opt in              out
 RETURN                    all  --  *               *
";
        let t = parse_table("filter", text).expect("parse");
        assert!(!t.has_counters);
        let fwd = t.chain("FORWARD").expect("FORWARD");
        assert_eq!(fwd.rules.len(), 3);
        assert_eq!(fwd.rules[1].spec.out_iface, "docker_gwbridge");
        assert_eq!(fwd.rules[1].spec.extra, "ctstate RELATED,ESTABLISHED");
        assert_eq!(fwd.rules[2].spec.out_iface, "!docker_gwbridge");
        assert_eq!(t.jump_target(&fwd.rules[0]), t.chain_index("DOCKER-USER"));
    }

    #[test]
    fn crlf_indentation_and_warnings() {
        let text = "# Warning: iptables-legacy tables present, use iptables-legacy to see them\r\n   Chain INPUT (policy ACCEPT 5 packets, 300 bytes)\r\n    pkts bytes target prot opt in out source destination\r\n       1    60 DROP   0    --  *  *   0.0.0.0/0 0.0.0.0/0\r\n";
        let t = parse_table("filter", text).expect("parse");
        assert_eq!(t.warnings.len(), 1);
        assert_eq!(t.chains[0].rules[0].spec.target, "DROP");
        assert_eq!(t.chains[0].rules[0].spec.destination, "0.0.0.0/0");
        assert_eq!(t.chains[0].packets, 5);
    }

    #[test]
    fn duplicate_chain_is_an_error() {
        let text = "Chain X (0 references)\n pkts bytes target prot opt in out source destination\n\nChain X (0 references)\n pkts bytes target prot opt in out source destination\n";
        let e = parse_table("filter", text).unwrap_err();
        assert!(e.reason.contains("twice"), "{e}");
    }

    fn kept(text: &str) -> Table {
        parse_listing_reusing("filter", &Arc::new(text.into()), None).expect("parse")
    }

    /// Parsing with the previous poll gives exactly what parsing from scratch gives.
    fn same_as_fresh(text: &str, prev: &Table) -> Table {
        let reused =
            parse_listing_reusing("filter", &Arc::new(text.into()), Some(prev)).expect("reuse");
        let fresh = kept(text);
        assert_eq!(reused, fresh);
        for (a, b) in reused.chains.iter().zip(&fresh.chains) {
            for (x, y) in a.rules.iter().zip(b.rules.iter()) {
                assert_eq!(x.jump, y.jump, "{}", a.name);
            }
            assert_eq!(a.text, b.text, "{}", a.name);
        }
        assert_eq!(reused.spans, fresh.spans);
        reused
    }

    #[test]
    fn unchanged_chains_are_taken_whole() {
        let base =
            include_str!("../tests/fixtures/iptables/docker-swarm.nft.filter-vnxL-lines.txt");
        let prev = kept(base);
        assert!(prev.spans.iter().all(|s| s.len > 0));
        // the same listing again: every chain is the last poll's
        let t = same_as_fresh(base, &prev);
        for (a, b) in t.chains.iter().zip(&prev.chains) {
            assert!(Arc::ptr_eq(&a.rules, &b.rules) && Arc::ptr_eq(&a.text, &b.text));
        }
        // a rule appended to the last rule of a chain: that chain grew, it is read again
        let fwd = base.find("Chain FORWARD").expect("FORWARD");
        let end = fwd + base[fwd..].find("\n\n").expect("end of FORWARD");
        let grown = format!(
            "{}\n99     7     420 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0           {}",
            &base[..end],
            &base[end..]
        );
        let t = same_as_fresh(&grown, &prev);
        assert_eq!(
            t.chain("FORWARD")
                .expect("FORWARD")
                .counters
                .last()
                .map(|c| c.packets),
            Some(7)
        );
        // the last chain cut short, a comment line inside a chain, CRLF line ends
        let short = base
            .trim_end()
            .rsplit_once('\n')
            .expect("lines")
            .0
            .to_string()
            + "\n";
        same_as_fresh(&short, &prev);
        let commented = base.replacen("\n2 ", "\n# Warning: odd\n2 ", 1);
        assert_ne!(commented, base);
        let t = same_as_fresh(&commented, &prev);
        assert_eq!(t.spans[1].len, 0, "{:?}", t.chains[1].name);
        same_as_fresh(base, &t);
        same_as_fresh(&base.replace('\n', "\r\n"), &prev);
        // counters of one chain moved: the others are still taken whole
        let moved = base.replace(
            " 1500000 98765432109876 DOCKER-INGRESS",
            " 1500001 98765432109977 DOCKER-INGRESS",
        );
        let t = same_as_fresh(&moved, &prev);
        assert_eq!(
            t.chain("FORWARD").expect("FORWARD").counters[1].packets,
            1_500_001
        );
        let user = t.chain("DOCKER-USER").expect("DOCKER-USER");
        assert!(Arc::ptr_eq(
            &user.text,
            &prev.chain("DOCKER-USER").expect("DOCKER-USER").text
        ));
    }

    #[test]
    fn reuse_gives_what_a_fresh_parse_gives() {
        let base =
            include_str!("../tests/fixtures/iptables/docker-swarm.nft.filter-vnxL-lines.txt");
        let prev = kept(base);
        // counters only: every spec is the previous one
        let moved = base.replace(
            " 1500000 98765432109876 DOCKER-INGRESS",
            " 1500001 98765432109977 DOCKER-INGRESS",
        );
        assert_ne!(moved, base);
        let t = same_as_fresh(&moved, &prev);
        let fwd = t.chain("FORWARD").expect("FORWARD");
        let pf = prev.chain("FORWARD").expect("FORWARD");
        assert!(Arc::ptr_eq(&fwd.rules, &pf.rules), "the very same rules");
        assert_eq!(fwd.counters[1].packets, 1_500_001);
        // a rule inserted at the top, one changed, one chain gone
        let mut lines: Vec<String> = base.lines().map(String::from).collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("Chain FORWARD"))
            .expect("FORWARD")
            + 2;
        lines.insert(at, "1           5      300 LOG        17   --  *      *       0.0.0.0/0            0.0.0.0/0            udp dpt:53 LOG flags 0 level 4".into());
        let churned = lines.join("\n").replace("tcp dpt:80", "tcp dpt:8080") + "\n";
        let cut = churned.find("Chain DOCKER-USER").expect("DOCKER-USER");
        let churned = churned[..cut].trim_end().to_string() + "\n";
        let t = same_as_fresh(&churned, &prev);
        assert!(t.chain("DOCKER-USER").is_none());
        // the FORWARD jump to DOCKER-USER now points nowhere
        assert_eq!(t.chain("FORWARD").expect("FORWARD").rules[1].jump, None);
        // and back again
        same_as_fresh(base, &t);
    }
}
