//! Deltas between two snapshots. Rules are matched by their chain and text, never by
//! number, so inserting a rule at the top of a chain keeps every delta on its rule; copies
//! of one text are paired by their counters ([`copies`]). A counter that went down was
//! reset (`iptables -Z`, or the rule was replaced): the delta then counts from zero and is
//! flagged, never negative or wrapped.

pub mod copies;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use copies::Origin;

use crate::model::{Chain, Counter, FirewallTable, RuleSpec, Snapshot};

/// Movement of one counter pair over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delta {
    pub packets: u64,
    pub bytes: u64,
    /// The counters went down during the window; `packets`/`bytes` count from zero.
    pub reset: bool,
}

impl Delta {
    /// The delta from `prev` to `cur` (packets, bytes).
    pub fn between(prev: (u64, u64), cur: (u64, u64)) -> Delta {
        if cur.0 < prev.0 || cur.1 < prev.1 {
            Delta {
                packets: cur.0,
                bytes: cur.1,
                reset: true,
            }
        } else {
            Delta {
                packets: cur.0 - prev.0,
                bytes: cur.1 - prev.1,
                reset: false,
            }
        }
    }

    pub fn moved(&self) -> bool {
        self.packets > 0 || self.bytes > 0
    }

    /// Adds a later window's delta (saturating: a sum of real counters never overflows,
    /// but hostile input must not panic).
    pub fn add(&mut self, other: &Delta) {
        self.packets = self.packets.saturating_add(other.packets);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.reset |= other.reset;
    }
}

/// Deltas of one table, laid out like its chains and rules in the current snapshot, in
/// three flat vectors (a 50k-rule table has 18k chains: one allocation, not 18k).
#[derive(Debug, Clone, Default)]
pub struct TableDelta {
    /// Per chain: where its rules' deltas start in `rules`, or None for a new chain.
    chains: Vec<Option<u32>>,
    /// Per chain: the policy counters' delta (built-in chains).
    policies: Vec<Option<Delta>>,
    /// Per rule of every known chain: None for a rule that did not exist before, or whose
    /// delta is unknown.
    rules: Vec<Option<Delta>>,
    /// Positions in `rules` (ascending) whose delta is unknown rather than new: copies of
    /// one rule text that their counters do not tell apart.
    unknown: Vec<u32>,
    /// What fell through each chain over the window (see `flow`), computed when
    /// first asked for; forgotten by every method that changes a delta.
    fell: OnceLock<Arc<Vec<crate::model::Fell>>>,
}

/// Deltas are equal when they say the same; the cache follows from them.
impl PartialEq for TableDelta {
    fn eq(&self, o: &TableDelta) -> bool {
        self.chains == o.chains
            && self.policies == o.policies
            && self.rules == o.rules
            && self.unknown == o.unknown
    }
}

impl Eq for TableDelta {}

impl TableDelta {
    pub fn with_capacity(chains: usize, rules: usize) -> Self {
        TableDelta {
            chains: Vec::with_capacity(chains),
            policies: Vec::with_capacity(chains),
            rules: Vec::with_capacity(rules),
            unknown: Vec::new(),
            fell: OnceLock::new(),
        }
    }

    /// The cache of what fell through each chain over the window (filled by `flow`).
    pub fn fell_cache(&self) -> &OnceLock<Arc<Vec<crate::model::Fell>>> {
        &self.fell
    }

    /// Appends the next chain: its policy delta and its rules' deltas.
    pub fn push_chain(
        &mut self,
        policy: Option<Delta>,
        rules: impl IntoIterator<Item = Option<Delta>>,
    ) {
        self.fell = OnceLock::new();
        self.chains.push(Some(self.rules.len() as u32));
        self.policies.push(policy);
        self.rules.extend(rules);
    }

    /// Appends a chain that did not exist before.
    pub fn push_new_chain(&mut self) {
        self.fell = OnceLock::new();
        self.chains.push(None);
        self.policies.push(None);
    }

