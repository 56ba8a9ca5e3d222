//! The options as the program uses them: made once from [`Cli`] (after the config file
//! filled what the flags left) by [`Settings::new`], which also refuses the combinations
//! clap cannot say (those that depend on an option's value), and handed down in parts:
//! what to read ([`SourceSettings`]), what to print and how it looks
//! ([`OutputSettings`]), and the live view's start ([`ViewSettings`]). Nothing below the
//! wiring sees [`Cli`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::choices::{Format, View};
use crate::cli::{BackendArg, Cli, SourceArg};
use crate::error::AppError;
use crate::look::Look;
use crate::model::TABLES;
use crate::source::CountersFrom;
use crate::source::live::BackendChoice;
use crate::source::trace::TraceSpec;

/// What iptop does with the polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--once`: one snapshot (or two `--window` apart), printed.
    Once,
    /// `--stream`: one JSON document per poll, `--count` of them at most.
    Stream { count: Option<u64> },
    /// `--listen ADDR`: `/metrics`.
    Listen(SocketAddr),
    /// The live view.
    Live,
}

/// The options, checked, in the parts that the stages take.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    pub source: SourceSettings,
    pub output: OutputSettings,
    pub view: ViewSettings,
}

/// What to read, and when.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// `--demo`; it loops in the live view.
    pub demo: bool,
    pub demo_loops: bool,
    /// `--replay FILE`.
    pub replay: Option<PathBuf>,
    /// `-t` as given (after the config file): iptables tables and native tables' names.
    pub named: Vec<String>,
    /// The iptables tables shown: those named, else filter (nat and filter for `--view
    /// services`, every table for `--view path`); empty when only native tables are named.
    pub tables: Vec<String>,
    /// The iptables tables a live source lists on every poll: those shown, and with
    /// `--record` every table named (filter and nat when none is).
    pub polled: Vec<String>,
    /// The native nftables tables asked for.
    pub native: NativeTables,
    /// `--view`: a replay picks the tables it shows by it.
    pub view: View,
    pub backend: BackendChoice,
    pub counters: CountersFrom,
    /// `--iptables PATH`.
    pub iptables: Option<PathBuf>,
    pub ipv6: bool,
    /// `--netns` as given (resolved when the source opens).
    pub netns: Option<String>,
    pub docker_host: Option<String>,
    /// How long an iptables or nft child may run.
    pub timeout: Duration,
    pub interval: Duration,
    /// `--window` of `--once`.
    pub window: Option<Duration>,
    /// `--record FILE`.
    pub record: Option<PathBuf>,
    /// `--step`: a replay plays one poll per key press.
    pub step: bool,
    /// `--trace EXPR` with its `--trace-rate`.
    pub trace: Option<TraceSpec>,
    /// `--trace-rate`, for traces started in the live view.
    pub trace_rate: u32,
}

/// What to print, where, and how it looks.
#[derive(Debug, Clone)]
pub struct OutputSettings {
    /// `--format` of `--once`.
    pub format: Format,
    pub view: View,
    /// `-o FILE` (`-` is stdout).
    pub file: Option<PathBuf>,
    pub force: bool,
    pub moved_only: bool,
    /// `-c`: the chains the tree starts from.
    pub roots: Vec<String>,
    pub look: Look,
    /// The live view's exports (key `s`): where, in which format, over which window.
    pub export_dir: PathBuf,
    pub export_format: Format,
    pub export_window: Duration,
}

/// How the live view starts.
#[derive(Debug, Clone)]
pub struct ViewSettings {
    /// What the main area shows first (`--view path`: the path view).
    pub screen: crate::ui::mode::Screen,
    /// `-t` named only native tables: the first, shown once it is read.
    pub start_native: Option<String>,
}

impl Settings {
    /// The settings of `cli`, or the usage error of a combination that cannot run.
    pub fn new(cli: Cli) -> Result<Settings, AppError> {
        check(&cli).map_err(|e| AppError::Usage(e.into()))?;
        let mode = if cli.once {
            Mode::Once
        } else if let Some(addr) = cli.listen {
            Mode::Listen(addr)
        } else if cli.stream {
            Mode::Stream { count: cli.count }
        } else {
            Mode::Live
        };
        let tables = iptables_tables(&cli.tables, cli.view);
        let native = native_tables(&cli.tables);
        let polled = polled_tables(&tables, &cli.tables, cli.record.is_some());
        let start_native = match &native {
            NativeTables::Named(v) if tables.is_empty() => v.first().cloned(),
            _ => None,
        };
        let export_format = match cli.export_format {
            Some(f) if !cli.was_given("format") => f,
            _ => cli.format,
        };
        let look = Look {
            color: cli.color,
            theme: cli.theme,
            ascii: cli.ascii,
            columns: cli.columns,
        };
        Ok(Settings {
            source: SourceSettings {
                demo: cli.demo,
                demo_loops: mode == Mode::Live,
                replay: cli.replay,
                counters: counters_from(cli.source, cli.iptables.is_some(), cli.record.is_some())?,
                named: cli.tables,
                tables,
                polled,
                native,
                view: cli.view,
                backend: cli.backend.into(),
                iptables: cli.iptables,
                ipv6: cli.ipv6,
                netns: cli.netns,
                docker_host: cli.docker_host,
                timeout: cli.timeout,
                interval: cli.interval,
                window: cli.window,
                record: cli.record,
                step: cli.step,
                trace: cli.trace.map(|expr| TraceSpec {
                    expr,
                    rate: cli.trace_rate,
                }),
                trace_rate: cli.trace_rate,
            },
            output: OutputSettings {
                format: cli.format,
                view: cli.view,
                file: cli.output,
                force: cli.force,
                moved_only: cli.moved_only,
                roots: cli.chains,
                look,
                export_dir: cli.export_dir.unwrap_or_else(|| PathBuf::from(".")),
                export_format,
                export_window: cli.export_window,
            },
            view: ViewSettings {
                screen: if cli.view == View::Path {
                    crate::ui::mode::Screen::Path
                } else {
                    crate::ui::mode::Screen::Tree
                },
                start_native,
            },
            mode,
        })
    }
}

