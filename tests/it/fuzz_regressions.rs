//! Inputs the fuzzers (fuzz/) found failing, kept as regression tests: each file goes
//! through the checks of all three fuzz targets.

use std::fs;
use std::path::Path;

use std::sync::Arc;

use iptop::model::FirewallTable;
use iptop::parse::{ParseError, parse_table};
use iptop::source::replay::ReplaySource;
use iptop::source::snapshot_from;

/// Every rule has every column (no trimmed title, no blank ip6tables `opt`), and nothing
/// in it would read differently once printed with iptables' padding.
fn full_columns(t: &iptop::model::FirewallTable) -> bool {
    t.has_counters
        && t.exact
        && t.warnings.is_empty()
        && t.chains.iter().flat_map(|c| c.rules.iter()).all(|r| {
            let s = &r.spec;
            [
                &s.prot,
                &s.opt,
                &s.in_iface,
                &s.out_iface,
                &s.source,
                &s.destination,
            ]
            .iter()
            .all(|f| !f.is_empty())
        })
}

/// A reusing parse gives what a fresh parse gives, down to jumps, texts and spans.
fn same(reused: &Result<FirewallTable, ParseError>, fresh: &Result<FirewallTable, ParseError>) {
    match (reused, fresh) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "reusing parse differs from a fresh parse");
            assert_eq!(a.spans, b.spans, "spans");
            for (ca, cb) in a.chains.iter().zip(&b.chains) {
                assert_eq!(ca.text, cb.text, "chain {}", ca.name);
                let ja: Vec<_> = ca.rules.iter().map(|r| r.jump).collect();
                let jb: Vec<_> = cb.rules.iter().map(|r| r.jump).collect();
                assert_eq!(ja, jb, "chain {}", ca.name);
            }
        }
        (Err(a), Err(b)) => assert_eq!((a.line, &a.reason), (b.line, &b.reason)),
        _ => panic!(
            "one parse failed, the other did not: {:?} / {:?}",
            reused.is_ok(),
            fresh.is_ok()
        ),
    }
}

fn check(data: &[u8]) {
    // parse: no panic; a table read in the full column layout prints and parses again
    let text = String::from_utf8_lossy(data);
    if let Ok(t) = parse_table("filter", &*text, None)
        && full_columns(&t)
    {
        let again = parse_table("filter", &iptop::synth::render_listing(&t, true), None)
            .expect("printed table parses");
        assert_eq!(again, t);
    }
    // parse_reusing: the first byte splits the input into a previous and a current listing
    if let Some((&first, rest)) = data.split_first() {
        let at = rest.len() * usize::from(first) / 255;
        let prev_text = String::from_utf8_lossy(&rest[..at]);
        let cur_text = String::from_utf8_lossy(&rest[at..]);
        let prev_text = Arc::new(prev_text.into_owned().into());
        let cur_text = Arc::new(cur_text.into_owned().into());
        if let Ok(prev) = parse_table("nat", &prev_text, None) {
            let fresh = parse_table("nat", &cur_text, None);
            let reused = parse_table("nat", &cur_text, Some(&prev));
            same(&reused, &fresh);
            if let Ok(r) = &reused {
                same(&parse_table("nat", &cur_text, Some(r)), &fresh);
                same(&parse_table("nat", &prev_text, Some(r)), &Ok(prev.clone()));
            }
        }
    }
    // parse, as a paste: each listing's lines map back to the paste's
    if let Ok(p) = iptop::parse::paste::normalize(&text) {
        for t in &p.tables {
            assert_eq!(t.origin.len(), t.text.lines().count(), "{}", t.text);
        }
    }
    // replay: no panic
    if let Ok(r) = ReplaySource::from_text("fuzz", &text, None) {
        let mut r = r.looping(true);
        for _ in 0..50 {
            let Some(p) = r.next_poll() else { break };
            let _ = snapshot_from(&p, &["filter".to_string()]);
            let _ = snapshot_from(&p, &["nat".to_string()]);
        }
    }
}

#[test]
fn every_input_the_fuzzers_found() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut n = 0;
    for e in fs::read_dir(&dir).expect("dir").flatten() {
        let data = fs::read(e.path()).expect("read");
        let name = e.file_name().to_string_lossy().into_owned();
        let r = std::panic::catch_unwind(|| check(&data));
        assert!(r.is_ok(), "{name}");
        n += 1;
    }
    assert!(n >= 3, "{n} inputs");
}
