//! A big iptables-legacy table's counters read less often than the live view polls.
//!
//! x_tables hands out counters only with the whole table: `GET_ENTRIES` copies every
//! entry, and at 50 000 rules that one copy costs about a third of an `iptables -L`.
//! Read every second, it alone makes the live view cost what listing a third of the
//! table would. So the live view (and only it: `--once`, `--stream` and `--listen` read
//! every poll) gives a legacy table's reads a share of the interval, [`SHARE`]: a table
//! whose read takes longer is read every [`every`] polls, and on each poll in between
//! `IPT_SO_GET_INFO` (no entry copied) checks that its rules stand still; if they
//! moved, the table is read at once. A poll that reads nothing hands on the last read's
//! counters with [`crate::model::Spared::held`] set, so that nothing downstream takes
//! them for a poll in which nothing moved; the live view keeps its deltas and rates,
//! measured between the two reads, and says in its header how often the counters are
//! read.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::quick::TableInfo;
use super::reader::Counters;

/// A legacy table's reads may take this share of the interval on average (1/20: 50 ms
/// a second).
pub const SHARE: u32 = 20;

/// Counters are read at least every this many polls, whatever a read costs.
pub const MOST: u32 = 10;

/// How often (every how many polls) a table whose read takes `took` is read at
/// `interval`: as often as its reads stay within 1/`share` of the interval ([`SHARE`]
/// in the live view), every poll for most tables.
pub fn every(took: Duration, interval: Duration, share: u32) -> u32 {
    let budget = interval / share.max(1);
    if budget.is_zero() {
        return MOST;
    }
    let n = took.as_nanos().div_ceil(budget.as_nanos());
    u32::try_from(n).unwrap_or(MOST).clamp(1, MOST)
}

/// The last read of one legacy table.
struct Last {
    /// What `GET_INFO` said just before the read: a poll that reads nothing checks
    /// the table against it.
    info: TableInfo,
    counters: Arc<Counters>,
    /// The rule set the read belongs to (the listing's stamp).
    stamp: u64,
    /// How long the read took.
    took: Duration,
    /// Polls since the read.
    since: u32,
    /// When it was read: a table not polled for a while (the view was on another
    /// table, or paused) is read on its next poll, not held.
    at: Instant,
}

/// The reads of the legacy tables of one kernel source, and the interval they share.
#[derive(Default)]
pub struct Spare {
    interval: Duration,
    /// A table's reads may take 1/`share` of the interval.
    share: u32,
    last: HashMap<String, Last>,
    /// Per table, what a read costs: the reads' times, each new one weighing a quarter
    /// (a read slowed by a busy moment hardly changes how often the table is read).
    cost: HashMap<String, Duration>,
}

