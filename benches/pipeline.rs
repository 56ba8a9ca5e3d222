//! Benchmarks of iptop's own work per poll and per frame, on kube-proxy-shaped rulesets
//! of 1k, 10k and 50k rules (`iptop::synth`, the shape of gen-scale.sh):
//!
//!   cargo bench --bench pipeline [-- FILTER]
//!
//! parse (the `iptables -L -v -n -x --line-numbers` text), diff (two polls), tree
//! (visible rows, default expansion and all open), poll (parse + diff + tree, what
//! iptop does per poll besides waiting for iptables) and frame (one draw of the live
//! view on ratatui's TestBackend, everything expanded, selection mid-table), and
//! findings (the rules of thumb the live view evaluates after each poll), and export
//! (`--once` of the whole table as text and JSON, over a window of two polls).
//! Prints the median and the fastest of repeated runs.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use iptop::diff::diff_table;
use iptop::model::text::ListingText;
use iptop::model::{FirewallTable, Snapshot, SourceInfo};
use iptop::parse::parse_table;
use iptop::source::DEMO;
use iptop::source::replay::ReplaySource;
use iptop::source::snapshot_from;
use iptop::synth::{kube_nat, render_listing};
use iptop::tree;
use iptop::ui::live_view::{Action, LiveView};
use iptop::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn measure(name: &str, filter: &str, mut f: impl FnMut()) {
    if !name.contains(filter) {
        return;
    }
    // warm up, then run for about a second (at least 5, at most 1000 runs)
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || (start.elapsed() < Duration::from_secs(1) && times.len() < 1000) {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "{name:<64} median {:>10.3} ms   min {:>10.3} ms   ({} runs)",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times.len()
    );
}

fn snapshot(t: FirewallTable, secs: u64) -> Arc<Snapshot> {
    Arc::new(Snapshot {
        taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        at: Duration::from_secs(secs),
        took: Duration::ZERO,
        tables: vec![t],
        warnings: vec![],
        seq: secs,
    })
}

/// The same table one poll later: every `step`th rule moved.
fn moved(t: &FirewallTable, step: usize) -> FirewallTable {
    let mut t2 = t.clone();
    for (i, k) in t2
        .chains
        .iter_mut()
        .flat_map(|c| Arc::make_mut(c).counters.iter_mut())
        .enumerate()
    {
        if i % step == 0 {
            k.packets += 3;
            k.bytes += 180;
        }
    }
    t2
}

