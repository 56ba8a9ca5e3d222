//! What users paste (into bug reports, forums, a file for `--replay`) → canonical
//! listings, one per table, before [`super::parse_table`] reads them.
//!
//! A paste is an `iptables -vnL` listing, several of them (`iptables -vnL; iptables -t
//! nat -vnL`), or an `iptables-save [-c]` / `ip6tables-save` dump or `iptables -S`
//! output (`save.rs`), with what people paste around it: shell prompt lines, a Markdown
//! code fence, text after it. Those are skipped, each kind named once in
//! [`Paste::warnings`]. A listing wrapped by a terminal or a web form is refused with
//! how to paste it unwrapped (its lines would read as other rules, or not at all).
//!
//! A listing's lines are kept as they are (the parser reads tabs, CRLF ends, comments
//! with line breaks); a save dump is rendered as `iptables -vnxL` prints it.

mod matches;
mod save;
#[cfg(test)]
mod tests;

use super::ParseError;
use crate::model::{TABLES, builtin_chains};

/// One table's listing taken from a paste.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pasted {
    /// The table the paste names (`*nat` in a save dump); None: inferred from its chains.
    pub table: Option<String>,
    /// The listing, in the form [`super::parse_table`] reads (ends in a newline).
    pub text: String,
    /// The paste's line number of each line of `text` (for errors).
    pub origin: Vec<usize>,
}

impl Pasted {
    /// The paste's line number of `text`'s line `line` (1-based).
    pub fn paste_line(&self, line: usize) -> usize {
        match self.origin.get(line.saturating_sub(1)) {
            Some(&l) => l,
            None => self.origin.last().map_or(line, |&l| l + 1),
        }
    }
}

/// A paste, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paste {
    /// Each table's listing, in the paste's order.
    pub tables: Vec<Pasted>,
    /// An ip6tables listing or dump (`::/0`, `ip6tables-save`, an `ip6tables` prompt).
    pub ipv6: bool,
    /// What was skipped or filled in, one line each, each kind once.
    pub warnings: Vec<String>,
    /// The paste was a save dump or `iptables -S`: its listings were rendered.
    pub from_dump: bool,
}

/// What a skipped line was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    Prompt,
    Fence,
    Outside,
    Trailer,
}

impl Skip {
    fn what(self) -> &'static str {
        match self {
            Skip::Prompt => "a shell prompt line",
            Skip::Fence => "a Markdown code fence",
            Skip::Outside => "text outside the code fence",
            Skip::Trailer => "text after the listing",
        }
    }
}

/// Reads a paste: the listings or save dump in it, one [`Pasted`] per table.
pub fn normalize(text: &str) -> Result<Paste, ParseError> {
    let lines: Vec<&str> = split_lines(text);
    let mut skipped: Vec<(Skip, usize)> = Vec::new();
    let mut keep = vec![true; lines.len()];
    fences(&lines, &mut keep, &mut skipped);
    let mut paste = Paste::default();
    let first = (0..lines.len()).find(|&i| keep[i] && is_content(bare(lines[i])));
    let is_save = first.is_some_and(|i| save::is_save_line(bare(lines[i])));
    for (i, l) in lines.iter().enumerate() {
        if keep[i] && is_prompt(bare(l)) {
            paste.ipv6 |= l.contains("ip6tables");
        }
    }
    if is_save {
        // prompts go; the rest is the dump's to judge
        for (i, l) in lines.iter().enumerate() {
            if keep[i] && is_prompt(bare(l)) {
                keep[i] = false;
                skipped.push((Skip::Prompt, i + 1));
            }
        }
        let dump = save::render(&lines, &keep, &mut skipped)?;
        paste.ipv6 |= dump.ipv6;
        paste.from_dump = true;
        paste.tables = dump.tables;
        paste.warnings = dump.warnings;
    } else {
        paste.tables = listings(&lines, &mut keep, &mut skipped)?;
        paste.ipv6 |= paste
            .tables
            .iter()
            .any(|t| t.text.contains("::/0") || t.text.contains(" ::1 "));
    }
    let mut named: Vec<Skip> = Vec::new();
    let mut notes = Vec::new();
    for (kind, _) in &skipped {
        if named.contains(kind) {
            continue;
        }
        named.push(*kind);
        let at: Vec<usize> = skipped
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|&(_, l)| l)
            .collect();
        let mut lines: Vec<String> = at.iter().take(3).map(usize::to_string).collect();
        if at.len() > 3 {
            lines.push(format!("… ({} in all)", at.len()));
        }
        let s = if at.len() == 1 { "" } else { "s" };
        notes.push(format!(
            "skipped {} in the paste (line{s} {})",
            kind.what(),
            lines.join(", ")
        ));
    }
    notes.append(&mut paste.warnings);
    paste.warnings = notes;
    Ok(paste)
}

