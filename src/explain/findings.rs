//! Rules of thumb evaluated on a snapshot and its deltas: each finding has a stable id,
//! a severity, the place it points at (table, chain, rule) and one sentence saying what
//! it means. Traps that fill the issue trackers, told by counters iptop already has.
//!
//! | id | when |
//! |---|---|
//! | `policy-drop` | a built-in chain's DROP policy counter moved |
//! | `docker-user-dport` | a DOCKER-USER rule matches a destination port without conntrack's original port |
//! | `published-port-bypasses-input` | a port published by DNAT while INPUT drops it |
//! | `unreferenced-chain` | a user chain nothing jumps to |
//! | `both-backends` | a table holds rules in iptables-nft and in iptables-legacy |
//! | `early-drop` | a DROP or REJECT in raw or mangle moved |
//! | `kube-no-endpoints` | kube-proxy's "has no endpoints" REJECT moved |
//! | `native-forward-drop` | a native base chain on the forward hook drops by policy or by an unconditional rule while Docker or kube-proxy forward traffic |
//! | `iptables-and-native` | iptables' and native base chains on one hook (info: their order) |
//! | `counterless-rules` | rules of a native table without a `counter` (info) |
//!
//! For the live view: call [`evaluate`] with each poll's snapshot and the deltas it
//! shows (or [`Facts::of`] once and [`evaluate_facts`]: each rule's match text is read
//! once, into [`Matched`]); every [`Finding`] carries its [`Place`] (table, chain and rule positions in
//! that snapshot) to jump to. Rules about published ports need the nat table next to
//! filter in the same snapshot; the others need only the table they are about.

use super::notes;
use super::ports::{Matched, Ports};
use crate::diff::{Delta, Deltas, TableDelta};
use crate::model::{Backend, FirewallTable, Rule, Snapshot};

/// A finding's stable id: the kebab-case string is what text, JSON, `/metrics` and
/// docs/docker-kubernetes.md name (see the table above).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingId {
    PolicyDrop,
    DockerUserDport,
    PublishedPortBypassesInput,
    UnreferencedChain,
    BothBackends,
    EarlyDrop,
    KubeNoEndpoints,
    NativeForwardDrop,
    IptablesAndNative,
    CounterlessRules,
}

impl FindingId {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingId::PolicyDrop => "policy-drop",
            FindingId::DockerUserDport => "docker-user-dport",
            FindingId::PublishedPortBypassesInput => "published-port-bypasses-input",
            FindingId::UnreferencedChain => "unreferenced-chain",
            FindingId::BothBackends => "both-backends",
            FindingId::EarlyDrop => "early-drop",
            FindingId::KubeNoEndpoints => "kube-no-endpoints",
            FindingId::NativeForwardDrop => "native-forward-drop",
            FindingId::IptablesAndNative => "iptables-and-native",
            FindingId::CounterlessRules => "counterless-rules",
        }
    }
}

impl std::fmt::Display for FindingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for FindingId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

pub const POLICY_DROP: FindingId = FindingId::PolicyDrop;
pub const DOCKER_USER_DPORT: FindingId = FindingId::DockerUserDport;
pub const PUBLISHED_PORT_BYPASSES_INPUT: FindingId = FindingId::PublishedPortBypassesInput;
pub const UNREFERENCED_CHAIN: FindingId = FindingId::UnreferencedChain;
pub const BOTH_BACKENDS: FindingId = FindingId::BothBackends;
pub const EARLY_DROP: FindingId = FindingId::EarlyDrop;
pub const KUBE_NO_ENDPOINTS: FindingId = FindingId::KubeNoEndpoints;
pub const NATIVE_FORWARD_DROP: FindingId = FindingId::NativeForwardDrop;
pub const IPTABLES_AND_NATIVE: FindingId = FindingId::IptablesAndNative;
pub const COUNTERLESS_RULES: FindingId = FindingId::CounterlessRules;

