use super::*;
use crate::model::{Snapshot, SourceInfo};

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
pub(crate) fn docker29() -> crate::model::Snapshot {
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

/// An export's input of `snap` without a window.
pub(crate) fn input_of<'a>(snap: &'a Snapshot, source: &'a SourceInfo) -> Input<'a> {
    Input {
        snapshot: snap,
        deltas: None,
        window_start: None,
        source,
        roots: &[],
        moved_only: false,
        names: None,
        window_note: None,
    }
}

#[test]
fn native_base_chains_by_priority() {
    let snap = docker29();
    let source = SourceInfo::default();
    let model = path(&input_of(&snap, &source), Want::JSON);
    let on = |name: &str| -> Vec<(String, i64, bool)> {
        let h = model.hooks.iter().find(|h| h.name == name).expect(name);
        h.chains
            .iter()
            .map(|hc| (hc.chain_label.clone(), hc.priority, hc.same_priority))
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
    // the vmap rule counts nothing: no count, never 0
    let fwd = model
        .hooks
        .iter()
        .find(|h| h.name == "FORWARD")
        .expect("FORWARD");
    let t = &snap.tables[fwd.chains[0].table];
    let vmap = fwd.chains[0]
        .rows
        .iter()
        .zip(&fwd.chains[0].counts)
        .find(|(r, _)| match r.kind {
            RowKind::Rule { chain, rule } => t.chains[chain].rules[rule]
                .native
                .as_ref()
                .is_some_and(|n| &*n.text == "oifname vmap @filter-forward-in-jumps"),
            _ => false,
        })
        .expect("vmap row");
    assert_eq!(vmap.1.count, None);
}
