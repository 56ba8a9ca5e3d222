//! An x_tables table's entries as `GET_ENTRIES` would hand them over (the first 44 bytes
//! are its info: valid hooks, hook entries, underflows), written as iptables-legacy
//! lists them: never a panic, whatever the bytes; a listing written is one the parser
//! reads without a panic, and the table built from the same entries (`--once`) is that
//! parse.
#![no_main]

use iptop::source::kernel::legacy_text::{V4, V6, render, table};
use iptop::source::kernel::quick::TableInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 44 {
        return;
    }
    let (head, entries) = data.split_at(44);
    let u = |i: usize| u32::from_ne_bytes(head[4 * i..4 * i + 4].try_into().unwrap_or_default());
    let info = TableInfo {
        valid_hooks: (u(0) >> 1) & 0x1f,
        hook_entry: std::array::from_fn(|h| u(1 + h)),
        underflow: std::array::from_fn(|h| u(6 + h)),
        num_entries: 0,
        size: entries.len() as u32,
    };
    // the first byte's low bit picks the family
    let l = if head[0] & 1 == 0 { V4 } else { V6 };
    let built = table("filter", entries, &info, l);
    match render(entries, &info, l) {
        Ok(text) => {
            let parsed = iptop::parse::parse_table_counted("filter", &text, None, None, false);
            if let (Ok(p), Ok(b)) = (parsed, &built) {
                assert!(*b == p, "the built table is not the parse of its listing");
            }
        }
        Err(_) => assert!(built.is_err(), "built what could not be written"),
    }
});
