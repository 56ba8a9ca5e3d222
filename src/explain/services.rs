//! kube-proxy's Services read back from the nat table (iptables mode): per Service its
//! name (from kube-proxy's comments, `ns/name:port`) or its cluster IP and port, its
//! endpoints (the DNAT targets of its KUBE-SEP chains), and each endpoint's share of new
//! connections next to the share kube-proxy's `statistic` cascade intends.
//!
//! The cascade: a Service with n endpoints jumps to endpoint i (from 0) with probability
//! 1/(n-i) among the packets that got that far, so the first rule says 0.333 of three,
//! the second 0.5 and the last takes the rest: 1/n each. nat sees only the first packet
//! of a connection, so a jump rule's packet count is its count of new connections.

use serde::Serialize;

use super::ports;
use crate::diff::TableDelta;
use crate::model::comments::without_comments;
use crate::model::{Chain, FirewallTable, Rule};

/// A Service's endpoint, as `--view services` lists it (its JSON too: the field names
/// in the JSON are serde's renames).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoint {
    /// Where the endpoint's DNAT sends (`10.244.1.112:9090`); empty if its chain has none.
    pub address: String,
    /// The KUBE-SEP chain (nftables mode: the `endpoint-…` chain).
    pub chain: String,
    /// The number of the rule in the Service's chain that picks this endpoint.
    pub rule: u32,
    /// The `statistic` probability of that rule; None for the last, which takes the rest
    /// (and in nftables mode).
    pub probability: Option<f64>,
    /// The share of new connections the cascade intends for it (1/n when kube-proxy wrote
    /// it; nftables mode: its `numgen` values over the modulus).
    #[serde(rename = "intended_share")]
    pub intended: f64,
    /// New connections sent to it (over the window, or since the rules were loaded);
    /// None when a counter cannot be told apart from its copies (or, in nftables mode,
    /// there is no counter).
    #[serde(rename = "new_connections")]
    pub new: Option<u64>,
    /// Its share of the Service's new connections; None when there were none or they
    /// cannot be counted (nftables mode).
    pub share: Option<f64>,
    /// nftables mode: the values of `numgen random mod N` that pick it; empty in
    /// iptables mode.
    pub numgen: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// `ns/name:port` from kube-proxy's comments, if the rules carry them.
    pub name: Option<String>,
    /// The KUBE-SVC (or KUBE-SVL) chain; None for a Service known only from a REJECT.
    pub chain: Option<String>,
    pub cluster_ip: Option<String>,
    /// `tcp`, `udp`, `sctp`, or empty.
    pub protocol: String,
    pub port: Option<u16>,
    pub node_port: Option<u16>,
    /// Endpoints on this node only (a KUBE-SVL chain: traffic policy Local).
    pub local: bool,
    pub endpoints: Vec<Endpoint>,
}

impl Service {
    /// The name, or the cluster IP and port, or the chain.
    pub fn label(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        match (&self.cluster_ip, self.port, self.node_port) {
            (Some(ip), Some(p), _) => format!("{ip}:{p}/{}", self.protocol),
            (Some(ip), None, _) => ip.clone(),
            (None, _, Some(np)) => format!("node port {np}/{}", self.protocol),
            _ => self.chain.clone().unwrap_or_default(),
        }
    }

    /// New connections to all endpoints (None if one of them is unknown).
    pub fn new_connections(&self) -> Option<u64> {
        self.endpoints.iter().map(|e| e.new).sum()
    }
}

