//! End to end on real iptables: the lab's swarm host in network namespaces, real HTTP
//! requests to the published port, `iptop --netns <host> --once --window 3s`.

use crate::common::{Lab, iptop, run_ok};
use serde_json::Value;

fn rules<'a>(report: &'a Value, table: &str, chain: &str) -> &'a Vec<Value> {
    report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"] == table)
        .and_then(|t| {
            t["chains"]
                .as_array()
                .expect("chains")
                .iter()
                .find(|c| c["name"] == chain)
        })
        .and_then(|c| c["rules"].as_array())
        .unwrap_or_else(|| panic!("no chain {table}/{chain} in {report}"))
}

fn delta(rule: &Value) -> u64 {
    rule["delta_packets"]
        .as_u64()
        .unwrap_or_else(|| panic!("no delta in {rule}"))
}

/// Runs iptop over a 3 s window while the test sends 5 requests, returns its stdout.
fn watch_while_curling(lab: &Lab, extra: &[&str]) -> String {
    let mut args = vec!["--once", "--window", "3s", "-t", "filter", "-t", "nat"];
    args.extend_from_slice(extra);
    lab.once_during(&args, || lab.curl(5))
}

/// Where the counters come from, both ways: every test runs with each.
const SOURCES: [&str; 2] = ["kernel", "iptables"];

/// The source the report says its counters came from.
fn counters_from(v: &Value) -> &str {
    v["source"]["counters"].as_str().unwrap_or("iptables")
}

fn check_swarm_json(json: &str, backend: &str) {
    let v: Value = serde_json::from_str(json).expect("json");
    assert_eq!(v["version"], 1);
    assert!(
        v["window_ms"].as_u64().expect("window") >= 2900,
        "{}",
        v["window_ms"]
    );
    assert_eq!(v["source"]["backend"], backend);
    let ingress = rules(&v, "filter", "DOCKER-INGRESS");
    let dpt80 = ingress
        .iter()
        .find(|r| r["extra"] == "tcp dpt:80")
        .expect("dpt:80 rule");
    assert_eq!(dpt80["target"], "ACCEPT");
    assert!(
        delta(dpt80) >= 5,
        "DOCKER-INGRESS tcp dpt:80 moved {} packets",
        delta(dpt80)
    );
    let user = rules(&v, "filter", "DOCKER-USER");
    assert_eq!(user[0]["target"], "RETURN");
    assert!(
        delta(&user[0]) >= 5,
        "DOCKER-USER RETURN moved {}",
        delta(&user[0])
    );
    // the DNAT in nat sees one packet per connection
    let dnat = rules(&v, "nat", "DOCKER-INGRESS")
        .iter()
        .find(|r| r["target"] == "DNAT")
        .expect("DNAT");
    assert_eq!(delta(dnat), 5, "one DNAT per request");
    assert_eq!(dnat["extra"], "tcp dpt:80 to:172.18.0.2:80");
    // nothing crossed the bridges
    for r in rules(&v, "filter", "DOCKER-ISOLATION-STAGE-2") {
        assert_eq!(delta(r), 0, "{r}");
    }
}