/// The paste's lines (without their `\n`; a `\r` before it is kept for the parser).
fn split_lines(text: &str) -> Vec<&str> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() {
        return Vec::new();
    }
    body.split('\n').collect()
}

/// A line without its `\r` and surrounding white space.
fn bare(line: &str) -> &str {
    line.trim()
}

fn is_fence(line: &str) -> bool {
    line.starts_with("```") || line.starts_with("~~~")
}

/// Markdown code fences: with a pair of them, what lies outside every pair is prose.
fn fences(lines: &[&str], keep: &mut [bool], skipped: &mut Vec<(Skip, usize)>) {
    let at: Vec<usize> = (0..lines.len())
        .filter(|&i| is_fence(bare(lines[i])))
        .collect();
    for &i in &at {
        keep[i] = false;
        skipped.push((Skip::Fence, i + 1));
    }
    if at.len() < 2 || !at.len().is_multiple_of(2) {
        return;
    }
    let mut inside = vec![false; lines.len()];
    for pair in at.chunks(2) {
        for v in &mut inside[pair[0] + 1..pair[1]] {
            *v = true;
        }
    }
    for i in 0..lines.len() {
        if keep[i] && !inside[i] {
            keep[i] = false;
            if !bare(lines[i]).is_empty() {
                skipped.push((Skip::Outside, i + 1));
            }
        }
    }
}

/// Not blank, not a `#` line (iptables' warnings, a save dump's comments), not a prompt.
fn is_content(line: &str) -> bool {
    !line.is_empty() && !line.starts_with('#') && !is_prompt(line)
}

/// A shell prompt with a command: `root@host:/etc# sudo iptables -L -nv`, `[root@node4
/// ~]# iptables -nvL`, `user@host:~$ ...`, `$ ...`, `# iptables ...` (a `#` line only
/// when its command is a firewall tool's, so that `# Warning: ...` stays).
pub(crate) fn is_prompt(line: &str) -> bool {
    let first = words(line).next().unwrap_or("");
    let (bracket, user) = (
        first.starts_with('['),
        first.contains('@') && !first.starts_with('@'),
    );
    if !bracket && !user {
        // the first word alone tells (a listing's every line)
        return match first {
            "$" | "%" | ">" | "PS>" => true,
            "#" => tool_command(words(line).skip(1)),
            _ => false,
        };
    }
    let line = line.trim();
    let ends_prompt = line.ends_with(['#', '$', '>']);
    if bracket
        && (line.contains("]# ") || line.contains("]$ ") || (ends_prompt && line.contains(']')))
    {
        return true;
    }
    user && (ends_prompt
        || line.contains("# ")
        || line.contains("$ ")
        || line.contains("> ")
        || tool_command(words(line).skip(1)))
}

