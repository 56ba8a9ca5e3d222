//! Runs the real `iptables` binary, one process per table per poll:
//! `iptables -w <secs> -t <table> -L -v -n -x --line-numbers`. Never through a shell,
//! never anything but listing options. With `--netns` only the child enters the
//! namespace (setns between fork and exec); iptop itself stays where it is.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::netns::open_netns;
use super::spawn;
pub use super::start::StartError;
use super::text::lossy_string;
use super::version::VersionProbe;
use super::{Failure, RawListing, RawPoll};
use crate::model::text::ListingText;
use crate::model::{Backend, IpFamily, SourceInfo};

/// Largest listing iptop reads: 50k kube-proxy rules are about 10 MB.
pub const MAX_OUTPUT: usize = 256 << 20;

/// Which back end(s) to list (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// Where the rules are: per table, iptables-nft, and iptables-legacy when the legacy
    /// table exists; both when both hold rules.
    #[default]
    Auto,
    Nft,
    Legacy,
}

#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub backend: BackendChoice,
    pub ipv6: bool,
    /// A name under /run/netns or a path (`/proc/PID/ns/net`, `/var/run/docker/netns/...`).
    pub netns: Option<String>,
    pub tables: Vec<String>,
    /// Per poll; the child is killed after it.
    pub timeout: Duration,
    /// Run this binary instead of looking `iptables` (or its variant) up on PATH.
    pub binary: Option<PathBuf>,
}

/// One binary iptop runs for every table: `iptables-nft`, `iptables-legacy`, or the
/// plain `iptables` whose back end its `--version` tells.
#[derive(Debug, Clone)]
struct Lane {
    name: String,
    path: PathBuf,
    /// None until known (a plain `iptables` before its version was asked).
    backend: Option<Backend>,
    /// Found on PATH (it may move there on an upgrade), not given with `--iptables`.
    on_path: bool,
}

pub struct LiveSource {
    cfg: LiveConfig,
    lanes: Vec<Lane>,
    netns: Option<Arc<OwnedFd>>,
    started: Instant,
    seq: u64,
    info: SourceInfo,
    /// The binaries' `--version`, asked in the background (see [`VersionProbe`]).
    versions: Option<VersionProbe>,
    /// `--record`: where the native tables read beside its polls go.
    native_record: Option<super::recording::NativeRecorder>,
    /// One poll and done (`--once` without a window): see [`RawPoll::last`].
    pub(super) last: bool,
    /// The listings of the next poll's table written from what the kernel holds (a
    /// legacy table's entries, an iptables-nft table's rules), taken in place of their
    /// iptables child ([`super::kernel`]).
    pub(super) written: Vec<RawListing>,
}

/// `iptables`, `ip6tables-nft`, ... for a back end (None: the plain name) and family.
pub fn binary_name(backend: Option<Backend>, ipv6: bool) -> String {
    let base = if ipv6 { "ip6tables" } else { "iptables" };
    match backend {
        None => base.to_string(),
        Some(b) => format!("{base}-{b}"),
    }
}

/// The back end a binary's name says (`iptables-legacy`, `ip6tables-nft`).
fn backend_of_name(name: &str) -> Option<Backend> {
    if name.ends_with("-legacy") {
        Some(Backend::Legacy)
    } else if name.ends_with("-nft") {
        Some(Backend::Nft)
    } else {
        None
    }
}

/// The back end an `iptables --version` line says: `(nf_tables)` or `(legacy)`; a
/// version before 1.8 names none and was always legacy.
fn backend_of_version(v: &str) -> Option<Backend> {
    if v.contains("nf_tables") {
        Some(Backend::Nft)
    } else if v.contains("legacy")
        || v.starts_with("iptables v1.")
        || v.starts_with("ip6tables v1.")
    {
        Some(Backend::Legacy)
    } else {
        None
    }
}

/// The legacy (x_tables) tables that exist in a network namespace: the lines of
/// `/proc/net/ip_tables_names` (`ip6_tables_names`), read from inside the namespace.
/// Listing a table with iptables-legacy creates it when it is not there, so iptop
/// lists only these. The file is missing when the kernel module is not loaded: no
/// legacy tables at all.
pub fn legacy_tables(netns: Option<&OwnedFd>, ipv6: bool) -> std::io::Result<Vec<String>> {
    let file = if ipv6 {
        "ip6_tables_names"
    } else {
        "ip_tables_names"
    };
    let read = |path: &str| match std::fs::read_to_string(path) {
        Ok(s) => Ok(s
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    };
    let Some(fd) = netns else {
        return read(&format!("/proc/self/net/{file}"));
    };
    // /proc/thread-self/net is the network namespace of the reading thread: a short-lived
    // thread enters the target namespace and reads it; iptop itself stays where it is.
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(std::io::Error::from)?;
            read(&format!("/proc/thread-self/net/{file}"))
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the namespace reader failed")))
    })
}

