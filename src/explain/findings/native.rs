//! Findings about native nftables tables beside iptables' and each other: a forward
//! hook that drops what Docker or kube-proxy accept, base chains of both kinds on one
//! hook, and rules that count nothing.

use super::{
    COUNTERLESS_RULES, Finding, IPTABLES_AND_NATIVE, NATIVE_FORWARD_DROP, Place, Severity,
};
use crate::model::{FirewallTable, Snapshot};

/// The tables Docker and kube-proxy write their own forward rules to (iptables' or
/// native): a native forward chain that drops breaks them.
fn forwarders(snap: &Snapshot) -> Vec<&'static str> {
    let mut out = Vec::new();
    let has_chain = |t: &FirewallTable, names: &[&str]| names.iter().any(|n| t.chain(n).is_some());
    let docker = snap.tables.iter().any(|t| match t.family.as_deref() {
        None => t.name == "filter" && has_chain(t, &["DOCKER-FORWARD", "DOCKER", "DOCKER-USER"]),
        Some(f) => f == "ip" && t.name == "docker-bridges",
    });
    let kube = snap.tables.iter().any(|t| match t.family.as_deref() {
        None => t.name == "filter" && has_chain(t, &["KUBE-FORWARD"]),
        Some(f) => matches!(f, "ip" | "ip6") && t.name == "kube-proxy",
    });
    if docker {
        out.push("Docker");
    }
    if kube {
        out.push("kube-proxy");
    }
    out
}

/// Is `t` one of the tables Docker or kube-proxy write themselves?
fn own_table(t: &FirewallTable) -> bool {
    matches!(t.name.as_str(), "docker-bridges" | "kube-proxy")
}

/// `native-forward-drop`: a native base chain on the forward hook drops by policy or by
/// an unconditional rule while Docker or kube-proxy forward traffic in their tables. A
/// packet must be accepted by every base chain of the hook: an accept in Docker's table
/// does not stop this one from dropping it.
pub(super) fn native_forward_drop(out: &mut Vec<Finding>, snap: &Snapshot) {
    let who = forwarders(snap);
    if who.is_empty() {
        return;
    }
    let who = who.join(" and ");
    for (ti, t) in snap.tables.iter().enumerate() {
        let Some(family) = t.family.as_deref() else {
            continue;
        };
        if !matches!(family, "ip" | "ip6" | "inet") || own_table(t) {
            continue;
        }
        for (ci, c) in t.chains.iter().enumerate() {
            let Some(base) = c.native.as_ref().and_then(|n| n.base.as_ref()) else {
                continue;
            };
            if base.hook != "forward" {
                continue;
            }
            let name = format!("{family} {} {}", t.name, c.name);
            let drop_rule = c.rules.iter().position(|r| {
                r.native.as_ref().is_some_and(|n| !n.conditional)
                    && matches!(r.spec.target.as_str(), "drop" | "reject")
            });
            let (rule, how) = match drop_rule {
                Some(ri) => (
                    Some(ri),
                    format!("drops every packet at its rule {}", ri + 1),
                ),
                None if base.policy == "drop" => (None, "drops by policy".to_string()),
                None => continue,
            };
            out.push(Finding {
                id: NATIVE_FORWARD_DROP,
                severity: Severity::Warning,
                table: t.name.clone(),
                backend: t.backend,
                chain: Some(c.name.to_string()),
                rule: rule.and_then(|r| c.rules.get(r)).map(|r| r.num),
                message: format!(
                    "{name} (forward hook, priority {}) {how} while {who} forward traffic in their own rules: a packet must be accepted by every base chain on the hook, so containers and pods lose the network unless this chain accepts their traffic too (e.g. `iifname \"docker0\" accept`, `oifname \"docker0\" accept`)",
                    base.priority
                ),
                at: Place {
                    table: ti,
                    chain: Some(ci),
                    rule,
                },
            });
        }
    }
}

