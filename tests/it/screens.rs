//! The real render code on ratatui's TestBackend, compared as insta snapshots: the swarm
//! demo recording (real lab traffic) at 120x40 and 80x24, drilled in, the help overlay,
//! the hot view, a failed poll, and a tiny terminal. Clocks are blanked.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream;
use iptop::source::replay::ReplaySource;
use iptop::source::snapshot_from;
use iptop::source::{DEMO, Source};
use iptop::ui::live_view::{Action, LiveView};
use iptop::ui::theme::Theme;
use iptop::ui::{event_loop, poller, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn demo_app(polls: usize) -> LiveView {
    app_of(DEMO, "filter", polls)
}

/// The live view fed `polls` polls of the recording `text` (filter and nat), findings
/// evaluated after each poll as the UI loop does.
fn app_of(text: &str, table: &str, polls: usize) -> LiveView {
    app_named(text, table, polls, None)
}

/// [`app_of`] with names from Docker, known from the start as the live view has them.
fn app_named(
    text: &str,
    table: &str,
    polls: usize,
    names: Option<iptop::docker::Names>,
) -> LiveView {
    let mut r = ReplaySource::from_text("demo", text, None)
        .expect("demo")
        .with_kind(iptop::model::SourceKind::Demo);
    let mut app = LiveView::new(r.info().clone(), table, vec![], Duration::from_secs(1));
    app.names = names.map(Arc::new);
    for _ in 0..polls {
        let raw = r.next_poll().expect("poll");
        for t in ["filter", "nat", "mangle", "raw"] {
            if !raw.listings.iter().any(|l| l.table == t) {
                continue;
            }
            let s = snapshot_from(&raw, &[t.into()]).expect("snapshot");
            app.on_snapshot(t, Arc::new(s), raw.discontinuity);
        }
        app.evaluate_findings();
    }
    app
}

/// The demo with a DOCKER-USER rule that matches the published port (8080) after DNAT,
/// where the container's port is seen: the `docker-user-dport` trap.
fn demo_with_a_trap() -> String {
    let re = regex::Regex::new(r"(Chain DOCKER-USER \(1 references\)\nnum .*\n)1 ").expect("re");
    let text = re.replace_all(
        DEMO,
        "${1}1           0        0 DROP       6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:8080\n2 ",
    );
    recount_ends(&text)
}

/// A recording edited by hand, each poll's `@end N` set again to its count of lines (from
/// its `@poll` line on).
fn recount_ends(text: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    for line in text.lines() {
        if line.starts_with("@poll ") {
            n = 0;
        }
        if line.starts_with("@end ") {
            out.push_str(&format!("@end {n}\n"));
            continue;
        }
        n += 1;
        out.push_str(line);
        out.push('\n');
    }
    out
}

pub(crate) fn screen(app: &mut LiveView, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| {
        app.layout(f.area());
        render::draw(f, app, &Theme::default());
    })
    .expect("draw");
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    // blank the clock: `polled 12:45:52 in 4ms`
    let re = regex::Regex::new(r"\d\d:\d\d:\d\d").expect("re");
    re.replace_all(&out, "HH:MM:SS").into_owned()
}

#[test]
fn swarm_120x40() {
    let mut app = demo_app(3);
    insta::assert_snapshot!(screen(&mut app, 120, 40));
}

