use super::columns::parse_title;
use super::fields::{parse_header, parse_rule, split_counters};
use super::*;
use crate::model::{ChainKind, RuleSpec};

struct RuleLine {
    packets: u64,
    bytes: u64,
    exact: bool,
    spec: RuleSpec,
}

fn rule(line: &str, title: &str) -> RuleLine {
    let layout = parse_title(title).expect("title");
    let (packets, bytes, exact, start, _) = split_counters(line, &layout).expect("counters");
    let spec = parse_rule(line, &layout, start).expect("rule");
    RuleLine {
        packets,
        bytes,
        exact,
        spec,
    }
}

const T_V: &str =
    " pkts bytes target     prot opt in     out     source               destination         ";
const T_VX_NUM: &str = "num      pkts      bytes target     prot opt in     out     source               destination         ";

#[test]
fn counters() {
    assert_eq!(parse_counter("0"), Ok((0, true)));
    assert_eq!(parse_counter("332K"), Ok((332_000, false)));
    assert_eq!(parse_counter("60M"), Ok((60_000_000, false)));
    assert_eq!(
        parse_counter("1000000T"),
        Ok((1_000_000_000_000_000_000, false))
    );
    assert_eq!(parse_counter("18446744073709551615"), Ok((u64::MAX, true)));
    assert!(
        parse_counter("18446744073709551616")
            .unwrap_err()
            .contains("64 bits")
    );
    assert!(parse_counter("99999999T").unwrap_err().contains("64 bits"));
    assert!(parse_counter("12X").is_err());
    assert!(parse_counter("K").is_err());
    assert!(parse_counter("").is_err());
}

#[test]
fn plain_rule() {
    let r = rule(
        "  123   10M ACCEPT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:80",
        T_V,
    );
    assert_eq!((r.packets, r.bytes, r.exact), (123, 10_000_000, false));
    assert_eq!(r.spec.target, "ACCEPT");
    assert_eq!(r.spec.prot, "6");
    assert_eq!(r.spec.opt, "--");
    assert_eq!(r.spec.extra, "tcp dpt:80");
}

#[test]
fn long_names_push_columns() {
    let r = rule(
        "1        0        0 ACCEPT     0    --  docker_gwbridge !docker_gwbridge  0.0.0.0/0            0.0.0.0/0           ",
        T_VX_NUM,
    );
    assert_eq!(r.spec.in_iface, "docker_gwbridge");
    assert_eq!(r.spec.out_iface, "!docker_gwbridge");
    assert_eq!(r.spec.extra, "");
    let r = rule(
        " 1000   12G DOCKER-ISOLATION-STAGE-1  0    --  *      *       0.0.0.0/0            0.0.0.0/0",
        T_V,
    );
    assert_eq!(r.spec.target, "DOCKER-ISOLATION-STAGE-1");
    assert_eq!(r.bytes, 12_000_000_000);
}

#[test]
fn no_target() {
    let r = rule(
        "1          77     4620            0    --  *      *       1.2.3.4              0.0.0.0/0           ",
        T_VX_NUM,
    );
    assert_eq!(r.spec.target, "");
    assert_eq!(r.spec.prot, "0");
    assert_eq!(r.spec.source, "1.2.3.4");
    assert_eq!((r.packets, r.bytes), (77, 4620));
}

#[test]
fn goto_and_spacing() {
    let r = rule(
        "2           2      120 EDGE-REJECT  6    --  *      *       0.0.0.0/0            0.0.0.0/0           [goto]  tcp dpt:25",
        T_VX_NUM,
    );
    assert!(r.spec.goto);
    assert_eq!(r.spec.target, "EDGE-REJECT");
    assert_eq!(r.spec.extra, "tcp dpt:25");
    let r = rule(
        "    9     9 ACCEPT     17   --  *      *       0.0.0.0/0            0.0.0.0/0            multiport sports  !53,123",
        T_V,
    );
    assert_eq!(r.spec.extra, "multiport sports  !53,123");
}

