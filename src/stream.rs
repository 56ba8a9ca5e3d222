//! `--stream`: one JSON document (version 1) per poll, one per line (NDJSON), flushed
//! line by line, until interrupted or `--count N`. Each document after the first
//! carries the deltas since the poll before it. The poll loop here also feeds
//! `--listen` ([`crate::metrics`]).

use std::io::{ErrorKind, Write};
use std::time::{Duration, SystemTime};

use crate::app::{AppError, Source};
use crate::cli::Cli;
use crate::diff::{self, Deltas};
use crate::model::{Snapshot, SourceInfo};
use crate::report;
use crate::source::recording::Recorder;
use crate::source::{PollError, snapshot_reusing};

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

/// Polls `source` on the interval (a replay as fast as it reads) and calls `on_poll`
/// for each good poll and `on_failure` for each failed one, until `on_poll` says stop,
/// the replay ends, or SIGINT/SIGTERM. A poll that fails the same way every time
/// (no iptables, not root) ends the loop with its error when it is the first.
pub async fn poll_loop(
    cli: &Cli,
    source: Source,
    mut recorder: Option<Recorder>,
    mut on_poll: impl FnMut(&Polled) -> Result<Next, AppError>,
    mut on_failure: impl FnMut(&PollError),
) -> Result<(), AppError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut source = source;
    let tables = source.shown_tables(cli);
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| AppError::Runtime(format!("cannot catch signals: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| AppError::Runtime(format!("cannot catch signals: {e}")))?;
    let mut last: Option<Snapshot> = None;
    let mut good = 0u64;
    let mut next = tokio::time::Instant::now();
    loop {
        let raw = tokio::select! {
            r = source.poll() => r,
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        };
        let Some(mut raw) = raw else {
            return Ok(());
        };
        // a recording in which the user switched tables: only polls of these tables
        if source.is_replay()
            && !tables
                .iter()
                .all(|t| raw.listings.iter().any(|l| &l.table == t))
        {
            continue;
        }
        if let Some(rec) = &mut recorder {
            rec.write_poll(&raw)
                .map_err(|e| AppError::Runtime(format!("cannot write the recording: {e}")))?;
        }
        let took = raw.took();
        match snapshot_reusing(&raw, &tables, last.as_ref()) {
            Ok(snap) => {
                if good == 0 {
                    crate::app::check_chains(cli, &snap)?;
                }
                good += 1;
                let deltas = last
                    .as_ref()
                    .filter(|_| !raw.discontinuity)
                    .map(|prev| (diff::diff(prev, &snap), prev.taken_at));
                let info = source.info().clone();
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
        raw.discontinuity = false;
        if source.is_replay() {
            continue;
        }
        next += cli.interval;
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

/// `--stream`.
pub async fn run(cli: &Cli) -> Result<(), AppError> {
    let dest = match &cli.output {
        Some(p) => crate::output::Dest::of(p)
            .map_err(|e| AppError::Runtime(format!("cannot write {}: {e}", p.display())))?,
        None => crate::output::Dest::Stdout,
    };
    let mut recorder = crate::app::open_recorder(cli)?;
    let source = Source::open(cli).await?;
    crate::app::start_recording(cli, &mut recorder, &source)?;
    let mut out = dest.open_stream(cli.force).map_err(|e| {
        AppError::Runtime(match &cli.output {
            Some(p) => format!("cannot write {}: {e}", p.display()),
            None => format!("cannot write to stdout: {e}"),
        })
    })?;
    let (names, warning) = crate::docker::names_for(cli, source.is_replay()).await;
    if let Some(w) = warning {
        eprintln!("iptop: warning: {w}");
    }
    let mut written = 0u64;
    poll_loop(
        cli,
        source,
        recorder,
        |p| {
            let input = report::Input {
                snapshot: p.snapshot,
                deltas: p.deltas,
                window_start: p.window_start,
                source: p.source,
                roots: &cli.chains,
                moved_only: cli.moved_only,
                names: names.as_ref(),
            };
            let mut line = serde_json::to_string(&report::build(&input))
                .map_err(|e| AppError::Runtime(format!("cannot encode JSON: {e}")))?;
            line.push('\n');
            match out.write_all(line.as_bytes()).and_then(|_| out.flush()) {
                Ok(()) => {}
                // the reader went away (`iptop --stream | head -3`): done
                Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(Next::Stop),
                Err(e) => return Err(AppError::Runtime(format!("cannot write the stream: {e}"))),
            }
            written += 1;
            Ok(match cli.count {
                Some(n) if written >= n => Next::Stop,
                _ => Next::Go,
            })
        },
        |e| eprintln!("iptop: poll failed: {e}"),
    )
    .await
}
