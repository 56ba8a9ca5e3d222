//! `iptables-save [-c]`, `ip6tables-save` and `iptables -S` output → the listing
//! `iptables -vnxL` prints of the same rules: counters (`[p:b]`, `-c p b`; 0 where the
//! dump has none), policies, user chains with their reference counts, and each rule's
//! text as `iptables -L` shows the common matches and targets ([`super::matches`]);
//! any other match or target option is kept in save syntax, as the dump has it. A comment's line break or `*/` becomes a visible escape: the dump quotes
//! comments, so nothing in one can print as another rule.

use super::matches::{Opt, render_match, render_target};
use super::{Pasted, Skip};
use crate::parse::ParseError;

/// A dump's tables, rendered.
pub(super) struct Dump {
    pub tables: Vec<Pasted>,
    pub ipv6: bool,
    pub warnings: Vec<String>,
}

/// A line that only a save dump or `iptables -S` prints.
pub(super) fn is_save_line(line: &str) -> bool {
    let line = strip_counters(line).map_or(line, |(_, _, rest)| rest);
    (line.starts_with('*') && line.len() > 1 && !line.contains(' '))
        || (line.starts_with(':') && line.split_whitespace().count() >= 2)
        || ["-P ", "-N ", "-A "].iter().any(|p| line.starts_with(p))
}

/// `[p:b] rest` → (p, b, rest).
fn strip_counters(line: &str) -> Option<(u64, u64, &str)> {
    let rest = line.strip_prefix('[')?;
    let (inner, rest) = rest.split_once(']')?;
    let (p, b) = inner.split_once(':')?;
    Some((p.parse().ok()?, b.parse().ok()?, rest.trim_start()))
}

#[derive(Default)]
struct Chain {
    name: String,
    /// `-` for a user chain.
    policy: String,
    counters: (u64, u64),
    line: usize,
}

struct RuleLine {
    chain: String,
    counters: Option<(u64, u64)>,
    spec: Spec,
    line: usize,
}

#[derive(Default)]
struct Table {
    name: Option<String>,
    chains: Vec<Chain>,
    rules: Vec<RuleLine>,
}

impl Table {
    fn chain(&mut self, name: &str, line: usize) -> &mut Chain {
        let i = match self.chains.iter().position(|c| c.name == name) {
            Some(i) => i,
            None => {
                self.chains.push(Chain {
                    name: name.to_string(),
                    policy: "-".into(),
                    counters: (0, 0),
                    line,
                });
                self.chains.len() - 1
            }
        };
        &mut self.chains[i]
    }

    fn is_empty(&self) -> bool {
        self.chains.is_empty() && self.rules.is_empty()
    }
}

fn err(line: usize, reason: impl Into<String>) -> ParseError {
    ParseError {
        line,
        reason: reason.into(),
    }
}

