//! Rules whose comment holds a line break. iptables prints a comment as it is, so
//! `-m comment --comment $'ok */\n2 999999 88888888 DROP all -- ...'` prints a line
//! that reads like a rule of its own. With `--line-numbers` (iptop always asks for them)
//! the real rules of a chain are numbered 1, 2, 3, ... in order: a line is the start of
//! a rule only where it carries the next number, any other line after a rule with a
//! comment (`/*`) continues that rule, and a number printed twice or out of order is
//! never taken as it stands.
//!
//! When a comment copies the next rule's number, two readings remain (the copy is a
//! rule and the real line continues its comment, or the other way round). The lines
//! iptables printed itself share one layout: counters right-aligned in fixed columns.
//! The reading whose rule lines keep the listing's layout is taken; when both do (a
//! copy made column for column), the listing is refused with the lines named rather
//! than a rule made up.

use std::collections::HashMap;

use super::columns::{is_space, parse_title, strip_cr};
use super::fields::snippet;
use super::{ParseError, RuleCounts};

/// One rule (or any other line) of a listing, with the lines that continue it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Record {
    /// Byte offsets in the listing: where its first line starts and its last line ends
    /// (before the `\n`).
    pub start: usize,
    pub end: usize,
    /// 1-based number of its first line, and how many lines it spans.
    pub line: usize,
    pub lines: usize,
}

/// A rule number printed more often than this in one chain is refused outright (real
/// listings print each once; this keeps the search linear).
const MAX_COPIES: usize = 8;

/// Where the first three tokens of a rule line sit: its layout.
type Shape = [(u32, u32); 3];

struct Line<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

fn leading_number(line: &str) -> Option<u32> {
    let b = line.as_bytes();
    let i = b.iter().position(|c| !is_space(*c))?;
    let len = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if len == 0 || b.get(i + len).is_some_and(|c| !is_space(*c)) {
        return None;
    }
    line[i..i + len].parse().ok()
}

fn shape(line: &str) -> Shape {
    let b = line.as_bytes();
    let mut out = [(u32::MAX, u32::MAX); 3];
    let mut i = 0;
    for slot in &mut out {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let s = i;
        while i < b.len() && !is_space(b[i]) {
            i += 1;
        }
        *slot = (s as u32, i as u32);
    }
    out
}

/// Whether a line keeps the listing's layout: the first token where it starts, and each
/// counter either starting or ending where it does (left- or right-aligned).
fn fits(s: &Shape, mode: &Shape) -> bool {
    s[0].0 == mode[0].0 && (1..3).all(|k| s[k].0 == mode[k].0 || s[k].1 == mode[k].1)
}

/// The chain's lines after its title line, up to (not including) the next header, and
/// without the blank and `#` lines that end it.
struct Block {
    chain: String,
    /// Index of its first line in the listing's lines, and how many.
    first: usize,
    len: usize,
}

/// Splits a listing into records: each rule's first line with the lines that continue
/// its comment. `Ok(None)`: every record is one line (nothing to join).
#[cfg(test)]
pub(super) fn partition(body: &str, crlf: bool) -> Result<Option<Vec<Record>>, ParseError> {
    partition_counted(body, crlf, None)
}

