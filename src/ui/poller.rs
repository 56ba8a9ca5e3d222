//! The poller task: owns the source, polls on the interval (or at a replay's recorded
//! pace), records, parses off the UI's way, and sends whole snapshots or errors over a
//! channel. The UI never waits for it: keys are answered while a poll is in flight.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::Source;
use crate::model::Snapshot;
use crate::source::recording::Recorder;
use crate::source::{RawPoll, snapshot_reusing};

use super::state::Command;

/// What the poller reports.
#[derive(Debug)]
pub enum PollMsg {
    /// One poll: per table, a snapshot or why there is none.
    Polled {
        results: Vec<(String, Result<Arc<Snapshot>, String>)>,
        discontinuity: bool,
        /// Wall time of the whole poll, parsing included.
        took: Duration,
    },
    /// The interval in use when polls are slow (None: back to the chosen one).
    Stretched(Option<Duration>),
    /// A replay played its last poll.
    Ended,
    /// Writing the recording failed; recording stops.
    RecordError(String),
    /// The replay moved into a session recorded from another source (sent before the
    /// session's first poll).
    Source(crate::model::SourceInfo),
}

pub struct Poller {
    pub commands: mpsc::UnboundedSender<Command>,
    pub messages: mpsc::Receiver<PollMsg>,
}

pub struct PollerConfig {
    pub table: String,
    /// Tables listed on every poll besides the one on screen (the ones recorded).
    pub also: Vec<String>,
    /// A poll made before the screen was set up (to fail early): handled first.
    pub first: Option<RawPoll>,
    pub interval: Duration,
    /// Replays: one poll per `Step` command.
    pub step: bool,
    /// List every table from the start (the path view is on).
    pub all_tables: bool,
}

/// A poll may take at most this share of the interval before the interval is stretched.
const BUSY_SHARE: u32 = 4;

/// Starts the poller on the current runtime.
pub fn spawn(source: Source, recorder: Option<Recorder>, cfg: PollerConfig) -> Poller {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (msg_tx, msg_rx) = mpsc::channel(16);
    tokio::spawn(run(source, recorder, cfg, cmd_rx, msg_tx));
    Poller {
        commands: cmd_tx,
        messages: msg_rx,
    }
}