#[test]
fn swarm_80x24() {
    let mut app = demo_app(3);
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn swarm_nat_120x40() {
    let mut app = demo_app(3);
    app.apply(Action::SelectTable(1));
    insta::assert_snapshot!(screen(&mut app, 120, 40));
}

#[test]
fn drilled_into_docker_ingress() {
    let mut app = demo_app(3);
    app.set_viewport(30);
    app.apply(Action::SearchStart);
    for c in "DOCKER-INGRESS".chars() {
        app.apply(Action::SearchInput(c));
    }
    app.apply(Action::SearchConfirm);
    app.apply(Action::Drill);
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("FORWARD › DOCKER-INGRESS"));
    assert!(!s.contains("DOCKER-USER"), "no FORWARD siblings:\n{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn help_overlay() {
    let mut app = demo_app(2);
    app.apply(Action::ToggleHelp);
    insta::assert_snapshot!(screen(&mut app, 120, 40));
}

/// At 80x24 the help does not fit: its descriptions wrap under themselves and the arrows
/// scroll it down to its last rows (quit, the chain's note); any other key closes it.
#[test]
fn help_overlay_80x24_wraps_and_scrolls() {
    let mut app = demo_app(2);
    app.apply(Action::ToggleHelp);
    let top = screen(&mut app, 80, 24);
    assert!(top.contains("more ┘"), "{top}");
    insta::assert_snapshot!("help_80x24_top", top);
    for _ in 0..3 {
        app.apply(Action::PageDown);
    }
    let end = screen(&mut app, 80, 24);
    assert!(end.contains("quit (q here: close this help)"), "{end}");
    assert!(end.contains("end ┘"), "{end}");
    insta::assert_snapshot!("help_80x24_end", end);
    // scrolled past the end, one key up moves at once
    app.apply(Action::Up);
    assert!(screen(&mut app, 80, 24).contains("1 more ┘"));
    app.apply(Action::Export);
    assert!(!app.shows_help(), "any other key closes it");
}

#[test]
fn findings_badge_in_the_header() {
    let mut app = app_of(&demo_with_a_trap(), "filter", 3);
    let s = screen(&mut app, 120, 40);
    let header = s.lines().next().expect("header");
    // the trap, and the demo's own policy drop
    assert!(header.ends_with("! 2 findings"), "{header}");
    insta::assert_snapshot!(s);
}

#[test]
fn findings_pane_and_enter_on_a_finding() {
    let mut app = app_of(&demo_with_a_trap(), "nat", 3);
    app.apply(Action::ToggleFindings);
    let s = screen(&mut app, 120, 40);
    assert!(
        s.contains("warning  docker-user-dport     now filter DOCKER-USER › 1"),
        "{s}"
    );
    insta::assert_snapshot!(s);
    app.apply(Action::Drill);
    let s = screen(&mut app, 120, 40);
    assert!(s.starts_with(" iptop · filter"), "{s}");
    assert!(s.contains("DOCKER-USER rule 1 of 2"), "{s}");
    assert!(s.contains("tcp dpt:8080"), "{s}");
}

/// The demo's recording has real packets dropped by FORWARD's policy every few seconds:
/// `!` lists `policy-drop`; before any Δ (one poll) there is no finding.
#[test]
fn the_demo_shows_a_policy_drop() {
    let mut app = demo_app(1);
    assert!(app.findings().is_empty(), "{:?}", app.findings());
    app.apply(Action::ToggleFindings);
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("no finding in the last 10s"), "{s}");
    let mut app = demo_app(3);
    let header = screen(&mut app, 120, 40);
    assert!(
        header
            .lines()
            .next()
            .unwrap_or_default()
            .ends_with("! 1 finding"),
        "{header}"
    );
    app.apply(Action::ToggleFindings);
    let s = screen(&mut app, 120, 40);
    let line = s
        .lines()
        .find(|l| l.contains("policy-drop"))
        .unwrap_or_else(|| panic!("{s}"));
    assert!(
        line.contains("filter") && line.contains("FORWARD"),
        "{line}"
    );
}

#[test]
fn help_names_the_selected_chains_note() {
    let mut app = demo_app(2);
    app.set_viewport(30);
    app.apply(Action::SearchStart);
    for c in "DOCKER-INGRESS".chars() {
        app.apply(Action::SearchInput(c));
    }
    app.apply(Action::SearchConfirm);
    app.apply(Action::ToggleHelp);
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("DOCKER-INGRESS — written by Docker"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn services_view_of_kube_proxy() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/services/kube-comments.rec"),
    )
    .expect("fixture");
    let mut app = app_of(&text, "nat", 2);
    app.apply(Action::ToggleServices);
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("SERVICE"), "{s}");
    insta::assert_snapshot!(s);
}

/// The demo's filter table from nft next to a legacy filter table with one INPUT rule,
/// as `--backend auto` polls a host whose rules are in both.
fn two_backends_app(polls: usize) -> LiveView {
    use iptop::model::Backend;
    let legacy_text = "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n    pkts      bytes target     prot opt in     out     source               destination\n       7      420 ACCEPT     0    --  *      *       0.0.0.0/0            0.0.0.0/0\n\nChain FORWARD (policy ACCEPT 0 packets, 0 bytes)\n    pkts      bytes target     prot opt in     out     source               destination\n\nChain OUTPUT (policy ACCEPT 0 packets, 0 bytes)\n    pkts      bytes target     prot opt in     out     source               destination\n";
    let mut r = ReplaySource::from_text("demo", DEMO, None)
        .expect("demo")
        .with_kind(iptop::model::SourceKind::Demo);
    let mut app = LiveView::new(r.info().clone(), "filter", vec![], Duration::from_secs(1));
    for _ in 0..polls {
        let raw = r.next_poll().expect("poll");
        let mut s = snapshot_from(&raw, &["filter".into()]).expect("snapshot");
        s.tables[0].backend = Some(Backend::Nft);
        let mut legacy = iptop::parse::parse_table("filter", legacy_text, None).expect("legacy");
        legacy.backend = Some(Backend::Legacy);
        s.tables.push(legacy);
        s.warnings.push("table filter holds rules in both iptables-nft and iptables-legacy: the kernel evaluates both rule sets, and each tool shows only its own half".into());
        app.on_snapshot("filter", Arc::new(s), raw.discontinuity);
        let n = snapshot_from(&raw, &["nat".into()]).expect("nat");
        app.on_snapshot("nat", Arc::new(n), raw.discontinuity);
        app.evaluate_findings();
    }
    app
}

