//! The fields of one line: counters, a chain header, a rule's text columns.

use super::columns::{Col, ColumnLayout, Tokens, is_opt, looks_like_address};
use crate::model::{ChainKind, RuleSpec, Text};

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
pub(super) fn not_a_counter(tok: &str) -> String {
    format!(
        "expected a counter (digits, optionally with K/M/G/T), found `{}`",
        snippet(tok)
    )
}

/// A short, printable excerpt of untrusted text for error messages.
pub(super) fn snippet(s: &str) -> String {
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

pub(super) fn parse_header(line: &str) -> Result<(&str, ChainKind, u64, u64, bool), String> {
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
        [n, "references" | "reference"] => {
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

/// `s` without the spaces and tabs around it (ASCII: the cuts are character boundaries).
fn trim_pad(s: &str) -> &str {
    let pad = |c: &u8| *c == b' ' || *c == b'\t';
    let b = s.as_bytes();
    let start = b.iter().position(|c| !pad(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !pad(c)).map_or(start, |i| i + 1);
    &s[start..end]
}

/// The text columns of a rule line whose counters [`split_counters`] read up to byte
/// `start` (the line is not read again before it).
pub(super) fn parse_rule(
    line: &str,
    layout: &ColumnLayout,
    start: usize,
) -> Result<RuleSpec, String> {
    let n_pre = layout.pre.len();
    let has_target_col = layout.pre.contains(&Col::Target);
    let want = n_pre + 1 + layout.post.len();
    let toks = Tokens::after(line, layout.counter_prefix, start, want);

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
            Col::Target => spec.target = Text::from(tok),
            Col::Prot => spec.prot = Text::from(tok),
            // counters: read by split_counters
            Col::Num | Col::Pkts | Col::Bytes => {}
            _ => unreachable_col(),
        }
    }
    if let Some(i) = opt_at {
        spec.opt = Text::from(toks.get(i).unwrap_or_default());
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
        *field = Text::from(tok);
    }
    let (goto, extra) = after_destination(&line[end..]);
    spec.goto = goto;
    spec.extra = Text::from(extra);
    Ok(spec)
}

/// What a rule line holds after its destination column: whether it is a goto
/// (`[goto]`), and its match and target text.
pub fn after_destination(rest: &str) -> (bool, &str) {
    // only iptables' padding: a `\r` or other white space in a comment is its text
    let extra = trim_pad(rest);
    match extra.strip_prefix("[goto]") {
        Some(rest) => (true, trim_pad(rest)),
        None => (false, extra),
    }
}

// Layouts are built by `parse_title`, which keeps `Num/Pkts/Bytes/Target/Prot` before
// `opt` and the address columns after it; a column in the wrong half cannot occur.
#[cold]
pub(super) fn unreachable_col() -> ! {
    unreachable!("parse_title keeps columns in their half")
}

/// Splits the leading counter columns (`num`, `pkts`, `bytes`) off a rule line: their
/// values, where the rest of the line (the rule's text) starts, and its rule number.
pub(super) fn split_counters(
    line: &str,
    layout: &ColumnLayout,
) -> Result<(u64, u64, bool, usize, Option<u32>), String> {
    let n = layout.counter_prefix;
    let toks = Tokens::new(line, n);
    let (mut packets, mut bytes, mut exact, mut num) = (0, 0, true, None);
    for (i, col) in layout.pre[..n].iter().enumerate() {
        let tok = toks
            .get(i)
            .ok_or_else(|| format!("expected the `{}` column, found end of line", col.name()))?;
        match col {
            Col::Num => {
                num =
                    Some(tok.parse::<u32>().map_err(|_| {
                        format!("expected a rule number, found `{}`", snippet(tok))
                    })?);
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
    Ok((packets, bytes, exact, start, num))
}
