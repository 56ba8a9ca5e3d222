//! Work stays linear in the listing whatever the shape of the jumps: text exports of
//! hostile shapes (100k unreferenced chains, a 10k-chain jump cycle, chains that each
//! jump twice to the next) are fast and about the size of the listing, a big kube-proxy
//! nat table exports to at most 1.5x its listing, and search in the live view answers
//! each key quickly on all of them. The bounds asserted here are generous (several times
//! what the issue asks for) so that a loaded CI machine does not fail them; the measured
//! times are printed (`--nocapture`).

use std::fmt::Write as _;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::common::iptop;
use iptop::model::{Snapshot, SourceInfo};
use iptop::parse::parse_table;
use iptop::ui::live_view::{Action, LiveView};

const TITLES: &str =
    "    pkts      bytes target     prot opt in     out     source               destination\n";

/// One rule line of `iptables -vnxL` (ACCEPT-style, protocol `all`).
fn rule(out: &mut String, packets: u64, target: &str, extra: &str) {
    let _ = writeln!(
        out,
        "{packets:>8} {:>10} {target:<10} 0    --  *      *       0.0.0.0/0            0.0.0.0/0            {extra}",
        packets * 60
    );
}

/// The three built-in chains of filter; FORWARD jumps to each chain of `jumps`.
fn builtins(out: &mut String, jumps: &[&str]) {
    for name in ["INPUT", "FORWARD", "OUTPUT"] {
        let _ = writeln!(out, "Chain {name} (policy ACCEPT 0 packets, 0 bytes)");
        out.push_str(TITLES);
        if name == "FORWARD" {
            for j in jumps {
                rule(out, 1000, j, "");
            }
        }
        out.push('\n');
    }
}

/// `n` user chains that nothing jumps to, one rule each.
fn unreferenced_chains(n: usize) -> String {
    let mut s = String::new();
    builtins(&mut s, &[]);
    for i in 0..n {
        let _ = writeln!(s, "Chain U{i} (0 references)");
        s.push_str(TITLES);
        rule(&mut s, 3, "ACCEPT", &format!("tcp dpt:{}", i % 65536));
        s.push('\n');
    }
    s
}

/// `n` chains in a ring, each jumping to the next and the last back to the first;
/// FORWARD jumps into the ring.
fn jump_cycle(n: usize) -> String {
    let mut s = String::new();
    builtins(&mut s, &["C0"]);
    for i in 0..n {
        let _ = writeln!(s, "Chain C{i} ({} references)", if i == 0 { 2 } else { 1 });
        s.push_str(TITLES);
        rule(&mut s, 1000, &format!("C{}", (i + 1) % n), "");
        rule(&mut s, 0, "RETURN", "");
        s.push('\n');
    }
    s
}

/// `n` chains, each jumping twice to the next (2^n paths from FORWARD to the last).
fn double_jumps(n: usize) -> String {
    let mut s = String::new();
    builtins(&mut s, &["C0"]);
    for i in 0..n {
        let _ = writeln!(s, "Chain C{i} ({} references)", if i == 0 { 1 } else { 2 });
        s.push_str(TITLES);
        if i + 1 < n {
            rule(&mut s, 600, &format!("C{}", i + 1), "tcp dpt:80");
            rule(&mut s, 400, &format!("C{}", i + 1), "tcp dpt:443");
        }
        rule(&mut s, 0, "RETURN", "");
        s.push('\n');
    }
    s
}

/// `iptop --replay` of `listing` as text: the output and how long it took.
fn export(listing: &str, table: &str) -> (String, Duration) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("listing.txt");
    std::fs::write(&path, listing).expect("write");
    let start = Instant::now();
    let out = iptop()
        .args(["--replay"])
        .arg(&path)
        .args(["--once", "-t", table])
        .stderr(Stdio::piped())
        .output()
        .expect("iptop");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8(out.stdout).expect("utf-8"), took)
}

