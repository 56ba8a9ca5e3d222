//! The `t` prompt: typing, Enter (start, change, stop), Esc; the poller's answer; the
//! last traced path marked in the tree.

use super::*;
use crate::source::trace::{Step, TracedPacket};
use crate::ui::action::{Action, Command};

fn typed(app: &mut LiveView, text: &str) {
    for c in text.chars() {
        assert!(app.apply(Action::SearchInput(c)).is_empty());
    }
}

#[test]
fn the_prompt_starts_changes_and_stops_a_trace() {
    let mut app = app_with(&table());
    assert!(!app.typing());
    app.apply(Action::TracePrompt);
    assert!(app.typing());
    assert_eq!(app.trace_prompt(), Some(""));
    // keys type: `q` does not quit, `T` does not switch panes
    typed(&mut app, "tcp dport 8Tq");
    assert!(!app.quit);
    app.apply(Action::SearchBackspace);
    app.apply(Action::SearchBackspace);
    app.apply(Action::SearchBackspace);
    typed(&mut app, "80 ");
    let out = app.apply(Action::SearchConfirm);
    assert_eq!(
        out.commands,
        vec![Command::Trace(Some("tcp dport 80".into()))]
    );
    assert!(!app.typing());
    // nothing runs until the poller says so
    assert_eq!(app.trace.expr, None);
    app.on_trace(Ok(Some("tcp dport 80".into())));
    assert_eq!(app.trace.expr.as_deref(), Some("tcp dport 80"));

    // prefilled with the running expression; Esc leaves it running
    app.apply(Action::TracePrompt);
    assert_eq!(app.trace_prompt(), Some("tcp dport 80"));
    typed(&mut app, " ip saddr 10.0.0.1");
    assert!(app.apply(Action::SearchCancel).commands.is_empty());
    assert!(!app.typing());
    assert_eq!(app.trace.expr.as_deref(), Some("tcp dport 80"));

    // cleared and Enter: stopped
    app.apply(Action::TracePrompt);
    for _ in 0.."tcp dport 80".len() {
        app.apply(Action::SearchBackspace);
    }
    let out = app.apply(Action::SearchConfirm);
    assert_eq!(out.commands, vec![Command::Trace(None)]);
    app.on_trace(Ok(None));
    assert_eq!(app.trace.expr, None);
    // an empty line with nothing running asks nothing
    app.apply(Action::TracePrompt);
    assert!(app.apply(Action::SearchConfirm).commands.is_empty());
}

#[test]
fn errors_go_to_the_status_line_and_replays_and_legacy_are_refused() {
    let mut app = app_with(&table());
    app.apply(Action::TracePrompt);
    typed(&mut app, "tcp dportx 80");
    app.apply(Action::SearchConfirm);
    app.on_trace(Err(
        "nft refused the --trace expression: syntax error".into()
    ));
    assert_eq!(app.trace.expr, None);
    assert!(app.message.as_deref().unwrap().contains("syntax error"));

    // the fixture is iptables-legacy's: nf_tables tracing would see nothing
    let mut t = table();
    t.backend = Some(crate::model::Backend::Legacy);
    let mut legacy = app_with(&t);
    legacy.apply(Action::TracePrompt);
    typed(&mut legacy, "tcp dport 80");
    assert!(legacy.apply(Action::SearchConfirm).commands.is_empty());
    assert!(
        legacy
            .message
            .as_deref()
            .unwrap()
            .contains("iptables-legacy")
    );

    let mut replay = app_with(&table());
    replay.source.kind = crate::model::SourceKind::Replay;
    replay.apply(Action::TracePrompt);
    typed(&mut replay, "tcp dport 80");
    assert!(replay.apply(Action::SearchConfirm).commands.is_empty());
    assert!(replay.message.as_deref().unwrap().contains("replay"));

    // Ctrl-c still quits from the prompt
    replay.apply(Action::TracePrompt);
    replay.apply(Action::Interrupt);
    assert!(replay.quit);
}