#[test]
fn old_ip6tables_blank_opt() {
    let t = " pkts bytes target     prot opt in     out     source               destination";
    let r = rule(
        "    5   400 ACCEPT     all      *      *       ::/0                 ::/0",
        t,
    );
    assert_eq!(r.spec.target, "ACCEPT");
    assert_eq!(r.spec.prot, "all");
    assert_eq!(r.spec.opt, "");
    assert_eq!(r.spec.source, "::/0");
    let r = rule(
        "    5   400            tcp      eth0   *       fd00::1              ::/0  tcp dpt:22",
        t,
    );
    assert_eq!(r.spec.target, "");
    assert_eq!(r.spec.prot, "tcp");
    assert_eq!(r.spec.in_iface, "eth0");
    assert_eq!(r.spec.extra, "tcp dpt:22");
}

#[test]
fn headers() {
    let (n, k, p, b, e) =
        parse_header("Chain FORWARD (policy DROP 1234 packets, 568K bytes)").expect("header");
    assert_eq!(n, "FORWARD");
    assert_eq!(
        k,
        ChainKind::Builtin {
            policy: "DROP".into()
        }
    );
    assert_eq!((p, b, e), (1234, 568_000, false));
    let (_, k, ..) = parse_header("Chain DOCKER (2 references)").expect("header");
    assert_eq!(
        k,
        ChainKind::User {
            references: Some(2)
        }
    );
    let (_, k, ..) = parse_header("Chain X (ERROR obtaining refs)").expect("header");
    assert_eq!(k, ChainKind::User { references: None });
    let (_, k, p, ..) = parse_header("Chain INPUT (policy ACCEPT)").expect("header");
    assert_eq!(
        (k, p),
        (
            ChainKind::Builtin {
                policy: "ACCEPT".into()
            },
            0
        )
    );
    assert!(parse_header("Chain X").is_err());
    assert!(parse_header("Chain X (many references)").is_err());
}

#[test]
fn errors_name_the_line() {
    let text = "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target prot opt in out source destination\n  1 2 ACCEPT 0 XX * * 0.0.0.0/0 0.0.0.0/0\n";
    let e = parse_table("filter", text, None).unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e.reason.contains("opt"), "{e}");
    assert!(e.to_string().starts_with("line 3: in chain `INPUT`"), "{e}");

    let e = parse_table("filter", "", None).unwrap_err();
    assert_eq!(e.line, 1);
    let e = parse_table("filter", "hello\n", None).unwrap_err();
    assert_eq!(e.line, 1);
    assert!(e.reason.contains("Chain NAME"));
    let e = parse_table(
        "filter",
        "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n",
        None,
    )
    .unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.reason.contains("cut off"));
}

#[test]
fn trimmed_seed_listing() {
    // The seed blog post's excerpt: only some columns, old protocol names.
    let text = "Chain FORWARD (policy DROP 0 packets, 0 bytes)
 target                    prot opt in              out
 DOCKER-USER               all  --  *               *
 ACCEPT                    all  --  *               docker_gwbridge    ctstate RELATED,ESTABLISHED
 ACCEPT                    all  --  docker_gwbridge !docker_gwbridge

Chain DOCKER-USER (1 references)
 target                    prot opt in              out
 RETURN                    all  --  *               *
";
    let t = parse_table("filter", text, None).expect("parse");
    assert!(!t.has_counters);
    let fwd = t.chain("FORWARD").expect("FORWARD");
    assert_eq!(fwd.rules.len(), 3);
    assert_eq!(fwd.rules[1].spec.out_iface, "docker_gwbridge");
    assert_eq!(fwd.rules[1].spec.extra, "ctstate RELATED,ESTABLISHED");
    assert_eq!(fwd.rules[2].spec.out_iface, "!docker_gwbridge");
    assert_eq!(t.jump_target(&fwd.rules[0]), t.chain_index("DOCKER-USER"));
}

#[test]
fn crlf_indentation_and_warnings() {
    let text = "# Warning: iptables-legacy tables present, use iptables-legacy to see them\r\n   Chain INPUT (policy ACCEPT 5 packets, 300 bytes)\r\n    pkts bytes target prot opt in out source destination\r\n       1    60 DROP   0    --  *  *   0.0.0.0/0 0.0.0.0/0\r\n";
    let t = parse_table("filter", text, None).expect("parse");
    assert_eq!(t.warnings.len(), 1);
    assert_eq!(t.chains[0].rules[0].spec.target, "DROP");
    assert_eq!(t.chains[0].rules[0].spec.destination, "0.0.0.0/0");
    assert_eq!(t.chains[0].packets, 5);
}

