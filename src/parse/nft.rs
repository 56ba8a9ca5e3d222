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

pub mod listing;
pub mod text;

use listing::{ACTIONS, Element, Verdict};

use listing::Texts;

/// The native tables of a ruleset: `json` from `nft -j list ruleset`, `text` from
/// `nft -a list ruleset` of the same moment (None: the rules' text is made from the
/// JSON, roughly). Tables in the order nft lists them.
pub fn parse_ruleset(json: &str, text: Option<&str>) -> Result<Vec<FirewallTable>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("nft -j: {e}"))?;
    let items = v
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or("nft -j: no `nftables` array")?;
    let texts = text
        .map(|t| listing::parse_listing(t).texts)
        .unwrap_or_default();
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

/// A verdict of libnftables' JSON: `{"jump": {"target": "x"}}`, `{"accept": null}`.
fn verdict_of(v: &Value) -> Option<Verdict> {
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

/// A map's (or an anonymous `vmap { }`'s) elements that carry a verdict.
fn elements(elem: &Value) -> Vec<Element> {
    let Some(list) = elem.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let pair = e.as_array()?;
            let verdict = verdict_of(pair.get(1)?)?;
            let key = pair.first()?;
            Some(Element {
                key: key_text(key),
                verdict,
                comment: key
                    .get("elem")
                    .and_then(|e| e.get("comment"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
        })
        .collect()
}

/// A map key as a label: strings quoted, numbers bare, a concatenation as nft prints
/// it (`172.30.0.41 . tcp . 80`), anything else (a prefix, a range) as compact JSON.
fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => format!("\"{s}\""),
        Value::Number(n) => n.to_string(),
        Value::Object(o) if o.contains_key("elem") => key_text(&o["elem"]["val"]),
        Value::Object(o) if o.get("concat").is_some_and(Value::is_array) => o["concat"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| match p {
                Value::String(s) => s.clone(),
                other => key_text(other),
            })
            .collect::<Vec<_>>()
            .join(" . "),
        other => other.to_string(),
    }
}

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
        let mut counters = Vec::new();
        let mut conditional = false;
        let exprs = o.get("expr").and_then(Value::as_array);
        for e in exprs.into_iter().flatten() {
            let Some((k, body)) = e.as_object().and_then(|m| m.iter().next()) else {
                continue;
            };
            match k.as_str() {
                // an anonymous counter; a named one (`counter name x`) is an object of
                // the table, not counted here
                "counter" if body.is_object() => {
                    // several counters: the last, as iptables shows; all in `counters`
                    let c = Counter {
                        packets: body.get("packets").and_then(Value::as_u64).unwrap_or(0),
                        bytes: body.get("bytes").and_then(Value::as_u64).unwrap_or(0),
                    };
                    counters.push(c);
                    counter = Some(c);
                }
                "jump" | "goto" => {
                    if let Some(v) = verdict_of(e) {
                        spec.target = v.target.as_str().into();
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
                    conditional = true;
                    self.vmap_chain(&name, &elems);
                    spec.target = name.into();
                    spec.goto = false;
                }
                k if ACTIONS.contains(&k) => {
                    conditional |= !matches!(
                        k,
                        "accept" | "drop" | "return" | "continue" | "queue" | "reject" | "log"
                    );
                    spec.target = k.into();
                    spec.goto = false;
                }
                _ => conditional = true,
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
        spec.extra = text.as_str().into();
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
                counters: if counters.len() > 1 {
                    counters
                } else {
                    Vec::new()
                },
                conditional,
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
        self.vmap_at.insert(name.to_string(), self.vmaps.len());
        self.vmaps.push(vmap_chain(name, elems));
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

/// A chain of a native table, without rules.
pub fn new_chain(name: &str, kind: ChainKind, native: NativeChain) -> Chain {
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

/// The stand-in chain of a verdict map `name` (`@map`, or `vmap {…} #HANDLE`): its
/// rules are the elements, each going where its verdict says; no counters.
pub fn vmap_chain(name: &str, elems: &[Element]) -> Chain {
    let native = NativeChain {
        vmap: true,
        ..NativeChain::default()
    };
    let mut c = new_chain(name, ChainKind::User { references: None }, native);
    let rules = Arc::make_mut(&mut c.rules);
    for (i, e) in elems.iter().enumerate() {
        let text = match &e.comment {
            Some(c) => format!(
                "{} comment \"{}\" → {}",
                e.key,
                c.replace('"', "'"),
                e.verdict.shown()
            ),
            None => format!("{} → {}", e.key, e.verdict.shown()),
        };
        rules.push(Rule {
            num: i as u32 + 1,
            spec: Arc::new(RuleSpec {
                target: e.verdict.target.as_str().into(),
                goto: e.verdict.goto,
                extra: text.as_str().into(),
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
                ..NativeRule::default()
            })),
            ..Rule::default()
        });
        c.counters.push(Counter::default());
    }
    c
}

#[cfg(test)]
mod tests;
