//! Command-line options (clap derive). The same definition generates the help text,
//! the man page and the shell completions.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

pub use crate::choices::{Format, View};
pub use crate::look::{ColorWhen, ThemeName};
use crate::model::TABLES;
use crate::source::live::BackendChoice;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "iptop",
    version,
    about = "Live iptables chains as a collapsible jump tree, with per-rule deltas and rates",
    long_about = "iptop polls `iptables -L -v -n -x` on an interval and shows the chains as a tree that \
follows jumps (FORWARD → DOCKER-USER → DOCKER-INGRESS → ...), with per-rule packet and byte deltas \
and rates. It only ever lists rules: it never changes a rule or a counter.\n\n\
Without --once it opens a full-screen view; press ? there for the keys.",
    after_help = "Examples:\n  sudo iptop                          watch the filter table\n  \
sudo iptop -t nat --netns /var/run/docker/netns/ingress_sbox\n  \
sudo iptop --once --window 2s       deltas over two seconds, as text\n  \
iptop --demo                        a recorded Docker swarm host, no root needed\n  \
iptop --replay listing.txt          a saved `iptables -vnL`"
)]
#[command(group = clap::ArgGroup::new("prints").args(["once", "stream"]).multiple(false))]
pub struct Cli {
    /// Print one snapshot of the tree to stdout (or -o FILE) and exit, no TUI.
    #[arg(long, help_heading = "Output")]
    pub once: bool,

    /// With --once: take two samples this far apart and show deltas and rates (2s, 500ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "once", help_heading = "Output")]
    pub window: Option<Duration>,

    /// Format of --once output and of the live view's export (key `s`): the text tree,
    /// JSON (schema in docs/outputs.md) or an SVG picture of the coloured tree.
    #[arg(long, value_enum, default_value_t = Format::Text, help_heading = "Output")]
    pub format: Format,

    /// What --once prints: the chain tree; kube-proxy's Services read back from the nat
    /// table (each endpoint's share of new connections next to the share intended); or
    /// the path: the built-in chains of all tables hook by hook, in the order netfilter
    /// runs them (polls raw, mangle, nat, filter and security unless -t says otherwise).
    #[arg(long, value_enum, default_value_t = View::Tree, requires_if("services", "once"), help_heading = "Output")]
    pub view: View,

    /// Only rules whose counters moved in the window, with their chain path (needs --window
    /// with --once).
    #[arg(long, requires = "prints", help_heading = "Output")]
    pub moved_only: bool,

