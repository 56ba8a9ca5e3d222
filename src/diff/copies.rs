//! Copies of one rule: rules of a chain with the same text are told apart by their
//! counters, which only grow. A copy of the new poll can be an old copy only if its
//! packets and bytes are both at least the old one's, and copies keep their order (iptables
//! inserts and deletes; it never moves a rule). Where the counters leave more than one
//! pairing, or none, the copy's delta is unknown: a wrong delta would be worse.

use crate::model::Counter;

/// What a rule of the current poll was at the start of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The rule at this index of the previous poll's chain.
    Was(usize),
    /// It did not exist.
    New,
    /// One of several rules with the same text, and the counters do not say which old
    /// copy (if any) it is.
    Unknown,
}

/// Old copies whose places overlap one new copy's that are looked at before calling it
/// unknown (bounds the work on a chain of thousands of copies).
const SCAN: usize = 16;

fn fits(old: Counter, new: Counter) -> bool {
    new.packets >= old.packets && new.bytes >= old.bytes
}

/// Pairs the copies of one rule text: `prev` and `cur` are their counters in chain order.
/// As many copies as both polls have survive (as for a rule without copies, whose text
/// alone says it is the same rule); the pairing keeps their order and never lets a
/// counter go down. A copy is paired only when every such pairing pairs it alike.
/// Linear in the number of copies.
pub fn pair(prev: &[Counter], cur: &[Counter]) -> Vec<Origin> {
    let mut out = vec![Origin::Unknown; cur.len()];
    if prev.is_empty() {
        out.fill(Origin::New);
        return out;
    }
    if prev.len() <= cur.len() {
        // Every old copy is still there: where can each one sit among the new ones?
        let ok = |i: usize, j: usize| fits(prev[i], cur[j]);
        let (Some(lo), Some(hi)) = (
            first_embedding(prev.len(), cur.len(), ok),
            last_embedding(prev.len(), cur.len(), ok),
        ) else {
            return out;
        };
        // Old copy i can sit at new place j exactly when it fits there and j is between
        // its earliest and its latest place (those two are pairings themselves, and the
        // copies around it have room on either side).
        let (mut a, mut b) = (0, 0);
        for (j, o) in out.iter_mut().enumerate() {
            while b < lo.len() && lo[b] <= j {
                b += 1;
            }
            while a < b && hi[a] < j {
                a += 1;
            }
            *o = match b - a {
                0 => Origin::New,
                // one old copy whose only place this is
                1 if lo[a] == hi[a] => Origin::Was(a),
                // the places of many copies overlap: too many to look at
                n if n > SCAN => Origin::Unknown,
                _ if (a..b).any(|i| ok(i, j)) => Origin::Unknown,
                _ => Origin::New,
            };
        }
    } else {
        // Copies were deleted: which old copy is each one still there?
        let ok = |j: usize, i: usize| fits(prev[i], cur[j]);
        let (Some(lo), Some(hi)) = (
            first_embedding(cur.len(), prev.len(), ok),
            last_embedding(cur.len(), prev.len(), ok),
        ) else {
            return out;
        };
        for (j, (&a, &b)) in lo.iter().zip(&hi).enumerate() {
            // the earliest and the latest place are both pairings
            if a == b {
                out[j] = Origin::Was(a);
            }
        }
    }
    out
}

/// Places items `0..a` in order on distinct places `0..b`, item `i` only where
/// `ok(i, place)`, each as early as it can go; None if they do not all fit. (Greedy is
/// exact here: by induction each item's place is at most its place in any placement.)
fn first_embedding(a: usize, b: usize, ok: impl Fn(usize, usize) -> bool) -> Option<Vec<usize>> {
    let mut at = Vec::with_capacity(a);
    let mut j = 0;
    for i in 0..a {
        while j < b && !ok(i, j) {
            j += 1;
        }
        if j == b {
            return None;
        }
        at.push(j);
        j += 1;
    }
    Some(at)
}

