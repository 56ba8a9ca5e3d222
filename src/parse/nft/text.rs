//! Native tables from the text of `nft list ruleset` alone (with `-a` or without: a
//! paste, a recording), and back: [`render`] writes tables in that syntax, with their
//! counters, so that a recording holds them as `nft` would print them.
//!
//! A rule's counters are read where the text has them (`counter packets N bytes M`); a
//! rule without a `counter` statement has none (never 0). Without `# handle N` a rule's
//! handle is 0. iptables-nft's own tables (`ip filter`, ...) are left out, as
//! [`super::parse_ruleset`] leaves them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::listing::{self, Element, VmapRef};
use super::{new_chain, vmap_chain};
use crate::model::native::{BaseChain, FAMILIES, NativeChain, NativeRule, is_iptables_table};
use crate::model::{ChainKind, Counter, FirewallTable, Rule, RuleSpec};

/// The line a recording adds to a base chain for its own counter (nft prints none).
const POLICY_COUNTER: &str = "# policy counter packets ";

/// Does `text` hold an nft ruleset (a `table FAMILY NAME {` line)?
pub fn is_ruleset(text: &str) -> bool {
    text.lines().any(|l| table_head(l.trim()).is_some())
}

/// `table ip docker-bridges { # handle 1` → (family, name).
fn table_head(l: &str) -> Option<(String, String)> {
    let rest = l.strip_prefix("table ")?;
    let (f, rest) = rest.split_once(' ')?;
    let (n, after) = name_head(rest)?;
    if !FAMILIES.contains(&f) || !after.trim_start().starts_with('{') {
        return None;
    }
    Some((f.to_string(), n.to_string()))
}

