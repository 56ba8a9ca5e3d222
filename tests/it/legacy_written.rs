//! A legacy table's listing written from its x_tables entries (no iptables-legacy run)
//! against iptables-legacy's own listing of the same rules, byte for byte, on real rule
//! sets in namespaces the tests create: every rule part and extension iptop writes
//! (`tests/fixtures/iptables/written.rules`), the Docker swarm and kube-proxy rules; and
//! a rule set with extensions iptop does not write is left to iptables, whole. The
//! table `--once` builds from the entries is the parse of iptables-legacy's listing, and
//! `--once` shows the same tables either way.

use std::process::Command;

use crate::common::{root, run_ok};
use crate::written::{Netns, first_difference, fixture, same_as_parsed, same_or_left};

/// Each table is written byte for byte as iptables-legacy lists it, and `--once` (which
/// writes it) shows what `--source iptables` (which lists it) shows.
fn same_as_iptables(ns: &Netns, tables: &[&str]) {
    for t in tables {
        let written = ns
            .written(t)
            .unwrap_or_else(|why| panic!("table {t} not written: {why}"));
        let listed = ns.listed(t);
        assert!(
            written == listed,
            "table {t}: {}",
            first_difference(&written, &listed)
        );
        // built from the entries (`--once`): iptables-legacy's listing, parsed
        same_as_parsed(ns, t, &listed);
        let auto = ns.once(t, "auto");
        assert_eq!(
            auto["source"]["written_from_kernel"],
            serde_json::json!([format!("{t}·legacy")]),
            "--once wrote table {t}: {}",
            auto["source"]
        );
        assert_eq!(
            auto["tables"],
            ns.once(t, "iptables")["tables"],
            "table {t}"
        );
    }
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn every_written_extension_is_written_as_iptables_legacy_lists_it() {
    let ns = Netns::new("legacy");
    ns.load(&fixture("written.rules"));
    same_as_iptables(&ns, &["filter", "nat"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn every_written_ipv6_extension_is_written_as_ip6tables_legacy_lists_it() {
    let ns = Netns::v6("legacy");
    ns.load(&fixture("written6.rules"));
    same_as_iptables(&ns, &["filter", "nat"]);
    // the IPv6 fixture: `frag` (filter) and NETMAP (nat) are left to ip6tables
    let ns = Netns::v6("legacy");
    ns.load(&fixture("ipv6.rules"));
    assert_eq!(same_or_left(&ns, &["filter", "nat"]), 0);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn docker_swarm_and_kube_proxy_rules_are_written_as_iptables_legacy_lists_them() {
    let ns = Netns::new("legacy");
    ns.load(&fixture("docker-swarm.rules"));
    same_as_iptables(&ns, &["filter", "nat"]);
    let ns = Netns::new("legacy");
    let script = root().join("tests/fixtures/iptables/gen-scale.sh");
    run_ok(
        Command::new("bash")
            .arg(&script)
            .args(["2000", "legacy", &ns.0.0]),
    );
    same_as_iptables(&ns, &["nat"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn a_table_with_an_extension_not_written_here_is_listed_by_iptables() {
    let ns = Netns::new("legacy");
    ns.load(b"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m limit --limit 5/sec -j ACCEPT\n-A INPUT -j ACCEPT\nCOMMIT\n");
    let why = ns.written("filter").expect_err("limit is not written");
    assert!(why.contains("limit"), "{why}");
    let auto = ns.once("filter", "auto");
    assert!(
        auto["source"].get("written_from_kernel").is_none(),
        "{}",
        auto["source"]
    );
    assert_eq!(auto["tables"], ns.once("filter", "iptables")["tables"]);
    let rules = &auto["tables"][0]["chains"][0]["rules"];
    assert_eq!(rules.as_array().map(Vec::len), Some(2), "{rules}");
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn the_edge_rules_are_written_as_iptables_lists_them_or_left_to_it() {
    // tests/fixtures/iptables/edge.rules without its ipset sets (no ipset here)
    let rules: Vec<u8> = String::from_utf8(fixture("edge.rules"))
        .expect("utf-8")
        .lines()
        .filter(|l| {
            !["-m set", "edge-v4", "edge-v6", "-j SET"]
                .iter()
                .any(|s| l.contains(s))
        })
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect();
    let ns = Netns::new("legacy");
    ns.load(&rules);
    same_or_left(&ns, &["raw", "mangle", "filter", "nat"]);
}
