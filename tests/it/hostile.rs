//! Hostile and odd input: every case gives a clear error naming the line, or a correct
//! result; never a panic, never a snapshot that silently lacks rules. Plus generated
//! rulesets round-tripped through the `iptables -L -v -n -x` printer, and the reusing
//! parser checked against a fresh parse under random churn.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::common::FakeIptables;
use iptop::model::{Chain, ChainKind, Counter, FirewallTable, Rule, RuleSpec};
use iptop::parse::parse_table;
use iptop::source::{PollError, RawListing, RawPoll, snapshot_from};
use iptop::synth::{Rng, fix_references, render_listing};

const SWARM: &str = include_str!("../fixtures/iptables/docker-swarm.nft.filter-vnxL-lines.txt");
const TITLE: &str = "num      pkts      bytes target     prot opt in     out     source               destination         ";

fn raw(stdout: &str, status: i32) -> RawPoll {
    RawPoll {
        last: false,
        seq: 1,
        at: Duration::ZERO,
        taken_at: SystemTime::UNIX_EPOCH,
        listings: vec![RawListing {
            stdout: std::sync::Arc::new(stdout.into()),
            status: Some(status),
            ..RawListing::empty("filter")
        }],
        discontinuity: false,
    }
}

fn err_of(text: &str) -> PollError {
    snapshot_from(&raw(text, 0), &["filter".into()]).expect_err("must be refused")
}

#[test]
fn empty_and_header_only_listings() {
    let e = parse_table("filter", "", None).expect_err("empty");
    assert_eq!(e.line, 1);
    assert!(e.reason.contains("no chains"), "{e}");
    assert!(matches!(err_of(""), PollError::Parse { .. }));

    let e = parse_table(
        "filter",
        "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n",
        None,
    )
    .expect_err("no titles");
    assert!(e.reason.contains("cut off"), "{e}");
    // headers and titles only: a complete table without rules
    let t = parse_table(
        "filter",
        &format!("Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n{TITLE}\n"),
        None,
    )
    .expect("ok");
    assert_eq!((t.chains.len(), t.rule_count()), (1, 0));
    // only titles, no chain
    let e = parse_table("filter", &format!("{TITLE}\n{TITLE}\n"), None).expect_err("titles only");
    assert_eq!(e.line, 1);
}

#[test]
fn a_ten_megabyte_line() {
    let junk = "A".repeat(10 << 20);
    let e = parse_table("filter", &junk, None).expect_err("junk");
    assert_eq!(e.line, 1);
    assert!(
        e.to_string().len() < 300,
        "the message quotes a snippet, not the line"
    );
    // the same length as a comment of a real rule is just a long comment
    let long = SWARM.replace(
        "ctstate RELATED,ESTABLISHED",
        &format!("/* {} */", "x".repeat(10 << 20)),
    );
    let t = parse_table("filter", &long, None).expect("long comment");
    let extra = &t.chain("FORWARD").expect("FORWARD").rules[3].spec.extra;
    assert_eq!(extra.len(), (10 << 20) + 6);
}

#[test]
fn binary_garbage() {
    let mut rng = Rng::new(7);
    for len in [1usize, 7, 100, 4096, 1 << 20] {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = parse_table("filter", &*text, None) {
            assert!(e.line >= 1);
        }
        // garbage after a good start is refused at its line
        let mixed = format!("{SWARM}{text}\n");
        if let Err(e) = parse_table("filter", &mixed, None) {
            assert!(e.line > SWARM.lines().count() - 1, "{e}");
        }
    }
}

#[test]
fn counters_at_and_beyond_64_bits() {
    let line = |p: &str, b: &str| {
        format!(
            "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n{TITLE}\n1    {p} {b} ACCEPT     0    --  *      *       0.0.0.0/0            0.0.0.0/0\n"
        )
    };
    let t = parse_table(
        "filter",
        &line("18446744073709551615", "18446744073709551615"),
        None,
    )
    .expect("max");
    assert_eq!(
        t.chains[0].counters[0],
        Counter {
            packets: u64::MAX,
            bytes: u64::MAX
        }
    );
    for (p, b) in [
        ("18446744073709551616", "0"),
        ("0", "99999999999999999999"),
        ("0", "18446745T"),
        ("340282366920938463463374607431768211456", "0"),
    ] {
        let e = parse_table("filter", &line(p, b), None).expect_err("too big");
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("does not fit in 64 bits"), "{e}");
    }
    // a poll that went from u64::MAX to 5 is a reset, never a wrapped delta
    let d = iptop::diff::Delta::between((u64::MAX, u64::MAX), (5, 300));
    assert!(d.reset && d.packets == 5);
}