/// Every finding id, in the order of the table above.
pub const IDS: [FindingId; 10] = [
    POLICY_DROP,
    DOCKER_USER_DPORT,
    PUBLISHED_PORT_BYPASSES_INPUT,
    UNREFERENCED_CHAIN,
    BOTH_BACKENDS,
    EARLY_DROP,
    KUBE_NO_ENDPOINTS,
    NATIVE_FORWARD_DROP,
    IPTABLES_AND_NATIVE,
    COUNTERLESS_RULES,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; often intended.
    Info,
    /// Probably not what was meant.
    Warning,
    /// Traffic gets through that the rules seem to stop.
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Where a finding points: positions in the snapshot it was found in (for jumping to the
/// rule), and the names to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Place {
    /// Index into `Snapshot::tables`.
    pub table: usize,
    /// Index into the table's chains.
    pub chain: Option<usize>,
    /// Index into the chain's rules (the rule's number is one more).
    pub rule: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub id: FindingId,
    pub severity: Severity,
    pub table: String,
    pub backend: Option<Backend>,
    /// The chain, or None for a finding about a whole table.
    pub chain: Option<String>,
    /// The rule's number in its chain, or None for a chain (its policy) or a table.
    pub rule: Option<u32>,
    pub message: String,
    pub at: Place,
}

/// What the rules of thumb read of a snapshot, read once: the match text ([`Matched`]) of
/// only the rules a rule of thumb reads (filter rules matching destination ports, nat's
/// DNATs publishing ports, DROPs and REJECTs with a comment), and how many rules jump to
/// each user chain.
pub struct Facts<'a> {
    pub snap: &'a Snapshot,
    /// The rules read, in table, chain and rule order.
    rules: Vec<Fact<'a>>,
    /// Per table, per chain: where its rules start in `rules`, and one past the last
    /// chain's.
    starts: Vec<Vec<usize>>,
    /// Per table, per chain: the rules that jump to it (0 for a built-in chain).
    refs: Vec<Vec<usize>>,
}

/// One rule read: where it is, the rule, and its match text.
struct Fact<'a> {
    chain: usize,
    rule: usize,
    r: &'a Rule,
    m: Matched<'a>,
}

impl<'a> Facts<'a> {
    pub fn of(snap: &'a Snapshot) -> Facts<'a> {
        let mut rules = Vec::new();
        let mut starts = Vec::with_capacity(snap.tables.len());
        let mut refs = Vec::with_capacity(snap.tables.len());
        for t in &snap.tables {
            let filter = t.name == "filter";
            let nat = t.name == "nat";
            let mut at = Vec::with_capacity(t.chains.len() + 1);
            let mut jumps = Vec::with_capacity(t.chains.len());
            for (ci, c) in t.chains.iter().enumerate() {
                at.push(rules.len());
                for (ri, r) in c.rules.iter().enumerate() {
                    let spec = &r.spec;
                    let drop = matches!(spec.target.as_str(), "DROP" | "REJECT");
                    // ports are read in filter and of nat's DNATs, comments of drops
                    let m = if filter && may_match_dport(&spec.extra) {
                        let m = Matched::of_filter(spec);
                        (m.any_dport || (drop && m.comment.is_some())).then_some(m)
                    } else if nat && spec.target == "DNAT" && may_match_dport(&spec.extra) {
                        Matched::of_dnat(spec)
                    } else if drop {
                        Matched::comment_only(spec)
                    } else {
                        None
                    };
                    if let Some(m) = m {
                        rules.push(Fact {
                            chain: ci,
                            rule: ri,
                            r,
                            m,
                        });
                    }
                }
                jumps.push(match c.references() {
                    _ if c.is_builtin() => 0,
                    Some(n) => n as usize,
                    None => t.callers().of(ci).len(),
                });
            }
            at.push(rules.len());
            starts.push(at);
            refs.push(jumps);
        }
        Facts {
            snap,
            rules,
            starts,
            refs,
        }
    }

    /// The rules read of table `ti`, with their indexes in `rules`.
    fn of_table(&self, ti: usize) -> impl Iterator<Item = (usize, &Fact<'a>)> {
        let at = &self.starts[ti];
        let (from, to) = (at[0], at[at.len() - 1]);
        (from..to).map(move |i| (i, &self.rules[i]))
    }

    /// The rules read of chain `ci` of table `ti`.
    fn of_chain(&self, ti: usize, ci: usize) -> &[Fact<'a>] {
        let at = &self.starts[ti];
        &self.rules[at[ci]..at[ci + 1]]
    }
}

/// Whether `extra` can match destination ports: without `dpt` or `ports` in it, it
/// cannot (a cheaper test than reading its words).
fn may_match_dport(extra: &str) -> bool {
    extra.contains("dpt") || extra.contains("ports")
}

/// Everything found in `snap`; rules of thumb about movement need `deltas` (the window
/// the snapshot ends). Ordered by severity, then by place.
pub fn evaluate(snap: &Snapshot, deltas: Option<&Deltas>) -> Vec<Finding> {
    evaluate_facts(&Facts::of(snap), deltas)
}

/// [`evaluate`] over a snapshot's facts read once.
pub fn evaluate_facts(facts: &Facts, deltas: Option<&Deltas>) -> Vec<Finding> {
    let snap = facts.snap;
    let mut out = Vec::new();
    let secs = deltas.map_or(0.0, |d| d.elapsed.as_secs_f64());
    let over = |n: u64| window_words(n, secs);
    for (ti, t) in snap.tables.iter().enumerate() {
        let td = deltas.and_then(|d| d.table(ti));
        let mut f = Found {
            out: &mut out,
            t,
            ti,
            facts,
        };
        policy_drop(&mut f, td, &over);
        if t.name == "filter" {
            docker_user_dport(&mut f);
        }
        unreferenced_chain(&mut f);
        if t.name == "raw" || t.name == "mangle" {
            early_drop(&mut f, td, &over);
        }
        kube_no_endpoints(&mut f, td, &over);
    }
    published_port_bypasses_input(&mut out, facts);
    both_backends(&mut out, snap);
    native::native_forward_drop(&mut out, snap);
    native::iptables_and_native(&mut out, snap);
    native::counterless_rules(&mut out, snap);
    out.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then_with(|| {
            (a.at.table, a.at.chain, a.at.rule).cmp(&(b.at.table, b.at.chain, b.at.rule))
        })
    });
    out
}

