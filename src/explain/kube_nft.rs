//! kube-proxy's Services read back from its nftables mode (`ip kube-proxy` /
//! `ip6 kube-proxy`, GA since Kubernetes 1.33).
//!
//! The table's `services` chain looks a packet up in the verdict map `service-ips`
//! (`ip daddr . meta l4proto . th dport vmap @service-ips`: `IP . PROTO . PORT : goto
//! service-HASH-ns/name/proto/port`, or `external-HASH-…` for external and load-balancer
//! IPs) and, for the node's addresses, in `service-nodeports` (`PROTO . PORT : goto
//! external-…`). A `service-…` chain picks an endpoint with `numgen random mod N vmap
//! { 0 : goto endpoint-…, 1 : goto endpoint-… }`: each key has a share of 1/N. An
//! `endpoint-HASH-ns/name/proto/port__IP/PORT` chain ends in `dnat to IP:PORT`. Services
//! without endpoints are elements of `no-endpoint-services` (reject or drop).
//!
//! kube-proxy writes no `counter` statement in any of these rules: new connections per
//! Service or endpoint cannot be read from counters here, and are None, never 0.

use crate::model::FirewallTable;
use crate::parse::nft::listing::{self, VmapRef};

/// What would show a kube-proxy nftables Service's traffic, since its rules count nothing.
pub const NOT_COUNTED: &str = "kube-proxy's nftables rules carry no counter statements: traffic to these Services and endpoints cannot be counted there (it is not 0). To see it: iptop --trace 'ip daddr CLUSTER-IP' follows packets through these chains, or conntrack -L -d CLUSTER-IP lists the connections and the endpoint each was sent to.";

/// One endpoint of a Service's `numgen` map.
#[derive(Debug, Clone, PartialEq)]
pub struct NftEndpoint {
    /// Where its DNAT sends (`10.180.0.1:8080`), from the chain's `dnat to`, else from its
    /// name; empty when neither says.
    pub address: String,
    /// The `endpoint-…` chain.
    pub chain: String,
    /// The `numgen` values that pick it (`0`, `1`, ...); empty when the rule's text is
    /// not known (no `nft` program).
    pub keys: Vec<String>,
    /// Its share of new connections: its keys over `numgen`'s modulus.
    pub share: f64,
    /// The packets `--trace` saw DNAT'd to it (its chain's `dnat` rule); None without a
    /// trace or when none was.
    pub traced: Option<u64>,
}

/// One Service port as kube-proxy's nftables mode writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NftService {
    /// `ns/name:port` from the chain's name, or for a Service without endpoints from its
    /// `no-endpoint-services` element's comment; None when neither says.
    pub name: Option<String>,
    /// The `service-…` chain; None for a Service without endpoints.
    pub chain: Option<String>,
    pub cluster_ip: Option<String>,
    /// External and load-balancer IPs (elements of `service-ips` going to `external-…`).
    pub external_ips: Vec<String>,
    /// `tcp`, `udp`, `sctp`.
    pub protocol: String,
    pub port: Option<u16>,
    pub node_port: Option<u16>,
    /// `numgen random mod N`'s N; None when the rule's text is not known.
    pub modulus: Option<u32>,
    /// Session affinity: a rule sends returning clients to the endpoint they had.
    pub affinity: bool,
    pub endpoints: Vec<NftEndpoint>,
}

impl NftService {
    /// The name, or the cluster IP, port and protocol, or the chain.
    pub fn label(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        match (&self.cluster_ip, self.port) {
            (Some(ip), Some(p)) => format!("{ip}:{p}/{}", self.protocol),
            (Some(ip), None) => ip.clone(),
            _ => self.chain.clone().unwrap_or_default(),
        }
    }
}

/// Is this kube-proxy's nftables table?
pub fn is_kube_proxy(t: &FirewallTable) -> bool {
    matches!(t.family.as_deref(), Some("ip" | "ip6")) && t.name == "kube-proxy"
}

/// `service-HASH-ns/name/proto/port` (or `external-…`, `endpoint-…__IP/PORT`) →
/// (`ns/name:port`, `proto`).
fn name_of(chain: &str) -> Option<(String, String)> {
    let rest = ["service-", "external-", "endpoint-"]
        .iter()
        .find_map(|p| chain.strip_prefix(p))?;
    let (_hash, rest) = rest.split_once('-')?;
    let rest = rest.split_once("__").map_or(rest, |(a, _)| a);
    let mut parts = rest.rsplitn(3, '/');
    let port = parts.next()?;
    let proto = parts.next()?;
    let ns_name = parts.next()?;
    ns_name.contains('/').then(|| {
        let name = if port.is_empty() {
            ns_name.to_string()
        } else {
            format!("{ns_name}:{port}")
        };
        (name, proto.to_string())
    })
}

