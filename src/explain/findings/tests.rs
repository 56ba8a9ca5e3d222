use std::time::{Duration, SystemTime};

use super::*;
use crate::diff;
use crate::parse::parse_table;

/// A listing from compact lines: `Chain NAME POLICY PKTS` (a user chain: `Chain NAME -
/// REFS`), then `PKTS TARGET PROT IN OUT SOURCE DEST EXTRA...` per rule.
fn listing(lines: &str) -> String {
    let mut out = String::new();
    for l in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w[0] == "Chain" {
            if !out.is_empty() {
                out.push('\n');
            }
            if w[2] == "-" {
                out.push_str(&format!("Chain {} ({} references)\n", w[1], w[3]));
            } else {
                out.push_str(&format!(
                    "Chain {} (policy {} {} packets, {} bytes)\n",
                    w[1],
                    w[2],
                    w[3],
                    w[3].parse::<u64>().unwrap() * 60
                ));
            }
            out.push_str(
                "    pkts      bytes target     prot opt in     out     source               destination\n",
            );
        } else {
            let pkts: u64 = w[0].parse().unwrap();
            out.push_str(&format!(
                "{:>8} {:>10} {:<10} {:<4} --  {:<6} {:<6} {:<20} {:<20} {}\n",
                pkts,
                pkts * 60,
                w[1],
                w[2],
                w[3],
                w[4],
                w[5],
                w[6],
                w[7..].join(" ")
            ));
        }
    }
    out
}

fn snapshot(tables: &[(&str, Option<Backend>, &str)], at: u64) -> Snapshot {
    Snapshot {
        taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(at),
        at: Duration::from_secs(at),
        took: Duration::ZERO,
        tables: tables
            .iter()
            .map(|(name, backend, text)| {
                let mut t = parse_table(name, &listing(text), None).expect("listing");
                t.backend = *backend;
                t
            })
            .collect(),
        warnings: Vec::new(),
        seq: at,
    }
}

/// Findings over a window from `before` to `after` (filter tables unless named).
fn window(before: &[(&str, &str)], after: &[(&str, &str)]) -> Vec<Finding> {
    let a = snapshot(
        &before
            .iter()
            .map(|(n, t)| (*n, None, *t))
            .collect::<Vec<_>>(),
        0,
    );
    let b = snapshot(
        &after
            .iter()
            .map(|(n, t)| (*n, None, *t))
            .collect::<Vec<_>>(),
        3,
    );
    evaluate(&b, Some(&diff::diff(&a, &b)))
}

fn ids(f: &[Finding]) -> Vec<FindingId> {
    f.iter().map(|f| f.id).collect()
}

/// A classic Docker host (docker0, one container publishing 8080 → 80), no traps.
const DOCKER_FILTER: &str = "
    Chain INPUT ACCEPT 0
    Chain FORWARD DROP 0
    10 DOCKER-USER 0 * * 0.0.0.0/0 0.0.0.0/0
    10 DOCKER-ISOLATION-STAGE-1 0 * * 0.0.0.0/0 0.0.0.0/0
    5 ACCEPT 0 * docker0 0.0.0.0/0 0.0.0.0/0 ctstate RELATED,ESTABLISHED
    5 DOCKER 0 * docker0 0.0.0.0/0 0.0.0.0/0
    0 ACCEPT 0 docker0 !docker0 0.0.0.0/0 0.0.0.0/0
    0 ACCEPT 0 docker0 docker0 0.0.0.0/0 0.0.0.0/0
    Chain OUTPUT ACCEPT 0
    Chain DOCKER - 1
    5 ACCEPT 6 !docker0 docker0 0.0.0.0/0 172.17.0.2 tcp dpt:80
    Chain DOCKER-ISOLATION-STAGE-1 - 1
    0 DOCKER-ISOLATION-STAGE-2 0 docker0 !docker0 0.0.0.0/0 0.0.0.0/0
    10 RETURN 0 * * 0.0.0.0/0 0.0.0.0/0
    Chain DOCKER-ISOLATION-STAGE-2 - 1
    0 DROP 0 * docker0 0.0.0.0/0 0.0.0.0/0
    0 RETURN 0 * * 0.0.0.0/0 0.0.0.0/0
    Chain DOCKER-USER - 1
    10 RETURN 0 * * 0.0.0.0/0 0.0.0.0/0