    /// Number of chains (of the table the deltas are laid out like).
    pub fn chain_count(&self) -> usize {
        self.chains.len()
    }

    /// Laid out alike: the same chains with the same number of rules each.
    pub fn same_shape(&self, o: &TableDelta) -> bool {
        self.chains == o.chains && self.rules.len() == o.rules.len()
    }

    /// Whether chain `chain` existed at the start of the window.
    pub fn known(&self, chain: usize) -> bool {
        matches!(self.chains.get(chain), Some(Some(_)))
    }

    /// Where the deltas of chain `chain`'s rules are in `rules`.
    fn rule_range(&self, chain: usize) -> std::ops::Range<usize> {
        let Some(Some(start)) = self.chains.get(chain) else {
            return 0..0;
        };
        let end = self.chains[chain + 1..]
            .iter()
            .flatten()
            .next()
            .map_or(self.rules.len(), |&e| e as usize);
        *start as usize..end
    }

    /// The deltas of the rules of chain `chain`.
    pub fn rules_of(&self, chain: usize) -> &[Option<Delta>] {
        &self.rules[self.rule_range(chain)]
    }

    /// The deltas of the rules of chain `chain`, to change in place.
    pub fn rules_of_mut(&mut self, chain: usize) -> &mut [Option<Delta>] {
        self.fell = OnceLock::new();
        let range = self.rule_range(chain);
        &mut self.rules[range]
    }

    /// Rule `rule` of chain `chain` has no delta because it cannot be told apart from its
    /// copies (not because it is new).
    pub fn is_unknown(&self, chain: usize, rule: usize) -> bool {
        if self.unknown.is_empty() {
            return false;
        }
        let range = self.rule_range(chain);
        rule < range.len()
            && self
                .unknown
                .binary_search(&((range.start + rule) as u32))
                .is_ok()
    }

    /// Makes the delta of rule `rule` of chain `chain` unknown.
    pub fn mark_unknown(&mut self, chain: usize, rule: usize) {
        self.fell = OnceLock::new();
        let range = self.rule_range(chain);
        if rule >= range.len() {
            return;
        }
        let at = (range.start + rule) as u32;
        self.rules[at as usize] = None;
        if let Err(k) = self.unknown.binary_search(&at) {
            self.unknown.insert(k, at);
        }
    }

    /// Makes unknown every delta that is unknown in `o`, which is laid out alike
    /// ([`TableDelta::same_shape`]).
    pub fn merge_unknown(&mut self, o: &TableDelta) {
        self.fell = OnceLock::new();
        if o.unknown.is_empty() {
            return;
        }
        for &at in &o.unknown {
            if let Some(r) = self.rules.get_mut(at as usize) {
                *r = None;
                if let Err(k) = self.unknown.binary_search(&at) {
                    self.unknown.insert(k, at);
                }
            }
        }
    }

    pub fn policy_mut(&mut self, chain: usize) -> Option<&mut Delta> {
        self.fell = OnceLock::new();
        self.policies.get_mut(chain)?.as_mut()
    }

    /// Nothing moved in the window and nothing came: every chain known, every delta
    /// there and zero. What fell through such a window follows from the rules alone.
    pub fn is_still(&self) -> bool {
        let zero = |d: &Option<Delta>| d.is_none_or(|d| d == Delta::default());
        self.unknown.is_empty()
            && self.chains.iter().all(Option::is_some)
            && self.policies.iter().all(zero)
            && self.rules.iter().all(|d| d.is_some() && zero(d))
    }

    pub fn rule(&self, chain: usize, rule: usize) -> Option<&Delta> {
        self.rules_of(chain).get(rule)?.as_ref()
    }

    pub fn policy(&self, chain: usize) -> Option<&Delta> {
        self.policies.get(chain)?.as_ref()
    }
}

/// Deltas between two snapshots, parallel to the current snapshot's tables.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Deltas {
    pub elapsed: Duration,
    pub tables: Vec<Option<TableDelta>>,
}