/// [`partition`], with the number of rules each chain holds where it is known (from
/// the kernel): of the readings, the one with that many rules is taken.
pub(super) fn partition_counted(
    body: &str,
    crlf: bool,
    rules: Option<RuleCounts>,
) -> Result<Option<Vec<Record>>, ParseError> {
    let mut lines: Vec<Line> = Vec::new();
    let mut pos = 0;
    for raw in body.split('\n') {
        let text = strip_cr(raw, crlf);
        lines.push(Line {
            text,
            start: pos,
            end: pos + raw.len(),
        });
        pos += raw.len() + 1;
    }
    // the rule blocks of chains listed with line numbers
    let mut blocks: Vec<Block> = Vec::new();
    let mut chain = String::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].text.trim();
        i += 1;
        if let Some(rest) = t.strip_prefix("Chain ") {
            chain = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            continue;
        }
        if !parse_title(t).is_some_and(|l| l.has(super::columns::Col::Num)) {
            continue;
        }
        let first = i;
        let mut end = first;
        while end < lines.len() && !lines[end].text.trim_start().starts_with("Chain ") {
            end += 1;
        }
        let mut len = end - first;
        while len > 0 {
            let t = lines[first + len - 1].text.trim();
            if t.is_empty() || t.starts_with('#') {
                len -= 1;
            } else {
                break;
            }
        }
        blocks.push(Block {
            chain: std::mem::take(&mut chain),
            first,
            len,
        });
        i = end;
    }
    // the layout most rule lines share
    let mut counts: HashMap<Shape, usize> = HashMap::new();
    for b in &blocks {
        for l in &lines[b.first..b.first + b.len] {
            if leading_number(l.text).is_some() {
                *counts.entry(shape(l.text)).or_default() += 1;
            }
        }
    }
    let mode = counts
        .into_iter()
        .max_by_key(|(s, n)| (*n, std::cmp::Reverse(*s)))
        .map_or([(0, 0); 3], |(s, _)| s);

    // line index -> the index of the line whose record it continues
    let mut joined_to: Vec<Option<usize>> = vec![None; lines.len()];
    let mut any = false;
    for b in &blocks {
        let expected = rules.and_then(|c| c(&b.chain));
        let starts = choose(&lines, b, &mode, expected)?;
        let mut cur = None;
        let mut next = starts.iter().peekable();
        for (j, slot) in joined_to.iter_mut().enumerate().skip(b.first).take(b.len) {
            if next.peek() == Some(&&j) {
                next.next();
                cur = Some(j);
            } else {
                *slot = cur;
                any = true;
            }
        }
    }
    if !any {
        return Ok(None);
    }
    let mut out: Vec<Record> = Vec::with_capacity(lines.len());
    for (j, l) in lines.iter().enumerate() {
        match joined_to[j] {
            Some(_) => {
                let r = out.last_mut().expect("a continued line follows its rule");
                r.end = l.end;
                r.lines += 1;
            }
            None => out.push(Record {
                start: l.start,
                end: l.end,
                line: j + 1,
                lines: 1,
            }),
        }
    }
    Ok(Some(out))
}

