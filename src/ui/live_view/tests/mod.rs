//! The live view's state machine without a terminal: actions on snapshots of the swarm
//! ruleset give the expected visible rows.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::model::{Rule, RuleSpec};
use crate::parse::parse_table;

const SWARM: &str =
    include_str!("../../../../tests/fixtures/iptables/docker-swarm.legacy.filter-vnxL.txt");

fn table() -> FirewallTable {
    let mut t = parse_table("filter", SWARM, None).expect("fixture");
    // start from small counters so that deltas are easy to read
    for c in &mut t.chains {
        let c = Arc::make_mut(c);
        c.packets = 0;
        c.bytes = 0;
        for k in &mut c.counters {
            *k = Default::default();
        }
    }
    t
}

fn snap(t: &FirewallTable, secs: u64) -> Arc<Snapshot> {
    Arc::new(Snapshot {
        taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs),
        at: Duration::from_secs(secs),
        took: Duration::from_millis(3),
        tables: vec![t.clone()],
        warnings: vec![],
        seq: secs,
    })
}

/// Adds packets (and 60 bytes each) to the first rule of `chain` whose target, match
/// text or output interface is `what`.
fn bump(t: &mut FirewallTable, chain: &str, what: &str, n: u64) {
    let c = t.chain_index(chain).expect("chain");
    let i = t.chains[c]
        .rules
        .iter()
        .position(|r| {
            r.spec.target == what || r.spec.extra.contains(what) || r.spec.out_iface == what
        })
        .expect("rule");
    let k = &mut t.chain_mut(c).counters[i];
    k.packets += n;
    k.bytes += 60 * n;
}