/// The Services of a nat table (with `filter`, if polled, for Services without
/// endpoints, which kube-proxy rejects there). `deltas`: the nat table's deltas over a
/// window, or None to count since the rules were loaded.
pub fn group(
    nat: &FirewallTable,
    deltas: Option<&TableDelta>,
    filter: Option<&FirewallTable>,
) -> Vec<Service> {
    let mut out: Vec<Service> = Vec::new();
    let services = nat.chain_index("KUBE-SERVICES");
    // KUBE-SERVICES order first (the order kube-proxy writes), then any other chain
    let mut order: Vec<usize> = Vec::new();
    if let Some(s) = services {
        for r in nat.chains[s].rules.iter() {
            if let Some(j) = nat.jump_target(r)
                && is_service_chain(&nat.chains[j].name)
                && !order.contains(&j)
            {
                order.push(j);
            }
        }
    }
    let mut rest: Vec<usize> = (0..nat.chains.len())
        .filter(|&i| is_service_chain(&nat.chains[i].name) && !order.contains(&i))
        .collect();
    rest.sort_by(|&a, &b| nat.chains[a].name.cmp(&nat.chains[b].name));
    order.extend(rest);
    for ci in order {
        out.push(service(nat, ci, deltas));
    }
    if let Some(f) = filter {
        for s in rejected(f) {
            let known = out.iter().any(|o| {
                (o.name.is_some() && o.name == s.name)
                    || (o.cluster_ip.is_some() && o.cluster_ip == s.cluster_ip && o.port == s.port)
            });
            if !known {
                out.push(s);
            }
        }
    }
    out
}

/// The tables `--view services` reads from a replay that holds `have`: nat, and filter
/// for Services without endpoints; the first table when it holds neither (the view then
/// says what it needs).
pub fn tables_of(have: &[String]) -> Vec<String> {
    let v: Vec<String> = ["nat", "filter"]
        .iter()
        .filter(|t| have.iter().any(|h| h == *t))
        .map(std::string::ToString::to_string)
        .collect();
    if v.is_empty() {
        have.first().cloned().into_iter().collect()
    } else {
        v
    }
}

fn is_service_chain(name: &str) -> bool {
    name.starts_with("KUBE-SVC-") || name.starts_with("KUBE-SVL-")
}

/// `ns/name:port` from a comment such as `ns/name:port cluster IP` or `ns/name:port ->
/// 10.0.0.1:80`.
fn name_from_comment(extra: &str) -> Option<String> {
    let c = ports::comment(extra)?;
    let name = c.split_whitespace().next()?;
    // kube-proxy's names hold a namespace: `ns/name` or `ns/name:port`; a port without a
    // name leaves `ns/name:`
    let name = name.strip_suffix(':').unwrap_or(name);
    name.contains('/').then(|| name.to_string())
}

/// What a KUBE-NODEPORTS rule that leads to the service says: its node port, name and
/// protocol.
fn node_port(s: &mut Service, r: &Rule) {
    s.node_port = s.node_port.or(ports::dports(&r.spec.extra).single());
    s.name = s.name.take().or_else(|| name_from_comment(&r.spec.extra));
    if s.protocol.is_empty() {
        s.protocol = ports::protocol(&r.spec).into_owned();
    }
}