impl Deltas {
    pub fn table(&self, i: usize) -> Option<&TableDelta> {
        self.tables.get(i)?.as_ref()
    }

    /// Packets and bytes per second for a delta over this window.
    pub fn rate(&self, d: &Delta) -> (f64, f64) {
        let secs = self.elapsed.as_secs_f64();
        if secs <= 0.0 {
            return (0.0, 0.0);
        }
        (d.packets as f64 / secs, d.bytes as f64 / secs)
    }
}

/// For each rule of `cur`, what it was in `prev`.
pub fn match_rules(prev: &Chain, cur: &Chain) -> Vec<Origin> {
    // Common case: nothing changed in this chain (the very same rules, or equal keys of
    // equal texts: a key is a hash, which a crafted comment could make collide)
    let same = Arc::ptr_eq(&prev.rules, &cur.rules)
        || (prev.rules.len() == cur.rules.len()
            && prev.rules.iter().zip(cur.rules.iter()).all(|(a, b)| {
                a.key == b.key && (Arc::ptr_eq(&a.spec, &b.spec) || a.spec == b.spec)
            }));
    // ... unless a copy of a rule went down: then another copy may have taken its place
    if same && !(has_copies(cur) && copy_went_down(prev, cur)) {
        return (0..cur.rules.len()).map(Origin::Was).collect();
    }
    // The rules of each text, in chain order, in both polls.
    let mut texts: HashMap<&RuleSpec, (Vec<usize>, Vec<usize>)> =
        HashMap::with_capacity(cur.rules.len());
    for (i, r) in prev.rules.iter().enumerate() {
        texts.entry(&*r.spec).or_default().0.push(i);
    }
    for (j, r) in cur.rules.iter().enumerate() {
        texts.entry(&*r.spec).or_default().1.push(j);
    }
    let mut out = vec![Origin::New; cur.rules.len()];
    for (olds, news) in texts.values() {
        match (olds.as_slice(), news.as_slice()) {
            (_, []) | ([], _) => {}
            // one rule with this text, before and after: the same rule, whatever its
            // counters did (a reset shows as one)
            ([i], [j]) => out[*j] = Origin::Was(*i),
            _ => {
                let counters = |c: &Chain, ix: &[usize]| -> Vec<Counter> {
                    ix.iter().map(|&i| c.counter(i)).collect()
                };
                let pairs = copies::pair(&counters(prev, olds), &counters(cur, news));
                for (&j, o) in news.iter().zip(pairs) {
                    out[j] = match o {
                        Origin::Was(k) => Origin::Was(olds[k]),
                        o => o,
                    };
                }
            }
        }
    }
    out
}

/// Some rule of the chain has the same text as an earlier one.
fn has_copies(c: &Chain) -> bool {
    c.rules.iter().any(|r| r.occurrence > 0)
}

/// Some rule with copies has lower counters than the rule at its place in `prev` (the
/// chains have the same rules in the same order).
fn copy_went_down(prev: &Chain, cur: &Chain) -> bool {
    let copied: std::collections::HashSet<&RuleSpec> = cur
        .rules
        .iter()
        .filter(|r| r.occurrence > 0)
        .map(|r| &*r.spec)
        .collect();
    cur.rules.iter().enumerate().any(|(i, r)| {
        let (a, b) = (prev.counter(i), cur.counter(i));
        (b.packets < a.packets || b.bytes < a.bytes) && copied.contains(&*r.spec)
    })
}

/// Appends chain `c`'s deltas against `p`, rule by rule as `match_rules` pairs them.
fn push_matched(td: &mut TableDelta, policy: Option<Delta>, p: &Chain, c: &Chain) {
    let m = match_rules(p, c);
    td.push_chain(
        policy,
        m.iter().zip(&c.counters).map(|(m, b)| match m {
            Origin::Was(i) => {
                let a = p.counter(*i);
                Some(Delta::between((a.packets, a.bytes), (b.packets, b.bytes)))
            }
            Origin::New | Origin::Unknown => None,
        }),
    );
    let ci = td.chain_count() - 1;
    for (ri, m) in m.iter().enumerate() {
        if *m == Origin::Unknown {
            td.mark_unknown(ci, ri);
        }
    }
}