#[test]
fn the_last_traced_path_is_marked() {
    let t = table();
    let mut app = app_with(&t);
    app.on_trace(Ok(Some("tcp dport 80".into())));
    let step = |chain: &str, rule: Option<usize>, kind| Step {
        family: "ip".into(),
        table: "filter".into(),
        chain: chain.into(),
        handle: None,
        rule,
        verdict: "accept".into(),
        target: None,
        kind,
        dnat: false,
    };
    app.trace.push(
        TracedPacket {
            id: 1,
            time: None,
            summary: "tcp".into(),
            verdict: "accept".into(),
            place: String::new(),
            steps: vec![
                step("FORWARD", Some(1), "rule"),
                step("DOCKER-USER", None, "return"),
            ],
        },
        1,
        0,
    );
    let tb = app.table_data().table().expect("table").clone();
    let idx = |n: &str| tb.chains.iter().position(|c| &*c.name == n).expect(n);
    let (fwd, user) = (idx("FORWARD"), idx("DOCKER-USER"));
    let p = app.traced_path(&tb).expect("a path through filter");
    let marked: Vec<RowKind> = app
        .rows()
        .iter()
        .filter(|r| LiveView::traced_row(p, &tb, app.rows(), r))
        .map(|r| r.kind)
        .collect();
    assert!(
        marked.contains(&RowKind::Rule {
            chain: fwd,
            rule: 0
        }),
        "{marked:?}"
    );
    for k in &marked {
        assert!(
            *k == RowKind::Rule {
                chain: fwd,
                rule: 0
            } || *k == RowKind::Verdict { chain: user },
            "{k:?}"
        );
    }
    // another table's rows are not marked
    let mut nat = tb.clone();
    nat.name = "nat".into();
    assert!(app.traced_path(&nat).is_none());
}

/// A step of Docker 29's `ip docker-bridges` table.
fn native_step(chain: &str, rule: Option<usize>, verdict: &str, target: Option<&str>) -> Step {
    Step {
        family: "ip".into(),
        table: "docker-bridges".into(),
        chain: chain.into(),
        handle: None,
        rule,
        verdict: verdict.into(),
        target: target.map(str::to_string),
        kind: if rule.is_some() { "rule" } else { "policy" },
        dnat: false,
    }
}

/// The marked rows of every base chain's tree, all expanded, as `chain rule` (the rule
/// position, 0 for a verdict row) under `caller` (the rule the rows hang under).
fn marked_native(p: &TracedPacket) -> Vec<String> {
    let text = include_str!("../../../../tests/fixtures/nft/docker29-lab.txt");
    let t = crate::parse::nft::text::parse(text).remove(0);
    let roots: Vec<usize> = (0..t.chains.len())
        .filter(|&c| {
            t.chains[c]
                .native
                .as_ref()
                .is_some_and(|n| n.base.is_some())
        })
        .collect();
    let (rows, _) = crate::tree::build(&t, &roots, &|_| true, 10_000);
    let name = |r: &TreeRow| match r.kind {
        RowKind::Rule { chain, rule } => format!("{} {}", t.chains[chain].name, rule + 1),
        RowKind::Verdict { chain } => format!("{} 0", t.chains[chain].name),
        RowKind::Chain { chain } | RowKind::Ref { chain, .. } => t.chains[chain].name.to_string(),
    };
    rows.iter()
        .filter(|r| LiveView::traced_row(p, &t, &rows, r))
        .map(|r| {
            let up = r
                .parent
                .map(|i| name(&rows[i as usize]))
                .unwrap_or_default();
            format!("{} under {up}", name(r))
        })
        .collect()
}

#[test]
fn a_shared_chain_is_marked_under_the_caller_the_packet_came_from() {
    // a request to the published port from outside: PREROUTING's jump, then the DNAT
    let p = TracedPacket {
        id: 7,
        time: None,
        summary: "tcp".into(),
        verdict: "accept".into(),
        place: String::new(),
        steps: vec![
            native_step(
                "nat-PREROUTING",
                Some(1),
                "jump",
                Some("nat-prerouting-and-output"),
            ),
            native_step("nat-prerouting-and-output", Some(1), "accept", None),
            native_step(
                "filter-FORWARD",
                Some(1),
                "jump",
                Some("filter-forward-in__bridge1"),
            ),
            native_step("filter-forward-in__bridge1", Some(3), "accept", None),
        ],
    };
    let marked = marked_native(&p);
    // nat-prerouting-and-output is shown under nat-OUTPUT's jump too: not marked there
    assert!(
        marked.contains(&"nat-prerouting-and-output 1 under nat-PREROUTING 1".to_string()),
        "{marked:?}"
    );
    assert!(
        !marked.iter().any(|m| m.contains("under nat-OUTPUT")),
        "{marked:?}"
    );
    // through the verdict map: its rule, the element the packet took, the chain's rule
    for want in [
        "filter-FORWARD 1 under filter-FORWARD",
        "@filter-forward-in-jumps 2 under filter-FORWARD 1",
        "filter-forward-in__bridge1 3 under @filter-forward-in-jumps 2",
    ] {
        assert!(marked.contains(&want.to_string()), "{want}: {marked:?}");
    }
    // the other element (docker0) is not on the path
    assert!(!marked.iter().any(|m| m.contains("docker0")), "{marked:?}");

    // from the host itself: the same chain, marked under nat-OUTPUT only
    let mut from_host = p.clone();
    from_host.steps[0].chain = "nat-OUTPUT".into();
    let marked = marked_native(&from_host);
    assert!(
        marked.contains(&"nat-prerouting-and-output 1 under nat-OUTPUT 1".to_string()),
        "{marked:?}"
    );
    assert!(
        !marked.iter().any(|m| m.contains("under nat-PREROUTING")),
        "{marked:?}"
    );
}

