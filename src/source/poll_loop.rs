//! The one poll → record → parse step under the poll schedule (`schedule.rs`):
//! [`PollLoop`] owns the source and the recorder, keeps the last good snapshot of each
//! table, and parses each listed table on its own (reusing the rules of its last good
//! snapshot whose text did not change). When to poll is the schedule's.

use std::collections::HashMap;
use std::sync::Arc;

use super::recording::Recorder;
use super::{PollError, RawPoll, Source, snapshot_reusing};
use crate::model::Snapshot;

/// A table's snapshot, or why this poll has none.
pub type TableResult = Result<Arc<Snapshot>, PollError>;

/// One poll, parsed.
#[derive(Debug)]
pub struct Polled {
    /// Per table, in the order asked for and then as listed: a one-table snapshot or why
    /// there is none.
    pub results: Vec<(String, TableResult)>,
    /// Counters are not comparable with the poll before (a replay looped, a new session).
    pub discontinuity: bool,
    /// The poll's monotonic time.
    pub at: std::time::Duration,
    /// Writing the recording failed: recording stopped, the poll is still here.
    pub record_error: Option<std::io::Error>,
}

impl Polled {
    /// The snapshot of these tables together, or the first table's reason it cannot be.
    pub fn snapshot_of(&self, tables: &[String]) -> Result<Snapshot, PollError> {
        let mut parts = Vec::with_capacity(tables.len());
        for t in tables {
            match self.results.iter().find(|(n, _)| n == t) {
                Some((_, Ok(s))) => parts.push(s.as_ref()),
                Some((_, Err(e))) => return Err(e.clone()),
                None => unreachable_table(t),
            }
        }
        Ok(Snapshot::combine(&parts))
    }
}

#[cold]
fn unreachable_table(t: &str) -> ! {
    // every asked table is parsed (or its absence reported) by `PollLoop::next`
    unreachable!("table {t} was asked for but not parsed")
}

pub struct PollLoop {
    source: Source,
    recorder: Option<Recorder>,
    /// Per table, the last good snapshot: the last poll's, or a paste's as read when it
    /// was opened ([`SEED`]).
    last_good: HashMap<String, Arc<Snapshot>>,
}

/// The sequence number of a paste's tables as read when it was opened: no poll's (polls
/// count from 1). A poll parsed against one is not told its rules are the last poll's.
const SEED: u64 = 0;

