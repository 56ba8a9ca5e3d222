//! `--source kernel` on real iptables in namespaces the tests create: the same counters
//! as `iptables -L` on a static rule set (1k, 10k, 50k rules, both back ends, IPv4 and
//! IPv6), `iptables` runs only when the rules change, and a listing that does not fit
//! the kernel's rules is an error (or, with auto, the listing's own counters).

use std::process::Command;

use crate::common::hostile::Ns;
use crate::common::{iptop, root, run_ok};
use serde_json::Value;

/// `--once` JSON of filter and nat, without what differs between the sources (the time,
/// the `counters` note, the tables written from the kernel's entries).
fn once_json(ns: &Ns, backend: &str, source: &str, ipv6: bool) -> Value {
    let mut args = vec![
        "--netns",
        &ns.0,
        "--backend",
        backend,
        "--source",
        source,
        "--once",
        "--format",
        "json",
        "-t",
        "filter",
        "-t",
        "nat",
    ];
    if ipv6 {
        args.push("-6");
    }
    let out = run_ok(iptop().args(&args));
    let mut v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let src = v["source"].as_object_mut().expect("source");
    // a table is written from what the kernel holds (x_tables entries, nftables rules)
    // unless iptables is asked (the IPv6 fixture's tables hold `frag` and NETMAP, which
    // are left to ip6tables)
    let written = src.remove("written_from_kernel");
    let writes = !ipv6 && source != "iptables";
    let nat = format!("nat·{backend}");
    assert_eq!(
        written
            .as_ref()
            .and_then(Value::as_array)
            .is_some_and(|w| w.iter().any(|t| *t == *nat)),
        writes,
        "{written:?}"
    );
    let counters = src.remove("counters");
    assert_eq!(
        counters.as_ref().and_then(Value::as_str),
        (source == "kernel").then_some("kernel"),
        "the source says where its counters come from"
    );
    v.as_object_mut().expect("object").remove("taken_at");
    v
}

