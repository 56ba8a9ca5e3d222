//! The one poll schedule, of the live view, `--once` (its `--window`), `--stream` and
//! `--listen`: [`Schedule`] owns the [`PollLoop`], the tables asked for, the native
//! nftables tables read beside each poll ([`NativeFeed`]) and the interval, and makes one
//! poll whenever it is due: a live source's polls on the interval (a poll slower than the
//! interval starts the next at once, none piles up; with [`Schedule::stretching`] a slow
//! poll stretches the interval instead), a replay's as fast as it reads or at its
//! recorded pace ([`Schedule::recorded_pace`]). The live view pauses and resumes it,
//! steps it one poll at a time, changes its tables and its interval; [`Schedule::next`]
//! yields the tables asked for together (a [`Tick`]), [`Schedule::next_each`] each table
//! on its own (an [`Each`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::native::NativeFeed;
use super::poll_loop::TableResult;
use super::{PollError, PollLoop, RawPoll, Source};
use crate::model::{FirewallTable, Snapshot};

/// One poll: the tables asked for together, or why they could not be listed.
pub struct Tick {
    pub snapshot: Result<Snapshot, PollError>,
    /// Counters are not comparable with the poll before (a replay looped, a new session).
    pub discontinuity: bool,
    /// How long listing took (all tables).
    pub took: Duration,
    /// The poll's monotonic time.
    pub at: Duration,
    /// The native tables asked for, read after a good poll (already in `snapshot`); or
    /// why none can be read.
    pub native: Option<Result<Vec<String>, String>>,
    /// What cannot be shown of the native tables read (no `nft`), once.
    pub native_notice: Option<String>,
}

/// One poll, each table on its own: every listed table (in the order listed), then each
/// native table asked for as `FAMILY NAME` (with the iptables poll's times).
#[derive(Debug)]
pub struct Each {
    /// Per table, a snapshot or why there is none.
    pub results: Vec<(String, TableResult)>,
    /// Counters are not comparable with the poll before (a replay looped, a new session).
    pub discontinuity: bool,
    /// Wall time of the whole poll, parsing and native tables included.
    pub took: Duration,
    /// Writing the recording failed: recording stopped, the poll is still here.
    pub record_error: Option<std::io::Error>,
    /// Why the native tables cannot be read (on every poll that cannot).
    pub native_error: Option<String>,
    /// What cannot be shown of the native tables read (no `nft`), once.
    pub native_notice: Option<String>,
}

/// Writing the recording failed: the schedule ends.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the recording: {0}")]
pub struct RecordError(pub std::io::Error);

pub struct Schedule {
    polls: PollLoop,
    tables: Vec<String>,
    native: Option<NativeFeed>,
    interval: Duration,
    /// When the next poll is due (a replay's are due at once unless paced); None: at
    /// once, the interval counted from then.
    next: Option<Instant>,
    /// A poll made before (to fail early): the first one.
    first: Option<RawPoll>,
    /// One poll per [`Schedule::step`] (Some: the polls left), the first one free.
    steps: Option<u32>,
    paused: bool,
    paused_since: Option<Instant>,
    /// A replay ended.
    ended: bool,
    /// A replay follows its recorded times: poll i is due at origin + (at_i - at_0).
    recorded_pace: bool,
    origin: Option<(Instant, Duration)>,
    /// A poll may take at most 1/share of the interval before the interval is stretched.
    busy_share: Option<u32>,
    stretched: Option<Duration>,
    /// A big legacy table's counters may be read less often than polled.
    sparing: bool,
}

impl Schedule {
    /// Polls `tables` of `polls` every `interval`, the first at once, with the native
    /// tables of `native` added to each good poll.
    pub fn new(
        polls: PollLoop,
        tables: Vec<String>,
        native: Option<NativeFeed>,
        interval: Duration,
    ) -> Schedule {
        Schedule {
            polls,
            tables,
            native,
            interval,
            next: None,
            first: None,
            steps: None,
            paused: false,
            paused_since: None,
            ended: false,
            recorded_pace: false,
            origin: None,
            busy_share: None,
            stretched: None,
            sparing: false,
        }
    }

    /// `first` (a poll made before) is the first poll.
    pub fn with_first(mut self, first: Option<RawPoll>) -> Schedule {
        self.first = first;
        self
    }

    /// One poll per [`Schedule::step`] (the first one at once), when `on`.
    pub fn stepping(mut self, on: bool) -> Schedule {
        self.steps = on.then_some(1);
        self
    }

    /// A replay's polls come at the pace they were recorded, not as fast as it reads.
    pub fn recorded_pace(mut self) -> Schedule {
        self.recorded_pace = true;
        self
    }

    /// Never load a busy host: a poll may take at most 1/`share` of the interval, a
    /// slower one stretches it ([`Schedule::stretched`]).
    pub fn stretching(mut self, share: u32) -> Schedule {
        self.busy_share = Some(share);
        self
    }

