//! Any bytes, read as a listing of the filter table: the parser must not panic, and a
//! table it accepts in the full column layout must come back from `render_listing` as a
//! listing that parses to the same table.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(table) = iptop::parse::parse_table("filter", &text, None) else {
        return;
    };
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
    if !full {
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
