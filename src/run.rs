//! Wires the options to a source and an output: `--once` here, the TUI in [`crate::ui`].

mod trace;

use std::io::Write;
use std::time::Duration;

use crate::cli::Cli;
use crate::diff;
use crate::docker::Names;
use crate::error::AppError;
use crate::model::Snapshot;
use crate::report;
use crate::source::live::LiveConfig;
use crate::source::recording::Recorder;
use crate::source::{CountersFrom, PollLoop, Source, SourceConfig};
use crate::ui;

pub use crate::files::write_new_file;

/// What `Source::open` needs from the options. The namespace of `--netns
/// container:NAME` is resolved through Docker first.
pub async fn source_config(cli: &Cli) -> Result<SourceConfig, AppError> {
    if cli.demo {
        return Ok(SourceConfig::Demo {
            looping: !cli.once && !cli.stream,
        });
    }
    if let Some(path) = &cli.replay {
        return Ok(SourceConfig::Replay {
            path: path.clone(),
            table: cli.tables.first().cloned(),
        });
    }
    let netns =
        crate::docker::netns::resolve(cli.docker_host.as_deref(), cli.netns.as_deref()).await?;
    Ok(SourceConfig::Live {
        live: LiveConfig {
            backend: cli.backend.into(),
            ipv6: cli.ipv6,
            netns,
            tables: polled_tables(cli),
            timeout: cli.timeout,
            binary: cli.iptables.clone(),
        },
        netns_label: cli.netns.clone(),
        counters: counters_from(cli)?,
    })
}

/// `--source`, with what the other options allow: a binary of the user's choosing, or a
/// recording (which keeps the listings iptables prints), has auto use the listing.
fn counters_from(cli: &Cli) -> Result<CountersFrom, AppError> {
    use crate::cli::SourceArg;
    Ok(match cli.source {
        SourceArg::Iptables => CountersFrom::Listing,
        SourceArg::Kernel if cli.record.is_some() => {
            return Err(AppError::Usage(
                "--record keeps the listings iptables prints: use it with --source iptables (or auto)"
                    .into(),
            ));
        }
        SourceArg::Kernel => CountersFrom::Kernel,
        SourceArg::Auto if cli.iptables.is_some() || cli.record.is_some() => CountersFrom::Listing,
        SourceArg::Auto => CountersFrom::Auto,
    })
}

