//! What traced packets did where nothing counts: the rules without a `counter` of the
//! native tables (kube-proxy's nftables mode writes none; Docker 29's verdict-map rules
//! have none) get the number of traced packets that matched them, and a verdict map's
//! element the number it sent on.

use std::sync::Arc;

use super::TracedPacket;
use crate::model::FirewallTable;
use crate::model::native::Traced;

/// Sets each native table's [`FirewallTable::traced`] from `packets` (None where no
/// traced packet matched a rule without counter).
pub fn mark<'a, I>(tables: &mut [FirewallTable], packets: &I)
where
    I: IntoIterator<Item = &'a TracedPacket> + Clone,
{
    for t in tables.iter_mut() {
        let Some(family) = t.family.clone() else {
            continue;
        };
        let mut counts = Traced::new();
        for s in packets.clone().into_iter().flat_map(|p| &p.steps) {
            if s.table != t.name || s.family != family || s.kind != "rule" {
                continue;
            }
            let (Some(ci), Some(n)) = (t.chain_index(&s.chain), s.rule) else {
                continue;
            };
            let Some(r) = t.chains[ci].rules.get(n.wrapping_sub(1)) else {
                continue;
            };
            if r.native.as_ref().is_some_and(|x| !x.has_counter) {
                *counts.entry((ci, n - 1)).or_default() += 1;
            }
            // a verdict map's rule: the element that sent the packet where it went
            let map = t
                .chain_index(&r.spec.target)
                .filter(|&m| t.chains[m].native.as_ref().is_some_and(|x| x.vmap));
            if let (Some(m), Some(to)) = (map, &s.target)
                && let Some(e) = t.chains[m].rules.iter().position(|e| e.spec.target == *to)
            {
                *counts.entry((m, e)).or_default() += 1;
            }
        }
        t.traced = (!counts.is_empty()).then(|| Arc::new(counts));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::trace::Step;

    fn step(chain: &str, rule: usize, target: Option<&str>) -> Step {
        Step {
            family: "ip".into(),
            table: "kube-proxy".into(),
            chain: chain.into(),
            handle: None,
            rule: Some(rule),
            verdict: "accept".into(),
            target: target.map(str::to_string),
            kind: "rule",
            dnat: false,
        }
    }

    #[test]
    fn counterless_rules_and_map_elements_get_the_traced_packets() {
        let text = include_str!("../../../tests/fixtures/nft/kube-proxy.txt");
        let mut t = crate::parse::nft::text::parse(text);
        let svc = "service-QH3BWUDN-shop/web/tcp/http";
        let ep = "endpoint-MZ6PW3RD-shop/web/tcp/http__10.180.0.2/8080";
        let p = TracedPacket {
            id: 1,
            time: None,
            summary: String::new(),
            verdict: "accept".into(),
            place: String::new(),
            steps: vec![
                step("services", 1, Some(svc)),
                step(svc, 2, Some(ep)),
                step(ep, 2, None),
            ],
        };
        mark(&mut t, &[p.clone(), p].iter());
        let k = &t[0];
        let c = |n: &str| k.chain_index(n).expect(n);
        assert_eq!(k.traced(c(ep), 1), Some(2));
        assert_eq!(k.traced(c(ep), 0), None);
        assert_eq!(k.traced(c("services"), 0), Some(2));
        // the numgen map's element 1 (the second endpoint)
        let map = k.chains[c(svc)].rules[1].spec.target.clone();
        assert_eq!(k.traced(c(&map), 1), Some(2));
        assert_eq!(k.traced(c(&map), 0), None);
        // no packet: nothing marked
        mark(&mut t, &[].iter());
        assert!(t[0].traced.is_none());
    }
}
