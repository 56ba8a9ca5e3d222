use super::*;
use crate::parse::parse_table;

const LISTING: &str = "Chain INPUT (policy ACCEPT 10 packets, 600 bytes)
 pkts bytes target     prot opt in     out     source               destination
    5   300 ACCEPT     all  --  lo     *       0.0.0.0/0            0.0.0.0/0

Chain FORWARD (policy DROP 0 packets, 0 bytes)
 pkts bytes target     prot opt in     out     source               destination

Chain OUTPUT (policy ACCEPT 7 packets, 420 bytes)
 pkts bytes target     prot opt in     out     source               destination
";

const NAT: &str = "Chain PREROUTING (policy ACCEPT 3 packets, 180 bytes)
 pkts bytes target     prot opt in     out     source               destination
    1    60 DNAT       tcp  --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:80 to:10.0.0.2:80

Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
 pkts bytes target     prot opt in     out     source               destination

Chain OUTPUT (policy ACCEPT 0 packets, 0 bytes)
 pkts bytes target     prot opt in     out     source               destination

Chain POSTROUTING (policy ACCEPT 0 packets, 0 bytes)
 pkts bytes target     prot opt in     out     source               destination
";

fn one(text: &str) -> Paste {
    let p = normalize(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for t in &p.tables {
        parse_table(t.table.as_deref().unwrap_or("filter"), &t.text, None)
            .unwrap_or_else(|e| panic!("{e}\n{}", t.text));
    }
    p
}

#[test]
fn a_plain_listing_is_kept_as_it_is() {
    let p = one(LISTING);
    assert_eq!(p.tables.len(), 1);
    assert_eq!(p.tables[0].text, LISTING);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert!(!p.ipv6);
}

#[test]
fn prompts_of_every_kind_are_skipped_and_named_once() {
    for prompt in [
        "root@host:/etc# sudo iptables -L -nv",
        "[root@node4 ~]# iptables -nvL",
        "user@host:~$ sudo iptables -vnL",
        "$ iptables -vnL",
        "# iptables -vnL",
        "root@RainYun-twwLFBm4 ~ iptables -vnL",
    ] {
        let p = one(&format!("{prompt}\n{LISTING}{prompt}\n"));
        assert_eq!(p.tables.len(), 1, "{prompt}");
        assert_eq!(p.tables[0].text.trim_end(), LISTING.trim_end(), "{prompt}");
        assert_eq!(
            p.warnings,
            ["skipped a shell prompt line in the paste (lines 1, 11)"],
            "{prompt}"
        );
    }
    // iptables' own `#` lines are not prompts
    assert!(!is_prompt("# Warning: iptables-legacy tables present"));
    assert!(!is_prompt(
        "    1    60 ACCEPT all -- * * 0.0.0.0/0 0.0.0.0/0"
    ));
}

#[test]
fn fences_and_the_prose_around_them_are_skipped() {
    let text = format!("Here it is:\n\n```bash\n{LISTING}```\nThanks in advance\n");
    let p = one(&text);
    assert_eq!(p.tables[0].text, LISTING);
    assert_eq!(
        p.warnings,
        [
            "skipped a Markdown code fence in the paste (lines 3, 13)",
            "skipped text outside the code fence in the paste (lines 1, 14)"
        ]
    );
    assert_eq!(p.tables[0].paste_line(1), 4);
}

#[test]
fn text_after_the_listing_is_skipped() {
    let p = one(&format!(
        "{LISTING}\nAny idea what is wrong? Thanks in advance.\n"
    ));
    assert_eq!(p.tables[0].text.trim_end(), LISTING.trim_end());
    assert_eq!(
        p.warnings,
        ["skipped text after the listing in the paste (line 11)"]
    );
    // right after the last rule too
    let text = "Chain X (1 references)\n pkts bytes target prot opt in out source destination\n    1 2 DROP all -- * * 0.0.0.0/0 0.0.0.0/0\nthanks!\n";
    let p = one(text);
    assert!(!p.tables[0].text.contains("thanks"));
}

#[test]
fn a_comment_continued_over_lines_is_no_trailer_and_not_wrapped() {
    // iptables prints a comment's line break as it is: `/* a */` then `b */`
    let text = "Chain X (1 references)\n pkts bytes target prot opt in out source destination\n    1 2 DROP all -- * * 0.0.0.0/0 0.0.0.0/0 /* a */\nb */\n    3 4 DROP all -- * * 0.0.0.0/0 0.0.0.0/0 /* open\nstill */\n";
    let p = normalize(text).expect("read");
    assert_eq!(p.tables[0].text, text);
    assert!(p.warnings.is_empty());
}

#[test]
fn two_tables_are_split_at_the_second_tables_chains() {
    for sep in ["", "\n", "$ iptables -t nat -vnL\n"] {
        let p = one(&format!("{LISTING}{sep}{NAT}"));
        assert_eq!(p.tables.len(), 2, "{sep:?}");
        assert_eq!(p.tables[0].text.trim_end(), LISTING.trim_end());
        assert_eq!(p.tables[1].text, NAT);
        assert_eq!(p.tables[1].paste_line(1), 10 + sep.lines().count());
    }
    // a repeated built-in chain starts the next table, even of the same chains
    let p = one(&format!("{LISTING}{LISTING}"));
    assert_eq!(p.tables.len(), 2);
}

#[test]
fn wrapped_lines_are_refused_with_the_width() {
    let wide = "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target     prot opt in     out     source               destination\n    0     0 ACCEPT     tcp  --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:22\n    1    60 DROP       all  --  *      *       10.0.0.0/8           0.0.0.0/0\n";
    let wrapped: String = wide
        .lines()
        .flat_map(|l| {
            let c: Vec<char> = l.chars().collect();
            c.chunks(80)
                .map(|p| p.iter().collect::<String>())
                .collect::<Vec<_>>()
        })
        .map(|l| l + "\n")
        .collect();
    let e = normalize(&wrapped).unwrap_err();
    assert!(e.reason.contains("wrapped at 80 columns"), "{e}");
    assert!(e.reason.contains("less -S"), "{e}");
    assert_eq!(e.line, 4, "{wrapped}");
    // a rule line without its chain header: the parser's error, as before
    let frag = "    1    60 DROP       all  --  *      *       10.0.0.0/8           0.0.0.0/0\n";
    let p = normalize(frag).expect("passed on");
    assert!(parse_table("filter", &p.tables[0].text, None).is_err());
}

#[test]
fn an_ip6tables_listing_says_so() {
    let text = LISTING.replace("0.0.0.0/0", "::/0");
    assert!(one(&text).ipv6);
    assert!(one(&format!("$ sudo ip6tables -vnL\n{LISTING}")).ipv6);
}

const SAVE: &str = r#"# Generated by iptables-save v1.8.7 on Sat Nov 12 18:38:09 2022
*filter
:INPUT DROP [120:7200]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [55:3300]
:DOCKER - [0:0]
:KUBE-SERVICES - [0:0]
[10:600] -A INPUT -i lo -j ACCEPT
[2000:1500000] -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
[3:180] -A INPUT -s 10.0.0.1/32 -p tcp -m tcp --dport 22 -m comment --comment "ssh \"admin\"" -j ACCEPT
[0:0] -A INPUT -p tcp -m multiport --dports 80,443 -j DOCKER
[1:2] -A INPUT ! -i docker0 -p udp -m udp --sport 1000:2000 -g KUBE-SERVICES
[0:0] -A INPUT -m addrtype --dst-type LOCAL -m mark --mark 0x4000/0x4000 -m set --match-set allow src -j RETURN
[0:0] -A INPUT -p tcp -m hashlimit --hashlimit-upto 5/sec --hashlimit-name x -j DROP
[4:5] -A INPUT
COMMIT
*nat
:PREROUTING ACCEPT [1:60]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SEP-X - [0:0]
[7:420] -A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
[0:0] -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
[0:0] -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
[0:0] -A KUBE-SEP-X -m statistic --mode random --probability 0.50000000000 -j KUBE-MARK-MASQ
COMMIT
"#;

#[test]
fn a_save_dump_becomes_one_listing_per_table() {
    let p = one(&format!("$ sudo iptables-save -c\n{SAVE}"));
    assert_eq!(
        p.warnings,
        ["skipped a shell prompt line in the paste (line 1)"]
    );
    assert_eq!(p.tables.len(), 2);
    assert_eq!(p.tables[0].table.as_deref(), Some("filter"));
    assert_eq!(p.tables[1].table.as_deref(), Some("nat"));
    let t = parse_table("filter", &p.tables[0].text, None).expect("parses");
    let input = t.chain("INPUT").expect("INPUT");
    assert_eq!((input.packets, input.bytes), (120, 7200));
    assert_eq!(input.policy(), Some("DROP"));
    let extras: Vec<&str> = input.rules.iter().map(|r| r.spec.extra.as_str()).collect();
    assert_eq!(
        extras,
        [
            "",
            "ctstate RELATED,ESTABLISHED",
            "tcp dpt:22 /* ssh \"admin\" */",
            "multiport dports 80,443",
            "[goto] udp spts:1000:2000",
            "ADDRTYPE match dst-type LOCAL mark match 0x4000/0x4000 match-set allow src",
            "-m hashlimit --hashlimit-upto 5/sec --hashlimit-name x",
            "",
        ]
        .map(|s| s.strip_prefix("[goto] ").unwrap_or(s))
    );
    assert!(input.rules[4].spec.goto);
    assert_eq!(input.rules[2].spec.source, "10.0.0.1");
    assert_eq!(input.rules[4].spec.in_iface, "!docker0");
    assert_eq!(input.rules[7].spec.target, "");
    let counters: Vec<(u64, u64)> = input
        .counters
        .iter()
        .map(|c| (c.packets, c.bytes))
        .collect();
    assert_eq!(counters[..3], [(10, 600), (2000, 1500000), (3, 180)]);
    assert_eq!(counters[7], (4, 5));
    assert_eq!(t.chain("DOCKER").expect("DOCKER").references(), Some(1));
    let n = parse_table("nat", &p.tables[1].text, None).expect("nat parses");
    let extra = |c: &str, i: usize| n.chain(c).expect(c).rules[i].spec.extra.clone();
    assert_eq!(extra("PREROUTING", 0), "tcp dpt:8080 to:172.17.0.2:80");
    assert_eq!(extra("KUBE-MARK-MASQ", 0), "MARK or 0x4000");
    assert_eq!(
        extra("KUBE-SEP-X", 0),
        "statistic mode random probability 0.50000000000"
    );
    assert_eq!(
        n.chain("POSTROUTING").expect("P").rules[0].spec.out_iface,
        "!docker0"
    );
}

#[test]
fn a_save_dump_without_counters_says_so_once() {
    let plain: String = SAVE
        .lines()
        .map(|l| match l.strip_prefix('[') {
            Some(r) if r.contains("] -A") => r.split_once("] ").map_or(l, |x| x.1),
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let p = one(&plain);
    assert_eq!(
        p.warnings,
        [
            "no counters in this paste for its rules (iptables-save without -c, or iptables -S): they show 0"
        ]
    );
}

#[test]
fn iptables_dash_s_reads_and_a_second_policy_starts_a_table() {
    let text = "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N DOCKER\n-A FORWARD -o docker0 -j DOCKER\n-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT\n-P PREROUTING ACCEPT\n-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n-P POSTROUTING ACCEPT\n-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n";
    let p = one(text);
    assert_eq!(p.tables.len(), 2);
    assert!(p.tables.iter().all(|t| t.table.is_none()));
    let t = parse_table("filter", &p.tables[0].text, None).expect("parses");
    assert_eq!(
        t.chain("DOCKER").expect("DOCKER").rules[0].spec.extra,
        "tcp dpt:80"
    );
    assert_eq!(t.chain("FORWARD").expect("F").policy(), Some("DROP"));
    // `iptables -S -v`'s counters
    let p = one("-P INPUT ACCEPT -c 5 300\n-A INPUT -i lo -c 2 120 -j ACCEPT\n");
    let t = parse_table("filter", &p.tables[0].text, None).expect("parses");
    let c = t.chain("INPUT").expect("INPUT");
    assert_eq!(
        (c.packets, c.counters[0].packets, c.counters[0].bytes),
        (5, 2, 120)
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn a_comment_cannot_forge_a_rule_in_a_save_dump() {
    // iptables-save prints a comment's line break as it is, inside the quotes
    let text = "*filter\n:INPUT ACCEPT [0:0]\n:T - [0:0]\n[1:1] -A INPUT -j T\n[5:50] -A T -m comment --comment \"ok */\n2   999999 88888888 DROP all -- * * 6.6.6.6 0.0.0.0/0 /* fake\" -j ACCEPT\nCOMMIT\n";
    let p = one(text);
    let t = parse_table("filter", &p.tables[0].text, None).expect("parses");
    let rules = &t.chain("T").expect("T").rules;
    assert_eq!(rules.len(), 1, "{}", p.tables[0].text);
    assert_eq!(rules[0].spec.target, "ACCEPT");
    assert_eq!(
        rules[0].spec.extra,
        "/* ok *\\/\\n2   999999 88888888 DROP all -- * * 6.6.6.6 0.0.0.0/0 /* fake */"
    );
    assert_eq!(t.chain("T").expect("T").counters[0].packets, 5);
    assert_eq!(p.tables[0].text.lines().count(), 7);
}

#[test]
fn save_lines_that_make_no_sense_name_their_line() {
    let e = normalize("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p\nCOMMIT\n").unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    let e = normalize("*filter\n:INPUT ACCEPT [0:0]\nhello there\n-A INPUT -j DROP\nCOMMIT\n")
        .unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    // text after the dump: skipped
    let p = one("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\nThanks!\n");
    assert_eq!(
        p.warnings,
        ["skipped text after the listing in the paste (line 4)"]
    );
}

/// Every save dump captured beside its `iptables -vnxL` listings (tests/fixtures/
/// iptables): the rendered listing holds the same chains, policies, counters, rules,
/// targets and address columns; the match text is iptables' own for most rules.
#[test]
fn rendered_dumps_equal_the_real_listings() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/iptables");
    let (mut same_text, mut rules) = (0, 0);
    for set in [
        "edge.legacy",
        "edge.nft",
        "docker-swarm.legacy",
        "ipv6.legacy",
        "mixed.legacy",
        "ufw.nft",
    ] {
        let Ok(save) = std::fs::read_to_string(dir.join(format!("{set}.save-c.txt"))) else {
            continue;
        };
        let p = normalize(&save).unwrap_or_else(|e| panic!("{set}: {e}"));
        for pasted in &p.tables {
            let name = pasted.table.as_deref().expect("named");
            let Ok(real) = std::fs::read_to_string(dir.join(format!("{set}.{name}-vnxL.txt")))
            else {
                continue;
            };
            let real = parse_table(name, &real, None).expect("real parses");
            let ours = parse_table(name, &pasted.text, None)
                .unwrap_or_else(|e| panic!("{set} {name}: {e}\n{}", pasted.text));
            assert_eq!(ours.chains.len(), real.chains.len(), "{set} {name}");
            for c in &real.chains {
                let o = ours
                    .chain(&c.name)
                    .unwrap_or_else(|| panic!("{set} {name} {}", c.name));
                assert_eq!(
                    (o.packets, o.bytes),
                    (c.packets, c.bytes),
                    "{set} {}",
                    c.name
                );
                assert_eq!(o.policy(), c.policy(), "{set} {}", c.name);
                assert_eq!(o.counters, c.counters, "{set} {}", c.name);
                assert_eq!(o.rules.len(), c.rules.len(), "{set} {}", c.name);
                for (a, b) in o.rules.iter().zip(c.rules.iter()) {
                    let (a, b) = (&a.spec, &b.spec);
                    let prot = |p: &str| {
                        let (bang, p) = p.strip_prefix('!').map_or(("", p), |p| ("!", p));
                        let p = match p {
                            "0" | "all" => "all",
                            "6" => "tcp",
                            "17" => "udp",
                            "1" => "icmp",
                            "58" => "ipv6-icmp",
                            p => p,
                        };
                        format!("{bang}{p}")
                    };
                    assert_eq!(a.target, b.target, "{set} {}", c.name);
                    assert_eq!(a.goto, b.goto, "{set} {}", c.name);
                    // iptables 1.8.9 prints other protocols by number
                    let num = |p: &str| {
                        p.trim_start_matches('!')
                            .bytes()
                            .all(|b| b.is_ascii_digit())
                    };
                    if num(&prot(&a.prot)) == num(&prot(&b.prot)) {
                        assert_eq!(prot(&a.prot), prot(&b.prot), "{set} {} {b:?}", c.name);
                    }
                    // `-i +` (any interface) is left out of a dump
                    let any = |i: &str| {
                        if i == "+" {
                            "*".to_string()
                        } else {
                            i.to_string()
                        }
                    };
                    assert_eq!(
                        (
                            any(&a.in_iface),
                            any(&a.out_iface),
                            &a.source,
                            &a.destination
                        ),
                        (
                            any(&b.in_iface),
                            any(&b.out_iface),
                            &b.source,
                            &b.destination
                        ),
                        "{set} {}",
                        c.name
                    );
                    rules += 1;
                    same_text += usize::from(a.extra == b.extra);
                }
            }
        }
    }
    assert!(rules > 50, "{rules}");
    eprintln!("{same_text} of {rules} rules with iptables' own match text");
    assert!(same_text * 10 >= rules * 7, "{same_text} of {rules}");
}

#[test]
fn a_quoted_line_break_never_breaks_a_rendered_line() {
    // an unclosed quote joins the dump's next lines into one rule: whatever the words
    // hold, each rendered line is one of the dump's
    let text = "*filter\n:INPUT ACCEPT [0:0]\n:T\"x - [0:0]\n[1:1] -A INPUT -p:x\" -j T\n[2:2] -A INPUT -s \"1.2.3.4 \n5\" -j \"A\nB\"\nCOMMIT\n";
    let p = normalize(text).expect("read");
    for t in &p.tables {
        assert_eq!(t.origin.len(), t.text.lines().count(), "{}", t.text);
    }
}

#[test]
fn words_are_split_whitespace() {
    // every ASCII character, and some that are white space outside ASCII (no-break
    // space, U+0085, U+2003, U+3000) or not (U+200B), between words and at the ends
    let mut pieces: Vec<String> = (0u8..128).map(|b| char::from(b).to_string()).collect();
    pieces.extend(
        [
            "\u{a0}",
            "\u{85}",
            "\u{2003}",
            "\u{3000}",
            "\u{200b}",
            "é",
            "→",
            "ab",
            "0.0.0.0/0",
        ]
        .map(String::from),
    );
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        let mut s = String::new();
        for _ in 0..(seed % 9) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push_str(&pieces[(seed % pieces.len() as u64) as usize]);
        }
        seed = seed.wrapping_mul(0x2545_f491_4f6c_dd1d).wrapping_add(1);
        let want: Vec<&str> = s.split_whitespace().collect();
        let got: Vec<&str> = words(&s).collect();
        assert_eq!(got, want, "{s:?}");
    }
}