/// The tables to show: those asked for with `-t`; else filter, or for a replay
/// without filter the first table it holds.
pub fn shown_tables(source: &Source, cli: &Cli) -> Vec<String> {
    if source.is_replay() && cli.tables.is_empty() {
        let have = source.replayed_tables();
        if cli.view == crate::cli::View::Services {
            return crate::explain::services::tables_of(&have);
        }
        if cli.view == crate::cli::View::Path {
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
        cli.tables()
    }
}

/// Names from Docker for this run (see [`crate::docker::names_for`]).
pub async fn docker_names(cli: &Cli, replay: bool) -> (Option<Names>, Option<String>) {
    crate::docker::names_for(cli.docker_host.as_deref(), cli.netns.as_deref(), replay).await
}

/// Opens `--record FILE`, if given: before the source starts, so that a file iptop
/// may not record into is refused before anything runs.
pub fn open_recorder(cli: &Cli) -> Result<Option<Recorder>, AppError> {
    let Some(p) = &cli.record else {
        return Ok(None);
    };
    Recorder::open(p)
        .map(Some)
        .map_err(|e| AppError::Runtime(format!("cannot record into {}: {e}", p.display())))
}

/// Starts the recording's session with the source's header.
pub async fn start_recording(
    cli: &Cli,
    recorder: &mut Option<Recorder>,
    source: &mut Source,
) -> Result<(), AppError> {
    if let (Some(r), Some(p)) = (recorder, &cli.record) {
        source.settle().await;
        r.start_session(source.info()).map_err(|e| {
            AppError::Runtime(format!("cannot write the recording {}: {e}", p.display()))
        })?;
        source.record_native(r.native());
    }
    Ok(())
}

/// The tables a live source lists on every poll: those shown, and with `--record` every
/// table named with `-t` (filter and nat when none is), so that the recording holds them
/// whichever is on screen.
pub fn record_tables(cli: &Cli) -> Vec<String> {
    match (&cli.record, cli.tables.is_empty()) {
        (None, _) => Vec::new(),
        (Some(_), true) => vec!["filter".to_string(), "nat".to_string()],
        (Some(_), false) => cli.tables(),
    }
}

/// The tables the live view lists on every poll besides the one on screen: every table
/// named with `-t` (`-t filter -t nat` gives the findings about published ports both),
/// and the recorded ones.
fn live_tables(cli: &Cli) -> Vec<String> {
    let mut t = cli.tables();
    for r in record_tables(cli) {
        if !t.contains(&r) {
            t.push(r);
        }
    }
    t
}

fn polled_tables(cli: &Cli) -> Vec<String> {
    let mut t = cli.tables();
    for r in record_tables(cli) {
        if !t.contains(&r) {
            t.push(r);
        }
    }
    t
}

/// Checks that every `-c` chain exists in at least one of the tables.
pub fn check_chains(cli: &Cli, snap: &Snapshot) -> Result<(), AppError> {
    for c in &cli.chains {
        if !snap.tables.iter().any(|t| t.chain(c).is_some()) {
            let names: Vec<&str> = snap.tables.iter().map(|t| t.name.as_str()).collect();
            return Err(AppError::Runtime(format!(
                "chain `{c}` not found in table {} (iptables -t {} -L lists the chains)",
                names.join(", "),
                names.first().copied().unwrap_or("filter")
            )));
        }
    }
    Ok(())
}

/// `--once`'s polls: the shared [`PollLoop`], asked for the shown tables together, and
/// the native nftables tables read beside each poll.
struct OncePolls {
    polls: PollLoop,
    tables: Vec<String>,
    native: Option<NativePolls>,
}

/// The native tables asked for, and why they cannot be read (said once, after the
/// output, so that a run that fails says only why).
struct NativePolls {
    reader: crate::source::native::NativeReader,
    wanted: crate::cli::NativeTables,
    warning: Option<String>,
}

impl NativePolls {
    /// Adds the native tables asked for to `snap`; a failure leaves the iptables
    /// tables as they are. A table named with `-t` that is nowhere is an error.
    async fn add_to(&mut self, snap: &mut Snapshot) -> Result<(), AppError> {
        match self.reader.read().await {
            Ok(tables) => {
                if let crate::cli::NativeTables::Named(names) = &self.wanted {
                    let probe = |n: &str| crate::cli::NativeTables::Named(vec![n.to_string()]);
                    if let Some(n) = names.iter().find(|n| {
                        !tables.iter().any(|t| {
                            probe(n).wants(t.family.as_deref().unwrap_or_default(), &t.name)
                        })
                    }) {
                        return Err(AppError::Runtime(format!(
                            "table `{n}` is neither an iptables table nor a native nftables table here (nft list tables lists them)"
                        )));
                    }
                }
                snap.tables.extend(tables.into_iter().filter(|t| {
                    self.wanted
                        .wants(t.family.as_deref().unwrap_or_default(), &t.name)
                }));
                if let Some(n) = self.reader.take_notice() {
                    self.warning.get_or_insert(n);
                }
            }
            Err(e) => {
                self.warning.get_or_insert_with(|| e.to_string());
            }
        }
        Ok(())
    }
}

impl OncePolls {
    async fn next(&mut self) -> Result<Option<(bool, Snapshot)>, AppError> {
        let Some(raw) = self.polls.next_raw(&self.tables).await else {
            return Ok(None);
        };
        let polled = self.polls.parse(raw, &self.tables).await;
        if let Some(e) = polled.record_error {
            return Err(AppError::Runtime(format!(
                "cannot write the recording: {e}"
            )));
        }
        let mut snap = polled.snapshot_of(&self.tables)?;
        if self.tables.is_empty() {
            // only native tables: the poll's moment is this one
            snap.taken_at = std::time::SystemTime::now();
            snap.at = polled.at;
        }
        if let Some(n) = &mut self.native {
            n.add_to(&mut snap).await?;
        }
        Ok(Some((polled.discontinuity, snap)))
    }

    fn source(&self) -> &Source {
        self.polls.source()
    }
}

/// `--once`: one snapshot, or two `--window` apart, printed and done.
pub async fn run_once(cli: &Cli) -> Result<(), AppError> {
    let mut recorder = open_recorder(cli)?;
    let mut source = Source::open(source_config(cli).await?).await?;
    start_recording(cli, &mut recorder, &mut source).await?;
    // said even when the polls shown are whole (the recording is not), unless the
    // run fails: then its one line says why
    let damage = source.damage().map(str::to_string);
    let result = once(cli, source, recorder).await;
    if let (Ok(()), Some(d)) = (&result, damage) {
        crate::sanitize::eprint_line(&format!("iptop: warning: {d}"));
    }
    result
}

async fn once(cli: &Cli, source: Source, recorder: Option<Recorder>) -> Result<(), AppError> {
    let tables = shown_tables(&source, cli);
    let wanted = cli.native_tables();
    let native = match (&wanted, source.native_reader(cli.timeout)) {
        (crate::cli::NativeTables::Named(v), _) if v.is_empty() => None,
        (_, Some(reader)) => Some(NativePolls {
            reader,
            wanted,
            warning: None,
        }),
        (_, None) => None,
    };
    let mut poller = OncePolls {
        polls: PollLoop::new(source, recorder),
        tables,
        native,
    };
    let (names, warning) = docker_names(cli, poller.source().is_replay()).await;
    if let Some(w) = warning {
        crate::sanitize::eprint_line(&format!("iptop: warning: {w}"));
    }
    let started = tokio::time::Instant::now();
    let (_, first) = poller
        .next()
        .await?
        .ok_or_else(|| AppError::Runtime("the replay holds no poll".into()))?;
    // the header of the session this poll (and the one compared with it) belongs to
    let info = poller.source().info().clone();
    check_chains(cli, &first)?;
    let mut tracer = trace::start(
        cli,
        poller.source(),
        crate::source::trace::backends(&first.tables),
    )
    .await?;
    let (mut snap, deltas, window_start) = match cli.window {
        None => (first, None, None),
        Some(w) => {
            let second = if poller.source().is_replay() {
                replay_sample_after(&mut poller, &first, w).await?
            } else {
                // While recording, poll on the interval through the window so the
                // recording has every step; otherwise just once at its end.
                if poller.polls.is_recording() {
                    let mut next = started + cli.interval;
                    while next < started + w {
                        tokio::time::sleep_until(next).await;
                        poller.next().await?;
                        next += cli.interval;
                    }
                }
                tokio::time::sleep_until(started + w).await;
                poller
                    .next()
                    .await?
                    .map(|(_, s)| s)
                    .ok_or_else(|| AppError::Runtime("the source ended".into()))?
            };
            if let Some(t) = &tracer {
                t.settle().await;
            }
            let d = diff::diff(&first, &second);
            let start = first.taken_at;
            (second, Some(d), Some(start))
        }
    };
    // the window's traced packets: on the rules without counter too
    let traced = tracer.as_mut().map(crate::source::trace::Tracer::drain);
    if let Some(p) = &traced {
        crate::source::trace::counted::mark(&mut snap.tables, &p.iter());
    }
    let input = report::Input {
        snapshot: &snap,
        deltas: deltas.as_ref(),
        window_start,
        source: &info,
        roots: &cli.chains,
        moved_only: cli.moved_only,
        names: names.as_ref(),
        window_note: None,
    };
    let out = match cli.view {
        // the report is let go with the process, not freed piece by piece (a fifth of
        // the CPU of a 50k-rule export)
        crate::cli::View::Tree if cli.format == crate::cli::Format::Json => {
            let r = report::build(&input);
            let s = report::json_of(&r);
            std::mem::forget(r);
            s
        }
        crate::cli::View::Tree => ui::export::render(cli.format.into(), &input),
        crate::cli::View::Services => {
            report::services::render(cli.format.into(), &input).map_err(AppError::Runtime)?
        }
        crate::cli::View::Path => ui::export::render_path(cli.format.into(), &input),
    };
    let out = trace::add(cli, tracer.as_ref(), traced.as_deref(), out);
    if let Some(w) = poller.native.as_ref().and_then(|n| n.warning.as_ref()) {
        crate::sanitize::eprint_line(&format!("iptop: warning: {w}"));
    }
    // the same for the snapshots: the process ends right after the output
    std::mem::forget(snap);
    std::mem::forget(deltas);
    std::mem::forget(poller);
    // no raw control, bidi or invisible character from the rules' text, whatever the
    // format and wherever it goes (colours are added after)
    let out = crate::sanitize::lines(&out).into_owned();
    let out = match (cli.format, cli.view) {
        (crate::cli::Format::Text, _) => {
            let to_stdout = cli.output.as_deref().is_none_or(|p| p.as_os_str() == "-");
            crate::look::once_text(&cli.look(), to_stdout, out)
        }
        _ => out,
    };
    match &cli.output {
        Some(path) => crate::output::write(path, out.as_bytes(), cli.force),
        None => crate::output::write_stdout(out.as_bytes()),
    }
    .map_err(AppError::Runtime)
}

/// The recorded poll whose time is closest to `first.at + window`.
async fn replay_sample_after(
    poller: &mut OncePolls,
    first: &Snapshot,
    window: Duration,
) -> Result<Snapshot, AppError> {
    let goal = first.at + window;
    let mut best: Option<Snapshot> = None;
    while let Some((discontinuity, snap)) = poller.next().await? {
        if discontinuity {
            break;
        }
        let closer = best
            .as_ref()
            .is_none_or(|b| goal.abs_diff(snap.at) <= goal.abs_diff(b.at));
        if !closer {
            break;
        }
        let past = snap.at >= goal;
        best = Some(snap);
        if past {
            break;
        }
    }
    best.ok_or_else(|| {
        AppError::Runtime("the replay has only one poll: no window to compare".into())
    })
}

/// Entry point after option parsing.
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
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AppError::Runtime(format!("cannot start the runtime: {e}")))?;
        return rt.block_on(crate::docker::netns::print(
            cli.docker_host.as_deref(),
            cli.format == crate::cli::Format::Json,
        ));
    }
    crate::cli::check_output_options(&cli).map_err(AppError::Usage)?;
    if cli.window.is_some() && !cli.once {
        return Err(AppError::Usage(
            "--window needs --once (the live view shows deltas on every poll)".into(),
        ));
    }
    trace::check(&cli)?;
    if cli.view == crate::cli::View::Services {
        check_services_options(&cli)?;
    }
    if cli.tables().is_empty()
        && (cli.stream || cli.listen.is_some() || cli.view == crate::cli::View::Services)
    {
        return Err(AppError::Usage(
            "--stream, --listen and --view services show native nftables tables beside an iptables table, so far: add one (-t filter)".into(),
        ));
    }
    if cli.view == crate::cli::View::Path && !cli.chains.is_empty() {
        return Err(AppError::Usage(
            "-c starts the tree from a chain; --view path starts from the hooks".into(),
        ));
    }
    if cli.moved_only && cli.once && cli.window.is_none() {
        return Err(AppError::Usage(
            "--moved-only needs --window: without a window nothing has moved".into(),
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::Runtime(format!("cannot start the runtime: {e}")))?;
    if cli.once {
        rt.block_on(run_once(&cli))
    } else if let Some(addr) = cli.listen {
        rt.block_on(listen(&cli, addr))
    } else if cli.stream {
        rt.block_on(stream(&cli))
    } else {
        rt.block_on(live(cli))
    }
}

/// The source, recording and poll loop of `--stream` and `--listen`, and the tables
/// they show.
async fn open_polls(cli: &Cli) -> Result<(PollLoop, Vec<String>), AppError> {
    let mut recorder = open_recorder(cli)?;
    let mut source = Source::open(source_config(cli).await?).await?;
    start_recording(cli, &mut recorder, &mut source).await?;
    let tables = shown_tables(&source, cli);
    Ok((PollLoop::new(source, recorder), tables))
}

/// The native nftables tables the poll loop reads beside iptables' (every one unless
/// `-t` named some; none when `-t` named only iptables tables, or from a replay).
fn native_feed(cli: &Cli, source: &Source) -> Option<crate::source::native::NativeFeed> {
    let wanted = cli.native_tables();
    if matches!(&wanted, crate::cli::NativeTables::Named(v) if v.is_empty()) {
        return None;
    }
    let reader = source.native_reader(cli.timeout)?;
    Some(crate::source::native::NativeFeed {
        reader,
        wants: Box::new(move |f: &str, n: &str| wanted.wants(f, n)),
    })
}

/// `--stream`.
async fn stream(cli: &Cli) -> Result<(), AppError> {
    let dest = match &cli.output {
        Some(p) => crate::output::Dest::of(p)
            .map_err(|e| AppError::Runtime(format!("cannot write {}: {e}", p.display())))?,
        None => crate::output::Dest::Stdout,
    };
    let (polls, tables) = open_polls(cli).await?;
    let native = native_feed(cli, polls.source());
    let out = dest.open_stream(cli.force).map_err(|e| {
        AppError::Runtime(match &cli.output {
            Some(p) => format!("cannot write {}: {e}", p.display()),
            None => format!("cannot write to stdout: {e}"),
        })
    })?;
    let (names, warning) = docker_names(cli, polls.source().is_replay()).await;
    if let Some(w) = warning {
        crate::sanitize::eprint_line(&format!("iptop: warning: {w}"));
    }
    let mut polls = polls;
    if cli.trace.is_some() {
        // the version says which back end a plain iptables is; the first poll's tables
        // are checked again by the stream
        polls.source_mut().settle().await;
    }
    let trace = trace::start(cli, polls.source(), []).await?;
    crate::stream::run(crate::stream::StreamSetup {
        polls,
        tables,
        interval: cli.interval,
        count: cli.count,
        roots: cli.chains.clone(),
        moved_only: cli.moved_only,
        names,
        out,
        native,
        trace,
    })
    .await
}

/// `--listen ADDR`.
async fn listen(cli: &Cli, addr: std::net::SocketAddr) -> Result<(), AppError> {
    // bound first: a taken port is said before anything polls
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| AppError::Runtime(format!("cannot listen on {addr}: {e}")))?;
    let (polls, tables) = open_polls(cli).await?;
    let native = native_feed(cli, polls.source());
    crate::metrics::run(listener, polls, tables, native, cli.interval).await
}

