//! Names Docker knows for what iptables prints as numbers: a bridge `br-2c73d6d858ba` is
//! the network `shop`, `172.17.0.2` is the container `web`, `172.18.0.0/16` is a
//! network's subnet. Built from the Engine API's network and container lists.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use crate::cells::Cells;
use crate::explain::ports;
use crate::model::RuleSpec;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// Bridge interface → network name (`docker0` → `bridge`).
    ifaces: HashMap<String, String>,
    /// Container address → container name.
    addrs: HashMap<IpAddr, String>,
    /// Subnet as iptables prints it (`172.18.0.0/16`) → network name.
    subnets: HashMap<String, String>,
}

/// The names of one rule's columns, where Docker knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleNames {
    #[serde(rename = "in", skip_serializing_if = "Option::is_none")]
    pub in_iface: Option<String>,
    #[serde(rename = "out", skip_serializing_if = "Option::is_none")]
    pub out_iface: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// The container a DNAT (`to:...`) sends to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnat: Option<String>,
}

impl RuleNames {
    pub fn is_empty(&self) -> bool {
        *self == RuleNames::default()
    }
}

/// A container's name without the API's leading slash.
fn container_name(c: &Value) -> Option<String> {
    c["Names"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .map(|n| n.trim_start_matches('/'))
        // a linked container is listed as `/other/alias` too: the plain name
        .find(|n| !n.contains('/'))
        .map(str::to_string)
}

impl Names {
    /// From `GET /networks` and `GET /containers/json`.
    pub fn from_api(networks: &Value, containers: &Value) -> Names {
        let mut n = Names::default();
        for net in networks.as_array().into_iter().flatten() {
            let Some(name) = net["Name"].as_str() else {
                continue;
            };
            let bridge = net["Options"]["com.docker.network.bridge.name"]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    // a user-defined bridge network: br- and the first 12 digits of its id
                    (net["Driver"] == "bridge")
                        .then(|| net["Id"].as_str())
                        .flatten()
                        // by characters: the id is the daemon's text, not always hex
                        .filter(|id| id.chars().nth(11).is_some())
                        .map(|id| format!("br-{}", id.chars().take(12).collect::<String>()))
                });
            // `docker_gwbridge` is the network `docker_gwbridge`: nothing to add
            if let Some(b) = bridge.filter(|b| b != name) {
                n.ifaces.insert(b, name.to_string());
            }
            for cfg in net["IPAM"]["Config"].as_array().into_iter().flatten() {
                if let Some(s) = cfg["Subnet"].as_str() {
                    n.subnets.insert(s.to_string(), name.to_string());
                }
            }
        }
        for c in containers.as_array().into_iter().flatten() {
            let Some(name) = container_name(c) else {
                continue;
            };
            for net in c["NetworkSettings"]["Networks"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                for key in ["IPAddress", "GlobalIPv6Address"] {
                    if let Some(ip) = net[key].as_str().and_then(|s| s.parse().ok()) {
                        n.addrs.insert(ip, name.clone());
                    }
                }
            }
        }
        n
    }

    /// The widest network name (shown for an interface) and the widest container or
    /// network name (shown for an address), in display cells.
    pub fn widest(&self) -> (usize, usize) {
        use unicode_width::UnicodeWidthStr;
        let w = |it: &mut dyn Iterator<Item = &String>| it.map(|s| s.width()).max().unwrap_or(0);
        (
            w(&mut self.ifaces.values()),
            w(&mut self.addrs.values()).max(w(&mut self.subnets.values())),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.ifaces.is_empty() && self.addrs.is_empty() && self.subnets.is_empty()
    }

    /// The network an interface column names (`br-2c73d6d858ba`, `!docker0`).
    pub fn iface(&self, s: &str) -> Option<&str> {
        self.ifaces
            .get(s.trim_start_matches('!'))
            .map(String::as_str)
    }

    /// The container at an address column (`172.17.0.2`, `172.17.0.2/32`, `!…`), or the
    /// network whose subnet it is.
    pub fn addr(&self, s: &str) -> Option<&str> {
        let s = s.trim_start_matches('!');
        if let Some(n) = self.subnets.get(s) {
            return Some(n);
        }
        let host = s
            .strip_suffix("/32")
            .or_else(|| s.strip_suffix("/128"))
            .unwrap_or(s);
        let ip: IpAddr = host.parse().ok()?;
        self.addrs.get(&ip).map(String::as_str)
    }

    /// The names of a rule's interfaces, addresses and DNAT target.
    pub fn rule(&self, spec: &RuleSpec) -> RuleNames {
        let own = |v: Option<&str>| v.map(str::to_string);
        RuleNames {
            in_iface: own(self.iface(&spec.in_iface)),
            out_iface: own(self.iface(&spec.out_iface)),
            source: own(self.addr(&spec.source)),
            destination: own(self.addr(&spec.destination)),
            dnat: (spec.target == "DNAT")
                .then(|| ports::dnat_to(&spec.extra))
                .flatten()
                .and_then(|(a, _)| own(self.addr(&a))),
        }
    }

    /// `edit(value, name)` on each of a row's interfaces and addresses Docker names, and on
    /// a DNAT rule's match text with the name of where it sends packets.
    fn each_named(&self, c: &mut Cells, edit: impl Fn(&mut String, &str)) {
        let names = [
            self.iface(&c.in_iface),
            self.iface(&c.out_iface),
            self.addr(&c.source),
            self.addr(&c.destination),
        ]
        .map(|n| n.map(str::to_string));
        for (v, n) in [
            &mut c.in_iface,
            &mut c.out_iface,
            &mut c.source,
            &mut c.destination,
        ]
        .into_iter()
        .zip(names)
        {
            if let Some(n) = n {
                edit(v.to_mut(), &n);
            }
        }
        if c.label.starts_with("DNAT")
            && let Some((a, _)) = ports::dnat_to(&c.matches)
            && let Some(n) = self.addr(&a)
        {
            let n = n.to_string();
            // the match keeps its text: the name goes after it
            c.matches.to_mut().push_str(&format!(" ({n})"));
        }
    }

    /// One line for a rule's detail, each value with its name, negation kept: `in
    /// !docker0 (bridge) · destination 172.17.0.2 (dock-web) · DNAT to 172.17.0.2:80
    /// (dock-web)`.
    pub fn describe(&self, spec: &RuleSpec) -> Option<String> {
        let r = self.rule(spec);
        // the `to:` as the rule says it (a port range, an IPv6 address in brackets)
        let to = crate::model::comments::without_comments(&spec.extra)
            .split_whitespace()
            .find_map(|w| w.strip_prefix("to:"))
            .map(crate::model::Text::from);
        let parts: Vec<String> = [
            ("in", Some(spec.in_iface.clone()), &r.in_iface),
            ("out", Some(spec.out_iface.clone()), &r.out_iface),
            ("source", Some(spec.source.clone()), &r.source),
            (
                "destination",
                Some(spec.destination.clone()),
                &r.destination,
            ),
            ("DNAT to", to, &r.dnat),
        ]
        .iter()
        .filter_map(|(k, value, name)| {
            let name = name.as_ref()?;
            Some(match value {
                Some(v) => format!("{k} {v} ({name})"),
                None => format!("{k} {name}"),
            })
        })
        .collect();
        (!parts.is_empty()).then(|| format!("Docker: {}", parts.join(" · ")))
    }

    /// Puts the names next to the values of a row's cells: `172.17.0.2 (web)`,
    /// `br-2c73d6d858ba (shop)`, `… to:172.17.0.2:80 (web)`.
    pub fn decorate(&self, c: &mut Cells) {
        self.each_named(c, |v, n| v.push_str(&format!(" ({n})")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Shapes as dockerd 20.10 answers them (trimmed to the fields iptop reads).
    fn lab() -> Names {
        let networks = json!([
            {"Name": "bridge", "Id": "9f1c0e3e2b4d5a6f7081920a1b2c3d4e5f60718293a4b5c6d7e8f9011223344",
             "Driver": "bridge", "Options": {"com.docker.network.bridge.name": "docker0"},
             "IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]}},
            {"Name": "dock-net", "Id": "2c73d6d858ba7e1f00112233445566778899aabbccddeeff0011223344556677",
             "Driver": "bridge", "Options": {},
             "IPAM": {"Config": [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]}},
            {"Name": "host", "Id": "aa", "Driver": "host", "Options": {}, "IPAM": {"Config": []}},
            {"Name": "none", "Id": "bb", "Driver": "null", "Options": {}, "IPAM": {"Config": []}}
        ]);
        let containers = json!([
            {"Names": ["/dock-web"], "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2", "GlobalIPv6Address": ""}}}},
            {"Names": ["/dock-app", "/dock-web/app"], "NetworkSettings": {"Networks": {"dock-net": {"IPAddress": "172.18.0.2", "GlobalIPv6Address": "fd00::2"}}}},
            {"Names": ["/stopped"], "NetworkSettings": {"Networks": {"bridge": {"IPAddress": ""}}}}
        ]);
        Names::from_api(&networks, &containers)
    }

    #[test]
    fn bridges_containers_and_subnets() {
        let n = lab();
        assert_eq!(n.iface("docker0"), Some("bridge"));
        assert_eq!(n.iface("br-2c73d6d858ba"), Some("dock-net"));
        assert_eq!(n.iface("!br-2c73d6d858ba"), Some("dock-net"));
        assert_eq!(n.iface("eth0"), None);
        assert_eq!(n.iface("*"), None);
        assert_eq!(n.addr("172.17.0.2"), Some("dock-web"));
        assert_eq!(n.addr("172.17.0.2/32"), Some("dock-web"));
        assert_eq!(n.addr("!172.18.0.2"), Some("dock-app"));
        assert_eq!(n.addr("fd00::2"), Some("dock-app"));
        assert_eq!(n.addr("172.18.0.0/16"), Some("dock-net"));
        assert_eq!(n.addr("0.0.0.0/0"), None);
        assert_eq!(n.addr("172.17.0.3"), None);
    }

    #[test]
    fn rule_names_and_cells() {
        let n = lab();
        let spec = RuleSpec {
            target: "DNAT".into(),
            in_iface: "!docker0".into(),
            out_iface: "*".into(),
            source: "0.0.0.0/0".into(),
            destination: "0.0.0.0/0".into(),
            extra: "tcp dpt:8080 to:172.17.0.2:80".into(),
            ..Default::default()
        };
        let r = n.rule(&spec);
        assert_eq!(r.in_iface.as_deref(), Some("bridge"));
        assert_eq!(r.dnat.as_deref(), Some("dock-web"));
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"in": "bridge", "dnat": "dock-web"})
        );
        assert!(n.rule(&RuleSpec::default()).is_empty());
        let mut c = Cells {
            label: "DNAT".into(),
            in_iface: "!docker0".into(),
            out_iface: "*".into(),
            source: "0.0.0.0/0".into(),
            destination: "172.17.0.2".into(),
            matches: "tcp dpt:8080 to:172.17.0.2:80".into(),
            ..Default::default()
        };
        n.decorate(&mut c);
        assert_eq!(c.in_iface, "!docker0 (bridge)");
        assert_eq!(c.out_iface, "*");
        assert_eq!(c.destination, "172.17.0.2 (dock-web)");
        assert_eq!(c.matches, "tcp dpt:8080 to:172.17.0.2:80 (dock-web)");
        let mut c = Cells {
            label: "ACCEPT".into(),
            in_iface: "!br-2c73d6d858ba".into(),
            out_iface: "docker0".into(),
            destination: "172.17.0.2".into(),
            ..Default::default()
        };
        n.decorate(&mut c);
        assert_eq!(
            (&*c.in_iface, &*c.out_iface, &*c.destination),
            (
                "!br-2c73d6d858ba (dock-net)",
                "docker0 (bridge)",
                "172.17.0.2 (dock-web)"
            )
        );
        // the detail keeps the negation: `in !docker0`, not `in bridge`
        assert_eq!(
            n.describe(&spec).as_deref(),
            Some("Docker: in !docker0 (bridge) · DNAT to 172.17.0.2:80 (dock-web)")
        );
    }

    #[test]
    fn odd_answers_give_no_names() {
        let n = Names::from_api(&json!({"message": "x"}), &json!([{"Names": 3}, 7]));
        assert!(n.is_empty());
        let n = Names::from_api(
            &json!([{"Name": "short", "Id": "abc", "Driver": "bridge"}]),
            &json!([]),
        );
        assert!(n.is_empty());
        // an id of multi-byte characters: byte 12 is inside one (it panicked)
        let n = Names::from_api(
            &json!([{"Name": "wide", "Id": "aéééééééééé\u{202e}xyz", "Driver": "bridge"}]),
            &json!([]),
        );
        assert_eq!(n.iface("br-aéééééééééé\u{202e}"), Some("wide"));
    }
}
