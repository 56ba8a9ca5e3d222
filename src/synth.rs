//! Synthetic rulesets for benchmarks, fuzzing and round-trip tests: a kube-proxy-shaped
//! generator (KUBE-SERVICES → KUBE-SVC-* → KUBE-SEP-*, comments, `statistic` matches,
//! like `tests/fixtures/iptables/gen-scale.sh`) and a renderer that prints a table
//! exactly as `iptables -L -v -n -x [--line-numbers]` does.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::model::{Chain, ChainKind, Counter, FirewallTable, Rule, RuleSpec};

/// A small deterministic PRNG (Park–Miller, as gen-scale.sh uses).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed % 2_147_483_647 + 1)
    }

    pub fn next_u32(&mut self) -> u32 {
        self.0 = (self.0 * 16807) % 2_147_483_647;
        self.0 as u32
    }

    pub fn below(&mut self, n: u32) -> u32 {
        self.next_u32() % n.max(1)
    }

    /// A counter pair spread over 0..~10^13 packets, like gen-scale.sh.
    pub fn counters(&mut self) -> (u64, u64) {
        let e = self.below(14);
        if e == 0 {
            return (0, 0);
        }
        let p = 10u64.pow(e - 1) * (1000 + u64::from(self.below(9000))) / 1000;
        (p, p * (40 + u64::from(self.below(1500))))
    }

    fn hash16(&mut self) -> String {
        const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        (0..16)
            .map(|_| B32[self.below(32) as usize] as char)
            .collect()
    }
}

fn spec(target: &str, prot: &str, src: &str, dst: &str, extra: String) -> RuleSpec {
    RuleSpec {
        target: target.into(),
        goto: false,
        prot: prot.into(),
        opt: "--".into(),
        in_iface: "*".into(),
        out_iface: "*".into(),
        source: src.into(),
        destination: dst.into(),
        extra: extra.into(),
    }
}

fn chain(name: &str, builtin: Option<&str>) -> Chain {
    Chain {
        name: name.into(),
        kind: match builtin {
            Some(p) => ChainKind::Builtin { policy: p.into() },
            None => ChainKind::User {
                references: Some(0),
            },
        },
        packets: 0,
        bytes: 0,
        rules: Default::default(),
        counters: Vec::new(),
        text: Default::default(),
        native: None,
    }
}