/// The lines of a block that start rules 1, 2, ..., N (see the module comment).
fn choose(
    lines: &[Line],
    b: &Block,
    mode: &Shape,
    expected: Option<usize>,
) -> Result<Vec<usize>, ParseError> {
    let m = b.len;
    if m == 0 {
        return Ok(Vec::new());
    }
    let text = |j: usize| lines[b.first + j].text;
    let num: Vec<Option<u32>> = (0..m).map(|j| leading_number(text(j))).collect();
    let comment: Vec<bool> = (0..m).map(|j| text(j).contains("/*")).collect();
    let fit: Vec<u32> = (0..m)
        .map(|j| u32::from(num[j].is_some() && fits(&shape(text(j)), mode)))
        .collect();
    let mut pos: HashMap<u32, Vec<usize>> = HashMap::new();
    for (j, n) in num.iter().enumerate() {
        if let Some(n) = *n
            && (n as usize) <= m
        {
            let v = pos.entry(n).or_default();
            v.push(j);
            if v.len() > MAX_COPIES {
                return Err(err(
                    b,
                    j,
                    &format!(
                        "rule {n} is printed more than {MAX_COPIES} times (lines {}, ...): comments with line breaks that imitate rules",
                        list(b, v)
                    ),
                ));
            }
        }
    }
    // best[j]: the best reading in which line j starts rule num[j]: its score (first the
    // rules it finds: a reading never ends early by taking real rules into a comment;
    // then how many of its rule lines keep the listing's layout), how many readings reach
    // that score (2: several), the start before it
    #[derive(Clone, Copy)]
    struct Best {
        score: (u32, u32),
        ways: u8,
        parent: usize,
    }
    let mut best: Vec<Option<Best>> = vec![None; m];
    if num[0] == Some(1) {
        best[0] = Some(Best {
            score: (1, fit[0]),
            ways: 1,
            parent: usize::MAX,
        });
    }
    for j in 0..m {
        let (Some(cur), Some(k)) = (best[j], num[j]) else {
            continue;
        };
        let Some(cands) = k.checked_add(1).and_then(|n| pos.get(&n)) else {
            continue;
        };
        for &c in cands {
            // the lines in between continue rule k's comment
            if c <= j || (c > j + 1 && !comment[j]) {
                continue;
            }
            let score = (cur.score.0 + 1, cur.score.1 + fit[c]);
            match &mut best[c] {
                Some(bc) if bc.score > score => {}
                Some(bc) if bc.score == score => bc.ways = bc.ways.saturating_add(cur.ways).min(2),
                slot => {
                    *slot = Some(Best {
                        score,
                        ways: cur.ways,
                        parent: j,
                    });
                }
            }
        }
    }
    // readings that end the block: the last rule's comment takes the lines after it
    let mut end: Option<((u32, u32), u8, usize)> = None;
    let can_end = |j: usize| best[j].is_some() && (j + 1 == m || comment[j]);
    // the rule count the kernel gives, when a reading has it: a comment printed after
    // the last rule that reads as one more rule is taken for the comment it is
    let wanted = expected
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| (0..m).any(|j| can_end(j) && num[j] == Some(n)));
    for j in 0..m {
        let Some(bj) = best[j] else { continue };
        if !can_end(j) || wanted.is_some_and(|n| num[j] != Some(n)) {
            continue;
        }
        end = match end {
            Some((s, _, _)) if s > bj.score => end,
            Some((s, w, e)) if s == bj.score => Some((s, w.saturating_add(bj.ways).min(2), e)),
            _ => Some((bj.score, bj.ways, j)),
        };
    }
    let Some((_, ways, last)) = end else {
        return Err(no_reading(b, &num, &comment, text));
    };
    if ways > 1 {
        // name a number printed more than once
        let mut dup: Vec<(&u32, &Vec<usize>)> = pos.iter().filter(|(_, v)| v.len() > 1).collect();
        dup.sort();
        let what = "a rule comment holds a line break that copies a rule line, and the listing cannot tell which is the rule";
        return Err(match dup.first() {
            Some((n, at)) => err(
                b,
                at[0],
                &format!("lines {} all read as rule {n}: {what}", list(b, at)),
            ),
            None => err(b, 0, what),
        });
    }
    let mut starts = Vec::new();
    let mut j = last;
    while j != usize::MAX {
        starts.push(b.first + j);
        j = best[j].map_or(usize::MAX, |x| x.parent);
    }
    starts.reverse();
    Ok(starts)
}