    /// The live view: a legacy table whose counters take more than their share of the
    /// interval to read is read less often, and said so ([`crate::model::Spared`]).
    pub fn sparing(mut self) -> Schedule {
        self.sparing = true;
        self.polls.source_mut().spare_reads(self.interval);
        self
    }

    pub fn source(&self) -> &Source {
        self.polls.source()
    }

    pub fn source_mut(&mut self) -> &mut Source {
        self.polls.source_mut()
    }

    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    pub fn is_recording(&self) -> bool {
        self.polls.is_recording()
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The interval in use while polls are slow (None: the chosen one).
    pub fn stretched(&self) -> Option<Duration> {
        self.stretched
    }

    /// When the next poll is due (None: at once).
    pub fn due(&self) -> Option<Instant> {
        self.next
    }

    /// The next poll is due at `at` (`--window`'s end), not on the interval.
    pub fn due_at(&mut self, at: Instant) {
        self.next = Some(at);
    }

    /// The next poll is due now.
    pub fn poll_now(&mut self) {
        self.next = None;
    }

    /// Polls `tables` from now on, the next one at once; a replay plays what was
    /// recorded.
    pub fn set_tables(&mut self, tables: Vec<String>) {
        if self.polls.source().is_replay() {
            return;
        }
        self.polls.source_mut().set_tables(tables.clone());
        self.tables = tables;
        self.poll_now();
    }

    /// A new interval, not stretched; a poll due later than one interval from now comes
    /// then.
    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = interval;
        self.stretched = None;
        if self.sparing {
            self.polls.source_mut().spare_reads(interval);
        }
        let soon = Instant::now() + interval;
        self.next = self.next.map(|n| n.min(soon));
    }

    /// Pauses (`on`) or resumes: a live source polls at once, a replay goes on where it
    /// stopped.
    pub fn pause(&mut self, on: bool) {
        self.paused = on;
        if on {
            self.paused_since = Some(Instant::now());
        } else if let (Some(since), Some((origin, at0))) = (self.paused_since.take(), self.origin) {
            self.origin = Some((origin + since.elapsed(), at0));
        }
        if !on && !self.polls.source().is_replay() {
            self.poll_now();
        }
    }

    /// One more poll when stepping.
    pub fn step(&mut self) {
        if let Some(s) = &mut self.steps {
            *s += 1;
        }
    }

    /// Waits until the next poll is due (forever while paused, between steps or after
    /// a replay's end). Cancel-safe, and holds no borrow of the schedule: it only waits.
    pub fn ready(&self) -> impl Future<Output = ()> + Send + 'static {
        let can_poll = !self.ended && !self.paused && self.steps.is_none_or(|s| s > 0);
        let sleeps = !self.polls.source().is_replay() || self.recorded_pace;
        let until = self.next.filter(|_| sleeps);
        async move {
            if !can_poll {
                std::future::pending::<()>().await;
            }
            if let Some(at) = until {
                tokio::time::sleep_until(at).await;
            }
        }
    }

    /// The poll due now, raw: the first one made before, or the source's (None: a replay
    /// ended). `each`: every table the source lists, none required.
    async fn raw(&mut self, each: bool) -> Option<RawPoll> {
        let raw = match self.first.take() {
            Some(raw) => Some(raw),
            None => {
                let required: &[String] = if each { &[] } else { &self.tables };
                self.polls.next_raw(required).await
            }
        };
        let Some(raw) = raw else {
            self.ended = true;
            return None;
        };
        if let Some(s) = &mut self.steps {
            *s = s.saturating_sub(1);
        }
        Some(raw)
    }

    /// When the poll after one `due` (begun at `started`, the recorded `at`, taking
    /// `took`) is due.
    fn pace(
        &mut self,
        due: Instant,
        started: Instant,
        at: Duration,
        discontinuity: bool,
        took: Duration,
    ) {
        if self.steps.is_some() {
            self.poll_now();
            return;
        }
        if let (Source::Replay(r), true) = (self.polls.source(), self.recorded_pace) {
            if discontinuity {
                self.origin = Some((started, at));
            }
            let (origin, at0) = *self.origin.get_or_insert((started, at));
            self.next = r
                .peek_at()
                .map(|next_at| origin + next_at.saturating_sub(at0));
            return;
        }
        let want = match self.busy_share {
            Some(share) => self.interval.max(took * share),
            None => self.interval,
        };
        self.stretched = (want > self.interval).then_some(want);
        // a poll slower than the interval: the next one starts now, none piles up
        self.next = Some((due + want).max(Instant::now()));
    }

    /// Waits until the next poll is due and makes it, the tables asked for together
    /// (None: a replay ended). A recording that cannot be written ends the schedule
    /// with its error.
    pub async fn next(&mut self) -> Result<Option<Tick>, RecordError> {
        if self.ended {
            return Ok(None);
        }
        self.ready().await;
        let started = Instant::now();
        let due = self.next.unwrap_or(started);
        let Some(raw) = self.raw(false).await else {
            return Ok(None);
        };
        let took = raw.took();
        let polled = self.polls.parse(raw, &self.tables).await;
        if let Some(e) = polled.record_error {
            return Err(RecordError(e));
        }
        let mut tick = Tick {
            snapshot: polled.snapshot_of(&self.tables),
            discontinuity: polled.discontinuity,
            took,
            at: polled.at,
            native: None,
            native_notice: None,
        };
        if let (Ok(snap), true) = (&mut tick.snapshot, self.tables.is_empty()) {
            // only native tables: the poll's moment is this one
            snap.taken_at = std::time::SystemTime::now();
            snap.at = polled.at;
        }
        if let (Ok(snap), Some(feed)) = (&mut tick.snapshot, &mut self.native) {
            tick.native = Some(feed.read_tables().await.map(|t| add(snap, t)));
            tick.native_notice = feed.take_notice();
        }
        self.pace(
            due,
            started,
            polled.at,
            polled.discontinuity,
            started.elapsed(),
        );
        Ok(Some(tick))
    }

    /// Makes the poll due now (call it once [`Schedule::ready`] is), each table on its
    /// own (None: a replay ended).
    pub async fn next_each(&mut self) -> Option<Each> {
        let started = Instant::now();
        let due = self.next.unwrap_or(started);
        let raw = self.raw(true).await?;
        let at = raw.at;
        let polled = self.polls.parse(raw, &[]).await;
        let mut each = Each {
            results: polled.results,
            discontinuity: polled.discontinuity,
            took: Duration::ZERO,
            record_error: polled.record_error,
            native_error: None,
            native_notice: None,
        };
        if let Some(feed) = &mut self.native {
            let like = each
                .results
                .iter()
                .find_map(|(_, r)| r.as_ref().ok())
                .cloned();
            match read_native(feed, like.as_deref()).await {
                Ok(more) => {
                    each.results.extend(more);
                    each.native_notice = feed.take_notice();
                }
                Err(e) => each.native_error = Some(e),
            }
        }
        each.took = started.elapsed();
        self.pace(due, started, at, each.discontinuity, each.took);
        Some(each)
    }
}

