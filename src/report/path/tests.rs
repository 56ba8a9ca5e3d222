use super::*;

#[test]
fn hooks_run_in_netfilter_order() {
    let names: Vec<&str> = HOOKS.iter().map(|h| h.0).collect();
    assert_eq!(
        names,
        ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]
    );
    // every table of a hook has that built-in chain
    for (hook, tables) in HOOKS {
        for t in tables {
            assert!(builtin_chains(t).contains(&hook), "{t} {hook}");
        }
    }
    assert_eq!(HOOKS[0].1, ["raw", "mangle", "nat"]);
    assert_eq!(HOOKS[3].1, ["raw", "mangle", "nat", "filter", "security"]);
}

/// iptables' nat table beside Docker 29's `ip docker-bridges` (the lab's captured
/// ruleset): every base chain on its hook by priority, equal priorities marked.
fn docker29() -> crate::model::Snapshot {
    let nat = "Chain PREROUTING (policy ACCEPT 0 packets, 0 bytes)\n    \
               pkts      bytes target     prot opt in     out     source               destination\n\n\
               Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n    \
               pkts      bytes target     prot opt in     out     source               destination\n\n\
               Chain OUTPUT (policy ACCEPT 0 packets, 0 bytes)\n    \
               pkts      bytes target     prot opt in     out     source               destination\n\n\
               Chain POSTROUTING (policy ACCEPT 0 packets, 0 bytes)\n    \
               pkts      bytes target     prot opt in     out     source               destination\n";
    let mut tables = vec![crate::parse::parse_table("nat", nat, None).expect("nat")];
    let json = include_str!("../../../tests/fixtures/nft/docker29-lab.json");
    let text = include_str!("../../../tests/fixtures/nft/docker29-lab.txt");
    tables.extend(crate::parse::nft::parse_ruleset(json, Some(text)).expect("fixture"));
    crate::model::Snapshot {
        taken_at: std::time::SystemTime::UNIX_EPOCH,
        at: std::time::Duration::ZERO,
        took: std::time::Duration::ZERO,
        tables,
        warnings: vec![],
        seq: 1,
    }
}

#[test]
fn native_base_chains_by_priority() {
    let snap = docker29();
    let source = crate::model::SourceInfo::default();
    let input = Input {
        snapshot: &snap,
        deltas: None,
        window_start: None,
        source: &source,
        roots: &[],
        moved_only: false,
        names: None,
        window_note: None,
    };
    let hooks = hooks(&input);
    let on = |name: &str| -> Vec<(String, i64, bool)> {
        let h = hooks.iter().find(|h| h.name == name).expect(name);
        h.chains
            .iter()
            .map(|hc| {
                let t = &snap.tables[hc.table];
                (
                    chain_label(&snap.tables, t, hc.chain),
                    hc.priority,
                    hc.same_priority,
                )
            })
            .collect()
    };
    assert_eq!(
        on("PREROUTING"),
        [
            ("ip docker-bridges raw-PREROUTING".into(), -300, false),
            ("nat".into(), -100, true),
            ("ip docker-bridges nat-PREROUTING".into(), -100, true),
        ]
    );
    assert_eq!(
        on("POSTROUTING"),
        [
            ("nat".into(), 100, true),
            ("ip docker-bridges nat-POSTROUTING".into(), 100, true),
        ]
    );
    let out = render_text(&input);
    assert!(
        out.contains("hook PREROUTING · ip docker-bridges raw-PREROUTING (-300), nat = ip docker-bridges nat-PREROUTING (-100, same priority)"),
        "{out}"
    );
    assert!(
        out.contains("nat PREROUTING (policy ACCEPT)  ")
            || out.contains("nat PREROUTING (policy ACCEPT) "),
        "{out}"
    );
    let raw = out
        .find("ip docker-bridges raw-PREROUTING (policy")
        .expect("raw row");
    let nat = out.find("nat PREROUTING (policy ACCEPT)").expect("nat row");
    assert!(raw < nat, "{out}");
    assert!(
        out.contains("same priority (-100) as ip docker-bridges nat-PREROUTING: their order is registration order"),
        "{out}"
    );
    // the vmap rule counts nothing: null in JSON, never 0
    let json: serde_json::Value = serde_json::from_str(&render_json(&input)).expect("json");
    let fwd = json["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hook"] == "FORWARD")
        .unwrap();
    let vmap = fwd["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["text"] == "oifname vmap @filter-forward-in-jumps")
        .expect("vmap row");
    assert!(
        vmap["packets"].is_null() && vmap["handle"].as_u64().unwrap() > 0,
        "{vmap}"
    );
    assert_eq!(fwd["chains"][0]["chain"], "filter-FORWARD");
}
