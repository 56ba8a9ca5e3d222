//! The full-screen live view: a poller task feeds snapshots, keys become actions on the
//! [`live_view::LiveView`], and the screen is redrawn after each input or poll (an idle screen
//! costs nothing). The loop is generic over the ratatui backend, so tests run it on
//! `TestBackend`.

pub mod action;
pub mod baseline;
pub mod column_plan;
pub mod export;
pub mod fit;
pub mod help;
pub mod history;
pub mod keymap;
pub mod live_view;
pub mod mode;
pub mod path_picture;
pub mod pathview;
pub mod poller;
pub mod render;
pub mod table_state;
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

use crate::diff::Deltas;
use crate::error::AppError;
use crate::model::{Snapshot, SourceInfo};
use crate::report;
use crate::source::{PollLoop, RawPoll};
use action::{Effect, Outcome};
use live_view::LiveView;
use poller::{PollMsg, PollerConfig, PollerHandle};
use theme::Theme;

/// What the live view starts from: the source's poll loop opened (and recording) by the
/// options layer, and the options that concern the screen.
pub struct LiveSetup {
    pub signals: terminal::Signals,
    pub polls: PollLoop,
    /// A poll made before the screen was set up (to fail early): shown first.
    pub first: Option<RawPoll>,
    pub table: String,
    /// Tables listed on every poll besides the one on screen (the ones recorded).
    pub also: Vec<String>,
    /// `-c`: the chains to start the tree from.
    pub roots: Vec<String>,
    pub interval: std::time::Duration,
    /// A replay played one poll per step key.
    pub step: bool,
    pub names: Option<crate::docker::Names>,
    pub export: ExportTo,
    /// `--export-window`: the export key's window without a baseline.
    pub export_window: std::time::Duration,
    /// What the main area shows first (`--view path`: [`Screen::Path`](mode::Screen),
    /// with every table polled).
    pub screen: mode::Screen,
    /// Colours, palette, tree lines and columns (`--color`, `--theme`, `--ascii`, config).
    pub theme: Theme,
    /// Native nftables tables: read on every poll, and which of them are asked for.
    pub native: Option<(crate::source::native::NativeReader, poller::WantsTable)>,
    /// `-t` named a native table: shown once it is first read.
    pub start_native: Option<String>,
    /// `--trace EXPR`, running: its packets fill the trace pane (`T`).
    pub trace: Option<crate::source::trace::Tracer>,
    /// `--trace-rate` and the timeout, for traces started with `t`.
    pub trace_rate: u32,
    pub timeout: std::time::Duration,
}

pub async fn run(setup: LiveSetup) -> Result<(), AppError> {
    let LiveSetup {
        signals,
        polls,
        first,
        table,
        also,
        roots,
        interval,
        step,
        names,
        export,
        export_window,
        screen,
        theme,
        native,
        start_native,
        trace,
        trace_rate,
        timeout,
    } = setup;
    let mut app = LiveView::new(polls.source().info().clone(), &table, roots, interval);
    app.set_step_mode(step);
    app.names = names.map(Arc::new);
    app.export_window = export_window;
    app.set_start_native(start_native);
    app.set_trace_expr(trace.as_ref().map(|t| t.spec.expr.clone()));
    app.start_on(screen);
    let mut poller = poller::spawn(
        polls,
        PollerConfig {
            table,
            also,
            first,
            interval,
            step,
            all_tables: screen == mode::Screen::Path,
            native: native.map(|(reader, wants)| poller::NativeFeed { reader, wants }),
            trace,
            trace_rate,
            timeout,
        },
    );
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
        theme,
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
    app: &mut LiveView,
    theme: Theme,
    events: &mut S,
    poller: &mut PollerHandle,
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
    // what the status line says of the export being written: `Δ over the last 10s`
    let mut export_said = String::new();
    loop {
        terminal
            .draw(|f| {
                app.layout(f.area());
                render::draw(f, app, &theme);
            })
            .map_err(|e| AppError::Runtime(format!("cannot draw: {e}")))?;
        if app.quit {
            return Ok(());
        }
        let mut asked = Outcome::default();
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => {
                    if let Some(k) = Event::Key(k).as_key_press_event() {
                        // The terminal-hygiene test's way to make the view panic.
                        if k.code == crossterm::event::KeyCode::Char('!') && panic_key {
                            panic!("IPTOP_TEST_PANIC: panicking on request");
                        }
                        if let Some(a) = keymap::action(k, app.typing()) {
                            asked = app.apply(a);
                        }
                    }
                }
                Some(Ok(Event::Mouse(m))) => {
                    if let Some(a) = keymap::mouse(m) {
                        asked = app.apply(a);
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
                    Ok(Ok(p)) => format!("exported {export_said} to {}", p.display()),
                    Ok(Err(e)) => format!("export failed: {e}"),
                    Err(e) => format!("export failed: {e}"),
                });
            },
            _ = &mut shutdown => return Ok(()),
        }
        asked.extend(app.take_outcome());
        for cmd in asked.commands {
            let _ = poller.commands.send(cmd);
        }
        for effect in asked.effects {
            match effect {
                Effect::Export if exporting.is_some() => {
                    app.message = Some("an export is still being written".into());
                }
                Effect::Export => match ExportJob::new(app, export_to) {
                    Ok(job) => {
                        app.message = Some("exporting…".into());
                        export_said = job.said.clone();
                        exporting = Some(tokio::task::spawn_blocking(move || job.run()));
                    }
                    Err(e) => app.message = Some(format!("export failed: {e}")),
                },
            }
        }
    }
}

