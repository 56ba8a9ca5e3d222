//! `--stream`: one JSON document (version 1) per poll, one per line (NDJSON), flushed
//! line by line, until interrupted or `--count N`. Each document after the first
//! carries the deltas since the poll before it. The schedule here (poll, wait for the
//! interval or a signal) also drives `--listen` ([`crate::metrics`]).

use std::io::{ErrorKind, Write};
use std::time::{Duration, SystemTime};

use crate::diff::{self, Deltas};
use crate::error::AppError;
use crate::model::{Snapshot, SourceInfo};
use crate::report;
use crate::source::{PollError, PollLoop};

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

/// Polls `polls` for `tables` every `interval` (a replay as fast as it reads) and calls
/// `on_poll` for each good poll and `on_failure` for each failed one, until `on_poll`
/// says stop, the replay ends, or SIGINT/SIGTERM. A first poll that fails the way every
/// poll would (no iptables, not root) ends the loop with its error.
pub async fn poll_loop(
    polls: &mut PollLoop,
    tables: &[String],
    interval: Duration,
    mut on_poll: impl FnMut(&Polled) -> Result<Next, AppError>,
    mut on_failure: impl FnMut(&PollError),
) -> Result<(), AppError> {
    use tokio::signal::unix::{SignalKind, signal};
    let caught = |e: std::io::Error| AppError::Runtime(format!("cannot catch signals: {e}"));
    let mut term = signal(SignalKind::terminate()).map_err(caught)?;
    let mut int = signal(SignalKind::interrupt()).map_err(caught)?;
    let mut last: Option<Snapshot> = None;
    let mut good = 0u64;
    let mut next = tokio::time::Instant::now();
    loop {
        let raw = tokio::select! {
            r = polls.next_raw(tables) => r,
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        };
        let Some(raw) = raw else {
            return Ok(());
        };
        let took = raw.took();
        let polled = polls.parse(raw, tables).await;
        if let Some(e) = polled.record_error {
            return Err(AppError::Runtime(format!(
                "cannot write the recording: {e}"
            )));
        }
        match polled.snapshot_of(tables) {
            Ok(snap) => {
                good += 1;
                let deltas = last
                    .as_ref()
                    .filter(|_| !polled.discontinuity)
                    .map(|prev| (diff::diff(prev, &snap), prev.taken_at));
                let info = polls.source().info().clone();
                let p = Polled {
                    snapshot: &snap,
                    deltas: deltas.as_ref().map(|(d, _)| d),
                    window_start: deltas.as_ref().map(|(_, t)| *t),
                    source: &info,
                    took,
                };
                if let Next::Stop = on_poll(&p)? {
                    return Ok(());
                }
                last = Some(snap);
            }
            Err(e) if good == 0 && e.is_fatal() => return Err(e.into()),
            Err(e) => on_failure(&e),
        }
        if polls.source().is_replay() {
            continue;
        }
        next += interval;
        let now = tokio::time::Instant::now();
        if next < now {
            // a poll slower than the interval: the next one starts now, none piles up
            next = now;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}

/// What `--stream` runs on, set up from the options.
pub struct StreamSetup {
    pub polls: PollLoop,
    pub tables: Vec<String>,
    pub interval: Duration,
    /// Stop after this many documents.
    pub count: Option<u64>,
    /// `-c`: every one must exist.
    pub roots: Vec<String>,
    pub moved_only: bool,
    pub names: Option<crate::docker::Names>,
    pub out: Box<dyn Write + Send>,
}

/// `--stream`.
pub async fn run(setup: StreamSetup) -> Result<(), AppError> {
    let StreamSetup {
        mut polls,
        tables,
        interval,
        count,
        roots,
        moved_only,
        names,
        mut out,
    } = setup;
    let mut written = 0u64;
    poll_loop(
        &mut polls,
        &tables,
        interval,
        |p| {
            if written == 0
                && let Some(c) = roots
                    .iter()
                    .find(|c| !p.snapshot.tables.iter().any(|t| t.chain(c).is_some()))
            {
                return Err(AppError::Runtime(format!(
                    "chain `{c}` not found in table {} (iptables -t {} -L lists the chains)",
                    tables.join(", "),
                    tables.first().map_or("filter", String::as_str)
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
            let mut line = serde_json::to_string(&report::build(&input))
                .map_err(|e| AppError::Runtime(format!("cannot encode JSON: {e}")))?;
            line.push('\n');
            match out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => {}
                // the reader went away (`iptop --stream | head -3`): done
                Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(Next::Stop),
                Err(e) => return Err(AppError::Runtime(format!("cannot write the stream: {e}"))),
            }
            written += 1;
            Ok(match count {
                Some(n) if written >= n => Next::Stop,
                _ => Next::Go,
            })
        },
        |e| eprintln!("iptop: poll failed: {e}"),
    )
    .await
}
