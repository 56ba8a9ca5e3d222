//! Rule churn on real iptables: between two polls the test inserts rules at the top of
//! chains, zeroes a chain's counters (the test runs `iptables -Z` itself; iptop never
//! does) and deletes a rule. Every delta iptop computes must equal what
//! `iptables-save -c` (an independent format) says moved for that same rule text.

mod common;

use std::collections::HashMap;
use std::thread;
use std::time::Duration;

use common::Lab;
use iptop::diff::{Delta, diff};
use iptop::source::live::{Backend, LiveConfig, LiveSource};
use iptop::source::snapshot_from;

/// chain -> [(rule text, packets, bytes)] from `iptables-save -c -t filter`.
fn save(lab: &Lab, bin: &str) -> HashMap<String, Vec<(String, u64, u64)>> {
    let out = lab.host_cmd(&[bin, "-c", "-t", "filter"]);
    let mut m: HashMap<String, Vec<(String, u64, u64)>> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let (ctr, rule) = rest.split_once("] ").expect("counters");
        let (p, b) = ctr.split_once(':').expect("p:b");
        let chain = rule.split_whitespace().nth(1).expect("chain").to_string();
        m.entry(chain).or_default().push((
            rule.to_string(),
            p.parse().expect("p"),
            b.parse().expect("b"),
        ));
    }
    m
}

fn churn(restore: &str, backend: Backend, bin: &str, save_bin: &str) {
    let lab = Lab::up(restore);
    lab.curl(10);
    lab.cross(2);
    thread::sleep(Duration::from_millis(300)); // let the last segments of those connections pass

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let tables = vec!["filter".to_string()];
    let mut src = LiveSource::new(LiveConfig {
        backend,
        ipv6: false,
        netns: Some(lab.host()),
        tables: tables.clone(),
        timeout: Duration::from_secs(5),
    })
    .expect("source");
    let s1 = snapshot_from(&rt.block_on(src.poll()), &tables).expect("first poll");
    let save1 = save(&lab, save_bin);

    lab.host_cmd(&[
        bin, "-I", "FORWARD", "1", "-p", "udp", "--dport", "9999", "-j", "ACCEPT",
    ]);
    lab.host_cmd(&[
        bin,
        "-I",
        "DOCKER-INGRESS",
        "1",
        "-p",
        "tcp",
        "--dport",
        "8080",
        "-j",
        "ACCEPT",
    ]);
    lab.host_cmd(&[bin, "-Z", "DOCKER-USER"]);
    lab.host_cmd(&[
        bin, "-D", "FORWARD", "-i", "docker0", "-o", "docker0", "-j", "ACCEPT",
    ]);
    lab.curl(2);
    thread::sleep(Duration::from_millis(300));

    let save2 = save(&lab, save_bin);
    let s2 = snapshot_from(&rt.block_on(src.poll()), &tables).expect("second poll");
    let d = diff(&s1, &s2);
    let td = d.table(0).expect("filter deltas");
    let t2 = &s2.tables[0];

    let mut checked = 0;
    let mut resets = Vec::new();
    for (ci, chain) in t2.chains.iter().enumerate() {
        let now = save2.get(&*chain.name).cloned().unwrap_or_default();
        assert_eq!(
            now.len(),
            chain.rules.len(),
            "{}: listing and save agree on the rules",
            chain.name
        );
        for (ri, (text, p2, b2)) in now.iter().enumerate() {
            let got = td.rule(ci, ri).copied();
            let before = save1
                .get(&*chain.name)
                .and_then(|v| v.iter().find(|(t, ..)| t == text));
            match before {
                None => assert_eq!(got, None, "{text}: new rule must have no delta"),
                Some((_, p1, b1)) => {
                    let want = Delta::between((*p1, *b1), (*p2, *b2));
                    assert_eq!(got, Some(want), "{text}");
                    if want.reset {
                        resets.push(text.clone());
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 20, "every surviving rule was compared");
    assert_eq!(
        resets,
        ["-A DOCKER-USER -j RETURN"],
        "only the zeroed chain reset"
    );
    let user = t2.chain_index("DOCKER-USER").expect("DOCKER-USER");
    let ud = td.rule(user, 0).expect("delta");
    assert!(
        ud.reset && ud.packets > 0,
        "counted from zero after -Z: {ud:?}"
    );
    // the DNAT'd requests after the churn land on dpt:80, now rule 2 of DOCKER-INGRESS
    let ing = t2.chain_index("DOCKER-INGRESS").expect("ingress");
    assert_eq!(t2.chains[ing].rules[1].spec.extra, "tcp dpt:80");
    assert!(td.rule(ing, 1).expect("dpt:80").packets >= 2);
    assert_eq!(td.rule(ing, 0), None, "the inserted dpt:8080 rule is new");
}

#[test]
fn churn_nft() {
    churn(
        "iptables-nft-restore",
        Backend::Nft,
        "iptables-nft",
        "iptables-nft-save",
    );
}

#[test]
fn churn_legacy() {
    churn(
        "iptables-legacy-restore",
        Backend::Legacy,
        "iptables-legacy",
        "iptables-legacy-save",
    );
}