fn on_poll(app: &mut LiveView, msg: PollMsg) {
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
            app.evaluate_findings();
        }
        PollMsg::Stretched(d) => app.on_stretched(d),
        PollMsg::Ended => app.on_ended(),
        PollMsg::RecordError(e) => app.notify(e),
        PollMsg::Source(info) => app.source = info,
        PollMsg::Traced(p, seen, lost) => app.on_traced(*p, seen, lost),
        PollMsg::Trace(r) => app.on_trace(r),
    }
}

/// Where the export key writes, and in which format.
#[derive(Debug, Clone)]
pub struct ExportTo {
    pub dir: PathBuf,
    pub format: report::Format,
}

/// Writes the current table (all its chains, or only what moved when `f` is on) with the
/// deltas on screen to a new timestamped file; never replaces an existing one.
pub fn export(app: &LiveView, to: &ExportTo) -> Result<PathBuf, String> {
    ExportJob::new(app, to)?.run()
}

/// What an export writes, taken from the view when the key is pressed: it owns all of
/// it, so that the writing can run off the UI task (a big table takes a while).
pub struct ExportJob {
    snap: Arc<Snapshot>,
    deltas: Option<Deltas>,
    start: Option<SystemTime>,
    /// Which window the deltas cover, for the file.
    note: String,
    /// ... and for the status line: `Δ over the last 10s`.
    pub said: String,
    source: SourceInfo,
    roots: Vec<String>,
    moved_only: bool,
    names: Option<Arc<crate::docker::Names>>,
    /// In the file name: `filter`, `filter-legacy` for one back end's tab, `path`.
    table: String,
    /// The path view: every table hook by hook.
    path: bool,
    to: ExportTo,
}

impl ExportJob {
    pub fn new(app: &LiveView, to: &ExportTo) -> Result<ExportJob, String> {
        let v = app.table_data();
        let snap = v
            .snap
            .as_ref()
            .map(|s| s.snapshot().clone())
            .ok_or("nothing to export yet")?;
        if app.screen() == mode::Screen::Path
            && let Some(p) = app.path_snapshot(true)
        {
            return Ok(ExportJob {
                snap: p.snap,
                deltas: p.deltas,
                start: p.start,
                note: format!("{}; the path view", p.note),
                said: p.said,
                source: app.source.clone(),
                roots: Vec::new(),
                moved_only: app.moved_only,
                names: app.names.clone(),
                table: "path".into(),
                path: true,
                to: to.clone(),
            });
        }
        // the view on screen: its drill root, moved-only or hot view, over a stated window
        let w = v.export_window(app.export_window);
        let mut note = w.note;
        let said = w.said;
        if app.screen() == mode::Screen::Hot {
            note.push_str("; the hot view: rules that moved, with their chain paths");
        }
        Ok(ExportJob {
            snap,
            deltas: w.deltas,
            start: w.start,
            note,
            said,
            source: app.source.clone(),
            roots: app
                .drilled()
                .map_or_else(|| app.root_chains().to_vec(), |c| vec![c]),
            moved_only: app.moved_only || (app.screen() == mode::Screen::Hot),
            names: app.names.clone(),
            table: app.table_id().label().replace('·', "-"),
            path: false,
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
            window_note: Some(&self.note),
        };
        let body = if self.path {
            export::render_path(self.to.format, &input)
        } else {
            export::render(self.to.format, &input)
        };
        let body = crate::sanitize::lines(&body);
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
            .to_string()
            .replace(':', "");
        let base = format!("iptop-{}-{}", self.table, stamp.trim_end_matches('Z'));
        let ext = self.to.format.extension();
        // a configured export_dir that does not exist yet is made, readable by its owner
        // only (an export holds the whole rule set)
        if !self.to.dir.as_os_str().is_empty() && !self.to.dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.to.dir)
                .map_err(|e| {
                    format!(
                        "cannot make the export directory {}: {e}",
                        self.to.dir.display()
                    )
                })?;
        }
        let mut last_err = String::new();
        for n in 1..100 {
            let name = if n == 1 {
                format!("{base}.{ext}")
            } else {
                format!("{base}-{n}.{ext}")
            };
            let path = self.to.dir.join(name);
            match crate::files::write_new_file(&path, body.as_bytes(), false) {
                // the status line says where, whatever the working directory
                Ok(()) => return Ok(std::fs::canonicalize(&path).unwrap_or(path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = e.to_string(),
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        Err(last_err)
    }
}
