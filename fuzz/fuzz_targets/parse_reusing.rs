//! Two listings (the first byte picks where the input is split): parsing the second one
//! reusing the first one's table must give exactly what a fresh parse gives, and so must
//! parsing it once more against that result (where every chain is taken whole).
#![no_main]

use iptop::model::FirewallTable;
use std::sync::Arc;

use iptop::parse::{ParseError, parse_table};
use libfuzzer_sys::fuzz_target;

/// The first difference between two tables, in words.
fn first_difference(a: &FirewallTable, b: &FirewallTable) -> String {
    if a.name != b.name {
        return format!("table name: {:?} vs {:?}", a.name, b.name);
    }
    if a.exact != b.exact {
        return format!("exact: {} vs {}", a.exact, b.exact);
    }
    if a.has_counters != b.has_counters {
        return format!("has_counters: {} vs {}", a.has_counters, b.has_counters);
    }
    if a.warnings != b.warnings {
        return format!("warnings: {:?} vs {:?}", a.warnings, b.warnings);
    }
    if a.chains.len() != b.chains.len() {
        return format!("chain count: {} vs {}", a.chains.len(), b.chains.len());
    }
    for (ca, cb) in a.chains.iter().zip(&b.chains) {
        let n = &ca.name;
        if ca.name != cb.name {
            return format!("chain name: {:?} vs {:?}", ca.name, cb.name);
        }
        if ca.kind != cb.kind {
            return format!("chain `{n}` kind: {:?} vs {:?}", ca.kind, cb.kind);
        }
        if (ca.packets, ca.bytes) != (cb.packets, cb.bytes) {
            return format!(
                "chain `{n}` policy counters: {:?} vs {:?}",
                (ca.packets, ca.bytes),
                (cb.packets, cb.bytes)
            );
        }
        if ca.rules.len() != cb.rules.len() {
            return format!("chain `{n}` rule count: {} vs {}", ca.rules.len(), cb.rules.len());
        }
        for (i, (x, y)) in ca.rules.iter().zip(cb.rules.iter()).enumerate() {
            if x.spec != y.spec {
                return format!("chain `{n}` rule {}: spec\n  {:?}\nvs\n  {:?}", i + 1, x.spec, y.spec);
            }
            if (x.num, x.occurrence, x.key) != (y.num, y.occurrence, y.key) {
                return format!(
                    "chain `{n}` rule {}: (num, occurrence, key) {:?} vs {:?}",
                    i + 1,
                    (x.num, x.occurrence, x.key),
                    (y.num, y.occurrence, y.key)
                );
            }
        }
        if ca.counters != cb.counters {
            return format!("chain `{n}` counters: {:?} vs {:?}", ca.counters, cb.counters);
        }
    }
    "no difference found field by field".into()
}

fn describe(r: &Result<FirewallTable, ParseError>) -> String {
    match r {
        Ok(t) => format!("Ok({t:#?})"),
        Err(e) => format!("Err(line {}: {})", e.line, e.reason),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    // the split point: a fraction first/255 of the rest
    let at = rest.len() * usize::from(first) / 255;
    let prev_text = String::from_utf8_lossy(&rest[..at]);
    let cur_text = String::from_utf8_lossy(&rest[at..]);
    let (prev_text, cur_text) = (
        Arc::new(prev_text.into_owned().into()),
        Arc::new(cur_text.into_owned().into()),
    );
    let Ok(prev) = parse_table("nat", &prev_text, None) else {
        return;
    };
    let fresh = parse_table("nat", &cur_text, None);
    let ctx = || format!("--- prev ---\n{prev_text}\n--- cur ---\n{cur_text}");
    let reused = parse_table("nat", &cur_text, Some(&prev));
    compare(&reused, &fresh, &ctx);
    if let Ok(r) = &reused {
        let again = parse_table("nat", &cur_text, Some(r));
        compare(&again, &fresh, &ctx);
        let back = parse_table("nat", &prev_text, Some(r));
        compare(&back, &Ok(prev.clone()), &ctx);
    }
});

fn compare(
    reused: &Result<FirewallTable, ParseError>,
    fresh: &Result<FirewallTable, ParseError>,
    ctx: &dyn Fn() -> String,
) {
    match (reused, fresh) {
        (Ok(a), Ok(b)) => {
            if a != b {
                panic!(
                    "reusing parse differs from a fresh parse (reused vs fresh): {}\n{}",
                    first_difference(a, b),
                    ctx()
                );
            }
            if a.spans != b.spans {
                panic!(
                    "spans differ: reused {:?}, fresh {:?}\n{}",
                    a.spans,
                    b.spans,
                    ctx()
                );
            }
            for (ca, cb) in a.chains.iter().zip(&b.chains) {
                for (i, (x, y)) in ca.rules.iter().zip(cb.rules.iter()).enumerate() {
                    if x.jump != y.jump {
                        panic!(
                            "chain `{}` rule {}: jump differs: reused {:?}, fresh {:?}\n{}",
                            ca.name,
                            i + 1,
                            x.jump,
                            y.jump,
                            ctx()
                        );
                    }
                }
                if ca.text != cb.text {
                    panic!(
                        "chain `{}`: text differs: reused {:?}, fresh {:?}\n{}",
                        ca.name,
                        ca.text,
                        cb.text,
                        ctx()
                    );
                }
            }
        }
        (Err(a), Err(b)) => {
            if (a.line, &a.reason) != (b.line, &b.reason) {
                panic!(
                    "reusing parse and fresh parse fail differently: reused line {}: {}; fresh line {}: {}\n{}",
                    a.line,
                    a.reason,
                    b.line,
                    b.reason,
                    ctx()
                );
            }
        }
        _ => panic!(
            "reusing parse and fresh parse disagree on success\nreused: {}\nfresh: {}\n{}",
            describe(reused),
            describe(fresh),
            ctx()
        ),
    }
}