/// A name at the start of `s` (quoted, or one word) and what follows it.
fn name_head(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if let Some(q) = s.strip_prefix('"') {
        let end = q.find('"')?;
        return Some((&q[..end], &q[end + 1..]));
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

/// The change in brace depth of a line, braces inside quotes not counted.
fn depth_change(l: &str) -> i32 {
    let mut quoted = false;
    let mut d = 0;
    for c in l.chars() {
        match c {
            '"' => quoted = !quoted,
            '{' if !quoted => d += 1,
            '}' if !quoted => d -= 1,
            _ => {}
        }
    }
    d
}

/// A chain as the text gives it.
#[derive(Default)]
struct TextChain {
    name: String,
    handle: u64,
    base: Option<BaseChain>,
    policy_counter: Counter,
    /// Each rule's text (counts kept) and handle.
    rules: Vec<(String, u64)>,
}

#[derive(Default)]
struct TextTable {
    family: String,
    name: String,
    chains: Vec<TextChain>,
    maps: HashMap<String, Vec<Element>>,
}

/// The native tables of a ruleset's text, in the order it lists them. Lines that are
/// not part of a table (a prompt, a note) are passed over.
pub fn parse(text: &str) -> Vec<FirewallTable> {
    let mut tables: Vec<TextTable> = Vec::new();
    // what is open: a table, a chain of it, or a block passed over (set, map, ...)
    let mut table: Option<TextTable> = None;
    let mut chain: Option<TextChain> = None;
    // a map's name and its text so far; the depth of a block passed over
    let mut map: Option<(String, String)> = None;
    let mut skip = 0i32;
    // a rule whose braces are still open
    let mut pending = String::new();
    for line in text.lines() {
        let l = line.trim();
        if skip > 0 {
            skip += depth_change(l);
            continue;
        }
        if let Some((name, body)) = &mut map {
            body.push_str(l);
            body.push(' ');
            if depth_change(body) < 0 {
                if let (Some(t), Some(at)) = (&mut table, body.find("elements = {")) {
                    let elems =
                        listing::elements(listing::group(&body[at + "elements = ".len()..]));
                    t.maps.insert(std::mem::take(name), elems);
                }
                map = None;
            }
            continue;
        }
        let Some(t) = &mut table else {
            if let Some((family, name)) = table_head(l) {
                table = Some(TextTable {
                    family,
                    name,
                    ..TextTable::default()
                });
            }
            continue;
        };
        if let Some(c) = &mut chain {
            if !pending.is_empty() {
                pending.push(' ');
                pending.push_str(l);
                if depth_change(&pending) <= 0 {
                    push_rule(c, &std::mem::take(&mut pending));
                }
                continue;
            }
            if l == "}" {
                t.chains.extend(chain.take());
                continue;
            }
            if let Some(rest) = l.strip_prefix(POLICY_COUNTER) {
                let n: Vec<u64> = rest
                    .split_whitespace()
                    .filter_map(|w| w.parse().ok())
                    .collect();
                if let [p, b] = n[..] {
                    c.policy_counter = Counter {
                        packets: p,
                        bytes: b,
                    };
                }
                continue;
            }
            if l.is_empty() || l.starts_with('#') || l.starts_with("comment ") {
                continue;
            }
            if l.starts_with("type ") && l.contains(" hook ") {
                c.base = base_of(l, &t.family);
                continue;
            }
            if depth_change(l) > 0 {
                pending = l.to_string();
                continue;
            }
            push_rule(c, l);
            continue;
        }
        if l == "}" {
            tables.extend(table.take());
            continue;
        }
        let opens = depth_change(l) > 0;
        if let Some(rest) = l.strip_prefix("chain ")
            && opens
        {
            let name = name_head(rest).map_or("", |(n, _)| n);
            chain = Some(TextChain {
                name: name.to_string(),
                handle: handle_of(l).unwrap_or(0),
                ..TextChain::default()
            });
            continue;
        }
        if let Some(rest) = l.strip_prefix("map ")
            && opens
        {
            let name = name_head(rest).map_or("", |(n, _)| n);
            map = Some((name.to_string(), String::new()));
            continue;
        }
        if opens {
            skip = depth_change(l);
        }
    }
    tables.extend(table);
    tables
        .into_iter()
        .filter(|t| !is_iptables_table(&t.family, &t.name))
        .map(build)
        .collect()
}

/// `... # handle 12` → 12.
fn handle_of(l: &str) -> Option<u64> {
    l.rsplit_once("# handle ")?.1.trim().parse().ok()
}

fn push_rule(c: &mut TextChain, l: &str) {
    let (rule, handle) = match l.rsplit_once(" # handle ") {
        Some((r, h)) if h.trim().parse::<u64>().is_ok() => {
            (r.trim_end(), h.trim().parse().unwrap_or(0))
        }
        _ => (l, 0),
    };
    c.rules.push((rule.to_string(), handle));
}

/// The priority nft names, by family (`priority filter`, `priority dstnat - 10`).
fn priority(family: &str, p: &str) -> Option<i64> {
    let w: Vec<&str> = p.split_whitespace().collect();
    let named = |n: &str| -> Option<i64> {
        if let Ok(v) = n.parse() {
            return Some(v);
        }
        Some(match (family, n) {
            ("bridge", "dstnat") => -300,
            ("bridge", "filter") => -200,
            ("bridge", "out") => 100,
            ("bridge", "srcnat") => 300,
            (_, "raw") => -300,
            (_, "mangle") => -150,
            (_, "dstnat") => -100,
            (_, "filter") => 0,
            (_, "security") => 50,
            (_, "srcnat") => 100,
            _ => return None,
        })
    };
    match w[..] {
        [one] => named(one),
        [n, "+", d] => Some(named(n)? + d.parse::<i64>().ok()?),
        [n, "-", d] => Some(named(n)? - d.parse::<i64>().ok()?),
        _ => None,
    }
}

/// `type filter hook forward priority filter; policy drop;` → the base chain.
fn base_of(l: &str, family: &str) -> Option<BaseChain> {
    let mut b = BaseChain {
        policy: "accept".into(),
        ..BaseChain::default()
    };
    for part in l.split(';') {
        let w: Vec<&str> = part.split_whitespace().collect();
        match w[..] {
            ["policy", p] => b.policy = p.to_string(),
            ["type", kind, "hook", hook, ..] => {
                b.kind = kind.to_string();
                b.hook = hook.to_string();
                if let Some(at) = w.iter().position(|x| *x == "priority") {
                    b.priority = priority(family, &w[at + 1..].join(" ")).unwrap_or(0);
                }
            }
            _ => {}
        }
    }
    (!b.hook.is_empty()).then_some(b)
}

/// Every `counter packets N bytes M` of a rule, in order, outside quotes; a bare
/// `counter` (a hand-written rule) counts as 0. A named counter (`counter name x`) is
/// an object of the table, not the rule's.
fn counters_of(text: &str) -> Vec<Counter> {
    let w = unquoted_words(text);
    let mut out = Vec::new();
    for (i, x) in w.iter().enumerate() {
        if *x != "counter" || w.get(i + 1) == Some(&"name") {
            continue;
        }
        let n = |k: usize| w.get(i + k).and_then(|v| v.parse::<u64>().ok());
        let c = match (w.get(i + 1), n(2), w.get(i + 3), n(4)) {
            (Some(&"packets"), Some(p), Some(&"bytes"), Some(b)) => Counter {
                packets: p,
                bytes: b,
            },
            _ => Counter::default(),
        };
        out.push(c);
    }
    out
}

/// The words of a rule outside quoted strings.
fn unquoted_words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    for w in text.split(' ') {
        let starts = w.starts_with('"');
        let q = w.matches('"').count();
        if !quoted && !starts && !w.is_empty() {
            out.push(w);
        }
        if q % 2 == 1 {
            quoted = !quoted;
        }
    }
    out
}

/// Words that do not make a rule conditional: counters, logging, comments, verdicts.
fn conditional(text: &str) -> bool {
    let w = unquoted_words(text);
    let mut i = 0;
    while i < w.len() {
        match w[i] {
            "counter" | "accept" | "drop" | "return" | "continue" | "queue" | "reject" | "log"
            | "comment" => i += 1,
            "packets" | "bytes" | "jump" | "goto" | "prefix" | "level" | "flags" => i += 2,
            _ => return true,
        }
    }
    false
}

fn build(t: TextTable) -> FirewallTable {
    let mut table = FirewallTable::new(&t.name);
    table.family = Some(t.family.clone());
    let mut vmaps: Vec<crate::model::Chain> = Vec::new();
    for c in t.chains {
        let kind = match &c.base {
            Some(b) => ChainKind::Builtin {
                policy: b.policy.clone(),
            },
            None => ChainKind::User { references: None },
        };
        let native = NativeChain {
            handle: c.handle,
            base: c.base,
            vmap: false,
        };
        let mut chain = new_chain(&c.name, kind, native);
        chain.packets = c.policy_counter.packets;
        chain.bytes = c.policy_counter.bytes;
        let mut rules = Vec::with_capacity(c.rules.len());
        for (text, handle) in &c.rules {
            let counts = counters_of(text);
            let shown = listing::without_counts(text);
            let l = listing::label(&shown);
            let mut spec = RuleSpec::default();
            let mut jumps_to = Vec::new();
            let mut cond = conditional(&shown);
            spec.target = l.target.as_str().into();
            spec.goto = l.goto;
            if l.chain {
                jumps_to.push(l.target.clone());
            }
            if let Some(v) = l.vmap {
                let (name, elems) = match v {
                    VmapRef::Named(m) => {
                        (format!("@{m}"), t.maps.get(&m).cloned().unwrap_or_default())
                    }
                    VmapRef::Anonymous(e) => (format!("vmap {{…}} #{handle}"), e),
                };
                jumps_to = elems
                    .iter()
                    .filter(|e| e.verdict.chain)
                    .map(|e| e.verdict.target.clone())
                    .collect();
                if !vmaps.iter().any(|x| *x.name == *name) {
                    vmaps.push(vmap_chain(&name, &elems));
                }
                spec.target = name.into();
                spec.goto = false;
                cond = true;
            }
            spec.extra = shown.as_str().into();
            chain
                .counters
                .push(counts.last().copied().unwrap_or_default());
            rules.push(Rule {
                num: rules.len() as u32 + 1,
                spec: Arc::new(spec),
                native: Some(Arc::new(NativeRule {
                    handle: *handle,
                    text: shown.into(),
                    has_counter: !counts.is_empty(),
                    jumps_to,
                    counters: if counts.len() > 1 { counts } else { Vec::new() },
                    conditional: cond,
                })),
                ..Rule::default()
            });
        }
        chain.rules = Arc::new(rules);
        table.push_chain(chain);
    }
    for v in vmaps {
        table.push_chain(v);
    }
    for i in 0..table.chains.len() {
        table.chain_mut(i).assign_keys();
    }
    table.link();
    table
}

/// A name as nft would take it back: quoted when it holds anything but a plain word.
fn name_out(n: &str) -> String {
    let n = one_line(n);
    if !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c))
    {
        n
    } else {
        format!("\"{}\"", n.replace('"', "'"))
    }
}