/// A kube-proxy-like nat table with about `rules` rules (and a few more chains than
/// kube-proxy would have per service, as gen-scale.sh makes them).
pub fn kube_nat(rules: usize, seed: u64) -> FirewallTable {
    let mut rng = Rng::new(seed);
    let mut pre = chain("PREROUTING", Some("ACCEPT"));
    let input = chain("INPUT", Some("ACCEPT"));
    let mut output = chain("OUTPUT", Some("ACCEPT"));
    let mut post = chain("POSTROUTING", Some("ACCEPT"));
    let mut masq = chain("KUBE-MARK-MASQ", None);
    let mut nodeports = chain("KUBE-NODEPORTS", None);
    let mut kpost = chain("KUBE-POSTROUTING", None);
    let mut services = chain("KUBE-SERVICES", None);
    let any = "0.0.0.0/0";
    let push = |c: &mut Chain, s: RuleSpec, rng: &mut Rng| {
        let (packets, bytes) = rng.counters();
        let num = c.rules.len() as u32 + 1;
        Arc::make_mut(&mut c.rules).push(Rule {
            num,
            spec: Arc::new(s),
            ..Default::default()
        });
        c.counters.push(Counter { packets, bytes });
    };
    push(
        &mut pre,
        spec(
            "KUBE-SERVICES",
            "0",
            any,
            any,
            "/* kubernetes service portals */".into(),
        ),
        &mut rng,
    );
    push(
        &mut output,
        spec(
            "KUBE-SERVICES",
            "0",
            any,
            any,
            "/* kubernetes service portals */".into(),
        ),
        &mut rng,
    );
    push(
        &mut post,
        spec(
            "KUBE-POSTROUTING",
            "0",
            any,
            any,
            "/* kubernetes postrouting rules */".into(),
        ),
        &mut rng,
    );
    push(
        &mut masq,
        spec("MARK", "0", any, any, "MARK or 0x4000".into()),
        &mut rng,
    );
    push(
        &mut kpost,
        spec("RETURN", "0", any, any, "mark match ! 0x4000/0x4000".into()),
        &mut rng,
    );
    push(
        &mut kpost,
        spec("MARK", "0", any, any, "MARK xor 0x4000".into()),
        &mut rng,
    );
    push(
        &mut kpost,
        spec(
            "MASQUERADE",
            "0",
            any,
            any,
            "/* kubernetes service traffic requiring SNAT */ masq ports: random-fully".into(),
        ),
        &mut rng,
    );
    let mut others: Vec<Chain> = Vec::new();
    let mut total = 8;
    let mut i = 0usize;
    while total < rules.saturating_sub(1) {
        let ns = format!("ns{}", i % 37);
        let full = format!("{ns}/svc-{i}:{}", if i % 2 == 1 { "http" } else { "grpc" });
        let cip = format!("10.96.{}.{}", (i / 250) % 256, i % 250 + 1);
        let (prot, pname) = if i % 7 == 6 {
            ("17", "udp")
        } else {
            ("6", "tcp")
        };
        let port = if i % 2 == 1 { 80 } else { 9000 + i % 1000 };
        let h = rng.hash16();
        let svc_name = format!("KUBE-SVC-{h}");
        let mut svc = chain(&svc_name, None);
        push(
            &mut services,
            spec(
                &svc_name,
                prot,
                any,
                &cip,
                format!("/* {full} cluster IP */ {pname} dpt:{port}"),
            ),
            &mut rng,
        );
        push(
            &mut svc,
            spec(
                "KUBE-MARK-MASQ",
                prot,
                "!10.244.0.0/16",
                &cip,
                format!("/* {full} cluster IP */ {pname} dpt:{port}"),
            ),
            &mut rng,
        );
        total += 2;
        if i.is_multiple_of(3) {
            let ext_name = format!("KUBE-EXT-{h}");
            let mut ext = chain(&ext_name, None);
            let np = 30000 + i % 2768;
            push(
                &mut nodeports,
                spec(
                    &ext_name,
                    prot,
                    any,
                    any,
                    format!("/* {full} */ {pname} dpt:{np}"),
                ),
                &mut rng,
            );
            push(
                &mut ext,
                spec(
                    "KUBE-MARK-MASQ",
                    "0",
                    any,
                    any,
                    format!("/* masquerade traffic for {full} external destinations */"),
                ),
                &mut rng,
            );
            push(
                &mut ext,
                spec(&svc_name, "0", any, any, String::new()),
                &mut rng,
            );
            others.push(ext);
            total += 3;
        }
        let e = i % 4 + 1;
        for k in 0..e {
            let sep_name = format!("KUBE-SEP-{}", rng.hash16());
            let pod = format!(
                "10.244.{}.{}",
                ((i * 4 + k) / 250) % 256,
                (i * 4 + k) % 250 + 2
            );
            let tport = if i % 2 == 1 { 8080 } else { port };
            let stat = if k + 1 < e {
                // kube-proxy's 1/n comes back rounded through a u32
                let p = (1.0 / (e - k) as f64 * 2_147_483_648.0).round() / 2_147_483_648.0;
                format!(" statistic mode random probability {p:.11}")
            } else {
                String::new()
            };
            push(
                &mut svc,
                spec(
                    &sep_name,
                    "0",
                    any,
                    any,
                    format!("/* {full} -> {pod}:{tport} */{stat}"),
                ),
                &mut rng,
            );
            let mut sep = chain(&sep_name, None);
            push(
                &mut sep,
                spec("KUBE-MARK-MASQ", "0", &pod, any, format!("/* {full} */")),
                &mut rng,
            );
            push(
                &mut sep,
                spec(
                    "DNAT",
                    prot,
                    any,
                    any,
                    format!("/* {full} */ {pname} to:{pod}:{tport}"),
                ),
                &mut rng,
            );
            others.push(sep);
            total += 3;
        }
        others.push(svc);
        i += 1;
    }
    push(
        &mut services,
        spec(
            "KUBE-NODEPORTS",
            "0",
            any,
            any,
            "/* kubernetes service nodeports; NOTE: this must be the last rule in this chain */ ADDRTYPE match dst-type LOCAL"
                .into(),
        ),
        &mut rng,
    );
    let mut user = vec![masq, nodeports, kpost, services];
    user.extend(others);
    // iptables lists user chains sorted by name
    user.sort_by(|a, b| a.name.cmp(&b.name));
    let mut t = FirewallTable::new("nat");
    for mut c in [pre, input, output, post].into_iter().chain(user) {
        for (k, r) in Arc::make_mut(&mut c.rules).iter_mut().enumerate() {
            r.num = k as u32 + 1;
        }
        c.assign_keys();
        t.push_chain(c);
    }
    t.link();
    fix_references(&mut t);
    t
}

