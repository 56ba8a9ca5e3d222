//! The JSON of version 1 against its schema (assets/iptop-v1.schema.json): every fixture
//! listing, the Services recordings, the demo, and live output of the lab with real
//! requests. The schema requires every field iptop has ever printed in version 1, so a
//! renamed or removed field fails here; it allows new ones.

use crate::common::{Lab, iptop, root, run_ok};
use serde_json::Value;

pub(crate) fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("assets/iptop-v1.schema.json")).expect("schema");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

pub(crate) fn check(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

fn json_of(args: &[&str]) -> Value {
    let out = run_ok(iptop().args(args));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn fixtures_demo_and_services_match_the_schema() {
    let v = validator();
    let dir = root().join("tests/fixtures/iptables");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("fixtures") {
        let p = e.expect("entry").path();
        let name = p
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        if !name.ends_with(".txt") || !name.contains("-vn") {
            continue;
        }
        // edge.nft.mangle-vnxL.txt: the table is the third part
        let table = name
            .split('.')
            .nth(2)
            .and_then(|t| t.split('-').next())
            .expect("table");
        let path = p.display().to_string();
        let doc = json_of(&["--replay", &path, "-t", table, "--once", "--format", "json"]);
        check(&v, &doc, &name);
        n += 1;
    }
    assert!(n >= 20, "only {n} fixtures");
    for extra in [
        &[][..],
        &["--moved-only"][..],
        &["-t", "filter", "-t", "nat"][..],
    ] {
        let mut args = vec!["--demo", "--once", "--window", "2s", "--format", "json"];
        args.extend_from_slice(extra);
        let doc = json_of(&args);
        check(&v, &doc, &format!("demo {extra:?}"));
        assert!(
            doc["tables"][0]["chains"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        );
    }
    for rec in ["kube-comments.rec", "kube-plain.rec"] {
        let path = root()
            .join("tests/fixtures/services")
            .join(rec)
            .display()
            .to_string();
        let doc = json_of(&[
            "--replay", &path, "--once", "--window", "3s", "--view", "services", "--format", "json",
        ]);
        check(&v, &doc, rec);
        assert_eq!(doc["view"], "services");
    }
}

type Breaks = fn(&mut Value);

/// The first rule of the first table.
fn rule(d: &mut Value) -> &mut Value {
    let chains = d["tables"][0]["chains"].as_array_mut().expect("chains");
    let c = chains
        .iter_mut()
        .find(|c| c["rules"].as_array().is_some_and(|r| !r.is_empty()))
        .expect("a chain with rules");
    &mut c["rules"][0]
}

#[test]
fn the_schema_refuses_what_v1_must_keep() {
    let v = validator();
    let good = json_of(&["--demo", "--once", "--window", "2s", "--format", "json"]);
    check(&v, &good, "demo");
    let breakages: [(&str, Breaks); 5] = [
        ("a rule without protocol", |r| {
            r.as_object_mut().expect("rule").remove("protocol");
        }),
        ("a rule's prot renamed", |r| {
            let p = r["prot"].take();
            let o = r.as_object_mut().expect("rule");
            o.remove("prot");
            o.insert("proto".into(), p);
        }),
        ("a rate as text", |r| r["rate_pps"] = "12.5".into()),
        ("a comment as a number", |r| r["comment"] = 3.into()),
        ("a negative counter", |r| r["packets"] = (-1).into()),
    ];
    for (what, breaks) in breakages {
        let mut bad = good.clone();
        breaks(rule(&mut bad));
        assert!(!v.is_valid(&bad), "the schema accepts {what}");
    }
    // a chain's fell-through fields: present, typed, the note one of its words
    let chain_breakages: [(&str, Breaks); 3] = [
        ("a chain without fell_through_exact", |c| {
            c.as_object_mut()
                .expect("chain")
                .remove("fell_through_exact");
        }),
        ("fell_through_exact as text", |c| {
            c["fell_through_exact"] = "yes".into();
        }),
        ("an unknown fell_through_note", |c| {
            c["fell_through_note"] = "guessed".into();
        }),
    ];
    for (what, breaks) in chain_breakages {
        let mut bad = good.clone();
        breaks(&mut bad["tables"][0]["chains"][0]);
        assert!(!v.is_valid(&bad), "the schema accepts {what}");
    }
    // new fields are fine: v1 grows
    let mut grown = good.clone();
    rule(&mut grown)["something_new"] = true.into();
    grown["also_new"] = 1.into();
    check(&v, &grown, "grown");
    let mut wrong = good;
    wrong["version"] = 2.into();
    assert!(!v.is_valid(&wrong));
}

#[test]
fn rates_have_three_decimals_protocol_and_comment_fields() {
    let doc = json_of(&[
        "--demo", "--once", "--window", "2s", "--format", "json", "-t", "nat",
    ]);
    let mut rates = 0;
    for t in doc["tables"].as_array().expect("tables") {
        for c in t["chains"].as_array().expect("chains") {
            for r in c["rules"].as_array().expect("rules") {
                if let Some(x) = r["rate_pps"].as_f64() {
                    rates += 1;
                    let text = r["rate_pps"].to_string();
                    let decimals = text.split('.').nth(1).map_or(0, str::len);
                    assert!(decimals <= 3, "{text}");
                    assert!((x * 1000.0 - (x * 1000.0).round()).abs() < 1e-6, "{x}");
                }
                let prot = r["prot"].as_str().expect("prot");
                let name = r["protocol"].as_str().expect("protocol");
                match prot {
                    "0" => assert_eq!(name, "all"),
                    "6" => assert_eq!(name, "tcp"),
                    "17" => assert_eq!(name, "udp"),
                    _ => {}
                }
                let extra = r["extra"].as_str().expect("extra");
                match extra.find("/* ") {
                    Some(i) => {
                        let c = r["comment"].as_str().expect("comment");
                        assert!(extra[i..].starts_with(&format!("/* {c} */")), "{r}");
                    }
                    None => assert!(r["comment"].is_null(), "{r}"),
                }
            }
        }
    }
    assert!(rates > 5, "{rates} rates");
}

/// Live output of the lab while requests come in, against the schema.
#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn lab_output_matches_the_schema() {
    let v = validator();
    let lab = Lab::up("iptables-restore");
    let out = lab.once_during(
        &[
            "--once", "--window", "2s", "-t", "filter", "-t", "nat", "--format", "json",
        ],
        || lab.curl(3),
    );
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    check(&v, &doc, "lab");
    assert_eq!(doc["source"]["kind"], "live");
    let moved = doc["tables"][0]["chains"]
        .as_array()
        .expect("chains")
        .iter()
        .flat_map(|c| c["rules"].as_array().expect("rules").iter())
        .any(|r| r["delta_packets"].as_u64().unwrap_or(0) > 0);
    assert!(moved, "the requests moved nothing");
}