/// Renders the dump in the kept lines.
pub(super) fn render(
    lines: &[&str],
    keep: &[bool],
    skipped: &mut Vec<(Skip, usize)>,
) -> Result<Dump, ParseError> {
    let mut tables: Vec<Table> = Vec::new();
    let mut cur: Option<Table> = None;
    let mut ipv6 = false;
    let (mut counted, mut uncounted) = (0usize, 0usize);
    let mut i = 0;
    // after the last COMMIT (or the last line of `-S`), lines that are not the dump's
    let mut trailer_from: Option<(usize, String)> = None;
    let mut notes: Vec<String> = Vec::new();
    while i < lines.len() {
        if !keep[i] {
            i += 1;
            continue;
        }
        let no = i + 1;
        let mut logical = lines[i].trim_end_matches('\r').trim().to_string();
        i += 1;
        // a quoted argument holding a line break goes on on the next line
        while quote_open(&logical) && i < lines.len() {
            logical.push('\n');
            logical.push_str(lines[i].trim_end_matches('\r'));
            i += 1;
        }
        let line = logical.as_str();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            ipv6 |= line.contains("ip6tables-save");
            if let Some(w) = line.strip_prefix("# Warning:") {
                notes.push(format!("Warning:{w}"));
            }
            continue;
        }
        if let Some((at, text)) = &trailer_from {
            if is_save_line(line) || line == "COMMIT" {
                return Err(err(
                    *at,
                    format!(
                        "expected an iptables-save line (`*table`, `:CHAIN POLICY [p:b]`, `-A ...`, `COMMIT`), found `{text}`"
                    ),
                ));
            }
            skipped.push((Skip::Trailer, no));
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            if let Some(t) = cur.take()
                && !t.is_empty()
            {
                tables.push(t);
            }
            cur = Some(Table {
                name: Some(name.trim().to_string()),
                ..Table::default()
            });
            continue;
        }
        if line == "COMMIT" {
            match cur.take() {
                Some(t) => tables.push(t),
                None => return Err(err(no, "COMMIT without a `*table` line before it")),
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix(':') {
            let w: Vec<&str> = rest.split_whitespace().collect();
            let t = cur.get_or_insert_with(Table::default);
            let (name, policy) = match w.as_slice() {
                [n, p, ..] => (*n, *p),
                _ => return Err(err(no, "expected `:CHAIN POLICY [packets:bytes]`")),
            };
            let counters = w
                .get(2)
                .and_then(|c| strip_counters(c))
                .map_or((0, 0), |(p, b, _)| (p, b));
            let c = t.chain(name, no);
            c.policy = policy.to_string();
            c.counters = counters;
            continue;
        }
        let (counters, rest) = match strip_counters(line) {
            Some((p, b, rest)) => (Some((p, b)), rest),
            None => (None, line),
        };
        let toks = tokenize(rest);
        match toks.first().map(|t| t.raw.as_str()) {
            Some("-P") => {
                // `iptables -S`: a built-in chain's policy; a second one starts a table
                let (Some(name), Some(policy)) = (toks.get(1), toks.get(2)) else {
                    return Err(err(no, "expected `-P CHAIN POLICY`"));
                };
                let repeat = cur.as_ref().is_some_and(|t| {
                    t.name.is_none()
                        && (!t.rules.is_empty()
                            || t.chains
                                .iter()
                                .any(|c| c.name == name.val || c.policy == "-"))
                });
                if repeat && let Some(t) = cur.take() {
                    tables.push(t);
                }
                let t = cur.get_or_insert_with(Table::default);
                let c_counters = counter_opt(&toks).unwrap_or((0, 0));
                let c = t.chain(&name.val, no);
                c.policy = policy.val.clone();
                c.counters = c_counters;
            }
            Some("-N") => {
                let Some(name) = toks.get(1) else {
                    return Err(err(no, "expected `-N CHAIN`"));
                };
                let t = cur.get_or_insert_with(Table::default);
                t.chain(&name.val, no);
            }
            Some("-A") => {
                let Some(chain) = toks.get(1).map(|t| t.val.clone()) else {
                    return Err(err(no, "expected `-A CHAIN ...`"));
                };
                let spec = Spec::read(&toks[2..]).map_err(|e| err(no, e))?;
                let counters = counters.or_else(|| counter_opt(&toks));
                if counters.is_some() {
                    counted += 1;
                } else {
                    uncounted += 1;
                }
                ipv6 |= spec.source.contains(':') || spec.destination.contains(':');
                let t = cur.get_or_insert_with(Table::default);
                t.chain(&chain, no);
                t.rules.push(RuleLine {
                    chain,
                    counters,
                    spec,
                    line: no,
                });
            }
            _ => {
                if tables.is_empty() && cur.as_ref().is_none_or(Table::is_empty) {
                    return Err(err(
                        no,
                        format!(
                            "expected an iptables-save line (`*table`, `:CHAIN POLICY [p:b]`, `-A ...`, `COMMIT`), found `{}`",
                            crate::parse::fields::snippet(line)
                        ),
                    ));
                }
                // text after the dump
                if let Some(t) = cur.take()
                    && !t.is_empty()
                {
                    tables.push(t);
                }
                trailer_from = Some((no, crate::parse::fields::snippet(line)));
                skipped.push((Skip::Trailer, no));
            }
        }
    }
    if let Some(t) = cur.take()
        && !t.is_empty()
    {
        tables.push(t);
    }
    let mut warnings = notes;
    if uncounted > 0 {
        warnings.push(if counted == 0 {
            "no counters in this paste for its rules (iptables-save without -c, or iptables -S): they show 0".to_string()
        } else {
            format!("{uncounted} rules in this paste have no counters: they show 0")
        });
    }
    Ok(Dump {
        tables: tables.iter().map(|t| listing(t, ipv6)).collect(),
        ipv6,
        warnings,
    })
}

/// `-c PACKETS BYTES` among a rule's words (`iptables -S -v`).
fn counter_opt(toks: &[Tok]) -> Option<(u64, u64)> {
    let i = toks
        .iter()
        .position(|t| t.raw == "-c" || t.raw == "--set-counters")?;
    Some((
        toks.get(i + 1)?.val.parse().ok()?,
        toks.get(i + 2)?.val.parse().ok()?,
    ))
}

/// One word of a rule: as the dump has it, and its value (quotes and escapes undone).
#[derive(Debug, Clone)]
struct Tok {
    raw: String,
    val: String,
    quoted: bool,
}

/// Whether a `"` is still open at the end of `line`.
fn quote_open(line: &str) -> bool {
    let mut open = false;
    let mut esc = false;
    for c in line.chars() {
        match (esc, c) {
            (true, _) => esc = false,
            (false, '\\') if open => esc = true,
            (false, '"') => open = !open,
            _ => {}
        }
    }
    open
}

/// Splits a rule's words as iptables-save quotes them (`"a \"b\""`).
fn tokenize(line: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c0) = chars.peek() else { break };
        let mut raw = String::new();
        let mut val = String::new();
        let mut quoted = false;
        if c0 == '"' {
            quoted = true;
            raw.push(chars.next().unwrap_or('"'));
            while let Some(c) = chars.next() {
                raw.push(c);
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            raw.push(n);
                            val.push(n);
                        }
                    }
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                raw.push(c);
                val.push(c);
                chars.next();
            }
        }
        out.push(Tok { raw, val, quoted });
    }
    out
}

