use super::listing::without_counts;
use super::*;

const JSON: &str = include_str!("../../../tests/fixtures/nft/docker29-lab.json");
const TEXT: &str = include_str!("../../../tests/fixtures/nft/docker29-lab.txt");

fn tables() -> Vec<FirewallTable> {
    parse_ruleset(JSON, Some(TEXT)).expect("fixture parses")
}

fn rule<'a>(t: &'a FirewallTable, chain: &str, i: usize) -> (&'a Rule, Counter) {
    let c = t.chain(chain).expect(chain);
    (&c.rules[i], c.counter(i))
}

#[test]
fn native_tables_only() {
    let t = tables();
    let names: Vec<(String, &str)> = t
        .iter()
        .map(|t| (t.family.clone().unwrap(), t.name.as_str()))
        .collect();
    // iptables-nft's `ip filter` is left to the iptables rendering
    assert_eq!(
        names,
        [("ip".into(), "docker-bridges"), ("inet".into(), "filter")]
    );
}

#[test]
fn base_chains_and_counters() {
    let t = &tables()[0];
    let fwd = t.chain("filter-FORWARD").unwrap();
    let base = fwd.native.as_ref().unwrap().base.as_ref().unwrap();
    assert_eq!(
        (base.kind.as_str(), base.hook.as_str(), base.priority),
        ("filter", "forward", 0)
    );
    assert_eq!(fwd.policy(), Some("accept"));
    let raw = t.chain("raw-PREROUTING").unwrap();
    assert_eq!(
        raw.native.as_ref().unwrap().base.as_ref().unwrap().priority,
        -300
    );
    assert!(!t.chain("nat-prerouting-and-output").unwrap().is_builtin());

    let (dnat, k) = rule(t, "nat-prerouting-and-output", 0);
    let n = dnat.native.as_ref().unwrap();
    assert_eq!(n.handle, 25);
    assert!(n.has_counter);
    assert_eq!((k.packets, k.bytes), (6, 360));
    assert_eq!(dnat.spec.target, "dnat");
    // the text as nft prints it, without the moving numbers
    assert_eq!(
        &*n.text,
        "iifname != \"bridge1\" tcp dport 8080 counter dnat to 192.0.2.2:80 comment \"DNAT\""
    );
}

#[test]
fn verdict_maps_are_followed() {
    let t = &tables()[0];
    let (vmap, _) = rule(t, "filter-FORWARD", 0);
    let n = vmap.native.as_ref().unwrap();
    assert!(!n.has_counter, "Docker's vmap rules carry no counter");
    assert_eq!(&*n.text, "oifname vmap @filter-forward-in-jumps");
    assert_eq!(
        n.jumps_to,
        ["filter-forward-in__docker0", "filter-forward-in__bridge1"]
    );
    // the rule jumps into the map's stand-in chain, whose elements jump on
    let map = t.jump_target(vmap).expect("vmap followed");
    let m = &t.chains[map];
    assert_eq!(&*m.name, "@filter-forward-in-jumps");
    assert!(m.native.as_ref().unwrap().vmap);
    let labels: Vec<&str> = m.rules.iter().map(|r| r.spec.extra.as_str()).collect();
    assert_eq!(
        labels,
        [
            "\"docker0\" → filter-forward-in__docker0",
            "\"bridge1\" → filter-forward-in__bridge1"
        ]
    );
    let to = t.jump_target(&m.rules[1]).unwrap();
    assert_eq!(&*t.chains[to].name, "filter-forward-in__bridge1");
    // the accept of the published port, reached through the map
    let (acc, k) = rule(t, "filter-forward-in__bridge1", 2);
    assert_eq!(acc.spec.target, "accept");
    assert_eq!(
        k.packets, 6,
        "up's probes until the server answered, then curl 3"
    );
}

#[test]
fn anonymous_vmap_goto_and_two_counters() {
    let t = &tables()[1];
    let (ct, _) = rule(t, "input", 0);
    assert_eq!(ct.spec.target, "vmap {…} #6");
    let m = &t.chains[t.jump_target(ct).unwrap()];
    assert_eq!(m.rules.len(), 3);
    assert_eq!(m.rules[0].spec.extra, "\"invalid\" → drop");
    let (lo, _) = rule(t, "input", 1);
    assert!(!lo.native.as_ref().unwrap().has_counter);
    let (ssh, _) = rule(t, "input", 2);
    assert!(ssh.spec.goto);
    assert_eq!(&*t.chains[t.jump_target(ssh).unwrap()].name, "ssh");
    let (dns, _) = rule(t, "input", 3);
    assert_eq!(dns.native.as_ref().unwrap().jumps_to, ["dns"]);
    assert_eq!(
        &*dns.native.as_ref().unwrap().text,
        "meta l4proto { tcp, udp } th dport 53 counter counter jump dns"
    );
}

#[test]
fn without_text_still_reads() {
    let t = parse_ruleset(JSON, None).unwrap();
    assert_eq!(t[0].rule_count(), tables()[0].rule_count());
    assert!(parse_ruleset("{}", None).is_err());
    assert!(parse_ruleset("not json", None).is_err());
}

#[test]
fn counts_are_cut_from_texts() {
    assert_eq!(
        without_counts("ct state established counter packets 21 bytes 1416 accept"),
        "ct state established counter accept"
    );
    assert_eq!(
        without_counts("counter name packets"),
        "counter name packets"
    );
}
