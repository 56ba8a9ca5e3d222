//! Chain notes and findings on the fixture corpus and the lab's rule set: every Docker and
//! kube-proxy chain has a note of its own (not the catch-all one), and the fixtures, which
//! hold no trap, have no finding. JSON carries both.

use std::fs;
use std::path::Path;

use iptop::explain::{findings, notes};
use iptop::parse::parse_table;

fn fixtures() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/iptables");
    let mut out = Vec::new();
    for e in fs::read_dir(&dir).expect("fixtures") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        if !name.ends_with("-vnxL-lines.txt") || name.starts_with("nft-native") {
            continue;
        }
        let table = name.split('.').nth(2).unwrap().split('-').next().unwrap();
        out.push((name.clone(), table.to_string()));
    }
    out.sort();
    assert!(out.len() > 10, "{out:?}");
    out
}

#[test]
fn every_docker_and_kube_chain_of_the_fixtures_has_its_own_note() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/iptables");
    let mut seen = 0;
    for (file, table) in fixtures() {
        let text = fs::read_to_string(dir.join(&file)).unwrap();
        let t = parse_table(&table, &text, None).unwrap_or_else(|e| panic!("{file}: {e}"));
        for c in &t.chains {
            if c.is_builtin() {
                let n = notes::about(&table, &c.name);
                assert!(n.is_some_and(|n| n.by == "kernel"), "{file}: {}", c.name);
                continue;
            }
            if !(c.name.starts_with("DOCKER") || c.name.starts_with("KUBE-")) {
                continue;
            }
            let n = notes::about(&table, &c.name)
                .unwrap_or_else(|| panic!("{file}: no note on {}", c.name));
            assert!(
                !n.about.contains("no note for") && !n.about.contains("not one of its documented"),
                "{file}: {} has only the catch-all note",
                c.name
            );
            seen += 1;
        }
    }
    assert!(seen > 500, "{seen}");
}

/// The fixtures hold no trap but one: the chains the corpus names UNREFERENCED or UNUSED,
/// which nothing jumps to (an empty one of their own is only unused, not a trap).
#[test]
fn the_fixtures_hold_no_trap_but_their_unreferenced_chains() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/iptables");
    let mut found = 0;
    for (file, table) in fixtures() {
        let text = fs::read_to_string(dir.join(&file)).unwrap();
        let t = parse_table(&table, &text, None).unwrap();
        let expected: Vec<String> = t
            .chains
            .iter()
            .filter(|c| {
                (c.name.contains("UNREFERENCED") || c.name.contains("UNUSED"))
                    && !c.rules.is_empty()
            })
            .map(|c| c.name.to_string())
            .collect();
        let snap = iptop::model::Snapshot {
            taken_at: std::time::SystemTime::UNIX_EPOCH,
            at: Default::default(),
            took: Default::default(),
            tables: vec![t],
            warnings: Vec::new(),
            seq: 1,
        };
        let f = findings::evaluate(&snap, None);
        let got: Vec<String> = f
            .iter()
            .map(|f| {
                assert_eq!(f.id, findings::UNREFERENCED_CHAIN, "{file}: {f:?}");
                f.chain.clone().unwrap()
            })
            .collect();
        assert_eq!(got, expected, "{file}");
        found += got.len();
    }
    assert!(found >= 4, "{found}");
}

#[test]
fn json_says_about_each_chain_and_lists_findings() {
    let fx = crate::common::root()
        .join("tests/fixtures/iptables/docker-swarm.nft.filter-vnxL-lines.txt");
    let out = crate::common::run_ok(
        crate::common::iptop()
            .args(["--once", "--format", "json", "--replay"])
            .arg(&fx),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"], serde_json::json!([]));
    let chains = v["tables"][0]["chains"].as_array().unwrap();
    for c in chains {
        let about = &c["about"];
        assert!(about["by"].is_string() && about["text"].is_string(), "{c}");
    }
    let user = chains.iter().find(|c| c["name"] == "DOCKER-USER").unwrap();
    assert_eq!(user["about"]["by"], "Docker");
    // a chain iptop knows nothing about: null
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mine.txt");
    fs::write(
        &p,
        "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target prot opt in out source destination\n    0     0 MINE  0    --  *      *       0.0.0.0/0            0.0.0.0/0\n\nChain MINE (1 references)\n pkts bytes target prot opt in out source destination\n",
    )
    .unwrap();
    let out = crate::common::run_ok(
        crate::common::iptop()
            .args(["--once", "--format", "json", "--replay"])
            .arg(&p),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mine = &v["tables"][0]["chains"][1];
    assert_eq!(mine["name"], "MINE");
    assert!(mine["about"].is_null(), "{mine}");
}
