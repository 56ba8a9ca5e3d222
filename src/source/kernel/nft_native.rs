//! Native nftables tables over netlink: every chain of every family (name, handle,
//! hook, priority, type, policy and its counters) and a chain's rules (chain, handle,
//! every `counter` expression, the verdict). The counters of `source/native.rs` come
//! from here on every poll, by handle; without the `nft` program the chains and rules
//! themselves do too.

use std::io;

use super::nft::{
    NFTA_CHAIN_COUNTERS, NFTA_CHAIN_HOOK, NFTA_CHAIN_NAME, NFTA_CHAIN_TABLE, NFTA_DATA_VERDICT,
    NFTA_EXPR_DATA, NFTA_EXPR_NAME, NFTA_IMMEDIATE_DATA, NFTA_LIST_ELEM, NFTA_RULE_EXPRESSIONS,
    NFTA_RULE_HANDLE, NFTA_VERDICT_CHAIN, NFTA_VERDICT_CODE, NftSocket, attr, attrs, be32, be64,
    counter, cstr,
};
use super::request::{ALL_FAMILIES, NftRequest};
use crate::model::Counter;

const NFTA_CHAIN_HANDLE: u16 = 2;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_IMMEDIATE_DREG: u16 = 1;

/// A chain of any family, as the chain dump gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainFull {
    /// `ip`, `ip6`, `inet`, `arp`, `bridge`, `netdev` (None: a family nft does not know).
    pub family: Option<&'static str>,
    pub table: String,
    pub name: String,
    pub handle: u64,
    pub base: Option<BaseInfo>,
}

/// A base chain's registration, as nft names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseInfo {
    /// `filter`, `nat`, `route`.
    pub kind: String,
    /// `prerouting`, `input`, ... (`hook N` for a number nft would not name).
    pub hook: String,
    pub priority: i64,
    /// `accept` or `drop`.
    pub policy: String,
    pub counter: Counter,
}

/// A rule's verdict (its `immediate` verdict expression).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `accept`, `drop`, `return`, `continue`, `queue`.
    Plain(&'static str),
    Jump(String),
    Goto(String),
}

/// One rule of a table's rule dump.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleFull {
    pub chain: String,
    pub handle: u64,
    /// Every `counter` expression, in order (empty: the rule has none).
    pub counters: Vec<Counter>,
    pub verdict: Option<Verdict>,
    /// Expressions other than `counter` and the verdict: the rule matches on something.
    pub conditional: bool,
}

/// The nft name of a netfilter family number.
pub fn family_name(f: u8) -> Option<&'static str> {
    Some(match f {
        1 => "inet",
        2 => "ip",
        3 => "arp",
        5 => "netdev",
        7 => "bridge",
        10 => "ip6",
        _ => return None,
    })
}

/// The netfilter family number of an nft family name.
pub fn family_number(f: &str) -> Option<u8> {
    Some(match f {
        "inet" => 1,
        "ip" => 2,
        "arp" => 3,
        "netdev" => 5,
        "bridge" => 7,
        "ip6" => 10,
        _ => return None,
    })
}

/// A hook number of `family` as nft names it.
fn hook_name(family: u8, n: u32) -> String {
    let names: &[&str] = match family {
        3 => &["input", "output", "forward"],
        5 => &["ingress", "egress"],
        _ => &[
            "prerouting",
            "input",
            "forward",
            "output",
            "postrouting",
            "ingress",
        ],
    };
    names
        .get(n as usize)
        .map_or_else(|| format!("hook {n}"), |s| (*s).to_string())
}

fn text(p: &[u8]) -> String {
    String::from_utf8_lossy(cstr(p)).into_owned()
}

/// A chain dump message of family `family`.
pub(super) fn chain_full(family: u8, m: &[u8]) -> ChainFull {
    let base = attr(m, NFTA_CHAIN_HOOK).map(|h| BaseInfo {
        kind: attr(m, NFTA_CHAIN_TYPE).map_or_else(|| "filter".to_string(), text),
        hook: attr(h, NFTA_HOOK_HOOKNUM)
            .and_then(be32)
            .map_or_else(String::new, |n| hook_name(family, n)),
        priority: attr(h, NFTA_HOOK_PRIORITY)
            .and_then(be32)
            .map_or(0, |p| i64::from(p as i32)),
        policy: match attr(m, NFTA_CHAIN_POLICY).and_then(be32) {
            Some(0) => "drop".to_string(),
            _ => "accept".to_string(),
        },
        counter: attr(m, NFTA_CHAIN_COUNTERS).map_or_else(Counter::default, counter),
    });
    ChainFull {
        family: family_name(family),
        table: attr(m, NFTA_CHAIN_TABLE).map_or_else(String::new, text),
        name: attr(m, NFTA_CHAIN_NAME).map_or_else(String::new, text),
        handle: attr(m, NFTA_CHAIN_HANDLE).map_or(0, be64),
        base,
    }
}

