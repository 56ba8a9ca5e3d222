//! A legacy table built straight from its entries, without writing its listing and
//! parsing it back: for a poll no other follows (`--once`), where the listing would
//! only be read once and thrown away. Each rule's line is still written (the writer
//! is the one that knows the extensions), into one reused buffer, and its columns are
//! taken from where the writer put them ([`super::Cols`]), each as the listing's parser
//! reads that column: the same table as `parse_table` of [`super::render`]'s text
//! (tests compare the two), at a part of the cost.

use std::sync::Arc;

use super::{
    Chain, Cols, Layout, TableInfo, Unsupported, chain_order, jumps, rule, u64_at, unsupported,
    walk,
};
use crate::model::{self, ChainKind, Counter, FirewallTable, Rule, RuleSpec, Text};

/// The table `name` from its entries (counters included) and its info.
pub fn table(
    name: &str,
    entries: &[u8],
    info: &TableInfo,
    l: Layout,
) -> Result<FirewallTable, Unsupported> {
    let (list, mut chains) = walk(entries, info, l)?;
    let targets = jumps(&list, &mut chains)?;
    let order = chain_order(chains.iter().map(|c| (c.policy.is_some(), c.name)));
    let mut t = FirewallTable::new(name);
    let mut line: Vec<u8> = Vec::with_capacity(512);
    for &c in &order {
        let ch: &Chain = &chains[c];
        let (kind, packets, bytes) = match ch.policy {
            Some(p) => {
                let e = &entries[list[p].off..];
                let policy = match list[p].verdict {
                    Some(-2) => "ACCEPT",
                    Some(-1) => "DROP",
                    _ => return Err(unsupported("a policy that is neither ACCEPT nor DROP")),
                };
                let kind = ChainKind::Builtin {
                    policy: policy.into(),
                };
                (kind, u64_at(e, l.counters), u64_at(e, l.counters + 8))
            }
            None => {
                let kind = ChainKind::User {
                    references: Some(ch.references),
                };
                (kind, 0, 0)
            }
        };
        let mut rules = Vec::with_capacity(ch.rules.len());
        let mut counters = Vec::with_capacity(ch.rules.len());
        for (num, r) in ch.rules.clone().enumerate() {
            let jump = match targets[r] {
                u32::MAX => &[][..],
                j => chains[j as usize].name,
            };
            let at = list[r];
            let e = &entries[at.off..][..at.size];
            let mut cols = Cols::default();
            line.clear();
            rule(&mut line, num + 1, e, at, jump, l, Some(&mut cols))?;
            counters.push(Counter {
                packets: u64_at(e, l.counters),
                bytes: u64_at(e, l.counters + 8),
            });
            rules.push(Rule {
                num: u32::try_from(num + 1).unwrap_or(u32::MAX),
                spec: Arc::new(spec(&line, &cols)),
                occurrence: 0,
                key: 0,
                jump: None,
                native: None,
            });
        }
        let mut chain = model::Chain {
            name: Arc::from(String::from_utf8_lossy(ch.name).as_ref()),
            kind,
            packets,
            bytes,
            rules: Arc::new(rules),
            counters,
            text: Arc::default(),
            native: None,
        };
        chain.assign_keys();
        t.push_unindexed(Arc::new(chain));
    }
    t.reindex()
        .map_err(|_| unsupported("a chain name held twice"))?;
    t.link();
    Ok(t)
}

/// The text columns of one rule's line, where [`rule`] put them.
fn spec(line: &[u8], c: &Cols) -> RuleSpec {
    let text = |(a, b): (usize, usize)| lossy(&line[a..b]);
    // after the destination, as the parser reads it (without the line's `\n`)
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let rest = String::from_utf8_lossy(&body[c.addrs[1].1..]);
    let (goto, extra) = crate::parse::after_destination(&rest);
    RuleSpec {
        target: text(c.target),
        goto,
        prot: text(c.prot),
        opt: text(c.opt),
        in_iface: text(c.ifaces[0]),
        out_iface: text(c.ifaces[1]),
        source: text(c.addrs[0]),
        destination: text(c.addrs[1]),
        extra: Text::from(extra),
    }
}

/// The text of `b` (nearly always UTF-8 already), as the listing's lossy reading has it.
fn lossy(b: &[u8]) -> Text {
    match std::str::from_utf8(b) {
        Ok(s) => Text::from(s),
        Err(_) => Text::from(String::from_utf8_lossy(b).as_ref()),
    }
}