/// The combinations that depend on an option's value, which clap's `requires` and
/// `conflicts_with` (on the options in `cli.rs`) cannot say.
fn check(cli: &Cli) -> Result<(), &'static str> {
    if cli.stream && cli.was_given("format") && cli.format != Format::Json {
        return Err("--stream prints JSON documents (NDJSON): use --format json or leave it out");
    }
    // (clap's `requires_if` of --view services skips --once, which conflicts with --stream)
    if cli.stream && cli.view != View::Tree {
        return Err(
            "--stream prints the tree: --view services needs --once, --view path --once or the live view",
        );
    }
    if cli.trace.is_some() {
        if cli.backend == BackendArg::Legacy {
            return Err(crate::source::trace::LEGACY);
        }
        if cli.once && cli.window.is_none() {
            return Err("--trace with --once needs --window (how long to trace, e.g. --window 5s)");
        }
        if cli.once && cli.format == Format::Svg {
            return Err("--trace prints its packets with --format text or json, not svg");
        }
    }
    if cli.view == View::Services {
        if cli.format == Format::Svg {
            return Err("--view services prints text or JSON, not SVG");
        }
        if cli.moved_only || !cli.chains.is_empty() {
            return Err("--moved-only and -c apply to the tree, not to --view services");
        }
    }
    if iptables_tables(&cli.tables, cli.view).is_empty()
        && (cli.stream || cli.listen.is_some() || cli.view == View::Services)
    {
        return Err(
            "--stream, --listen and --view services show native nftables tables beside an iptables table, so far: add one (-t filter)",
        );
    }
    if cli.view == View::Path && !cli.chains.is_empty() {
        return Err("-c starts the tree from a chain; --view path starts from the hooks");
    }
    if cli.moved_only && cli.once && cli.window.is_none() {
        return Err("--moved-only needs --window: without a window nothing has moved");
    }
    Ok(())
}

/// `--source`, with what the other options allow: a binary of the user's choosing, or a
/// recording (which keeps the listings iptables prints), has auto use the listing.
fn counters_from(
    source: SourceArg,
    own_binary: bool,
    record: bool,
) -> Result<CountersFrom, AppError> {
    Ok(match source {
        SourceArg::Iptables => CountersFrom::Listing,
        SourceArg::Kernel if record => {
            return Err(AppError::Usage(
                "--record keeps the listings iptables prints: use it with --source iptables (or auto)"
                    .into(),
            ));
        }
        SourceArg::Kernel => CountersFrom::Kernel,
        SourceArg::Auto if own_binary || record => CountersFrom::Listing,
        SourceArg::Auto => CountersFrom::Auto,
    })
}

/// The iptables tables asked for with `-t` (`named`), `filter` when none (nat and filter
/// for `--view services`, every table for `--view path`); empty when only native tables
/// were named.
pub fn iptables_tables(named: &[String], view: View) -> Vec<String> {
    if named.is_empty() {
        let default: &[&str] = match view {
            View::Services => &["nat", "filter"],
            View::Path => &crate::report::path::TABLES,
            View::Tree => &["filter"],
        };
        return default.iter().map(ToString::to_string).collect();
    }
    let mut v: Vec<String> = Vec::new();
    for t in named {
        if TABLES.contains(&t.as_str()) && !v.contains(t) {
            v.push(t.clone());
        }
    }
    v
}

/// The tables a live source lists on every poll: those shown, and with `--record` every
/// table named with `-t` (filter and nat when none is), so that the recording holds them
/// whichever is on screen.
fn polled_tables(shown: &[String], named: &[String], record: bool) -> Vec<String> {
    let mut t = shown.to_vec();
    let recorded: Vec<String> = match (record, named.is_empty()) {
        (false, _) => Vec::new(),
        (true, true) => vec!["filter".to_string(), "nat".to_string()],
        (true, false) => iptables_tables(named, View::Tree),
    };
    for r in recorded {
        if !t.contains(&r) {
            t.push(r);
        }
    }
    t
}