#[test]
fn non_utf8_comments_and_crlf() {
    // comments may hold any bytes: they come through as U+FFFD, the rule stays
    let mut bytes = SWARM.as_bytes().to_vec();
    let at = SWARM.find("tcp dpt:80").expect("rule");
    bytes.splice(at..at, b"/* caf\xe9 \xff\xfe */ ".iter().copied());
    let text = String::from_utf8_lossy(&bytes);
    let t = parse_table("filter", &*text, None).expect("lossy");
    let rule = &t.chain("DOCKER-INGRESS").expect("chain").rules[0];
    assert!(
        rule.spec.extra.contains('\u{fffd}') && rule.spec.extra.ends_with("tcp dpt:80"),
        "{}",
        rule.spec.extra
    );
    assert_eq!(
        t.rule_count(),
        parse_table("filter", SWARM, None).expect("ok").rule_count()
    );

    // CRLF line ends parse to the same table
    let crlf = SWARM.replace('\n', "\r\n");
    assert_eq!(
        parse_table("filter", &crlf, None).expect("crlf"),
        parse_table("filter", SWARM, None).expect("lf")
    );
}

#[test]
fn non_utf8_from_the_real_pipe() {
    // the live source reads bytes; a comment with invalid UTF-8 must not lose the table
    let fake = FakeIptables::new("ok");
    std::fs::write(fake.dir().join("behaviour"), "bytes").expect("behaviour");
    let script = std::fs::read_to_string(fake.dir().join("iptables")).expect("script");
    let patched = script.replace(
        "  cut)",
        &format!(
            "  bytes) sed 's#tcp dpt:80#/* \\xff\\xfe */ tcp dpt:80#' {}/tests/fixtures/iptables/docker-swarm.nft.filter-vnxL-lines.txt ;;\n  cut)",
            crate::common::root().display()
        ),
    );
    std::fs::write(fake.dir().join("iptables"), patched).expect("patch");
    let out = crate::common::iptop()
        .args(["--once", "--format", "json", "--iptables"])
        .arg(fake.dir().join("iptables"))
        .output()
        .expect("iptop");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let chains = v["tables"][0]["chains"].as_array().expect("chains");
    let ingress = chains
        .iter()
        .find(|c| c["name"] == "DOCKER-INGRESS")
        .expect("chain");
    let extra = ingress["rules"][0]["extra"].as_str().expect("extra");
    assert!(
        extra.contains('\u{fffd}') && extra.ends_with("tcp dpt:80"),
        "{extra}"
    );
}

#[test]
fn a_listing_cut_anywhere_is_never_taken_as_whole() {
    // the child killed mid-write: whatever byte it stopped at, the poll is refused
    // unless the text happens to end exactly at a line end (then the exit status says
    // what happened, below)
    for cut in 1..SWARM.len() {
        let part = &SWARM[..cut];
        match snapshot_from(&raw(part, 0), &["filter".into()]) {
            Ok(s) => {
                assert!(part.ends_with('\n'), "cut at {cut} taken as whole");
                assert!(s.rule_count() <= 21);
            }
            Err(PollError::CutOff { .. } | PollError::Parse { .. }) => {}
            Err(e) => panic!("cut at {cut}: {e}"),
        }
    }
    // killed by a signal after a partial write: refused whatever the text
    let fake = FakeIptables::new("ok");
    let script = std::fs::read_to_string(fake.dir().join("iptables")).expect("script");
    let patched = script.replace(
        "  cut)",
        &format!(
            "  killed) head -n 12 {}/tests/fixtures/iptables/docker-swarm.nft.filter-vnxL-lines.txt; kill -9 $$ ;;\n  cut)",
            crate::common::root().display()
        ),
    );
    std::fs::write(fake.dir().join("iptables"), patched).expect("patch");
    fake.set("killed");
    let out = crate::common::iptop()
        .args(["--once", "--iptables"])
        .arg(fake.dir().join("iptables"))
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("killed by signal 9"), "{e}");
    assert!(out.stdout.is_empty());
}