#[test]
fn a_cr_is_a_line_end_only_in_a_crlf_listing() {
    // a comment holding "\r\n": iptables prints the `\r` at the end of a line; in a
    // listing with plain `\n` ends it is text and is kept (shown as `\r`), in a listing
    // saved with CRLF ends every line loses exactly one
    let lf = "Chain X (0 references)\nnum pkts bytes target prot opt in out source destination\n1 0 0 ACCEPT 0 -- * * 0.0.0.0/0 0.0.0.0/0 /* a\r\r\nb */\n";
    let t = parse_table("filter", lf, None).expect("parse");
    assert_eq!(t.chains[0].rules[0].spec.extra, "/* a\r\r\nb */");
    let crlf = lf.replace('\n', "\r\n");
    let t = parse_table("filter", &crlf, None).expect("parse");
    assert_eq!(t.chains[0].rules[0].spec.extra, "/* a\r\r\nb */");
    // the same table either way
    assert_eq!(t.chains, kept(lf).chains);
    // the same bytes read with the other line ends are another rule: never reused
    let lf_t = kept(lf);
    let crlf_t = same_as_fresh(&crlf, &lf_t);
    same_as_fresh(lf, &crlf_t);
    let odd = lf.replace("a\r\r\n", "a\r\n");
    same_as_fresh(&odd, &crlf_t);
    same_as_fresh(&crlf, &kept(&odd));
    let plain_crlf = lf.replace("a\r\r\n", "a\n").replace('\n', "\r\n");
    same_as_fresh(&plain_crlf, &kept(&odd));
    same_as_fresh(&odd, &kept(&plain_crlf));
}
#[test]
fn duplicate_chain_is_an_error() {
    let text = "Chain X (0 references)\n pkts bytes target prot opt in out source destination\n\nChain X (0 references)\n pkts bytes target prot opt in out source destination\n";
    let e = parse_table("filter", text, None).unwrap_err();
    assert!(e.reason.contains("twice"), "{e}");
}

fn kept(text: &str) -> FirewallTable {
    parse_table("filter", &Arc::new(text.into()), None).expect("parse")
}

/// Parsing with the previous poll gives exactly what parsing from scratch gives.
fn same_as_fresh(text: &str, prev: &FirewallTable) -> FirewallTable {
    let reused = parse_table("filter", &Arc::new(text.into()), Some(prev)).expect("reuse");
    let fresh = kept(text);
    assert_eq!(reused, fresh);
    for (a, b) in reused.chains.iter().zip(&fresh.chains) {
        for (x, y) in a.rules.iter().zip(b.rules.iter()) {
            assert_eq!(x.jump, y.jump, "{}", a.name);
        }
        assert_eq!(a.text, b.text, "{}", a.name);
    }
    assert_eq!(reused.spans, fresh.spans);
    reused
}

#[test]
fn unchanged_chains_are_taken_whole() {
    let base = include_str!("../../tests/fixtures/iptables/docker-swarm.nft.filter-vnxL-lines.txt");
    let prev = kept(base);
    assert!(prev.spans.iter().all(|s| s.len > 0));
    // the same listing again: every chain is the last poll's
    let t = same_as_fresh(base, &prev);
    for (a, b) in t.chains.iter().zip(&prev.chains) {
        assert!(Arc::ptr_eq(&a.rules, &b.rules) && Arc::ptr_eq(&a.text, &b.text));
    }
    // a rule appended to the last rule of a chain: that chain grew, it is read again
    let fwd = base.find("Chain FORWARD").expect("FORWARD");
    let end = fwd + base[fwd..].find("\n\n").expect("end of FORWARD");
    let grown = format!(
        "{}\n12     7     420 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0           {}",
        &base[..end],
        &base[end..]
    );
    let t = same_as_fresh(&grown, &prev);
    assert_eq!(
        t.chain("FORWARD")
            .expect("FORWARD")
            .counters
            .last()
            .map(|c| c.packets),
        Some(7)
    );
    // the last chain cut short, a comment line inside a chain, CRLF line ends
    let short = base
        .trim_end()
        .rsplit_once('\n')
        .expect("lines")
        .0
        .to_string()
        + "\n";
    same_as_fresh(&short, &prev);
    let commented = base.replacen("\n2 ", "\n# Warning: odd\n2 ", 1);
    assert_ne!(commented, base);
    let t = same_as_fresh(&commented, &prev);
    assert_eq!(t.spans[1].len, 0, "{:?}", t.chains[1].name);
    same_as_fresh(base, &t);
    same_as_fresh(&base.replace('\n', "\r\n"), &prev);
    // counters of one chain moved: the others are still taken whole
    let moved = base.replace(
        " 1500000 98765432109876 DOCKER-INGRESS",
        " 1500001 98765432109977 DOCKER-INGRESS",
    );
    let t = same_as_fresh(&moved, &prev);
    assert_eq!(
        t.chain("FORWARD").expect("FORWARD").counters[1].packets,
        1_500_001
    );
    let user = t.chain("DOCKER-USER").expect("DOCKER-USER");
    assert!(Arc::ptr_eq(
        &user.text,
        &prev.chain("DOCKER-USER").expect("DOCKER-USER").text
    ));
}

