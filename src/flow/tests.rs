use super::*;
use crate::parse::parse_table;

/// A listing from `(chain, policy, rules)`, each rule `(packets, target)`; built-in
/// chains have a policy. Bytes are 100 per packet.
type ChainSpec<'a> = (&'a str, Option<(&'a str, u64)>, &'a [(u64, &'a str)]);

fn listing(chains: &[ChainSpec]) -> FirewallTable {
    let mut s = String::new();
    for (name, policy, rules) in chains {
        match policy {
            Some((p, n)) => s.push_str(&format!(
                "Chain {name} (policy {p} {n} packets, {} bytes)\n",
                n * 100
            )),
            None => s.push_str(&format!("Chain {name} (1 references)\n")),
        }
        s.push_str(" pkts bytes target prot opt in out source destination\n");
        for (k, (p, t)) in rules.iter().enumerate() {
            let (target, goto) = match t.strip_prefix("goto ") {
                Some(t) => (t, "[goto] "),
                None => (*t, ""),
            };
            s.push_str(&format!(
                "{p} {} {target} 0 -- * * 0.0.0.0/0 0.0.0.0/0 {goto}tcp dpt:{k}\n",
                p * 100
            ));
        }
        s.push('\n');
    }
    parse_table("filter", &s, None).expect("listing")
}

fn fell(t: &FirewallTable, chain: &str) -> Option<(u64, u64)> {
    let all = fell_through_counters(t);
    let f = all[t.chain_index(chain).expect("chain")];
    assert_eq!(f.error(), Counter::default(), "exact counters");
    f.counted().map(|d| (d.packets, d.bytes))
}

fn fell_of(t: &FirewallTable, chain: &str) -> Fell {
    fell_through_counters(t)[t.chain_index(chain).expect("chain")]
}

#[test]
fn entered_minus_verdicts_minus_returns() {
    let t = listing(&[
        ("FORWARD", Some(("DROP", 7)), &[(10, "A"), (4, "ACCEPT")]),
        (
            "A",
            None,
            &[(3, "ACCEPT"), (10, "LOG"), (2, "RETURN"), (1, "")],
        ),
    ]);
    assert_eq!(fell(&t, "A"), Some((5, 500)));
    // a built-in chain's end is its policy
    assert_eq!(fell(&t, "FORWARD"), Some((7, 700)));
    assert_eq!(
        fell_through_total(&t, t.chain_index("A").expect("A"))
            .counted()
            .map(|d| d.packets),
        Some(5)
    );
}

#[test]
fn what_a_sub_chain_kept_is_taken_off_its_caller() {
    // 20 enter A, all go to B: B drops 4, 16 come back; A accepts 6: 10 fall through A
    let t = listing(&[
        ("FORWARD", Some(("ACCEPT", 0)), &[(20, "A")]),
        ("A", None, &[(20, "B"), (6, "ACCEPT")]),
        ("B", None, &[(4, "DROP"), (3, "MARK")]),
    ]);
    assert_eq!(fell(&t, "B"), Some((16, 1600)));
    assert_eq!(fell(&t, "A"), Some((10, 1000)));
}

#[test]
fn nat_targets_goto_and_queue_end_the_chain() {
    let t = listing(&[
        ("PREROUTING", Some(("ACCEPT", 0)), &[(30, "A")]),
        (
            "A",
            None,
            &[
                (5, "DNAT"),
                (4, "goto B"),
                (3, "NFQUEUE"),
                (2, "MASQUERADE"),
                (1, "REDIRECT"),
            ],
        ),
        ("B", None, &[(4, "RETURN")]),
    ]);
    // the 4 that went to B never come back to A: they return to PREROUTING
    assert_eq!(fell(&t, "A"), Some((15, 1500)));
    assert_eq!(fell(&t, "B"), Some((0, 0)));
}

#[test]
fn a_sub_chain_called_from_elsewhere_makes_the_split_unknown() {
    // B is called from A and from C, both with packets, and B dropped some: how many of
    // A's were dropped is not in the counters
    let t = listing(&[
        ("FORWARD", Some(("ACCEPT", 0)), &[(10, "A"), (8, "C")]),
        ("A", None, &[(10, "B")]),
        ("C", None, &[(8, "B")]),
        ("B", None, &[(5, "DROP")]),
    ]);
    assert_eq!(fell(&t, "A"), None);
    assert_eq!(fell(&t, "C"), None);
    // B's own end is known: 18 entered, 5 dropped
    assert_eq!(fell(&t, "B"), Some((13, 1300)));
}

#[test]
fn a_shared_split_is_known_when_the_counters_leave_one_answer() {
    // the other caller's jump counted nothing: all B kept came from A
    let t = listing(&[
        ("FORWARD", Some(("ACCEPT", 0)), &[(10, "A"), (8, "C")]),
        ("A", None, &[(10, "B")]),
        ("C", None, &[(0, "B"), (8, "ACCEPT")]),
        ("B", None, &[(5, "DROP")]),
    ]);
    assert_eq!(fell(&t, "A"), Some((5, 500)));
    assert_eq!(fell(&t, "C"), Some((0, 0)));
    // B kept nothing: no share to split
    let t = listing(&[
        ("FORWARD", Some(("ACCEPT", 0)), &[(10, "A"), (8, "C")]),
        ("A", None, &[(10, "B")]),
        ("C", None, &[(8, "B")]),
        ("B", None, &[(0, "DROP"), (18, "LOG")]),
    ]);
    assert_eq!(fell(&t, "A"), Some((10, 1000)));
    // two jumps from the same chain (DOCKER-ISOLATION-STAGE-1 to STAGE-2): all is its own
    let t = listing(&[
        ("FORWARD", Some(("ACCEPT", 0)), &[(10, "S1")]),
        ("S1", None, &[(4, "S2"), (3, "S2"), (2, "RETURN")]),
        ("S2", None, &[(1, "DROP"), (5, "RETURN")]),
    ]);
    assert_eq!(fell(&t, "S1"), Some((7, 700)));
    assert_eq!(fell(&t, "S2"), Some((1, 100)));
}

#[test]
fn unknown_targets_deltas_and_contradictions_give_none() {
    // a target iptop does not know, that matched packets: they may have ended or not
    let t = listing(&[
        ("FORWARD", Some(("ACCEPT", 0)), &[(10, "A")]),
        ("A", None, &[(3, "SYNPROXY"), (2, "ACCEPT")]),
    ]);
    assert_eq!(fell(&t, "A"), None);
    // ... that matched nothing: no doubt
    let t = listing(&[
        ("FORWARD", Some(("ACCEPT", 0)), &[(10, "A")]),
        ("A", None, &[(0, "SYNPROXY"), (2, "ACCEPT")]),
    ]);
    assert_eq!(fell(&t, "A"), Some((8, 800)));
    // more left than entered (counters read at different moments): not a number
    let t = listing(&[
        ("FORWARD", Some(("ACCEPT", 0)), &[(1, "A")]),
        ("A", None, &[(3, "ACCEPT")]),
    ]);
    assert_eq!(fell(&t, "A"), None);
    assert_eq!(fell_of(&t, "A"), Fell::Inconsistent);
    // over a window, a caller whose delta is unknown leaves the chain unknown
    let a = t.chain_index("A").expect("A");
    let fwd = t.chain_index("FORWARD").expect("FORWARD");
    let d = |p| {
        Some(Delta {
            packets: p,
            bytes: p * 10,
            reset: false,
        })
    };
    let got = fell_through(
        &t,
        &|c, r| if (c, r) == (fwd, 0) { None } else { d(1) },
        &|_| d(0),
        0,
    );
    assert_eq!(got[a], Fell::Unknown);
    let got = fell_through(&t, &|c, _| if c == fwd { d(9) } else { d(4) }, &|_| d(2), 0);
    assert_eq!(
        got[a].counted().map(|d| (d.packets, d.bytes)),
        Some((5, 50))
    );
    assert_eq!(got[fwd].counted().map(|d| d.packets), Some(2));
}

#[test]
fn cycles_are_unknown_and_deep_nesting_is_fine() {
    let t = listing(&[
        ("INPUT", Some(("ACCEPT", 0)), &[(5, "A")]),
        ("A", None, &[(5, "B"), (1, "DROP")]),
        ("B", None, &[(5, "A"), (1, "DROP")]),
    ]);
    assert_eq!(fell(&t, "A"), None);
    assert_eq!(fell(&t, "B"), None);
    // 5000 chains, each jumping to the next and dropping one packet
    let names: Vec<String> = (0..5000).map(|i| format!("C{i}")).collect();
    let mut s = String::from(
        "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target prot opt in out source destination\n 10000 1000000 C0 0 -- * * 0.0.0.0/0 0.0.0.0/0\n",
    );
    for (i, n) in names.iter().enumerate() {
        s.push_str(&format!(
            "\nChain {n} (1 references)\n pkts bytes target prot opt in out source destination\n"
        ));
        let into = 10_000 - i as u64;
        if let Some(next) = names.get(i + 1) {
            s.push_str(&format!(
                "{into} {} {next} 0 -- * * 0.0.0.0/0 0.0.0.0/0\n",
                into * 100
            ));
        }
        s.push_str("1 100 DROP 6 -- * * 0.0.0.0/0 0.0.0.0/0 tcp dpt:1\n");
    }
    let t = parse_table("filter", &s, None).expect("deep");
    // 10000 enter C0; its own DROP and the 4999 below it keep 5000, the rest falls through
    let all = fell_through_counters(&t);
    let c0 = t.chain_index("C0").expect("C0");
    assert_eq!(all[c0].counted().map(|d| d.packets), Some(10_000 - 5000));
}

fn ufw(variant: &str) -> FirewallTable {
    let path = format!(
        "{}/tests/fixtures/iptables/ufw.nft.filter-{variant}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    parse_table(
        "filter",
        &std::fs::read_to_string(path).expect("fixture"),
        None,
    )
    .expect("parse")
}

#[test]
fn abbreviated_counters_give_an_approximate_count_with_its_bound() {
    // ufw-user-input: 230K enter, 800 and 225K accepted: ≈4200, ± 500 for each K
    let t = ufw("vnL");
    assert!(!t.exact);
    let f = fell_of(&t, "ufw-user-input");
    assert_eq!(f.counted().map(|k| k.packets), Some(4200));
    // bytes: 14M − 48000 − 14M is below zero, within the rounding (± 500500 twice)
    assert_eq!(f.counted().map(|k| k.bytes), Some(0));
    assert_eq!(
        f.error(),
        Counter {
            packets: 1000,
            bytes: 1_001_000
        }
    );
    assert!(!fell_of(&t, "ufw-user-input").within_rounding());
    // the same listing with -x: exact
    let x = ufw("vnxL");
    assert_eq!(fell(&x, "ufw-user-input"), Some((4656, 252_000)));
    // counters below 100000 are printed exactly even without -x
    assert_eq!(fell_of(&t, "ufw-logging-deny").error(), Counter::default());
    assert_eq!(rounding_error(227_000), 500);
    assert_eq!(rounding_error(14_000_000), 500_500);
    assert_eq!(rounding_error(99_999), 0);
}

#[test]
fn a_count_the_rounding_could_make_is_within_rounding() {
    // ufw-not-local without its final DROP: 227K − (222K + 3372 + 996) = 632, ± 1000
    let text = "Chain INPUT (policy DROP 0 packets, 0 bytes)\n pkts bytes target prot opt in out source destination\n 227K 15M L 0 -- * * 0.0.0.0/0 0.0.0.0/0\n\nChain L (1 references)\n pkts bytes target prot opt in out source destination\n 222K 14M RETURN 0 -- * * 0.0.0.0/0 0.0.0.0/0 ADDRTYPE match dst-type LOCAL\n 3372 300K RETURN 0 -- * * 0.0.0.0/0 0.0.0.0/0 ADDRTYPE match dst-type MULTICAST\n 996 80000 RETURN 0 -- * * 0.0.0.0/0 0.0.0.0/0 ADDRTYPE match dst-type BROADCAST\n";
    let t = parse_table("filter", text, None).expect("parse");
    let f = fell_of(&t, "L");
    assert_eq!(f.counted().map(|k| k.packets), Some(632));
    assert_eq!(f.error().packets, 1000);
    assert!(f.within_rounding());
    // below zero within the rounding is zero, not a contradiction
    let t = parse_table("filter", &text.replace("227K", "226K"), None).expect("parse");
    let f = fell_of(&t, "L");
    assert_eq!(f.counted().map(|k| k.packets), Some(0));
    assert!(f.within_rounding());
}

#[test]
fn counters_past_an_unconditional_end_are_inconsistent() {
    // ufw-skip-to-policy-input ends in DROP matching everything; 4970 went in, 12 dropped
    let t = ufw("vnxL");
    assert_eq!(fell_of(&t, "ufw-skip-to-policy-input"), Fell::Inconsistent);
    // negative: more left than entered
    let t = listing(&[
        ("FORWARD", Some(("ACCEPT", 0)), &[(1, "A")]),
        ("A", None, &[(3, "ACCEPT")]),
    ]);
    assert_eq!(fell_of(&t, "A"), Fell::Inconsistent);
}

#[test]
fn nothing_falls_through_an_unconditional_terminal_rule() {
    // ufw-not-local ends in DROP matching everything: its 632 are rounding
    let t = ufw("vnL");
    assert_eq!(fell_of(&t, "ufw-not-local"), Fell::Unreachable);
    let x = ufw("vnxL");
    assert_eq!(fell_of(&x, "ufw-not-local"), Fell::Unreachable);
    let end = |text: &str| {
        let s = format!(
            "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target prot opt in out source destination\n 0 0 A 0 -- * * 0.0.0.0/0 0.0.0.0/0\n\nChain A (1 references)\n pkts bytes target prot opt in out source destination\n 0 0 {text}\n\nChain B (1 references)\n pkts bytes target prot opt in out source destination\n"
        );
        let t = parse_table("filter", &s, None).expect("parse");
        unreachable_end(&t, t.chain_index("A").expect("A"))
    };
    assert!(end("RETURN all -- * * 0.0.0.0/0 0.0.0.0/0"));
    assert!(end(
        "REJECT 0 -- * * ::/0 ::/0 /* deny */ reject-with icmp-port-unreachable"
    ));
    assert!(end("DNAT 0 -- * * 0.0.0.0/0 0.0.0.0/0 to:10.0.0.1:80"));
    assert!(end("B 0 -- * * 0.0.0.0/0 0.0.0.0/0 [goto]"));
    assert!(!end("B 0 -- * * 0.0.0.0/0 0.0.0.0/0"), "a jump comes back");
    assert!(!end("DROP 6 -- * * 0.0.0.0/0 0.0.0.0/0 tcp dpt:22"));
    assert!(!end("DROP 0 -- eth0 * 0.0.0.0/0 0.0.0.0/0"));
    assert!(!end("DROP 0 -f * * 0.0.0.0/0 0.0.0.0/0"));
    assert!(!end("DROP 0 -- * * 10.0.0.0/8 0.0.0.0/0"));
    assert!(!end("ACCEPT 0 -- * * 0.0.0.0/0 0.0.0.0/0 ctstate RELATED"));
    assert!(!end("LOG 0 -- * * 0.0.0.0/0 0.0.0.0/0"));
}

#[test]
fn a_still_window_is_computed_once_while_the_rules_stay() {
    let spec: &[ChainSpec] = &[
        ("FORWARD", Some(("DROP", 7)), &[(10, "A"), (4, "ACCEPT")]),
        ("A", None, &[(3, "ACCEPT"), (1, "RETURN")]),
    ];
    let (t0, t1) = (listing(spec), listing(spec));
    let a = t1.chain_index("A").expect("A");
    let still = crate::diff::diff_table(&t0, &t1);
    assert!(still.is_still());
    assert_eq!(
        fell_through_window(&t1, &still, a)
            .counted()
            .map(|d| d.packets),
        Some(0)
    );
    let cached = t1.fell_still_cache().get().expect("kept").clone();
    // the next still window takes it; a window in which A moved does not
    let t2 = t1.clone();
    let again = crate::diff::diff_table(&t1, &t2);
    assert_eq!(
        fell_through_window(&t2, &again, a),
        fell_through_window(&t1, &still, a)
    );
    assert!(std::sync::Arc::ptr_eq(
        again.fell_cache().get().expect("filled"),
        &cached
    ));
    let t3 = listing(&[
        ("FORWARD", Some(("DROP", 7)), &[(15, "A"), (4, "ACCEPT")]),
        ("A", None, &[(4, "ACCEPT"), (1, "RETURN")]),
    ]);
    let moved = crate::diff::diff_table(&t2, &t3);
    assert!(!moved.is_still());
    assert_eq!(
        fell_through_window(&t3, &moved, a)
            .counted()
            .map(|d| d.packets),
        Some(4)
    );
}
