//! Chains whose end nothing can reach: a rule that matches every packet and ends the
//! chain (a verdict, RETURN, a goto) stops everything that got that far.

use super::{Effect, effect};
use crate::model::comments::without_comments;
use crate::model::{FirewallTable, RuleSpec};

/// Chain `chain` has a rule that matches everything and ends the chain: no packet
/// reaches its end. Decided from the rules alone; a rule iptop is unsure of counts as
/// conditional.
pub fn unreachable_end(table: &FirewallTable, chain: usize) -> bool {
    let c = &table.chains[chain];
    !c.is_builtin()
        && c.rules.iter().enumerate().any(|(ri, r)| {
            let ends = match effect(table, chain, ri) {
                Effect::Verdict | Effect::Return => true,
                Effect::Jump => r.spec.goto,
                Effect::Continue | Effect::Unknown => false,
            };
            ends && matches_everything(&r.spec)
        })
}

/// The rule matches every packet: any protocol, no fragment flag, no interface, any
/// address both ways, and no match in its text (comments and the target's own options,
/// `reject-with ...`, `to:...`, aside).
pub fn matches_everything(s: &RuleSpec) -> bool {
    let any_addr = |a: &str| matches!(a, "0.0.0.0/0" | "::/0");
    matches!(s.prot.as_str(), "all" | "0")
        && matches!(s.opt.as_str(), "--" | "")
        && matches!(s.in_iface.as_str(), "*" | "")
        && matches!(s.out_iface.as_str(), "*" | "")
        && any_addr(&s.source)
        && any_addr(&s.destination)
        && target_options_only(&s.target, &without_comments(&s.extra))
}

/// `text` holds nothing but options of `target` (which iptables prints after the
/// matches), so no match.
fn target_options_only(target: &str, text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    match (target, words.as_slice()) {
        (_, []) => true,
        ("REJECT", ["reject-with", _]) => true,
        ("DNAT" | "SNAT" | "NETMAP", w) => w.iter().all(|w| {
            w.starts_with("to:") || matches!(*w, "random" | "random-fully" | "persistent")
        }),
        ("MASQUERADE", w) => {
            let w = match w {
                ["masq", "ports:", _, rest @ ..] => rest,
                w => w,
            };
            w.iter().all(|w| matches!(*w, "random" | "random-fully"))
        }
        ("REDIRECT", ["redir", "ports", _, rest @ ..]) => rest.iter().all(|w| *w == "random"),
        // `MARK or 0x4000`, `MARK set 0x1`, `MARK xset 0x4000/0x4000`, `CONNMARK set 0x1`
        (
            "MARK" | "CONNMARK",
            [
                t,
                "or" | "and" | "xor" | "set" | "xset" | "save" | "restore",
                ..,
            ],
        ) => *t == target,
        _ => false,
    }
}
