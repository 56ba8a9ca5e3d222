//! One-line notes on well-known chains (and a few rules): who writes them and what they
//! are for. The notes live in `assets/chains.toml`, embedded in the binary and parsed on
//! first use; that file says how entries are written and which one wins.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::model::RuleSpec;

/// What a chain or rule is for, and who writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Note {
    /// Who writes the chain: `Docker`, `kube-proxy`, `kernel`, ...
    pub by: String,
    /// One line on what it is for.
    pub about: String,
}

impl Note {
    /// `Docker: Your own rules ...`
    pub fn line(&self) -> String {
        [&*self.by, ": ", &self.about].concat()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainEntry {
    name: Option<String>,
    prefix: Option<String>,
    table: Option<String>,
    #[serde(default)]
    unreferenced: bool,
    #[serde(flatten)]
    note: Note,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    table: String,
    /// The chain by its exact name, or every chain whose name starts with
    /// `chain_prefix` (Docker's per-bridge chains): one of the two.
    chain: Option<String>,
    chain_prefix: Option<String>,
    target: String,
    contains: String,
    netns: Option<String>,
    #[serde(flatten)]
    note: Note,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notes {
    #[serde(default)]
    chain: Vec<ChainEntry>,
    #[serde(default)]
    rule: Vec<RuleEntry>,
    /// The `[[chain]]` entries a chain name starting with each byte can match, in file
    /// order (an empty prefix matches every name).
    #[serde(skip)]
    by_first: Vec<Vec<u16>>,
}

/// The notes file as shipped.
pub const SOURCE: &str = include_str!("../../assets/chains.toml");

impl Notes {
    /// Parses a notes file; says what is wrong with it on one line.
    pub fn parse(text: &str) -> Result<Notes, String> {
        let notes: Notes = toml::from_str(text).map_err(|e| e.to_string().replace('\n', " "))?;
        for e in &notes.chain {
            if e.name.is_some() == e.prefix.is_some() {
                return Err(format!(
                    "a [[chain]] entry needs exactly one of name and prefix (by {}: {})",
                    e.note.by, e.note.about
                ));
            }
        }
        for e in &notes.rule {
            if e.chain.is_some() == e.chain_prefix.is_some() {
                return Err(format!(
                    "a [[rule]] entry needs exactly one of chain and chain_prefix (by {}: {})",
                    e.note.by, e.note.about
                ));
            }
        }
        let mut notes = notes;
        notes.by_first = vec![Vec::new(); 256];
        for (i, e) in notes.chain.iter().enumerate() {
            let i = u16::try_from(i).map_err(|_| "more than 65535 [[chain]] entries")?;
            match e.name.as_deref().or(e.prefix.as_deref()).map(str::as_bytes) {
                Some([b, ..]) => notes.by_first[usize::from(*b)].push(i),
                _ => notes.by_first.iter_mut().for_each(|l| l.push(i)),
            }
        }
        Ok(notes)
    }

    /// The note on chain `chain` of table `table`: the most specific entry.
    pub fn about(&self, table: &str, chain: &str) -> Option<&Note> {
        self.entry(table, chain).map(|e| &e.note)
    }

    fn entry(&self, table: &str, chain: &str) -> Option<&ChainEntry> {
        let first = chain.as_bytes().first().map_or(0, |b| usize::from(*b));
        let candidates = self.by_first.get(first).map_or(&[][..], |l| &l[..]);
        best_entry(
            table,
            chain,
            candidates.iter().map(|&i| &self.chain[usize::from(i)]),
        )
    }

    /// Whether the chain is meant to have no jump into it (a canary, a hint).
    pub fn meant_unreferenced(&self, table: &str, chain: &str) -> bool {
        self.entry(table, chain).is_some_and(|e| e.unreferenced)
    }

    /// The note on one rule, if a `[[rule]]` entry matches it. `netns` is the namespace
    /// as given with `--netns` (a name or a path), if any.
    pub fn about_rule(
        &self,
        table: &str,
        chain: &str,
        spec: &RuleSpec,
        netns: Option<&str>,
    ) -> Option<&Note> {
        self.rule
            .iter()
            .find(|e| {
                e.table == table
                    && match (&e.chain, &e.chain_prefix) {
                        (Some(c), _) => c == chain,
                        (None, Some(p)) => chain.starts_with(p.as_str()),
                        (None, None) => false,
                    }
                    && e.target == spec.target
                    && spec.extra.contains(e.contains.as_str())
                    && e.netns.as_deref().is_none_or(|want| {
                        netns.is_some_and(|ns| ns.trim_end_matches('/').ends_with(want))
                    })
            })
            .map(|e| &e.note)
    }
}

/// The most specific of `entries` for chain `chain` of table `table`: exact before
/// prefix, longer prefix before shorter, this table before any; the first of equals.
fn best_entry<'a>(
    table: &str,
    chain: &str,
    entries: impl Iterator<Item = &'a ChainEntry>,
) -> Option<&'a ChainEntry> {
    let mut best: Option<(usize, bool, &ChainEntry)> = None;
    for e in entries {
        let for_table = match &e.table {
            Some(t) if t != table => continue,
            Some(_) => true,
            None => false,
        };
        let strength = match (&e.name, &e.prefix) {
            (Some(n), _) if n == chain => usize::MAX,
            (_, Some(p)) if chain.starts_with(p.as_str()) => p.len(),
            _ => continue,
        };
        if best.is_none_or(|(s, t, _)| (strength, for_table) > (s, t)) {
            best = Some((strength, for_table, e));
        }
    }
    best.map(|(_, _, e)| e)
}

/// The shipped notes, parsed once. A damaged file (a test catches that) gives no notes
/// rather than a crash.
pub fn shipped() -> &'static Notes {
    static NOTES: OnceLock<Notes> = OnceLock::new();
    NOTES.get_or_init(|| Notes::parse(SOURCE).unwrap_or_default())
}