async fn run(
    mut source: Source,
    mut recorder: Option<Recorder>,
    cfg: PollerConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    messages: mpsc::Sender<PollMsg>,
) {
    let mut table = cfg.table;
    let also = cfg.also;
    let mut all = cfg.all_tables;
    // the path view needs every table; else the one on screen and the recorded ones
    let polled = |table: &String, all: bool| {
        let mut v = vec![table.clone()];
        let more = also.iter().map(String::as_str).chain(
            all.then_some(crate::report::path::TABLES)
                .into_iter()
                .flatten(),
        );
        for t in more {
            if !v.iter().any(|x| x == t) {
                v.push(t.to_string());
            }
        }
        v
    };
    let mut first = cfg.first;
    let mut interval = cfg.interval;
    let mut stretched: Option<Duration> = None;
    let mut paused = false;
    let mut steps = if cfg.step { 1 } else { 0 };
    let replay = source.is_replay();
    // Replays follow the recorded times: poll i is due at start + (at_i - at_0).
    let mut replay_origin: Option<(Instant, Duration)> = None;
    let mut paused_since: Option<Instant> = None;
    let mut ended = false;
    let mut next_due = Instant::now();
    // last good snapshot per table: the next parse reuses its unchanged rules
    let mut last_good: std::collections::HashMap<String, Arc<Snapshot>> = Default::default();
    let mut shown_source = source.info().clone();

    if let Source::Live(l) = &mut source {
        l.set_tables(polled(&table, all));
    }

    loop {
        let can_poll = !ended && !paused && (!cfg.step || steps > 0);
        tokio::select! {
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return };
                match cmd {
                    Command::SetTable(t) => {
                        table = t;
                        if let Source::Live(l) = &mut source {
                            l.set_tables(polled(&table, all));
                            next_due = Instant::now();
                        }
                    }
                    Command::AllTables(on) => {
                        all = on;
                        if let Source::Live(l) = &mut source {
                            l.set_tables(polled(&table, all));
                            next_due = Instant::now();
                        }
                    }
                    Command::SetInterval(d) => {
                        interval = d;
                        stretched = None;
                        let _ = messages.send(PollMsg::Stretched(None)).await;
                        next_due = next_due.min(Instant::now() + d);
                    }
                    Command::Pause(p) => {
                        paused = p;
                        if p {
                            paused_since = Some(Instant::now());
                        } else if let (Some(since), Some((origin, at0))) = (paused_since.take(), replay_origin) {
                            // a replay resumes where it stopped
                            replay_origin = Some((origin + since.elapsed(), at0));
                        }
                        if !p && !replay {
                            next_due = Instant::now();
                        }
                    }
                    Command::Step => steps += 1,
                    Command::Export => {}
                }
            }
            _ = tokio::time::sleep_until(next_due), if can_poll => {
                let started = Instant::now();
                let polled_now = match first.take() {
                    Some(raw) => Some(raw),
                    None => source.poll().await,
                };
                let Some(raw) = polled_now else {
                    ended = true;
                    let _ = messages.send(PollMsg::Ended).await;
                    continue;
                };
                if cfg.step {
                    steps -= 1;
                }
                if replay && source.info() != &shown_source {
                    shown_source = source.info().clone();
                    let _ = messages.send(PollMsg::Source(shown_source.clone())).await;
                }
                if let Some(rec) = &mut recorder
                    && let Err(e) = rec.write_poll(&raw)
                {
                    recorder = None;
                    let _ = messages.send(PollMsg::RecordError(format!("recording stopped: {e}"))).await;
                }
                // every table listed (recorded tables too: switching to one is instant)
                let mut tables: Vec<String> = Vec::new();
                for l in &raw.listings {
                    if !tables.contains(&l.table) {
                        tables.push(l.table.clone());
                    }
                }
                let discontinuity = raw.discontinuity;
                let at = raw.at;
                // parsing 10 MB of listing takes a while: not on the runtime's thread
                let prev: Vec<Option<Arc<Snapshot>>> = tables.iter().map(|t| last_good.get(t).cloned()).collect();
                let results = tokio::task::spawn_blocking(move || parse(&raw, &tables, &prev))
                    .await
                    .unwrap_or_default();
                for (t, r) in &results {
                    if let Ok(s) = r {
                        last_good.insert(t.clone(), s.clone());
                    }
                }
                let took = started.elapsed();
                if messages.send(PollMsg::Polled { results, discontinuity, took }).await.is_err() {
                    return;
                }
                if cfg.step {
                    next_due = Instant::now();
                } else if replay {
                    if discontinuity {
                        replay_origin = Some((started, at));
                    }
                    let (origin, at0) = *replay_origin.get_or_insert((started, at));
                    next_due = match &source {
                        Source::Replay(r) => match r.peek_at() {
                            Some(next_at) => origin + next_at.saturating_sub(at0),
                            None => Instant::now(),
                        },
                        Source::Live(_) => started + interval,
                    };
                } else {
                    // Never load a busy host: a poll may use at most a quarter of the interval.
                    let want = interval.max(took * BUSY_SHARE);
                    let now_stretched = (want > interval).then_some(want);
                    if now_stretched.map(|d| d.as_millis() / 100) != stretched.map(|d| d.as_millis() / 100) {
                        stretched = now_stretched;
                        let _ = messages.send(PollMsg::Stretched(stretched)).await;
                    }
                    next_due = started + want;
                }
            }
        }
    }
}

fn parse(
    raw: &RawPoll,
    tables: &[String],
    prev: &[Option<Arc<Snapshot>>],
) -> Vec<(String, Result<Arc<Snapshot>, String>)> {
    tables
        .iter()
        .zip(prev)
        .map(|(t, p)| {
            let r = snapshot_reusing(raw, std::slice::from_ref(t), p.as_deref())
                .map(Arc::new)
                .map_err(|e| e.to_string());
            (t.clone(), r)
        })
        .collect()
}
