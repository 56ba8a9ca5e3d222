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
        .filter(|r| LiveView::traced_row(p, &tb, r))
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
