//! The poller task: owns the source, polls on the interval (or at a replay's recorded
//! pace), records, parses off the UI's way, and sends whole snapshots or errors over a
//! channel. The UI never waits for it: keys are answered while a poll is in flight.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::source::poll_loop::TableResult;
use crate::source::{PollLoop, RawPoll, Source};

use super::action::Command;

/// What the poller reports.
#[derive(Debug)]
pub enum PollMsg {
    /// One poll: per table, a snapshot or why there is none.
    Polled {
        results: Vec<(String, TableResult)>,
        discontinuity: bool,
        /// Wall time of the whole poll, parsing included.
        took: Duration,
    },
    /// The interval in use when polls are slow (None: back to the chosen one).
    Stretched(Option<Duration>),
    /// A replay played its last poll.
    Ended,
    /// Writing the recording failed (recording stops), or native tables cannot be
    /// read: said on the status line.
    RecordError(String),
    /// The replay moved into a session recorded from another source (sent before the
    /// session's first poll).
    Source(crate::model::SourceInfo),
    /// A traced packet (`--trace`), with the trace's counts of packets seen and of
    /// losses so far.
    Traced(Box<crate::source::trace::TracedPacket>, u64, u64),
    /// A trace asked for with `t` runs (its expression), stopped (None), or could not
    /// start (why).
    Trace(Result<Option<String>, String>),
}

pub struct PollerHandle {
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
    /// Native nftables tables, read on every poll beside the iptables listing.
    pub native: Option<NativeFeed>,
    /// `--trace`: its packets are sent as [`PollMsg::Traced`] (it ends with the poller).
    pub trace: Option<crate::source::trace::Tracer>,
    /// How traces started with `t` mark packets and how long `nft` may take.
    pub trace_rate: u32,
    pub timeout: Duration,
}

pub use crate::source::native::{NativeFeed, WantsTable};

/// The native tables asked for, each as a poll result of its own (with the iptables
/// poll's times), or why none can be read.
async fn read_native(
    feed: &mut NativeFeed,
    like: Option<&crate::model::Snapshot>,
) -> Result<Vec<(String, TableResult)>, String> {
    let tables = feed.read_tables().await?;
    let now = std::time::SystemTime::now();
    Ok(tables
        .into_iter()
        .map(|t| {
            let key = format!("{} {}", t.family.as_deref().unwrap_or_default(), t.name);
            let snap = crate::model::Snapshot {
                taken_at: like.map_or(now, |s| s.taken_at),
                at: like.map_or(Duration::ZERO, |s| s.at),
                took: like.map_or(Duration::ZERO, |s| s.took),
                tables: vec![t],
                warnings: Vec::new(),
                seq: like.map_or(0, |s| s.seq),
            };
            (key, Ok(std::sync::Arc::new(snap)))
        })
        .collect())
}

/// A poll may take at most this share of the interval before the interval is stretched.
const BUSY_SHARE: u32 = 4;

/// Starts the poller on the current runtime.
pub fn spawn(polls: PollLoop, cfg: PollerConfig) -> PollerHandle {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (msg_tx, msg_rx) = mpsc::channel(16);
    tokio::spawn(run(polls, cfg, cmd_rx, msg_tx));
    PollerHandle {
        commands: cmd_tx,
        messages: msg_rx,
    }
}

/// Sends a trace's packets as [`PollMsg::Traced`]; the task owns the tracer, so
/// ending it ends the trace (the kernel deletes the table with its socket).
fn forward(mut t: crate::source::trace::Tracer, tx: mpsc::Sender<PollMsg>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(p) = t.packets.recv().await {
            let msg = PollMsg::Traced(Box::new(p), t.seen(), t.lost());
            if tx.send(msg).await.is_err() {
                break;
            }
        }
    })
}

/// Ends the running trace, if any, and waits until its tracer (and so its table) is gone.
async fn stop_trace(running: &mut Option<JoinHandle<()>>) {
    if let Some(h) = running.take() {
        h.abort();
        let _ = h.await;
    }
}

/// The trace `expr` (None: none) in the source's namespace, the one before ended first.
async fn set_trace(
    expr: Option<String>,
    (rate, timeout): (u32, Duration),
    netns: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
    running: &mut Option<JoinHandle<()>>,
    messages: &mpsc::Sender<PollMsg>,
) {
    stop_trace(running).await;
    let Some(expr) = expr else {
        let _ = messages.send(PollMsg::Trace(Ok(None))).await;
        return;
    };
    let spec = crate::source::trace::TraceSpec {
        expr: expr.clone(),
        rate,
    };
    let started = crate::source::trace::start(spec, netns, timeout).await;
    let msg = match started {
        Ok(t) => {
            *running = Some(forward(t, messages.clone()));
            Ok(Some(expr))
        }
        Err(e) => Err(e.to_string()),
    };
    let _ = messages.send(PollMsg::Trace(msg)).await;
}