/// The `service-…` chain an `external-…` chain stands for (the same hash and name).
fn service_chain_of(target: &str) -> Option<String> {
    if target.starts_with("service-") {
        return Some(target.to_string());
    }
    target
        .strip_prefix("external-")
        .map(|r| format!("service-{r}"))
}

/// A map element's key and target: (`172.30.0.41 . tcp . 80`, `goto service-…`'s chain).
fn elements_of<'a>(t: &'a FirewallTable, map: &str) -> Vec<(&'a str, &'a str)> {
    elements_with_comments(t, map)
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect()
}

/// [`elements_of`] with each element's comment (`comment "ns/name:port"`), if any.
fn elements_with_comments<'a>(
    t: &'a FirewallTable,
    map: &str,
) -> Vec<(&'a str, &'a str, Option<&'a str>)> {
    let Some(c) = t.chain(&format!("@{map}")) else {
        return Vec::new();
    };
    c.rules
        .iter()
        .filter_map(|r| {
            let n = r.native.as_ref()?;
            let key = n.text.split_once(" → ").map_or("", |(k, _)| k);
            let (key, comment) = match key.split_once(" comment \"") {
                Some((k, c)) => (k, c.strip_suffix('"')),
                None => (key, None),
            };
            Some((key, r.spec.target.as_str(), comment))
        })
        .collect()
}

/// `10.180.0.1/8080` at the end of an endpoint chain's name → `10.180.0.1:8080`.
fn address_from_name(chain: &str) -> Option<String> {
    let (_, a) = chain.rsplit_once("__")?;
    let (ip, port) = a.rsplit_once('/')?;
    Some(if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    })
}

/// The endpoint chain's `dnat to ADDR`.
fn dnat_of(t: &FirewallTable, chain: &str) -> Option<String> {
    let c = t.chain(chain)?;
    c.rules.iter().find_map(|r| {
        let text = &r.native.as_ref()?.text;
        let (_, rest) = text.split_once("dnat to ")?;
        rest.split_whitespace().next().map(str::to_string)
    })
}

/// The traced packets that matched the `dnat` rule of endpoint chain `chain`.
fn traced_of(t: &FirewallTable, chain: &str) -> Option<u64> {
    let ci = t.chain_index(chain)?;
    let ri = t.chains[ci].rules.iter().position(|r| {
        r.native
            .as_ref()
            .is_some_and(|n| n.text.contains("dnat to "))
    })?;
    t.traced(ci, ri)
}

fn service_of(t: &FirewallTable, chain: &str) -> NftService {
    let (name, protocol) = name_of(chain).unzip();
    let mut s = NftService {
        name,
        chain: Some(chain.to_string()),
        cluster_ip: None,
        external_ips: Vec::new(),
        protocol: protocol.unwrap_or_default(),
        port: None,
        node_port: None,
        modulus: None,
        affinity: false,
        endpoints: Vec::new(),
    };
    let Some(c) = t.chain(chain) else {
        return s;
    };
    for r in c.rules.iter() {
        let Some(n) = r.native.as_ref() else { continue };
        let text = n.text.as_ref();
        // `ip saddr @affinity-… goto endpoint-…`: returning clients keep their endpoint
        if text.contains("@affinity-") {
            s.affinity = true;
            continue;
        }
        let ends: Vec<&String> = n
            .jumps_to
            .iter()
            .filter(|j| j.starts_with("endpoint-"))
            .collect();
        let numgen = text.contains("numgen ");
        if ends.is_empty() || !(numgen || n.jumps_to.len() > 1 || text.is_empty()) {
            continue;
        }
        s.modulus = modulus(text);
        let keyed = match listing::label(text).vmap {
            Some(VmapRef::Anonymous(e)) => e
                .into_iter()
                .filter(|e| e.verdict.chain)
                .map(|e| (e.key, e.verdict.target))
                .collect(),
            _ => Vec::new(),
        };
        for ch in ends {
            if s.endpoints.iter().any(|e| &e.chain == ch) {
                continue;
            }
            let keys: Vec<String> = keyed
                .iter()
                .filter(|(_, t)| t == ch)
                .map(|(k, _)| k.clone())
                .collect();
            s.endpoints.push(NftEndpoint {
                address: dnat_of(t, ch)
                    .or_else(|| address_from_name(ch))
                    .unwrap_or_default(),
                chain: ch.clone(),
                keys,
                share: 0.0,
                traced: traced_of(t, ch),
            });
        }
    }
    let n = s.endpoints.len();
    for e in &mut s.endpoints {
        e.share = match s.modulus {
            Some(m) if m > 0 && !e.keys.is_empty() => e.keys.len() as f64 / f64::from(m),
            // without the rule's text: one value each, as kube-proxy writes it
            _ => 1.0 / n as f64,
        };
    }
    s
}