    /// Write --once or --stream output to FILE instead of stdout: `-` is stdout, a device
    /// or FIFO is written into, a regular file is never overwritten without --force.
    #[arg(
        short = 'o',
        long,
        value_name = "FILE",
        requires = "prints",
        help_heading = "Output"
    )]
    pub output: Option<PathBuf>,

    /// No UI: print one JSON document (version 1) per poll, one per line (NDJSON), until
    /// interrupted or --count N.
    #[arg(long, conflicts_with_all = ["once", "listen"], help_heading = "Output")]
    pub stream: bool,

    /// With --stream: stop after N documents.
    #[arg(long, value_name = "N", requires = "stream", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Output")]
    pub count: Option<u64>,

    /// No UI: serve the counters of the last poll at http://ADDR/metrics in the
    /// Prometheus text format (e.g. `127.0.0.1:9899`, `[::]:9899`).
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["once", "replay", "demo", "output", "moved_only", "format"], help_heading = "Output")]
    pub listen: Option<std::net::SocketAddr>,

    /// Colours in --once text and the live view: auto (a terminal, and NO_COLOR unset,
    /// TERM not dumb), always or never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto, help_heading = "Look")]
    pub color: ColorWhen,

    /// Colours: default, or colorblind (blue and orange, and verdicts told apart by a
    /// symbol and weight too, not by hue alone).
    #[arg(long, value_enum, default_value_t = ThemeName::Default, help_heading = "Look")]
    pub theme: ThemeName,

    /// Draw tree lines with ASCII (|- `-) instead of box drawing characters.
    #[arg(long, help_heading = "Look")]
    pub ascii: bool,

    /// Read defaults from FILE instead of $XDG_CONFIG_HOME/iptop/config.toml (flags
    /// override it).
    #[arg(long, value_name = "FILE", help_heading = "Other")]
    pub config: Option<PathBuf>,

    /// Directory for the live view's exports (key `s`). [default: the working directory]
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub export_dir: Option<PathBuf>,

    /// The window of the live view's exports (key `s`) when no baseline (`z`) is set: the
    /// deltas over the last DURATION of polls.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, help_heading = "Output")]
    pub export_window: Duration,

    /// Overwrite an existing --output file.
    #[arg(long, requires = "output", help_heading = "Output")]
    pub force: bool,

    /// Table to show; repeat for several: an iptables table (filter, nat, mangle, raw,
    /// security) or a native nftables table by name (`docker-bridges`), with its family
    /// where the name alone is ambiguous (`'inet filter'`). [default: filter, and with
    /// --once every native nftables table]
    #[arg(short = 't', long = "table", value_name = "TABLE", value_parser = parse_table_arg, help_heading = "What to show")]
    pub tables: Vec<String>,

    /// Start the tree from this chain instead of the built-in chains; repeatable.
    #[arg(
        short = 'c',
        long = "chain",
        value_name = "CHAIN",
        help_heading = "What to show"
    )]
    pub chains: Vec<String>,

    /// Time between polls.
    #[arg(short = 'i', long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval, help_heading = "Polling")]
    pub interval: Duration,

    /// Which iptables to run: `iptables`, `iptables-nft` or `iptables-legacy`.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto, help_heading = "Polling")]
    pub backend: BackendArg,

    /// Where the counters come from: the kernel (nftables netlink, x_tables getsockopt;
    /// the rules are read again only when they change, written by iptop from the kernel
    /// where it knows every part of them, else listed by `iptables -L`), the `iptables -L`
    /// listing of every poll, or auto: the kernel where it can be read here, else iptables.
    #[arg(long, value_enum, default_value_t = SourceArg::Auto, help_heading = "Polling")]
    pub source: SourceArg,

    /// Run this iptables binary instead of finding it on PATH (its name, e.g.
    /// iptables-legacy, still picks the backend).
    #[arg(long, value_name = "PATH", help_heading = "Polling")]
    pub iptables: Option<PathBuf>,

    /// IPv6: run ip6tables.
    #[arg(short = '6', long, help_heading = "Polling")]
    pub ipv6: bool,

    /// Network namespace to list: a name under /run/netns, a path such as
    /// /proc/PID/ns/net or /var/run/docker/netns/ingress_sbox, or container:NAME (a Docker
    /// container's, see --list-netns). Only the iptables child enters it.
    #[arg(long, value_name = "NAME|PATH", help_heading = "Polling")]
    pub netns: Option<String>,

    /// The Docker Engine to ask for network and container names (read-only GETs): a unix
    /// socket, `unix:///path` or a path. [default: $DOCKER_HOST, else
    /// /var/run/docker.sock when it exists]. With --netns NAME (not container:NAME) and
    /// replays, names are shown only when this (or DOCKER_HOST) names one.
    #[arg(long, value_name = "HOST", help_heading = "Docker")]
    pub docker_host: Option<String>,

    /// List the network namespaces iptop can look into: /run/netns names, and every
    /// Docker container and sandbox (such as swarm's ingress_sbox), then exit.
    #[arg(long, help_heading = "Docker")]
    pub list_netns: bool,

    /// Trace the packets that match this nft expression (`tcp dport 80`, `ip saddr
    /// 192.168.61.100`, `udp dport 53`): the exact path of each through every nf_tables
    /// table (iptables-nft's and native ones), rule by rule, with the verdict that ended
    /// it. The one thing iptop ever adds to the kernel: the table `inet iptop-trace`,
    /// owned by iptop's netlink socket so the kernel removes it when iptop exits or
    /// dies, with one rule `EXPR limit rate N/second meta nftrace set 1` in each of two
    /// chains (prerouting and output, priority -350). Needs `nft` to compile EXPR; not
    /// for iptables-legacy or replays.
    #[arg(long, value_name = "EXPR", conflicts_with_all = ["replay", "demo", "listen"], help_heading = "Tracing")]
    pub trace: Option<String>,

    /// With --trace: at most this many packets are marked per second.
    #[arg(long, value_name = "N", default_value_t = 10, requires = "trace", value_parser = clap::value_parser!(u32).range(1..=10000), help_heading = "Tracing")]
    pub trace_rate: u32,

    /// Kill an iptables child that runs longer than this; the poll is reported failed.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration, help_heading = "Polling")]
    pub timeout: Duration,

    /// Read a saved `iptables -vnL` listing (its table given by -t) or an iptop recording
    /// instead of running iptables. Needs no root.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["demo", "netns"], help_heading = "Replay")]
    pub replay: Option<PathBuf>,

    /// Append every poll's raw listing, with its time and table, to FILE (replay it with --replay).
    #[arg(long, value_name = "FILE", help_heading = "Replay")]
    pub record: Option<PathBuf>,

    /// Play the built-in recording of a Docker swarm host with real traffic. Needs no root.
    #[arg(long, conflicts_with = "netns", help_heading = "Replay")]
    pub demo: bool,

    /// Replay one poll per key press (`.`) instead of at the recorded pace.
    #[arg(long, help_heading = "Replay")]
    pub step: bool,

    /// Print a completion script for SHELL and exit.
    #[arg(long, value_name = "SHELL", value_enum, help_heading = "Other")]
    pub completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit.
    #[arg(long, help_heading = "Other")]
    pub man: bool,

    /// The columns the config file lists (bit i: `crate::cells::COLUMNS[i]`); None: the
    /// defaults.
    #[arg(skip)]
    pub columns: Option<u32>,

    /// The live view's export format from the config file (`export_format`), unless
    /// --format is given.
    #[arg(skip)]
    pub export_format: Option<Format>,

    /// Options given on the command line (not defaults nor the config file), by id.
    #[arg(skip)]
    pub given: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    Auto,
    Kernel,
    Iptables,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    Auto,
    Nft,
    Legacy,
}