/// The note on chain `chain` of table `table`, from the shipped notes.
pub fn about(table: &str, chain: &str) -> Option<&'static Note> {
    shipped().about(table, chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_notes_parse() {
        let n = Notes::parse(SOURCE).expect("assets/chains.toml");
        assert!(n.chain.len() > 50, "{}", n.chain.len());
        for e in &n.chain {
            assert!(!e.note.about.is_empty() && !e.note.by.is_empty());
            assert!(!e.note.about.contains('\n'), "one line: {}", e.note.about);
            assert!(e.note.about.len() < 220, "one line: {}", e.note.about);
            // the line reads `by: about`: `Calico: Calico: ...` says the label twice
            let by = e.note.by.to_lowercase();
            let about = e.note.about.to_lowercase();
            assert!(
                !about.starts_with(&format!("{by}:")) && !about.starts_with(&format!("{by} (")),
                "label said twice: {}",
                e.note.line()
            );
        }
    }

    #[test]
    fn the_first_byte_index_picks_what_a_scan_of_every_entry_picks() {
        let n = Notes::parse(SOURCE).expect("assets/chains.toml");
        // every entry, without the index
        let scan = |table: &str, chain: &str| {
            best_entry(table, chain, n.chain.iter()).map(std::ptr::from_ref)
        };
        let names = n.chain.iter().flat_map(|e| {
            let base = e.name.clone().or(e.prefix.clone()).unwrap_or_default();
            [
                base.clone(),
                format!("{base}-X1"),
                base.chars().skip(1).collect(),
                String::new(),
            ]
        });
        let mut compared = 0;
        for name in names.chain(["INPUT".into(), "zz".into(), "é".into()]) {
            for table in ["filter", "nat", "mangle", "raw"] {
                assert_eq!(
                    n.entry(table, &name).map(std::ptr::from_ref),
                    scan(table, &name),
                    "{table} {name}"
                );
                compared += 1;
            }
        }
        assert!(compared > 800, "{compared}");
    }

    #[test]
    fn ufw_logging_chains_have_their_own_note() {
        // before.rules' note belongs to ufw-before-input, not to the logging chain that
        // comes first in a listing
        assert!(
            about("filter", "ufw-before-input")
                .unwrap()
                .about
                .contains("before.rules")
        );
        assert!(
            !about("filter", "ufw-before-logging-input")
                .unwrap()
                .about
                .contains("before.rules")
        );
        assert!(
            about("filter", "ufw-after-logging-input")
                .unwrap()
                .about
                .contains("UFW BLOCK")
        );
    }

    #[test]
    fn exact_names_per_table() {
        assert_eq!(about("filter", "DOCKER-USER").unwrap().by, "Docker");
        assert!(about("filter", "DOCKER").unwrap().about.contains("Accepts"));
        assert!(about("nat", "DOCKER").unwrap().about.contains("DNAT"));
        assert!(
            about("nat", "DOCKER-INGRESS")
                .unwrap()
                .about
                .contains("DNAT")
        );
        assert!(
            about("filter", "DOCKER-INGRESS")
                .unwrap()
                .about
                .contains("accepts")
        );
        assert!(about("filter", "FORWARD").unwrap().about.contains("routed"));
        assert!(
            about("nat", "POSTROUTING")
                .unwrap()
                .about
                .contains("MASQUERADE")
        );
        assert_eq!(about("filter", "KUBE-SERVICES").unwrap().by, "kube-proxy");
        assert!(
            about("nat", "KUBE-SERVICES")
                .unwrap()
                .about
                .contains("cluster IP")
        );
    }

    #[test]
    fn prefixes_longest_first() {
        assert!(
            about("nat", "KUBE-SVC-WIBWGVOGGHZNLWQN")
                .unwrap()
                .about
                .contains("1/n")
        );
        assert!(about("nat", "KUBE-SEP-ABC").unwrap().about.contains("DNAT"));
        assert_eq!(about("nat", "KUBE-SOMETHING-NEW").unwrap().by, "Kubernetes");
        assert!(
            about("filter", "ufw-user-input")
                .unwrap()
                .about
                .contains("ufw allow")
        );
        assert!(
            about("filter", "ufw-before-input")
                .unwrap()
                .about
                .contains("before.rules")
        );
        assert!(
            about("filter", "ufw-reject-input")
                .unwrap()
                .about
                .contains("ufw")
        );
        assert_eq!(about("filter", "f2b-sshd").unwrap().by, "fail2ban");
        assert_eq!(about("filter", "LIBVIRT_FWO").unwrap().by, "libvirt");
        assert_eq!(about("filter", "ts-input").unwrap().by, "Tailscale");
        assert_eq!(about("filter", "cali-tw-abc").unwrap().by, "Calico");
        assert_eq!(about("nat", "CILIUM_POST_nat").unwrap().by, "Cilium");
        assert_eq!(about("security", "INPUT").unwrap().by, "kernel");
    }

    #[test]
    fn unknown_chains_have_no_note() {
        assert!(about("filter", "MY-CHAIN").is_none());
        assert!(
            about("filter", "docker-user").is_none(),
            "names are case-sensitive"
        );
        // a built-in name in a table where it is not built in
        assert!(about("raw", "FORWARD").is_none());
    }

    #[test]
    fn canaries_are_meant_unreferenced() {
        let n = shipped();
        assert!(n.meant_unreferenced("mangle", "KUBE-KUBELET-CANARY"));
        assert!(!n.meant_unreferenced("filter", "DOCKER-USER"));
        assert!(!n.meant_unreferenced("filter", "MY-CHAIN"));
    }

    #[test]
    fn rule_notes_match_target_text_and_namespace() {
        let n = shipped();
        let spec = |target: &str, extra: &str| RuleSpec {
            target: target.into(),
            extra: extra.into(),
            ..Default::default()
        };
        let mark = spec("MARK", "tcp dpt:80 MARK set 0x100");
        assert!(
            n.about_rule(
                "mangle",
                "PREROUTING",
                &mark,
                Some("/var/run/docker/netns/ingress_sbox")
            )
            .is_some()
        );
        // the same rule elsewhere is someone else's mark
        assert!(n.about_rule("mangle", "PREROUTING", &mark, None).is_none());
        assert!(
            n.about_rule("mangle", "PREROUTING", &mark, Some("my-host"))
                .is_none()
        );
        let reject = spec(
            "REJECT",
            "/* ns1/web:http has no endpoints */ tcp dpt:80 reject-with icmp-port-unreachable",
        );
        assert!(
            n.about_rule("filter", "KUBE-SERVICES", &reject, None)
                .is_some()
        );
        assert!(n.about_rule("filter", "INPUT", &reject, None).is_none());
    }

    #[test]
    fn native_tables_have_notes() {
        let n = shipped();
        let by = |t: &str, c: &str| n.about(t, c).map(|x| x.by.clone());
        let docker = Some("Docker 29 (nftables)".to_string());
        for c in [
            "filter-FORWARD",
            "filter-forward-in__bridge1",
            "filter-forward-out__docker0",
            "nat-prerouting-and-output",
            "raw-PREROUTING",
            "nat-postrouting-out__br-1a2b",
        ] {
            assert_eq!(by("docker-bridges", c), docker, "{c}");
        }
        assert!(
            n.about("kube-proxy", "service-LAUZTJTB-ns4/svc4/tcp/p80")
                .is_some_and(|x| x.about.contains("numgen random mod N"))
        );
        assert!(
            n.about(
                "kube-proxy",
                "endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80"
            )
            .is_some()
        );
        assert!(
            n.about("kube-proxy", "services")
                .is_some_and(|x| x.about.contains("no counters"))
        );
        assert_eq!(
            by("firewalld", "filter_FORWARD").as_deref(),
            Some("firewalld")
        );
        assert_eq!(by("filter", "forward").as_deref(), Some("nftables.service"));
        // iptables' own FORWARD keeps its note
        assert_ne!(by("filter", "FORWARD").as_deref(), Some("nftables.service"));
        let spec = |target: &str, extra: &str| RuleSpec {
            target: target.into(),
            extra: extra.into(),
            ..Default::default()
        };
        let unpublished = spec("drop", "counter drop comment \"UNPUBLISHED PORT DROP\"");
        assert!(
            n.about_rule(
                "docker-bridges",
                "filter-forward-in__bridge1",
                &unpublished,
                None
            )
            .is_some()
        );
        assert!(
            n.about_rule(
                "docker-bridges",
                "filter-forward-out__bridge1",
                &unpublished,
                None
            )
            .is_none()
        );
        let direct = spec(
            "drop",
            "ip daddr 192.0.2.2 iifname != \"bridge1\" counter drop comment \"DROP DIRECT ACCESS\"",
        );
        assert!(
            n.about_rule("docker-bridges", "raw-PREROUTING", &direct, None)
                .is_some()
        );
    }

    #[test]
    fn bad_files_say_why() {
        let both = "[[rule]]\ntable = \"t\"\nchain = \"a\"\nchain_prefix = \"b\"\ntarget = \"x\"\ncontains = \"y\"\nby = \"x\"\nabout = \"y\"\n";
        assert!(Notes::parse(both).is_err());
        assert!(Notes::parse("[[chain]]\nby = \"x\"\nabout = \"y\"\n").is_err());
        assert!(
            Notes::parse("[[chain]]\nname = \"A\"\nprefix = \"B\"\nby = \"x\"\nabout = \"y\"\n")
                .is_err()
        );
        assert!(
            Notes::parse("[[chain]]\nname = \"A\"\nby = \"x\"\nabout = \"y\"\ncolour = 1\n")
                .is_err()
        );
        let e = Notes::parse("[[chain]\n").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        let n = Notes::parse("[[chain]]\nname = \"A\"\nby = \"x\"\nabout = \"y\"\n").unwrap();
        assert_eq!(n.about("any", "A").unwrap().line(), "x: y");
    }
}
