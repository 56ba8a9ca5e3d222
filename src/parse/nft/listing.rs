//! `nft -a list ruleset`, read for what the kernel's netlink answers do not carry in a
//! form worth decoding: each rule's text as nft prints it (by family, table and handle),
//! the elements of verdict maps (named `map NAME { elements = { ... } }` blocks and a
//! rule's anonymous `vmap { ... }`), and what a rule does (its label).

use std::collections::HashMap;

/// (family, table, handle) → the rule's text.
pub type Texts = HashMap<(String, String, u64), String>;

/// One element of a verdict map: its key as nft prints it, and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub key: String,
    pub verdict: Verdict,
    /// The element's `comment` (kube-proxy names a Service without endpoints there).
    pub comment: Option<String>,
}

/// A verdict: `accept`, `drop`, ... or a chain jumped or gone to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// `accept`, `drop`, ... or the chain jumped to.
    pub target: String,
    pub chain: bool,
    pub goto: bool,
}

impl Verdict {
    /// `jump X`, `goto X`, `accept`, `drop`, `continue`, `return`, `queue`.
    pub fn parse(s: &str) -> Option<Verdict> {
        let mut w = s.split_whitespace();
        let first = w.next()?;
        match first {
            "jump" | "goto" => Some(Verdict {
                target: w.next()?.trim_matches('"').to_string(),
                chain: true,
                goto: first == "goto",
            }),
            "accept" | "drop" | "continue" | "return" | "queue" => Some(Verdict {
                target: first.to_string(),
                ..Verdict::default()
            }),
            _ => None,
        }
    }

    /// As a map element's branch shows it: the chain (`goto X` for a goto) or the verdict.
    pub fn shown(&self) -> String {
        if self.chain && self.goto {
            format!("goto {}", self.target)
        } else {
            self.target.clone()
        }
    }
}

/// What the listing holds besides the chains: rule texts and verdict maps.
#[derive(Debug, Default)]
pub struct Listing {
    pub texts: Texts,
    /// (family, table, map name) → the map's elements that carry a verdict.
    pub maps: HashMap<(String, String, String), Vec<Element>>,
}

/// Reads `nft -a list ruleset` (or `nft list ruleset`: no handles, so no texts).
pub fn parse_listing(listing: &str) -> Listing {
    let mut out = Listing::default();
    let mut table: Option<(String, String)> = None;
    let mut in_chain = false;
    // a map's name and its block's text so far
    let mut map: Option<(String, String)> = None;
    for line in listing.lines() {
        let l = line.trim();
        if let Some((name, body)) = &mut map {
            if l == "}" {
                if let (Some((f, t)), Some(at)) = (&table, body.find("elements = {")) {
                    let elems = elements(group(&body[at + "elements = ".len()..]));
                    out.maps
                        .insert((f.clone(), t.clone(), std::mem::take(name)), elems);
                }
                map = None;
            } else {
                body.push_str(l);
                body.push(' ');
            }
            continue;
        }
        if let Some(rest) = l.strip_prefix("table ") {
            let mut w = rest.split_whitespace();
            table = match (w.next(), w.next()) {
                (Some(f), Some(n)) => Some((f.to_string(), n.to_string())),
                _ => None,
            };
            in_chain = false;
            continue;
        }
        if l.starts_with("chain ") && l.contains('{') {
            in_chain = true;
            continue;
        }
        if let Some(rest) = l.strip_prefix("map ")
            && l.contains('{')
        {
            let name = rest.split_whitespace().next().unwrap_or("");
            map = Some((name.trim_matches('"').to_string(), String::new()));
            continue;
        }
        if l == "}" {
            in_chain = false;
            continue;
        }
        let (Some((f, t)), true) = (&table, in_chain) else {
            continue;
        };
        let Some((rule, h)) = l.rsplit_once(" # handle ") else {
            continue;
        };
        if let Ok(h) = h.trim().parse::<u64>() {
            out.texts
                .insert((f.clone(), t.clone(), h), without_counts(rule));
        }
    }
    out
}

/// The text of a `{ ... }` group at the start of `s` (without its braces), braces and
/// quotes inside it kept whole; all of `s` when it does not close.
pub(super) fn group(s: &str) -> &str {
    let s = s.trim_start();
    let Some(inner) = s.strip_prefix('{') else {
        return "";
    };
    let mut depth = 1;
    let mut quoted = false;
    for (i, c) in inner.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return &inner[..i];
                }
            }
            _ => {}
        }
    }
    inner
}

/// `"a" : jump x, "b" : accept` → the elements that carry a verdict, in order.
pub fn elements(inner: &str) -> Vec<Element> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut from) = (0, false, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(&inner[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[from..]);
    parts
        .into_iter()
        .filter_map(|p| {
            let (key, verdict) = p.trim().rsplit_once(" : ")?;
            let comment = key.split_once(" comment \"").map(|(_, c)| {
                let end = c.find('"').unwrap_or(c.len());
                c[..end].to_string()
            });
            let key = [" counter ", " timeout ", " expires ", " comment "]
                .iter()
                .filter_map(|w| key.find(w))
                .min()
                .map_or(key, |at| &key[..at]);
            Some(Element {
                key: key.trim().to_string(),
                verdict: Verdict::parse(verdict)?,
                comment,
            })
        })
        .collect()
}

/// The statements that say what a rule does, for its label (the last one wins, as the
/// verdict is last in a rule).
pub const ACTIONS: [&str; 13] = [
    "accept",
    "drop",
    "return",
    "continue",
    "queue",
    "reject",
    "dnat",
    "snat",
    "masquerade",
    "redirect",
    "notrack",
    "log",
    "tproxy",
];

/// A rule's verdict map: `@name`, or an anonymous `vmap { ... }`'s elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmapRef {
    Named(String),
    Anonymous(Vec<Element>),
}

