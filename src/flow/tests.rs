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
    all[t.chain_index(chain).expect("chain")].map(|d| (d.packets, d.bytes))
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
        fell_through_total(&t, t.chain_index("A").expect("A")).map(|d| d.packets),
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
    );
    assert_eq!(got[a], None);
    let got = fell_through(&t, &|c, _| if c == fwd { d(9) } else { d(4) }, &|_| d(2));
    assert_eq!(got[a].map(|d| (d.packets, d.bytes)), Some((5, 50)));
    assert_eq!(got[fwd].map(|d| d.packets), Some(2));
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
        s.push_str("1 100 DROP 0 -- * * 0.0.0.0/0 0.0.0.0/0\n");
    }
    let t = parse_table("filter", &s, None).expect("deep");
    // 10000 enter C0; its own DROP and the 4999 below it keep 5000, the rest falls through
    let all = fell_through_counters(&t);
    let c0 = t.chain_index("C0").expect("C0");
    assert_eq!(all[c0].map(|d| d.packets), Some(10_000 - 5000));
}