#[test]
fn malformed_structure() {
    for (text, want_line, want) in [
        // columns on the wrong side of opt
        (
            "Chain X (0 references)\n in prot opt target\n".to_string(),
            2,
            "column titles",
        ),
        (
            format!("Chain X (0 references)\n{TITLE}\nChain X (0 references)\n{TITLE}\n"),
            3,
            "twice",
        ),
        (
            format!("Chain X (lots of references)\n{TITLE}\n"),
            1,
            "references",
        ),
        (format!("Chain  (0 references)\n{TITLE}\n"), 1, ""),
        (
            format!("Chain X (0 references)\n{TITLE}\n1 2 3\n"),
            3,
            "in chain `X`",
        ),
        (
            format!("Chain X (0 references)\n{TITLE}\n1 2 3 ACCEPT 0 -- *\n"),
            3,
            "expected the `out` column",
        ),
    ] {
        let e = parse_table("filter", &text, None).expect_err(&text);
        assert_eq!(e.line, want_line, "{text:?}: {e}");
        assert!(e.reason.contains(want), "{text:?}: {e}");
    }
}

/// A random ruleset whose every field is a token `iptables -L -v -n` could print.
fn random_table(rng: &mut Rng, chains: usize) -> FirewallTable {
    let pick = |rng: &mut Rng, xs: &[&str]| xs[rng.below(xs.len() as u32) as usize].to_string();
    let mut names: Vec<String> = (0..chains)
        .map(|i| format!("U-{i}-{}", "x".repeat(rng.below(20) as usize)))
        .collect();
    names.sort();
    let builtins = ["INPUT", "FORWARD", "OUTPUT"];
    let mut t = FirewallTable::new("filter");
    for (ci, name) in builtins
        .iter()
        .map(std::string::ToString::to_string)
        .chain(names.clone())
        .enumerate()
    {
        let builtin = ci < builtins.len();
        let (pp, pb) = rng.counters();
        let mut c = Chain {
            name: Arc::from(name.as_str()),
            kind: if builtin {
                ChainKind::Builtin {
                    policy: pick(rng, &["ACCEPT", "DROP"]),
                }
            } else {
                ChainKind::User {
                    references: Some(0),
                }
            },
            packets: if builtin { pp } else { 0 },
            bytes: if builtin { pb } else { 0 },
            rules: Default::default(),
            counters: Vec::new(),
            text: Default::default(),
            native: None,
        };
        let n = rng.below(8) as usize;
        let mut rules = Vec::new();
        for k in 0..n {
            let jump_to = (!names.is_empty() && rng.below(3) == 0)
                .then(|| names[rng.below(names.len() as u32) as usize].clone());
            let target = match &jump_to {
                Some(j) => j.clone(),
                None => pick(
                    rng,
                    &[
                        "ACCEPT",
                        "DROP",
                        "RETURN",
                        "LOG",
                        "",
                        "REJECT",
                        "MASQUERADE",
                    ],
                ),
            };
            let goto = jump_to.is_some() && rng.below(4) == 0;
            let extra = match rng.below(7) {
                0 => String::new(),
                1 => "tcp dpt:80".into(),
                2 => "/* has spaces and /* stars */ */".into(),
                3 => "multiport sports  !53,123".into(),
                4 => "/* unicode: café ☃ */ ctstate RELATED,ESTABLISHED".into(),
                5 => format!("statistic mode random probability 0.{:011}", rng.next_u32()),
                _ => "LOG flags 0 level 4 prefix \"DROP: it's \"quoted\" \"".into(),
            };
            rules.push(Rule {
                num: k as u32 + 1,
                spec: Arc::new(RuleSpec {
                    target: target.into(),
                    goto,
                    prot: pick(rng, &["0", "6", "17", "!6", "tcp", "all", "58"]).into(),
                    opt: pick(rng, &["--", "--", "-f", "!f"]).into(),
                    in_iface: pick(
                        rng,
                        &[
                            "*",
                            "eth0",
                            "!docker0",
                            "docker_gwbridge",
                            "abcdefghijklmno",
                            "eth+",
                            "+",
                        ],
                    )
                    .into(),
                    out_iface: pick(rng, &["*", "!docker_gwbridge", "br-0123456789ab", "wg0"])
                        .into(),
                    source: pick(
                        rng,
                        &[
                            "0.0.0.0/0",
                            "10.0.0.0/8",
                            "!1.2.3.4",
                            "fd00::1",
                            "::/0",
                            "2001:db8:abcd:1234:5678:9abc:def0:1234",
                        ],
                    )
                    .into(),
                    destination: pick(rng, &["0.0.0.0/0", "!127.0.0.0/8", "172.18.0.2", "::/0"])
                        .into(),
                    extra: extra.into(),
                }),
                ..Default::default()
            });
            let (p, b) = match rng.below(10) {
                0 => (u64::MAX, u64::MAX),
                _ => rng.counters(),
            };
            c.counters.push(Counter {
                packets: p,
                bytes: b,
            });
        }
        c.rules = Arc::new(rules);
        c.assign_keys();
        t.push_chain(c);
    }
    t.link();
    fix_references(&mut t);
    t
}

