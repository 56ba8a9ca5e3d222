//! Wires the options to a source and an output: `--once` here, the TUI in [`crate::ui`].

use std::io::Write;
use std::time::Duration;

use crate::cli::Cli;
use crate::diff;
use crate::model::Snapshot;
use crate::report;
use crate::source::live::{LiveConfig, LiveSource};
use crate::source::recording::Recorder;
use crate::source::replay::{ReplayError, ReplaySource};
use crate::source::{PollError, RawPoll, snapshot_reusing};

pub use crate::files::write_new_file;

/// A failure the user must see: one line on stderr and an exit code.
#[derive(Debug)]
pub enum AppError {
    /// Wrong options (exit 2).
    Usage(String),
    /// The firewall, a file or the terminal said no (exit 1).
    Runtime(String),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Usage(_) => 2,
            AppError::Runtime(_) => 1,
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Usage(m) | AppError::Runtime(m) => f.write_str(m),
        }
    }
}

impl From<PollError> for AppError {
    fn from(e: PollError) -> Self {
        AppError::Runtime(e.to_string())
    }
}

/// The recording embedded for `--demo`: a real swarm lab with real traffic.
pub const DEMO: &str = include_str!("../assets/demo.rec");

/// Where polls come from.
pub enum Source {
    Live(Box<LiveSource>),
    Replay(Box<ReplaySource>),
}

impl Source {
    pub async fn open(cli: &Cli) -> Result<Source, AppError> {
        if cli.demo {
            let r = ReplaySource::from_text("demo", DEMO, None)
                .map_err(|e| AppError::Runtime(format!("the built-in demo is damaged: {e}")))?;
            return Ok(Source::Replay(Box::new(
                r.looping(!cli.once).with_kind("demo"),
            )));
        }
        if let Some(path) = &cli.replay {
            let r =
                ReplaySource::open(path, cli.tables.first().map(String::as_str)).map_err(|e| {
                    match e {
                        ReplayError::WrongTable { .. } => AppError::Usage(e.to_string()),
                        e => AppError::Runtime(e.to_string()),
                    }
                })?;
            return Ok(Source::Replay(Box::new(r)));
        }
        let netns = crate::docker::netns::resolve(cli).await?;
        let mut live = LiveSource::new(LiveConfig {
            backend: cli.backend.into(),
            ipv6: cli.ipv6,
            netns: netns.clone(),
            tables: polled_tables(cli),
            timeout: cli.timeout,
            binary: cli.iptables.clone(),
        })
        .map_err(|e| AppError::Runtime(e.to_string()))?;
        if netns != cli.netns {
            // `container:web` says more than the sandbox's file name
            live.label_netns(cli.netns.clone());
        }
        live.probe_version().await;
        Ok(Source::Live(Box::new(live)))
    }

    /// The tables to show: those asked for with `-t`; else filter, or for a replay
    /// without filter the first table it holds.
    pub fn shown_tables(&self, cli: &Cli) -> Vec<String> {
        match self {
            Source::Replay(r) if cli.tables.is_empty() => {
                let have = r.tables();
                if cli.view == crate::cli::View::Services {
                    return crate::explain::services::tables_of(&have);
                }
                if have.iter().any(|t| t == "filter") || have.is_empty() {
                    vec!["filter".to_string()]
                } else {
                    vec![have[0].clone()]
                }
            }
            _ => cli.tables(),
        }
    }

    pub fn info(&self) -> &crate::model::SourceInfo {
        match self {
            Source::Live(l) => l.info(),
            Source::Replay(r) => r.info(),
        }
    }

    /// The next poll: a live source lists now; a replay returns its next recorded poll
    /// (None at its end).
    pub async fn poll(&mut self) -> Option<RawPoll> {
        match self {
            Source::Live(l) => Some(l.poll().await),
            Source::Replay(r) => r.next_poll(),
        }
    }

    pub fn is_replay(&self) -> bool {
        matches!(self, Source::Replay(_))
    }