/// The native tables asked for, each as a poll result of its own (with the times of
/// `like`, the iptables poll), or why none can be read.
async fn read_native(
    feed: &mut NativeFeed,
    like: Option<&Snapshot>,
) -> Result<Vec<(String, TableResult)>, String> {
    let tables = feed.read_tables().await?;
    let now = std::time::SystemTime::now();
    Ok(tables
        .into_iter()
        .map(|t| {
            let key = format!("{} {}", t.family.as_deref().unwrap_or_default(), t.name);
            let snap = Snapshot {
                taken_at: like.map_or(now, |s| s.taken_at),
                at: like.map_or(Duration::ZERO, |s| s.at),
                took: like.map_or(Duration::ZERO, |s| s.took),
                tables: vec![t],
                warnings: Vec::new(),
                seq: like.map_or(0, |s| s.seq),
            };
            (key, Ok(Arc::new(snap)))
        })
        .collect())
}

/// Adds `tables` to `snap`; their `FAMILY NAME`s.
fn add(snap: &mut Snapshot, tables: Vec<FirewallTable>) -> Vec<String> {
    let names = tables
        .iter()
        .map(|t| format!("{} {}", t.family.as_deref().unwrap_or_default(), t.name))
        .collect();
    snap.tables.extend(tables);
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::replay::ReplaySource;

    const LISTING: &str = "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n    pkts      bytes target     prot opt in     out     source               destination\n       3      180 ACCEPT     all  --  lo     *       0.0.0.0/0            0.0.0.0/0\n";

    fn replay() -> Schedule {
        let r = ReplaySource::from_text("paste", LISTING, Some("filter")).expect("a listing");
        let polls = PollLoop::new(Source::Replay(Box::new(r)), None);
        Schedule::new(polls, vec!["filter".into()], None, Duration::from_secs(1))
    }

    /// Does `s` have a poll due within a moment?
    async fn due_soon(s: &Schedule) -> bool {
        tokio::time::timeout(Duration::from_millis(50), s.ready())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn steps_one_poll_each_and_ends() {
        let mut s = replay().stepping(true).recorded_pace();
        assert!(due_soon(&s).await, "the first poll is free");
        let each = s.next_each().await.expect("one poll");
        assert!(each.results.iter().any(|(t, r)| t == "filter" && r.is_ok()));
        assert!(!due_soon(&s).await, "no poll before a step");
        s.step();
        assert!(due_soon(&s).await);
        assert!(s.next_each().await.is_none(), "a listing plays once");
        s.step();
        assert!(!due_soon(&s).await, "nothing after the end");
        assert!(s.next().await.expect("no recording").is_none());
    }

    #[tokio::test]
    async fn a_pause_holds_the_polls() {
        let mut s = replay();
        s.pause(true);
        assert!(!due_soon(&s).await);
        s.pause(false);
        assert!(due_soon(&s).await);
        let tick = s.next().await.expect("no recording").expect("one poll");
        assert!(tick.snapshot.is_ok());
        assert_eq!(s.stretched(), None);
    }
}