#[test]
fn generated_rulesets_round_trip() {
    let mut rng = Rng::new(2026);
    for i in 0..400 {
        let t = random_table(&mut rng, (i % 12) as usize);
        for lines in [true, false] {
            let text = render_listing(&t, lines);
            let back = parse_table("filter", &text, None)
                .unwrap_or_else(|e| panic!("table {i}: {e}\n{text}"));
            assert_eq!(back, t, "table {i}:\n{text}");
            for (a, b) in back.chains.iter().zip(&t.chains) {
                let ja: Vec<_> = a.rules.iter().map(|r| r.jump).collect();
                let jb: Vec<_> = b.rules.iter().map(|r| r.jump).collect();
                assert_eq!(ja, jb, "table {i}: jumps of {}", a.name);
            }
        }
    }
}

#[test]
fn reuse_equals_fresh_parse_under_random_churn() {
    let mut rng = Rng::new(99);
    for i in 0..300 {
        let t1 = random_table(&mut rng, 6);
        // churn: counters move, rules inserted, removed and replaced, chains come and go
        let mut t2 = random_table(&mut Rng::new(u64::from(rng.next_u32())), 6);
        if rng.below(2) == 0 {
            // mostly the same rules: start from t1 and change a few things
            t2 = t1.clone();
            for c in &mut t2.chains {
                let c = Arc::make_mut(c);
                for k in &mut c.counters {
                    if rng.below(3) == 0 {
                        k.packets = k.packets.wrapping_add(u64::from(rng.below(100)));
                    }
                }
                if !c.rules.is_empty() && rng.below(3) == 0 {
                    let at = rng.below(c.rules.len() as u32) as usize;
                    Arc::make_mut(&mut c.rules).remove(at);
                    c.counters.remove(at);
                }
                if rng.below(3) == 0 {
                    let mut r = c.rules.first().cloned().unwrap_or_default();
                    r.spec = Arc::new(RuleSpec {
                        target: "ACCEPT".into(),
                        prot: "6".into(),
                        opt: "--".into(),
                        in_iface: "*".into(),
                        out_iface: "*".into(),
                        source: "0.0.0.0/0".into(),
                        destination: "0.0.0.0/0".into(),
                        extra: format!("tcp dpt:{}", rng.below(65535)).into(),
                        goto: false,
                    });
                    Arc::make_mut(&mut c.rules).insert(0, r);
                    c.counters.insert(0, Counter::default());
                }
                for (k, r) in Arc::make_mut(&mut c.rules).iter_mut().enumerate() {
                    r.num = k as u32 + 1;
                }
                c.assign_keys();
            }
            t2.link();
            fix_references(&mut t2);
        }
        let prev =
            parse_table("filter", &Arc::new(render_listing(&t1, true).into()), None).expect("prev");
        let text = Arc::new(render_listing(&t2, true).into());
        let fresh = parse_table("filter", &text, None).expect("fresh");
        let reused = parse_table("filter", &text, Some(&prev)).expect("reused");
        assert_eq!(reused, fresh, "case {i}");
        assert_eq!(reused.spans, fresh.spans, "case {i}: spans");
        for (a, b) in reused.chains.iter().zip(&fresh.chains) {
            assert_eq!(a.text, b.text, "case {i}: texts of {}", a.name);
            let ja: Vec<_> = a.rules.iter().map(|r| r.jump).collect();
            let jb: Vec<_> = b.rules.iter().map(|r| r.jump).collect();
            assert_eq!(ja, jb, "case {i}: jumps of {}", a.name);
        }
        // and the deltas between them never wrap
        let d = iptop::diff::diff_table(&prev, &reused);
        for (ci, c) in reused.chains.iter().enumerate() {
            for ri in 0..c.rules.len() {
                if let Some(x) = d.rule(ci, ri) {
                    assert!(x.reset || x.packets <= c.counters[ri].packets, "case {i}");
                }
            }
        }
    }
}
