//! [`Source`]: where polls come from, opened from a small [`SourceConfig`] (the options
//! layer maps its flags to it).

use std::path::PathBuf;

use super::RawPoll;
use super::kernel::KernelSource;
use super::live::{LiveConfig, LiveSource};
use super::native::NativeReader;
use super::replay::{ReplayError, ReplaySource};
use crate::error::AppError;
use crate::model::SourceInfo;

/// The recording embedded for `--demo`: a real swarm lab with real traffic.
pub const DEMO: &str = include_str!("../../assets/demo.rec");

/// What a source is opened from.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// The built-in demo recording; `looping` plays it again at its end.
    Demo { looping: bool },
    /// A saved listing or recording; `table`: the table asked for, if any.
    Replay {
        path: PathBuf,
        table: Option<String>,
    },
    /// The real `iptables`; `netns_label`: how the namespace is shown when it differs
    /// from the one entered (`container:web` says more than the sandbox's file name).
    Live {
        live: LiveConfig,
        netns_label: Option<String>,
        counters: CountersFrom,
    },
}

/// Where a live source's counters come from (`--source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountersFrom {
    /// The kernel where it can be read here, else the listing.
    Auto,
    /// The kernel, or fail.
    Kernel,
    /// Every poll's `iptables -L`.
    Listing,
}

/// Where polls come from.
pub enum Source {
    Live(Box<LiveSource>),
    /// Rule texts from `iptables`, counters from the kernel (`--source kernel`).
    Kernel(Box<KernelSource>),
    Replay(Box<ReplaySource>),
}

impl Source {
    pub async fn open(cfg: SourceConfig) -> Result<Source, AppError> {
        match cfg {
            SourceConfig::Demo { looping } => {
                let r = ReplaySource::from_text("demo", DEMO, None)
                    .map_err(|e| AppError::Runtime(format!("the built-in demo is damaged: {e}")))?;
                Ok(Source::Replay(Box::new(
                    r.looping(looping).with_kind(crate::model::SourceKind::Demo),
                )))
            }
            SourceConfig::Replay { path, table } => {
                let r = ReplaySource::open(&path, table.as_deref()).map_err(|e| match e {
                    ReplayError::WrongTable { .. } => AppError::Usage(e.to_string()),
                    e => AppError::Runtime(e.to_string()),
                })?;
                Ok(Source::Replay(Box::new(r)))
            }
            SourceConfig::Live {
                live,
                netns_label,
                counters,
            } => {
                let netns = live.netns.clone();
                let mut live =
                    LiveSource::new(live).map_err(|e| AppError::Runtime(e.to_string()))?;
                if netns_label != netns {
                    // `container:web` says more than the sandbox's file name
                    live.label_netns(netns_label);
                }
                // answered while the first poll lists (see `LiveSource::poll`)
                live.start_version_probe();
                open_kernel(Box::new(live), counters)
            }
        }
    }

    /// The namespace of `--netns` (None: iptop's own, or a replay).
    pub fn netns_fd(&self) -> Option<std::sync::Arc<std::os::fd::OwnedFd>> {
        match self {
            Source::Live(l) => l.netns_fd(),
            Source::Kernel(k) => k.live().netns_fd(),
            Source::Replay(_) => None,
        }
    }

    pub fn info(&self) -> &SourceInfo {
        match self {
            Source::Live(l) => l.info(),
            Source::Kernel(k) => k.info(),
            Source::Replay(r) => r.info(),
        }
    }

    /// The next poll: a live source lists now; a replay returns its next recorded poll
    /// (None at its end).
    pub async fn poll(&mut self) -> Option<RawPoll> {
        match self {
            Source::Live(l) => Some(l.poll().await),
            Source::Kernel(k) => Some(k.poll().await),
            Source::Replay(r) => r.next_poll(),
        }
    }

    /// Waits for what the source still asks about itself (a live source's iptables
    /// version), so that [`Source::info`] is whole: before a recording's header.
    pub async fn settle(&mut self) {
        match self {
            Source::Live(l) => l.settle_version().await,
            Source::Kernel(k) => k.settle_version().await,
            Source::Replay(_) => {}
        }
    }

