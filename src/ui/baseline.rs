//! The local baseline (`z`): deltas summed over every poll since the user pressed it,
//! kept per rule identity (chain name, rule key) so that the sums stay on their rules
//! while others come and go. iptables is never touched.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::diff::{Delta, Origin, TableDelta, match_rules};
use crate::model::{Chain, FirewallTable, IdMap, Snapshot, hash_str, mix};

/// Deltas summed since the user pressed `z`.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub since: SystemTime,
    pub at: Duration,
    /// (chain name hash, rule key) -> summed delta
    rules: IdMap<Delta>,
    /// (chain name hash, rule key) of rules whose sum is unknown: a poll could not tell
    /// them from their copies (rules with the same text).
    unknown: IdMap<()>,
    /// chain name hash -> summed policy delta
    policies: IdMap<Delta>,
}

impl Baseline {
    pub fn new(snap: &Snapshot) -> Baseline {
        Baseline {
            since: snap.taken_at,
            at: snap.at,
            rules: IdMap::default(),
            unknown: IdMap::default(),
            policies: IdMap::default(),
        }
    }

    /// Adds one poll's movement: `d` is the delta from `prev` to `cur`. A rule whose key
    /// another row of `cur` shares (`contested`: the live view finds them once per rule
    /// set) gets no sum: it would be both rules' movement.
    pub fn add(
        &mut self,
        prev: Option<&FirewallTable>,
        cur: &FirewallTable,
        d: &TableDelta,
        contested: &IdMap<()>,
    ) {
        for (ci, chain) in cur.chains.iter().enumerate() {
            // only what moved costs a hash of its chain's name and a lookup
            let mut ch = None;
            if let Some(p) = prev.and_then(|p| p.chain(&chain.name))
                && d.known(ci)
                && keys_moved(p, chain)
            {
                let h = *ch.get_or_insert_with(|| hash_str(&chain.name));
                self.follow(h, p, chain);
            }
            let deltas = d.rules_of(ci);
            for (ri, rule) in chain.rules.iter().enumerate() {
                // the rule's key: its chain's name hashed once one is needed
                let mut key = || mix(*ch.get_or_insert_with(|| hash_str(&chain.name)), rule.key);
                if (!contested.is_empty() && contested.contains_key(&key())) || d.is_unknown(ci, ri)
                {
                    let k = key();
                    self.rules.remove(&k);
                    self.unknown.insert(k, ());
                    continue;
                }
                let delta = match deltas.get(ri).copied().flatten() {
                    Some(d) => d,
                    None => {
                        // a rule that appeared since the last poll moved from zero; a sum
                        // under its key was another rule's (one gone since, or one whose
                        // text a crafted comment made hash alike), never this one's
                        let k = key();
                        self.rules.remove(&k);
                        self.unknown.remove(&k);
                        let c = chain.counter(ri);
                        Delta {
                            packets: c.packets,
                            bytes: c.bytes,
                            reset: false,
                        }
                    }
                };
                if delta.moved() || delta.reset {
                    self.rules.entry(key()).or_default().add(&delta);
                }
            }
            if let Some(p) = d.policy(ci).filter(|p| p.moved() || p.reset) {
                let ch = *ch.get_or_insert_with(|| hash_str(&chain.name));
                self.policies.entry(ch).or_default().add(p);
            }
        }
    }

    /// Moves the sums of a chain's rules from their keys in `prev` to their keys in
    /// `cur`, rule by rule as the diff paired them: a key counts copies of one text in
    /// order, so a copy inserted above another takes the other's old key.
    fn follow(&mut self, ch: u64, prev: &Chain, cur: &Chain) {
        let old: Vec<(Option<Delta>, bool)> = prev
            .rules
            .iter()
            .map(|r| {
                let k = mix(ch, r.key);
                (self.rules.remove(&k), self.unknown.remove(&k).is_some())
            })
            .collect();
        for (r, o) in cur.rules.iter().zip(match_rules(prev, cur)) {
            let k = mix(ch, r.key);
            match o {
                Origin::Was(i) => match old.get(i) {
                    Some((_, true)) => {
                        self.unknown.insert(k, ());
                    }
                    Some((Some(sum), false)) => {
                        self.rules.insert(k, *sum);
                    }
                    _ => {}
                },
                // counted from zero by the caller
                Origin::New => {}
                Origin::Unknown => {
                    self.unknown.insert(k, ());
                }
            }
        }
    }

    /// Adds one poll's movement to sums laid out like the same rules ([`Baseline::laid_out`]
    /// of the last poll): what [`Baseline::add`] does to the sums, without a lookup.
    pub fn patch(sums: &mut TableDelta, d: &TableDelta) {
        for ci in 0..d.chain_count() {
            for (sum, delta) in sums.rules_of_mut(ci).iter_mut().zip(d.rules_of(ci)) {
                if let (Some(sum), Some(delta)) = (sum, delta)
                    && (delta.moved() || delta.reset)
                {
                    sum.add(delta);
                }
            }
            if let (Some(sum), Some(p)) = (sums.policy_mut(ci), d.policy(ci))
                && (p.moved() || p.reset)
            {
                sum.add(p);
            }
        }
        sums.merge_unknown(d);
    }