fn list(b: &Block, at: &[usize]) -> String {
    at.iter()
        .map(|j| (b.first + j + 1).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn err(b: &Block, j: usize, reason: &str) -> ParseError {
    ParseError {
        line: b.first + j + 1,
        reason: format!("in chain `{}`: {reason}", snippet(&b.chain)),
    }
}

/// No reading fits: the first line where taking every next number fails.
fn no_reading<'a>(
    b: &Block,
    num: &[Option<u32>],
    comment: &[bool],
    text: impl Fn(usize) -> &'a str,
) -> ParseError {
    let mut k = 0u32;
    let mut open = false;
    for j in 0..num.len() {
        match num[j] {
            Some(n) if n == k + 1 => {
                k = n;
                open = comment[j];
                continue;
            }
            _ if open => continue,
            Some(n) if n <= k && k > 0 => {
                return err(
                    b,
                    j,
                    &format!("rule number {n} after rule {k}: listed twice or out of order"),
                );
            }
            Some(n) => {
                return err(b, j, &format!("expected rule number {}, found {n}", k + 1));
            }
            None => {
                return err(
                    b,
                    j,
                    &format!(
                        "expected rule number {}, found `{}`",
                        k + 1,
                        snippet(text(j).trim())
                    ),
                );
            }
        }
    }
    // every line fits taken greedily, yet no reading ends the block: cannot happen, but
    // say where the block ends rather than panic
    err(
        b,
        num.len().saturating_sub(1),
        "the chain's rules end inside a line",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TITLE: &str = "num      pkts      bytes target     prot opt in     out     source               destination";
    const R1: &str = "1           0        0 ACCEPT     0    --  *      *       0.0.0.0/0            0.0.0.0/0            /* ok */";
    const FAKE: &str = "2   999999 88888888 DROP all -- * * 6.6.6.6 0.0.0.0/0 /* fake */";
    const R2: &str =
        "2           0        0 RETURN     0    --  *      *       0.0.0.0/0            0.0.0.0/0";
    const R3: &str =
        "3           0        0 ACCEPT     0    --  *      *       0.0.0.0/0            0.0.0.0/0";

    fn listing(rules: &[&str]) -> String {
        format!("Chain T (0 references)\n{TITLE}\n{}\n", rules.join("\n"))
    }

    fn starts(text: &str) -> Vec<(usize, usize)> {
        let body = text.strip_suffix('\n').unwrap_or(text);
        partition(body, false)
            .expect("reads")
            .expect("joins")
            .iter()
            .map(|r| (r.line, r.lines))
            .collect()
    }

    #[test]
    fn a_copied_next_number_continues_the_comment() {
        let s = starts(&listing(&[R1, FAKE, R2, R3]));
        assert_eq!(s, [(1, 1), (2, 1), (3, 2), (5, 1), (6, 1)]);
    }

    #[test]
    fn rules_in_another_layout_are_not_taken_into_a_comment() {
        // the last rule's counters overflow their columns: still a rule, not the end of
        // rule 2's comment
        let big = "3    123456789012 98765432109876 ACCEPT     0    --  *      *       0.0.0.0/0            0.0.0.0/0";
        let r2 = format!("{R2}            /* two */");
        let s = starts(&listing(&[R1, FAKE, &r2, big]));
        assert_eq!(s, [(1, 1), (2, 1), (3, 2), (5, 1), (6, 1)]);
    }

    #[test]
    fn plain_listings_join_nothing() {
        let body = listing(&[R1, R2, R3]);
        assert_eq!(partition(body.trim_end(), false).expect("reads"), None);
    }

    #[test]
    fn lines_without_numbers_continue_a_comment_only() {
        let s = starts(&listing(&[
            "1 0 0 ACCEPT 0 -- * * 0.0.0.0/0 0.0.0.0/0 /* a",
            "",
            "b */",
            "2 0 0 ACCEPT 0 -- * * 0.0.0.0/0 0.0.0.0/0",
        ]));
        assert_eq!(s, [(1, 1), (2, 1), (3, 3), (6, 1)]);
        let body = listing(&["1 0 0 ACCEPT 0 -- * * 0.0.0.0/0 0.0.0.0/0", "b */"]);
        let e = partition(body.trim_end(), false).expect_err("no comment to continue");
        assert_eq!(e.line, 4);
        assert!(e.reason.contains("expected rule number 2"), "{e}");
    }

    #[test]
    fn duplicates_and_disorder_are_errors() {
        for (rules, line, what) in [
            (
                vec![R1.replace("/* ok */", ""), R2.into(), R2.into()],
                5,
                "listed twice",
            ),
            (vec![R2.into()], 3, "expected rule number 1"),
            (
                vec![R1.replace("/* ok */", ""), R3.into()],
                4,
                "expected rule number 2",
            ),
        ] {
            let refs: Vec<&str> = rules.iter().map(String::as_str).collect();
            let body = listing(&refs);
            let e = partition(body.trim_end(), false).expect_err("refused");
            assert_eq!(e.line, line, "{e}");
            assert!(
                e.reason.contains(what) && e.reason.contains("chain `T`"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_copy_in_the_listing_layout_is_refused() {
        // column for column like iptables prints it: no way to tell
        let forged = format!("{}            /* x */", R2.replace("RETURN", "DROP  "));
        let body = listing(&[R1, &forged, R2, R3]);
        let e = partition(body.trim_end(), false).expect_err("ambiguous");
        assert!(e.reason.contains("lines 4, 5 all read as rule 2"), "{e}");
    }

    #[test]
    fn copies_are_bounded() {
        let mut rules = vec![R1.to_string()];
        rules.extend(std::iter::repeat_n(FAKE.to_string(), 20));
        let refs: Vec<&str> = rules.iter().map(String::as_str).collect();
        let body = listing(&refs);
        let e = partition(body.trim_end(), false).expect_err("too many");
        assert!(e.reason.contains("more than 8 times"), "{e}");
    }
}