impl From<BackendArg> for BackendChoice {
    fn from(b: BackendArg) -> BackendChoice {
        match b {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Nft => BackendChoice::Nft,
            BackendArg::Legacy => BackendChoice::Legacy,
        }
    }
}

impl Cli {
    /// The command line parsed, with the options given on it noted (see
    /// [`Cli::was_given`]); a usage error of a combination gets its tip ([`with_tip`]).
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::parser::ValueSource;
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command()
            .try_get_matches_from(args)
            .map_err(with_tip)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        cli.given = matches
            .ids()
            .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .map(|id| id.as_str().to_string())
            .collect();
        Ok(cli)
    }

    /// Whether option `id` (its field name) was given on the command line.
    pub fn was_given(&self, id: &str) -> bool {
        self.given.iter().any(|g| g == id)
    }
}

/// `-t`: an iptables table, or a native table's `[FAMILY ]NAME`.
pub fn parse_table_arg(s: &str) -> Result<String, String> {
    if TABLES.contains(&s) {
        return Ok(s.to_string());
    }
    let (family, name) = match s.split_once(' ') {
        Some((f, n)) => (Some(f), n),
        None => (None, s),
    };
    let families = crate::model::native::FAMILIES;
    if let Some(f) = family
        && !families.contains(&f)
    {
        return Err(format!(
            "`{f}` is not an nftables family (one of {})",
            families.join(", ")
        ));
    }
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a table: one of {}, or a native nftables table's name (`docker-bridges`, `'inet filter'`)",
            TABLES.join(", ")
        ))
    }
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = match s.parse::<f64>() {
        // a bare number is seconds
        Ok(secs) if (0.0..1e9).contains(&secs) => Duration::from_secs_f64(secs),
        Ok(_) => return Err(format!("`{s}` is not a duration")),
        Err(_) => humantime::parse_duration(s)
            .map_err(|e| format!("`{s}` is not a duration ({e}); try 2s or 500ms"))?,
    };
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(50) {
        return Err("the interval must be at least 50ms".into());
    }
    Ok(d)
}

/// A tip for the usage errors of the combinations clap checks (an option that needs
/// another, or two that conflict): what to use instead.
pub fn with_tip(mut e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let names = |k| match e.get(k) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join(" "),
        _ => String::new(),
    };
    let (arg, prior) = (names(ContextKind::InvalidArg), names(ContextKind::PriorArg));
    let tip = match e.kind() {
        ErrorKind::MissingRequiredArgument if arg.contains("--once|--stream") => {
            "-o and --moved-only shape what --once and --stream print; the live view exports with the `s` key into --export-dir and filters with the `f` key"
        }
        ErrorKind::MissingRequiredArgument if arg.contains("--once") => {
            "--window and --view services are for --once; the live view shows deltas on every poll, and K there shows the Services"
        }
        ErrorKind::MissingRequiredArgument if arg.contains("--output") => {
            "--force allows overwriting the -o FILE"
        }
        ErrorKind::ArgumentConflict if prior.contains("--listen") || arg.contains("--listen") => {
            "--listen serves /metrics; -o, --format and --moved-only shape what --once and --stream print"
        }
        _ => return e,
    };
    e.insert(
        ContextKind::Suggested,
        ContextValue::StyledStrs(vec![tip.into()]),
    );
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_interval("10ms").is_err());
    }
}