/// The same, each item as late as it can go.
fn last_embedding(a: usize, b: usize, ok: impl Fn(usize, usize) -> bool) -> Option<Vec<usize>> {
    let mut at = vec![0; a];
    let mut j = b;
    for i in (0..a).rev() {
        loop {
            if j == 0 {
                return None;
            }
            j -= 1;
            if ok(i, j) {
                break;
            }
        }
        at[i] = j;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Origin::*;

    fn k(packets: u64) -> Counter {
        Counter {
            packets,
            bytes: packets * 100,
        }
    }

    fn ks(p: &[u64]) -> Vec<Counter> {
        p.iter().map(|&p| k(p)).collect()
    }

    #[test]
    fn a_copy_inserted_before_the_others() {
        // two copies with traffic; a third inserted at the top, then 5 more packets each
        assert_eq!(
            pair(&ks(&[100, 50]), &ks(&[3, 105, 55])),
            [New, Was(0), Was(1)]
        );
    }

    #[test]
    fn a_copy_inserted_after_the_others() {
        assert_eq!(
            pair(&ks(&[100, 50]), &ks(&[105, 55, 2])),
            [Was(0), Was(1), New]
        );
        // between them
        assert_eq!(
            pair(&ks(&[100, 50]), &ks(&[105, 0, 55])),
            [Was(0), New, Was(1)]
        );
    }

    #[test]
    fn a_copy_deleted() {
        // the first went: the one left can only be the second (it is below the first)
        assert_eq!(pair(&ks(&[100, 50]), &ks(&[52])), [Was(1)]);
        // the second went
        assert_eq!(pair(&ks(&[100, 50]), &ks(&[101])), [Unknown]);
        assert_eq!(pair(&ks(&[40, 50]), &ks(&[45])), [Was(0)]);
        // three to two: the middle one went
        assert_eq!(
            pair(&ks(&[300, 400, 100]), &ks(&[301, 101])),
            [Was(0), Was(2)]
        );
        // ... unless the first one left could also be the middle one
        assert_eq!(
            pair(&ks(&[300, 20, 100]), &ks(&[301, 101])),
            [Unknown, Unknown]
        );
    }

    #[test]
    fn a_copy_zeroed() {
        // `iptables -Z CHAIN 1`: no pairing lets every counter grow, so nothing is known
        assert_eq!(pair(&ks(&[100, 50]), &ks(&[3, 52])), [Unknown, Unknown]);
        // the whole chain zeroed
        assert_eq!(pair(&ks(&[100, 50]), &ks(&[1, 2])), [Unknown, Unknown]);
    }

    #[test]
    fn ambiguous_pairings_give_no_delta() {
        // equal counters and a copy inserted: any one of them may be the new one
        assert_eq!(
            pair(&ks(&[0, 0]), &ks(&[0, 0, 0])),
            [Unknown, Unknown, Unknown]
        );
        // the new copy caught up with the old one
        assert_eq!(pair(&ks(&[5]), &ks(&[7, 9])), [Unknown, Unknown]);
        // a copy below every old one is new, whichever the others are
        assert_eq!(pair(&ks(&[5]), &ks(&[7, 9, 0])), [Unknown, Unknown, New]);
        // but an old copy still above everything new is known, and so is what follows it
        assert_eq!(
            pair(&ks(&[10, 1000]), &ks(&[12, 11, 1005])),
            [Unknown, Unknown, Was(1)]
        );
    }

    #[test]
    fn packets_and_bytes_must_both_grow() {
        let prev = [
            Counter {
                packets: 10,
                bytes: 1000,
            },
            Counter {
                packets: 5,
                bytes: 5000,
            },
        ];
        let cur = [
            Counter {
                packets: 0,
                bytes: 0,
            },
            Counter {
                packets: 11,
                bytes: 1100,
            },
            Counter {
                packets: 6,
                bytes: 5050,
            },
        ];
        assert_eq!(pair(&prev, &cur), [New, Was(0), Was(1)]);
        // with bytes alone the second old copy could not be the third new one
        let cur = [
            cur[0],
            cur[1],
            Counter {
                packets: 6,
                bytes: 4000,
            },
        ];
        assert_eq!(pair(&prev, &cur), [Unknown, Unknown, Unknown]);
    }

    /// Every order-keeping pairing of min(m, n) copies whose counters grow, by brute force.
    fn all_pairings(prev: &[Counter], cur: &[Counter]) -> Vec<Vec<Option<usize>>> {
        fn go(
            prev: &[Counter],
            cur: &[Counter],
            i: usize,
            j: usize,
            left: usize,
            acc: &mut Vec<Option<usize>>,
            out: &mut Vec<Vec<Option<usize>>>,
        ) {
            if left == 0 {
                let mut v = acc.clone();
                v.resize(cur.len(), None);
                out.push(v);
                return;
            }
            if i >= prev.len() || j >= cur.len() {
                return;
            }
            // pair old i with new j
            if fits(prev[i], cur[j]) {
                acc.push(Some(i));
                go(prev, cur, i + 1, j + 1, left - 1, acc, out);
                acc.pop();
            }
            // new j is none of them (only while enough new ones are left)
            acc.push(None);
            go(prev, cur, i, j + 1, left, acc, out);
            acc.pop();
            // old i went
            if prev.len() - i > left {
                go(prev, cur, i + 1, j, left, acc, out);
            }
        }
        let mut out = Vec::new();
        let left = prev.len().min(cur.len());
        go(prev, cur, 0, 0, left, &mut Vec::new(), &mut out);
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn agrees_with_every_pairing_by_brute_force() {
        let mut rng = crate::synth::Rng::new(7);
        for case in 0..20_000 {
            let m = rng.below(5) as usize;
            let n = rng.below(5) as usize;
            let prev: Vec<Counter> = (0..m).map(|_| k(u64::from(rng.below(6)))).collect();
            let cur: Vec<Counter> = (0..n).map(|_| k(u64::from(rng.below(8)))).collect();
            let all = all_pairings(&prev, &cur);
            let got = pair(&prev, &cur);
            for (j, g) in got.iter().enumerate() {
                let partners: Vec<Option<usize>> = all.iter().map(|p| p[j]).collect();
                let same = partners.windows(2).all(|w| w[0] == w[1]);
                match g {
                    Was(i) => assert!(
                        !all.is_empty() && partners.iter().all(|p| *p == Some(*i)),
                        "case {case}: {prev:?} -> {cur:?}: copy {j} is old {i} in every pairing"
                    ),
                    New => assert!(
                        !all.is_empty() && partners.iter().all(std::option::Option::is_none),
                        "case {case}: {prev:?} -> {cur:?}: copy {j} is new in every pairing"
                    ),
                    Unknown => assert!(
                        all.is_empty() || !same,
                        "case {case}: {prev:?} -> {cur:?}: copy {j} has one pairing {:?}",
                        partners.first()
                    ),
                }
            }
        }
    }
}