#[test]
fn the_path_view_marks_the_traced_rows() {
    let text = include_str!("../../../../tests/fixtures/nft/docker29-lab.txt");
    let tables = crate::parse::nft::text::parse(text);
    let snap = Snapshot {
        taken_at: SystemTime::UNIX_EPOCH,
        at: Duration::ZERO,
        took: Duration::ZERO,
        tables,
        warnings: vec![],
        seq: 1,
    };
    let source = SourceInfo::default();
    let input = crate::report::Input {
        snapshot: &snap,
        deltas: None,
        window_start: None,
        source: &source,
        roots: &[],
        moved_only: false,
        names: None,
        window_note: None,
    };
    let p = TracedPacket {
        id: 7,
        time: None,
        summary: "tcp".into(),
        verdict: "accept".into(),
        place: String::new(),
        steps: vec![
            native_step(
                "nat-PREROUTING",
                Some(1),
                "jump",
                Some("nat-prerouting-and-output"),
            ),
            native_step("nat-prerouting-and-output", Some(1), "accept", None),
        ],
    };
    let traced = |t: &FirewallTable, rows: &[TreeRow], r: &TreeRow| {
        t.name == "docker-bridges" && LiveView::traced_row(&p, t, rows, r)
    };
    let theme = crate::ui::theme::Theme::default();
    let model = crate::derive::path::path(&input, crate::derive::Want::PICTURE);
    let lines: Vec<String> = crate::ui::path_picture::styled_lines(
        &model,
        &crate::report::path::LIVE_COLUMNS,
        false,
        &theme,
        Some(&traced),
    )
    .iter()
    .map(|l| l.iter().map(|(t, _)| t.as_str()).collect())
    .collect();
    let marked: Vec<&String> = lines.iter().filter(|l| l.contains('◆')).collect();
    assert_eq!(marked.len(), 2, "{lines:#?}");
    assert!(
        marked[0].contains("◆ nat-prerouting-and-output"),
        "{marked:?}"
    );
    assert!(marked[1].contains("◆ dnat"), "{marked:?}");
    // without a trace, nothing is marked
    let plain = crate::ui::path_picture::styled_lines(
        &model,
        &crate::report::path::LIVE_COLUMNS,
        false,
        &theme,
        None,
    );
    assert!(!plain.iter().flatten().any(|(t, _)| t.contains('◆')));
}

#[test]
fn a_packet_picked_stays_picked_while_new_ones_arrive() {
    let mut app = app_with(&table());
    app.on_trace(Ok(Some("tcp dport 80".into())));
    let packet = |id: u32, summary: &str| TracedPacket {
        id,
        time: None,
        summary: summary.into(),
        verdict: "accept".into(),
        place: String::new(),
        steps: Vec::new(),
    };
    app.apply(Action::ToggleTrace);
    // the newest is followed while nothing was picked
    app.on_traced(packet(1, "syn"), 1, 0);
    app.on_traced(packet(2, "ack"), 2, 0);
    assert_eq!(app.trace().selected, 1);
    // `g`: the oldest, kept while more arrive (even when it was the only one)
    app.apply(Action::Top);
    app.on_traced(packet(3, "ack"), 3, 0);
    assert_eq!(app.trace().selected, 0);
    app.apply(Action::Drill);
    assert!(app.trace().open);
    assert_eq!(app.trace().packets[app.trace().selected].summary, "syn");
    app.apply(Action::Drill);
    // down to the bottom: the newest is followed again
    app.apply(Action::Bottom);
    app.on_traced(packet(4, "fin"), 4, 0);
    assert_eq!(app.trace().selected, 3);

    // the only packet, then `g` and a second one: still the first
    let mut app = app_with(&table());
    app.on_trace(Ok(Some("tcp dport 80".into())));
    app.apply(Action::ToggleTrace);
    app.on_traced(packet(1, "syn"), 1, 0);
    app.apply(Action::Top);
    app.on_traced(packet(2, "ack"), 2, 0);
    assert_eq!(app.trace().selected, 0);
}
