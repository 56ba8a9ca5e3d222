//! A table iptables-nft made, its listing written from its chains and rules as nftables
//! hands them out over netlink (no iptables-nft run), against iptables-nft's own listing
//! of the same rules, byte for byte, on real rule sets in namespaces the tests create:
//! every rule part and extension iptop writes (`tests/fixtures/iptables/written.rules`,
//! `written6.rules`), the Docker swarm and kube-proxy rules, the edge rules (written the
//! same or left to iptables-nft); a rule iptables-nft did not write is left to it. Then
//! `--once` shows the same tables either way.

use std::process::Command;

use iptop::source::kernel::nft::NftSocket;
use iptop::source::kernel::nft_text;
use serde_json::Value;

use crate::common::hostile::Ns;
use crate::common::{iptop, root, run_ok};

/// A namespace of the test's own (deleted when dropped), its rules IPv6 or not.
struct Netns(Ns, bool);

impl Netns {
    fn new() -> Netns {
        Netns(Ns::new(), false)
    }

    fn v6() -> Netns {
        Netns(Ns::new(), true)
    }

    fn bin(&self, what: &str) -> String {
        format!("{}tables-nft{what}", if self.1 { "ip6" } else { "ip" })
    }

    fn load(&self, rules: &[u8]) {
        self.0.restore(&self.bin("-restore"), rules);
    }

    /// iptables-nft's listing, as iptop runs it.
    fn listed(&self, table: &str) -> String {
        let out = run_ok(Command::new("ip").args([
            "netns",
            "exec",
            &self.0.0,
            &self.bin(""),
            "-w",
            "5",
            "-t",
            table,
            "-L",
            "-v",
            "-n",
            "-x",
            "--line-numbers",
        ]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The listing written from the kernel's rules, or why not.
    fn written(&self, table: &str) -> Result<String, String> {
        let path = format!("/run/netns/{}", self.0.0);
        let (table, v6) = (table.to_string(), self.1);
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path).expect("netns");
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let mut s = NftSocket::open().expect("netlink socket");
            nft_text::write(&mut s, &table, v6)
                .expect("netlink")
                .map(|(text, _)| text)
                .map_err(|e| e.0)
        })
        .join()
        .expect("reader thread")
    }

    fn once(&self, table: &str, source: &str) -> Value {
        let mut args = vec![
            "--netns",
            &self.0.0,
            "--backend",
            "nft",
            "--source",
            source,
            "--once",
            "--format",
            "json",
            "-t",
            table,
        ];
        if self.1 {
            args.push("-6");
        }
        let out = run_ok(iptop().args(&args));
        serde_json::from_slice(&out.stdout).expect("json")
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/iptables").join(name)).expect("fixture")
}

/// Lines that differ, for the failure message.
fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n written: {x:?}\n listed:  {y:?}", i + 1);
        }
    }
    format!(
        "{} lines written, {} listed",
        a.lines().count(),
        b.lines().count()
    )
}

/// Each table written byte for byte as iptables-nft lists it, or left to iptables-nft
/// with a reason; `--once` shows the same tables either way. How many were written.
fn same_or_left(ns: &Netns, tables: &[&str]) -> usize {
    let mut written_tables = 0;
    for t in tables {
        let auto = ns.once(t, "auto");
        match ns.written(t) {
            Ok(written) => {
                let listed = ns.listed(t);
                assert!(
                    written == listed,
                    "table {t}: {}",
                    first_difference(&written, &listed)
                );
                assert_eq!(
                    auto["source"]["written_from_kernel"],
                    serde_json::json!([format!("{t}·nft")]),
                    "--once wrote table {t}: {}",
                    auto["source"]
                );
                written_tables += 1;
            }
            Err(why) => {
                assert!(!why.is_empty());
                assert!(auto["source"].get("written_from_kernel").is_none(), "{t}");
            }
        }
        assert_eq!(
            auto["tables"],
            ns.once(t, "iptables")["tables"],
            "table {t}"
        );
    }
    written_tables
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn every_written_extension_is_written_as_iptables_nft_lists_it() {
    // every rule part and extension of the legacy writer, as iptables-nft writes them:
    // payload comparisons (ports, TCP flags, fragments, prefixes), meta (interfaces,
    // protocol, mark) and the x_tables extensions
    let ns = Netns::new();
    ns.load(&fixture("written.rules"));
    assert_eq!(same_or_left(&ns, &["filter", "nat"]), 2);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn every_written_ipv6_extension_is_written_as_ip6tables_nft_lists_it() {
    let ns = Netns::v6();
    ns.load(&fixture("written6.rules"));
    assert_eq!(same_or_left(&ns, &["filter", "nat"]), 2);
    let ns = Netns::v6();
    ns.load(&fixture("ipv6.rules"));
    same_or_left(&ns, &["filter", "nat"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn docker_swarm_and_kube_proxy_rules_are_written_as_iptables_nft_lists_them() {
    let ns = Netns::new();
    ns.load(&fixture("docker-swarm.rules"));
    assert_eq!(same_or_left(&ns, &["filter", "nat"]), 2);
    let ns = Netns::new();
    let script = root().join("tests/fixtures/iptables/gen-scale.sh");
    run_ok(
        Command::new("bash")
            .arg(&script)
            .args(["2000", "nft", &ns.0.0]),
    );
    assert_eq!(same_or_left(&ns, &["nat"]), 1);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn the_edge_rules_are_written_as_iptables_nft_lists_them_or_left_to_it() {
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
    let ns = Netns::new();
    ns.load(&rules);
    same_or_left(&ns, &["raw", "mangle", "filter", "nat"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn a_rule_iptables_nft_did_not_write_leaves_the_table_to_it() {
    // an extension iptop does not write: iptables-nft lists the table
    let ns = Netns::new();
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
    // a rule nft added to iptables-nft's own table, as iptables-nft never writes one:
    // not written either (iptables-nft itself refuses the table)
    let ns = Netns::new();
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