";

const DOCKER_NAT: &str = "
    Chain PREROUTING ACCEPT 0
    5 DOCKER 0 * * 0.0.0.0/0 0.0.0.0/0 ADDRTYPE match dst-type LOCAL
    Chain INPUT ACCEPT 0
    Chain OUTPUT ACCEPT 0
    0 DOCKER 0 * * 0.0.0.0/0 !127.0.0.0/8 ADDRTYPE match dst-type LOCAL
    Chain POSTROUTING ACCEPT 0
    0 MASQUERADE 0 * !docker0 172.17.0.0/16 0.0.0.0/0
    Chain DOCKER - 2
    0 RETURN 0 docker0 * 0.0.0.0/0 0.0.0.0/0
    5 DNAT 6 !docker0 * 0.0.0.0/0 0.0.0.0/0 tcp dpt:8080 to:172.17.0.2:80
";

#[test]
fn a_rule_set_without_traps_has_no_finding() {
    let f = window(
        &[("filter", DOCKER_FILTER), ("nat", DOCKER_NAT)],
        &[
            (
                "filter",
                &DOCKER_FILTER.replace("10 DOCKER-USER", "40 DOCKER-USER"),
            ),
            ("nat", DOCKER_NAT),
        ],
    );
    assert!(f.is_empty(), "{f:#?}");
    // without a window too
    let s = snapshot(
        &[("filter", None, DOCKER_FILTER), ("nat", None, DOCKER_NAT)],
        0,
    );
    assert!(evaluate(&s, None).is_empty());
}

#[test]
fn policy_drop_when_the_policy_counter_moves() {
    let after = DOCKER_FILTER.replace("Chain FORWARD DROP 0", "Chain FORWARD DROP 5");
    let f = window(&[("filter", DOCKER_FILTER)], &[("filter", &after)]);
    assert_eq!(ids(&f), [POLICY_DROP]);
    assert_eq!(f[0].chain.as_deref(), Some("FORWARD"));
    assert_eq!(f[0].rule, None);
    assert_eq!(f[0].at.chain, Some(1));
    assert!(
        f[0].message.contains("5 packets in the last 3s"),
        "{}",
        f[0].message
    );
}

#[test]
fn no_policy_drop_when_it_stays_or_the_policy_accepts() {
    let f = window(&[("filter", DOCKER_FILTER)], &[("filter", DOCKER_FILTER)]);
    assert!(f.is_empty());
    // an ACCEPT policy that moves is not a drop
    let after = DOCKER_FILTER.replace("Chain INPUT ACCEPT 0", "Chain INPUT ACCEPT 9");
    assert!(window(&[("filter", DOCKER_FILTER)], &[("filter", &after)]).is_empty());
    // a DROP policy with high counters but no window: nothing moved that iptop saw
    let s = snapshot(
        &[(
            "filter",
            None,
            &DOCKER_FILTER.replace("Chain FORWARD DROP 0", "Chain FORWARD DROP 500"),
        )],
        0,
    );
    assert!(evaluate(&s, None).is_empty());
}

const USER_DPORT: &str = "0 DROP 6 * * 0.0.0.0/0 0.0.0.0/0 tcp dpt:8080\n";

fn with_user_rule(rule: &str) -> String {
    DOCKER_FILTER.replace(
        "Chain DOCKER-USER - 1\n",
        &format!("Chain DOCKER-USER - 1\n{rule}"),
    )
}