fn report(what: &str, listing: &str, out: &str, took: Duration) {
    println!(
        "{what}: {} KB listing -> {} KB text in {:.0} ms",
        listing.len() / 1024,
        out.len() / 1024,
        took.as_secs_f64() * 1000.0
    );
}

#[test]
fn a_hundred_thousand_unreferenced_chains_export_in_seconds() {
    let listing = unreferenced_chains(100_000);
    let (out, took) = export(&listing, "filter");
    report("100k unreferenced chains", &listing, &out, took);
    // the bound is 5 s (it took 336 s); generous for a loaded machine
    crate::common::assert_faster(took, Duration::from_secs(25));
    assert!(out.len() < listing.len() * 2, "{} bytes", out.len());
    assert!(out.contains("U99999 (0 references)"));
}

#[test]
fn a_ten_thousand_chain_jump_cycle_exports_small_and_fast() {
    let listing = jump_cycle(10_000);
    let (out, took) = export(&listing, "filter");
    report("10k-chain jump cycle", &listing, &out, took);
    crate::common::assert_faster(took, Duration::from_secs(10));
    // it was 301 MB: every row padded to the deepest prefix
    assert!(out.len() < 10 << 20, "{} bytes", out.len());
    assert!(out.len() < listing.len() * 2, "{} bytes", out.len());
    // every chain once; the jump back to the start is cut as a cycle
    assert_eq!(out.matches("─ RETURN").count(), 10_000);
    assert_eq!(
        out.matches("C0 ×2 ↻ cycle").count(),
        1,
        "the ring is closed once"
    );
    // the deepest rows draw their depth, not ten thousand levels
    let longest = out.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(longest < 200, "a line of {longest} characters");
    assert!(out.contains("…10000"), "the depth of the deepest rows");
}

#[test]
fn chains_that_jump_twice_to_the_next_export_each_chain_once() {
    let listing = double_jumps(40);
    let (out, took) = export(&listing, "filter");
    report("40 chains jumping twice to the next", &listing, &out, took);
    // it grew exponentially (538 MB from 13 KB)
    crate::common::assert_faster(took, Duration::from_secs(2));
    assert!(out.len() < 1 << 20, "{} bytes", out.len());
    assert_eq!(
        out.matches("─ RETURN").count(),
        40,
        "each chain's rules once"
    );
    // the second jump to each chain says where it is shown
    assert_eq!(out.matches("→ see").count(), 39);
    assert!(
        out.contains("C2 → see FORWARD › C0 › C1 › rule 1"),
        "{}",
        &out[..2000.min(out.len())]
    );
    assert!(out.contains("C39 → see FORWARD › … › C36 › C37 › C38 › rule 1"));
}

#[test]
fn a_kube_proxy_nat_table_of_50k_rules_exports_to_at_most_one_and_a_half_times_its_listing() {
    let t = iptop::synth::kube_nat(50_000, 1);
    assert!(t.rule_count() >= 50_000);
    let listing = iptop::synth::render_listing(&t, false);
    let (out, took) = export(&listing, "nat");
    report("kube-proxy nat, 50k rules", &listing, &out, took);
    assert!(
        out.len() * 2 <= listing.len() * 3,
        "{} bytes of text for a {} byte listing",
        out.len(),
        listing.len()
    );
    crate::common::assert_faster(took, Duration::from_secs(20));
    // KUBE-SERVICES is jumped to from PREROUTING and OUTPUT: expanded once
    assert_eq!(
        out.matches("KUBE-SERVICES → see PREROUTING › rule 1")
            .count(),
        1
    );
}

/// A live view of `listing` (filter), as the UI loop drives it.
fn live_view(listing: &str) -> LiveView {
    let t = parse_table("filter", listing, None).expect("listing");
    let snap = Arc::new(Snapshot {
        taken_at: SystemTime::now(),
        at: Duration::ZERO,
        took: Duration::ZERO,
        tables: vec![t],
        warnings: vec![],
        seq: 1,
    });
    let source = SourceInfo {
        kind: iptop::model::SourceKind::Replay,
        ..Default::default()
    };
    let mut app = LiveView::new(source, "filter", vec![], Duration::from_secs(1));
    app.set_viewport(40);
    app.on_snapshot("filter", snap, false);
    app
}

