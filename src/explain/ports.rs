//! Reading ports and addresses back out of a rule's listing text (`tcp dpt:8080`,
//! `multiport dports 80,443`, `to:172.17.0.2:80`), for the rules of thumb and the
//! Services view.

use std::borrow::Cow;

use crate::model::comments::{first_comment, words};
use crate::model::{RuleSpec, protocol_name};

/// What one rule's match text says, read once: its comment, protocol, destination
/// ports and DNAT target, the ports and target read from the text outside its comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    /// The text of the first `/* comment */` ([`comment`]).
    pub comment: Option<&'a str>,
    /// The protocol by name ([`protocol`]).
    pub protocol: Cow<'a, str>,
    /// The destination ports it matches ([`dports`]).
    pub dports: Ports,
    /// Whether it matches destination ports at all, negated or not ([`matches_dport`]).
    pub any_dport: bool,
    /// Where a DNAT sends to ([`dnat_to`]).
    pub to: Option<(String, Option<u16>)>,
}

impl<'a> Matched<'a> {
    /// Reads `spec`'s match text once.
    pub fn of(spec: &'a RuleSpec) -> Matched<'a> {
        Matched {
            to: dnat_to(&spec.extra),
            ..Matched::of_filter(spec)
        }
    }

    /// All but where a DNAT sends to, for a filter rule.
    pub fn of_filter(spec: &'a RuleSpec) -> Matched<'a> {
        let extra = spec.extra.as_str();
        let (dports, any_dport) = read_dports(extra);
        Matched {
            comment: first_comment(extra),
            protocol: protocol_name(&spec.prot),
            dports,
            any_dport,
            to: None,
        }
    }

    /// A DNAT rule's match text, if it publishes destination ports.
    pub fn of_dnat(spec: &'a RuleSpec) -> Option<Matched<'a>> {
        let extra = spec.extra.as_str();
        let (dports, any_dport) = read_dports(extra);
        if dports.is_empty() {
            return None;
        }
        Some(Matched {
            comment: first_comment(extra),
            protocol: protocol_name(&spec.prot),
            dports,
            any_dport,
            to: dnat_to(extra),
        })
    }

    /// Only the comment, for a rule whose ports, protocol and target nothing reads; None
    /// without a comment.
    pub fn comment_only(spec: &'a RuleSpec) -> Option<Matched<'a>> {
        Some(Matched {
            comment: Some(first_comment(&spec.extra)?),
            ..Matched::nothing()
        })
    }

    /// Nothing read, for a rule whose text nothing reads.
    pub fn nothing() -> Matched<'a> {
        Matched {
            comment: None,
            protocol: Cow::Borrowed(""),
            dports: Ports::default(),
            any_dport: false,
            to: None,
        }
    }

    /// Whether two rules' protocols can match the same packet.
    pub fn same_protocol(&self, o: &Matched) -> bool {
        let (a, b) = (&self.protocol, &o.protocol);
        a == "all" || b == "all" || a == b
    }
}

/// Inclusive port ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ports(pub Vec<(u16, u16)>);

impl Ports {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn overlaps(&self, o: &Ports) -> bool {
        self.0
            .iter()
            .any(|&(a, b)| o.0.iter().any(|&(c, d)| a <= d && c <= b))
    }

    /// `8080`, `8000:8100`, `80,443`.
    pub fn text(&self) -> String {
        self.0
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}:{b}")
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The one port, if it is a single one.
    pub fn single(&self) -> Option<u16> {
        match self.0.as_slice() {
            [(a, b)] if a == b => Some(*a),
            _ => None,
        }
    }
}

fn range(s: &str) -> Option<(u16, u16)> {
    match s.split_once(':') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => {
            let p = s.parse().ok()?;
            Some((p, p))
        }
    }
}

/// The destination ports a rule's text matches (`dpt:`, `dpts:`, `multiport dports`),
/// ignoring negated ones (`dpt:!22` matches every other port).
pub fn dports(extra: &str) -> Ports {
    read_dports(extra).0
}

/// [`dports`] and [`matches_dport`] in one reading of the words.
fn read_dports(extra: &str) -> (Ports, bool) {
    let mut out = Vec::new();
    let mut any = false;
    let mut words = words(extra).peekable();
    while let Some(w) = words.next() {
        if let Some(v) = w.strip_prefix("dpt:").or_else(|| w.strip_prefix("dpts:")) {
            any = true;
            if let Some(r) = range(v) {
                out.push(r);
            }
        } else if w == "dports" || w == "ports" {
            any = true;
            // multiport: `multiport dports 80,443,8000:8100` (`ports`: either side)
            if let Some(list) = words.peek().filter(|l| !l.starts_with('!')) {
                out.extend(list.split(',').filter_map(range));
                words.next();
            }
        }
    }
    (Ports(out), any)
}

/// Whether the text matches destination ports at all, negated or not.
pub fn matches_dport(extra: &str) -> bool {
    words(extra)
        .any(|w| w.starts_with("dpt:") || w.starts_with("dpts:") || w == "dports" || w == "ports")
}

/// The protocol a rule matches, by name (`tcp`, `udp`, `all`).
pub fn protocol(spec: &RuleSpec) -> Cow<'_, str> {
    protocol_name(&spec.prot)
}

/// The address and port a DNAT rule sends to: `to:172.17.0.2:80` → ("172.17.0.2", Some(80)).
/// IPv6 targets are written `to:[fd00::2]:80`.
pub fn dnat_to(extra: &str) -> Option<(String, Option<u16>)> {
    let v = words(extra).find_map(|w| w.strip_prefix("to:"))?;
    if let Some(rest) = v.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':').and_then(first_port);
        return Some((addr.to_string(), port));
    }
    match v.rsplit_once(':') {
        // `to:10.0.0.1:80` or `to:10.0.0.1:80-90`
        Some((addr, port)) if !addr.contains(':') => Some((addr.to_string(), first_port(port))),
        // a bare IPv6 address without a port
        _ => Some((v.to_string(), None)),
    }
}

