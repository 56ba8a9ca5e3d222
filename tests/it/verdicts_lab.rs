//! Verdict rows and the path view on real iptables: the lab's host in network namespaces,
//! real packets, `iptop --netns <host> --once --window 3s`. What FORWARD's policy drops,
//! what falls through Docker 28's DOCKER-CT, and nat's DNAT before filter's FORWARD.

use crate::common::{Lab, text_delta};
use serde_json::Value;

/// Runs iptop over a 3 s window while `traffic` runs, returns its stdout.
fn watch(lab: &Lab, args: &[&str], traffic: impl FnOnce()) -> String {
    let mut all = vec!["--once", "--window", "3s"];
    all.extend_from_slice(args);
    lab.once_during(&all, traffic)
}

fn chain<'a>(report: &'a Value, table: &str, name: &str) -> &'a Value {
    report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter(|t| t["name"] == table)
        .flat_map(|t| t["chains"].as_array().expect("chains"))
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no chain {table}/{name} in {report}"))
}

fn delta(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn forward_policy_drop_is_a_row_with_what_it_dropped() {
    let lab = Lab::up("iptables-restore");
    let json = watch(&lab, &["-t", "filter", "--format", "json"], || {
        lab.blocked(5);
    });
    let report: Value = serde_json::from_str(&json).expect("json");
    let fwd = chain(&report, "filter", "FORWARD");
    assert_eq!(fwd["policy"], "DROP");
    // the policy's counters are what fell through FORWARD
    assert!(
        delta(fwd, "delta_fell_through_packets") >= 5,
        "5 blocked connections, each at least one SYN: {fwd}"
    );
    assert_eq!(fwd["delta_fell_through_packets"], fwd["delta_packets"]);
    assert_eq!(fwd["fell_through_packets"], fwd["packets"]);

    // the text export ends FORWARD with a `policy DROP` row that moved, and lists the
    // rules of the shared DOCKER-ISOLATION-STAGE-2 once
    let text = watch(&lab, &["-t", "filter"], || lab.blocked(5));
    let row = text
        .lines()
        .find(|l| l.starts_with("└─ policy DROP"))
        .unwrap_or_else(|| panic!("no policy DROP row in\n{text}"));
    assert!(text_delta(row) >= 5, "{row}");
    let stage2_drops = text
        .lines()
        .filter(|l| l.contains("├─ DROP") && l.contains("docker_gwbridge"))
        .filter(|l| l.starts_with("│  │  "))
        .count();
    assert_eq!(stage2_drops, 1, "{text}");
    assert_eq!(
        text.matches("DOCKER-ISOLATION-STAGE-2 → see FORWARD › DOCKER-ISOLATION-STAGE-1 › rule ")
            .count(),
        1,
        "{text}"
    );

    // --moved-only keeps the policy row (what `f` shows in the live view)
    let moved = watch(&lab, &["-t", "filter", "--moved-only"], || lab.blocked(5));
    assert!(
        moved.lines().any(|l| l.starts_with("└─ policy DROP")),
        "{moved}"
    );
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn docker28_ct_chain_fell_through_is_what_entered_minus_what_it_accepted() {
    let lab = Lab::up_with("iptables-restore", Some("docker28.rules"));
    let json = watch(&lab, &["-t", "filter", "--format", "json"], || lab.curl(5));
    let report: Value = serde_json::from_str(&json).expect("json");
    let fwd = chain(&report, "filter", "DOCKER-FORWARD");
    let ct = chain(&report, "filter", "DOCKER-CT");
    // DOCKER-FORWARD rule 1 is the only jump to DOCKER-CT
    let rules = fwd["rules"].as_array().expect("rules");
    assert_eq!(rules[0]["target"], "DOCKER-CT");
    let entered = delta(&rules[0], "delta_packets");
    let accepted: u64 = ct["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .inspect(|r| assert_eq!(r["target"], "ACCEPT"))
        .map(|r| delta(r, "delta_packets"))
        .sum();
    let fell = delta(ct, "delta_fell_through_packets");
    assert_eq!(fell, entered - accepted, "{ct}");
    // each new connection's first packet is not yet ESTABLISHED: it falls through
    assert!(fell >= 5, "{ct}");
    assert!(accepted > 0, "the answers' way back: {ct}");
    // the bytes the same way
    let entered_b = delta(&rules[0], "delta_bytes");
    let accepted_b: u64 = ct["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| delta(r, "delta_bytes"))
        .sum();
    assert_eq!(
        delta(ct, "delta_fell_through_bytes"),
        entered_b - accepted_b
    );

    // and the text shows DOCKER-CT's `fell through` row moving
    let text = watch(&lab, &["-t", "filter"], || lab.curl(5));
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("├─ DOCKER-CT"))
        .unwrap_or_else(|| panic!("no DOCKER-CT in\n{text}"));
    let end = lines[at + 1..]
        .iter()
        .find(|l| l.contains("└─ fell through"))
        .expect("DOCKER-CT's end");
    assert!(text_delta(end) >= 5, "{end}");
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn path_view_puts_nat_dnat_before_filter_forward() {
    let lab = Lab::up("iptables-restore");
    let text = watch(&lab, &["--view", "path"], || lab.curl(5));
    let lines: Vec<&str> = text.lines().collect();
    let dnat = lines
        .iter()
        .position(|l| l.contains("DNAT") && l.contains("to:172.18.0.2:80"))
        .unwrap_or_else(|| panic!("no DNAT row in\n{text}"));
    let accept = lines
        .iter()
        .position(|l| l.contains("ACCEPT") && l.ends_with("tcp dpt:80"))
        .unwrap_or_else(|| panic!("no ACCEPT dpt:80 row in\n{text}"));
    assert!(dnat < accept, "{text}");
    assert!(text_delta(lines[dnat]) >= 5, "{}", lines[dnat]);
    assert!(text_delta(lines[accept]) >= 5, "{}", lines[accept]);
    // built-in chains name their table, hooks come in netfilter's order
    let pre = lines
        .iter()
        .position(|l| l.starts_with("nat PREROUTING"))
        .expect("nat PREROUTING");
    let fwd = lines
        .iter()
        .position(|l| l.starts_with("filter FORWARD"))
        .expect("filter FORWARD");
    let post = lines
        .iter()
        .position(|l| l.starts_with("hook POSTROUTING"))
        .expect("POSTROUTING");
    assert!(
        pre < dnat && dnat < fwd && fwd < accept && accept < post,
        "{text}"
    );

    // the same in JSON: hooks in order, rows with their tables
    let json = watch(&lab, &["--view", "path", "--format", "json"], || {
        lab.curl(5);
    });
    let report: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(report["view"], "path");
    let hooks: Vec<&str> = report["hooks"]
        .as_array()
        .expect("hooks")
        .iter()
        .map(|h| h["hook"].as_str().expect("hook"))
        .collect();
    assert_eq!(
        hooks,
        ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]
    );
    let rows = |i: usize| report["hooks"][i]["rows"].as_array().expect("rows").clone();
    let dnat = rows(0)
        .into_iter()
        .find(|r| r["target"] == "DNAT")
        .expect("DNAT in PREROUTING");
    assert_eq!(dnat["table"], "nat");
    assert!(delta(&dnat, "delta_packets") >= 5, "{dnat}");
    let accept = rows(2)
        .into_iter()
        .find(|r| r["table"] == "filter" && r["text"] == "tcp dpt:80")
        .expect("dpt:80 in FORWARD");
    assert!(delta(&accept, "delta_packets") >= 5, "{accept}");
    assert_eq!(report["hooks"][2]["moved"], true);
}