#[derive(Debug, Clone, Default)]
struct Module {
    name: String,
    opts: Vec<Opt>,
}

/// A rule's fields, read from its save words.
#[derive(Debug, Clone, Default)]
struct Spec {
    prot: String,
    opt: String,
    in_iface: String,
    out_iface: String,
    source: String,
    destination: String,
    target: String,
    goto: bool,
    matches: Vec<Module>,
    target_opts: Vec<Opt>,
}

impl Spec {
    fn read(toks: &[Tok]) -> Result<Spec, String> {
        let mut s = Spec::default();
        let mut i = 0;
        let mut neg = false;
        // where options go: a match module, the target (after -j), or the protocol's
        // implicit match (`-p tcp --dport 80`)
        enum Into {
            Match(usize),
            Target,
            None,
        }
        let mut into = Into::None;
        let value = |i: usize| -> Result<String, String> {
            toks.get(i + 1)
                .map(|t| t.val.clone())
                .ok_or_else(|| format!("`{}` without its value", toks[i].raw))
        };
        let bang = |neg: bool, v: String| if neg { format!("!{v}") } else { v };
        while i < toks.len() {
            let t = &toks[i];
            if t.raw == "!" && !t.quoted {
                neg = true;
                i += 1;
                continue;
            }
            match t.raw.as_str() {
                "-p" | "--protocol" => {
                    let v = value(i)?;
                    s.prot = bang(neg, v.clone());
                    s.matches.push(Module {
                        name: format!("={v}"),
                        opts: Vec::new(),
                    });
                    into = Into::Match(s.matches.len() - 1);
                    i += 2;
                }
                "-s" | "--source" | "--src" => {
                    s.source = bang(neg, host(&value(i)?));
                    i += 2;
                }
                "-d" | "--destination" | "--dst" => {
                    s.destination = bang(neg, host(&value(i)?));
                    i += 2;
                }
                "-i" | "--in-interface" => {
                    s.in_iface = bang(neg, value(i)?);
                    i += 2;
                }
                "-o" | "--out-interface" => {
                    s.out_iface = bang(neg, value(i)?);
                    i += 2;
                }
                "-f" | "--fragment" => {
                    s.opt = if neg { "!f".into() } else { "-f".into() };
                    i += 1;
                }
                "-c" | "--set-counters" => i += 3,
                "-m" | "--match" => {
                    s.matches.push(Module {
                        name: value(i)?,
                        opts: Vec::new(),
                    });
                    into = Into::Match(s.matches.len() - 1);
                    i += 2;
                }
                "-j" | "--jump" | "-g" | "--goto" => {
                    s.target = value(i)?;
                    s.goto = t.raw.starts_with("-g") || t.raw == "--goto";
                    into = Into::Target;
                    i += 2;
                }
                name if name.starts_with('-') && !t.quoted => {
                    let mut raw = String::new();
                    if neg {
                        raw.push_str("! ");
                    }
                    raw.push_str(&t.raw);
                    let mut vals = Vec::new();
                    let mut j = i + 1;
                    while let Some(v) = toks.get(j) {
                        if !v.quoted
                            && (v.raw == "!"
                                || (v.raw.starts_with('-')
                                    && v.raw.len() > 1
                                    && !v.raw[1..].starts_with(|c: char| c.is_ascii_digit())))
                        {
                            break;
                        }
                        raw.push(' ');
                        raw.push_str(&v.raw);
                        vals.push(v.val.clone());
                        j += 1;
                    }
                    let o = Opt {
                        neg,
                        name: name.to_string(),
                        vals,
                        raw,
                    };
                    match into {
                        Into::Match(k) => s.matches[k].opts.push(o),
                        Into::Target => s.target_opts.push(o),
                        Into::None => {
                            s.matches.push(Module {
                                name: String::new(),
                                opts: vec![o],
                            });
                            into = Into::Match(s.matches.len() - 1);
                        }
                    }
                    i = j;
                }
                _ => {
                    return Err(format!(
                        "unexpected word `{}` in the rule",
                        crate::parse::fields::snippet(&t.raw)
                    ));
                }
            }
            neg = false;
        }
        Ok(s)
    }