/// Applies `a` and returns how long the state machine took to answer it.
fn timed(app: &mut LiveView, a: Action) -> Duration {
    let start = Instant::now();
    app.apply(a);
    start.elapsed()
}

fn selected_text(app: &LiveView) -> String {
    let t = app.table_data().table().expect("table");
    let r = app.selected_row().expect("selection");
    let mut s = iptop::cells::label(t, r);
    if let iptop::tree::RowKind::Rule { chain, rule } = r.kind {
        s.push(' ');
        s.push_str(&t.chains[chain].rules[rule].spec.extra);
    }
    s
}

/// Types `query` and walks its matches with n and N; returns the slowest key.
fn search(app: &mut LiveView, query: &str, nexts: usize) -> Duration {
    let mut slowest = timed(app, Action::SearchStart);
    for c in query.chars() {
        slowest = slowest.max(timed(app, Action::SearchInput(c)));
    }
    slowest = slowest.max(timed(app, Action::SearchConfirm));
    for _ in 0..nexts {
        slowest = slowest.max(timed(app, Action::SearchNext));
    }
    slowest.max(timed(app, Action::SearchPrev))
}

/// A key that moves the selection, and one back (the view answers as it did before).
fn step(app: &mut LiveView) -> Duration {
    timed(app, Action::Down).max(timed(app, Action::Up))
}

#[test]
fn search_answers_every_key_quickly_on_hostile_shapes() {
    // The issue asks for 100 ms a key (it froze the view for minutes); the test allows
    // 5x that for a loaded machine and prints the real figures.
    let bound = Duration::from_millis(500);

    let mut app = live_view(&jump_cycle(10_000));
    let slow = search(&mut app, "c9998", 3).max(step(&mut app));
    println!("search, 10k-chain cycle: slowest key {slow:?}");
    crate::common::assert_faster(slow, bound);
    // the match is 9998 jumps deep: every chain on the way was opened
    assert!(
        selected_text(&app).starts_with("C9998"),
        "{}",
        selected_text(&app)
    );
    assert!(app.selected_row().expect("row").depth >= 9999);

    let mut app = live_view(&double_jumps(40));
    let slow = search(&mut app, "dpt:443", 50).max(step(&mut app));
    println!("search, 40 chains jumping twice: slowest key {slow:?}");
    crate::common::assert_faster(slow, bound);
    assert!(
        selected_text(&app).contains("dpt:443"),
        "{}",
        selected_text(&app)
    );
    // the deepest chain is found and opened, 40 levels down
    let slow = search(&mut app, "C39", 2);
    println!("search for the deepest chain: slowest key {slow:?}");
    crate::common::assert_faster(slow, bound);
    assert!(
        selected_text(&app).starts_with("C39"),
        "{}",
        selected_text(&app)
    );

    let mut app = live_view(&unreferenced_chains(100_000));
    let slow = search(&mut app, "dpt:65000", 2).max(step(&mut app));
    println!("search, 100k unreferenced chains: slowest key {slow:?}");
    crate::common::assert_faster(slow, bound);
    assert!(
        selected_text(&app).contains("dpt:65000"),
        "{}",
        selected_text(&app)
    );
}