#[test]
fn docker_user_dport_flags_a_port_match_after_dnat() {
    let filter = with_user_rule(USER_DPORT);
    let s = snapshot(&[("filter", None, &filter), ("nat", None, DOCKER_NAT)], 0);
    let f = evaluate(&s, None);
    assert_eq!(ids(&f), [DOCKER_USER_DPORT]);
    assert_eq!(f[0].chain.as_deref(), Some("DOCKER-USER"));
    assert_eq!(f[0].rule, Some(1));
    assert!(f[0].message.contains("--ctorigdstport"), "{}", f[0].message);
    assert!(
        f[0].message.contains("published to 172.17.0.2:80"),
        "{}",
        f[0].message
    );
    // a multiport list is a port match too
    let filter = with_user_rule("0 DROP 6 * * 0.0.0.0/0 0.0.0.0/0 multiport dports 22,8080\n");
    let s = snapshot(&[("filter", None, &filter)], 0);
    assert_eq!(ids(&evaluate(&s, None)), [DOCKER_USER_DPORT]);
}

#[test]
fn docker_user_with_ctorigdstport_or_without_ports_is_fine() {
    for rule in [
        "0 DROP 6 * * 0.0.0.0/0 0.0.0.0/0 ctorigdstport 8080\n",
        "0 DROP 6 * * 0.0.0.0/0 0.0.0.0/0 tcp dpt:80 ctorigdstport 8080\n",
        "0 DROP 0 eth0 * !192.0.2.2 0.0.0.0/0\n",
        "0 ACCEPT 6 * * 0.0.0.0/0 0.0.0.0/0 tcp spt:53\n",
    ] {
        let s = snapshot(&[("filter", None, &with_user_rule(rule))], 0);
        assert!(evaluate(&s, None).is_empty(), "{rule}");
    }
    // the same rule in another chain is not about DNAT
    let filter = DOCKER_FILTER.replace(
        "Chain OUTPUT ACCEPT 0\n",
        &format!("Chain OUTPUT ACCEPT 0\n{USER_DPORT}"),
    );
    let s = snapshot(&[("filter", None, &filter)], 0);
    assert!(evaluate(&s, None).is_empty());
}

#[test]
fn published_port_bypasses_input_when_input_drops_it() {
    // ufw: INPUT → ufw-user-input, which `ufw deny 8080` fills
    let filter = DOCKER_FILTER.replace(
        "Chain INPUT ACCEPT 0\n",
        "Chain INPUT ACCEPT 0\n0 ufw-user-input 0 * * 0.0.0.0/0 0.0.0.0/0\n",
    ) + "Chain ufw-user-input - 1\n0 DROP 6 * * 0.0.0.0/0 0.0.0.0/0 tcp dpt:8080\n";
    let s = snapshot(&[("filter", None, &filter), ("nat", None, DOCKER_NAT)], 0);
    let f = evaluate(&s, None);
    assert_eq!(ids(&f), [PUBLISHED_PORT_BYPASSES_INPUT]);
    assert_eq!(f[0].severity, Severity::Critical);
    assert_eq!(f[0].chain.as_deref(), Some("ufw-user-input"));
    assert_eq!(f[0].rule, Some(1));
    assert!(
        f[0].message.contains("nat DOCKER rule 2"),
        "{}",
        f[0].message
    );
    // a policy DROP on INPUT with nothing accepting the port: points at the DNAT
    let filter = DOCKER_FILTER.replace("Chain INPUT ACCEPT 0", "Chain INPUT DROP 0");
    let s = snapshot(&[("filter", None, &filter), ("nat", None, DOCKER_NAT)], 0);
    let f = evaluate(&s, None);
    assert_eq!(ids(&f), [PUBLISHED_PORT_BYPASSES_INPUT]);
    assert_eq!((f[0].table.as_str(), f[0].rule), ("nat", Some(2)));
}

