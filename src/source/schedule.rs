//! The poll schedule of `--once` (its `--window`), `--stream` and `--listen`:
//! [`Schedule`] owns the [`PollLoop`], the tables asked for, the native nftables tables
//! read beside each poll ([`NativeFeed`]) and the interval, and yields one [`Tick`] per
//! poll: a live source's polls on the interval (a poll slower than the interval starts
//! the next at once, none piles up), a replay's as fast as it reads. The live view's
//! poller drives the same [`PollLoop`] with pauses, steps and a replay's recorded pace
//! of its own (`ui/poller.rs`).

use std::time::Duration;

use tokio::time::Instant;

use super::native::NativeFeed;
use super::{PollError, PollLoop, Source};
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

/// Writing the recording failed: the schedule ends.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the recording: {0}")]
pub struct RecordError(pub std::io::Error);

pub struct Schedule {
    polls: PollLoop,
    tables: Vec<String>,
    native: Option<NativeFeed>,
    interval: Duration,
    /// When the next poll is due (a replay's are due at once); None: at once, the
    /// interval counted from then.
    next: Option<Instant>,
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
        }
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

    /// When the next poll is due (None: at once).
    pub fn due(&self) -> Option<Instant> {
        self.next
    }

    /// The next poll is due at `at` (`--window`'s end), not on the interval.
    pub fn due_at(&mut self, at: Instant) {
        self.next = Some(at);
    }

    /// Waits until the next poll is due and makes it (None: a replay ended). A
    /// recording that cannot be written ends the schedule with its error.
    pub async fn next(&mut self) -> Result<Option<Tick>, RecordError> {
        if let Some(at) = self.next
            && !self.polls.source().is_replay()
        {
            tokio::time::sleep_until(at).await;
        }
        let due = self.next.unwrap_or_else(Instant::now);
        let Some(raw) = self.polls.next_raw(&self.tables).await else {
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
        // a poll slower than the interval: the next one starts now, none piles up
        self.next = Some((due + self.interval).max(Instant::now()));
        Ok(Some(tick))
    }
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