/// A hook's base chains ((priority, name) each), whether iptables holds one of them,
/// and the first native one's place.
type HookChains = (&'static str, Vec<(i64, String)>, bool, Option<Place>);

/// The hooks iptables' tables use, in packet order.
const HOOKS: [&str; 5] = ["prerouting", "input", "forward", "output", "postrouting"];

/// The hook and priority of an iptables table's built-in chain.
fn iptables_hook(table: &str, chain: &str) -> Option<(&'static str, i64)> {
    let hook = match chain {
        "PREROUTING" => "prerouting",
        "INPUT" => "input",
        "FORWARD" => "forward",
        "OUTPUT" => "output",
        "POSTROUTING" => "postrouting",
        _ => return None,
    };
    let prio = match (table, hook) {
        ("raw", _) => -300,
        ("mangle", _) => -150,
        ("nat", "postrouting" | "input") => 100,
        ("nat", _) => -100,
        ("filter", _) => 0,
        ("security", _) => 50,
        _ => return None,
    };
    Some((hook, prio))
}

/// `iptables-and-native`: iptables' and native base chains on one hook (IPv4 and inet
/// tables): both run, in priority order, and a packet must pass each of them.
pub(super) fn iptables_and_native(out: &mut Vec<Finding>, snap: &Snapshot) {
    // per hook: (priority, name) of every base chain, an iptables one among them, and
    // the first native one's place
    let mut hooks: Vec<HookChains> = HOOKS
        .iter()
        .map(|h| (*h, Vec::new(), false, None))
        .collect();
    let at = |hook: &str| HOOKS.iter().position(|h| *h == hook);
    for (ti, t) in snap.tables.iter().enumerate() {
        for (ci, c) in t.chains.iter().enumerate() {
            match t.family.as_deref() {
                None => {
                    // iptables-nft lists the built-in chains of a table it never made:
                    // count those that hold a rule or drop by policy
                    let Some((hook, prio)) = iptables_hook(&t.name, &c.name) else {
                        continue;
                    };
                    if c.rules.is_empty() && c.policy() != Some("DROP") {
                        continue;
                    }
                    let Some(i) = at(hook) else { continue };
                    hooks[i]
                        .1
                        .push((prio, format!("iptables {} {}", t.name, c.name)));
                    hooks[i].2 = true;
                }
                Some(family @ ("ip" | "inet")) => {
                    let Some(base) = c.native.as_ref().and_then(|n| n.base.as_ref()) else {
                        continue;
                    };
                    let Some(i) = at(&base.hook) else { continue };
                    hooks[i]
                        .1
                        .push((base.priority, format!("{family} {} {}", t.name, c.name)));
                    hooks[i].3.get_or_insert(Place {
                        table: ti,
                        chain: Some(ci),
                        rule: None,
                    });
                }
                Some(_) => {}
            }
        }
    }
    for (hook, mut chains, iptables, native) in hooks {
        let (true, Some(place)) = (iptables, native) else {
            continue;
        };
        chains.sort_by_key(|(p, _)| *p);
        let order: Vec<String> = chains.iter().map(|(p, n)| format!("{n} ({p})")).collect();
        let t = &snap.tables[place.table];
        out.push(Finding {
            id: IPTABLES_AND_NATIVE,
            severity: Severity::Info,
            table: t.name.clone(),
            backend: t.backend,
            chain: place.chain.map(|c| t.chains[c].name.to_string()),
            rule: None,
            message: format!(
                "the {hook} hook runs iptables' and native nftables base chains, by priority: {}; a packet must be accepted by each of them, and a drop in any one is final",
                order.join(" → ")
            ),
            at: place,
        });
    }
}

/// `counterless-rules`: rules of a native table without a `counter` statement.
pub(super) fn counterless_rules(out: &mut Vec<Finding>, snap: &Snapshot) {
    for (ti, t) in snap.tables.iter().enumerate() {
        let Some(family) = t.family.as_deref() else {
            continue;
        };
        let (mut none, mut all) = (0usize, 0usize);
        let mut first: Option<(usize, usize)> = None;
        for (ci, c) in t.chains.iter().enumerate() {
            if c.native.as_ref().is_some_and(|n| n.vmap) {
                continue;
            }
            for (ri, r) in c.rules.iter().enumerate() {
                all += 1;
                if r.native.as_ref().is_some_and(|n| !n.has_counter) {
                    none += 1;
                    first.get_or_insert((ci, ri));
                }
            }
        }
        let Some((ci, ri)) = first else { continue };
        let c = &t.chains[ci];
        out.push(Finding {
            id: COUNTERLESS_RULES,
            severity: Severity::Info,
            table: t.name.clone(),
            backend: t.backend,
            chain: Some(c.name.to_string()),
            rule: c.rules.get(ri).map(|r| r.num),
            message: format!(
                "{none} of the {all} rules of {family} {} have no counter: their traffic is invisible to every counter tool (iptop shows `no counter`); `counter` in a rule makes it visible",
                t.name
            ),
            at: Place {
                table: ti,
                chain: Some(ci),
                rule: Some(ri),
            },
        });
    }
}