fn first_port(p: &str) -> Option<u16> {
    p.split('-').next()?.parse().ok()
}

/// The text of the first `/* comment */` in a rule's options.
pub fn comment(extra: &str) -> Option<&str> {
    first_comment(extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_ports() {
        assert_eq!(dports("tcp dpt:8080").0, [(8080, 8080)]);
        assert_eq!(dports("tcp dpts:8000:8100").0, [(8000, 8100)]);
        assert_eq!(
            dports("multiport dports 80,443,1000:1002").0,
            [(80, 80), (443, 443), (1000, 1002)]
        );
        assert!(dports("tcp dpt:!22").is_empty());
        assert!(matches_dport("tcp dpt:!22"));
        assert!(dports("tcp spt:80").is_empty());
        assert!(!matches_dport("tcp spt:80 ctorigdstport 80"));
        assert!(dports("multiport dports ! 80").is_empty());
        assert_eq!(dports("/* x */ tcp dpt:80").single(), Some(80));
        assert!(dports("tcp dpt:8080").overlaps(&dports("tcp dpts:8000:9000")));
        assert!(!dports("tcp dpt:8080").overlaps(&dports("tcp dpt:80")));
        assert_eq!(
            dports("multiport dports 80,8000:8100").text(),
            "80,8000:8100"
        );
    }

    #[test]
    fn dnat_targets() {
        assert_eq!(
            dnat_to("tcp dpt:8080 to:172.17.0.2:80"),
            Some(("172.17.0.2".into(), Some(80)))
        );
        assert_eq!(
            dnat_to("/* ns/a:http */ tcp to:10.244.0.23:8080"),
            Some(("10.244.0.23".into(), Some(8080)))
        );
        assert_eq!(dnat_to("to:10.0.0.1"), Some(("10.0.0.1".into(), None)));
        assert_eq!(
            dnat_to("tcp dpt:80 to:[fd00::2]:8080"),
            Some(("fd00::2".into(), Some(8080)))
        );
        assert_eq!(dnat_to("to:fd00::2"), Some(("fd00::2".into(), None)));
        assert_eq!(dnat_to("tcp dpt:80"), None);
    }

    #[test]
    fn comments() {
        assert_eq!(
            comment("/* ns1/web:http cluster IP */ tcp dpt:80"),
            Some("ns1/web:http cluster IP")
        );
        assert_eq!(comment("tcp dpt:80"), None);
        // what a comment says is not what the rule matches
        assert!(dports("/* allow dpt:22 */ tcp dpt:80").0 == [(80, 80)]);
        assert!(!matches_dport("/* dports 22 */ ctstate NEW"));
        assert_eq!(dnat_to("/* to:6.6.6.6:1 */ tcp"), None);
    }
}