fn check_text_tree(text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    let fwd = lines
        .iter()
        .position(|l| l.starts_with("FORWARD (policy DROP)"))
        .expect("FORWARD row");
    let out = lines
        .iter()
        .position(|l| l.starts_with("OUTPUT (policy ACCEPT)"))
        .expect("OUTPUT row");
    let ing = lines
        .iter()
        .position(|l| l.starts_with("├─ DOCKER-INGRESS "))
        .expect("DOCKER-INGRESS under FORWARD");
    assert!(
        fwd < ing && ing < out,
        "DOCKER-INGRESS is nested under FORWARD:\n{text}"
    );
    let child = lines[ing + 1];
    assert!(child.starts_with("│  ├─ ACCEPT "), "{child}");
    assert!(child.ends_with("tcp dpt:80"), "{child}");
    // Δpkts of the dpt:80 rule, the second column
    let cols: Vec<&str> = child.split_whitespace().collect();
    let d: u64 = cols[3].parse().expect("Δpkts column");
    assert!(d >= 5, "{child}");
    for stage in ["│  ├─ DOCKER-ISOLATION-STAGE-2 ×2 ", "│  │  ├─ DROP "] {
        assert!(
            lines.iter().any(|l| l.starts_with(stage)),
            "missing {stage}:\n{text}"
        );
    }
    // DOCKER-ISOLATION-STAGE-2 is jumped to twice: its rules are listed once, and the
    // other jump says where
    let table_filter: Vec<&str> = lines
        .iter()
        .copied()
        .skip_while(|l| !l.starts_with("table filter"))
        .take_while(|l| !l.starts_with("table nat"))
        .collect();
    let drops = table_filter
        .iter()
        .filter(|l| l.starts_with("│  │  ├─ DROP "))
        .count();
    assert_eq!(drops, 2, "STAGE-2's two DROP rules, once:\n{text}");
    let refs: Vec<&&str> = table_filter
        .iter()
        .filter(|l| {
            l.contains("DOCKER-ISOLATION-STAGE-2 → see FORWARD › DOCKER-ISOLATION-STAGE-1 › rule 1")
        })
        .collect();
    assert_eq!(refs.len(), 1, "{text}");
    // every data row has the same column layout: PKT/S column starts at the same offset
    let title = lines
        .iter()
        .find(|l| l.starts_with("CHAIN / RULE"))
        .expect("titles");
    let rate_end = title.find("PKT/S").expect("PKT/S") + "PKT/S".len();
    for l in lines
        .iter()
        .skip_while(|l| !l.starts_with("CHAIN / RULE"))
        .skip(1)
        .filter(|l| l.contains("0.0.0.0/0"))
    {
        let prefix: String = l.chars().take(title[..rate_end].chars().count()).collect();
        assert!(
            prefix.ends_with(|c: char| c.is_ascii_digit() || c == '-'),
            "misaligned row: {l}"
        );
    }
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn nft_backend_sees_the_requests() {
    let lab = Lab::up("iptables-nft-restore");
    for src in SOURCES {
        let json = watch_while_curling(&lab, &["--format", "json", "--source", src]);
        check_swarm_json(&json, "nft");
        let v: Value = serde_json::from_str(&json).expect("json");
        assert_eq!(counters_from(&v), src);
        check_text_tree(&watch_while_curling(&lab, &["--source", src]));
    }
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn legacy_backend_sees_the_requests() {
    let lab = Lab::up("iptables-legacy-restore");
    for src in SOURCES {
        let json = watch_while_curling(
            &lab,
            &["--format", "json", "--backend", "legacy", "--source", src],
        );
        check_swarm_json(&json, "legacy");
        let v: Value = serde_json::from_str(&json).expect("json");
        assert_eq!(counters_from(&v), src);
        check_text_tree(&watch_while_curling(
            &lab,
            &["--backend", "legacy", "--source", src],
        ));
    }
    // The nft view of the same namespace is empty and says that legacy tables exist.
    let out = run_ok(iptop().args([
        "--netns",
        &lab.host(),
        "--once",
        "--format",
        "json",
        "--backend",
        "nft",
    ]));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let warnings = v["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .is_some_and(|w| w.contains("iptables-legacy tables present"))),
        "{v}"
    );
    assert_eq!(rules(&v, "filter", "FORWARD").len(), 0);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn isolation_drops_are_counted() {
    for src in SOURCES {
        isolation_drops_are_counted_with(src);
    }
}

fn isolation_drops_are_counted_with(src: &str) {
    let lab = Lab::up("iptables-restore");
    let out = lab.once_during(
        &[
            "--once",
            "--window",
            "3s",
            "--format",
            "json",
            "-c",
            "DOCKER-ISOLATION-STAGE-2",
            "--source",
            src,
        ],
        || lab.cross(3),
    );
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(counters_from(&v), src);
    let stage2 = rules(&v, "filter", "DOCKER-ISOLATION-STAGE-2");
    // docker0 -> docker_gwbridge: dropped by `-o docker_gwbridge -j DROP`; every SYN retry counts
    assert_eq!(stage2[0]["target"], "DROP");
    assert_eq!(stage2[0]["out"], "docker_gwbridge");
    assert!(delta(&stage2[0]) >= 3, "{}", stage2[0]);
}

/// Two rules with the same text, counting real traffic; a third copy inserted at the top
/// of the chain during the window. Rules of one text are told apart by their counters:
/// no rule gets a delta larger than the traffic that crossed the host in the window.
#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn identical_rules_keep_their_deltas_when_a_copy_is_inserted() {
    for src in SOURCES {
        identical_rules_with(src);
    }
}

fn identical_rules_with(src: &str) {
    let lab = Lab::up("iptables-nft-restore");
    let ipt = |args: &[&str]| {
        let mut v = vec!["iptables-nft"];
        v.extend_from_slice(args);
        lab.host_cmd(&v);
    };
    // counting rules (no -j) in DOCKER-USER, which every forwarded packet crosses
    ipt(&["-I", "DOCKER-USER", "1", "-p", "tcp"]);
    lab.curl(10);
    ipt(&["-I", "DOCKER-USER", "2", "-p", "tcp"]);
    lab.curl(4);
    let out = lab.once_during(
        &[
            "--once", "--window", "3s", "--format", "json", "-t", "filter", "--source", src,
        ],
        || {
            lab.curl(2);
            ipt(&["-I", "DOCKER-USER", "1", "-p", "tcp"]);
            lab.curl(3);
        },
    );
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(counters_from(&v), src);
    // every packet forwarded in the window went through FORWARD's jump to DOCKER-USER
    let sent = delta(&rules(&v, "filter", "FORWARD")[0]);
    assert!(sent >= 5, "traffic in the window: {sent} packets");
    let user = rules(&v, "filter", "DOCKER-USER");
    let copies: Vec<&Value> = user
        .iter()
        .filter(|r| r["prot"] == "6" || r["prot"] == "tcp")
        .collect();
    assert_eq!(copies.len(), 3, "{user:?}");
    for t in v["tables"].as_array().expect("tables") {
        for c in t["chains"].as_array().expect("chains") {
            for r in c["rules"].as_array().expect("rules") {
                if let Some(d) = r["delta_packets"].as_u64() {
                    assert!(
                        d <= sent,
                        "{} rule {}: Δ {d} > {sent} sent: {r}",
                        c["name"],
                        r["num"]
                    );
                }
            }
        }
    }
    // the two old copies counted every forwarded packet of the window; the new one a part
    assert!(copies[1]["packets"].as_u64().expect("packets") > 2 * sent);
    assert_eq!(delta(copies[1]), sent, "{}", copies[1]);
    assert_eq!(delta(copies[2]), sent, "{}", copies[2]);
    assert_eq!(copies[0]["new"], true, "{}", copies[0]);
    assert_eq!(copies[1]["new"], false);
    assert!(delta(copies[0]) < sent, "{}", copies[0]);
}