/// Sets every user chain's reference count to the number of rules that target it.
pub fn fix_references(t: &mut FirewallTable) {
    let mut refs = vec![0u32; t.chains.len()];
    for c in &t.chains {
        for r in c.rules.iter() {
            if let Some(i) = t.chain_index(&r.spec.target) {
                refs[i] += 1;
            }
        }
    }
    for (c, n) in t.chains.iter_mut().zip(refs) {
        if let ChainKind::User { references } = &mut Arc::make_mut(c).kind {
            *references = Some(n);
        }
    }
}

/// Prints a table as `iptables -t NAME -L -v -n -x [--line-numbers]` does (iptables
/// 1.8.9's printf formats, padding and trailing spaces included).
pub fn render_listing(t: &FirewallTable, line_numbers: bool) -> String {
    let mut out = String::with_capacity(t.rule_count() * 200 + 256);
    for (i, c) in t.chains.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match &c.kind {
            ChainKind::Builtin { policy } => {
                let _ = writeln!(
                    out,
                    "Chain {} (policy {policy} {} packets, {} bytes)",
                    c.name, c.packets, c.bytes
                );
            }
            ChainKind::User {
                references: Some(n),
            } => {
                let _ = writeln!(out, "Chain {} ({n} references)", c.name);
            }
            ChainKind::User { references: None } => {
                let _ = writeln!(out, "Chain {} (ERROR obtaining refs)", c.name);
            }
        }
        if line_numbers {
            out.push_str("num  ");
        }
        out.push_str("    pkts      bytes target     prot opt in     out     source               destination         \n");
        for (r, k) in c.rules.iter().zip(&c.counters) {
            render_rule(&mut out, r, *k, line_numbers);
        }
    }
    out
}

fn neg_slot(out: &mut String, v: &str, width: usize) {
    match v.strip_prefix('!') {
        Some(rest) => {
            let _ = write!(out, "!{rest:<width$} ");
        }
        None => {
            let _ = write!(out, " {v:<width$} ");
        }
    }
}

fn render_rule(out: &mut String, r: &Rule, k: Counter, line_numbers: bool) {
    let s = &r.spec;
    if line_numbers {
        let _ = write!(out, "{:<4} ", r.num);
    }
    let _ = write!(out, "{:>8} {:>8} {:<9} ", k.packets, k.bytes, s.target);
    neg_slot(out, &s.prot, 4);
    let _ = write!(out, "{:>2}  {:<6} {:<6} ", s.opt, s.in_iface, s.out_iface);
    neg_slot(out, &s.source, 19);
    neg_slot(out, &s.destination, 19);
    if s.goto {
        out.push_str("[goto] ");
    }
    if !s.extra.is_empty() {
        out.push(' ');
        out.push_str(&s.extra);
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_table;

    #[test]
    fn renders_like_iptables() {
        // The docker-swarm fixture, parsed and printed again, is byte-identical.
        for name in [
            "docker-swarm.nft.filter",
            "docker-swarm.nft.nat",
            "edge.legacy.filter",
            "edge.nft.nat",
        ] {
            for (suffix, lines) in [("-vnxL.txt", false), ("-vnxL-lines.txt", true)] {
                let path = format!(
                    "{}/tests/fixtures/iptables/{name}{suffix}",
                    env!("CARGO_MANIFEST_DIR")
                );
                let text = std::fs::read_to_string(&path).expect("fixture");
                let t = parse_table("x", &text, None).expect("parse");
                assert_eq!(render_listing(&t, lines), text, "{path}");
            }
        }
    }

    #[test]
    fn kube_tables_round_trip() {
        let t = kube_nat(2000, 7);
        assert!(
            (1990..=2010).contains(&t.rule_count()),
            "{}",
            t.rule_count()
        );
        let text = render_listing(&t, true);
        let back = parse_table("nat", &text, None).expect("parse");
        assert_eq!(back, t);
    }
}