pub fn diff_table(prev: &FirewallTable, cur: &FirewallTable) -> TableDelta {
    let mut td = TableDelta::with_capacity(cur.chains.len(), cur.rule_count());
    for (i, c) in cur.chains.iter().enumerate() {
        // chains rarely move: try the same position before the index (the very same
        // chain there, as after an idle poll, needs no name compared)
        let p = match prev.chains.get(i) {
            Some(p) if Arc::ptr_eq(p, c) || p.name == c.name => p,
            _ => match prev.chain_index(&c.name) {
                Some(j) => &prev.chains[j],
                None => {
                    td.push_new_chain();
                    continue;
                }
            },
        };
        if Arc::ptr_eq(p, c) {
            // the very same chain (its listing did not change): nothing moved
            let policy = c.is_builtin().then_some(Delta::default());
            td.push_chain(
                policy,
                std::iter::repeat_n(Some(Delta::default()), c.counters.len()),
            );
            continue;
        }
        let policy = (c.is_builtin() && p.is_builtin())
            .then(|| Delta::between((p.packets, p.bytes), (c.packets, c.bytes)));
        if Arc::ptr_eq(&p.rules, &c.rules) && p.counters.len() == c.counters.len() {
            // the same rules: counters side by side
            let mark = td.rules.len();
            td.push_chain(
                policy,
                p.counters
                    .iter()
                    .zip(&c.counters)
                    .map(|(a, b)| Some(Delta::between((a.packets, a.bytes), (b.packets, b.bytes)))),
            );
            // a copy that went down may be another copy: pair them by their counters
            if td.rules[mark..].iter().flatten().any(|d| d.reset) && has_copies(c) {
                td.chains.pop();
                td.policies.pop();
                td.rules.truncate(mark);
                push_matched(&mut td, policy, p, c);
            }
        } else {
            push_matched(&mut td, policy, p, c);
        }
    }
    td
}

