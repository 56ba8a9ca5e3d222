use super::*;

use crate::source::kernel::nft::{nested, put};

fn be(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// An expression: its name and its attributes.
fn expr(name: &str, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    nested(1, |e| {
        put(e, 1, format!("{name}\0").as_bytes());
        let mut d = Vec::new();
        f(&mut d);
        put(e, 2 | 0x8000, &d);
    })
}

fn data(kind: u16, v: &[u8]) -> Vec<u8> {
    nested(kind, |d| put(d, 1, v))
}

fn meta(key: u32) -> Vec<u8> {
    expr("meta", |d| {
        put(d, 1, &be(1));
        put(d, 2, &be(key));
    })
}

fn payload(base: u32, offset: u32, len: u32) -> Vec<u8> {
    expr("payload", |d| {
        put(d, 1, &be(1));
        put(d, 2, &be(base));
        put(d, 3, &be(offset));
        put(d, 4, &be(len));
    })
}

fn cmp(op: u32, v: &[u8]) -> Vec<u8> {
    expr("cmp", |d| {
        put(d, 1, &be(1));
        put(d, 2, &be(op));
        d.extend_from_slice(&data(3, v));
    })
}

fn range(op: u32, from: &[u8], to: &[u8]) -> Vec<u8> {
    expr("range", |d| {
        put(d, 1, &be(1));
        put(d, 2, &be(op));
        d.extend_from_slice(&data(3, from));
        d.extend_from_slice(&data(4, to));
    })
}

fn ext(kind: &str, name: &str, rev: u32, info: &[u8]) -> Vec<u8> {
    expr(kind, |d| {
        put(d, 1, format!("{name}\0").as_bytes());
        put(d, 2, &be(rev));
        put(d, 3, info);
    })
}

fn counter(packets: u64, bytes: u64) -> Vec<u8> {
    expr("counter", |d| {
        put(d, 1, &bytes.to_be_bytes());
        put(d, 2, &packets.to_be_bytes());
    })
}

/// An immediate verdict (code, chain).
fn verdict(code: i32, chain: Option<&str>) -> Vec<u8> {
    expr("immediate", |d| {
        put(d, 1, &be(0));
        let v = nested(2, |x| {
            let inner = nested(2, |v| {
                put(v, 1, &code.to_be_bytes());
                if let Some(c) = chain {
                    put(v, 2, format!("{c}\0").as_bytes());
                }
            });
            x.extend_from_slice(&inner);
        });
        d.extend_from_slice(&v);
    })
}

/// A rule message of these expressions.
fn rule(exprs: &[Vec<u8>]) -> Vec<u8> {
    let mut m = Vec::new();
    put(&mut m, 2, b"X\0");
    m.extend_from_slice(&nested(4, |l| {
        exprs.iter().for_each(|e| l.extend_from_slice(e));
    }));
    m
}

fn comment(text: &str) -> Vec<u8> {
    let mut info = text.as_bytes().to_vec();
    info.resize(256, 0);
    ext("match", "comment", 0, &info)
}

/// The line of rule 1 of chain `chain` in a listing.
fn line_of<'a>(listing: &'a str, chain: &str) -> &'a str {
    let at = listing.find(&format!("Chain {chain} ")).expect("chain");
    listing[at..].lines().nth(2).expect("rule line")
}

#[test]
fn a_kube_proxy_rule_is_written_as_iptables_nft_lists_it() {
    let m = rule(&[
        meta(16),
        cmp(0, &[6]),
        payload(1, 16, 4),
        cmp(0, &[10, 96, 0, 1]),
        comment("default/kubernetes:https"),
        payload(2, 2, 2),
        cmp(0, &443u16.to_be_bytes()),
        counter(5, 300),
        verdict(-3, Some("KUBE-SVC-X")),
    ]);
    let text = from_messages(
        "nat",
        &[("KUBE-SERVICES", vec![&m[..]]), ("KUBE-SVC-X", vec![])],
        false,
    )
    .expect("written");
    assert_eq!(
        line_of(&text, "KUBE-SERVICES"),
        "1           5      300 KUBE-SVC-X  6    --  *      *       0.0.0.0/0            10.96.0.1            /* default/kubernetes:https */ tcp dpt:443"
    );
    assert!(text.contains("Chain KUBE-SVC-X (1 references)\n"), "{text}");
    // the built-in chains the kernel does not hold are listed empty, by hook
    let order: Vec<&str> = text.lines().filter(|l| l.starts_with("Chain ")).collect();
    assert_eq!(order.len(), 6, "{text}");
    assert!(order[0].starts_with("Chain PREROUTING (policy ACCEPT 0 packets"));
    assert!(order[3].starts_with("Chain POSTROUTING"));
}

