//! Wires the options to a source and an output: `--once` here, the TUI in [`crate::ui`].

mod once;
mod trace;

use std::io::Write;

use crate::choices::{Format, View};
use crate::cli::Cli;
use crate::docker::Names;
use crate::error::AppError;
use crate::settings::{Mode, OutputSettings, Settings, SourceSettings, ViewSettings};
use crate::source::live::LiveConfig;
use crate::source::recording::Recorder;
use crate::source::schedule::Schedule;
use crate::source::{PollLoop, Source, SourceConfig};
use crate::ui;

pub use crate::files::write_new_file;

/// What `Source::open` needs from the settings. The namespace of `--netns
/// container:NAME` is resolved through Docker first.
pub async fn source_config(s: &SourceSettings) -> Result<SourceConfig, AppError> {
    if s.demo {
        return Ok(SourceConfig::Demo {
            looping: s.demo_loops,
        });
    }
    if let Some(path) = &s.replay {
        return Ok(SourceConfig::Replay {
            path: path.clone(),
            table: s.named.first().cloned(),
        });
    }
    let netns = crate::docker::netns::resolve(s.docker_host.as_deref(), s.netns.as_deref()).await?;
    Ok(SourceConfig::Live {
        live: LiveConfig {
            backend: s.backend,
            ipv6: s.ipv6,
            netns,
            tables: s.polled.clone(),
            timeout: s.timeout,
            binary: s.iptables.clone(),
        },
        netns_label: s.netns.clone(),
        counters: s.counters,
    })
}

/// The tables to show: those asked for with `-t`; else filter, or for a replay
/// without filter the first table it holds.
pub fn shown_tables(source: &Source, s: &SourceSettings) -> Vec<String> {
    if source.is_replay() && s.named.is_empty() {
        let have = source.replayed_tables();
        if s.view == View::Services {
            return crate::explain::services::tables_of(&have);
        }
        if s.view == View::Path {
            return have;
        }
        if have.is_empty() && source.native_reader(std::time::Duration::ZERO).is_some() {
            // a pasted `nft list ruleset`: native tables only
            Vec::new()
        } else if have.iter().any(|t| t == "filter") || have.is_empty() {
            vec!["filter".to_string()]
        } else {
            vec![have[0].clone()]
        }
    } else {
        s.tables.clone()
    }
}

/// Names from Docker for this run (see [`crate::docker::names_for`]).
pub async fn docker_names(s: &SourceSettings, replay: bool) -> (Option<Names>, Option<String>) {
    crate::docker::names_for(s.docker_host.as_deref(), s.netns.as_deref(), replay).await
}

/// The source opened, with `--record FILE` opened before it starts (a file iptop may not
/// record into is refused before anything runs) and its session started with the
/// source's header.
pub async fn open_source(s: &SourceSettings) -> Result<(Source, Option<Recorder>), AppError> {
    let mut recorder =
        match &s.record {
            None => None,
            Some(p) => Some(Recorder::open(p).map_err(|e| {
                AppError::Runtime(format!("cannot record into {}: {e}", p.display()))
            })?),
        };
    let mut source = Source::open(source_config(s).await?).await?;
    if let (Some(r), Some(p)) = (&mut recorder, &s.record) {
        source.settle().await;
        r.start_session(source.info()).map_err(|e| {
            AppError::Runtime(format!("cannot write the recording {}: {e}", p.display()))
        })?;
        source.record_native(r.native());
    }
    Ok((source, recorder))
}

/// Entry point after option parsing: what prints and exits at once, else the settings
/// made and the mode run.
pub fn run(cli: Cli) -> Result<(), AppError> {
    if let Some(shell) = cli.completions {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut cmd, "iptop", &mut std::io::stdout());
        return Ok(());
    }
    if cli.man {
        let page = crate::manpage::render()
            .map_err(|e| AppError::Runtime(format!("cannot render the man page: {e}")))?;
        return std::io::stdout()
            .write_all(page.as_bytes())
            .map_err(|e| AppError::Runtime(format!("cannot write to stdout: {e}")));
    }
    if cli.list_netns {
        let json = cli.format == Format::Json;
        return runtime()?.block_on(crate::docker::netns::print(
            cli.docker_host.as_deref(),
            json,
        ));
    }
    let Settings {
        mode,
        source,
        output,
        view,
    } = Settings::new(cli)?;
    let rt = runtime()?;
    match mode {
        Mode::Once => rt.block_on(once::run_once(&source, &output)),
        Mode::Listen(addr) => rt.block_on(listen(&source, addr)),
        Mode::Stream { count } => rt.block_on(stream(&source, &output, count)),
        Mode::Live => rt.block_on(live(&source, output, view)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::Runtime(format!("cannot start the runtime: {e}")))
}