#[test]
fn two_backends_two_tabs() {
    let mut app = two_backends_app(3);
    let s = screen(&mut app, 120, 40);
    assert!(s.contains(" 1 filter·nft  filter·legacy  2 nat"), "{s}");
    assert!(s.contains("DOCKER-INGRESS"), "{s}");
    assert!(
        app.findings()
            .iter()
            .any(|f| f.finding.id == "both-backends")
    );
    // 1 again: the legacy half, its own tree
    app.apply(Action::SelectTable(0));
    let s = screen(&mut app, 120, 40);
    assert!(s.starts_with(" iptop · filter·legacy"), "{s}");
    assert!(!s.contains("DOCKER-INGRESS"), "{s}");
    insta::assert_snapshot!(s);
    // the selection of each tab is its own
    app.apply(Action::Down);
    app.apply(Action::NextTable);
    assert_eq!(app.table_name(), "nat");
    app.apply(Action::PrevTable);
    assert_eq!(app.tab_label(app.current()), "filter·legacy");
    assert_eq!(app.selected_index(), 1);
}

#[test]
fn hot_view() {
    let mut app = demo_app(3);
    app.apply(Action::ToggleHot);
    insta::assert_snapshot!(screen(&mut app, 120, 40));
}

/// At 80x24 the hot view keeps each rule's match (two ACCEPTs of DOCKER-INGRESS told
/// apart) and gives up PEAK and the far end of the chain path first.
#[test]
fn hot_view_80x24() {
    let mut app = demo_app(3);
    app.apply(Action::ToggleHot);
    let s = screen(&mut app, 80, 24);
    assert!(
        s.lines()
            .any(|l| l.contains("ACCEPT") && l.trim_end().ends_with("tcp dpt:80")),
        "{s}"
    );
    assert!(s.contains("state RELATED"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn failed_poll_keeps_the_last_snapshot() {
    let mut app = demo_app(2);
    // a failure whose whole text is given (the screen shows an error's text as it is)
    app.on_error(
        "filter",
        iptop::source::PollError::Damaged {
            table: "filter".into(),
            detail: "table filter: another program holds the xtables lock (Another app is currently holding the xtables lock.)".into(),
        },
    );
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("STALE"), "{s}");
    assert!(s.contains("xtables lock"), "{s}");
    assert!(s.contains("DOCKER-INGRESS"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn a_failed_poll_outranks_a_background_notice() {
    let mut app = demo_app(2);
    app.notify("native nftables tables cannot be shown: the `nft` program is not installed".into());
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("cannot be shown"), "the notice is said:\n{s}");
    app.on_error(
        "filter",
        iptop::source::PollError::Damaged {
            table: "filter".into(),
            detail: "listing table filter took longer than 2s; iptables was killed".into(),
        },
    );
    let s = screen(&mut app, 120, 40);
    let status = s.lines().last().unwrap_or("");
    assert!(status.contains("took longer than 2s"), "{s}");
    assert!(!s.contains("cannot be shown"), "{s}");
}

#[test]
fn tiny_terminals_draw_without_panicking() {
    for (w, h) in [(20, 5), (1, 1), (5, 2), (40, 3), (200, 2), (10, 60)] {
        let mut app = demo_app(2);
        let s = screen(&mut app, w, h);
        assert_eq!(s.lines().count(), h as usize);
        app.apply(Action::ToggleHelp);
        screen(&mut app, w, h);
        app.apply(Action::Down);
        app.apply(Action::ToggleHot);
        screen(&mut app, w, h);
    }
    let mut app = demo_app(2);
    insta::assert_snapshot!(screen(&mut app, 20, 5));
}

#[test]
fn the_loop_runs_on_a_test_backend() {
    // The real event loop: a stepwise demo replay, keys from a stream, quit with q.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let src = ReplaySource::from_text("demo", DEMO, None)
            .expect("demo")
            .with_kind(iptop::model::SourceKind::Demo);
        let mut app = LiveView::new(src.info().clone(), "filter", vec![], Duration::from_secs(1));
        app.set_step_mode(true);
        let mut p = poller::spawn(
            iptop::source::PollLoop::new(Source::Replay(Box::new(src)), None),
            poller::PollerConfig {
                table: "filter".into(),
                also: vec![],
                first: None,
                interval: Duration::from_secs(1),
                step: true,
                all_tables: false,
                native: None,
                trace: None,
                trace_rate: 10,
                timeout: Duration::from_secs(5),
            },
        );
        use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
        let key = |c: KeyCode| Ok(Event::Key(KeyEvent::new(c, KeyModifiers::NONE)));
        // Each key is answered after the poller's first message arrives (step mode: one poll).
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut events = tokio_stream_from(rx);
        let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
        tx.send(key(KeyCode::Char('.'))).expect("send");
        let driver = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            tx.send(key(KeyCode::Char('j'))).expect("send");
            tx.send(key(KeyCode::Char('q'))).expect("send");
        };
        let export_to = iptop::ui::ExportTo {
            dir: std::env::temp_dir(),
            format: iptop::report::Format::Text,
        };
        let (res, _) = tokio::join!(
            event_loop(
                &mut term,
                &mut app,
                Theme::default(),
                &mut events,
                &mut p,
                std::future::pending::<()>(),
                &export_to,
            ),
            driver
        );
        res.expect("loop");
        assert!(app.quit);
        assert!(
            app.table_data().polls >= 2,
            "two steps polled: {}",
            app.table_data().polls
        );
        assert_eq!(app.selected_index(), 1);
    });
}

fn tokio_stream_from(
    rx: tokio::sync::mpsc::UnboundedReceiver<std::io::Result<crossterm::event::Event>>,
) -> impl futures_util::Stream<Item = std::io::Result<crossterm::event::Event>> + Unpin {
    Box::pin(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (e, rx))
    }))
}