#[test]
fn inversions_prefixes_masks_and_port_ranges_are_read_as_iptables_nft_reads_them() {
    let m = rule(&[
        meta(6),
        cmp(1, b"eth"),
        meta(16),
        cmp(0, &[17]),
        payload(1, 12, 2),
        cmp(1, &[10, 244]),
        payload(2, 0, 2),
        range(0, &1000u16.to_be_bytes(), &2000u16.to_be_bytes()),
        payload(2, 2, 2),
        cmp(3, &99u16.to_be_bytes()),
        counter(0, 0),
        verdict(-4, Some("X")),
    ]);
    let text = from_messages("filter", &[("X", vec![&m[..]])], false).expect("written");
    assert_eq!(
        line_of(&text, "X"),
        "1           0        0 X          17   --  !eth+  *      !10.244.0.0/16        0.0.0.0/0           [goto]  udp spts:1000:2000 dpts:0:99"
    );
}

fn masked(v: &[u8]) -> Vec<u8> {
    expr("bitwise", |d| {
        put(d, 1, &be(1));
        put(d, 2, &be(1));
        put(d, 3, &be(v.len() as u32));
        d.extend_from_slice(&data(4, v));
        d.extend_from_slice(&data(5, &vec![0; v.len()]));
    })
}

#[test]
fn tcp_flags_and_fragments_are_read_as_iptables_nft_reads_them() {
    let syn = rule(&[
        meta(16),
        cmp(0, &[6]),
        payload(2, 13, 1),
        masked(&[0x17]),
        cmp(0, &[0x02]),
        counter(0, 0),
        verdict(1, None),
    ]);
    let frag = rule(&[
        payload(1, 6, 2),
        masked(&[0x1f, 0xff]),
        cmp(1, &[0, 0]),
        counter(0, 0),
        verdict(0, None),
    ]);
    let not_frag = rule(&[
        payload(1, 6, 2),
        masked(&[0x1f, 0xff]),
        cmp(0, &[0, 0]),
        counter(0, 0),
        verdict(0, None),
    ]);
    let text = from_messages(
        "filter",
        &[("INPUT", vec![&syn[..], &frag[..], &not_frag[..]])],
        false,
    )
    .expect("written");
    let lines: Vec<&str> = text.lines().skip(2).take(3).collect();
    assert!(lines[0].ends_with(" tcp flags:0x17/0x02"), "{text}");
    assert!(lines[1].contains("DROP       0    -f  "), "{text}");
    assert!(lines[2].contains("DROP       0    !f  "), "{text}");
    // another mask is not a fragment test iptables-nft writes
    let odd = rule(&[
        payload(1, 6, 2),
        masked(&[0xff, 0xff]),
        cmp(1, &[0, 0]),
        counter(0, 0),
    ]);
    assert!(from_messages("filter", &[("INPUT", vec![&odd[..]])], false).is_err());
}

#[test]
fn what_iptables_nft_does_not_write_is_left_to_it() {
    let cases: [(&str, Vec<Vec<u8>>); 5] = [
        ("ct", vec![expr("ct", |d| put(d, 1, &be(1))), counter(0, 0)]),
        (
            "a protocol other than tcp or udp",
            vec![payload(2, 2, 2), cmp(0, &[0, 80]), counter(0, 0)],
        ),
        ("a rule without a counter", vec![verdict(1, None)]),
        (
            "an expression after the verdict",
            vec![counter(0, 0), verdict(1, None), counter(0, 0)],
        ),
        (
            "limit",
            vec![ext("match", "limit", 0, &[0; 32]), counter(0, 0)],
        ),
    ];
    for (why, exprs) in cases {
        let m = rule(&exprs);
        let err = from_messages("filter", &[("INPUT", vec![&m[..]])], false).expect_err(why);
        assert!(err.0.contains(why), "{why}: {}", err.0);
    }
    let mut m = rule(&[counter(0, 0)]);
    put(&mut m, 7, b"\0\x05hi\0");
    let err = from_messages("filter", &[("INPUT", vec![&m[..]])], false).expect_err("udata");
    assert!(err.0.contains("user data"), "{}", err.0);
}

#[test]
fn damaged_rule_messages_are_never_a_panic() {
    let good = rule(&[
        meta(16),
        cmp(0, &[6]),
        payload(1, 12, 4),
        cmp(1, &[10, 0, 0, 1]),
        comment("c"),
        payload(2, 2, 2),
        range(1, &[0, 1], &[0, 9]),
        ext("match", "mark", 1, &[0; 16]),
        counter(1, 2),
        ext("target", "DNAT", 2, &[0; 48]),
    ]);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..20_000 {
        let mut m = good.clone();
        match i % 3 {
            0 => m.truncate(next() as usize % (good.len() + 1)),
            1 => {
                for _ in 0..1 + next() % 4 {
                    let at = next() as usize % m.len();
                    m[at] = next() as u8;
                }
            }
            _ => m = (0..next() % 300).map(|_| next() as u8).collect(),
        }
        let _ = from_messages(
            "nat",
            &[("C", vec![&m[..]]), ("PREROUTING", vec![&m[..]])],
            i % 2 == 0,
        );
    }
}
