//! Native nftables tables from `nft -j list ruleset` (libnftables' JSON: tables, chains
//! with their hooks, rules with handles, counters and verdicts, maps with elements) and
//! `nft -a list ruleset` (each rule's text as nft prints it, found by its handle).
//!
//! iptables-nft's own tables (an `ip`/`ip6` table named `filter`, `nat`, ...) are left
//! out: iptop shows them as iptables does. Each other table becomes a
//! [`FirewallTable`] whose `family` is set: base chains are built-in chains (their
//! policy), other chains user chains, and a verdict map (`oifname vmap @name`, or an
//! anonymous `vmap { ... }`) becomes a stand-in chain whose rules are the map's elements,
//! each going to its chain: the tree follows them as it follows jumps.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::model::native::{BaseChain, NativeChain, NativeRule, is_iptables_table};
use crate::model::{Chain, ChainKind, Counter, FirewallTable, Rule, RuleSpec};

/// (family, table, handle) → the rule's text.
type Texts = HashMap<(String, String, u64), String>;

/// The native tables of a ruleset: `json` from `nft -j list ruleset`, `text` from
/// `nft -a list ruleset` of the same moment (None: the rules' text is made from the
/// JSON, roughly). Tables in the order nft lists them.
pub fn parse_ruleset(json: &str, text: Option<&str>) -> Result<Vec<FirewallTable>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("nft -j: {e}"))?;
    let items = v
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or("nft -j: no `nftables` array")?;
    let texts = text.map(rule_texts).unwrap_or_default();
    let mut tables: Vec<Builder> = Vec::new();
    let mut at: HashMap<(String, String), usize> = HashMap::new();
    let key = |o: &Value, name: &str| -> Option<(String, String)> {
        Some((str_of(o, "family")?, str_of(o, name)?))
    };
    for item in items {
        let Some((kind, o)) = item.as_object().and_then(|m| m.iter().next()) else {
            continue;
        };
        match kind.as_str() {
            "table" => {
                let Some(k) = key(o, "name") else { continue };
                if is_iptables_table(&k.0, &k.1) || at.contains_key(&k) {
                    continue;
                }
                at.insert(k.clone(), tables.len());
                tables.push(Builder::new(&k.0, &k.1));
            }
            "map" | "set" => {
                if let Some(b) = key(o, "table").and_then(|k| at.get(&k)) {
                    let b = &mut tables[*b];
                    if let (Some(name), Some(elem)) = (str_of(o, "name"), o.get("elem")) {
                        b.maps.insert(name, elements(elem));
                    }
                }
            }
            "chain" => {
                if let Some(b) = key(o, "table").and_then(|k| at.get(&k)) {
                    tables[*b].chain(o);
                }
            }
            "rule" => {
                if let Some(b) = key(o, "table").and_then(|k| at.get(&k)) {
                    tables[*b].rule(o, &texts);
                }
            }
            _ => {}
        }
    }
    Ok(tables.into_iter().map(Builder::finish).collect())
}

fn str_of(o: &Value, k: &str) -> Option<String> {
    o.get(k).and_then(Value::as_str).map(str::to_string)
}

/// One element of a verdict map: its key as shown, and its verdict.
#[derive(Debug, Clone)]
struct Element {
    key: String,
    verdict: Verdict,
}

#[derive(Debug, Clone, Default)]
struct Verdict {
    /// `accept`, `drop`, ... or the chain jumped to.
    target: String,
    chain: bool,
    goto: bool,
}

impl Verdict {
    fn of(v: &Value) -> Option<Verdict> {
        let (k, body) = v.as_object()?.iter().next()?;
        match k.as_str() {
            "jump" | "goto" => Some(Verdict {
                target: str_of(body, "target")?,
                chain: true,
                goto: k == "goto",
            }),
            "accept" | "drop" | "continue" | "return" | "queue" => Some(Verdict {
                target: k.clone(),
                ..Verdict::default()
            }),
            _ => None,
        }
    }