#[test]
fn published_port_is_fine_when_input_leaves_it_alone() {
    for input in [
        // another port
        "Chain INPUT ACCEPT 0\n0 DROP 6 * * 0.0.0.0/0 0.0.0.0/0 tcp dpt:22\n",
        // another protocol
        "Chain INPUT ACCEPT 0\n0 DROP 17 * * 0.0.0.0/0 0.0.0.0/0 udp dpt:8080\n",
        // a DROP policy, but the port is accepted on purpose
        "Chain INPUT DROP 0\n0 ACCEPT 6 * * 0.0.0.0/0 0.0.0.0/0 tcp dpt:8080\n",
    ] {
        let filter = DOCKER_FILTER.replace("Chain INPUT ACCEPT 0\n", input);
        let s = snapshot(&[("filter", None, &filter), ("nat", None, DOCKER_NAT)], 0);
        assert!(evaluate(&s, None).is_empty(), "{input}");
    }
    // no nat table: nothing is known to be published
    let filter = DOCKER_FILTER.replace(
        "Chain INPUT ACCEPT 0\n",
        "Chain INPUT ACCEPT 0\n0 DROP 6 * * 0.0.0.0/0 0.0.0.0/0 tcp dpt:8080\n",
    );
    assert!(evaluate(&snapshot(&[("filter", None, &filter)], 0), None).is_empty());
}

#[test]
fn unreferenced_chain_with_rules_or_a_known_name() {
    // FORWARD rewritten by another tool: DOCKER-FORWARD left with no jump into it
    let filter = DOCKER_FILTER.to_string()
        + "Chain DOCKER-FORWARD - 0\n0 DOCKER-CT 0 * * 0.0.0.0/0 0.0.0.0/0\nChain DOCKER-CT - 1\n";
    let f = evaluate(&snapshot(&[("filter", None, &filter)], 0), None);
    assert_eq!(ids(&f), [UNREFERENCED_CHAIN]);
    assert_eq!(f[0].chain.as_deref(), Some("DOCKER-FORWARD"));
    assert!(
        f[0].message.contains("Docker 28+ writes it"),
        "{}",
        f[0].message
    );
    // an empty but well-known chain
    let filter = DOCKER_FILTER.to_string() + "Chain DOCKER-INGRESS - 0\n";
    let f = evaluate(&snapshot(&[("filter", None, &filter)], 0), None);
    assert_eq!(ids(&f), [UNREFERENCED_CHAIN]);
    // one's own chain with rules, references not printed: counted from the jumps
    let mut s = snapshot(
        &[(
            "filter",
            None,
            &(DOCKER_FILTER.to_string() + "Chain MINE - 0\n0 DROP 0 * * 0.0.0.0/0 0.0.0.0/0\n"),
        )],
        0,
    );
    let mi = s.tables[0].chain_index("MINE").unwrap();
    s.tables[0].chain_mut(mi).kind = crate::model::ChainKind::User { references: None };
    assert_eq!(ids(&evaluate(&s, None)), [UNREFERENCED_CHAIN]);
}

#[test]
fn unreferenced_chain_not_for_canaries_or_empty_own_chains() {
    let filter = DOCKER_FILTER.to_string()
        + "Chain KUBE-KUBELET-CANARY - 0\nChain KUBE-MARK-DROP - 0\n0 MARK 0 * * 0.0.0.0/0 0.0.0.0/0 MARK or 0x8000\nChain MY-SPARE - 0\n";
    assert!(evaluate(&snapshot(&[("filter", None, &filter)], 0), None).is_empty());
}

#[test]
fn both_backends_when_a_table_is_held_twice() {
    let s = snapshot(
        &[
            ("filter", Some(Backend::Nft), DOCKER_FILTER),
            ("filter", Some(Backend::Legacy), DOCKER_FILTER),
        ],
        0,
    );
    let f = evaluate(&s, None);
    assert_eq!(ids(&f), [BOTH_BACKENDS]);
    assert_eq!((f[0].at.table, f[0].chain.as_deref()), (1, None));
    assert_eq!(f[0].backend, Some(Backend::Legacy));
}

#[test]
fn one_backend_per_table_is_fine() {
    let s = snapshot(
        &[
            ("filter", Some(Backend::Nft), DOCKER_FILTER),
            ("nat", Some(Backend::Legacy), DOCKER_NAT),
        ],
        0,
    );
    assert!(evaluate(&s, None).is_empty());
}

const RAW: &str = "
    Chain PREROUTING ACCEPT 0
    0 DROP 17 * * 0.0.0.0/0 0.0.0.0/0 udp dpt:11211
    0 CT 0 * * 0.0.0.0/0 0.0.0.0/0 NOTRACK
    Chain OUTPUT ACCEPT 0