#[test]
fn path_view_120x40() {
    let mut app = demo_app(3);
    let asked = app.apply(Action::TogglePath);
    // the poller is asked for every table
    assert!(
        asked
            .commands
            .contains(&iptop::ui::action::Command::AllTables(true))
    );
    let s = screen(&mut app, 120, 40);
    let at = |needle: &str| s.find(needle).unwrap_or_else(|| panic!("{needle} in\n{s}"));
    // nat's PREROUTING (the DNAT) comes before filter's FORWARD
    assert!(at("hook PREROUTING") < at("nat PREROUTING"));
    assert!(at("to:172.18.0.2:80") < at("filter FORWARD"));
    insta::assert_snapshot!(s);
    // f: only what moved, hook by hook
    app.apply(Action::ToggleMovedOnly);
    let moved = screen(&mut app, 120, 40);
    assert!(!moved.contains("filter INPUT"), "{moved}");
    assert!(moved.contains("nat PREROUTING"), "{moved}");
    app.apply(Action::ToggleMovedOnly);
    // the keys scroll it: a line down, a page, back to the top
    let first_line = |s: &str| s.lines().nth(2).unwrap_or_default().to_string();
    let top = screen(&mut app, 120, 12);
    app.apply(Action::Down);
    let down = screen(&mut app, 120, 12);
    assert_eq!(
        first_line(&down),
        top.lines().nth(3).unwrap_or_default(),
        "Down scrolls a line:\n{top}\n{down}"
    );
    app.apply(Action::Top);
    assert_eq!(first_line(&screen(&mut app, 120, 12)), first_line(&top));
    app.apply(Action::Back);
    assert!(app.screen() != iptop::ui::mode::Screen::Path);
}

