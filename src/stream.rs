//! `--stream`: one JSON document (version 1) per poll, one per line (NDJSON), flushed
//! line by line, until interrupted or `--count N`. Each document after the first
//! carries the deltas since the poll before it. The loop here (the polls of a
//! [`Schedule`], each or a signal) also drives `--listen` ([`crate::metrics`]).
//!
//! The lines are written on a thread of their own: a reader that stops reading blocks
//! that thread, never the runtime, so SIGTERM and SIGINT still end the stream at once.

use std::io::{ErrorKind, Write};
use std::time::{Duration, SystemTime};

use crate::diff::{self, Deltas};
use crate::error::AppError;
use crate::model::{Snapshot, SourceInfo};
use crate::report;
use crate::source::PollError;
use crate::source::schedule::Schedule;

/// One poll, ready to report: the snapshot, and the deltas since the poll before.
pub struct Polled<'a> {
    pub snapshot: &'a Snapshot,
    pub deltas: Option<&'a Deltas>,
    pub window_start: Option<SystemTime>,
    pub source: &'a SourceInfo,
    /// How long listing took (all tables).
    pub took: Duration,
}

/// What the loop does after a poll.
pub enum Next {
    Go,
    Stop,
}

/// SIGTERM and SIGINT, caught for as long as this lives: they end the loops that wait on
/// [`Stops::wait`].
pub struct Stops {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    caught: bool,
}

impl Stops {
    pub fn catch() -> Result<Stops, AppError> {
        use tokio::signal::unix::{SignalKind, signal};
        let caught = |e: std::io::Error| AppError::Runtime(format!("cannot catch signals: {e}"));
        Ok(Stops {
            term: signal(SignalKind::terminate()).map_err(caught)?,
            int: signal(SignalKind::interrupt()).map_err(caught)?,
            caught: false,
        })
    }

    /// Until SIGTERM or SIGINT.
    pub async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        self.caught = true;
    }

    /// Whether a signal came.
    pub fn caught(&self) -> bool {
        self.caught
    }
}