/// Whether these words run a firewall tool (`sudo iptables -nvL`, `ip6tables-save`).
fn tool_command<'a>(mut words: impl Iterator<Item = &'a str>) -> bool {
    let mut w = words.next().unwrap_or("");
    while matches!(
        w,
        "sudo" | "doas" | "time" | "env" | "~" | "/" | "~#" | "~$"
    ) {
        w = words.next().unwrap_or("");
    }
    let w = w.rsplit('/').next().unwrap_or(w);
    w.contains("tables") || w == "nft" || w == "ufw" || w == "firewall-cmd"
}

/// The built-in chains in the order of their hooks (and of `iptables -L`).
const HOOKS: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/// A chain header's name and whether it is a built-in chain's (`(policy ...)`).
fn header(line: &str) -> Option<(&str, bool)> {
    let rest = line.strip_prefix("Chain ")?;
    let name = words(rest).next()?;
    Some((name, rest.contains("(policy ")))
}

/// `s.split_whitespace()`, without decoding where the text is ASCII (a paste's lines,
/// padded with runs of spaces).
fn words(s: &str) -> Words<'_> {
    Words { rest: s }
}

struct Words<'a> {
    rest: &'a str,
}

impl<'a> Words<'a> {
    /// Where the first character of `rest` that is (`white`) or is not white space is.
    #[inline]
    fn upto(&self, white: bool) -> usize {
        let b = self.rest.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let x = b[i];
            // printable ASCII but the space first: one comparison
            if x.wrapping_sub(0x21) < 0x5f {
                if white {
                    i += 1;
                    continue;
                }
                return i;
            }
            if x < 0x80 {
                if matches!(x, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') == white {
                    return i;
                }
                i += 1;
            } else {
                let c = self.rest[i..].chars().next().unwrap_or(' ');
                if c.is_whitespace() == white {
                    return i;
                }
                i += c.len_utf8();
            }
        }
        b.len()
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.rest = &self.rest[self.upto(false)..];
        if self.rest.is_empty() {
            return None;
        }
        let (word, rest) = self.rest.split_at(self.upto(true));
        self.rest = rest;
        Some(word)
    }
}

/// Whether `t` counts as a counter (`123`, `14M`).
fn is_counter(t: &str) -> bool {
    let d = t.strip_suffix(['K', 'M', 'G', 'T']).unwrap_or(t);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

/// What a chain's column titles say a rule line starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lead {
    /// `pkts bytes` (or `num pkts bytes`): this many counter-like tokens, then more.
    Counters(usize),
    /// No counters (`iptables -L -n`): the line holds an `opt` token or an address.
    Plain,
}

fn lead_of(title: &str) -> Lead {
    let w: Vec<&str> = words(title).take(3).collect();
    match w.as_slice() {
        ["num", "pkts", "bytes"] => Lead::Counters(3),
        ["pkts", "bytes", ..] => Lead::Counters(2),
        _ => Lead::Plain,
    }
}

fn is_title(line: &str) -> bool {
    // a rule line rarely holds the word at all: no words split then
    if !line.contains("target") {
        return false;
    }
    let (mut target, mut column) = (false, false);
    for w in words(line) {
        match w {
            "target" => target = true,
            "source" | "prot" => column = true,
            _ => {}
        }
    }
    target && column
}

fn rule_like(line: &str, lead: Lead) -> bool {
    let mut w = words(line);
    match lead {
        Lead::Counters(n) => (0..n).all(|_| w.next().is_some_and(is_counter)) && w.next().is_some(),
        Lead::Plain => words(line).any(|t| {
            matches!(t, "--" | "-f" | "!f") || t.contains("0.0.0.0/0") || t.contains("::/0")
        }),
    }
}