/// Names from Docker beside the interface and the address, as text output puts them
/// (`docker0 (bridge)`, `!docker0 (bridge)`), the container behind the DNAT target in
/// the nat tree, and the detail pane keeping the negation.
#[test]
fn docker_names_beside_the_values() {
    let names = iptop::docker::Names::from_api(
        &serde_json::json!([
            {"Name": "bridge", "Id": "9f1c0e3e2b4d", "Driver": "bridge",
             "Options": {"com.docker.network.bridge.name": "docker0"},
             "IPAM": {"Config": [{"Subnet": "172.17.0.0/16"}]}},
            {"Name": "docker_gwbridge", "Id": "5a6f7081920a", "Driver": "bridge",
             "Options": {"com.docker.network.bridge.name": "docker_gwbridge"},
             "IPAM": {"Config": [{"Subnet": "172.18.0.0/16"}]}}
        ]),
        &serde_json::json!([
            {"Names": ["/sbox\u{1b}"], "NetworkSettings": {"Networks": {"docker_gwbridge": {"IPAddress": "172.18.0.2"}}}}
        ]),
    );
    let mut app = app_named(DEMO, "nat", 3, Some(names));
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("DNAT → 172.18.0.2:80 (sbox\\x1b)"), "{s}");
    assert!(s.contains("docker0 (bridge)"), "{s}");
    assert!(!s.contains('\u{1b}'), "hostile names are escaped:\n{s}");
    // at 80 columns the port and the target stay readable
    let narrow = screen(&mut app, 80, 24);
    assert!(narrow.contains("DNAT → 172.18.0.2:80"), "{narrow}");
    assert!(narrow.contains("tcp dpt:80"), "{narrow}");
    // filter's `docker0 !docker0` ACCEPT: the detail says `out !docker0 (bridge)`
    app.apply(Action::SelectTable(0));
    app.set_viewport(30);
    app.apply(Action::SearchStart);
    for ch in "!docker0".chars() {
        app.apply(Action::SearchInput(ch));
    }
    app.apply(Action::SearchConfirm);
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("!docker0 (bridge)"), "{s}");
    assert!(
        s.contains("Docker: in docker0 (bridge) · out !docker0 (bridge)")
            || s.contains("Docker: out !docker0 (bridge)"),
        "{s}"
    );
    assert!(
        !s.contains("out !bridge") && !s.contains(" !bridge "),
        "{s}"
    );
}

/// The path view at 80x24 keeps MATCH: the columns that say nothing give way, the tree
/// gives up room, and the port and the DNAT's target stay readable.
#[test]
fn path_view_80x24() {
    let mut app = demo_app(3);
    app.apply(Action::TogglePath);
    let s = screen(&mut app, 80, 24);
    let dnat = s.lines().find(|l| l.contains("DNAT")).unwrap_or_default();
    assert!(dnat.contains("tcp dpt:80 to:172.18.0.2:80"), "{s}");
    assert!(s.contains("MATCH"), "{s}");
    insta::assert_snapshot!(s);
    // wider again: the lines are fitted to the new width
    let wide = screen(&mut app, 120, 40);
    assert!(wide.contains("PKT/S"), "{wide}");
}

/// The same on a recording of the lab with Docker Engine 28's rules (tests/lab/lab.sh
/// with docker28.rules: DOCKER-FORWARD, DOCKER-CT, DOCKER-BRIDGE; raw and mangle too).
#[test]
fn path_view_80x24_docker28_lab() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/recordings/docker28-lab.rec"),
    )
    .expect("fixture");
    // the second poll: four requests came in since the first
    let mut app = app_of(&text, "filter", 2);
    app.apply(Action::TogglePath);
    let s = screen(&mut app, 80, 24);
    let dnat = s.lines().find(|l| l.contains("DNAT")).unwrap_or_default();
    assert!(dnat.contains("dpt:80 to:172.18.0.2:80"), "{s}");
    assert_eq!(dnat.split_whitespace().nth(3), Some("4"), "its Δ: {dnat}");
    insta::assert_snapshot!(s);
}

/// `s` in the path view: nat polled only since `v`, filter before too; the export
/// counts both over the same polls and says so.
#[test]
fn path_export_counts_every_table_over_the_same_polls() {
    let mut r = ReplaySource::from_text("demo", DEMO, None)
        .expect("demo")
        .with_kind(iptop::model::SourceKind::Demo);
    let mut app = LiveView::new(r.info().clone(), "filter", vec![], Duration::from_secs(1));
    let mut feed = |app: &mut LiveView, tables: &[&str]| {
        let raw = r.next_poll().expect("poll");
        for t in tables {
            let s = snapshot_from(&raw, &[t.to_string()]).expect("snapshot");
            app.on_snapshot(t, Arc::new(s), raw.discontinuity);
        }
    };
    for _ in 0..5 {
        feed(&mut app, &["filter"]);
    }
    app.apply(Action::TogglePath);
    for _ in 0..3 {
        feed(&mut app, &["filter", "nat"]);
    }
    let p = app.path_snapshot(true).expect("the path view's export");
    let d = p.deltas.expect("deltas");
    // two seconds: from the first poll both tables have to the last
    assert_eq!(d.elapsed.as_secs(), 2, "{:?}", d.elapsed);
    assert!(
        p.note.contains("every table over the same polls"),
        "{}",
        p.note
    );
    assert!(p.said.starts_with("Δ over the last 2"), "{}", p.said);
}