/// Frames of the demo's Docker swarm filter table as the live view opens on it: the
/// default expansion, a rule selected, the detail pane with its sparkline.
fn swarm_frames(filter: &str) {
    let mut r = ReplaySource::from_text("demo", DEMO, None).expect("demo");
    let mut app = LiveView::new(r.info().clone(), "filter", vec![], Duration::from_secs(1));
    for _ in 0..5 {
        let raw = r.next_poll().expect("poll");
        let s = snapshot_from(&raw, &["filter".into()]).expect("snapshot");
        app.on_snapshot("filter", Arc::new(s), raw.discontinuity);
    }
    app.select_row(7);
    for (w, h) in [(200u16, 60u16), (120, 40)] {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        let theme = Theme {
            color: true,
            ..Theme::default()
        };
        measure(
            &format!("frame swarm filter {w}x{h} ({} rows)", app.rows().len()),
            filter,
            || {
                term.draw(|f| {
                    app.layout(f.area());
                    iptop::ui::render::draw(f, &app, &theme);
                })
                .expect("draw");
            },
        );
    }
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    swarm_frames(&filter);
    for n in [1_000usize, 10_000, 50_000] {
        if !filter.is_empty()
            && filter.chars().any(|c| c.is_ascii_digit())
            && !filter.contains(&n.to_string())
        {
            continue;
        }
        let t1 = kube_nat(n, 42);
        let t2 = moved(&t1, 10);
        let text1: Arc<ListingText> = Arc::new(render_listing(&t1, true).into());
        let text2: Arc<ListingText> = Arc::new(render_listing(&t2, true).into());
        let text_all = Arc::new(render_listing(&moved(&t1, 1), true).into());
        println!(
            "--- {n} rules: {} chains, {:.1} MB of listing",
            t1.chains.len(),
            text2.len() as f64 / 1e6
        );
        measure(&format!("parse {n} (first poll)"), &filter, || {
            black_box(parse_table("nat", black_box(&text2), None).expect("parse"));
        });
        let p1 = parse_table("nat", &text1, None).expect("parse");
        let p2 = parse_table("nat", &text2, None).expect("parse");
        let changed = p1
            .chains
            .iter()
            .zip(&p2.chains)
            .filter(|(a, b)| a.counters != b.counters || a.packets != b.packets)
            .count();
        for (what, text) in [
            ("nothing moved".to_string(), &text1),
            (format!("every 10th rule moved: {changed} chains"), &text2),
            ("every rule moved".to_string(), &text_all),
        ] {
            measure(&format!("parse {n} (next poll, {what})"), &filter, || {
                black_box(parse_table("nat", black_box(text), Some(&p1)).expect("parse"));
            });
        }
        measure(&format!("diff {n}"), &filter, || {
            black_box(diff_table(black_box(&p1), black_box(&p2)));
        });
        let roots = tree::roots(&p2, &[]);
        measure(&format!("tree {n} (default)"), &filter, || {
            black_box(tree::build(
                &p2,
                &roots,
                &|q| q.depth == 0 || (q.depth <= 3 && q.rules <= 64),
                1_000_000,
            ));
        });
        measure(&format!("tree {n} (all open)"), &filter, || {
            black_box(tree::build(&p2, &roots, &|_| true, 1_000_000));
        });

        // What the UI does with a poll: parse reusing the last one, diff, history, rows;
        // then the same with a local baseline set (`z`): the Δ columns sum every poll since.
        for (what, baseline) in [("(parse+diff+tree)", false), ("with a baseline (z)", true)] {
            let mut app =
                LiveView::new(SourceInfo::default(), "nat", vec![], Duration::from_secs(1));
            app.on_snapshot("nat", snapshot(p1.clone(), 0), false);
            if baseline {
                app.apply(Action::Baseline);
            }
            let mut k = 1;
            measure(&format!("poll {n} {what}"), &filter, || {
                let text = black_box(if k % 2 == 0 { &text1 } else { &text2 });
                let prev = app.table_data().snap.clone();
                let t = parse_table("nat", text, prev.as_ref().and_then(|s| s.tables.first()))
                    .expect("parse");
                app.on_snapshot("nat", snapshot(t, k), false);
                k += 1;
            });
        }

        // The findings the live view evaluates after each poll (over every table polled).
        {
            let mut app =
                LiveView::new(SourceInfo::default(), "nat", vec![], Duration::from_secs(1));
            app.on_snapshot("nat", snapshot(p1.clone(), 0), false);
            app.on_snapshot("nat", snapshot(p2.clone(), 1), false);
            measure(&format!("findings {n} (per poll)"), &filter, || {
                app.evaluate_findings();
                black_box(app.findings().len());
            });
        }

        // `--once`: one table exported whole (every chain open), over a window of two polls
        {
            let (s1, s2) = (snapshot(p1.clone(), 0), snapshot(p2.clone(), 2));
            let deltas = iptop::diff::diff(&s1, &s2);
            let source = SourceInfo::default();
            let input = iptop::report::Input {
                snapshot: &s2,
                deltas: Some(&deltas),
                window_start: Some(s1.taken_at),
                source: &source,
                roots: &[],
                moved_only: false,
                names: None,
                window_note: None,
            };
            for format in [iptop::report::Format::Text, iptop::report::Format::Json] {
                measure(&format!("export {n} ({format:?})"), &filter, || {
                    black_box(iptop::report::render(format, &input).expect("export"));
                });
            }
        }

        for (w, h) in [(200u16, 60u16), (120, 40)] {
            let mut app =
                LiveView::new(SourceInfo::default(), "nat", vec![], Duration::from_secs(1));
            app.on_snapshot("nat", snapshot(p1.clone(), 0), false);
            app.on_snapshot("nat", snapshot(p2.clone(), 1), false);
            app.apply(Action::ExpandAll);
            app.select_row(app.rows().len() / 2);
            let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
            let theme = Theme {
                color: true,
                ..Theme::default()
            };
            measure(
                &format!("frame {n} {w}x{h} ({} rows)", app.rows().len()),
                &filter,
                || {
                    term.draw(|f| {
                        app.layout(f.area());
                        iptop::ui::render::draw(f, &app, &theme);
                    })
                    .expect("draw");
                },
            );
        }
    }
}