/// Outside text never breaks a line of the rendering.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// A rule's text with its counters' numbers put back (the i-th `counter` outside quotes
/// gets the i-th of `counts`).
fn with_counts(text: &str, counts: &[Counter]) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut quoted = false;
    let mut k = 0;
    let words: Vec<&str> = text.split(' ').collect();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(w);
        if !quoted && *w == "counter" && words.get(i + 1) != Some(&"name") {
            let c = counts.get(k).copied().unwrap_or_default();
            let _ = write!(out, " packets {} bytes {}", c.packets, c.bytes);
            k += 1;
        }
        if w.matches('"').count() % 2 == 1 {
            quoted = !quoted;
        }
    }
    out
}

/// Native tables as `nft -a list ruleset` prints them, with their counters (and each
/// base chain's own counter on a `# policy counter` line nft does not print).
pub fn render(tables: &[FirewallTable]) -> String {
    let mut s = String::new();
    for t in tables {
        let Some(family) = &t.family else { continue };
        let _ = writeln!(s, "table {} {} {{", one_line(family), name_out(&t.name));
        for c in &t.chains {
            let Some(n) = &c.native else { continue };
            if !n.vmap || !c.name.starts_with('@') {
                continue;
            }
            let elems: Vec<String> = c
                .rules
                .iter()
                .map(|r| {
                    let text = r.native.as_ref().map_or("", |n| &*n.text);
                    let key = text.rsplit_once(" → ").map_or(text, |(k, _)| k);
                    let jumps = r.native.as_ref().is_some_and(|n| !n.jumps_to.is_empty());
                    let verdict = match (jumps, r.spec.goto) {
                        (true, true) => format!("goto {}", name_out(&r.spec.target)),
                        (true, false) => format!("jump {}", name_out(&r.spec.target)),
                        _ => one_line(&r.spec.target),
                    };
                    format!("{} : {verdict}", one_line(key))
                })
                .collect();
            let _ = writeln!(
                s,
                "\tmap {} {{\n\t\telements = {{ {} }}\n\t}}",
                name_out(&c.name[1..]),
                elems.join(", ")
            );
        }
        for c in &t.chains {
            let Some(n) = &c.native else { continue };
            if n.vmap {
                continue;
            }
            let _ = writeln!(s, "\tchain {} {{ # handle {}", name_out(&c.name), n.handle);
            if let Some(b) = &n.base {
                let _ = writeln!(
                    s,
                    "\t\ttype {} hook {} priority {}; policy {};",
                    one_line(&b.kind),
                    one_line(&b.hook),
                    b.priority,
                    one_line(&b.policy)
                );
                let _ = writeln!(s, "\t\t{POLICY_COUNTER}{} bytes {}", c.packets, c.bytes);
            }
            for (i, r) in c.rules.iter().enumerate() {
                let Some(rn) = &r.native else { continue };
                let own = [c.counter(i)];
                let counts: &[Counter] = if rn.counters.len() > 1 {
                    &rn.counters
                } else {
                    &own
                };
                let text = one_line(&rn.text);
                let text = if rn.has_counter {
                    with_counts(&text, counts)
                } else {
                    text
                };
                let _ = writeln!(s, "\t\t{text} # handle {}", rn.handle);
            }
            s.push_str("\t}\n");
        }
        s.push_str("}\n");
    }
    s
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