impl PollLoop {
    pub fn new(mut source: Source, recorder: Option<Recorder>) -> PollLoop {
        let last_good = source
            .take_seeds()
            .into_iter()
            .map(|(name, table)| {
                let seed = Snapshot {
                    taken_at: std::time::SystemTime::UNIX_EPOCH,
                    at: std::time::Duration::ZERO,
                    took: std::time::Duration::ZERO,
                    tables: vec![table],
                    warnings: Vec::new(),
                    seq: SEED,
                };
                (name, Arc::new(seed))
            })
            .collect();
        PollLoop {
            source,
            recorder,
            last_good,
        }
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn source_mut(&mut self) -> &mut Source {
        &mut self.source
    }

    pub fn is_recording(&self) -> bool {
        self.recorder.is_some()
    }

    /// The next poll from the source (None at a replay's end). A replay's polls that do
    /// not hold every table of `required` (a recording in which the user switched
    /// tables) are passed over; their discontinuity carries on to the poll returned.
    pub async fn next_raw(&mut self, required: &[String]) -> Option<RawPoll> {
        let mut discontinuity = false;
        let mut raw = loop {
            let raw = self.source.poll().await?;
            discontinuity |= raw.discontinuity;
            let has_all = required
                .iter()
                .all(|t| raw.listings.iter().any(|l| &l.table == t));
            if has_all || !self.source.is_replay() {
                break raw;
            }
        };
        raw.discontinuity = discontinuity;
        Some(raw)
    }

    /// Records `raw` and parses it: each table of `asked`, then every other listed table
    /// (recorded tables too: switching to one is instant). Parsing runs off the runtime's
    /// thread (10 MB of listing takes a while). A recording that cannot be written stops.
    pub async fn parse(&mut self, raw: RawPoll, asked: &[String]) -> Polled {
        let record_error = match &mut self.recorder {
            Some(rec) => rec.write_poll(&raw).err(),
            None => None,
        };
        if record_error.is_some() {
            self.recorder = None;
        }
        let mut tables: Vec<String> = asked.to_vec();
        for l in &raw.listings {
            if !tables.contains(&l.table) {
                tables.push(l.table.clone());
            }
        }
        let discontinuity = raw.discontinuity;
        let at = raw.at;
        let prev: Vec<Option<Arc<Snapshot>>> = tables
            .iter()
            .map(|t| self.last_good.get(t).cloned())
            .collect();
        let mut results = tokio::task::spawn_blocking(move || parse_each(&raw, &tables, &prev))
            .await
            .unwrap_or_default();
        for (t, r) in &mut results {
            let Ok(s) = r else { continue };
            // a seed was no poll: nothing the view kept is known to hold still
            if self.last_good.get(t).is_some_and(|p| p.seq == SEED)
                && let Some(s) = Arc::get_mut(s)
            {
                s.tables
                    .iter_mut()
                    .for_each(|x| x.same_rules_as_prev = false);
            }
            self.last_good.insert(t.clone(), s.clone());
        }
        Polled {
            results,
            discontinuity,
            at,
            record_error,
        }
    }
}

/// Each table of `tables` on its own, reusing the matching snapshot of `prev`.
pub fn parse_each(
    raw: &RawPoll,
    tables: &[String],
    prev: &[Option<Arc<Snapshot>>],
) -> Vec<(String, TableResult)> {
    tables
        .iter()
        .zip(prev)
        .map(|(t, p)| {
            let r = snapshot_reusing(raw, std::slice::from_ref(t), p.as_deref()).map(Arc::new);
            (t.clone(), r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::replay::ReplaySource;

    // a nat table's listing, read without -t: its table is known only from its chains
    const NAT: &str = include_str!("../../tests/fixtures/iptables/docker-swarm.nft.nat-vnxL.txt");

    /// A table as what it holds: each chain's name, policy counters and rules' keys and
    /// counters.
    fn held(t: &crate::model::FirewallTable) -> Vec<(String, u64, Vec<u64>, Vec<u64>)> {
        t.chains
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.packets,
                    c.rules.iter().map(|r| r.key).collect(),
                    c.counters.iter().map(|k| k.packets).collect(),
                )
            })
            .collect()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_paste_is_read_once_and_its_first_poll_is_not_a_still_one() {
        let src = ReplaySource::from_text("paste", NAT, None).expect("a listing");
        let mut polls = PollLoop::new(Source::Replay(Box::new(src)), None);
        // the paste as read to check it, under the table its chains tell
        let seed = polls.last_good.get("nat").cloned().expect("a seed");
        let raw = polls.next_raw(&[]).await.expect("a poll");
        let polled = polls.parse(raw, &["nat".to_string()]).await;
        let s = polled.results[0].1.as_ref().expect("parsed");
        let t = &s.tables[0];
        // every chain taken whole from the seed, none read again
        assert_eq!(t.chains.len(), seed.tables[0].chains.len());
        for (a, b) in t.chains.iter().zip(&seed.tables[0].chains) {
            assert!(Arc::ptr_eq(a, b), "{} read again", a.name);
        }
        let fresh = crate::parse::parse_table("nat", NAT, None).expect("parse");
        assert_eq!(held(t), held(&fresh));
        assert_eq!(t.name, "nat");
        assert_eq!(t.rule_count(), fresh.rule_count());
        assert!(t.rule_count() > 0 && t.chains.iter().any(|c| !c.is_builtin()));
        // the seed was no poll the view saw
        assert!(!t.same_rules_as_prev);
        assert!(Arc::ptr_eq(&polls.last_good["nat"], s));
    }
}