/// Options `--view services` cannot honour, as a usage error.
fn check_services_options(cli: &Cli) -> Result<(), AppError> {
    let why = if !cli.once {
        "--view services needs --once (the live view shows the tree)"
    } else if cli.format == crate::cli::Format::Svg {
        "--view services prints text or JSON, not SVG"
    } else if cli.moved_only || !cli.chains.is_empty() {
        "--moved-only and -c apply to the tree, not to --view services"
    } else {
        return Ok(());
    };
    Err(AppError::Usage(why.into()))
}

/// The live view: the source opened and recording started before the screen is taken.
async fn live(cli: Cli) -> Result<(), AppError> {
    ui::terminal::require_terminal()?;
    let signals = ui::terminal::Signals::catch();
    let mut recorder = open_recorder(&cli)?;
    let mut source = Source::open(source_config(&cli).await?).await?;
    start_recording(&cli, &mut recorder, &mut source).await?;
    // only native tables named: the iptables listing polled is filter's
    let shown = shown_tables(&source, &cli);
    let table = shown
        .first()
        .cloned()
        .unwrap_or_else(|| "filter".to_string());
    let wanted = cli.native_tables();
    let start_native = match &wanted {
        crate::cli::NativeTables::Named(v) if cli.tables().is_empty() => v.first().cloned(),
        // a replay of native tables only (a pasted nft ruleset): the first of them
        _ if shown.is_empty() => Some(crate::ui::live_view::FIRST_NATIVE.to_string()),
        _ => None,
    };
    let native = native_feed(&cli, &source).map(|f| (f.reader, f.wants));
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
    let names = docker_names(&cli, replay).await.0;
    let trace = trace::start(&cli, polls.source(), listed).await?;
    ui::run(ui::LiveSetup {
        trace,
        trace_rate: cli.trace_rate,
        timeout: cli.timeout,
        signals,
        polls,
        first,
        table,
        also: live_tables(&cli),
        roots: cli.chains.clone(),
        interval: cli.interval,
        step: cli.step && replay,
        names,
        export: ui::ExportTo {
            dir: cli
                .export_dir
                .clone()
                .unwrap_or_else(|| std::path::PathBuf::from(".")),
            format: match cli.export_format {
                Some(f) if !cli.was_given("format") => f.into(),
                _ => cli.format.into(),
            },
        },
        export_window: cli.export_window,
        screen: if cli.view == crate::cli::View::Path {
            crate::ui::mode::Screen::Path
        } else {
            crate::ui::mode::Screen::Tree
        },
        theme: ui::theme::Theme::from_options(crate::look::use_color(cli.color, true), &cli.look()),
        native,
        start_native,
    })
    .await
}
