use super::*;

/// Builds x_tables IPv4 entries as libiptc lays them out.
#[derive(Default)]
struct Blob {
    bytes: Vec<u8>,
}

impl Blob {
    /// An entry: source address/len, counters, matches (name, revision, data), target.
    fn entry(
        &mut self,
        src: [u8; 5],
        counters: (u64, u64),
        matches: &[(&str, u8, Vec<u8>)],
        target: (&str, &[u8]),
    ) -> usize {
        let at = self.bytes.len();
        let mut e = vec![0u8; V4.entry];
        e[0..4].copy_from_slice(&src[..4]);
        let mask = if src[4] == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(src[4]))
        };
        e[8..12].copy_from_slice(&mask.to_be_bytes());
        e[96..104].copy_from_slice(&counters.0.to_ne_bytes());
        e[104..112].copy_from_slice(&counters.1.to_ne_bytes());
        let ext = |name: &str, rev: u8, data: &[u8]| {
            let mut x = vec![0u8; EXT_HEAD];
            let size = EXT_HEAD + data.len().div_ceil(8) * 8;
            x[0..2].copy_from_slice(&(size as u16).to_ne_bytes());
            x[2..2 + name.len()].copy_from_slice(name.as_bytes());
            x[31] = rev;
            x.extend_from_slice(data);
            x.resize(size, 0);
            x
        };
        for (n, r, d) in matches {
            e.extend(ext(n, *r, d));
        }
        let toff = e.len();
        e.extend(ext(target.0, 0, target.1));
        let next = e.len();
        e[88..90].copy_from_slice(&(toff as u16).to_ne_bytes());
        e[90..92].copy_from_slice(&(next as u16).to_ne_bytes());
        self.bytes.extend(e);
        at
    }

    fn verdict(&mut self, v: i32) -> usize {
        self.entry([0; 5], (0, 0), &[], ("", &v.to_ne_bytes()))
    }

    fn error(&mut self, name: &str) -> usize {
        let mut d = vec![0u8; 32];
        d[..name.len()].copy_from_slice(name.as_bytes());
        self.entry([0; 5], (0, 0), &[], ("ERROR", &d))
    }
}

fn comment(text: &str) -> (&'static str, u8, Vec<u8>) {
    let mut d = vec![0u8; 256];
    d[..text.len()].copy_from_slice(text.as_bytes());
    ("comment", 0, d)
}

/// INPUT: a rule to SUB, a rule without a target, policy DROP; user chains SUB (one
/// ACCEPT) and AAA (empty), AAA after SUB in the entries (listed by name).
fn table() -> (Vec<u8>, TableInfo) {
    let mut b = Blob::default();
    // sizes: 440 (a comment), 152 (a verdict), 176 (an ERROR)
    let sub_first: i32 = 440 + 152 + 152 + 176;
    b.entry(
        [10, 0, 0, 0, 8],
        (5, 300),
        &[comment("to sub")],
        ("", &sub_first.to_ne_bytes()),
    );
    // no target: the verdict is the next entry's offset
    b.entry([0; 5], (1, 60), &[], ("", &(440i32 + 152).to_ne_bytes()));
    let policy = b.verdict(-1);
    b.error("SUB");
    assert_eq!(b.bytes.len(), sub_first as usize);
    b.entry(
        [192, 0, 2, 1, 32],
        (2, 120),
        &[],
        ("", &(-2i32).to_ne_bytes()),
    );
    b.verdict(-5);
    b.error("AAA");
    b.verdict(-5);
    b.error("ERROR");
    let info = TableInfo {
        valid_hooks: 1 << 1,
        hook_entry: [0; 5],
        underflow: [0, policy as u32, 0, 0, 0],
        num_entries: 9,
        size: b.bytes.len() as u32,
    };
    (b.bytes, info)
}

#[test]
fn a_table_is_written_as_iptables_legacy_lists_it() {
    let (bytes, info) = table();
    let text = render(&bytes, &info, V4).expect("renders");
    let want = "Chain INPUT (policy DROP 0 packets, 0 bytes)
num      pkts      bytes target     prot opt in     out     source               destination         
1           5      300 SUB        0    --  *      *       10.0.0.0/8           0.0.0.0/0            /* to sub */
2           1       60            0    --  *      *       0.0.0.0/0            0.0.0.0/0           

Chain AAA (0 references)
num      pkts      bytes target     prot opt in     out     source               destination         

Chain SUB (1 references)
num      pkts      bytes target     prot opt in     out     source               destination         
1           2      120 ACCEPT     0    --  *      *       192.0.2.1            0.0.0.0/0           
";
    assert_eq!(text, want);
}