/// The native nftables tables asked for: every one when no `-t` was given (the tree,
/// path and Services views), else those named (`docker-bridges`, `inet filter`).
pub fn native_tables(named: &[String]) -> NativeTables {
    if named.is_empty() {
        // every view reads them: the tree and path views show them, Services reads
        // kube-proxy's nftables table
        return NativeTables::All;
    }
    NativeTables::Named(
        named
            .iter()
            .filter(|t| !TABLES.contains(&t.as_str()))
            .cloned()
            .collect(),
    )
}

/// Which native nftables tables to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NativeTables {
    All,
    /// By name, or `FAMILY NAME`.
    Named(Vec<String>),
}

impl NativeTables {
    /// Is the table `name` of `family` asked for?
    pub fn wants(&self, family: &str, name: &str) -> bool {
        match self {
            // iptop's own trace table (`--trace`) is not the firewall's
            NativeTables::All => !(family == "inet" && name == "iptop-trace"),
            NativeTables::Named(v) => v.iter().any(|t| match t.split_once(' ') {
                Some((f, n)) => f == family && n == name,
                None => t == name,
            }),
        }
    }

    /// Only iptables tables were named: no native table is read.
    pub fn none(&self) -> bool {
        matches!(self, NativeTables::Named(v) if v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn settings(args: &[&str]) -> Result<Settings, AppError> {
        let mut all = vec!["iptop"];
        all.extend_from_slice(args);
        Settings::new(Cli::parse_args(all).expect("cli"))
    }

    #[test]
    fn tables_default_and_dedup() {
        let s = settings(&[]).expect("ok");
        assert_eq!(s.source.tables, ["filter"]);
        let s = settings(&["-t", "nat", "-t", "filter", "-t", "nat"]).expect("ok");
        assert_eq!(s.source.tables, ["nat", "filter"]);
        // any other name is a native nftables table's, with its family if given
        let s = settings(&["-t", "docker-bridges", "-t", "inet filter"]).expect("ok");
        assert!(s.source.tables.is_empty());
        let n = &s.source.native;
        assert!(n.wants("ip", "docker-bridges") && n.wants("inet", "filter"));
        assert!(!n.wants("ip", "filter"));
        assert_eq!(s.view.start_native.as_deref(), Some("docker-bridges"));
        assert_eq!(settings(&[]).expect("ok").source.native, NativeTables::All);
        assert!(settings(&["-t", "nat"]).expect("ok").source.native.none());
        for bad in ["fil tre", "bogus;rm", "inet ", ""] {
            assert!(Cli::try_parse_from(["iptop", "-t", bad]).is_err(), "{bad}");
        }
        // views pick their own default tables; --record lists filter and nat too
        let s = settings(&["--once", "--view", "services"]).expect("ok");
        assert_eq!(s.source.tables, ["nat", "filter"]);
        let s = settings(&["--record", "r.txt"]).expect("ok");
        assert_eq!(s.source.polled, ["filter", "nat"]);
        assert_eq!(s.source.counters, CountersFrom::Listing);
    }

    #[test]
    fn combinations_clap_cannot_say_are_usage_errors() {
        for (args, what) in [
            (&["--stream", "--format", "svg"][..], "--stream prints JSON"),
            (&["--stream", "--view", "path"][..], "--view path"),
            (
                &["--stream", "--view", "services"][..],
                "--view services needs --once",
            ),
            (&["--once", "--moved-only"][..], "needs --window"),
            (&["--once", "--view", "path", "-c", "X"][..], "--view path"),
            (
                &["--once", "--view", "services", "--format", "svg"][..],
                "not SVG",
            ),
            (&["--trace", "udp", "--once"][..], "--window"),
            (
                &["--trace", "udp", "--backend", "legacy"][..],
                "iptables-legacy",
            ),
            (&["--source", "kernel", "--record", "r"][..], "--record"),
            (&["--stream", "-t", "docker-bridges"][..], "add one"),
        ] {
            match settings(args) {
                Err(AppError::Usage(e)) => assert!(e.contains(what), "{args:?}: {e}"),
                other => panic!("{args:?}: {other:?}"),
            }
        }
        let s = settings(&["--stream", "--count", "2", "--format", "json"]).expect("ok");
        assert_eq!(s.mode, Mode::Stream { count: Some(2) });
    }

    #[test]
    fn clap_refuses_the_combinations_it_can_say_with_a_tip() {
        use clap::CommandFactory;
        for args in [
            &["-o", "x.json"][..],
            &["--moved-only"][..],
            &["--once", "--force"][..],
            &["--window", "2s"][..],
            &["--view", "services"][..],
            &["--listen", "127.0.0.1:1", "--format", "json"][..],
        ] {
            let mut all = vec!["iptop"];
            all.extend_from_slice(args);
            let e = Cli::command().try_get_matches_from(all).unwrap_err();
            let e = crate::cli::with_tip(e).to_string();
            assert!(e.contains("tip:"), "{args:?}: {e}");
        }
    }
}
