//! A table iptables-nft made, its listing written from its chains and rules as nftables
//! hands them out over netlink (no iptables-nft run), against iptables-nft's own listing
//! of the same rules, byte for byte, on real rule sets in namespaces the tests create:
//! every rule part and extension iptop writes (`tests/fixtures/iptables/written.rules`,
//! `written6.rules`), the Docker swarm and kube-proxy rules, the edge rules (written the
//! same or left to iptables-nft); a rule iptables-nft did not write is left to it. Then
//! `--once` shows the same tables either way.

use crate::written::{
    Netns, all_written, edge_rules, fixture, limit_is_left_to_iptables, same_or_left,
};

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn every_written_extension_is_written_as_iptables_nft_lists_it() {
    // every rule part and extension of the legacy writer, as iptables-nft writes them:
    // payload comparisons (ports, TCP flags, fragments, prefixes), meta (interfaces,
    // protocol, mark) and the x_tables extensions
    let ns = Netns::new("nft");
    ns.load(&fixture("written.rules"));
    all_written(&ns, &["filter", "nat"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn every_written_ipv6_extension_is_written_as_ip6tables_nft_lists_it() {
    let ns = Netns::v6("nft");
    ns.load(&fixture("written6.rules"));
    all_written(&ns, &["filter", "nat"]);
    let ns = Netns::v6("nft");
    ns.load(&fixture("ipv6.rules"));
    same_or_left(&ns, &["filter", "nat"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn docker_swarm_and_kube_proxy_rules_are_written_as_iptables_nft_lists_them() {
    let ns = Netns::new("nft");
    ns.load(&fixture("docker-swarm.rules"));
    all_written(&ns, &["filter", "nat"]);
    let ns = Netns::scale("nft", 2000);
    all_written(&ns, &["nat"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn the_edge_rules_are_written_as_iptables_nft_lists_them_or_left_to_it() {
    let ns = Netns::new("nft");
    ns.load(&edge_rules());
    same_or_left(&ns, &["raw", "mangle", "filter", "nat"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn a_rule_iptables_nft_did_not_write_leaves_the_table_to_it() {
    // an extension iptop does not write: iptables-nft lists the table
    limit_is_left_to_iptables("nft");
    // a rule nft added to iptables-nft's own table, as iptables-nft never writes one:
    // not written either (iptables-nft itself refuses the table)
    let ns = Netns::new("nft");
    ns.load(b"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n");
    ns.0.exec(&[
        "nft",
        "add",
        "rule",
        "ip",
        "filter",
        "INPUT",
        "ct",
        "state",
        "established",
        "counter",
        "accept",
    ]);
    let why = ns.written("filter").expect_err("ct is not written");
    assert!(why.contains("ct"), "{why}");
}

/// The counters read with the writing (`Reader::nft_text_read`, what a relist of the
/// live view takes instead of reading the table again) are a full read's, and the next
/// polls read selectively from them as from a full read, with real packets moving them.
#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn the_counters_read_with_the_writing_are_a_full_reads() {
    use iptop::model::Backend;
    use iptop::source::kernel::Reader;
    let ns = Netns::new("nft");
    ns.load(&fixture("docker-swarm.rules"));
    let ipt = |args: &[&str]| ns.0.ipt("iptables-nft", args);
    ipt(&["-N", "KNOCK"]);
    ipt(&["-I", "INPUT", "-p", "tcp", "--dport", "9", "-j", "KNOCK"]);
    ipt(&["-A", "KNOCK", "-p", "tcp", "-j", "RETURN"]);
    ns.0.exec(&["ip", "link", "set", "lo", "up"]);
    ns.0.knock(3);
    let fd: std::os::fd::OwnedFd = std::fs::File::open(format!("/run/netns/{}", ns.0.0))
        .expect("netns")
        .into();
    let mut written = Reader::open(Some(&fd), false);
    let (text, read) = written
        .nft_text_read("filter")
        .expect("netlink")
        .expect("written");
    assert!(text.contains("Chain KNOCK"));
    let full = || {
        Reader::open(Some(&fd), false)
            .read("filter", Backend::Nft, true)
            .map_err(|e| format!("{e:?}"))
            .expect("a full read")
    };
    let other = full();
    assert_eq!(read.stamp, other.stamp, "the same generation");
    assert_eq!(read.counters, other.counters);
    let knock_chain = read.counters.names["KNOCK"];
    assert_eq!(read.counters.chains[knock_chain].rules[0].packets, 3);
    // packets, then a selective read from the state the writing left
    ns.0.knock(4);
    let next = written
        .read("filter", Backend::Nft, false)
        .map_err(|e| format!("{e:?}"))
        .expect("a selective read");
    assert_eq!(next.counters, full().counters);
    assert_eq!(next.counters.chains[knock_chain].rules[0].packets, 7);
}