    fn shown(&self) -> String {
        match (self.chain, self.goto) {
            (true, true) => format!("goto {}", self.target),
            (true, false) => self.target.clone(),
            (false, _) => self.target.clone(),
        }
    }
}

/// A map's (or an anonymous `vmap { }`'s) elements that carry a verdict.
fn elements(elem: &Value) -> Vec<Element> {
    let Some(list) = elem.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let pair = e.as_array()?;
            let verdict = Verdict::of(pair.get(1)?)?;
            Some(Element {
                key: key_text(pair.first()?),
                verdict,
            })
        })
        .collect()
}

/// A map key as a label: strings quoted, numbers bare, anything else (a prefix, a
/// range, a concatenation) as compact JSON.
fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => format!("\"{s}\""),
        Value::Number(n) => n.to_string(),
        Value::Object(o) if o.contains_key("elem") => key_text(&o["elem"]["val"]),
        other => other.to_string(),
    }
}

/// The statements that say what a rule does, for its label (the last one wins, as the
/// verdict is last in a rule).
const ACTIONS: [&str; 13] = [
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

struct Builder {
    table: FirewallTable,
    maps: HashMap<String, Vec<Element>>,
    /// Stand-in chains of verdict maps, made when a rule first uses them.
    vmaps: Vec<Chain>,
    vmap_at: HashMap<String, usize>,
}

impl Builder {
    fn new(family: &str, name: &str) -> Builder {
        let mut table = FirewallTable::new(name);
        table.family = Some(family.to_string());
        Builder {
            table,
            maps: HashMap::new(),
            vmaps: Vec::new(),
            vmap_at: HashMap::new(),
        }
    }

    fn chain(&mut self, o: &Value) {
        let Some(name) = str_of(o, "name") else {
            return;
        };
        let base = str_of(o, "hook").map(|hook| BaseChain {
            kind: str_of(o, "type").unwrap_or_default(),
            hook,
            priority: o.get("prio").and_then(Value::as_i64).unwrap_or(0),
            policy: str_of(o, "policy").unwrap_or_else(|| "accept".into()),
        });
        let kind = match &base {
            Some(b) => ChainKind::Builtin {
                policy: b.policy.clone(),
            },
            None => ChainKind::User { references: None },
        };
        let native = NativeChain {
            handle: o.get("handle").and_then(Value::as_u64).unwrap_or(0),
            base,
            vmap: false,
        };
        self.table.push_chain(new_chain(&name, kind, native));
    }

    fn rule(&mut self, o: &Value, texts: &Texts) {
        let Some(chain) = str_of(o, "chain") else {
            return;
        };
        let Some(ci) = self.table.chain_index(&chain) else {
            return;
        };
        let handle = o.get("handle").and_then(Value::as_u64).unwrap_or(0);
        let mut counter = None;
        let mut spec = RuleSpec::default();
        let mut jumps_to = Vec::new();
        let exprs = o.get("expr").and_then(Value::as_array);
        for e in exprs.into_iter().flatten() {
            let Some((k, body)) = e.as_object().and_then(|m| m.iter().next()) else {
                continue;
            };
            match k.as_str() {
                "counter" => {
                    // several counters: the last, as iptables shows
                    counter = Some(Counter {
                        packets: body.get("packets").and_then(Value::as_u64).unwrap_or(0),
                        bytes: body.get("bytes").and_then(Value::as_u64).unwrap_or(0),
                    });
                }
                "jump" | "goto" => {
                    if let Some(v) = Verdict::of(e) {
                        spec.target = v.target.clone();
                        spec.goto = v.goto;
                        jumps_to.push(v.target);
                    }
                }
                "vmap" => {
                    let (name, elems) = match body.get("data") {
                        Some(Value::String(s)) => {
                            let m = s.trim_start_matches('@');
                            (
                                format!("@{m}"),
                                self.maps.get(m).cloned().unwrap_or_default(),
                            )
                        }
                        Some(d) => (
                            format!("vmap {{…}} #{handle}"),
                            d.get("set").map(elements).unwrap_or_default(),
                        ),
                        None => continue,
                    };
                    jumps_to.extend(
                        elems
                            .iter()
                            .filter(|e| e.verdict.chain)
                            .map(|e| e.verdict.target.clone()),
                    );
                    self.vmap_chain(&name, &elems);
                    spec.target = name;
                    spec.goto = false;
                }
                k if ACTIONS.contains(&k) => {
                    spec.target = k.to_string();
                    spec.goto = false;
                }
                _ => {}
            }
        }
        let text = texts
            .get(&(
                self.table.family.clone().unwrap_or_default(),
                self.table.name.clone(),
                handle,
            ))
            .cloned()
            .unwrap_or_else(|| format!("{} (handle {handle})", spec.target));
        spec.extra.clone_from(&text);
        let c = self.table.chain_mut(ci);
        let num = c.rules.len() as u32 + 1;
        Arc::make_mut(&mut c.rules).push(Rule {
            num,
            spec: Arc::new(spec),
            native: Some(Arc::new(NativeRule {
                handle,
                text: text.into(),
                has_counter: counter.is_some(),
                jumps_to,
            })),
            ..Rule::default()
        });
        c.counters.push(counter.unwrap_or_default());
    }

    /// The stand-in chain of a verdict map: made once, its rules the elements.
    fn vmap_chain(&mut self, name: &str, elems: &[Element]) {
        if self.vmap_at.contains_key(name) {
            return;
        }
        let native = NativeChain {
            vmap: true,
            ..NativeChain::default()
        };
        let mut c = new_chain(name, ChainKind::User { references: None }, native);
        let rules = Arc::make_mut(&mut c.rules);
        for (i, e) in elems.iter().enumerate() {
            let text = format!("{} → {}", e.key, e.verdict.shown());
            rules.push(Rule {
                num: i as u32 + 1,
                spec: Arc::new(RuleSpec {
                    target: e.verdict.target.clone(),
                    goto: e.verdict.goto,
                    extra: text.clone(),
                    ..RuleSpec::default()
                }),
                native: Some(Arc::new(NativeRule {
                    handle: 0,
                    text: text.into(),
                    has_counter: false,
                    jumps_to: if e.verdict.chain {
                        vec![e.verdict.target.clone()]
                    } else {
                        Vec::new()
                    },
                })),
                ..Rule::default()
            });
            c.counters.push(Counter::default());
        }
        self.vmap_at.insert(name.to_string(), self.vmaps.len());
        self.vmaps.push(c);
    }

    fn finish(mut self) -> FirewallTable {
        for c in std::mem::take(&mut self.vmaps) {
            self.table.push_chain(c);
        }
        for i in 0..self.table.chains.len() {
            self.table.chain_mut(i).assign_keys();
        }
        self.table.link();
        self.table
    }
}

fn new_chain(name: &str, kind: ChainKind, native: NativeChain) -> Chain {
    Chain {
        name: Arc::from(name),
        kind,
        packets: 0,
        bytes: 0,
        rules: Arc::default(),
        counters: Vec::new(),
        text: Arc::default(),
        native: Some(Arc::new(native)),
    }
}

/// Each rule's text from `nft -a list ruleset`, by (family, table, handle): without
/// `# handle N` and without its counters' numbers (`counter` stays), so that the text
/// stays the same while the counters move.
fn rule_texts(listing: &str) -> Texts {
    let mut out = Texts::new();
    let mut table: Option<(String, String)> = None;
    let mut in_chain = false;
    for line in listing.lines() {
        let l = line.trim();
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
            out.insert((f.clone(), t.clone(), h), without_counts(rule));
        }
    }
    out
}

/// `counter packets 3 bytes 180` → `counter`.
fn without_counts(rule: &str) -> String {
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
mod tests;
