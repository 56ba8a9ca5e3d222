//! Profiling aid: parse a 10k-rule kube-proxy listing repeatedly against the previous
//! poll (`valgrind --tool=callgrind target/release/examples/parse_loop`).
use iptop::parse::parse_table;
use iptop::synth::{kube_nat, render_listing};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let t = kube_nat(n, 42);
    let text = render_listing(&t, true);
    let mut prev = parse_table("nat", &text, None).expect("parse");
    let loops: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    for _ in 0..loops {
        prev = parse_table("nat", &text, Some(&prev)).expect("parse");
    }
    println!("{} rules", prev.rule_count());
}
