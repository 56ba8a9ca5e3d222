//! Native tables' counters from the kernel (tests/lab/nft-docker29.sh): after the first
//! listing, every poll reads the counters over netlink by handle and runs no `nft`
//! until the rule set changes; without `nft` on PATH the chains and counters still show,
//! each rule by its handle.

use std::path::Path;
use std::process::{Output, Stdio};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::common::{Lab, iptop};

const ACCEPT: &str = "ip daddr 192.0.2.2 tcp dport 80 counter accept";

/// `iptop --netns HOST ARGS` with `PATH` set to `path`, `traffic` run 0.8 s after the
/// start; its output, the run having succeeded.
fn run_with_path(lab: &Lab, path: &str, args: &[&str], traffic: impl FnOnce()) -> Output {
    let host = lab.host();
    let child = iptop()
        .args(["--netns", &host])
        .args(args)
        .env("PATH", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("iptop");
    thread::sleep(Duration::from_millis(800));
    traffic();
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "iptop {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A directory holding an `nft` that logs its arguments to `nft.log` and runs the real one.
fn logging_nft(dir: &Path) {
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> {}/nft.log\nexec /usr/sbin/nft \"$@\"\n",
        dir.display()
    );
    let p = dir.join("nft");
    std::fs::write(&p, script).expect("write nft");
    std::process::Command::new("chmod")
        .args(["755", &p.display().to_string()])
        .status()
        .expect("chmod");
}

/// The rules of `table` in a `--stream` document or a `--format json` report.
fn rules<'a>(doc: &'a Value, table: &str) -> Vec<&'a Value> {
    doc["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter(|t| t["name"] == table && t["kind"] == "nftables")
        .flat_map(|t| t["chains"].as_array().expect("chains"))
        .flat_map(|c| c["rules"].as_array().expect("rules"))
        .collect()
}

fn rule<'a>(doc: &'a Value, text: &str) -> &'a Value {
    rules(doc, "docker-bridges")
        .into_iter()
        .find(|r| r["text"] == text)
        .unwrap_or_else(|| panic!("no rule {text} in {doc}"))
}

#[test]
#[ignore = "needs root: network namespaces, nft"]
fn counters_come_from_the_kernel_and_nft_runs_once_per_rule_set() {
    let lab = Lab::up_nft();
    let dir = tempfile::tempdir().expect("tempdir");
    logging_nft(dir.path());
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", dir.path().display());
    let args = ["--stream", "--count", "4", "--interval", "1s"];
    let out = run_with_path(&lab, &path, &args, || lab.curl(5));
    let docs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(docs.len(), 4);
    let first = rule(&docs[0], ACCEPT)["packets"].as_u64().expect("counted");
    let last = rule(&docs[3], ACCEPT)["packets"].as_u64().expect("counted");
    assert!(last >= first + 5, "{first} → {last}");
    // four polls, one listing: the counters came from the kernel
    let log = std::fs::read_to_string(dir.path().join("nft.log")).unwrap_or_default();
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["-a list ruleset"],
        "{log}"
    );

    // a rule added while iptop runs: the generation changes, the tables are listed again
    std::fs::remove_file(dir.path().join("nft.log")).expect("rm");
    let out = run_with_path(&lab, &path, &args, || {
        lab.host_cmd(&[
            "/usr/sbin/nft",
            "add",
            "rule",
            "ip",
            "docker-bridges",
            "filter-FORWARD",
            "tcp",
            "dport",
            "9999",
            "counter",
            "drop",
        ]);
    });
    let docs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let added = "tcp dport 9999 counter drop";
    assert!(
        rules(&docs[0], "docker-bridges")
            .iter()
            .all(|r| r["text"] != added)
    );
    assert_eq!(rule(&docs[3], added)["packets"], 0);
    let log = std::fs::read_to_string(dir.path().join("nft.log")).unwrap_or_default();
    assert_eq!(log.lines().count(), 2, "{log}");
}

#[test]
#[ignore = "needs root: network namespaces, nft"]
fn without_nft_chains_and_counters_show_by_handle() {
    let lab = Lab::up_nft();
    // the DNAT rule's handle, as nft itself tells it
    let listing = lab.host_cmd(&[
        "/usr/sbin/nft",
        "-a",
        "list",
        "chain",
        "ip",
        "docker-bridges",
        "nat-prerouting-and-output",
    ]);
    let listing = String::from_utf8_lossy(&listing.stdout);
    let dnat: u64 = listing
        .lines()
        .find(|l| l.contains("dnat to 192.0.2.2:80"))
        .and_then(|l| l.rsplit_once("# handle "))
        .and_then(|(_, h)| h.trim().parse().ok())
        .unwrap_or_else(|| panic!("no DNAT rule in {listing}"));
    let args = [
        "--iptables",
        "/usr/sbin/iptables-nft",
        "--once",
        "--window",
        "3s",
        "--format",
        "json",
    ];
    let out = run_with_path(&lab, "/usr/bin:/bin", &args, || lab.curl(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`nft` is not on PATH"), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let table = doc["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"] == "docker-bridges" && t["family"] == "ip")
        .expect("Docker's table without nft");
    let fwd = table["chains"]
        .as_array()
        .expect("chains")
        .iter()
        .find(|c| c["name"] == "filter-FORWARD")
        .expect("filter-FORWARD");
    assert_eq!(fwd["hook"], "forward", "{fwd}");
    assert_eq!(fwd["priority"], 0, "{fwd}");
    assert_eq!(fwd["policy"], "accept", "{fwd}");
    let text = format!("rule handle {dnat} (install nft to see its text)");
    let r = rule(&doc, &text);
    assert_eq!(r["handle"], dnat);
    assert!(r["delta_packets"].as_u64().expect("a delta") >= 5, "{r}");
    // the vmap rules have no counter, by handle too
    assert!(
        rules(&doc, "docker-bridges")
            .iter()
            .any(|r| r["packets"].is_null())
    );
}

#[test]
#[ignore = "needs root: network namespaces, nft"]
fn a_rule_with_two_counters_shows_the_last() {
    let lab = Lab::up_nft();
    // the first counter takes every forwarded packet, the second none of the lab's
    lab.host_cmd(&[
        "/usr/sbin/nft",
        "insert",
        "rule",
        "ip",
        "docker-bridges",
        "filter-FORWARD",
        "counter",
        "ip",
        "daddr",
        "198.51.100.1",
        "counter",
    ]);
    let out = lab.once_during(&["--once", "--window", "3s", "--format", "json"], || {
        lab.curl(5);
    });
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    let r = rule(&doc, "counter ip daddr 198.51.100.1 counter");
    assert_eq!(r["packets"], 0, "{r}");
    // the first counter did move: the rule is counted, by its last counter
    let ok = rule(&doc, ACCEPT);
    assert!(ok["delta_packets"].as_u64().expect("a delta") >= 5, "{ok}");
}

#[test]
#[ignore = "needs root: network namespaces, iptables"]
fn no_nft_child_where_iptables_nft_holds_every_table() {
    let lab = Lab::up("iptables-nft-restore");
    let dir = tempfile::tempdir().expect("tempdir");
    logging_nft(dir.path());
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", dir.path().display());
    let out = run_with_path(&lab, &path, &["--once", "--format", "json"], || {});
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        doc["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .all(|t| t["kind"] != "nftables"),
        "{doc}"
    );
    // nothing native to print: nft never ran
    assert!(!dir.path().join("nft.log").exists());
}