/// The counters (all of them), the verdict and whether anything else is in the rule.
fn rule_full(m: &[u8], out: &mut RuleFull) {
    out.chain.clear();
    out.chain.push_str(&String::from_utf8_lossy(
        attr(m, NFTA_RULE_CHAIN).map_or(&[][..], cstr),
    ));
    out.handle = attr(m, NFTA_RULE_HANDLE).map_or(0, be64);
    out.counters.clear();
    out.verdict = None;
    out.conditional = false;
    let Some(exprs) = attr(m, NFTA_RULE_EXPRESSIONS) else {
        return;
    };
    for (k, e) in attrs(exprs) {
        if k != NFTA_LIST_ELEM {
            continue;
        }
        let data = attr(e, NFTA_EXPR_DATA).unwrap_or(&[]);
        match attr(e, NFTA_EXPR_NAME).map_or(&[][..], cstr) {
            b"counter" => out.counters.push(counter(data)),
            // the verdict register (0): a verdict; any other register holds data
            b"immediate" if attr(data, NFTA_IMMEDIATE_DREG).and_then(be32) == Some(0) => {
                let v = attr(data, NFTA_IMMEDIATE_DATA)
                    .and_then(|d| attr(d, NFTA_DATA_VERDICT))
                    .unwrap_or(&[]);
                let target = || attr(v, NFTA_VERDICT_CHAIN).map_or_else(String::new, text);
                out.verdict = match attr(v, NFTA_VERDICT_CODE).and_then(be32).map(|c| c as i32) {
                    Some(0) => Some(Verdict::Plain("drop")),
                    Some(1) => Some(Verdict::Plain("accept")),
                    Some(3) => Some(Verdict::Plain("queue")),
                    Some(-1) => Some(Verdict::Plain("continue")),
                    Some(-3) => Some(Verdict::Jump(target())),
                    Some(-4) => Some(Verdict::Goto(target())),
                    Some(-5) => Some(Verdict::Plain("return")),
                    _ => None,
                };
            }
            _ => out.conditional = true,
        }
    }
}

impl NftSocket {
    /// Every chain of every family, in the kernel's order.
    pub fn all_chains(&mut self) -> io::Result<Vec<ChainFull>> {
        let mut out = Vec::new();
        self.request_family(&NftRequest::Chains, ALL_FAMILIES, |family, m| {
            out.push(chain_full(family, m));
            Ok(())
        })?;
        Ok(out)
    }

    /// One chain of a table of `family` (None: it or its table is gone).
    pub fn chain_full(
        &mut self,
        family: u8,
        table: &str,
        chain: &str,
    ) -> io::Result<Option<ChainFull>> {
        let mut out = None;
        match self.request(&NftRequest::Chain { table, chain }, family, |m| {
            out = Some(chain_full(family, m));
            Ok(())
        }) {
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
            Ok(()) => Ok(out),
        }
    }