/// Inserts a rule (`-j TARGET`, protocol number `prot`, match text `extra`) at the top of
/// `chain`, with zero counters, as `iptables -I` would.
fn insert_rule(t: &mut FirewallTable, chain: &str, target: &str, prot: &str, extra: &str) {
    let c = t.chain_index(chain).expect("chain");
    t.chain_mut(c).counters.insert(0, Default::default());
    Arc::make_mut(&mut t.chain_mut(c).rules).insert(
        0,
        Rule {
            num: 1,
            spec: Arc::new(RuleSpec {
                target: target.into(),
                prot: prot.into(),
                opt: "--".into(),
                extra: extra.into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    t.chain_mut(c).assign_keys();
}

fn app_with(t: &FirewallTable) -> LiveView {
    let source = SourceInfo {
        kind: crate::model::SourceKind::Live,
        ..Default::default()
    };
    let mut app = LiveView::new(source, "filter", vec![], Duration::from_secs(1));
    app.set_viewport(30);
    app.on_snapshot("filter", snap(t, 0), false);
    app
}

/// The visible rows as `prefix + label`.
fn labels(app: &LiveView) -> Vec<String> {
    let t = app.table_data().table().expect("table");
    app.rows()
        .iter()
        .map(|r| format!("{}{}", r.prefix(), crate::cells::label(t, r)))
        .collect()
}

fn selected_label(app: &LiveView) -> String {
    let t = app.table_data().table().expect("table");
    let r = app.selected_row().expect("selection");
    let mut s = crate::cells::label(t, r);
    if let RowKind::Rule { chain, rule } = r.kind {
        let extra = &t.chains[chain].rules[rule].spec.extra;
        if !extra.is_empty() {
            s = format!("{s} {extra}");
        }
    }
    s
}

fn select(app: &mut LiveView, label: &str) {
    app.apply(Action::Top);
    for _ in 0..app.rows().len() {
        if selected_label(app) == label {
            return;
        }
        app.apply(Action::Down);
    }
    panic!("no row {label}: {:#?}", labels(app));
}

#[test]
fn opens_with_the_whole_swarm_path() {
    let app = app_with(&table());
    let l = labels(&app);
    for want in [
        "FORWARD (policy DROP)",
        "├─ DOCKER-USER",
        "├─ DOCKER-INGRESS",
        "├─ DOCKER-ISOLATION-STAGE-1",
        "│  ├─ DOCKER-ISOLATION-STAGE-2 ×2",
        "│  │  ├─ DROP",
    ] {
        assert!(l.iter().any(|x| x == want), "{want} in {l:#?}");
    }
    assert!(
        l.len() <= 36,
        "fits 120x40 with room for the header: {}",
        l.len()
    );
    assert_eq!(app.selected_index(), 0);
}

#[test]
fn collapse_expand_and_parent() {
    let mut app = app_with(&table());
    let all = app.rows().len();
    select(&mut app, "DOCKER-INGRESS");
    app.apply(Action::Collapse);
    // its three rules (no row for its end: it ends in an unconditional RETURN)
    assert_eq!(app.rows().len(), all - 3);
    assert_eq!(selected_label(&app), "DOCKER-INGRESS");
    app.apply(Action::Expand);
    assert_eq!(app.rows().len(), all);
    app.apply(Action::Expand); // already open: into it
    assert_eq!(selected_label(&app), "ACCEPT tcp dpt:80");
    app.apply(Action::Collapse); // a leaf: to the parent
    assert_eq!(selected_label(&app), "DOCKER-INGRESS");
    app.apply(Action::Toggle);
    assert_eq!(app.rows().len(), all - 3);
    app.apply(Action::CollapseAll);
    assert_eq!(
        labels(&app),
        [
            "INPUT (policy ACCEPT)",
            "FORWARD (policy DROP)",
            "OUTPUT (policy ACCEPT)"
        ]
    );
    app.apply(Action::ExpandAll);
    // ... and the two jumps into the empty DOCKER open onto what fell through it
    assert_eq!(app.rows().len(), all + 2);
}

#[test]
fn drill_into_a_chain_and_back() {
    let mut app = app_with(&table());
    select(&mut app, "DOCKER-INGRESS");
    let before = app.selected_index();
    app.apply(Action::Drill);
    assert_eq!(
        app.breadcrumb().as_deref(),
        Some("FORWARD › DOCKER-INGRESS")
    );
    assert_eq!(
        labels(&app),
        [
            "DOCKER-INGRESS (1 references)",
            "├─ ACCEPT",
            "├─ ACCEPT",
            "└─ RETURN"
        ]
    );
    // deeper: STAGE-1 is not reachable from here, so drill from the top again
    app.apply(Action::Back);
    assert_eq!(app.breadcrumb(), None);
    assert_eq!(app.selected_index(), before);
    select(&mut app, "DOCKER-ISOLATION-STAGE-1");
    app.apply(Action::Drill);
    app.apply(Action::Down);
    // a chain with two callers says so: its counters are the sum over both
    assert_eq!(selected_label(&app), "DOCKER-ISOLATION-STAGE-2 ×2");
    app.apply(Action::Drill);
    assert_eq!(
        app.breadcrumb().as_deref(),
        Some("FORWARD › DOCKER-ISOLATION-STAGE-1 › DOCKER-ISOLATION-STAGE-2")
    );
    app.apply(Action::Back);
    app.apply(Action::Back);
    assert_eq!(app.breadcrumb(), None);
    // Enter on a verdict does nothing but say why
    select(&mut app, "ACCEPT tcp dpt:80");
    app.apply(Action::Drill);
    assert!(app.breadcrumb().is_none());
    assert!(app.message.is_some());
}

#[test]
fn search_opens_what_hides_the_match() {
    let mut app = app_with(&table());
    select(&mut app, "DOCKER-INGRESS");
    app.apply(Action::Collapse);
    app.apply(Action::Top);
    app.apply(Action::SearchStart);
    for c in "dpt:80".chars() {
        app.apply(Action::SearchInput(c));
    }
    app.apply(Action::SearchConfirm);
    assert_eq!(selected_label(&app), "ACCEPT tcp dpt:80");
    // n / N walk the matches of another query, wrapping around
    app.apply(Action::SearchStart);
    for c in "drop".chars() {
        app.apply(Action::SearchInput(c));
    }
    app.apply(Action::SearchConfirm);
    let first = app.selected_index();
    assert_eq!(selected_label(&app), "DROP");
    // the two DROPs of the shared STAGE-2 (once), FORWARD's last rule and its policy
    assert_eq!(app.search.found, Some((1, 4)));
    app.apply(Action::SearchNext);
    assert!(app.selected_index() > first);
    assert_eq!(app.search.found, Some((2, 4)));
    app.apply(Action::SearchPrev);
    assert_eq!(app.selected_index(), first);
    // Esc while typing goes back to where the search began
    app.apply(Action::Top);
    app.apply(Action::SearchStart);
    app.apply(Action::SearchInput('z'));
    app.apply(Action::SearchInput('z'));
    assert!(
        app.message
            .as_deref()
            .is_some_and(|m| m.contains("no match"))
    );
    app.apply(Action::SearchCancel);
    assert_eq!(app.selected_index(), 0);
}

#[test]
fn moved_only_keeps_the_chain_path() {
    let t0 = table();
    let mut app = app_with(&t0);
    let mut t1 = t0.clone();
    bump(&mut t1, "FORWARD", "DOCKER-USER", 10);
    bump(&mut t1, "DOCKER-USER", "RETURN", 10);
    bump(&mut t1, "FORWARD", "DOCKER-INGRESS", 10);
    bump(&mut t1, "DOCKER-INGRESS", "dpt:80", 5);
    app.on_snapshot("filter", snap(&t1, 1), false);
    app.apply(Action::ToggleMovedOnly);
    assert_eq!(
        labels(&app),
        [
            "FORWARD (policy DROP)",
            "├─ DOCKER-USER",
            "│  └─ RETURN",
            "└─ DOCKER-INGRESS",
            "   └─ ACCEPT",
        ]
    );
    app.apply(Action::Back);
    assert!(!app.moved_only);
}

#[test]
fn selection_and_folds_survive_rule_churn() {
    let t0 = table();
    let mut app = app_with(&t0);
    select(&mut app, "DOCKER-ISOLATION-STAGE-1");
    app.apply(Action::Collapse);
    select(&mut app, "ACCEPT tcp dpt:80");
    let mut t1 = t0.clone();
    // a rule inserted at the top of FORWARD and of DOCKER-INGRESS
    for (chain, target) in [("FORWARD", "LOG"), ("DOCKER-INGRESS", "ACCEPT")] {
        insert_rule(&mut t1, chain, target, "17", "udp dpt:53");
    }
    app.on_snapshot("filter", snap(&t1, 1), false);
    assert_eq!(selected_label(&app), "ACCEPT tcp dpt:80");
    let l = labels(&app);
    let stage1 = l
        .iter()
        .position(|x| x == "├─ DOCKER-ISOLATION-STAGE-1")
        .expect("row");
    assert!(
        !l[stage1 + 1].starts_with("│  "),
        "STAGE-1 stays collapsed: {l:#?}"
    );
}

#[test]
fn search_sees_rules_added_since_the_last_search() {
    let mut t = table();
    let mut app = app_with(&t);
    let search = |app: &mut LiveView, q: &str| {
        app.apply(Action::SearchStart);
        for c in q.chars() {
            app.apply(Action::SearchInput(c));
        }
        app.apply(Action::SearchConfirm);
    };
    search(&mut app, "dpt:80");
    assert_eq!(selected_label(&app), "ACCEPT tcp dpt:80");
    // polls with the same rules keep the tree search walks; a new rule is found
    let mut same = t.clone();
    same.same_rules_as_prev = true;
    app.on_snapshot("filter", snap(&same, 1), false);
    insert_rule(
        &mut t,
        "DOCKER-ISOLATION-STAGE-2",
        "LOG",
        "6",
        "tcp dpt:9999",
    );
    app.on_snapshot("filter", snap(&t, 2), false);
    search(&mut app, "9999");
    assert_eq!(selected_label(&app), "LOG tcp dpt:9999");
    // it sits in a shared chain: found under the first jump, every level opened
    let r = app.selected_row().expect("row").clone();
    assert_eq!(r.depth, 3);
    let parent = &app.rows()[r.parent.expect("parent") as usize];
    let tb = app.table_data().table().expect("t");
    let RowKind::Rule { chain, rule } = parent.kind else {
        panic!("{parent:?}");
    };
    assert_eq!(&*tb.chains[chain].name, "DOCKER-ISOLATION-STAGE-1");
    assert_eq!(rule, 0);
}

mod counters;
mod findings;
mod trace;