/// `5 packets in the window (1.7/s)` or `5 packets` when the window length is unknown.
fn window_words(n: u64, secs: f64) -> String {
    let p = if n == 1 { "packet" } else { "packets" };
    if secs > 0.0 {
        format!(
            "{n} {p} in the last {}",
            crate::format::duration(std::time::Duration::from_secs_f64(secs))
        )
    } else {
        format!("{n} {p}")
    }
}

struct Found<'a> {
    out: &'a mut Vec<Finding>,
    t: &'a FirewallTable,
    ti: usize,
    facts: &'a Facts<'a>,
}

impl Found<'_> {
    fn push(
        &mut self,
        id: FindingId,
        severity: Severity,
        chain: usize,
        rule: Option<usize>,
        message: String,
    ) {
        let c = &self.t.chains[chain];
        self.out.push(Finding {
            id,
            severity,
            table: self.t.name.clone(),
            backend: self.t.backend,
            chain: Some(c.name.to_string()),
            rule: rule.and_then(|r| c.rules.get(r)).map(|r| r.num),
            message,
            at: Place {
                table: self.ti,
                chain: Some(chain),
                rule,
            },
        });
    }
}

fn moved(d: Option<&Delta>) -> Option<u64> {
    d.filter(|d| d.packets > 0).map(|d| d.packets)
}

fn policy_drop(f: &mut Found, td: Option<&TableDelta>, over: &dyn Fn(u64) -> String) {
    let Some(td) = td else { return };
    for (ci, c) in f.t.chains.iter().enumerate() {
        if c.policy() != Some("DROP") {
            continue;
        }
        if let Some(n) = moved(td.policy(ci)) {
            let msg = format!(
                "{} {}'s policy DROP dropped {}: no rule in the chain (or the chains it jumps to) accepted them",
                f.t.name,
                c.name,
                over(n)
            );
            f.push(POLICY_DROP, Severity::Warning, ci, None, msg);
        }
    }
}

/// Ports published by DNAT in the snapshot's nat tables: host port → (protocol rule,
/// where it is sent).
struct Published<'a> {
    table: usize,
    chain: usize,
    rule: usize,
    spec: &'a Rule,
    matched: &'a Matched<'a>,
    ports: &'a Ports,
    to: String,
}

fn published<'a>(facts: &'a Facts) -> Vec<Published<'a>> {
    let mut out = Vec::new();
    for (ti, t) in facts.snap.tables.iter().enumerate() {
        if t.name != "nat" {
            continue;
        }
        for (_, x) in facts.of_table(ti) {
            let (r, m) = (x.r, &x.m);
            if r.spec.target != "DNAT" || m.dports.is_empty() {
                continue;
            }
            let to = (m.to.as_ref())
                .map(|(a, p)| match p {
                    Some(p) => format!("{a}:{p}"),
                    None => a.clone(),
                })
                .unwrap_or_default();
            out.push(Published {
                table: ti,
                chain: x.chain,
                rule: x.rule,
                spec: r,
                matched: m,
                ports: &m.dports,
                to,
            });
        }
    }
    out
}

