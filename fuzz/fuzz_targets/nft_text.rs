//! An iptables-nft table's rule messages as a netlink rule dump would hand them over,
//! written as iptables-nft lists them: never a panic, whatever the bytes; a listing
//! written is one the parser reads without a panic. The first byte: bit 0 IPv6, bit 1
//! the nat table (else filter); then messages, each a native-endian u16 length and its
//! bytes, for the chains `INPUT`, `PREROUTING`, `A`, `B` in turn.
#![no_main]

use iptop::source::kernel::nft_text::from_messages;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let names = ["INPUT", "PREROUTING", "A", "B"];
    let mut chains: Vec<(&str, Vec<&[u8]>)> = names.iter().map(|n| (*n, Vec::new())).collect();
    let mut i = 0;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_ne_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        chains[i % names.len()].1.push(&rest[2..2 + n]);
        rest = &rest[2 + n..];
        i += 1;
    }
    let table = if flags & 2 == 0 { "filter" } else { "nat" };
    if let Ok(text) = from_messages(table, &chains, flags & 1 == 1) {
        let _ = iptop::parse::parse_table(table, &text, None);
    }
});
