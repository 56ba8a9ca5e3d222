//! Two polls of one table (the first byte picks where the input is split), compared over a
//! window and exported as text and JSON, whole and `--moved-only`: never a panic; every
//! export is bounded linearly in the input (each chain shown once, whatever the jumps);
//! and no export holds a raw control, bidi or invisible character (comments and chain
//! names come out escaped).
#![no_main]

use std::time::{Duration, SystemTime};

use iptop::model::{FirewallTable, Snapshot, SourceInfo};
use iptop::parse::parse_table;
use libfuzzer_sys::fuzz_target;

fn snapshot(t: FirewallTable, seq: u64) -> Snapshot {
    Snapshot {
        taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(seq),
        at: Duration::from_secs(seq),
        took: Duration::ZERO,
        tables: vec![t],
        warnings: vec![],
        seq,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let cut = rest.len() * usize::from(first) / 255;
    let a = String::from_utf8_lossy(&rest[..cut]);
    let b = String::from_utf8_lossy(&rest[cut..]);
    let Ok(t1) = parse_table("filter", &*a, None) else {
        return;
    };
    // the second poll parsed against the first, as the poller does
    let Ok(t2) = parse_table("filter", &*b, Some(&t1)) else {
        return;
    };
    let (s1, s2) = (snapshot(t1, 1), snapshot(t2, 3));
    let deltas = iptop::diff::diff(&s1, &s2);
    let source = SourceInfo::default();
    for moved_only in [false, true] {
        let input = iptop::report::Input {
            snapshot: &s2,
            deltas: Some(&deltas),
            window_start: Some(s1.taken_at),
            source: &source,
            roots: &[],
            moved_only,
            names: None,
            window_note: None,
        };
        for format in [iptop::report::Format::Text, iptop::report::Format::Json] {
            let out = iptop::report::render(format, &input).expect("text and JSON");
            // linear: a row per rule and chain (and per further jump), each of bounded
            // padding; escapes at most 12 bytes a character
            let bound = 64 * data.len() + 64 * 1024;
            assert!(
                out.len() <= bound,
                "{format:?} export of {} bytes from {} bytes of input (moved_only {moved_only})",
                out.len(),
                data.len()
            );
            if let Some(c) = out
                .chars()
                .find(|&c| c != '\n' && iptop::sanitize::is_unsafe(c))
            {
                panic!("{format:?} export holds U+{:04X} raw", c as u32);
            }
        }
    }
});