/// Looks a binary up on PATH (as a shell would; sudo's PATH has the sbin directories).
pub fn find_binary(name: &str) -> Option<PathBuf> {
    find_binary_in(&std::env::var_os("PATH").unwrap_or_default(), name)
}

/// Looks a binary up in the directories of a PATH value. Only absolute entries count:
/// an empty or relative one means the working directory, and iptop runs as root.
pub fn find_binary_in(path: &std::ffi::OsStr, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl LiveSource {
    pub fn new(cfg: LiveConfig) -> Result<Self, StartError> {
        let found = |backend: Option<Backend>| {
            let name = binary_name(backend, cfg.ipv6);
            find_binary(&name).map(|path| Lane {
                name,
                path,
                backend,
                on_path: true,
            })
        };
        let lanes: Vec<Lane> = match &cfg.binary {
            Some(p) => {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !is_executable(p) {
                    return Err(StartError::NoBinary(p.display().to_string()));
                }
                vec![Lane {
                    backend: backend_of_name(&name),
                    name,
                    path: p.clone(),
                    on_path: false,
                }]
            }
            None => {
                let want: &[Option<Backend>] = match cfg.backend {
                    BackendChoice::Nft => &[Some(Backend::Nft)],
                    BackendChoice::Legacy => &[Some(Backend::Legacy)],
                    BackendChoice::Auto => &[Some(Backend::Nft), Some(Backend::Legacy)],
                };
                let mut lanes: Vec<Lane> = want.iter().filter_map(|b| found(*b)).collect();
                // iptables before 1.8 has no -nft/-legacy names: the plain one (its
                // version says which it is)
                if lanes.is_empty()
                    && let Some(l) = found(None)
                {
                    lanes.push(l);
                }
                if lanes.is_empty() {
                    let named = match cfg.backend {
                        BackendChoice::Auto => None,
                        _ => want.first().copied().flatten(),
                    };
                    return Err(StartError::NotFound(binary_name(named, cfg.ipv6)));
                }
                lanes
            }
        };
        let netns = match &cfg.netns {
            Some(spec) => Some(Arc::new(open_netns(spec)?)),
            None => None,
        };
        let mut src = LiveSource {
            info: SourceInfo {
                kind: crate::model::SourceKind::Live,
                host: hostname(),
                netns: cfg.netns.clone(),
                backend: None,
                binary: lanes
                    .iter()
                    .map(|l| l.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                version: String::new(),
                family: Some(if cfg.ipv6 {
                    IpFamily::Ipv6
                } else {
                    IpFamily::Ipv4
                }),
                file: None,
                counters: String::new(),
                listed_counters: Vec::new(),
                written: Vec::new(),
            },
            cfg,
            lanes,
            netns,
            started: Instant::now(),
            seq: 0,
            versions: None,
            native_record: None,
            last: false,
            written: Vec::new(),
        };
        src.describe_backend();
        Ok(src)
    }

    /// The header's back end: the one listed; empty while auto lists both (each table its own).
    fn describe_backend(&mut self) {
        let known: Vec<Backend> = self.lanes.iter().filter_map(|l| l.backend).collect();
        self.info.backend = match known.as_slice() {
            [one] if self.lanes.len() == 1 => Some(*one),
            _ => None,
        };
    }

    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// The back end(s) asked for (`--backend`).
    pub fn backend_choice(&self) -> BackendChoice {
        self.cfg.backend
    }

    pub fn ipv6(&self) -> bool {
        self.cfg.ipv6
    }

    /// The namespace opened for `--netns`.
    pub fn netns_fd(&self) -> Option<Arc<OwnedFd>> {
        self.netns.clone()
    }

    pub fn set_native_recorder(&mut self, rec: super::recording::NativeRecorder) {
        self.native_record = Some(rec);
    }

    pub fn native_recorder(&self) -> Option<super::recording::NativeRecorder> {
        self.native_record.clone()
    }

    /// Names the namespace in the header and exports as the user gave it
    /// (`container:web`) rather than by the file it was resolved to.
    pub fn label_netns(&mut self, label: Option<String>) {
        self.info.netns = label;
    }

    pub fn tables(&self) -> &[String] {
        &self.cfg.tables
    }

    /// Lists these tables from the next poll on (the UI polls the table on screen).
    pub fn set_tables(&mut self, tables: Vec<String>) {
        self.cfg.tables = tables;
    }

    /// Starts asking each binary for its version (`iptables v1.8.9 (nf_tables)`), all
    /// side by side, by one deadline (the timeout); the answers fill in the version and
    /// a plain `iptables`'s back end when the first poll needs them, or at its end. A
    /// hanging iptables then costs one timeout before iptop reports it, not three.
    pub fn start_version_probe(&mut self) {
        let paths = self.lanes.iter().map(|l| l.path.clone()).collect();
        self.versions = Some(VersionProbe::start(paths, self.cfg.timeout));
    }

    /// Asks each binary for its version and waits (at most the timeout). Failure leaves
    /// the version and back end as they were: the polls will say what is wrong.
    pub async fn probe_version(&mut self) {
        self.start_version_probe();
        self.settle_version().await;
    }

    /// Waits for the version probe started, if one is under way, and takes its answers.
    pub async fn settle_version(&mut self) {
        let Some(probe) = self.versions.take() else {
            return;
        };
        let mut versions = Vec::new();
        for (lane, v) in self.lanes.iter_mut().zip(probe.finish().await) {
            let Some(v) = v else { continue };
            if lane.backend.is_none() {
                lane.backend = backend_of_version(&v);
            }
            if !v.is_empty() && !versions.contains(&v) {
                versions.push(v);
            }
        }
        self.info.version = versions.join(", ");
        self.describe_backend();
    }

    /// Whether a listing of `backend` may be written from what the kernel holds instead
    /// of listed: its iptables found on PATH (not a binary `--iptables` named).
    pub fn may_write(&self, backend: Backend) -> bool {
        self.cfg.binary.is_none() && self.lanes.iter().any(|l| l.backend == Some(backend))
    }

    /// The arguments for listing one table; nothing else is ever passed.
    pub fn list_args(&self, table: &str) -> Vec<String> {
        // -w: iptables-legacy 1.8.9 without it blocks forever while another process holds
        // the xtables lock. Wait at most half the poll timeout so iptables reports the
        // lock itself before iptop has to kill it.
        let wait = (self.cfg.timeout.as_secs() / 2).clamp(1, 10);
        [
            "-w",
            &wait.to_string(),
            "-t",
            table,
            "-L",
            "-v",
            "-n",
            "-x",
            "--line-numbers",
        ]
        .iter()
        .map(std::string::ToString::to_string)
        .collect()
    }

    /// Lists every configured table once, with every back end it may be in.
    pub async fn poll(&mut self) -> RawPoll {
        if self.lanes.iter().any(|l| l.backend.is_none()) {
            // which tables a plain iptables may list depends on its back end
            self.settle_version().await;
        }
        self.seq += 1;
        let at = self.started.elapsed();
        let taken_at = SystemTime::now();
        let mut listings = Vec::with_capacity(self.cfg.tables.len() * self.lanes.len());
        // Asked once per poll: a legacy table may come or go at any time.
        let mut legacy: Option<std::io::Result<Vec<String>>> = None;
        let explicit = self.lanes.len() == 1;
        for table in self.cfg.tables.clone() {
            for li in 0..self.lanes.len() {
                if self.lanes[li].backend != Some(Backend::Nft) {
                    // legacy, or a plain iptables of unknown kind: never list a table that
                    // is not there, which would create it
                    let names = legacy
                        .get_or_insert_with(|| legacy_tables(self.netns.as_deref(), self.cfg.ipv6));
                    match names {
                        Ok(names) if names.contains(&table) => {}
                        Ok(_) if !explicit => continue,
                        Ok(_) => {
                            let mut l = RawListing::empty(&table);
                            l.backend = Some(Backend::Legacy);
                            l.absent = true;
                            l.stderr = format!(
                                "no legacy table {table} in this namespace (it is not in /proc/net/{}): iptables-legacy holds no rules here, and iptop does not list it, since that would create it\n",
                                if self.cfg.ipv6 {
                                    "ip6_tables_names"
                                } else {
                                    "ip_tables_names"
                                }
                            );
                            listings.push(l);
                            continue;
                        }
                        Err(_) if !explicit => continue,
                        Err(e) => {
                            let mut l = RawListing::empty(&table);
                            l.backend = Some(Backend::Legacy);
                            let detail = format!("cannot read which legacy tables exist: {e}");
                            l.stderr = format!("{detail}\n");
                            l.failure = Some(if e.kind() == std::io::ErrorKind::PermissionDenied {
                                Failure::Denied(detail)
                            } else {
                                Failure::Spawn(detail)
                            });
                            listings.push(l);
                            continue;
                        }
                    }
                }
                let mine = self
                    .written
                    .iter()
                    .position(|w| w.table == table && self.lanes[li].backend == w.backend);
                let l = match mine {
                    Some(i) => self.written.swap_remove(i),
                    None => self.list_table(&table, li).await,
                };
                if matches!(l.failure, Some(Failure::NotFound(_)))
                    && self.lanes[li].on_path
                    && let Some(p) = find_binary(&self.lanes[li].name)
                {
                    // The binary moved (a package upgrade): use the new path next time.
                    self.lanes[li].path = p;
                }
                listings.push(l);
            }
        }
        // a written listing is for the poll it was made for only
        self.written.clear();
        // the versions were asked while the tables were listed, by the same deadline
        self.settle_version().await;
        RawPoll {
            seq: self.seq,
            at,
            taken_at,
            listings,
            discontinuity: false,
            last: self.last,
        }
    }

    async fn list_table(&mut self, table: &str, lane: usize) -> RawListing {
        let start = Instant::now();
        let Lane {
            name: binary_name,
            path: binary,
            backend,
            ..
        } = self.lanes[lane].clone();
        let mut listing = RawListing::empty(table);
        listing.backend = backend;
        let netns = self.netns.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
        let mut child = match spawn::spawn(
            &binary,
            &self.list_args(table),
            netns,
            MAX_OUTPUT as u64 + 1,
        ) {
            Ok(c) => c,
            Err(e) => {
                listing.took = start.elapsed();
                listing.failure = Some(if e.kind() == std::io::ErrorKind::NotFound {
                    Failure::NotFound(binary_name.clone())
                } else {
                    let detail = if self.netns.is_some() {
                        // entering a namespace takes CAP_SYS_ADMIN: say what to do
                        let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                            " (entering a network namespace needs root: run iptop with sudo)"
                        } else {
                            ""
                        };
                        format!(
                            "entering the network namespace or starting {binary_name}: {e}{hint}"
                        )
                    } else {
                        format!("starting {binary_name}: {e}")
                    };
                    // kept in stderr too, so that a recording carries it
                    listing.stderr = format!("{detail}\n");
                    Failure::Spawn(detail)
                });
                return listing;
            }
        };
        // iptables writes into in-memory files: nothing to drain while it runs, iptop
        // sleeps until it exits (or the timeout kills it), then reads what it wrote.
        let deadline = tokio::time::Instant::now() + self.cfg.timeout;
        let exit = tokio::select! {
            r = child.wait() => Some(r),
            _ = tokio::time::sleep_until(deadline) => {
                child.kill_and_reap();
                listing.failure = Some(Failure::Timeout(self.cfg.timeout));
                None
            }
        };
        let mut read_err = None;
        let o = super::text::from_memfd(&child.stdout, MAX_OUTPUT + 1).unwrap_or_else(|x| {
            read_err = Some(x);
            ListingText::default()
        });
        let e = spawn::read_output(&child.stderr, 1 << 20).unwrap_or_else(|x| {
            read_err = Some(x);
            Vec::new()
        });
        drop(child);
        match exit {
            Some(Ok(spawn::Exit::Code(c))) => listing.status = Some(c),
            Some(Ok(spawn::Exit::Signal(sig))) => listing.failure = Some(Failure::Signal(sig)),
            Some(Err(x)) => listing.failure = Some(Failure::Spawn(x.to_string())),
            None => {}
        }
        if let Some(x) = read_err
            && listing.failure.is_none()
        {
            listing.failure = Some(Failure::Spawn(format!("reading its output: {x}")));
        }
        if o.len() > MAX_OUTPUT {
            // stopped by its file size limit (SIGXFSZ) at MAX_OUTPUT + 1 bytes
            listing.failure = Some(Failure::TooLarge(MAX_OUTPUT));
        }
        listing.stdout = Arc::new(o);
        listing.stderr = lossy_string(e);
        listing.took = start.elapsed();
        listing
    }
}

/// Listing text as UTF-8; comments may hold other bytes, which become U+FFFD.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(binary_name(None, false), "iptables");
        assert_eq!(binary_name(Some(Backend::Legacy), true), "ip6tables-legacy");
        assert_eq!(binary_name(Some(Backend::Nft), false), "iptables-nft");
        assert_eq!(
            backend_of_name("/usr/sbin/ip6tables-legacy"),
            Some(Backend::Legacy)
        );
        assert_eq!(backend_of_name("iptables"), None);
        assert_eq!(
            backend_of_version("iptables v1.8.9 (nf_tables)"),
            Some(Backend::Nft)
        );
        assert_eq!(
            backend_of_version("iptables v1.8.9 (legacy)"),
            Some(Backend::Legacy)
        );
        assert_eq!(
            backend_of_version("iptables v1.4.21"),
            Some(Backend::Legacy)
        );
    }

    #[test]
    fn only_absolute_path_entries() {
        let sh = |p: &str| find_binary_in(p.as_ref(), "sh");
        assert_eq!(sh("/bin"), Some(PathBuf::from("/bin/sh")));
        assert_eq!(sh(":/bin"), Some(PathBuf::from("/bin/sh")));
        // /bin reached from the working directory (the crate) is not searched
        let rel = format!(
            "{}bin",
            "../".repeat(std::env::current_dir().map_or(0, |d| d.components().count()))
        );
        assert_eq!(sh(&rel), None);
    }
}
