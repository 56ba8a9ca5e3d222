//! What a `/metrics` scrape (`--listen`) and a `--stream` line cost at 1k, 10k and 50k
//! kube-proxy rules: `cargo run --release --example ops_cost`. Prints the median of 20
//! runs and the size of the output.
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use iptop::diff::diff;
use iptop::metrics::{Metrics, State, render};
use iptop::model::{Snapshot, SourceInfo};
use iptop::synth::kube_nat;

fn median(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..20 {
        let t = Instant::now();
        size = f();
        times.push(t.elapsed());
    }
    times.sort();
    (times[times.len() / 2], size)
}

fn main() {
    for n in [1_000, 10_000, 50_000] {
        let snap = |seed| Snapshot {
            taken_at: SystemTime::now(),
            at: Duration::from_secs(seed),
            took: Duration::from_millis(1),
            tables: vec![kube_nat(n, 42)],
            warnings: Vec::new(),
            seq: seed,
        };
        let (a, b) = (snap(1), snap(2));
        let state = Arc::new(RwLock::new(State::default()));
        state
            .write()
            .expect("lock")
            .polled(b.clone(), Duration::from_millis(1));
        let mut reg = prometheus_client::registry::Registry::default();
        reg.register_collector(Box::new(Metrics(state)));
        let (scrape, bytes) = median(|| render(&reg).len());
        let info = SourceInfo::default();
        let deltas = diff(&a, &b);
        let (line, line_bytes) = median(|| {
            let input = iptop::report::Input {
                snapshot: &b,
                deltas: Some(&deltas),
                window_start: Some(a.taken_at),
                source: &info,
                roots: &[],
                moved_only: false,
                names: None,
                window_note: None,
            };
            serde_json::to_string(&iptop::report::build(&input))
                .expect("json")
                .len()
        });
        println!(
            "{n:>6} rules: /metrics {:>8.2} ms ({:>6} KiB), --stream line {:>8.2} ms ({:>6} KiB)",
            scrape.as_secs_f64() * 1e3,
            bytes / 1024,
            line.as_secs_f64() * 1e3,
            line_bytes / 1024
        );
    }
}