fn rule_count(v: &Value) -> usize {
    v["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .flat_map(|t| t["chains"].as_array().expect("chains"))
        .map(|c| c["rules"].as_array().map_or(0, Vec::len))
        .sum()
}

fn same_counters_at(n: usize, backend: &str) {
    let ns = Ns::new();
    let rules = run_ok(
        Command::new("bash")
            .arg(root().join("tests/fixtures/iptables/gen-scale.sh"))
            .args([&n.to_string(), backend, "-"]),
    )
    .stdout;
    ns.restore(&format!("iptables-{backend}-restore"), &rules);
    let kernel = once_json(&ns, backend, "kernel", false);
    let listing = once_json(&ns, backend, "iptables", false);
    // auto: the listing checked against the kernel's use counts or entry count, shown
    // with its own counters (once_json checks that it says so)
    let auto = once_json(&ns, backend, "auto", false);
    assert_eq!(rule_count(&kernel), n, "every rule is there");
    assert!(auto == listing, "{n} rules, {backend}: auto differs");
    // not a trivial equality: the counters are spread over 0..10^13
    let moved = kernel["tables"][1]["chains"]
        .as_array()
        .expect("chains")
        .iter()
        .flat_map(|c| c["rules"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["packets"].as_u64().unwrap_or(0) > 0)
        .count();
    assert!(moved > n / 2, "{moved} rules with counters");
    assert!(
        kernel == listing,
        "{n} rules, {backend}: the counters differ"
    );
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn same_counters_as_the_listing_1k() {
    same_counters_at(1000, "nft");
    same_counters_at(1000, "legacy");
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn same_counters_as_the_listing_10k() {
    same_counters_at(10_000, "nft");
    same_counters_at(10_000, "legacy");
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn same_counters_as_the_listing_50k() {
    same_counters_at(50_000, "nft");
    same_counters_at(50_000, "legacy");
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn same_counters_as_the_listing_ipv6() {
    let rules = std::fs::read(root().join("tests/fixtures/iptables/ipv6.rules")).expect("rules");
    for backend in ["nft", "legacy"] {
        let ns = Ns::new();
        ns.restore(&format!("ip6tables-{backend}-restore"), &rules);
        // ip6tables-nft 1.8.9 drops rule counters given to restore: let packets move some
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        let _ = Command::new("ip")
            .args([
                "netns", "exec", &ns.0, "ping", "-6", "-c", "3", "-i", "0.2", "::1",
            ])
            .output();
        let kernel = once_json(&ns, backend, "kernel", true);
        let listing = once_json(&ns, backend, "iptables", true);
        let auto = once_json(&ns, backend, "auto", true);
        assert!(rule_count(&kernel) > 10);
        assert!(auto == listing, "ipv6 {backend}: auto differs");
        assert!(kernel == listing, "ipv6 {backend}: the counters differ");
    }
}

/// A wrapper around the real binary that logs each run.
fn logging_iptables(dir: &std::path::Path, real: &str) -> std::path::PathBuf {
    let p = dir.join(real);
    let log = dir.join("runs.log");
    std::fs::write(
        &p,
        format!(
            "#!/bin/bash\necho \"$*\" >> {}\nexec /usr/sbin/{real} \"$@\"\n",
            log.display()
        ),
    )
    .expect("wrapper");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

fn listing_runs(dir: &std::path::Path) -> usize {
    std::fs::read_to_string(dir.join("runs.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" -L "))
        .count()
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn iptables_runs_only_when_the_rules_change() {
    for backend in ["nft", "legacy"] {
        let ns = Ns::new();
        let rules = std::fs::read(root().join("tests/fixtures/iptables/docker-swarm.rules"))
            .expect("rules");
        ns.restore(&format!("iptables-{backend}-restore"), &rules);
        let dir = tempfile::tempdir().expect("tmp");
        let bin = logging_iptables(dir.path(), &format!("iptables-{backend}"));
        // polls every 100 ms over 1.5 s, with one change in the middle
        let child = iptop()
            .args([
                "--netns", &ns.0, "--source", "kernel", "--once", "--window", "1500ms",
            ])
            .arg("--iptables")
            .arg(&bin)
            .args(["-i", "100ms", "--format", "json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("iptop");
        std::thread::sleep(std::time::Duration::from_millis(700));
        ns.exec(&[
            &format!("iptables-{backend}"),
            "-I",
            "INPUT",
            "-p",
            "udp",
            "--dport",
            "7",
            "-j",
            "ACCEPT",
        ]);
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        let input = v["tables"][0]["chains"]
            .as_array()
            .expect("chains")
            .iter()
            .find(|c| c["name"] == "INPUT")
            .expect("INPUT")
            .clone();
        assert_eq!(
            input["rules"][0]["extra"], "udp dpt:7",
            "the insert is shown"
        );
        // --once polls twice (start and end of the window): one listing each time the
        // rule set was new to it, never one per poll
        let runs = listing_runs(dir.path());
        assert_eq!(runs, 2, "{backend}: iptables listed {runs} times");
    }
}

/// A comment whose newline prints a line like the next rule, on the chain's last rule:
/// nothing after it disagrees, so only the kernel's count tells; it chooses the reading
/// (the forged rule with the default source: kernel_truth.rs).
#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn a_listing_read_with_the_kernels_rule_counts() {
    for backend in ["nft", "legacy"] {
        let ns = Ns::new();
        let bin = format!("iptables-{backend}");
        ns.exec(&[&bin, "-A", "INPUT", "-j", "ACCEPT"]);
        // without a comment's line: --once (auto) reads no rule count, and says its
        // counters are the listing's; over a window, the kernel's
        let json = |args: &[&str]| {
            let out = run_ok(
                iptop()
                    .args(["--netns", &ns.0, "--backend", backend, "--format", "json"])
                    .args(args),
            );
            serde_json::from_slice::<Value>(&out.stdout).expect("json")
        };
        let v = json(&["--once"]);
        assert_eq!(v["source"]["counters"], Value::Null, "{backend}");
        assert_eq!(v["tables"][0]["chains"][0]["rules"][0]["target"], "ACCEPT");
        let v = json(&["--once", "--window", "200ms", "-i", "100ms"]);
        assert_eq!(v["source"]["counters"], "kernel", "{backend}");
        ns.exec(&[
            &bin,
            "-A",
            "INPUT",
            "-m",
            "comment",
            "--comment",
            "x\n3        0        0 ACCEPT     0    --  *      *       0.0.0.0/0            0.0.0.0/0",
            "-j",
            "DROP",
        ]);
        for source in ["kernel", "auto"] {
            let out = run_ok(iptop().args([
                "--netns",
                &ns.0,
                "--backend",
                backend,
                "--source",
                source,
                "--once",
                "--format",
                "json",
            ]));
            let v: Value = serde_json::from_slice(&out.stdout).expect("json");
            assert_eq!(v["source"]["counters"], "kernel", "{backend} {source}");
            let input = &v["tables"][0]["chains"][0];
            assert_eq!(input["rules"].as_array().map(Vec::len), Some(2), "{input}");
        }
    }
}
