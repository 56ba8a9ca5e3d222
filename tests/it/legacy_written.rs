//! A legacy table's listing written from its x_tables entries (no iptables-legacy run)
//! against iptables-legacy's own listing of the same rules, byte for byte, on real rule
//! sets in namespaces the tests create: every rule part and extension iptop writes
//! (`tests/fixtures/iptables/written.rules`), the Docker swarm and kube-proxy rules; and
//! a rule set with extensions iptop does not write is left to iptables, whole. The
//! table `--once` builds from the entries is the parse of iptables-legacy's listing, and
//! `--once` shows the same tables either way.

use crate::written::{
    Netns, all_written, edge_rules, fixture, limit_is_left_to_iptables, same_or_left,
};

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn every_written_extension_is_written_as_iptables_legacy_lists_it() {
    let ns = Netns::new("legacy");
    ns.load(&fixture("written.rules"));
    all_written(&ns, &["filter", "nat"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn every_written_ipv6_extension_is_written_as_ip6tables_legacy_lists_it() {
    let ns = Netns::v6("legacy");
    ns.load(&fixture("written6.rules"));
    all_written(&ns, &["filter", "nat"]);
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
    all_written(&ns, &["filter", "nat"]);
    let ns = Netns::scale("legacy", 2000);
    all_written(&ns, &["nat"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn a_table_with_an_extension_not_written_here_is_listed_by_iptables() {
    limit_is_left_to_iptables("legacy");
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn the_edge_rules_are_written_as_iptables_lists_them_or_left_to_it() {
    let ns = Netns::new("legacy");
    ns.load(&edge_rules());
    same_or_left(&ns, &["raw", "mangle", "filter", "nat"]);
}