    /// Where a replayed recording is cut off or damaged, if it is.
    pub fn damage(&self) -> Option<&str> {
        match self {
            Source::Replay(r) => r.damage(),
            Source::Live(_) => None,
        }
    }
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
pub fn start_recording(
    cli: &Cli,
    recorder: &mut Option<Recorder>,
    source: &Source,
) -> Result<(), AppError> {
    if let (Some(r), Some(p)) = (recorder, &cli.record) {
        r.start_session(source.info()).map_err(|e| {
            AppError::Runtime(format!("cannot write the recording {}: {e}", p.display()))
        })?;
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

struct Poller {
    source: Source,
    recorder: Option<Recorder>,
    tables: Vec<String>,
    last: Option<Snapshot>,
}

impl Poller {
    async fn next(&mut self) -> Result<Option<(RawPoll, Snapshot)>, AppError> {
        let mut discontinuity = false;
        let mut raw = loop {
            let Some(raw) = self.source.poll().await else {
                return Ok(None);
            };
            discontinuity |= raw.discontinuity;
            // a recording in which the user switched tables: the polls of these tables
            let has_all = self
                .tables
                .iter()
                .all(|t| raw.listings.iter().any(|l| &l.table == t));
            if has_all || !self.source.is_replay() {
                break raw;
            }
        };
        raw.discontinuity = discontinuity;
        if let Some(rec) = &mut self.recorder {
            rec.write_poll(&raw)
                .map_err(|e| AppError::Runtime(format!("cannot write the recording: {e}")))?;
        }
        let snap = snapshot_reusing(&raw, &self.tables, self.last.as_ref())?;
        self.last = Some(snap.clone());
        Ok(Some((raw, snap)))
    }
}

/// `--once`: one snapshot, or two `--window` apart, printed and done.
pub async fn run_once(cli: &Cli) -> Result<(), AppError> {
    let mut recorder = open_recorder(cli)?;
    let source = Source::open(cli).await?;
    start_recording(cli, &mut recorder, &source)?;
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
    let tables = source.shown_tables(cli);
    let mut poller = Poller {
        source,
        recorder,
        tables,
        last: None,
    };
    let (names, warning) = crate::docker::names_for(cli, poller.source.is_replay()).await;
    if let Some(w) = warning {
        crate::sanitize::eprint_line(&format!("iptop: warning: {w}"));
    }
    let started = tokio::time::Instant::now();
    let (_, first) = poller
        .next()
        .await?
        .ok_or_else(|| AppError::Runtime("the replay holds no poll".into()))?;
    // the header of the session this poll (and the one compared with it) belongs to
    let info = poller.source.info().clone();
    check_chains(cli, &first)?;
    let (snap, deltas, window_start) = match cli.window {
        None => (first, None, None),
        Some(w) => {
            let second = if poller.source.is_replay() {
                replay_sample_after(&mut poller, &first, w).await?
            } else {
                // While recording, poll on the interval through the window so the
                // recording has every step; otherwise just once at its end.
                if poller.recorder.is_some() {
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
            let d = diff::diff(&first, &second);
            let start = first.taken_at;
            (second, Some(d), Some(start))
        }
    };
    let input = report::Input {
        snapshot: &snap,
        deltas: deltas.as_ref(),
        window_start,
        source: &info,
        roots: &cli.chains,
        moved_only: cli.moved_only,
        names: names.as_ref(),
    };
    let out = match cli.view {
        crate::cli::View::Tree => report::render(cli.format, &input),
        crate::cli::View::Services => {
            report::services::render(cli.format, &input).map_err(AppError::Runtime)?
        }
    };
    match &cli.output {
        Some(path) => write_new_file(path, crate::sanitize::lines(&out).as_bytes(), cli.force)
            .map_err(|e| AppError::Runtime(format!("cannot write {}: {e}", path.display()))),
        None => {
            // a terminal gets no raw control character, whatever the format
            let out = crate::sanitize::lines(&out);
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(out.as_bytes())
                .and_then(|_| stdout.flush())
            {
                Ok(()) => Ok(()),
                // `iptop --once | head` is fine
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(AppError::Runtime(format!("cannot write to stdout: {e}"))),
            }
        }
    }
}

/// The recorded poll whose time is closest to `first.at + window`.
async fn replay_sample_after(
    poller: &mut Poller,
    first: &Snapshot,
    window: Duration,
) -> Result<Snapshot, AppError> {
    let goal = first.at + window;
    let mut best: Option<Snapshot> = None;
    while let Some((raw, snap)) = poller.next().await? {
        if raw.discontinuity {
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
        let cmd = <Cli as clap::CommandFactory>::command();
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut out)
            .map_err(|e| AppError::Runtime(format!("cannot render the man page: {e}")))?;
        return std::io::stdout()
            .write_all(&out)
            .map_err(|e| AppError::Runtime(format!("cannot write to stdout: {e}")));
    }
    if cli.list_netns {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AppError::Runtime(format!("cannot start the runtime: {e}")))?;
        return rt.block_on(crate::docker::netns::print(&cli));
    }
    if cli.window.is_some() && !cli.once {
        return Err(AppError::Usage(
            "--window needs --once (the live view shows deltas on every poll)".into(),
        ));
    }
    if cli.view == crate::cli::View::Services {
        crate::explain::services::check_options(&cli).map_err(AppError::Usage)?;
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
    } else {
        rt.block_on(crate::ui::run(cli))
    }
}
