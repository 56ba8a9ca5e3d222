//! The full-screen live view: a poller task feeds snapshots, keys become actions on the
//! [`state::App`], and the screen is redrawn after each input or poll (an idle screen
//! costs nothing). The loop is generic over the ratatui backend, so tests run it on
//! `TestBackend`.

pub mod baseline;
pub mod keys;
pub mod poller;
pub mod render;
pub mod state;
pub mod terminal;
pub mod theme;

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::time::SystemTime;

use crossterm::event::{Event, EventStream};
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;

use crate::app::{AppError, Source};
use crate::cli::Cli;
use crate::diff::Deltas;
use crate::model::{Snapshot, SourceInfo};
use crate::report;
use poller::{PollMsg, Poller, PollerConfig};
use state::{App, Command};
use theme::Theme;

pub async fn run(cli: Cli) -> Result<(), AppError> {
    terminal::require_terminal()?;
    let signals = terminal::Signals::catch();
    let mut recorder = crate::app::open_recorder(&cli)?;
    let mut source = Source::open(&cli).await?;
    crate::app::start_recording(&cli, &mut recorder, &source)?;
    let table = source.shown_tables(&cli)[0].clone();
    // A poll before the screen is taken: when every poll would fail the same way (not
    // root, no iptables, a namespace iptables cannot enter), say so on one line, as
    // --once does, instead of a full screen that retries.
    let first = if source.is_replay() {
        None
    } else {
        let raw = source.poll().await;
        if let Some(raw) = &raw
            && let Err(e) = crate::source::snapshot_from(raw, std::slice::from_ref(&table))
            && e.is_fatal()
        {
            return Err(e.into());
        }
        raw
    };
    let mut app = App::new(
        source.info().clone(),
        &table,
        cli.chains.clone(),
        cli.interval,
    );
    app.step_mode = cli.step && source.is_replay();
    // asked once, before the screen: a Docker that does not answer costs one timeout
    app.names = crate::docker::names_for(&cli, source.is_replay())
        .await
        .0
        .map(Arc::new);
    let mut poller = poller::spawn(
        source,
        recorder,
        PollerConfig {
            table,
            also: crate::app::record_tables(&cli),
            first,
            interval: cli.interval,
            step: app.step_mode,
        },
    );
    let export = ExportTo {
        dir: cli.export_dir.clone().unwrap_or_else(|| PathBuf::from(".")),
        format: cli.format,
    };
    let (mut terminal, guard) = terminal::TerminalGuard::start()?;
    let mut events = EventStream::new();
    let caught = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    let shutdown = {
        let caught = caught.clone();
        async move { caught.store(signals.recv().await, std::sync::atomic::Ordering::SeqCst) }
    };
    let result = event_loop(
        &mut terminal,
        &mut app,
        Theme::from_env(),
        &mut events,
        &mut poller,
        shutdown,
        &export,
    )
    .await;
    drop(guard);
    terminal::end_by(caught.load(std::sync::atomic::Ordering::SeqCst));
    result
}

/// The loop: draw, then wait for a key, a poll or a signal.
pub async fn event_loop<B, S, F>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    theme: Theme,
    events: &mut S,
    poller: &mut Poller,
    shutdown: F,
    export_to: &ExportTo,
) -> Result<(), AppError>
where
    B: Backend,
    B::Error: std::fmt::Display,
    S: Stream<Item = io::Result<Event>> + Unpin,
    F: Future<Output = ()>,
{
    let mut shutdown = pin!(shutdown);
    let panic_key = std::env::var_os("IPTOP_TEST_PANIC").is_some();
    // an export being written off the UI task: keys, polls and signals go on meanwhile
    let mut exporting: Option<tokio::task::JoinHandle<Result<PathBuf, String>>> = None;
    loop {
        terminal
            .draw(|f| render::draw(f, app, &theme))
            .map_err(|e| AppError::Runtime(format!("cannot draw: {e}")))?;
        if app.quit {
            return Ok(());
        }
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => {
                    if let Some(k) = Event::Key(k).as_key_press_event() {
                        // The terminal-hygiene test's way to make the view panic.
                        if k.code == crossterm::event::KeyCode::Char('!') && panic_key {
                            panic!("IPTOP_TEST_PANIC: panicking on request");
                        }
                        if let Some(a) = keys::action(k, app.search.editing) {
                            app.apply(a);
                        }
                    }
                }
                Some(Ok(Event::Mouse(m))) => {
                    if let Some(a) = keys::mouse(m) {
                        app.apply(a);
                    }
                }
                Some(Ok(_)) => {} // resize: the next draw uses the new size
                Some(Err(e)) => return Err(AppError::Runtime(format!("cannot read the terminal: {e}"))),
                None => return Ok(()),
            },
            msg = poller.messages.recv() => match msg {
                Some(m) => on_poll(app, m),
                None => app.message = Some("the poller stopped".into()),
            },
            done = async {
                match exporting.as_mut() {
                    Some(job) => job.await,
                    None => std::future::pending().await,
                }
            } => {
                exporting = None;
                app.message = Some(match done {
                    Ok(Ok(p)) => format!("exported to {}", p.display()),
                    Ok(Err(e)) => format!("export failed: {e}"),
                    Err(e) => format!("export failed: {e}"),
                });
            },
            _ = &mut shutdown => return Ok(()),
        }
        for cmd in std::mem::take(&mut app.commands) {
            match cmd {
                Command::Export if exporting.is_some() => {
                    app.message = Some("an export is still being written".into());
                }
                Command::Export => match ExportJob::new(app, export_to) {
                    Ok(job) => {
                        app.message = Some("exporting…".into());
                        exporting = Some(tokio::task::spawn_blocking(move || job.run()));
                    }
                    Err(e) => app.message = Some(format!("export failed: {e}")),
                },
                cmd => {
                    let _ = poller.commands.send(cmd);
                }
            }
        }
    }
}