/// `numgen random mod 3 vmap …` → 3.
fn modulus(text: &str) -> Option<u32> {
    let mut w = text.split_whitespace();
    while let Some(x) = w.next() {
        if x == "mod" {
            return w.next()?.parse().ok();
        }
    }
    None
}

/// `172.30.0.41 . tcp . 80` → (IP, proto, port); `tcp . 30090` → (None, proto, port).
fn key_parts(key: &str) -> (Option<&str>, &str, Option<u16>) {
    let p: Vec<&str> = key
        .split(" . ")
        .map(|w| w.trim().trim_matches('"'))
        .collect();
    match p.as_slice() {
        [ip, proto, port] => (Some(*ip), *proto, port.parse().ok()),
        [proto, port] => (None, *proto, port.parse().ok()),
        _ => (None, "", None),
    }
}

/// The Services of a kube-proxy nftables table, in `service-ips`' order, then the
/// `service-…` chains no map element names, then those without endpoints.
pub fn group(t: &FirewallTable) -> Vec<NftService> {
    let mut out: Vec<NftService> = Vec::new();
    let at = |out: &mut Vec<NftService>, chain: &str| -> usize {
        if let Some(i) = out.iter().position(|s| s.chain.as_deref() == Some(chain)) {
            return i;
        }
        out.push(service_of(t, chain));
        out.len() - 1
    };
    for (key, target) in elements_of(t, "service-ips") {
        let Some(chain) = service_chain_of(target) else {
            continue;
        };
        let i = at(&mut out, &chain);
        let (ip, proto, port) = key_parts(key);
        let s = &mut out[i];
        if s.protocol.is_empty() {
            s.protocol = proto.to_string();
        }
        let Some(ip) = ip else { continue };
        if target.starts_with("service-") && s.cluster_ip.is_none() {
            s.cluster_ip = Some(ip.to_string());
            s.port = port;
        } else {
            s.external_ips.push(ip.to_string());
            s.port = s.port.or(port);
        }
    }
    for (key, target) in elements_of(t, "service-nodeports") {
        let Some(chain) = service_chain_of(target) else {
            continue;
        };
        let i = at(&mut out, &chain);
        let (_, _, port) = key_parts(key);
        out[i].node_port = out[i].node_port.or(port);
    }
    let mut rest: Vec<&str> = t
        .chains
        .iter()
        .map(|c| c.name.as_ref())
        .filter(|n| n.starts_with("service-") && name_of(n).is_some())
        .filter(|n| !out.iter().any(|s| s.chain.as_deref() == Some(*n)))
        .collect();
    rest.sort_unstable();
    for c in rest {
        out.push(service_of(t, c));
    }
    for (key, _, comment) in elements_with_comments(t, "no-endpoint-services") {
        let (ip, proto, port) = key_parts(key);
        let Some(ip) = ip else { continue };
        if out
            .iter()
            .any(|s| s.cluster_ip.as_deref() == Some(ip) && s.port == port && s.protocol == proto)
            || out
                .iter()
                .any(|s| s.external_ips.iter().any(|e| e == ip) && s.port == port)
        {
            continue;
        }
        out.push(NftService {
            // kube-proxy names it in the element's comment (`ns/name:port`)
            name: comment.map(str::to_string),
            chain: None,
            cluster_ip: Some(ip.to_string()),
            external_ips: Vec::new(),
            protocol: proto.to_string(),
            port,
            node_port: None,
            modulus: None,
            affinity: false,
            endpoints: Vec::new(),
        });
    }
    out
}

#[cfg(test)]
mod tests;
