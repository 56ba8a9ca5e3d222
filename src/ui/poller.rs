//! The poller task: runs the live view's poll [`Schedule`] (`source/schedule.rs`) off
//! the UI's way and translates between the two: [`Command`]s from the UI become the
//! schedule's pauses, steps, tables and interval; each poll goes back as a
//! [`PollMsg`] (whole snapshots or errors). It also forwards a trace's packets. The UI
//! never waits for it: keys are answered while a poll is in flight.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::source::poll_loop::TableResult;
use crate::source::schedule::{Each, Schedule};
use crate::source::{PollLoop, RawPoll};

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

/// The tables to poll: the one on screen, the recorded ones, and every table while the
/// path view is on.
fn polled(table: &str, also: &[String], all: bool) -> Vec<String> {
    let mut v = vec![table.to_string()];
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
}

async fn run(
    polls: PollLoop,
    mut cfg: PollerConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    messages: mpsc::Sender<PollMsg>,
) {
    let mut tracing = cfg.trace.take().map(|t| forward(t, messages.clone()));
    let mut table = cfg.table.clone();
    let also = std::mem::take(&mut cfg.also);
    let mut all = cfg.all_tables;
    let tables = polled(&table, &also, all);
    let mut schedule = Schedule::new(polls, tables.clone(), cfg.native.take(), cfg.interval)
        .with_first(cfg.first.take())
        .stepping(cfg.step)
        .recorded_pace()
        .stretching(BUSY_SHARE)
        .sparing();
    schedule.source_mut().set_tables(tables);
    // said once: why native tables cannot be read
    let mut native_said = false;
    let mut stretched: Option<Duration> = None;
    let mut shown_source = schedule.source().info().clone();

    loop {
        tokio::select! {
            cmd = commands.recv() => {
                let Some(cmd) = cmd else {
                    stop_trace(&mut tracing).await;
                    return;
                };
                match cmd {
                    Command::SetTable(t) => {
                        table = t;
                        schedule.set_tables(polled(&table, &also, all));
                    }
                    Command::AllTables(on) => {
                        all = on;
                        schedule.set_tables(polled(&table, &also, all));
                    }
                    Command::SetInterval(d) => {
                        schedule.set_interval(d);
                        stretched = None;
                        let _ = messages.send(PollMsg::Stretched(None)).await;
                    }
                    Command::Pause(p) => schedule.pause(p),
                    Command::Step => schedule.step(),
                    Command::Trace(expr) => {
                        let how = (cfg.trace_rate, cfg.timeout);
                        let netns = schedule.source().netns_fd();
                        set_trace(expr, how, netns, &mut tracing, &messages).await;
                    }
                }
            }
            () = schedule.ready() => {
                let Some(each) = schedule.next_each().await else {
                    let _ = messages.send(PollMsg::Ended).await;
                    continue;
                };
                // a replay's sessions, or the kernel source's counters changing hands
                if schedule.source().info() != &shown_source {
                    shown_source = schedule.source().info().clone();
                    let _ = messages.send(PollMsg::Source(shown_source.clone())).await;
                }
                if !send_poll(each, &mut native_said, &messages).await {
                    stop_trace(&mut tracing).await;
                    return;
                }
                let now = schedule.stretched();
                if now.map(|d| d.as_millis() / 100) != stretched.map(|d| d.as_millis() / 100) {
                    stretched = now;
                    let _ = messages.send(PollMsg::Stretched(stretched)).await;
                }
            }
        }
    }
}

/// Sends one poll: a recording that stopped, what cannot be shown of the native tables
/// (why none can be read: once), then the tables. False: the UI is gone.
async fn send_poll(each: Each, native_said: &mut bool, messages: &mpsc::Sender<PollMsg>) -> bool {
    if let Some(e) = each.record_error {
        let msg = PollMsg::RecordError(format!("recording stopped: {e}"));
        let _ = messages.send(msg).await;
    }
    if let Some(notice) = each.native_notice {
        let _ = messages.send(PollMsg::RecordError(notice)).await;
    }
    if let Some(e) = each.native_error
        && !std::mem::replace(native_said, true)
    {
        let _ = messages.send(PollMsg::RecordError(e)).await;
    }
    let msg = PollMsg::Polled {
        results: each.results,
        discontinuity: each.discontinuity,
        took: each.took,
    };
    messages.send(msg).await.is_ok()
}
