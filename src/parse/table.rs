//! One table's listing, line by line, reusing the previous poll's parse where the text
//! is the same.

use std::sync::Arc;

use super::ParseError;
use super::RuleCounts;
use super::columns::{Col, ColumnLayout, ends_in_cr, is_space, parse_title, strip_cr};
use super::fields::{parse_header, parse_rule, snippet, split_counters};
use super::records::{Record, partition_counted};
use crate::model::{Chain, ChainSpan, Counter, FirewallTable, Rule, RuleTexts};

/// The lines of a listing (without their `\n`), found with a vectorised search; or,
/// once a comment with line breaks was found, its records (a rule with the lines that
/// continue its comment is one item).
pub(super) struct Lines<'a> {
    text: &'a str,
    pos: usize,
    done: bool,
    records: Option<(Vec<Record>, usize)>,
    /// The last item's first line number and line count (records only).
    item: (usize, usize),
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        if let Some((recs, i)) = &mut self.records {
            let Some(r) = recs.get(*i) else {
                self.done = true;
                return None;
            };
            *i += 1;
            self.pos = recs.get(*i).map_or(self.text.len(), |n| n.start);
            self.item = (r.line, r.lines);
            return Some(&self.text[r.start..r.end]);
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

/// A line that is neither blank, nor a comment, nor a chain header: in a chain, a rule.
#[inline]
pub(super) fn is_rule_line(line: &[u8]) -> bool {
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
pub(super) fn same_block(
    body: &str,
    start: usize,
    prev: &str,
    span: &ChainSpan,
) -> Option<Option<usize>> {
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

pub(super) struct Open<'p> {
    chain: Chain,
    layout: Option<ColumnLayout>,
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
    /// Where the last rule's line starts.
    last_rule: usize,
}

/// Why a listing read line by line was not taken.
enum Stop {
    /// This error, wherever the line numbers go.
    Error(ParseError),
    /// A rule number out of sequence: a comment may hold a line break.
    Numbering(ParseError),
}

/// Parses a listing, reusing the previous poll's parsed rules wherever a rule's text is
/// unchanged: then only its counters are read. Polling 50k rules a second, almost every
/// line is such a line.
///
/// Rules are numbered (`--line-numbers`): a listing whose numbers do not run 1, 2, 3, ...
/// in every chain, or that fails to parse, is read again with each rule's comment
/// continued over line breaks ([`super::records`]).
pub(super) fn parse_lines(
    name: &str,
    text: &str,
    prev: Option<&FirewallTable>,
    counts: Option<RuleCounts>,
    reusable: bool,
) -> Result<FirewallTable, ParseError> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let crlf = ends_in_cr(body);
    let first = match parse_records(name, body, prev, None, crlf, reusable) {
        Ok(t) => {
            let Some(counts) = counts.filter(|c| !fits_counts(&t, *c)) else {
                return Ok(t);
            };
            // one rule a line reads more rules than the kernel holds: a comment's line
            // break printed one; the reading with the kernel's counts, if there is one
            return Ok(match partition_counted(body, crlf, Some(counts)) {
                Ok(Some(records)) => {
                    match parse_records(name, body, prev, Some(records), crlf, reusable) {
                        Ok(j) => j,
                        Err(_) => t,
                    }
                }
                _ => t,
            });
        }
        Err(stop) => stop,
    };
    let (first, numbering) = match first {
        Stop::Error(e) => (e, false),
        Stop::Numbering(e) => (e, true),
    };
    match partition_counted(body, crlf, counts) {
        // an earlier line than the numbers' is what failed
        Err(e) if !numbering && first.line < e.line => Err(first),
        Err(e) => Err(e),
        Ok(None) => Err(first),
        // the byte comparison with the previous listing assumes one rule a line
        Ok(Some(records)) => parse_records(name, body, prev, Some(records), crlf, reusable)
            .map_err(|s| match s {
                Stop::Error(e) | Stop::Numbering(e) => e,
            }),
    }
}

/// Every chain the kernel knows holds as many rules as it says.
fn fits_counts(t: &FirewallTable, counts: RuleCounts) -> bool {
    t.chains
        .iter()
        .all(|c| counts(&c.name).is_none_or(|n| n == c.rules.len()))
}

fn parse_records(
    name: &str,
    body: &str,
    prev: Option<&FirewallTable>,
    records: Option<Vec<Record>>,
    crlf: bool,
    reusable: bool,
) -> Result<FirewallTable, Stop> {
    let joined = records.is_some();
    let mut table = FirewallTable::new(name);
    let mut current: Option<Open> = None;
    let mut header_line = 0;
    let mut any_counter_col = false;
    let mut last_line = 0;
    // rules whose jump target must be looked up at the end
    let mut unresolved: Vec<(usize, usize)> = Vec::new();

    // the header line of each chain, for "listed twice"
    let mut header_lines: Vec<usize> = Vec::new();
    // the last title line and its layout: every chain of a listing has the same one
    let mut last_title: Option<(&str, ColumnLayout)> = None;
    let finish =
        |table: &mut FirewallTable, open: Open, line: usize, header_lines: &mut Vec<usize>| {
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
                ..
            } = open;
            table.spans.push(ChainSpan {
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

    let mut lines = Lines {
        text: body,
        pos: 0,
        done: false,
        records: records.map(|r| (r, 0)),
        item: (0, 1),
    };
    // whole chains are compared byte for byte only line by line
    let prev_listing = prev.and_then(|p| p.listing.as_deref()).filter(|_| !joined);
    let mut lineno = 0;
    loop {
        let line_start = lines.pos;
        let Some(raw) = lines.next() else { break };
        lineno += 1;
        // the lines this item spans after its first
        let mut more_lines = 0;
        if joined {
            lineno = lines.item.0;
            more_lines = lines.item.1 - 1;
        }
        let line_end = line_start + raw.len();
        let line = strip_cr(raw, crlf);
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
            plain,
            last_rule,
            ..
        }) = &mut current
            && is_rule_line(line.as_bytes())
        {
            let in_chain = |reason: String| ParseError {
                line: lineno,
                reason: format!("in chain `{}`: {reason}", chain.name),
            };
            // a rule with a comment that holds line breaks: its columns are on its
            // first line, the rest of the comment follows
            let (first, rest) = match more_lines {
                0 => (line, ""),
                _ => {
                    let i = memchr::memchr(b'\n', line.as_bytes()).unwrap_or(line.len());
                    *plain = false;
                    (strip_cr(&line[..i], crlf), &line[i..])
                }
            };
            let (packets, bytes, exact, start, printed) =
                split_counters(first, layout).map_err(in_chain)?;
            let idx = chain.counters.len();
            let num = u32::try_from(idx + 1).unwrap_or(u32::MAX);
            if printed.is_some_and(|n| n != num) {
                return Err(Stop::Numbering(in_chain(format!(
                    "expected rule number {num}, found {}",
                    printed.unwrap_or_default()
                ))));
            }
            table.exact &= exact;
            *chain_exact &= exact;
            (*end, *last, *last_rule) = (line_end, lineno + more_lines, line_start);
            // the text the rule is read from: with CRLF ends, a comment's inner lines
            // lose their `\r` too, so that the same text always reads the same
            let tail = match (crlf, more_lines) {
                (true, 1..) => std::borrow::Cow::Owned(line[start..].replace("\r\n", "\n")),
                _ => std::borrow::Cow::Borrowed(&line[start..]),
            };
            let same = pc.filter(|p| p.text.is(idx, &tail));
            match (texts.as_mut(), same) {
                // no parse follows to compare them with
                _ if !reusable => {}
                (Some(t), _) => t.push(&tail),
                (None, Some(_)) => {}
                (None, None) => {
                    // the first rule that differs: from here on keep this poll's texts
                    let mut t = pc.map(|p| p.text.prefix(idx)).unwrap_or_default();
                    t.push(&tail);
                    *texts = Some(t);
                }
            }
            chain.counters.push(Counter { packets, bytes });
            match (same.and_then(|p| p.rules.get(idx)), rules.as_mut()) {
                // unchanged so far: nothing to build, the previous rules serve
                (Some(_), None) => {}
                (Some(p), Some(v)) => v.push(p.clone()),
                (None, v) => {
                    let mut spec = parse_rule(first, layout, start).map_err(in_chain)?;
                    if crlf {
                        spec.extra.push_str(&rest.replace("\r\n", "\n"));
                    } else {
                        spec.extra.push_str(rest);
                    }
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
                        native: None,
                    });
                }
            }
            last_line = lineno + more_lines;
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            last_line = lineno;
            if let Some(open) = current.take() {
                if open.layout.is_none() {
                    return Err(no_titles(&open.chain, lineno, "an empty line").into());
                }
                finish(&mut table, open, header_line, &mut header_lines);
            }
            continue;
        }
        last_line = lineno;
        if trimmed.starts_with('#') {
            // right after a rule with a comment, in a numbered chain: maybe the comment's
            if let Some(o) = &current
                && !joined
                && o.layout.is_some_and(|l| l.has(Col::Num))
                && o.chain.counters.last().is_some()
                && body[o.last_rule..o.end].contains("/*")
            {
                return Err(Stop::Numbering(ParseError {
                    line: lineno,
                    reason: format!("in chain `{}`: a `#` line among its rules", o.chain.name),
                }));
            }
            table.warnings.push(trimmed.to_string());
            if let Some(open) = &mut current {
                open.plain = false;
            }
            continue;
        }
        if trimmed.starts_with("Chain ") {
            if let Some(open) = current.take() {
                if open.layout.is_none() {
                    return Err(no_titles(&open.chain, lineno, "another chain").into());
                }
                finish(&mut table, open, header_line, &mut header_lines);
            }
            // A chain whose lines are byte for byte those of the last poll (counters
            // included: no traffic) is the last poll's chain: take it without reading on.
            // Looked for where it was last time; once the header is read, by its name.
            macro_rules! take_whole {
                ($c:expr, $span:expr, $next:expr) => {{
                    let span: ChainSpan = $span;
                    table.exact &= span.exact;
                    any_counter_col |= span.counted;
                    header_lines.push(lineno);
                    table.push_unindexed(Arc::clone($c));
                    table.spans.push(ChainSpan {
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
                    native: None,
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
                last_rule: line_start,
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
                }
                .into());
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
            }.into());
        }
        finish(&mut table, open, header_line, &mut header_lines);
    }
    if table.chains.is_empty() {
        return Err(ParseError {
            line: last_line.max(1),
            reason: "no chains found: expected `Chain NAME (...)` headers as printed by `iptables -L -v -n`".into(),
        }.into());
    }
    table.has_counters = any_counter_col;
    // The chain index: the previous poll's when the chains are the same.
    let same_chains = prev.is_some_and(|p| table.share_index(p));
    if !same_chains && let Err(i) = table.reindex() {
        return Err(ParseError {
            line: header_lines[i],
            reason: format!("chain `{}` is listed twice", snippet(&table.chains[i].name)),
        }
        .into());
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

impl From<ParseError> for Stop {
    fn from(e: ParseError) -> Stop {
        Stop::Error(e)
    }
}