    /// Calls `each` with every rule of the chain `chain` of the table `table` of
    /// `family`, in order (the same `RuleFull` refilled: nothing is kept). A chain that
    /// is gone gives no rules. One dump per chain: a whole table's dump restarts from
    /// the table's first rule for every message the kernel sends, quadratic in its size.
    pub fn chain_rules(
        &mut self,
        family: u8,
        table: &str,
        chain: &str,
        mut each: impl FnMut(&RuleFull) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut r = RuleFull::default();
        match self.request(&NftRequest::Rules { table, chain }, family, |m| {
            rule_full(m, &mut r);
            each(&r)
        }) {
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOENT) => Ok(()),
            r => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::source::kernel::nft::{nested, put};

    fn expr(name: &str, data: &[u8]) -> Vec<u8> {
        nested(NFTA_LIST_ELEM, |e| {
            put(e, NFTA_EXPR_NAME, format!("{name}\0").as_bytes());
            put(e, NFTA_EXPR_DATA | 0x8000, data);
        })
    }

    fn counter_expr(packets: u64, bytes: u64) -> Vec<u8> {
        let mut d = Vec::new();
        put(&mut d, 1, &bytes.to_be_bytes());
        put(&mut d, 2, &packets.to_be_bytes());
        expr("counter", &d)
    }

    fn verdict_expr(code: i32, chain: Option<&str>) -> Vec<u8> {
        let mut d = Vec::new();
        put(&mut d, NFTA_IMMEDIATE_DREG, &0u32.to_be_bytes());
        let data = nested(NFTA_IMMEDIATE_DATA, |dd| {
            dd.extend(nested(NFTA_DATA_VERDICT, |v| {
                put(v, NFTA_VERDICT_CODE, &code.to_be_bytes());
                if let Some(c) = chain {
                    put(v, NFTA_VERDICT_CHAIN, format!("{c}\0").as_bytes());
                }
            }));
        });
        d.extend(data);
        expr("immediate", &d)
    }

    fn rule_msg(chain: &str, handle: u64, exprs: &[Vec<u8>]) -> Vec<u8> {
        let mut m = Vec::new();
        put(&mut m, 1, b"t\0");
        put(&mut m, NFTA_RULE_CHAIN, format!("{chain}\0").as_bytes());
        put(&mut m, NFTA_RULE_HANDLE, &handle.to_be_bytes());
        m.extend(nested(NFTA_RULE_EXPRESSIONS, |l| {
            for e in exprs {
                l.extend_from_slice(e);
            }
        }));
        m
    }

    #[test]
    fn every_counter_the_handle_and_the_jump() {
        let m = rule_msg(
            "filter-FORWARD",
            42,
            &[
                counter_expr(3, 180),
                expr("payload", &[]),
                counter_expr(2, 120),
                verdict_expr(-3, Some("filter-forward-in__bridge1")),
            ],
        );
        let mut r = RuleFull::default();
        rule_full(&m, &mut r);
        assert_eq!(r.chain, "filter-FORWARD");
        assert_eq!(r.handle, 42);
        assert_eq!(
            r.counters,
            [
                Counter {
                    packets: 3,
                    bytes: 180
                },
                Counter {
                    packets: 2,
                    bytes: 120
                }
            ]
        );
        assert_eq!(
            r.verdict,
            Some(Verdict::Jump("filter-forward-in__bridge1".into()))
        );
        assert!(r.conditional);
        // an unconditional drop without a counter
        rule_full(&rule_msg("c", 7, &[verdict_expr(0, None)]), &mut r);
        assert_eq!((r.handle, r.counters.len(), r.conditional), (7, 0, false));
        assert_eq!(r.verdict, Some(Verdict::Plain("drop")));
    }

    #[test]
    fn a_base_chain_named_as_nft_names_it() {
        let mut m = Vec::new();
        put(&mut m, NFTA_CHAIN_TABLE, b"filter\0");
        put(&mut m, NFTA_CHAIN_HANDLE, &3u64.to_be_bytes());
        put(&mut m, NFTA_CHAIN_NAME, b"forward\0");
        m.extend(nested(NFTA_CHAIN_HOOK, |h| {
            put(h, NFTA_HOOK_HOOKNUM, &2u32.to_be_bytes());
            put(h, NFTA_HOOK_PRIORITY, &(-150i32).to_be_bytes());
        }));
        put(&mut m, NFTA_CHAIN_POLICY, &0u32.to_be_bytes());
        put(&mut m, NFTA_CHAIN_TYPE, b"filter\0");
        let c = chain_full(1, &m);
        assert_eq!(c.family, Some("inet"));
        assert_eq!(
            (c.table.as_str(), c.name.as_str(), c.handle),
            ("filter", "forward", 3)
        );
        let b = c.base.expect("a base chain");
        assert_eq!(
            (b.hook.as_str(), b.priority, b.policy.as_str()),
            ("forward", -150, "drop")
        );
        assert_eq!(hook_name(5, 0), "ingress");
        assert_eq!(hook_name(2, 9), "hook 9");
        for f in crate::model::native::FAMILIES {
            assert_eq!(family_number(f).and_then(family_name), Some(f));
        }
    }
}
