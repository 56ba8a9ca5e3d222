use super::*;

const TCP80: &str =
    "inet (null) (null) use 0 type filter hook prerouting prio -350 packets 0 bytes 0
inet iptop-trace c
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ payload load 2b @ transport header + 2 => reg 1 ]
  [ cmp eq reg 1 0x00005000 ]
  [ limit rate 10/second burst 5 type packets flags 0x0 ]
  [ immediate reg 1 0x00000001 ]
  [ meta set nftrace with reg 1 ]

";

#[test]
fn parses_a_port_match() {
    let e = parse(TCP80).unwrap();
    assert_eq!(e.len(), 7);
    assert_eq!(e[0], Expr::Meta { key: 16, dreg: 1 });
    assert_eq!(
        e[1],
        Expr::Cmp {
            sreg: 1,
            op: 0,
            data: vec![6]
        }
    );
    assert_eq!(
        e[2],
        Expr::Payload {
            base: 2,
            offset: 2,
            len: 2,
            dreg: 1
        }
    );
    assert_eq!(
        e[3],
        Expr::Cmp {
            sreg: 1,
            op: 0,
            data: vec![0, 80]
        }
    );
    assert_eq!(
        e[4],
        Expr::Limit {
            rate: 10,
            unit: 1,
            burst: 5,
            bytes: false,
            flags: 0
        }
    );
    assert_eq!(
        e[5],
        Expr::Immediate {
            dreg: 1,
            data: vec![1]
        }
    );
    assert_eq!(e[6], Expr::MetaSet { key: 12, sreg: 1 });
}

#[test]
fn prefixes_ranges_and_names() {
    let out = "inet iptop-trace c
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x0000000a ]
  [ payload load 16b @ network header + 24 => reg 1 ]
  [ bitwise reg 1 = ( reg 1 & 0x0000c0ff 0x00000000 0x00000000 0x00000000 ) ^ 0x00000000 0x00000000 0x00000000 0x00000000 ]
  [ cmp eq reg 1 0x000080fe 0x00000000 0x00000000 0x00000000 ]
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000011 ]
  [ payload load 2b @ transport header + 0 => reg 1 ]
  [ range neq reg 1 0x00003200 0x00003c00 ]
  [ meta load iifname => reg 1 ]
  [ cmp eq reg 1 0x00687465 ]
  [ meta load oifname => reg 1 ]
  [ cmp eq reg 1 0x30687465 0x00000000 0x00000000 0x00000000 ]
  [ limit rate 10/second burst 5 type packets flags 0x0 ]
  [ immediate reg 1 0x00000001 ]
  [ meta set nftrace with reg 1 ]
";
    let e = parse(out).unwrap();
    let Expr::Bitwise { mask, xor, .. } = &e[3] else {
        panic!("{:?}", e[3])
    };
    assert_eq!(mask.len(), 16);
    assert_eq!(&mask[..2], &[0xff, 0xc0]);
    assert_eq!(xor, &vec![0; 16]);
    assert_eq!(
        e[8],
        Expr::Range {
            sreg: 1,
            op: 1,
            from: vec![0, 50],
            to: vec![0, 60]
        }
    );
    // `eth*`: a prefix of three bytes; `eth0`: the whole 16-byte name
    assert_eq!(
        e[10],
        Expr::Cmp {
            sreg: 1,
            op: 0,
            data: b"eth".to_vec()
        }
    );
    let Expr::Cmp { data, .. } = &e[12] else {
        panic!()
    };
    assert_eq!(data.len(), 16);
    assert_eq!(&data[..5], b"eth0\0");
}

#[test]
fn refuses_what_it_does_not_encode() {
    let set = "__set%d iptop-trace 3 size 2\n__set%d iptop-trace 0\n\telement 00005000  : 0 [end]\ninet iptop-trace c\n  [ lookup reg 1 set __set%d ]\n";
    assert_eq!(
        parse(set),
        Err(CompileError::Unsupported("an anonymous set".into()))
    );
    let ct = "inet iptop-trace c\n  [ ct load state => reg 1 ]\n";
    assert_eq!(
        parse(ct),
        Err(CompileError::Unsupported("conntrack (ct)".into()))
    );
    assert!(parse(&TCP80.replace("[ limit", "[ log prefix x ]\n  [ limit")).is_err());
    // the tail iptop wrote must be there
    let no_tail = TCP80.replace("  [ meta set nftrace with reg 1 ]\n", "");
    assert!(matches!(parse(&no_tail), Err(CompileError::Garbled(_))));
    // two rules: refused
    let two = format!("{TCP80}{TCP80}");
    assert!(matches!(parse(&two), Err(CompileError::Garbled(_))));
}

#[test]
fn garbage_never_panics() {
    for s in [
        "",
        "[ ]",
        "inet iptop-trace c\n[ cmp eq reg 99 0x1 ]",
        "inet iptop-trace c\n  [ cmp eq reg 1 ]",
        "inet iptop-trace c\n  [ cmp eq reg 1 0xzz ]",
        "inet iptop-trace c\n  [ payload load 999999999999b @ network header + 1 => reg 1 ]",
        "inet iptop-trace c\n  [ bitwise reg 1 = ( reg 1 & ) ^ ]",
        "inet iptop-trace c\n  [ range eq reg 1 0x1 ]",
        "inet iptop-trace c\n  [ limit rate x/second burst 5 type packets flags 0x0 ]",
        "inet iptop-trace c\n  [ immediate reg 0 accept ]",
    ] {
        assert!(parse(s).is_err(), "{s}");
    }
}

#[test]
fn encodes_nested_attributes() {
    let mut out = Vec::new();
    encode(&parse(TCP80).unwrap(), &mut out);
    assert_eq!(out.len() % 4, 0);
    // walk it back: seven list elements, each with a name and data
    let mut names = Vec::new();
    let mut b = &out[..];
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let kind = u16::from_ne_bytes([b[2], b[3]]);
        assert_eq!(kind, 1 | NLA_F_NESTED);
        let inner = &b[4..len];
        let nlen = u16::from_ne_bytes([inner[0], inner[1]]) as usize;
        names.push(String::from_utf8_lossy(&inner[4..nlen - 1]).into_owned());
        b = &b[(len + 3) & !3..];
    }
    assert_eq!(
        names,
        [
            "meta",
            "cmp",
            "payload",
            "cmp",
            "limit",
            "immediate",
            "meta"
        ]
    );
}

#[test]
fn refuses_characters_that_end_the_rule() {
    assert!(check_chars("tcp dport 80").is_ok());
    assert!(check_chars("iifname \"eth*\"").is_ok());
    assert!(check_chars("tcp dport 80; flush ruleset").is_err());
    assert!(check_chars("tcp dport 80 # x").is_err());
    assert!(check_chars("tcp dport {80, 443}").is_err());
    assert!(check_chars("  ").is_err());
    assert!(check_chars("tcp\ndport").is_err());
}