    /// What `iptables -L` prints after the addresses.
    fn extra(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for m in &self.matches {
            if let Some(proto) = m.name.strip_prefix('=') {
                // `-p tcp` with its options given without `-m tcp`
                if !m.opts.is_empty() {
                    parts.push(render_match(proto, &m.opts, true));
                }
                continue;
            }
            if m.name.is_empty() {
                parts.push(
                    m.opts
                        .iter()
                        .map(|o| o.raw.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                continue;
            }
            let r = render_match(&m.name, &m.opts, false);
            if !r.is_empty() {
                parts.push(r);
            }
        }
        let t = render_target(&self.target, &self.target_opts);
        if !t.is_empty() {
            parts.push(t);
        }
        let mut out = parts.join(" ");
        if self.goto {
            out = format!("[goto] {out}");
        }
        // nothing in one rule's text may start another line
        out.replace('\r', "\\r").replace('\n', "\\n")
    }
}

/// A host address as `-n` prints it: `/32` (`/128`) left off.
fn host(a: &str) -> String {
    a.strip_suffix("/32")
        .filter(|h| !h.contains(':'))
        .or_else(|| a.strip_suffix("/128").filter(|h| h.contains(':')))
        .unwrap_or(a)
        .to_string()
}

/// A column's value as one word: white space and control characters (a quoted value
/// may hold any) become `?`, so that the column cannot shift the line or break it.
fn word(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// One table as `iptables -vnxL` lists it.
fn listing(t: &Table, ipv6: bool) -> Pasted {
    let any = if ipv6 { "::/0" } else { "0.0.0.0/0" };
    let mut text = String::new();
    let mut origin = Vec::new();
    let title =
        "    pkts      bytes target     prot opt in     out     source               destination\n";
    let mut order: Vec<&Chain> = t.chains.iter().filter(|c| c.policy != "-").collect();
    order.extend(t.chains.iter().filter(|c| c.policy == "-"));
    for (k, c) in order.iter().enumerate() {
        if k > 0 {
            text.push('\n');
            origin.push(c.line);
        }
        if c.policy == "-" {
            let refs = t.rules.iter().filter(|r| r.spec.target == c.name).count();
            text.push_str(&format!("Chain {} ({refs} references)\n", word(&c.name)));
        } else {
            text.push_str(&format!(
                "Chain {} (policy {} {} packets, {} bytes)\n",
                word(&c.name),
                word(&c.policy),
                c.counters.0,
                c.counters.1
            ));
        }
        origin.push(c.line);
        text.push_str(title);
        origin.push(c.line);
        for r in t.rules.iter().filter(|r| r.chain == c.name) {
            let s = &r.spec;
            let (p, b) = r.counters.unwrap_or((0, 0));
            let or = |v: &str, d: &str| {
                if v.is_empty() { d.to_string() } else { word(v) }
            };
            let line = format!(
                "{p:>8} {b:>10} {:<10} {:<4} {:<3} {:<6} {:<6} {:<20} {:<20} {}",
                word(&s.target),
                or(&s.prot, "all"),
                or(&s.opt, "--"),
                or(&s.in_iface, "*"),
                or(&s.out_iface, "*"),
                or(&s.source, any),
                or(&s.destination, any),
                s.extra()
            );
            text.push_str(line.trim_end());
            text.push('\n');
            origin.push(r.line);
        }
    }
    Pasted {
        table: t.name.clone(),
        text,
        origin,
    }
}