    /// Polled once and done (`--once` without a window): a kernel source shows the
    /// listing with its own counters where the kernel's cheap counts say it holds only
    /// what iptables printed for its rules ([`KernelSource::once`]); no source keeps the
    /// rule texts a next poll would compare with ([`super::RawPoll::last`]).
    pub fn once(&mut self) {
        match self {
            Source::Kernel(k) => k.once(),
            Source::Live(l) => l.last = true,
            Source::Replay(r) => r.once(),
        }
    }

    /// Lists these tables from the next poll on (live sources; a replay has its own).
    pub fn set_tables(&mut self, tables: Vec<String>) {
        match self {
            Source::Live(l) => l.set_tables(tables),
            Source::Kernel(k) => k.set_tables(tables),
            Source::Replay(_) => {}
        }
    }

    /// A reader of the native nftables tables in the live source's namespace, written
    /// into the recording when there is one; of a replay, its recorded or pasted native
    /// tables (None when it holds none).
    pub fn native_reader(&self, timeout: std::time::Duration) -> Option<NativeReader> {
        let live = match self {
            Source::Live(l) => l,
            Source::Kernel(k) => k.live(),
            Source::Replay(r) if r.has_native() => {
                return Some(NativeReader::replaying(r.native_slot()));
            }
            Source::Replay(_) => return None,
        };
        let mut reader = NativeReader::new(live.netns_fd(), timeout);
        if let Some(rec) = live.native_recorder() {
            reader.record_to(rec);
        }
        Some(reader)
    }

    /// Native tables read from now on go into this recording too (`--record`).
    pub fn record_native(&mut self, rec: super::recording::NativeRecorder) {
        match self {
            Source::Live(l) => l.set_native_recorder(rec),
            Source::Kernel(k) => k.live_mut().set_native_recorder(rec),
            Source::Replay(_) => {}
        }
    }

    /// The live view polls every `interval`: a kernel source reads a big legacy table's
    /// counters less often ([`super::kernel::spare`]).
    pub fn spare_reads(&mut self, interval: std::time::Duration) {
        if let Source::Kernel(k) = self {
            k.spare_reads(interval, super::kernel::spare::SHARE);
        }
    }

    pub fn is_replay(&self) -> bool {
        matches!(self, Source::Replay(_))
    }

    /// A paste's tables as read when it was opened ([`ReplaySource::take_seeds`]).
    pub fn take_seeds(&mut self) -> Vec<(String, crate::model::FirewallTable)> {
        match self {
            Source::Replay(r) => r.take_seeds(),
            Source::Live(_) | Source::Kernel(_) => Vec::new(),
        }
    }

    /// The tables a replay holds (empty for a live source).
    pub fn replayed_tables(&self) -> Vec<String> {
        match self {
            Source::Replay(r) => r.tables(),
            Source::Live(_) | Source::Kernel(_) => Vec::new(),
        }
    }

    /// Where a replayed recording is cut off or damaged, if it is.
    pub fn damage(&self) -> Option<&str> {
        match self {
            Source::Replay(r) => r.damage(),
            Source::Live(_) | Source::Kernel(_) => None,
        }
    }
}

/// `--source`: the kernel's counters where they can be read (auto), or always
/// (kernel), else the listing's own.
fn open_kernel(live: Box<LiveSource>, counters: CountersFrom) -> Result<Source, AppError> {
    let auto = match counters {
        CountersFrom::Listing => return Ok(Source::Live(live)),
        CountersFrom::Kernel => false,
        CountersFrom::Auto => true,
    };
    let netns = live.netns_fd();
    let (backend, ipv6) = (live.backend_choice(), live.ipv6());
    match KernelSource::new(live, netns, backend, ipv6, auto) {
        Ok(k) => Ok(Source::Kernel(Box::new(k))),
        Err((live, _)) if auto => Ok(Source::Live(live)),
        Err((_, why)) => Err(AppError::Runtime(format!(
            "cannot read the counters from the kernel ({why}); try --source iptables"
        ))),
    }
}