/// A rule line whose comment is still open at its end: the lines after it may be the
/// comment's (a comment can hold line breaks).
fn open_comment(line: &str) -> bool {
    match (line.rfind("/*"), line.rfind("*/")) {
        (Some(o), Some(c)) => o > c,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Whether the lines from `from` on, up to the next rule, header or blank line, end the
/// comment of the rule at `rule` (`/* a */⏎b */`: its text held `*/` and a line break).
fn comment_goes_on(lines: &[&str], keep: &[bool], rule: usize, from: usize, lead: Lead) -> bool {
    if !lines[rule].contains("/*") {
        return false;
    }
    for j in from..lines.len() {
        if !keep[j] {
            continue;
        }
        let l = bare(lines[j]);
        if l.is_empty() || header(l).is_some() || (j > from && rule_like(l, lead)) {
            return false;
        }
        if l.contains("*/") {
            return true;
        }
    }
    false
}

/// The common terminal and form widths a wrapped paste is cut at.
fn wrap_width(longest: usize) -> usize {
    [80, 100, 120, 132, 150, 160, 180, 200]
        .into_iter()
        .find(|&w| longest <= w && longest + 12 >= w)
        .unwrap_or(longest)
}

fn wrapped(line: usize, longest: usize) -> ParseError {
    ParseError {
        line,
        reason: format!(
            "the lines look wrapped at {} columns: paste the listing unwrapped (e.g. `iptables -vnL | cat > file`, or copy from `less -S`)",
            wrap_width(longest)
        ),
    }
}

/// A listing paste: split into tables, prompts and text after the listing skipped,
/// wrapped lines refused.
fn listings(
    lines: &[&str],
    keep: &mut [bool],
    skipped: &mut Vec<(Skip, usize)>,
) -> Result<Vec<Pasted>, ParseError> {
    // the start of each table's lines
    let mut starts: Vec<usize> = Vec::new();
    let mut builtins: Vec<&str> = Vec::new();
    let mut user_seen = false;
    let mut lead: Option<Lead> = None;
    let mut after_rule: Option<usize> = None;
    let mut after_header: Option<usize> = None;
    let mut last_rule: Option<usize> = None;
    let mut prompt_since_chain = false;
    let longest = |keep: &[bool]| {
        (0..lines.len())
            .filter(|&i| keep[i])
            .map(|i| lines[i].trim_end().chars().count())
            .max()
            .unwrap_or(0)
    };
    for i in 0..lines.len() {
        if !keep[i] {
            continue;
        }
        let line = bare(lines[i]);
        // (looked at only where it decides: most lines are neither prompts nor odd)
        let in_comment = || after_rule.is_some_and(|r| open_comment(lines[r]));
        if is_prompt(line) && !in_comment() {
            keep[i] = false;
            skipped.push((Skip::Prompt, i + 1));
            prompt_since_chain = true;
            after_rule = None;
            continue;
        }
        if let Some((name, builtin)) = header(line) {
            if !line.ends_with(')') {
                return Err(wrapped(i + 1, longest(keep)));
            }
            let fits = |b: &[&str]| {
                TABLES.iter().any(|t| {
                    let have = builtin_chains(t);
                    b.iter().all(|c| have.contains(c))
                })
            };
            // iptables lists a table's built-in chains in hook order, then its own
            let hook = |c: &str| HOOKS.iter().position(|h| *h == c);
            let backwards = builtins
                .last()
                .is_some_and(|l| hook(l).zip(hook(name)).is_some_and(|(a, b)| b <= a));
            let next_table = !starts.is_empty()
                && (prompt_since_chain
                    || (builtin
                        && (user_seen || backwards || builtins.contains(&name) || {
                            let mut b = builtins.clone();
                            b.push(name);
                            !fits(&b)
                        })));
            if starts.is_empty() || next_table {
                starts.push(i);
                builtins.clear();
                user_seen = false;
            }
            if builtin {
                builtins.push(name);
            } else {
                user_seen = true;
            }
            prompt_since_chain = false;
            lead = None;
            after_rule = None;
            after_header = Some(i);
            continue;
        }
        if line.is_empty() {
            after_rule = None;
            after_header = None;
            continue;
        }
        if after_header.take().is_some() && lead.is_none() {
            if is_title(line) {
                if !line.ends_with("destination") && line.split_whitespace().count() < 9 {
                    // a title cut short, its end on the next line
                    let next = lines.get(i + 1).map_or("", |l| bare(l));
                    if !next.is_empty() && !is_title(next) && !rule_like(next, lead_of(line)) {
                        return Err(wrapped(i + 2, longest(keep)));
                    }
                }
                lead = Some(lead_of(line));
                continue;
            }
            // not titles: the parser says so
            continue;
        }
        let Some(lead) = lead else {
            continue;
        };
        if line.starts_with('#') {
            continue;
        }
        if rule_like(line, lead) {
            after_rule = Some(i);
            last_rule = Some(i);
            continue;
        }
        // neither a rule nor a header: the comment's next line, a wrapped rule's end,
        // or text after the listing
        if in_comment() {
            continue;
        }
        if let Some(r) = after_rule {
            // more rules or chains after it: the rule at `r` was cut, unless a comment
            // of it ends on this line or the next ones (a comment's line break)
            let later = (i + 1..lines.len()).any(|j| {
                keep[j] && {
                    let l = bare(lines[j]);
                    header(l).is_some() || rule_like(l, lead)
                }
            });
            if later && !comment_goes_on(lines, keep, r, i, lead) {
                return Err(wrapped(i + 1, longest(keep)));
            }
            continue;
        }
        after_rule = None;
    }
    // text after the last rule (or the last titles) of the last chain
    let end_of_listing = match (last_rule, starts.last()) {
        (Some(r), Some(&s)) if r > s => {
            let last_header = (s..lines.len())
                .rfind(|&j| keep[j] && header(bare(lines[j])).is_some())
                .unwrap_or(s);
            if r > last_header { r } else { last_header }
        }
        (_, Some(&s)) => (s..lines.len())
            .rfind(|&j| keep[j] && header(bare(lines[j])).is_some())
            .unwrap_or(s),
        (_, None) => lines.len(),
    };
    if end_of_listing < lines.len()
        && !open_comment(lines[end_of_listing])
        && !comment_goes_on(lines, keep, end_of_listing, end_of_listing + 1, Lead::Plain)
    {
        // the last chain's titles, if right after its header
        let mut j = end_of_listing + 1;
        if header(bare(lines[end_of_listing])).is_some() {
            while j < lines.len() && !keep[j] {
                j += 1;
            }
            if j < lines.len() && is_title(bare(lines[j])) {
                j += 1;
            }
        }
        // an indented line right after the rules reads as a bad rule, not as prose
        let first = (j..lines.len()).find(|&k| keep[k] && !bare(lines[k]).is_empty());
        let indented = first.is_some_and(|k| {
            lines[k].starts_with([' ', '\t'])
                && (j..k).all(|b| !keep[b] || !bare(lines[b]).is_empty())
        });
        for k in (j..lines.len()).filter(|_| !indented) {
            if keep[k] && !bare(lines[k]).is_empty() && !bare(lines[k]).starts_with('#') {
                keep[k] = false;
                skipped.push((Skip::Trailer, k + 1));
            }
        }
    }
    if starts.is_empty() {
        // no chain header: the parser's error, on the lines as they are
        starts.push(0);
    }
    let mut out = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        // lines before the first table (iptables' `# Warning` lines) go with it
        let from = if k == 0 { 0 } else { s };
        let to = starts.get(k + 1).copied().unwrap_or(lines.len());
        let mut text = String::new();
        let mut origin = Vec::new();
        for (i, line) in lines.iter().enumerate().take(to).skip(from) {
            if keep[i] {
                text.push_str(line);
                text.push('\n');
                origin.push(i + 1);
            }
        }
        // the blank lines between tables are the earlier table's end
        while text.ends_with("\n\n") {
            text.pop();
            origin.pop();
        }
        out.push(Pasted {
            table: None,
            text,
            origin,
        });
    }
    Ok(out)
}