fn docker_user_dport(f: &mut Found) {
    let Some(ci) = f.t.chain_index("DOCKER-USER") else {
        return;
    };
    let facts = f.facts;
    let pubs = published(facts);
    for x in facts.of_chain(f.ti, ci) {
        let (ri, r, m) = (x.rule, x.r, &x.m);
        if !m.any_dport || r.spec.extra.contains("ctorigdstport") {
            continue;
        }
        let p = &m.dports;
        let shown = if p.is_empty() {
            "a destination port".to_string()
        } else {
            format!("destination port {}", p.text())
        };
        let mut msg = format!(
            "DOCKER-USER rule {} matches {shown}, but packets reach DOCKER-USER after DNAT, with the container's port: to match the published port use -m conntrack --ctorigdstport",
            r.num
        );
        if let Some(x) = pubs
            .iter()
            .find(|x| x.ports.overlaps(p) && x.matched.same_protocol(m))
        {
            msg.push_str(&format!(
                " (here port {} is published to {})",
                x.ports.text(),
                x.to
            ));
        }
        f.push(DOCKER_USER_DPORT, Severity::Warning, ci, Some(ri), msg);
    }
}

/// The chains INPUT reaches through jumps (INPUT included), in a filter table.
fn reached_from(t: &FirewallTable, start: usize) -> Vec<bool> {
    let mut seen = vec![false; t.chains.len()];
    let mut stack = vec![start];
    seen[start] = true;
    while let Some(c) = stack.pop() {
        for r in t.chains[c].rules.iter() {
            if let Some(j) = t.jump_target(r)
                && !seen[j]
            {
                seen[j] = true;
                stack.push(j);
            }
        }
    }
    seen
}

fn published_port_bypasses_input(out: &mut Vec<Finding>, facts: &Facts) {
    let snap = facts.snap;
    let pubs = published(facts);
    if pubs.is_empty() {
        return;
    }
    for (ti, t) in snap.tables.iter().enumerate() {
        if t.name != "filter" {
            continue;
        }
        let Some(input) = t.chain_index("INPUT") else {
            continue;
        };
        let reached = reached_from(t, input);
        let verdict_on = |target: &[&str], p: &Published| {
            facts
                .of_table(ti)
                .filter(|(_, x)| {
                    reached[x.chain]
                        && target.contains(&x.r.spec.target.as_str())
                        && x.m.same_protocol(p.matched)
                        && x.m.dports.overlaps(p.ports)
                })
                .map(|(i, x)| (i, x.chain, x.rule, x.r))
                .collect::<Vec<_>>()
        };
        let mut told = vec![false; facts.rules.len()];
        for p in &pubs {
            let drops = verdict_on(&["DROP", "REJECT"], p);
            for &(i, ci, ri, r) in &drops {
                if std::mem::replace(&mut told[i], true) {
                    continue;
                }
                let c = &t.chains[ci];
                out.push(Finding {
                    id: PUBLISHED_PORT_BYPASSES_INPUT,
                    severity: Severity::Critical,
                    table: t.name.clone(),
                    backend: t.backend,
                    chain: Some(c.name.to_string()),
                    rule: Some(r.num),
                    message: format!(
                        "{} rule {} {}s port {}, but nat {} rule {} publishes it to {}: forwarded packets never pass INPUT, so this rule does not stop them (filter them in DOCKER-USER)",
                        c.name,
                        r.num,
                        r.spec.target.to_lowercase(),
                        p.ports.text(),
                        snap.tables[p.table].chains[p.chain].name,
                        p.spec.num,
                        p.to
                    ),
                    at: Place {
                        table: ti,
                        chain: Some(ci),
                        rule: Some(ri),
                    },
                });
            }
            // INPUT drops by policy and nothing on its way accepts the port: the user
            // may believe the policy covers it
            let policy_drops = t.chains[input].policy() == Some("DROP");
            if drops.is_empty() && policy_drops && verdict_on(&["ACCEPT"], p).is_empty() {
                let nat = &snap.tables[p.table];
                let c = &nat.chains[p.chain];
                out.push(Finding {
                    id: PUBLISHED_PORT_BYPASSES_INPUT,
                    severity: Severity::Warning,
                    table: nat.name.clone(),
                    backend: nat.backend,
                    chain: Some(c.name.to_string()),
                    rule: Some(p.spec.num),
                    message: format!(
                        "port {} is published to {} by this DNAT while filter INPUT's policy is DROP: forwarded packets never pass INPUT, so the port is open (filter it in DOCKER-USER)",
                        p.ports.text(),
                        p.to
                    ),
                    at: Place {
                        table: p.table,
                        chain: Some(p.chain),
                        rule: Some(p.rule),
                    },
                });
            }
        }
    }
}