/// The source, recording and poll schedule of `--once`, `--stream` and `--listen`:
/// the tables they show, with the native nftables tables asked for.
async fn open_schedule(s: &SourceSettings) -> Result<Schedule, AppError> {
    let (source, recorder) = open_source(s).await?;
    let tables = shown_tables(&source, s);
    let native = native_feed(s, &source);
    Ok(Schedule::new(
        PollLoop::new(source, recorder),
        tables,
        native,
        s.interval,
    ))
}

/// The native nftables tables the poll loop reads beside iptables' (every one unless
/// `-t` named some; none when `-t` named only iptables tables, or from a replay).
fn native_feed(s: &SourceSettings, source: &Source) -> Option<crate::source::native::NativeFeed> {
    if s.native.none() {
        return None;
    }
    let reader = source.native_reader(s.timeout)?;
    let wanted = s.native.clone();
    Some(crate::source::native::NativeFeed {
        reader,
        wants: Box::new(move |f: &str, n: &str| wanted.wants(f, n)),
    })
}

/// `--stream`.
async fn stream(
    s: &SourceSettings,
    output: &OutputSettings,
    count: Option<u64>,
) -> Result<(), AppError> {
    let dest = match &output.file {
        Some(p) => crate::output::Dest::of(p)
            .map_err(|e| AppError::Runtime(format!("cannot write {}: {e}", p.display())))?,
        None => crate::output::Dest::Stdout,
    };
    let mut schedule = open_schedule(s).await?;
    let out = dest.open_stream(output.force).map_err(|e| {
        AppError::Runtime(match &output.file {
            Some(p) => format!("cannot write {}: {e}", p.display()),
            None => format!("cannot write to stdout: {e}"),
        })
    })?;
    let (names, warning) = docker_names(s, schedule.source().is_replay()).await;
    if let Some(w) = warning {
        crate::sanitize::eprint_line(&format!("iptop: warning: {w}"));
    }
    if s.trace.is_some() {
        // the version says which back end a plain iptables is; the first poll's tables
        // are checked again by the stream
        schedule.source_mut().settle().await;
    }
    let trace = trace::start(s.trace.as_ref(), s.timeout, schedule.source(), []).await?;
    crate::stream::run(crate::stream::StreamSetup {
        schedule,
        count,
        roots: output.roots.clone(),
        moved_only: output.moved_only,
        names,
        out,
        trace,
    })
    .await
}

/// `--listen ADDR`.
async fn listen(s: &SourceSettings, addr: std::net::SocketAddr) -> Result<(), AppError> {
    // bound first: a taken port is said before anything polls
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| AppError::Runtime(format!("cannot listen on {addr}: {e}")))?;
    crate::metrics::run(listener, open_schedule(s).await?).await
}

/// The live view: the source opened and recording started before the screen is taken.
async fn live(
    s: &SourceSettings,
    output: OutputSettings,
    view: ViewSettings,
) -> Result<(), AppError> {
    ui::terminal::require_terminal()?;
    let signals = ui::terminal::Signals::catch();
    let (source, recorder) = open_source(s).await?;
    // only native tables named: the iptables listing polled is filter's
    let shown = shown_tables(&source, s);
    let table = shown
        .first()
        .cloned()
        .unwrap_or_else(|| "filter".to_string());
    // a replay of native tables only (a pasted nft ruleset): the first of them
    let start_native = view.start_native.clone().or_else(|| {
        shown
            .is_empty()
            .then(|| crate::ui::live_view::FIRST_NATIVE.to_string())
    });
    let native = native_feed(s, &source).map(|f| (f.reader, f.wants));
    let replay = source.is_replay();
    let mut polls = PollLoop::new(source, recorder);
    // A poll before the screen is taken: when every poll would fail the same way (not
    // root, no iptables, a namespace iptables cannot enter), say so on one line, as
    // --once does, instead of a full screen that retries.
    // the back ends of the first poll's tables: a trace refuses iptables-legacy's
    let mut listed = Vec::new();
    let first = if replay {
        None
    } else {
        let raw = polls.source_mut().poll().await;
        if let Some(raw) = &raw {
            match crate::source::snapshot_from(raw, std::slice::from_ref(&table)) {
                Err(e) if e.is_fatal() => return Err(e.into()),
                Err(_) => {}
                Ok(s) => listed.extend(crate::source::trace::backends(&s.tables)),
            }
        }
        raw
    };
    // asked once, before the screen: a Docker that does not answer costs one timeout
    let names = docker_names(s, replay).await.0;
    let trace = trace::start(s.trace.as_ref(), s.timeout, polls.source(), listed).await?;
    ui::run(ui::LiveSetup {
        trace,
        trace_rate: s.trace_rate,
        timeout: s.timeout,
        signals,
        polls,
        first,
        table,
        also: s.polled.clone(),
        roots: output.roots,
        interval: s.interval,
        step: s.step && replay,
        names,
        export: ui::ExportTo {
            dir: output.export_dir,
            format: output.export_format,
        },
        export_window: output.export_window,
        screen: view.screen,
        theme: ui::theme::Theme::from_options(
            crate::look::use_color(output.look.color, true),
            &output.look,
        ),
        native,
        start_native,
    })
    .await
}