";

#[test]
fn early_drop_when_a_raw_drop_moves() {
    let after = RAW.replace("0 DROP 17", "7 DROP 17");
    let f = window(&[("raw", RAW)], &[("raw", &after)]);
    assert_eq!(ids(&f), [EARLY_DROP]);
    assert_eq!(
        (f[0].chain.as_deref(), f[0].rule),
        (Some("PREROUTING"), Some(1))
    );
    assert!(
        f[0].message.contains("dropped 7 packets"),
        "{}",
        f[0].message
    );
    let mangle = RAW.replace("0 DROP 17", "0 REJECT 17");
    let after = mangle.replace("0 REJECT 17", "2 REJECT 17");
    let f = window(&[("mangle", &mangle)], &[("mangle", &after)]);
    assert_eq!(ids(&f), [EARLY_DROP]);
}

#[test]
fn no_early_drop_when_still_or_in_filter_or_not_a_drop() {
    assert!(window(&[("raw", RAW)], &[("raw", RAW)]).is_empty());
    let after = RAW.replace("0 CT 0", "9 CT 0");
    assert!(window(&[("raw", RAW)], &[("raw", &after)]).is_empty());
    // a DROP in filter moving is what filter is for
    let filter = DOCKER_FILTER.replace(
        "Chain OUTPUT ACCEPT 0\n",
        "Chain OUTPUT ACCEPT 0\n0 DROP 17 * * 0.0.0.0/0 0.0.0.0/0 udp dpt:11211\n",
    );
    let after = filter.replace("0 DROP 17", "7 DROP 17");
    assert!(window(&[("filter", &filter)], &[("filter", &after)]).is_empty());
}

const KUBE_FILTER: &str = "
    Chain INPUT ACCEPT 0
    0 KUBE-EXTERNAL-SERVICES 0 * * 0.0.0.0/0 0.0.0.0/0 ctstate NEW /* kubernetes externally-visible service portals */
    Chain FORWARD ACCEPT 0
    Chain OUTPUT ACCEPT 0
    0 KUBE-SERVICES 0 * * 0.0.0.0/0 0.0.0.0/0 ctstate NEW /* kubernetes service portals */
    Chain KUBE-EXTERNAL-SERVICES - 1
    0 REJECT 6 * * 0.0.0.0/0 0.0.0.0/0 /* shop/cart:http has no endpoints */ ADDRTYPE match dst-type LOCAL tcp dpt:30080 reject-with icmp-port-unreachable
    Chain KUBE-SERVICES - 1
    0 REJECT 6 * * 0.0.0.0/0 10.96.0.20 /* shop/cart:http has no endpoints */ tcp dpt:80 reject-with icmp-port-unreachable
";

#[test]
fn kube_no_endpoints_when_its_reject_moves() {
    let after = KUBE_FILTER.replace(
        "0 REJECT 6 * * 0.0.0.0/0 10.96",
        "4 REJECT 6 * * 0.0.0.0/0 10.96",
    );
    let f = window(&[("filter", KUBE_FILTER)], &[("filter", &after)]);
    assert_eq!(ids(&f), [KUBE_NO_ENDPOINTS]);
    assert_eq!(
        (f[0].chain.as_deref(), f[0].rule),
        (Some("KUBE-SERVICES"), Some(1))
    );
    assert!(f[0].message.contains("shop/cart:http"), "{}", f[0].message);
    assert!(f[0].message.contains("4 packets"), "{}", f[0].message);
}

#[test]
fn no_kube_no_endpoints_while_nobody_asks() {
    assert!(window(&[("filter", KUBE_FILTER)], &[("filter", KUBE_FILTER)]).is_empty());
    // a REJECT that moves without kube-proxy's comment is someone else's
    let other = KUBE_FILTER.replace("has no endpoints", "is closed");
    let after = other.replace(
        "0 REJECT 6 * * 0.0.0.0/0 10.96",
        "4 REJECT 6 * * 0.0.0.0/0 10.96",
    );
    assert!(window(&[("filter", &other)], &[("filter", &after)]).is_empty());
}