fn on_poll(app: &mut App, msg: PollMsg) {
    match msg {
        PollMsg::Polled {
            results,
            discontinuity,
            took: _,
        } => {
            for (table, r) in results {
                match r {
                    Ok(snap) => app.on_snapshot(&table, snap, discontinuity),
                    Err(e) => app.on_error(&table, e),
                }
            }
        }
        PollMsg::Stretched(d) => app.effective_interval = d,
        PollMsg::Ended => app.ended = true,
        PollMsg::RecordError(e) => app.message = Some(e),
        PollMsg::Source(info) => app.source = info,
    }
}

/// Where the export key writes, and in which format.
#[derive(Debug, Clone)]
pub struct ExportTo {
    pub dir: PathBuf,
    pub format: crate::cli::Format,
}

/// Writes the current table (all its chains, or only what moved when `f` is on) with the
/// deltas on screen to a new timestamped file; never replaces an existing one.
pub fn export(app: &App, to: &ExportTo) -> Result<PathBuf, String> {
    ExportJob::new(app, to)?.run()
}

/// What an export writes, taken from the view when the key is pressed: it owns all of
/// it, so that the writing can run off the UI task (a big table takes a while).
pub struct ExportJob {
    snap: Arc<Snapshot>,
    deltas: Option<Deltas>,
    start: Option<SystemTime>,
    source: SourceInfo,
    roots: Vec<String>,
    moved_only: bool,
    names: Option<Arc<crate::docker::Names>>,
    table: &'static str,
    to: ExportTo,
}

impl ExportJob {
    pub fn new(app: &App, to: &ExportTo) -> Result<ExportJob, String> {
        let v = app.view();
        let snap = v.snap.clone().ok_or("nothing to export yet")?;
        let view = v.delta_view();
        let (elapsed, start) = match &v.baseline {
            Some(b) => (snap.at.saturating_sub(b.at), Some(b.since)),
            None => (v.window, v.window_start),
        };
        let deltas = view.shown.map(|d| Deltas {
            elapsed,
            tables: vec![Some(d.clone())],
        });
        Ok(ExportJob {
            snap,
            deltas,
            start,
            source: app.source.clone(),
            roots: app.root_chains.clone(),
            moved_only: app.moved_only,
            names: app.names.clone(),
            table: app.table_name(),
            to: to.clone(),
        })
    }

    /// Renders and writes the file; returns its path.
    pub fn run(self) -> Result<PathBuf, String> {
        let input = report::Input {
            snapshot: &self.snap,
            deltas: self.deltas.as_ref(),
            window_start: self.start,
            source: &self.source,
            roots: &self.roots,
            moved_only: self.moved_only,
            names: self.names.as_deref(),
        };
        let body = report::render(self.to.format, &input);
        let body = crate::sanitize::lines(&body);
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
            .to_string()
            .replace(':', "");
        let base = format!("iptop-{}-{}", self.table, stamp.trim_end_matches('Z'));
        let ext = self.to.format.extension();
        let mut last_err = String::new();
        for n in 1..100 {
            let name = if n == 1 {
                format!("{base}.{ext}")
            } else {
                format!("{base}-{n}.{ext}")
            };
            let path = self.to.dir.join(name);
            match crate::app::write_new_file(&path, body.as_bytes(), false) {
                Ok(()) => return Ok(path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = e.to_string(),
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        Err(last_err)
    }
}