fn unreferenced_chain(f: &mut Found) {
    let notes = notes::shipped();
    for (ci, c) in f.t.chains.iter().enumerate() {
        if c.is_builtin() {
            continue;
        }
        if f.facts.refs[f.ti][ci] > 0 || notes.meant_unreferenced(&f.t.name, &c.name) {
            continue;
        }
        let note = notes.about(&f.t.name, &c.name);
        // an empty chain of one's own is just unused; a well-known one or one with
        // rules is a chain whose rules never run
        if c.rules.is_empty() && note.is_none() {
            continue;
        }
        let by = note
            .map(|n| format!(" ({} writes it to be jumped to)", n.by))
            .unwrap_or_default();
        let what = if c.rules.is_empty() {
            "rules added to it will never run".to_string()
        } else {
            match c.rules.len() {
                1 => "its rule never runs".to_string(),
                n => format!("its {n} rules never run"),
            }
        };
        let msg = format!(
            "nothing jumps to {}{by}: {what}; another tool may have rewritten the chains that should",
            c.name
        );
        f.push(UNREFERENCED_CHAIN, Severity::Warning, ci, None, msg);
    }
}

fn both_backends(out: &mut Vec<Finding>, snap: &Snapshot) {
    for (ti, t) in snap.tables.iter().enumerate() {
        if t.backend != Some(Backend::Legacy) {
            continue;
        }
        if snap
            .tables
            .iter()
            .any(|o| o.name == t.name && o.backend == Some(Backend::Nft))
        {
            out.push(Finding {
                id: BOTH_BACKENDS,
                severity: Severity::Warning,
                table: t.name.clone(),
                backend: t.backend,
                chain: None,
                rule: None,
                message: format!(
                    "table {} holds rules in both iptables-nft and iptables-legacy: the kernel runs both sets, and each tool shows only its own (stale rules of a tool built for the other back end?)",
                    t.name
                ),
                at: Place {
                    table: ti,
                    chain: None,
                    rule: None,
                },
            });
        }
    }
}

fn early_drop(f: &mut Found, td: Option<&TableDelta>, over: &dyn Fn(u64) -> String) {
    let Some(td) = td else { return };
    for (ci, c) in f.t.chains.iter().enumerate() {
        for (ri, r) in c.rules.iter().enumerate() {
            if !matches!(r.spec.target.as_str(), "DROP" | "REJECT") {
                continue;
            }
            if let Some(n) = moved(td.rule(ci, ri)) {
                let msg = format!(
                    "{} {} rule {} {} {} before the filter table sees them{}",
                    f.t.name,
                    c.name,
                    r.num,
                    if r.spec.target == "DROP" {
                        "dropped"
                    } else {
                        "rejected"
                    },
                    over(n),
                    if f.t.name == "raw" {
                        " (and before connection tracking)"
                    } else {
                        ""
                    }
                );
                f.push(EARLY_DROP, Severity::Info, ci, Some(ri), msg);
            }
        }
    }
}

fn kube_no_endpoints(f: &mut Found, td: Option<&TableDelta>, over: &dyn Fn(u64) -> String) {
    let Some(td) = td else { return };
    let facts = f.facts;
    for (_, x) in facts.of_table(f.ti) {
        if !matches!(x.r.spec.target.as_str(), "REJECT" | "DROP") {
            continue;
        }
        let comment = x.m.comment;
        let Some(svc) = comment.and_then(|c| c.strip_suffix(" has no endpoints")) else {
            continue;
        };
        if let Some(n) = moved(td.rule(x.chain, x.rule)) {
            let msg = format!(
                "Service {svc} has no ready endpoints: kube-proxy refused {} to it",
                over(n)
            );
            f.push(
                KUBE_NO_ENDPOINTS,
                Severity::Warning,
                x.chain,
                Some(x.rule),
                msg,
            );
        }
    }
}

#[path = "findings/native.rs"]
mod native;

#[cfg(test)]
#[path = "findings/tests.rs"]
mod tests;
