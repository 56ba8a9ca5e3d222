//! Who jumps where: the jump rules of a table grouped by the chain they jump to, built
//! once (linear in the rules) and shared by everything that needs a chain's callers.

use super::FirewallTable;

/// The rules that jump (or go) to each chain, grouped by target: what entered a chain,
/// how many paths share it, and a way up from any chain, each without scanning the table.
#[derive(Debug, Default)]
pub struct Callers {
    /// Chain `c`'s callers are `calls[starts[c]..starts[c + 1]]`.
    starts: Vec<u32>,
    /// (chain, rule index), in listing order.
    calls: Vec<(u32, u32)>,
    /// Chain `c`'s jumps are `jumps[from[c]..from[c + 1]]`...
    from: Vec<u32>,
    /// ...as (rule index, target), in rule order: a walk along the jumps reads these
    /// few bytes rather than every rule of every chain.
    jumps: Vec<(u32, u32)>,
}

impl Callers {
    pub(super) fn of_table(t: &FirewallTable) -> Callers {
        let n = t.chains.len();
        let mut counts = vec![0u32; n + 1];
        let mut from = Vec::with_capacity(n + 1);
        let mut jumps = Vec::new();
        for c in &t.chains {
            from.push(jumps.len() as u32);
            for (ri, r) in c.rules.iter().enumerate() {
                if let Some(j) = r.jump.filter(|&j| (j as usize) < n) {
                    counts[j as usize + 1] += 1;
                    jumps.push((ri as u32, j));
                }
            }
        }
        from.push(jumps.len() as u32);
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let mut next = counts.clone();
        let mut calls = vec![(0, 0); counts[n] as usize];
        for ci in 0..n {
            for &(ri, j) in &jumps[from[ci] as usize..from[ci + 1] as usize] {
                calls[next[j as usize] as usize] = (ci as u32, ri);
                next[j as usize] += 1;
            }
        }
        Callers {
            starts: counts,
            calls,
            from,
            jumps,
        }
    }

    /// The rules of chain `chain` that jump (or go) to a chain, as (rule index, target),
    /// in rule order.
    pub fn jumps_from(&self, chain: usize) -> &[(u32, u32)] {
        match (self.from.get(chain), self.from.get(chain + 1)) {
            (Some(&a), Some(&b)) => &self.jumps[a as usize..b as usize],
            _ => &[],
        }
    }

    /// The rules that jump to chain `chain`, as (chain, rule index).
    pub fn of(&self, chain: usize) -> &[(u32, u32)] {
        match (self.starts.get(chain), self.starts.get(chain + 1)) {
            (Some(&a), Some(&b)) => &self.calls[a as usize..b as usize],
            _ => &[],
        }
    }
}
