//! iptop's own CPU per poll against the `iptables` child's, on a real ruleset in a
//! network namespace (run by benches/poll-cost.sh, which loads the ruleset):
//!
//!   poll_cost --netns NAME --backend nft|legacy --table nat --polls 20 [--every-ms 1000]
//!
//! Each poll does what the live view does: run `iptables -L -v -n -x`, read its output,
//! parse it against the last poll, diff, history, tree rows, and draw one 200x60 frame.
//! CPU comes from getrusage: RUSAGE_CHILDREN for the iptables processes, RUSAGE_SELF
//! for iptop (all its threads). Prints per-poll medians and the ratio.

mod common;
use common::median;
use std::sync::Arc;
use std::time::Duration;

use iptop::model::SourceInfo;
use iptop::source::live::{BackendChoice, LiveConfig, LiveSource};
use iptop::source::snapshot_reusing;
use iptop::ui::live_view::LiveView;
use iptop::ui::theme::Theme;
use nix::sys::resource::{UsageWho, getrusage};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn cpu(who: UsageWho) -> Duration {
    let u = getrusage(who).expect("getrusage");
    let t =
        |tv: nix::sys::time::TimeVal| Duration::new(tv.tv_sec() as u64, tv.tv_usec() as u32 * 1000);
    t(u.user_time()) + t(u.system_time())
}

fn main() {
    let Some(args) = common::Args::from_env("poll_cost", "benches/poll-cost.sh") else {
        return;
    };
    let arg = |name: &str, default: &str| args.get(name, default);
    let netns = arg("--netns", "");
    let backend = match arg("--backend", "nft").as_str() {
        "legacy" => BackendChoice::Legacy,
        _ => BackendChoice::Nft,
    };
    let table = arg("--table", "nat");
    let polls: usize = arg("--polls", "20").parse().expect("--polls N");
    // time between the starts of two polls (0: back to back), as the live view's interval
    let every = Duration::from_millis(arg("--every-ms", "0").parse().expect("--every-ms MS"));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let mut src = LiveSource::new(LiveConfig {
        backend,
        ipv6: false,
        netns: Some(netns.clone()),
        tables: vec![table.clone()],
        timeout: Duration::from_secs(30),
        binary: None,
    })
    .expect("source");
    let mut app = LiveView::new(
        SourceInfo::default(),
        &table,
        vec![],
        Duration::from_secs(1),
    );
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    let theme = Theme {
        color: true,
        ..Theme::default()
    };
    let (mut child, mut own, mut bytes) = (Vec::new(), Vec::new(), 0usize);
    // iptop's CPU by stage: run and read iptables, parse, the view's update, one frame
    let mut stages: [Vec<Duration>; 4] = Default::default();
    for i in 0..=polls {
        let started = std::time::Instant::now();
        let (c0, s0) = (cpu(UsageWho::RUSAGE_CHILDREN), cpu(UsageWho::RUSAGE_SELF));
        let raw = rt.block_on(src.poll());
        let s1 = cpu(UsageWho::RUSAGE_SELF);
        bytes = raw.listings.iter().map(|l| l.stdout.len()).sum();
        let prev = app.table_data().snap.clone();
        let snap =
            snapshot_reusing(&raw, std::slice::from_ref(&table), prev.as_deref()).expect("poll");
        drop(prev);
        let s2 = cpu(UsageWho::RUSAGE_SELF);
        app.on_snapshot(&table, Arc::new(snap), false);
        let s3 = cpu(UsageWho::RUSAGE_SELF);
        term.draw(|f| {
            app.layout(f.area());
            iptop::ui::render::draw(f, &app, &theme);
        })
        .expect("draw");
        drop(raw);
        let (c1, s4) = (cpu(UsageWho::RUSAGE_CHILDREN), cpu(UsageWho::RUSAGE_SELF));
        std::thread::sleep(every.saturating_sub(started.elapsed()));
        if i > 0 {
            // the first poll parses from scratch; the view's steady state is the rest
            child.push(c1 - c0);
            own.push(s4 - s0);
            for (k, d) in [s1 - s0, s2 - s1, s3 - s2, s4 - s3].into_iter().enumerate() {
                stages[k].push(d);
            }
        }
    }
    let ms = |v: &mut Vec<Duration>| median(v).as_secs_f64() * 1e3;
    let detail = format!(
        "run+read {:.2} ms, parse {:.2} ms, update {:.2} ms, frame {:.2} ms",
        ms(&mut stages[0]),
        ms(&mut stages[1]),
        ms(&mut stages[2]),
        ms(&mut stages[3])
    );
    let (c, s) = (median(&mut child), median(&mut own));
    let rules = app
        .table_data()
        .table()
        .map_or(0, iptop::model::FirewallTable::rule_count);
    println!(
        "{netns} {backend:?} -t {table}: {rules} rules, {:.1} MB per listing; per poll (median of {polls}): iptables {:.1} ms CPU, iptop {:.2} ms CPU = {:.1} %",
        bytes as f64 / 1e6,
        c.as_secs_f64() * 1e3,
        s.as_secs_f64() * 1e3,
        100.0 * s.as_secs_f64() / c.as_secs_f64().max(1e-9)
    );
    println!("    iptop by stage (medians): {detail}");
}