/// Deltas from `prev` to `cur`; the window is the time between the two polls.
pub fn diff(prev: &Snapshot, cur: &Snapshot) -> Deltas {
    Deltas {
        elapsed: cur.at.saturating_sub(prev.at),
        tables: cur
            .tables
            .iter()
            .map(|t| prev.same_table(t).map(|p| diff_table(p, t)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_table;
    use std::time::SystemTime;

    fn snap(at_ms: u64, text: &str) -> Snapshot {
        Snapshot {
            taken_at: SystemTime::UNIX_EPOCH,
            at: Duration::from_millis(at_ms),
            took: Duration::ZERO,
            tables: vec![parse_table("filter", text, None).expect("parse")],
            warnings: vec![],
            seq: 1,
        }
    }

    const BEFORE: &str = "Chain INPUT (policy ACCEPT 10 packets, 1000 bytes)
    pkts      bytes target     prot opt in     out     source               destination
     100     6000 ACCEPT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:22
      50     3000 ACCEPT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:80
       5      300 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0
       7      700 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0
";

    #[test]
    fn equal_keys_of_other_texts_are_not_the_same_rules() {
        let prev = snap(0, BEFORE);
        let mut cur = snap(1000, BEFORE);
        let c = Arc::make_mut(&mut cur.tables[0].chains[0]);
        // the first rule's text changed, its key made to collide with the old one's
        let r = &mut Arc::make_mut(&mut c.rules)[0];
        Arc::make_mut(&mut r.spec).extra = "tcp dpt:23".into();
        let origins = match_rules(&prev.tables[0].chains[0], &cur.tables[0].chains[0]);
        assert_eq!(origins[0], Origin::New);
        assert_eq!(
            origins[1..],
            [Origin::Was(1), Origin::Was(2), Origin::Was(3)]
        );
    }

    #[test]
    fn insert_at_top_keeps_deltas_on_their_rules() {
        let after = "Chain INPUT (policy ACCEPT 12 packets, 1200 bytes)
    pkts      bytes target     prot opt in     out     source               destination
       3      180 ACCEPT     17   --  *      *       0.0.0.0/0            0.0.0.0/0            udp dpt:53
     110     6600 ACCEPT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:22
      50     3000 ACCEPT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:80
       6      360 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0
       9      900 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0
";
        let d = diff(&snap(0, BEFORE), &snap(2000, after));
        assert_eq!(d.elapsed, Duration::from_secs(2));
        let t = d.table(0).expect("table");
        assert_eq!(t.rule(0, 0), None, "the inserted rule is new");
        assert_eq!(
            t.rule(0, 1),
            Some(&Delta {
                packets: 10,
                bytes: 600,
                reset: false
            })
        );
        assert_eq!(
            t.rule(0, 2),
            Some(&Delta {
                packets: 0,
                bytes: 0,
                reset: false
            })
        );
        // two identical DROP rules are told apart by their order
        assert_eq!(
            t.rule(0, 3),
            Some(&Delta {
                packets: 1,
                bytes: 60,
                reset: false
            })
        );
        assert_eq!(
            t.rule(0, 4),
            Some(&Delta {
                packets: 2,
                bytes: 200,
                reset: false
            })
        );
        assert_eq!(
            t.policy(0),
            Some(&Delta {
                packets: 2,
                bytes: 200,
                reset: false
            })
        );
        assert_eq!(d.rate(t.rule(0, 1).expect("rule")), (5.0, 300.0));
    }

    #[test]
    fn reset_counts_from_zero_and_delete_drops_the_rule() {
        let after = "Chain INPUT (policy ACCEPT 10 packets, 1000 bytes)
    pkts      bytes target     prot opt in     out     source               destination
       4      240 ACCEPT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:22
       5      300 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0
       7      700 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0
";
        let d = diff(&snap(0, BEFORE), &snap(1000, after));
        let t = d.table(0).expect("table");
        assert_eq!(
            t.rule(0, 0),
            Some(&Delta {
                packets: 4,
                bytes: 240,
                reset: true
            })
        );
        assert_eq!(
            t.rule(0, 1),
            Some(&Delta {
                packets: 0,
                bytes: 0,
                reset: false
            })
        );
        assert_eq!(
            t.rule(0, 2),
            Some(&Delta {
                packets: 0,
                bytes: 0,
                reset: false
            })
        );
    }

    #[test]
    fn between_never_wraps() {
        let d = Delta::between((u64::MAX, u64::MAX), (0, 1));
        assert_eq!(
            d,
            Delta {
                packets: 0,
                bytes: 1,
                reset: true
            }
        );
        let d = Delta::between((5, 100), (6, 99));
        assert!(
            d.reset,
            "bytes went down: a reset even though packets went up"
        );
        let mut a = Delta {
            packets: u64::MAX,
            bytes: 1,
            reset: false,
        };
        a.add(&Delta {
            packets: 1,
            bytes: 1,
            reset: false,
        });
        assert_eq!(a.packets, u64::MAX);
    }

    #[test]
    fn new_chain_and_missing_table() {
        let a = snap(0, BEFORE);
        let mut b = snap(1000, BEFORE);
        b.tables[0].name = "nat".into();
        let d = diff(&a, &b);
        assert!(d.table(0).is_none());
    }

    /// A FORWARD chain of `(packets, match)` rules, each ACCEPT with 100 bytes a packet.
    fn forward(rules: &[(u64, &str)]) -> String {
        let mut s = String::from(
            "Chain FORWARD (policy DROP 0 packets, 0 bytes)\n    pkts      bytes target     prot opt in     out     source               destination\n",
        );
        for (p, m) in rules {
            s.push_str(&format!(
                "{p:>8} {:>10} ACCEPT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            {m}\n",
                p * 100
            ));
        }
        s
    }

    fn deltas(before: &[(u64, &str)], after: &[(u64, &str)]) -> (TableDelta, Vec<Option<Delta>>) {
        let d = diff(&snap(0, &forward(before)), &snap(1000, &forward(after)));
        let t = d.table(0).expect("table").clone();
        let v = t.rules_of(0).to_vec();
        (t, v)
    }

    fn moved(p: u64) -> Option<Delta> {
        Some(Delta {
            packets: p,
            bytes: p * 100,
            reset: false,
        })
    }

    const DPT: &str = "tcp dpt:80";

    #[test]
    fn a_copy_inserted_before_its_twin_leaves_both_old_deltas_alone() {
        // the report: the untouched original was shown as new with its whole counter
        let (t, d) = deltas(
            &[(9000, DPT), (4000, DPT), (7, "tcp dpt:22")],
            &[(3, DPT), (9005, DPT), (4005, DPT), (7, "tcp dpt:22")],
        );
        assert_eq!(d, [None, moved(5), moved(5), moved(0)]);
        assert!(!t.is_unknown(0, 0), "the inserted copy is new");
    }

    #[test]
    fn a_copy_inserted_after_or_deleted() {
        let (_, d) = deltas(
            &[(9000, DPT), (4000, DPT)],
            &[(9001, DPT), (4001, DPT), (0, DPT)],
        );
        assert_eq!(d, [moved(1), moved(1), None]);
        // the first copy deleted: the one left is the second, below the first's counter
        let (t, d) = deltas(&[(9000, DPT), (4000, DPT)], &[(4002, DPT)]);
        assert_eq!(d, [moved(2)]);
        assert!(!t.is_unknown(0, 0));
        // the second deleted
        let (_, d) = deltas(&[(9000, DPT), (9500, DPT)], &[(9001, DPT)]);
        assert_eq!(d, [moved(1)]);
    }

    #[test]
    fn ambiguous_copies_have_an_unknown_delta_never_a_wrong_one() {
        // a copy inserted when both have the same counters: which one is new?
        let (t, d) = deltas(&[(50, DPT), (50, DPT)], &[(50, DPT), (50, DPT), (50, DPT)]);
        assert_eq!(d, [None, None, None]);
        assert!((0..3).all(|r| t.is_unknown(0, r)));
        // the first deleted while the second caught up with it
        let (t, d) = deltas(&[(50, DPT), (40, DPT)], &[(60, DPT)]);
        assert_eq!(d, [None]);
        assert!(t.is_unknown(0, 0));
    }

    #[test]
    fn zeroing_one_copy_makes_its_copies_unknown() {
        // the same rules (the parse shares them), one copy zeroed: no pairing lets every
        // counter grow, so neither copy gets a delta (it could be the other one)
        let prev = snap(0, &forward(&[(9000, DPT), (4000, DPT), (7, "tcp dpt:22")]));
        let mut cur = prev.clone();
        cur.at = Duration::from_secs(1);
        let c = cur.tables[0].chain_mut(0);
        c.counters[0] = Counter {
            packets: 1,
            bytes: 100,
        };
        c.counters[1].packets += 2;
        c.counters[1].bytes += 200;
        c.counters[2].packets = 0;
        c.counters[2].bytes = 0;
        assert!(Arc::ptr_eq(
            &prev.tables[0].chains[0].rules,
            &cur.tables[0].chains[0].rules
        ));
        let d = diff(&prev, &cur);
        let t = d.table(0).expect("table");
        assert_eq!(t.rule(0, 0), None);
        assert_eq!(t.rule(0, 1), None);
        assert!(t.is_unknown(0, 0) && t.is_unknown(0, 1));
        // a rule without copies that went down is a reset, as before
        assert_eq!(
            t.rule(0, 2),
            Some(&Delta {
                packets: 0,
                bytes: 0,
                reset: true
            })
        );
        // zeroed copies that still pair up in order are fine
        let (_, d) = deltas(&[(0, DPT), (0, DPT)], &[(1, DPT), (2, DPT)]);
        assert_eq!(d, [moved(1), moved(2)]);
    }
}