fn service(nat: &FirewallTable, ci: usize, deltas: Option<&TableDelta>) -> Service {
    let chain = &nat.chains[ci];
    let mut s = Service {
        name: None,
        chain: Some(chain.name.to_string()),
        cluster_ip: None,
        protocol: String::new(),
        port: None,
        node_port: None,
        local: chain.name.starts_with("KUBE-SVL-"),
        endpoints: Vec::new(),
    };
    // who jumps here: KUBE-SERVICES (cluster IP and port) and KUBE-EXT (node ports)
    for &(cc, rr) in nat.callers().of(ci) {
        let caller = &nat.chains[cc as usize];
        let r = &caller.rules[rr as usize];
        if caller.name.as_ref() == "KUBE-SERVICES" {
            if s.cluster_ip.is_none() {
                s.cluster_ip = Some(r.spec.destination.trim_end_matches("/32").to_string());
                s.port = ports::dports(&r.spec.extra).single();
                s.protocol = ports::protocol(&r.spec).into_owned();
            }
            s.name = s.name.or_else(|| name_from_comment(&r.spec.extra));
        } else if caller.name.as_ref() == "KUBE-NODEPORTS" {
            // older kube-proxy (no KUBE-EXT chains): the node port jumps straight to the service chain
            node_port(&mut s, r);
        } else if caller.name.starts_with("KUBE-EXT-") || caller.name.starts_with("KUBE-XLB-") {
            for &(nc, nr) in nat.callers().of(cc as usize) {
                let n = &nat.chains[nc as usize];
                if n.name.as_ref() == "KUBE-NODEPORTS" {
                    node_port(&mut s, &n.rules[nr as usize]);
                }
            }
        }
    }
    // the endpoints, in the order of the cascade
    let mut cascade_left = 1.0f64;
    for (ri, r) in chain.rules.iter().enumerate() {
        let Some(j) = nat.jump_target(r) else {
            continue;
        };
        let sep = &nat.chains[j];
        if !sep.name.starts_with("KUBE-SEP-") {
            continue;
        }
        s.name = s.name.clone().or_else(|| name_from_comment(&r.spec.extra));
        let new = count(chain, ci, ri, deltas);
        // session affinity: a `recent` rule sends returning clients to the endpoint they
        // had; it counts for that endpoint but is not part of the cascade
        if without_comments(&r.spec.extra).contains("recent: CHECK") {
            if let Some(e) = s.endpoints.iter_mut().find(|e| e.chain == *sep.name) {
                e.new = e.new.zip(new).map(|(a, b)| a + b);
            } else {
                s.endpoints.push(endpoint(sep, r.num, None, 0.0, new));
            }
            continue;
        }
        let p = probability(&r.spec.extra);
        let intended = cascade_left * p.unwrap_or(1.0);
        cascade_left -= intended;
        match s.endpoints.iter_mut().find(|e| e.chain == *sep.name) {
            Some(e) => {
                // the affinity rule came first: this is the endpoint's place in the cascade
                e.rule = r.num;
                e.probability = p;
                e.intended = intended;
                e.new = e.new.zip(new).map(|(a, b)| a + b);
            }
            None => s.endpoints.push(endpoint(sep, r.num, p, intended, new)),
        }
    }
    let total: Option<u64> = s.endpoints.iter().map(|e| e.new).sum();
    for e in &mut s.endpoints {
        e.share = match (e.new, total) {
            (Some(n), Some(t)) if t > 0 => Some(n as f64 / t as f64),
            _ => None,
        };
    }
    s
}

fn endpoint(
    sep: &Chain,
    rule: u32,
    probability: Option<f64>,
    intended: f64,
    new: Option<u64>,
) -> Endpoint {
    let address = sep
        .rules
        .iter()
        .filter(|r| r.spec.target == "DNAT")
        .find_map(|r| ports::dnat_to(&r.spec.extra))
        .map(|(a, p)| match p {
            Some(p) if a.contains(':') => format!("[{a}]:{p}"),
            Some(p) => format!("{a}:{p}"),
            None => a,
        })
        .unwrap_or_default();
    Endpoint {
        address,
        chain: sep.name.to_string(),
        rule,
        probability,
        intended,
        new,
        share: None,
        numgen: Vec::new(),
    }
}

/// Packets of rule `ri` over the window (a rule new in the window: all of its counter),
/// or since it was loaded without a window.
fn count(chain: &Chain, ci: usize, ri: usize, deltas: Option<&TableDelta>) -> Option<u64> {
    match deltas {
        None => Some(chain.counter(ri).packets),
        Some(td) if !td.known(ci) => Some(chain.counter(ri).packets),
        Some(td) => match td.rule(ci, ri) {
            Some(d) => Some(d.packets),
            None if td.is_unknown(ci, ri) => None,
            None => Some(chain.counter(ri).packets),
        },
    }
}