/// Takes the polls of `schedule` and calls `on_poll` for each good poll and
/// `on_failure` for each failed one, until `on_poll` says stop, the replay ends, or
/// SIGINT/SIGTERM (`stops`, also while `on_poll` waits). A first poll that fails the way
/// every poll would (no iptables, not root) ends the loop with its error. Why native
/// tables cannot be read is said once, on stderr.
pub async fn poll_loop(
    schedule: &mut Schedule,
    stops: &mut Stops,
    mut on_poll: impl AsyncFnMut(&Polled<'_>) -> Result<Next, AppError>,
    mut on_failure: impl FnMut(&PollError),
) -> Result<(), AppError> {
    let mut last: Option<Snapshot> = None;
    let mut good = 0u64;
    // why native tables cannot be read: said once
    let mut native_said = false;
    loop {
        let tick = tokio::select! {
            t = schedule.next() => t.map_err(|e| AppError::Runtime(e.to_string()))?,
            () = stops.wait() => return Ok(()),
        };
        let Some(tick) = tick else {
            return Ok(());
        };
        match tick.snapshot {
            Ok(snap) => {
                good += 1;
                // native nftables tables, read beside the iptables poll (as --once does)
                if let Some(notice) = tick.native_notice {
                    crate::sanitize::eprint_line(&format!("iptop: warning: {notice}"));
                }
                if let Some(Err(e)) = tick.native
                    && !native_said
                {
                    native_said = true;
                    crate::sanitize::eprint_line(&format!("iptop: warning: {e}"));
                }
                let deltas = last
                    .as_ref()
                    .filter(|_| !tick.discontinuity)
                    .map(|prev| (diff::diff(prev, &snap), prev.taken_at));
                let info = schedule.source().info().clone();
                let p = Polled {
                    snapshot: &snap,
                    deltas: deltas.as_ref().map(|(d, _)| d),
                    window_start: deltas.as_ref().map(|(_, t)| *t),
                    source: &info,
                    took: tick.took,
                };
                let next = tokio::select! {
                    n = on_poll(&p) => n?,
                    () = stops.wait() => return Ok(()),
                };
                if let Next::Stop = next {
                    return Ok(());
                }
                last = Some(snap);
            }
            Err(e) if good == 0 && e.is_fatal() => return Err(e.into()),
            Err(e) => on_failure(&e),
        }
    }
}

/// What `--stream` runs on, set up from the options.
pub struct StreamSetup {
    /// The polls, with the native nftables tables read on every poll.
    pub schedule: Schedule,
    /// Stop after this many documents.
    pub count: Option<u64>,
    /// `-c`: every one must exist.
    pub roots: Vec<String>,
    pub moved_only: bool,
    pub names: Option<crate::docker::Names>,
    pub out: Box<dyn Write + Send>,
    /// `--trace`: one line per traced packet (`"type":"trace"`) between the polls'.
    pub trace: Option<crate::source::trace::Tracer>,
}

/// `--stream`.
pub async fn run(setup: StreamSetup) -> Result<(), AppError> {
    let StreamSetup {
        mut schedule,
        count,
        roots,
        moved_only,
        names,
        out,
        trace,
    } = setup;
    let mut stops = Stops::catch()?;
    let (lines, written_out) = writer(out)?;
    let tracing = trace.is_some();
    let traced = trace.map(|mut t| {
        let lines = lines.clone();
        tokio::spawn(async move {
            while let Some(p) = t.packets.recv().await {
                if lines.send(report::trace::stream_line(&p)).await.is_err() {
                    break;
                }
            }
        })
    });
    let mut written = 0u64;
    let result = poll_loop(
        &mut schedule,
        &mut stops,
        async |p: &Polled<'_>| {
            // the back end known from the first poll: legacy's rules are not traced
            if written == 0
                && tracing
                && crate::source::trace::legacy_only(
                    p.source.backend,
                    crate::source::trace::backends(&p.snapshot.tables),
                )
            {
                return Err(AppError::Usage(crate::source::trace::LEGACY.into()));
            }
            if written == 0
                && let Some(c) = roots
                    .iter()
                    .find(|c| !p.snapshot.tables.iter().any(|t| t.chain(c).is_some()))
            {
                return Err(AppError::Runtime(crate::model::suggest::missing_chain(
                    p.snapshot, c,
                )));
            }
            let input = report::Input {
                snapshot: p.snapshot,
                deltas: p.deltas,
                window_start: p.window_start,
                source: p.source,
                roots: &roots,
                moved_only,
                names: names.as_ref(),
                window_note: None,
            };
            let mut line = crate::sanitize::json_line(&report::build(&input))
                .map_err(|e| AppError::Runtime(format!("cannot encode JSON: {e}")))?;
            line.push('\n');
            // waits while the reader is behind; the writer gone means it is done (see below)
            if lines.send(line).await.is_err() {
                return Ok(Next::Stop);
            }
            written += 1;
            Ok(match count {
                Some(n) if written >= n => Next::Stop,
                _ => Next::Go,
            })
        },
        |e| crate::sanitize::eprint_line(&format!("iptop: poll failed: {e}")),
    )
    .await;
    // the trace ends here: its table goes with its socket
    if let Some(t) = traced {
        t.abort();
        let _ = t.await;
    }
    if stops.caught() {
        // what the reader has not taken is left: the writer thread ends with the process
        return Ok(());
    }
    result?;
    drop(lines);
    // the last lines out, unless a signal comes first
    let wrote = tokio::select! {
        r = written_out => r.unwrap_or(Ok(())),
        () = stops.wait() => return Ok(()),
    };
    match wrote {
        Ok(()) => Ok(()),
        // the reader went away (`iptop --stream | head -3`): done
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(AppError::Runtime(format!("cannot write the stream: {e}"))),
    }
}

/// The thread that writes the stream's lines to `out`, each flushed: lines go in on the
/// channel (one waits while the reader is behind), the first write error (or `Ok` when
/// the channel closes) comes out once. The thread ends at that error, closing the
/// channel.
fn writer(
    mut out: Box<dyn Write + Send>,
) -> Result<
    (
        tokio::sync::mpsc::Sender<String>,
        tokio::sync::oneshot::Receiver<std::io::Result<()>>,
    ),
    AppError,
> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(1);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("iptop-stream".into())
        .spawn(move || {
            let mut result = Ok(());
            while let Some(line) = rx.blocking_recv() {
                if let Err(e) = out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
                    result = Err(e);
                    break;
                }
            }
            drop(rx);
            let _ = done_tx.send(result);
        })
        .map_err(|e| AppError::Runtime(format!("cannot start the stream's writer: {e}")))?;
    Ok((tx, done_rx))
}