/// What a rule does, read from its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Label {
    /// The last action (`accept`, `dnat`, ...), the chain of a jump or goto, or empty.
    pub target: String,
    pub goto: bool,
    /// `target` is a chain (a `jump` or `goto`).
    pub chain: bool,
    pub vmap: Option<VmapRef>,
}

/// The words of a rule outside quoted strings, a `{ ... }` group as one word.
fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let end = if rest.starts_with('{') {
            group(rest).len() + 2
        } else if let Some(q) = rest.strip_prefix('"') {
            q.find('"').map_or(rest.len(), |i| i + 2)
        } else {
            rest.find(char::is_whitespace).unwrap_or(rest.len())
        };
        let end = end.min(rest.len());
        let w = &rest[..end];
        if !w.starts_with('"') {
            out.push(w);
        }
        rest = rest[end..].trim_start();
    }
    out
}

/// What a rule does: its last action, jump or goto, and its verdict map.
pub fn label(text: &str) -> Label {
    let mut l = Label::default();
    let w = words(text);
    let mut i = 0;
    while i < w.len() {
        match w[i] {
            "jump" | "goto" if i + 1 < w.len() => {
                l.target = w[i + 1].trim_matches('"').to_string();
                l.goto = w[i] == "goto";
                l.chain = true;
                i += 1;
            }
            "vmap" if i + 1 < w.len() => {
                let m = w[i + 1];
                l.vmap = Some(match m.strip_prefix('@') {
                    Some(name) => VmapRef::Named(name.to_string()),
                    None => VmapRef::Anonymous(elements(group(m))),
                });
                l.goto = false;
                l.chain = false;
                i += 1;
            }
            a if ACTIONS.contains(&a) => {
                l.target = a.to_string();
                l.goto = false;
                l.chain = false;
            }
            _ => {}
        }
        i += 1;
    }
    l
}

/// `counter packets 3 bytes 180` → `counter`.
pub fn without_counts(rule: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let w: Vec<&str> = rule.split(' ').collect();
    let mut i = 0;
    while i < w.len() {
        out.push(w[i]);
        if w[i] == "counter"
            && w.get(i + 1) == Some(&"packets")
            && w.get(i + 3) == Some(&"bytes")
            && w.get(i + 2).is_some_and(|n| n.parse::<u64>().is_ok())
            && w.get(i + 4).is_some_and(|n| n.parse::<u64>().is_ok())
        {
            i += 5;
        } else {
            i += 1;
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = r#"table ip docker-bridges { # handle 3
	map filter-forward-in-jumps { # handle 7
		type ifname : verdict
		elements = { "docker0" : jump filter-forward-in__docker0,
			     "bridge1" : goto filter-forward-in__bridge1 }
	}
	chain filter-FORWARD { # handle 2
		type filter hook forward priority filter; policy accept;
		oifname vmap @filter-forward-in-jumps # handle 13
		ct state vmap { invalid : drop, established : accept, related : accept } # handle 14
		iifname != "bridge1" tcp dport 8080 counter packets 5 bytes 300 dnat to 192.0.2.2:80 comment "accept" # handle 15
	}
}
"#;

    #[test]
    fn texts_maps_and_labels() {
        let l = parse_listing(LISTING);
        let key = |h| ("ip".to_string(), "docker-bridges".to_string(), h);
        assert_eq!(
            l.texts[&key(15)],
            "iifname != \"bridge1\" tcp dport 8080 counter dnat to 192.0.2.2:80 comment \"accept\""
        );
        let m = &l.maps[&(
            "ip".to_string(),
            "docker-bridges".to_string(),
            "filter-forward-in-jumps".to_string(),
        )];
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].key, "\"docker0\"");
        assert_eq!(m[1].verdict.shown(), "goto filter-forward-in__bridge1");
        assert_eq!(
            label(&l.texts[&key(13)]).vmap,
            Some(VmapRef::Named("filter-forward-in-jumps".into()))
        );
        let anon = label(&l.texts[&key(14)]);
        let Some(VmapRef::Anonymous(e)) = anon.vmap else {
            panic!("{anon:?}")
        };
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[0].key.as_str(), e[0].verdict.target.as_str()),
            ("invalid", "drop")
        );
        // the comment's "accept" is not the rule's action
        assert_eq!(label(&l.texts[&key(15)]).target, "dnat");
        assert_eq!(label("ip saddr 10.0.0.0/8 counter jump c1").target, "c1");
        assert!(label("goto c2").goto);
        assert_eq!(label("counter").target, "");
    }

    #[test]
    fn hostile_text_does_not_panic() {
        for s in [
            "vmap {",
            "vmap",
            "\"",
            "{ \" }",
            "jump",
            "a : ",
            "vmap { \"x\" : jump }",
        ] {
            let _ = label(s);
            let _ = parse_listing(&format!("table ip t {{\nmap m {{\nelements = {s}\n}}\n"));
        }
    }
}