#[test]
fn findings_come_most_severe_first() {
    let filter = with_user_rule(USER_DPORT).replace(
        "Chain INPUT ACCEPT 0\n",
        "Chain INPUT ACCEPT 0\n0 DROP 6 * * 0.0.0.0/0 0.0.0.0/0 tcp dpt:8080\n",
    );
    let after = filter.replace("Chain FORWARD DROP 0", "Chain FORWARD DROP 5");
    let f = window(
        &[("filter", &filter), ("nat", DOCKER_NAT)],
        &[("filter", &after), ("nat", DOCKER_NAT)],
    );
    assert_eq!(
        ids(&f),
        [
            PUBLISHED_PORT_BYPASSES_INPUT,
            POLICY_DROP,
            DOCKER_USER_DPORT
        ]
    );
    for id in IDS {
        let s = id.as_str();
        assert!(!s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
    }
}

/// Native tables from compact nft JSON: `TABLE` lines start a table (`family name`),
/// `CHAIN name hook prio policy` a base chain (`CHAIN name` a regular one), and each
/// other line is a rule of the last chain: `counter`, `match`, `drop`, `accept`,
/// `jump X` words, one expression each.
fn native(spec: &str) -> Vec<FirewallTable> {
    let mut items = Vec::new();
    let (mut fam, mut table, mut chain) = (String::new(), String::new(), String::new());
    let mut handle = 0;
    for l in spec.lines().map(str::trim).filter(|l| !l.is_empty()) {
        handle += 1;
        let w: Vec<&str> = l.split_whitespace().collect();
        match w[0] {
            "TABLE" => {
                (fam, table) = (w[1].to_string(), w[2].to_string());
                items.push(serde_json::json!({"table": {"family": fam, "name": table}}));
            }
            "CHAIN" => {
                chain = w[1].to_string();
                let mut c = serde_json::json!({"family": fam, "table": table, "name": chain, "handle": handle});
                if w.len() == 5 {
                    c["type"] = "filter".into();
                    c["hook"] = w[2].into();
                    c["prio"] = w[3].parse::<i64>().unwrap().into();
                    c["policy"] = w[4].into();
                }
                items.push(serde_json::json!({ "chain": c }));
            }
            _ => {
                let mut expr = Vec::new();
                let mut i = 0;
                while i < w.len() {
                    expr.push(match w[i] {
                        "counter" => serde_json::json!({"counter": {"packets": 0, "bytes": 0}}),
                        "match" => serde_json::json!({"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}}),
                        "jump" => {
                            i += 1;
                            serde_json::json!({"jump": {"target": w[i]}})
                        }
                        v => serde_json::json!({ v: null }),
                    });
                    i += 1;
                }
                items.push(serde_json::json!({"rule": {"family": fam, "table": table, "chain": chain, "handle": handle, "expr": expr}}));
            }
        }
    }
    let json = serde_json::json!({ "nftables": items }).to_string();
    crate::parse::nft::parse_ruleset(&json, None).expect("native tables")
}

/// A snapshot of the iptables tables `ipt` and the native tables of `nft`.
fn mixed(ipt: &[(&str, &str)], nft: &str) -> Vec<Finding> {
    let mut s = snapshot(
        &ipt.iter().map(|(n, t)| (*n, None, *t)).collect::<Vec<_>>(),
        0,
    );
    s.tables.extend(native(nft));
    evaluate(&s, None)
}

const DOCKER_NFT: &str = "
    TABLE ip docker-bridges
    CHAIN filter-FORWARD forward 0 accept
    match jump filter-forward-in
    CHAIN filter-forward-in
    match counter accept
";

const EMPTY_FILTER: &str = "
    Chain INPUT ACCEPT 0
    Chain FORWARD ACCEPT 0
    Chain OUTPUT ACCEPT 0
";

fn only(f: &[Finding], id: FindingId) -> Vec<&Finding> {
    f.iter().filter(|x| x.id == id).collect()
}

#[test]
fn native_forward_drop_by_policy_beside_docker() {
    let inet = "TABLE inet filter\nCHAIN forward forward 0 drop\nmatch counter accept\n";
    let f = mixed(&[], &format!("{DOCKER_NFT}{inet}"));
    let hit = only(&f, NATIVE_FORWARD_DROP);
    assert_eq!(hit.len(), 1, "{f:?}");
    assert_eq!(hit[0].table, "filter");
    assert_eq!(hit[0].chain.as_deref(), Some("forward"));
    assert!(
        hit[0].message.contains("drops by policy"),
        "{}",
        hit[0].message
    );
    assert!(hit[0].message.contains("Docker"), "{}", hit[0].message);
    // Docker's iptables rules count as well
    let f = mixed(&[("filter", DOCKER_FILTER)], inet);
    assert_eq!(only(&f, NATIVE_FORWARD_DROP).len(), 1, "{f:?}");
}

#[test]
fn native_forward_drop_by_an_unconditional_rule() {
    let inet =
        "TABLE inet filter\nCHAIN forward forward 0 accept\nmatch counter accept\ncounter drop\n";
    let f = mixed(&[], &format!("{DOCKER_NFT}{inet}"));
    let hit = only(&f, NATIVE_FORWARD_DROP);
    assert_eq!(hit.len(), 1, "{f:?}");
    assert_eq!(hit[0].rule, Some(2));
}

#[test]
fn no_native_forward_drop_without_docker_or_with_a_conditional_drop() {
    // nobody forwards: a forward policy of drop is the admin's own business
    let inet = "TABLE inet filter\nCHAIN forward forward 0 drop\n";
    assert!(only(&mixed(&[], inet), NATIVE_FORWARD_DROP).is_empty());
    // beside Docker: a drop that matches something, an accepting policy
    let inet = "TABLE inet filter\nCHAIN forward forward 0 accept\nmatch counter drop\n";
    let f = mixed(&[], &format!("{DOCKER_NFT}{inet}"));
    assert!(only(&f, NATIVE_FORWARD_DROP).is_empty(), "{f:?}");
}

#[test]
fn iptables_and_native_on_one_hook() {
    let filter = "
        Chain INPUT ACCEPT 0
        Chain FORWARD ACCEPT 0
        0 ACCEPT 6 * * 0.0.0.0/0 0.0.0.0/0 tcp dpt:22
        Chain OUTPUT ACCEPT 0
    ";
    let inet = "TABLE inet filter\nCHAIN forward forward -10 accept\nmatch counter accept\n";
    let f = mixed(&[("filter", filter)], inet);
    let hit = only(&f, IPTABLES_AND_NATIVE);
    assert_eq!(hit.len(), 1, "{f:?}");
    assert_eq!(hit[0].severity, Severity::Info);
    assert!(
        hit[0]
            .message
            .contains("inet filter forward (-10) → iptables filter FORWARD (0)"),
        "{}",
        hit[0].message
    );
}

#[test]
fn no_iptables_and_native_when_iptables_is_empty_there() {
    // iptables-nft lists built-in chains of a table it never made: not in the kernel
    let inet = "TABLE inet filter\nCHAIN forward forward 0 accept\nmatch counter accept\n";
    let f = mixed(&[("filter", EMPTY_FILTER)], inet);
    assert!(only(&f, IPTABLES_AND_NATIVE).is_empty(), "{f:?}");
}

#[test]
fn counterless_rules_counted_per_table() {
    let f = mixed(&[], DOCKER_NFT);
    let hit = only(&f, COUNTERLESS_RULES);
    assert_eq!(hit.len(), 1, "{f:?}");
    assert!(
        hit[0]
            .message
            .starts_with("1 of the 2 rules of ip docker-bridges have no counter"),
        "{}",
        hit[0].message
    );
    assert_eq!(
        (hit[0].chain.as_deref(), hit[0].rule),
        (Some("filter-FORWARD"), Some(1))
    );
    let counted = "TABLE inet filter\nCHAIN input input 0 accept\nmatch counter accept\n";
    assert!(only(&mixed(&[], counted), COUNTERLESS_RULES).is_empty());
}