#[test]
fn reuse_gives_what_a_fresh_parse_gives() {
    let base = include_str!("../../tests/fixtures/iptables/docker-swarm.nft.filter-vnxL-lines.txt");
    let prev = kept(base);
    // counters only: every spec is the previous one
    let moved = base.replace(
        " 1500000 98765432109876 DOCKER-INGRESS",
        " 1500001 98765432109977 DOCKER-INGRESS",
    );
    assert_ne!(moved, base);
    let t = same_as_fresh(&moved, &prev);
    let fwd = t.chain("FORWARD").expect("FORWARD");
    let pf = prev.chain("FORWARD").expect("FORWARD");
    assert!(Arc::ptr_eq(&fwd.rules, &pf.rules), "the very same rules");
    assert_eq!(fwd.counters[1].packets, 1_500_001);
    // a rule inserted at the top, one changed, one chain gone
    let mut lines: Vec<String> = base.lines().map(String::from).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("Chain FORWARD"))
        .expect("FORWARD")
        + 2;
    // iptables numbers the rules after it one higher
    for l in lines[at..].iter_mut().take_while(|l| !l.is_empty()) {
        let (n, rest) = l.split_at(l.find(' ').expect("number"));
        let n: u32 = n.parse().expect("number");
        *l = format!("{:<w$}{rest}", n + 1, w = n.to_string().len());
    }
    lines.insert(at, "1           5      300 LOG        17   --  *      *       0.0.0.0/0            0.0.0.0/0            udp dpt:53 LOG flags 0 level 4".into());
    let churned = lines.join("\n").replace("tcp dpt:80", "tcp dpt:8080") + "\n";
    let cut = churned.find("Chain DOCKER-USER").expect("DOCKER-USER");
    let churned = churned[..cut].trim_end().to_string() + "\n";
    let t = same_as_fresh(&churned, &prev);
    assert!(t.chain("DOCKER-USER").is_none());
    // the FORWARD jump to DOCKER-USER now points nowhere
    assert_eq!(t.chain("FORWARD").expect("FORWARD").rules[1].jump, None);
    // and back again
    same_as_fresh(base, &t);
}

#[test]
fn a_parse_no_poll_follows_keeps_no_rule_texts_and_reads_the_same() {
    let base = include_str!("../../tests/fixtures/iptables/docker-swarm.nft.filter-vnxL-lines.txt");
    let kept = parse_table_counted("filter", base, None, None, true).expect("parse");
    let last = parse_table_counted("filter", base, None, None, false).expect("parse");
    assert_eq!(kept.chains, last.chains);
    assert!(kept.chains.iter().any(|c| c.text.get(0).is_some()));
    assert!(last.chains.iter().all(|c| c.text.get(0).is_none()));
    // a parse after it has no text to reuse, and reads every rule again, the same
    let again = parse_table("filter", base, Some(&last)).expect("parse");
    assert_eq!(again.chains, kept.chains);
    for (a, b) in again.chains.iter().zip(&last.chains) {
        assert!(a.rules.is_empty() || !Arc::ptr_eq(&a.rules, &b.rules));
    }
}