#[test]
fn what_iptables_would_print_otherwise_is_left_to_it() {
    let (mut bytes, info) = table();
    // the comment match renamed to one not known here
    let at = memchr::memmem::find(&bytes, b"comment").expect("comment");
    bytes[at..at + 7].copy_from_slice(b"commenx");
    let e = render(&bytes, &info, V4).expect_err("unknown match");
    assert!(e.0.contains("commenx"), "{e:?}");
    // a line break in a comment
    let (mut bytes, info) = table();
    let at = memchr::memmem::find(&bytes, b"to sub").expect("text");
    bytes[at + 2] = b'\n';
    assert!(render(&bytes, &info, V4).is_err());
    // a table cut short: no end entry
    let (bytes, info) = table();
    assert!(render(&bytes[..bytes.len() - 176], &info, V4).is_err());
    // an interface name that fills its 16 bytes: iptables would read on past it
    let (mut bytes, info) = table();
    bytes[16..32].fill(b'a');
    let e = render(&bytes, &info, V4).expect_err("no NUL");
    assert!(e.0.contains("fills its field"), "{e:?}");
    bytes[31] = 0;
    assert!(render(&bytes, &info, V4).is_ok(), "15 bytes and a NUL");
    // a match name without its NUL
    let (mut bytes, info) = table();
    bytes[112 + 2..112 + 31].fill(b'x');
    assert!(render(&bytes, &info, V4).is_err());
    // a jump to an offset no chain holds
    let (mut bytes, info) = table();
    let (toff, past) = (u16_at(&bytes, 88), bytes.len() as i32 + 8);
    bytes[toff + 32..toff + 36].copy_from_slice(&past.to_ne_bytes());
    assert!(render(&bytes, &info, V4).is_err());
}

#[test]
fn probabilities_are_written_as_printf_writes_them() {
    use nix::libc;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut values: Vec<u32> = (0..=64).map(|i| (i as u32) << 25).collect();
    // halves at the 12th digit (multiples of 2^-12), and random ones
    values.extend((0..4096).map(|i| (i as u32) << 19));
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        values.push((x >> 33) as u32);
    }
    for v in values {
        let p = f64::from(v) / f64::from(0x8000_0000u32);
        let mut buf = [0u8; 64];
        // SAFETY: the buffer is large enough for "%.11f" of a number below 2.
        let n = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.11f".as_ptr(), p) };
        let want = std::str::from_utf8(&buf[..n as usize]).expect("ascii");
        assert_eq!(ext::fixed11(p), want, "{v}");
    }
}

#[test]
fn damaged_entries_are_refused_or_written_never_a_panic() {
    let (bytes, info) = table();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut written, mut refused) = (0, 0);
    for round in 0..20_000 {
        let mut b = bytes.clone();
        // a few bytes changed anywhere, now and then a table cut short
        for _ in 0..=next() % 4 {
            let at = (next() % b.len() as u64) as usize;
            b[at] = next() as u8;
        }
        if round % 7 == 0 {
            b.truncate((next() % b.len() as u64) as usize);
        }
        match render(&b, &info, V4) {
            Ok(_) => written += 1,
            Err(_) => refused += 1,
        }
    }
    // most damage lands in counters, addresses or comments, which are written
    assert!(
        written > 1000 && refused > 1000,
        "{written} written, {refused} refused"
    );
}

/// The table built from the entries is the one the listing written from them parses
/// into, column for column: plain rules, a rule without a target, every inversion, a
/// goto, interface names, a long comment, a policy and references.
#[test]
fn a_table_built_from_the_entries_is_the_parse_of_its_listing() {
    let (mut bytes, info) = table();
    // the first rule: `! -p 6 ! -i eth0 -o br+ ! -s 10.0.0.0/8 ! -d 0.0.0.0/0 -f`, a goto
    bytes[80] = 6;
    bytes[82] = 0x01 | 0x02;
    bytes[83] = 0x40 | 0x01 | 0x08 | 0x10 | 0x20;
    bytes[16..20].copy_from_slice(b"eth0");
    bytes[32..35].copy_from_slice(b"br+");
    let text = render(&bytes, &info, V4).expect("renders");
    assert!(text.contains("[goto]") && text.contains("!eth0"), "{text}");
    let parsed =
        crate::parse::parse_table_counted("filter", &text, None, None, false).expect("parses");
    let built = super::table("filter", &bytes, &info, V4).expect("builds");
    assert_eq!(built, parsed);
    for (a, b) in built.chains.iter().zip(&parsed.chains) {
        for (x, y) in a.rules.iter().zip(b.rules.iter()) {
            assert_eq!(x.jump, y.jump, "{}", a.name);
        }
    }
    assert_eq!(built.rule_count(), 3);
    let spec = &built.chains[0].rules[0].spec;
    assert_eq!(
        (&*spec.prot, &*spec.opt, &*spec.in_iface, &*spec.source),
        ("!6", "!f", "!eth0", "!10.0.0.0/8")
    );
    assert!(spec.goto && spec.extra == "/* to sub */", "{spec:?}");
    assert_eq!(&*built.chains[0].rules[1].spec.target, "");
}
