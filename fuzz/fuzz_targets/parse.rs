//! Any bytes, read as a listing of the filter table: the parser must not panic, reading
//! it with the kernel's rule counts of its own reading gives the same table (and other
//! counts do not panic), and a table it accepts in the full column layout must come back
//! from `render_listing` as a listing that parses to the same table. The same bytes
//! as a paste (`parse::paste::normalize`): no panic, every listing it makes maps its
//! lines back to the paste's, and a save dump never reads as more rules than it has
//! `-A` words (a comment cannot forge one).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    pasted(&text);
    let Ok(table) = iptop::parse::parse_table("filter", &text, None) else {
        return;
    };
    // The kernel's rule counts choose the reading of a crafted comment: counts that agree
    // with the reading taken change nothing, counts that do not never panic.
    let counts: std::collections::HashMap<String, usize> = table
        .chains
        .iter()
        .map(|c| (c.name.to_string(), c.rules.len()))
        .collect();
    let agree = |chain: &str| counts.get(chain).copied();
    match iptop::parse::parse_table_counted("filter", &*text, None, Some(&agree), true) {
        Ok(again) if again == table => {}
        Ok(_) => panic!("the rule counts of its own reading read the listing another way\n{text}"),
        Err(e) => panic!("the rule counts of its own reading refuse the listing: {e}\n{text}"),
    }
    let skew = data.len() % 3;
    let disagree = |chain: &str| counts.get(chain).map(|n| (n + skew).saturating_sub(1));
    let _ = iptop::parse::parse_table_counted("filter", &*text, None, Some(&disagree), false);
    // Only a table read in the full column layout can be printed back: a trimmed title
    // or ip6tables' blank `opt` leaves fields empty, which the printer cannot show.
    let full = table.has_counters
        && table.exact
        && table.warnings.is_empty()
        && table.chains.iter().flat_map(|c| c.rules.iter()).all(|r| {
            let s = &r.spec;
            [&s.prot, &s.opt, &s.in_iface, &s.out_iface, &s.source, &s.destination]
                .iter()
                .all(|f| !f.is_empty())
        });
    // A comment continued over a line that starts with a number can be read two ways;
    // which one the parser takes depends on the other lines' layout, which the printer
    // does not keep. Comments continued over other lines must come back the same.
    let numbered_continuation = table.chains.iter().flat_map(|c| c.rules.iter()).any(|r| {
        r.spec.extra.lines().skip(1).any(|l| {
            l.trim_start()
                .split([' ', '\t'])
                .next()
                .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        })
    });
    if !full || numbered_continuation {
        return;
    }
    let rendered = iptop::synth::render_listing(&table, true);
    match iptop::parse::parse_table("filter", &rendered, None) {
        Err(e) => panic!(
            "render_listing output does not parse again: {e}\n--- input ---\n{text}\n--- rendered ---\n{rendered}"
        ),
        Ok(again) if again != table => panic!(
            "render_listing output parses to another table\n--- input ---\n{text}\n--- rendered ---\n{rendered}"
        ),
        Ok(_) => {}
    }
});

fn pasted(text: &str) {
    let Ok(p) = iptop::parse::paste::normalize(text) else {
        return;
    };
    for t in &p.tables {
        assert_eq!(
            t.origin.len(),
            t.text.lines().count(),
            "each line of a pasted listing maps to a line of the paste\n{text}"
        );
        assert!(t.text.is_empty() || t.text.ends_with('\n'));
        let Ok(table) = iptop::parse::parse_table("filter", &t.text, None) else {
            continue;
        };
        if p.from_dump {
            let rules: usize = table.chains.iter().map(|c| c.rules.len()).sum();
            assert!(
                rules <= text.matches("-A").count(),
                "a save dump read as more rules than it has\n{text}\n---\n{}",
                t.text
            );
        }
    }
}