    /// The sums laid out like `t`.
    pub fn laid_out(&self, t: &FirewallTable) -> TableDelta {
        let mut td = TableDelta::with_capacity(t.chains.len(), t.rule_count());
        for (ci, c) in t.chains.iter().enumerate() {
            let ch = hash_str(&c.name);
            td.push_chain(
                c.is_builtin()
                    .then(|| self.policies.get(&ch).copied().unwrap_or_default()),
                c.rules
                    .iter()
                    .map(|r| Some(self.rules.get(&mix(ch, r.key)).copied().unwrap_or_default())),
            );
            if !self.unknown.is_empty() {
                for (ri, r) in c.rules.iter().enumerate() {
                    if self.unknown.contains_key(&mix(ch, r.key)) {
                        td.mark_unknown(ci, ri);
                    }
                }
            }
        }
        td
    }
}

/// The chain's rules changed in a way that gives some rule another key than the rule it
/// was: copies of one text came or went.
fn keys_moved(prev: &Chain, cur: &Chain) -> bool {
    !Arc::ptr_eq(&prev.rules, &cur.rules)
        && prev
            .rules
            .iter()
            .chain(cur.rules.iter())
            .any(|r| r.occurrence > 0)
        && !(prev.rules.len() == cur.rules.len()
            && prev
                .rules
                .iter()
                .zip(cur.rules.iter())
                .all(|(a, b)| a.key == b.key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::diff_table;
    use crate::parse::parse_table;

    /// Chain INPUT with an ACCEPT rule of each of these packet counts and match texts.
    fn table(rules: &[(u64, &str)]) -> FirewallTable {
        let mut text = String::from(
            "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
    pkts      bytes target     prot opt in     out     source               destination
",
        );
        for (pkts, matches) in rules {
            text.push_str(&format!(
                "{pkts:>8} {:>10} ACCEPT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            {matches}\n",
                pkts * 60
            ));
        }
        parse_table("filter", &text, None).expect("parse")
    }

    fn snap(t: &FirewallTable) -> Snapshot {
        Snapshot {
            taken_at: SystemTime::UNIX_EPOCH,
            at: Duration::ZERO,
            took: Duration::ZERO,
            tables: vec![t.clone()],
            warnings: vec![],
            seq: 1,
        }
    }

    #[test]
    fn a_rule_new_under_an_old_key_starts_from_its_own_counters() {
        let (t0, t1) = (table(&[(100, "tcp dpt:22")]), table(&[(150, "tcp dpt:22")]));
        let snap = snap(&t0);
        let mut b = Baseline::new(&snap);
        b.add(Some(&t0), &t1, &diff_table(&t0, &t1), &IdMap::default());
        let sum = |b: &Baseline, t: &FirewallTable| b.laid_out(t).rule(0, 0).map(|d| d.packets);
        assert_eq!(sum(&b, &t1), Some(50));
        // the rule replaced by another text whose key is the old one's (a hash collision)
        let mut t2 = table(&[(3, "tcp dpt:23")]);
        let key = t1.chains[0].rules[0].key;
        Arc::make_mut(&mut Arc::make_mut(&mut t2.chains[0]).rules)[0].key = key;
        b.add(Some(&t1), &t2, &diff_table(&t1, &t2), &IdMap::default());
        assert_eq!(sum(&b, &t2), Some(3));
    }

    #[test]
    fn two_rules_whose_keys_are_alike_get_no_sum_rather_than_both_movements() {
        let two = |a: u64, b: u64| {
            let mut t = table(&[(a, "tcp dpt:22"), (b, "tcp dpt:23")]);
            // the second rule's text made to hash as the first's (a crafted comment)
            let rules = Arc::make_mut(&mut Arc::make_mut(&mut t.chains[0]).rules);
            rules[1].key = rules[0].key;
            t
        };
        let (t0, t1) = (two(100, 7), two(150, 7));
        let snap = snap(&t0);
        let mut contested = IdMap::default();
        contested.insert(mix(hash_str("INPUT"), t1.chains[0].rules[0].key), ());
        let mut b = Baseline::new(&snap);
        b.add(Some(&t0), &t1, &diff_table(&t0, &t1), &contested);
        let laid = b.laid_out(&t1);
        // the idle rule does not show the other's 50 packets, nor does that one its own:
        // the sums under one key cannot be told apart
        for r in 0..2 {
            assert!(laid.is_unknown(0, r), "rule {r}");
            assert_eq!(laid.rule(0, r), None, "rule {r}");
        }
        // without the check, both showed the moving rule's sum
        let mut naive = Baseline::new(&snap);
        naive.add(Some(&t0), &t1, &diff_table(&t0, &t1), &IdMap::default());
        let laid = naive.laid_out(&t1);
        assert_eq!(laid.rule(0, 1).map(|d| d.packets), Some(50));
    }
}