impl Spare {
    /// `share`: a table's reads may take 1/`share` of `interval` ([`SHARE`]).
    pub fn new(interval: Duration, share: u32) -> Spare {
        Spare {
            interval,
            share,
            last: HashMap::new(),
            cost: HashMap::new(),
        }
    }

    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = interval;
    }

    /// This poll may skip reading `table` (whose listing has the stamp `stamp`) if
    /// `GET_INFO` still says what it said at its last read: that answer.
    pub fn may_hold(&self, table: &str, stamp: Option<u64>) -> Option<TableInfo> {
        let last = self.last.get(table)?;
        let n = every(last.took, self.interval, self.share);
        (Some(last.stamp) == stamp && last.since + 1 < n && last.at.elapsed() < self.interval * n)
            .then_some(last.info)
    }

    /// This poll read nothing of `table`: the last read's counters, and how the table
    /// is read.
    pub fn held(&mut self, table: &str) -> Option<(Arc<Counters>, crate::model::Spared)> {
        let (interval, share) = (self.interval, self.share);
        let last = self.last.get_mut(table)?;
        last.since += 1;
        let spared = crate::model::Spared {
            every: every(last.took, interval, share),
            took: last.took,
            held: true,
        };
        Some((last.counters.clone(), spared))
    }

    /// `table` was read in `took` (`info`: `GET_INFO` just before, when it answered):
    /// how it is read from now on (None: every poll).
    pub fn read(
        &mut self,
        table: &str,
        info: Option<TableInfo>,
        counters: &Arc<Counters>,
        stamp: u64,
        took: Duration,
    ) -> Option<crate::model::Spared> {
        let cost = self.cost.entry(table.to_string()).or_insert(took);
        *cost = (*cost * 3 + took) / 4;
        let took = *cost;
        let n = every(took, self.interval, self.share);
        match info.filter(|_| n > 1) {
            Some(info) => {
                let last = Last {
                    info,
                    counters: counters.clone(),
                    stamp,
                    took,
                    since: 0,
                    at: Instant::now(),
                };
                self.last.insert(table.to_string(), last);
            }
            None => {
                self.last.remove(table);
            }
        }
        (n > 1).then_some(crate::model::Spared {
            every: n,
            took,
            held: false,
        })
    }

    /// `table` is listed again: what was read of it belongs to another rule set (what
    /// a read costs stays).
    pub fn forget(&mut self, table: &str) {
        self.last.remove(table);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn a_read_within_its_share_is_made_every_poll() {
        assert_eq!(every(Duration::ZERO, SEC, SHARE), 1);
        assert_eq!(every(Duration::from_millis(50), SEC, SHARE), 1);
        assert_eq!(every(Duration::from_millis(51), SEC, SHARE), 2);
        assert_eq!(every(Duration::from_millis(70), SEC, SHARE), 2);
        assert_eq!(every(Duration::from_millis(70), 2 * SEC, SHARE), 1);
        assert_eq!(every(Duration::from_millis(120), SEC, SHARE), 3);
        assert_eq!(every(SEC, SEC, SHARE), MOST);
        assert_eq!(every(SEC, Duration::ZERO, SHARE), MOST);
    }

    fn counters() -> Arc<Counters> {
        Arc::new(Counters {
            names: Arc::default(),
            chains: Vec::new(),
        })
    }

    #[test]
    fn a_slow_table_is_held_between_reads_of_the_same_rules() {
        let mut s = Spare::new(SEC, SHARE);
        let info = TableInfo {
            num_entries: 7,
            ..TableInfo::default()
        };
        let k = counters();
        // 120 ms at 1 s: every third poll
        let spared = s.read("nat", Some(info), &k, 5, Duration::from_millis(120));
        assert_eq!(spared.map(|x| (x.every, x.held)), Some((3, false)));
        assert_eq!(s.may_hold("nat", Some(5)), Some(info));
        assert_eq!(s.may_hold("nat", Some(6)), None, "another rule set");
        assert_eq!(s.may_hold("filter", Some(5)), None, "never read");
        let (held, x) = s.held("nat").expect("read before");
        assert!(Arc::ptr_eq(&held, &k) && x.held && x.every == 3);
        assert!(
            s.may_hold("nat", Some(5)).is_some(),
            "second poll after the read"
        );
        s.held("nat");
        assert_eq!(s.may_hold("nat", Some(5)), None, "third: read");
        // polled again only long after the read (another table on screen, a pause)
        s.set_interval(Duration::from_millis(1));
        s.read("nat", Some(info), &k, 5, SEC);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(s.may_hold("nat", Some(5)), None, "read, not held");
        s.set_interval(SEC);
        s.read("nat", Some(info), &k, 5, Duration::from_millis(120));
        // a longer interval: every poll, nothing kept
        s.set_interval(10 * SEC);
        assert_eq!(
            s.read("nat", Some(info), &k, 5, Duration::from_millis(120)),
            None
        );
        assert_eq!(s.may_hold("nat", Some(5)), None);
        // no GET_INFO answer: never held
        s.set_interval(SEC);
        assert!(s.read("nat", None, &k, 5, SEC).is_some());
        assert_eq!(s.may_hold("nat", Some(5)), None);
        s.read("nat", Some(info), &k, 5, SEC);
        s.forget("nat");
        assert_eq!(s.may_hold("nat", Some(5)), None);
    }

    #[test]
    fn one_slow_read_hardly_changes_how_often() {
        let mut s = Spare::new(SEC, SHARE);
        let k = counters();
        let mut read = |ms| {
            s.read(
                "nat",
                Some(TableInfo::default()),
                &k,
                5,
                Duration::from_millis(ms),
            )
            .map(|x| x.every)
        };
        assert_eq!(read(70), Some(2));
        // a busy moment: 130 ms once weighs a quarter (85 ms)
        assert_eq!(read(130), Some(2));
        assert_eq!(read(70), Some(2));
        // a table that grew: each slow read moves it further
        for _ in 0..8 {
            read(200);
        }
        assert_eq!(read(200), Some(4));
        // and one that shrank comes back to every poll
        for _ in 0..12 {
            read(10);
        }
        assert_eq!(read(10), None);
    }
}