async fn run(
    mut polls: PollLoop,
    mut cfg: PollerConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    messages: mpsc::Sender<PollMsg>,
) {
    let mut tracing = cfg.trace.take().map(|t| forward(t, messages.clone()));
    let mut table = cfg.table.clone();
    let also = std::mem::take(&mut cfg.also);
    let mut native = cfg.native.take();
    // said once: why native tables cannot be read
    let mut native_said = false;
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
    let mut first = cfg.first.take();
    let mut interval = cfg.interval;
    let mut stretched: Option<Duration> = None;
    let mut paused = false;
    let mut steps = if cfg.step { 1 } else { 0 };
    let replay = polls.source().is_replay();
    // Replays follow the recorded times: poll i is due at start + (at_i - at_0).
    let mut replay_origin: Option<(Instant, Duration)> = None;
    let mut paused_since: Option<Instant> = None;
    let mut ended = false;
    let mut next_due = Instant::now();
    let mut shown_source = polls.source().info().clone();

    polls.source_mut().set_tables(polled(&table, all));

    loop {
        let can_poll = !ended && !paused && (!cfg.step || steps > 0);
        tokio::select! {
            cmd = commands.recv() => {
                let Some(cmd) = cmd else {
                    stop_trace(&mut tracing).await;
                    return;
                };
                match cmd {
                    Command::SetTable(t) => {
                        table = t;
                        if !replay {
                            polls.source_mut().set_tables(polled(&table, all));
                            next_due = Instant::now();
                        }
                    }
                    Command::AllTables(on) => {
                        all = on;
                        if !replay {
                            polls.source_mut().set_tables(polled(&table, all));
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
                    Command::Trace(expr) => {
                        let how = (cfg.trace_rate, cfg.timeout);
                        let netns = polls.source().netns_fd();
                        set_trace(expr, how, netns, &mut tracing, &messages).await;
                    }
                }
            }
            _ = tokio::time::sleep_until(next_due), if can_poll => {
                let started = Instant::now();
                let polled_now = match first.take() {
                    Some(raw) => Some(raw),
                    None => polls.next_raw(&[]).await,
                };
                let Some(raw) = polled_now else {
                    ended = true;
                    let _ = messages.send(PollMsg::Ended).await;
                    continue;
                };
                if cfg.step {
                    steps -= 1;
                }
                // a replay's sessions, or the kernel source's counters changing hands
                if polls.source().info() != &shown_source {
                    shown_source = polls.source().info().clone();
                    let _ = messages.send(PollMsg::Source(shown_source.clone())).await;
                }
                let at = raw.at;
                let polled = polls.parse(raw, &[]).await;
                if let Some(e) = polled.record_error {
                    let _ = messages.send(PollMsg::RecordError(format!("recording stopped: {e}"))).await;
                }
                let discontinuity = polled.discontinuity;
                let mut results = polled.results;
                if let Some(n) = &mut native {
                    let like = results.iter().find_map(|(_, r)| r.as_ref().ok()).cloned();
                    match read_native(n, like.as_deref()).await {
                        Ok(more) => {
                            results.extend(more);
                            if let Some(notice) = n.take_notice() {
                                let _ = messages.send(PollMsg::RecordError(notice)).await;
                            }
                        }
                        Err(e) if !native_said => {
                            native_said = true;
                            let _ = messages.send(PollMsg::RecordError(e)).await;
                        }
                        Err(_) => {}
                    }
                }
                let took = started.elapsed();
                if messages.send(PollMsg::Polled { results, discontinuity, took }).await.is_err() {
                    stop_trace(&mut tracing).await;
                    return;
                }
                if cfg.step {
                    next_due = Instant::now();
                } else if replay {
                    if discontinuity {
                        replay_origin = Some((started, at));
                    }
                    let (origin, at0) = *replay_origin.get_or_insert((started, at));
                    next_due = match polls.source() {
                        Source::Replay(r) => match r.peek_at() {
                            Some(next_at) => origin + next_at.saturating_sub(at0),
                            None => Instant::now(),
                        },
                        _ => started + interval,
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
