use super::*;
use crate::model::Chain;

const JSON: &str = include_str!("../../../tests/fixtures/nft/docker29-lab.json");
const TEXT: &str = include_str!("../../../tests/fixtures/nft/docker29-lab.txt");
const KUBE_JSON: &str = include_str!("../../../tests/fixtures/nft/kube-proxy.json");
const KUBE_TEXT: &str = include_str!("../../../tests/fixtures/nft/kube-proxy.txt");

/// What a chain says, for comparing two readings of one rule set.
fn shape(c: &Chain) -> String {
    let mut s = format!("{} {:?} {:?}\n", c.name, c.kind, c.native);
    for (i, r) in c.rules.iter().enumerate() {
        let n = r.native.as_ref().unwrap();
        let k = c.counter(i);
        let _ = writeln!(
            s,
            "  {} {} goto={} h={} text={} has={} jumps={:?} all={:?} cond={} {}/{}",
            r.num,
            r.spec.target,
            r.spec.goto,
            n.handle,
            n.text,
            n.has_counter,
            n.jumps_to,
            n.counters,
            n.conditional,
            k.packets,
            k.bytes
        );
    }
    s
}

/// Each difference, line by line (a whole table is too long to read in one assert).
fn same(a: &[String], b: &[String]) {
    for (x, y) in a.iter().zip(b) {
        let (xl, yl): (Vec<&str>, Vec<&str>) = (x.lines().collect(), y.lines().collect());
        for (p, q) in xl.iter().zip(&yl) {
            assert_eq!(p, q);
        }
        assert_eq!(xl.len(), yl.len(), "{x}");
    }
    assert_eq!(a.len(), b.len());
}

fn shapes(t: &[FirewallTable]) -> Vec<String> {
    t.iter()
        .flat_map(|t| {
            let head = format!("{:?} {}", t.family, t.name);
            std::iter::once(head).chain(t.chains.iter().map(|c| shape(c)))
        })
        .collect()
}

#[test]
fn the_text_alone_reads_as_json_and_text_together() {
    let from_json = crate::parse::nft::parse_ruleset(JSON, Some(TEXT)).unwrap();
    let from_text = parse(TEXT);
    // JSON quotes a string key that nft prints bare (`invalid : drop`)
    let json = shapes(&from_json)
        .into_iter()
        .map(|s| {
            s.replace("=\"invalid\"", "=invalid")
                .replace("=\"established\"", "=established")
                .replace("=\"related\"", "=related")
        })
        .collect::<Vec<_>>();
    same(&shapes(&from_text), &json);
    let kube_json = crate::parse::nft::parse_ruleset(KUBE_JSON, Some(KUBE_TEXT)).unwrap();
    same(&shapes(&parse(KUBE_TEXT)), &shapes(&kube_json));
}

#[test]
fn rendered_tables_read_back_the_same() {
    let tables = parse(TEXT);
    let back = parse(&render(&tables));
    same(&shapes(&back), &shapes(&tables));
    let kube = parse(KUBE_TEXT);
    same(&shapes(&parse(&render(&kube))), &shapes(&kube));
}

#[test]
fn without_handles_or_counters() {
    // `nft list ruleset` (no -a) of a hand-made table: no handles, one counter
    let t = parse(
        "$ nft list ruleset\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter + 10; policy drop;\n\t\ttcp dport 22 accept\n\t\tudp dport 53 counter packets 7 bytes 420 accept\n\t}\n}\n",
    );
    assert_eq!(t.len(), 1);
    let c = t[0].chain("input").unwrap();
    let base = c.native.as_ref().unwrap().base.as_ref().unwrap();
    assert_eq!((base.priority, base.policy.as_str()), (10, "drop"));
    let n0 = c.rules[0].native.as_ref().unwrap();
    assert!(!n0.has_counter);
    assert_eq!(n0.handle, 0);
    let n1 = c.rules[1].native.as_ref().unwrap();
    assert!(n1.has_counter);
    assert_eq!(c.counter(1).packets, 7);
    assert_eq!(&*n1.text, "udp dport 53 counter accept");
}

#[test]
fn sets_blocks_and_broken_text_are_passed_over() {
    let t = parse(
        "table ip t {\n\tset s {\n\t\ttype ipv4_addr\n\t\telements = { 1.2.3.4,\n\t\t\t5.6.7.8 }\n\t}\n\tchain c {\n\t\tip saddr @s drop\n\t}\n\tflowtable f {\n\t\thook ingress priority 0\n\t}\n}\ntable ip6 nat {\n}\nnot a table {\n",
    );
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].chains.len(), 1);
    assert_eq!(t[0].chain("c").unwrap().rules.len(), 1);
    assert!(parse("table ip x {\n\tchain y {\n\t\tdrop \"unclosed").len() <= 1);
}

#[test]
fn hostile_names_stay_on_their_line() {
    let mut t = FirewallTable::new("a\nb \"c\"");
    t.family = Some("ip".into());
    let mut c = new_chain(
        "x\n}\ntable ip evil {",
        ChainKind::User { references: None },
        NativeChain::default(),
    );
    Arc::make_mut(&mut c.rules).push(Rule {
        native: Some(Arc::new(NativeRule {
            text: "drop comment \"\n}\"".into(),
            ..NativeRule::default()
        })),
        ..Rule::default()
    });
    c.counters.push(Counter::default());
    t.push_chain(c);
    let back = parse(&render(&[t]));
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].chains.len(), 1);
    assert_eq!(back[0].chains[0].rules.len(), 1);
}