/// `s` on a big table: the file is written off the UI task, so the keys typed meanwhile
/// are answered at once (it froze the view for minutes), and the file still arrives.
#[test]
fn the_export_key_leaves_the_view_answering() {
    use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
    use futures_util::stream;
    use iptop::ui::theme::Theme;
    use iptop::ui::{ExportTo, event_loop, poller};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    let dir = tempfile::tempdir().expect("tmp");
    let mut app = live_view(&unreferenced_chains(100_000));
    // how long writing it takes, on the UI task
    let elsewhere = tempfile::tempdir().expect("tmp");
    let start = Instant::now();
    iptop::ui::export(
        &app,
        &iptop::ui::ExportTo {
            dir: elsewhere.path().to_path_buf(),
            format: iptop::report::Format::Text,
        },
    )
    .expect("export");
    let writing = start.elapsed();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let took = rt.block_on(async {
        // a poller that feeds another table (the view keeps the big one)
        let nat = "Chain PREROUTING (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target prot opt in out source destination\n";
        let src = iptop::source::replay::ReplaySource::from_text("nat", nat, Some("nat")).expect("nat");
        let mut p = poller::spawn(
            iptop::source::PollLoop::new(iptop::source::Source::Replay(Box::new(src)), None),
            poller::PollerConfig {
                also: vec![],
                first: None,
                table: "nat".into(),
                interval: Duration::from_secs(1),
                step: true,
                all_tables: false,
                native: None,
                trace: None,
                trace_rate: 10,
                timeout: Duration::from_secs(5),
            },
        );
        let key = |c: char| Ok(Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<std::io::Result<Event>>();
        let mut events = Box::pin(stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|e| (e, rx))
        }));
        let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
        let to = ExportTo {
            dir: dir.path().to_path_buf(),
            format: iptop::report::Format::Text,
        };
        let start = Instant::now();
        let driver = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            tx.send(key('s')).expect("send");
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send(key('j')).expect("send");
            tx.send(key('q')).expect("send");
        };
        let (res, _) = tokio::join!(
            event_loop(
                &mut term,
                &mut app,
                Theme::default(),
                &mut events,
                &mut p,
                std::future::pending::<()>(),
                &to,
            ),
            driver
        );
        res.expect("loop");
        start.elapsed()
    });
    println!("writing the export takes {writing:?}; the view quit {took:?} after `s`");
    // the keys after `s` were answered while the file was being written
    assert!(took < writing, "the view waited for the export: {took:?}");
    assert_eq!(app.selected_index(), 1);
    // ... and the file is complete (the runtime waited for it)
    drop(rt);
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).expect("export");
    assert!(text.contains("U99999 (0 references)"));
}

/// Random jump graphs (cycles, chains jumping to themselves, fan-out, long ladders): the
/// text export is never more than a few times the listing.
#[test]
fn text_export_is_linear_in_the_listing_for_any_shape_of_jumps() {
    let mut rng = iptop::synth::Rng::new(14);
    let mut worst = 0.0f64;
    for case in 0..300 {
        let n = 1 + rng.below(60) as usize;
        let mut s = String::new();
        let entry = format!("C{}", rng.below(n as u32));
        builtins(&mut s, &[&entry]);
        for i in 0..n {
            let _ = writeln!(s, "Chain C{i} (1 references)");
            s.push_str(TITLES);
            for k in 0..rng.below(7) {
                // mostly to the next few chains (deep ladders), sometimes anywhere
                let to = if rng.below(4) == 0 {
                    rng.below(n as u32) as usize
                } else {
                    (i + 1 + rng.below(2) as usize) % n
                };
                rule(
                    &mut s,
                    u64::from(k),
                    &format!("C{to}"),
                    &format!("tcp dpt:{k}"),
                );
            }
            rule(&mut s, 0, "RETURN", "");
            s.push('\n');
        }
        let t = parse_table("filter", &s, None).expect("listing");
        let snap = Snapshot {
            taken_at: SystemTime::UNIX_EPOCH,
            at: Duration::ZERO,
            took: Duration::ZERO,
            tables: vec![t],
            warnings: vec![],
            seq: 1,
        };
        let source = SourceInfo::default();
        let out = iptop::report::text::render(&iptop::report::Input {
            snapshot: &snap,
            deltas: None,
            window_start: None,
            source: &source,
            roots: &[],
            moved_only: false,
            names: None,
            window_note: None,
        });
        let ratio = out.len() as f64 / s.len() as f64;
        worst = worst.max(ratio);
        assert!(
            out.len() <= 3 * s.len() + 4096,
            "case {case}: {} bytes of text for {} of listing",
            out.len(),
            s.len()
        );
    }
    println!("random jump graphs: text at most {worst:.2}x the listing");
}