/// `statistic mode random probability 0.33333333349`.
fn probability(extra: &str) -> Option<f64> {
    let extra = without_comments(extra);
    let mut words = extra.split_whitespace();
    while let Some(w) = words.next() {
        if w == "probability" {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// Services kube-proxy rejects in filter because they have no endpoints.
fn rejected(filter: &FirewallTable) -> Vec<Service> {
    let mut out: Vec<Service> = Vec::new();
    for name in ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES"] {
        let Some(c) = filter.chain(name) else {
            continue;
        };
        for r in c.rules.iter() {
            // kube-proxy's filter KUBE-SERVICES and KUBE-EXTERNAL-SERVICES hold nothing but
            // these REJECTs, so they are told without their comment too
            let comment = ports::comment(&r.spec.extra);
            if r.spec.target != "REJECT"
                || comment.is_some_and(|c| !c.ends_with("has no endpoints"))
            {
                continue;
            }
            let svc_name = comment
                .and_then(|c| c.strip_suffix(" has no endpoints"))
                .map(str::to_string);
            let external = name == "KUBE-EXTERNAL-SERVICES";
            let port = ports::dports(&r.spec.extra).single();
            if let Some(s) = out
                .iter_mut()
                .find(|s| s.name.is_some() && s.name == svc_name)
            {
                if external {
                    s.node_port = s.node_port.or(port);
                }
                continue;
            }
            out.push(Service {
                name: svc_name,
                chain: None,
                cluster_ip: (!external)
                    .then(|| r.spec.destination.trim_end_matches("/32").to_string()),
                protocol: ports::protocol(&r.spec).into_owned(),
                port: if external { None } else { port },
                node_port: if external { port } else { None },
                local: false,
                endpoints: Vec::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    #[test]
    fn cascade_intends_equal_shares() {
        let t = synth::kube_nat(400, 7);
        let svcs = group(&t, None, None);
        assert!(svcs.len() > 10);
        for s in &svcs {
            let n = s.endpoints.len();
            assert!((1..=4).contains(&n), "{s:?}");
            assert!(s.name.as_deref().is_some_and(|n| n.contains('/')), "{s:?}");
            assert!(
                s.cluster_ip
                    .as_deref()
                    .is_some_and(|ip| ip.starts_with("10.96."))
            );
            for (i, e) in s.endpoints.iter().enumerate() {
                assert!((e.intended - 1.0 / n as f64).abs() < 1e-6, "{s:?}");
                assert!(e.address.starts_with("10.244."), "{e:?}");
                assert_eq!(e.probability.is_none(), i + 1 == n);
            }
        }
    }

    #[test]
    fn shares_follow_the_counters() {
        let t = synth::kube_nat(400, 7);
        for s in group(&t, None, None) {
            let total: u64 = s.endpoints.iter().map(|e| e.new.unwrap()).sum();
            let chain = t.chain(s.chain.as_deref().unwrap()).unwrap();
            for e in &s.endpoints {
                let rule = &chain.rules[e.rule as usize - 1];
                assert_eq!(t.chains[rule.jump.unwrap() as usize].name.as_ref(), e.chain);
                assert_eq!(e.new, Some(chain.counter(e.rule as usize - 1).packets));
                match e.share {
                    Some(sh) => assert!((sh - e.new.unwrap() as f64 / total as f64).abs() < 1e-9),
                    None => assert_eq!(total, 0),
                }
            }
        }
    }

    #[test]
    fn probabilities_and_names_from_text() {
        assert_eq!(
            probability(
                "/* a/b:c -> 10.0.0.1:80 */ statistic mode random probability 0.33333333349"
            ),
            Some(0.33333333349)
        );
        assert_eq!(probability("/* a/b:c -> 10.0.0.1:80 */"), None);
        assert_eq!(probability("/* probability 0.9 */"), None);
        assert_eq!(
            name_from_comment("/* ns1/web:http cluster IP */ tcp dpt:80").as_deref(),
            Some("ns1/web:http")
        );
        assert_eq!(name_from_comment("/* kubernetes service portals */"), None);
    }
}
