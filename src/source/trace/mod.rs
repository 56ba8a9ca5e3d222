//! `--trace EXPR`: the exact path of the packets that match EXPR, through every
//! nf_tables table (iptables-nft's and native ones), from the kernel's own tracing.
//!
//! This is the one place iptop writes to the kernel, and only when asked: [`table`]
//! adds the table `inet iptop-trace`, owned by iptop's netlink socket (the kernel
//! removes it when that socket closes: on exit, a crash or SIGKILL), whose two chains
//! mark the matching packets (`meta nftrace set 1`, rate limited). [`compile`] has the
//! real `nft` compile EXPR in check mode and encodes its bytecode; [`events`] decodes
//! the kernel's trace events and groups them into packets, whose rule handles are
//! mapped to rule positions by reading the chains (`source::kernel::nft`, reads only).

pub mod compile;
pub mod counted;
pub mod events;
pub mod table;

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::libc;

use crate::error::AppError;
use crate::source::kernel::nft::{NftSocket, RuleInfo};
use crate::source::spawn;

pub use events::{Step, TracedPacket};

/// What to trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSpec {
    /// An nft match expression (`tcp dport 80`).
    pub expr: String,
    /// Packets marked per second at most (`--trace-rate`).
    pub rate: u32,
}

/// Why a trace is refused where iptables-legacy holds the rules.
pub const LEGACY: &str = "--trace uses nf_tables tracing, which does not see iptables-legacy's tables: trace on a host whose iptables is iptables-nft";

/// The iptables tables listed (their back ends) are all iptables-legacy's, which
/// nf_tables tracing does not see; `source_backend` is the source's header (`legacy`
/// when one back end is listed and it is legacy).
pub fn legacy_only(
    source_backend: Option<crate::model::Backend>,
    tables: impl IntoIterator<Item = Option<crate::model::Backend>>,
) -> bool {
    if source_backend == Some(crate::model::Backend::Legacy) {
        return true;
    }
    let mut any = false;
    for b in tables {
        if b != Some(crate::model::Backend::Legacy) {
            return false;
        }
        any = true;
    }
    any
}

/// The back ends of a snapshot's tables as [`legacy_only`] reads
/// them (a native table counts as nf_tables').
pub fn backends<'a>(
    tables: impl IntoIterator<Item = &'a crate::model::FirewallTable> + 'a,
) -> impl Iterator<Item = Option<crate::model::Backend>> + 'a {
    tables.into_iter().map(|t| {
        if t.family.is_some() {
            Some(crate::model::Backend::Nft)
        } else {
            t.backend
        }
    })
}

/// Counts shared with the event thread.
#[derive(Debug, Default)]
pub struct Stats {
    /// Traced packets assembled.
    pub seen: AtomicU64,
    /// Times events were lost: the kernel's buffer overflowed (ENOBUFS) or iptop's
    /// queue of packets was full.
    pub lost: AtomicU64,
}

/// A running trace. Dropping it closes the socket that owns the trace table: the
/// kernel then deletes the table, and the trace ends.
pub struct Tracer {
    pub spec: TraceSpec,
    pub packets: tokio::sync::mpsc::Receiver<TracedPacket>,
    pub stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _table: OwnedFd,
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const MAX_NFT_OUTPUT: u64 = 1 << 20;
const QUEUE: usize = 4096;

/// Has the real `nft` compile the rule in check mode (nothing is committed) and reads
/// back its bytecode.
async fn compile_expr(
    spec: &TraceSpec,
    netns: Option<&OwnedFd>,
    timeout: Duration,
) -> Result<Vec<compile::Expr>, AppError> {
    compile::check_chars(&spec.expr).map_err(AppError::Usage)?;
    let nft = crate::source::live::find_binary("nft").ok_or_else(|| {
        AppError::Runtime(
            "--trace needs the nft program (Debian package nftables) to compile the expression"
                .into(),
        )
    })?;
    let args = vec![
        "--debug=netlink".to_string(),
        "-c".to_string(),
        format!(
            "add table inet {t}; add chain inet {t} c {{ type filter hook prerouting priority {p}; policy accept; }}; add rule inet {t} c",
            t = table::TABLE,
            p = table::PRIORITY
        ),
        spec.expr.clone(),
        format!("limit rate {}/second meta nftrace set 1", spec.rate),
    ];
    let mut child = spawn::spawn(&nft, &args, netns.map(AsRawFd::as_raw_fd), MAX_NFT_OUTPUT)
        .map_err(|e| AppError::Runtime(format!("starting nft: {e}")))?;
    let exit = tokio::select! {
        r = child.wait() => r.map_err(|e| AppError::Runtime(format!("nft: {e}")))?,
        () = tokio::time::sleep(timeout) => {
            child.kill_and_reap();
            return Err(AppError::Runtime("nft took too long to compile the --trace expression".into()));
        }
    };
    let out = spawn::read_output(&child.stdout, MAX_NFT_OUTPUT as usize).unwrap_or_default();
    let err = spawn::read_output(&child.stderr, 1 << 16).unwrap_or_default();
    if exit != spawn::Exit::Code(0) {
        let err = String::from_utf8_lossy(&err);
        let lines: Vec<String> = err
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(1)
            .map(|l| crate::sanitize::text(l.trim()).into_owned())
            .collect();
        return Err(AppError::Usage(format!(
            "nft refused the --trace expression {:?}: {}",
            crate::sanitize::text(&spec.expr),
            lines.join(" ")
        )));
    }
    compile::parse(&String::from_utf8_lossy(&out)).map_err(|e| match e {
        compile::CompileError::Unsupported(_) => AppError::Usage(format!("--trace: {e}")),
        compile::CompileError::Garbled(_) => AppError::Runtime(format!("--trace: {e}")),
    })
}

/// Runs `f` in a thread that entered `netns` (sockets made there stay there).
fn in_netns<T: Send>(
    netns: Option<&OwnedFd>,
    f: impl FnOnce() -> Result<T, String> + Send,
) -> Result<T, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(fd) = netns {
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("cannot enter the network namespace: {e}"))?;
            }
            f()
        })
        .join()
        .unwrap_or_else(|_| Err("the trace setup thread panicked".into()))
    })
}

/// Binds `fd` (the kernel picks its port id: a socket without one gets no multicast)
/// and joins the trace group.
fn subscribe(fd: &OwnedFd) -> std::io::Result<()> {
    const NFNLGRP_NFTRACE: libc::c_int = 9;
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: addr is a valid sockaddr_nl of the size given.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let set = |level, opt, v: libc::c_int| {
        // SAFETY: v is a valid c_int for these options.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                level,
                opt,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // a larger buffer (best effort): fewer events lost in a burst
    let _ = set(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 4 << 20)
        .or_else(|_| set(libc::SOL_SOCKET, libc::SO_RCVBUF, 4 << 20));
    set(
        libc::SOL_NETLINK,
        libc::NETLINK_ADD_MEMBERSHIP,
        NFNLGRP_NFTRACE,
    )?;
    table::recv_timeout(fd, 50)
}

/// Starts a trace in `netns`: compiles EXPR, subscribes to the trace events, adds the
/// trace table. Errors: a bad EXPR is a usage error (exit 2).
pub async fn start(
    spec: TraceSpec,
    netns: Option<Arc<OwnedFd>>,
    timeout: Duration,
) -> Result<Tracer, AppError> {
    if spec.rate == 0 {
        return Err(AppError::Usage("--trace-rate must be at least 1".into()));
    }
    let exprs = compile_expr(&spec, netns.as_deref(), timeout).await?;
    let (table_fd, events_fd, rules) = in_netns(netns.as_deref(), || {
        let events = table::netlink_socket().map_err(|e| format!("the trace event socket: {e}"))?;
        subscribe(&events)
            .map_err(|e| format!("cannot subscribe to the kernel's trace events: {e}"))?;
        let rules = NftSocket::open().map_err(|e| format!("the nftables socket: {e}"))?;
        let t = table::netlink_socket().map_err(|e| format!("the trace table socket: {e}"))?;
        table::create(&t, &exprs)?;
        Ok((t, events, rules))
    })
    .map_err(AppError::Runtime)?;
    let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (stats, stop) = (stats.clone(), stop.clone());
        std::thread::Builder::new()
            .name("iptop-trace".into())
            .spawn(move || read_events(&events_fd, rules, &tx, &stats, &stop))
            .map_err(|e| AppError::Runtime(format!("cannot start the trace thread: {e}")))?
    };
    Ok(Tracer {
        spec,
        packets: rx,
        stats,
        stop,
        thread: Some(thread),
        _table: table_fd,
    })
}

/// The rules of chains, read once per rule set generation.
struct RuleCache {
    nft: NftSocket,
    generation: Option<u32>,
    chains: HashMap<(u8, String, String), Vec<RuleInfo>>,
}

impl RuleCache {
    fn fill(&mut self, family: u8, s: &mut Step) {
        let Some(h) = s.handle else {
            return;
        };
        let key = (family, s.table.clone(), s.chain.clone());
        if !self.chains.contains_key(&key) {
            let mut rules = Vec::new();
            if self
                .nft
                .rules(family, &s.table, &s.chain, &mut rules)
                .is_err()
            {
                rules.clear();
            }
            self.chains.insert(key.clone(), rules);
        }
        if let Some(rules) = self.chains.get(&key)
            && let Some(i) = rules.iter().position(|r| r.handle == Some(h))
        {
            s.rule = Some(i + 1);
            s.dnat = rules[i].dnat;
        }
    }

    /// Forgets the chains read when the rule set changed since.
    fn check_generation(&mut self) {
        let now = self.nft.generation().ok();
        if now != self.generation {
            self.chains.clear();
            self.generation = now;
        }
    }
}

/// A finished packet with its steps' rule positions.
fn resolve(g: events::Gathered, rules: &mut RuleCache) -> TracedPacket {
    let mut steps = Vec::with_capacity(g.events.len());
    for (family, mut s) in events::steps(&g.events) {
        rules.fill(family, &mut s);
        steps.push(s);
    }
    let (verdict, place) = events::decide(&steps);
    TracedPacket {
        id: g.id,
        time: Some(g.time),
        summary: g.summary,
        verdict,
        place,
        steps,
    }
}

/// The event thread: reads, groups and resolves until `stop`.
fn read_events(
    fd: &OwnedFd,
    nft: NftSocket,
    tx: &tokio::sync::mpsc::Sender<TracedPacket>,
    stats: &Stats,
    stop: &AtomicBool,
) {
    let mut asm = events::Assembler::new(table::FAMILY_INET, table::TABLE);
    let mut rules = RuleCache {
        nft,
        generation: None,
        chains: HashMap::new(),
    };
    let mut buf = vec![0u8; 256 << 10];
    let mut done = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: receives into our buffer of buf.len() bytes.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        let now = Instant::now();
        if n < 0 {
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::ENOBUFS) => {
                    stats.lost.fetch_add(1, Ordering::Relaxed);
                }
                Some(libc::EAGAIN | libc::EINTR) => {}
                _ => break,
            }
        } else {
            for m in events::messages(&buf[..n as usize]) {
                if let Some(e) = events::decode(m) {
                    asm.push(e, now, &mut done);
                }
            }
        }
        asm.flush(now, &mut done);
        if done.is_empty() {
            continue;
        }
        rules.check_generation();
        for g in done.drain(..) {
            let p = resolve(g, &mut rules);
            stats.seen.fetch_add(1, Ordering::Relaxed);
            if tx.try_send(p).is_err() {
                stats.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Tracer {
    /// Every packet traced so far.
    pub fn drain(&mut self) -> Vec<TracedPacket> {
        let mut out = Vec::new();
        while let Ok(p) = self.packets.try_recv() {
            out.push(p);
        }
        out
    }

    pub fn seen(&self) -> u64 {
        self.stats.seen.load(Ordering::Relaxed)
    }

    pub fn lost(&self) -> u64 {
        self.stats.lost.load(Ordering::Relaxed)
    }

    /// Waits until packets quiet for [`events::QUIET`] are surely assembled.
    pub async fn settle(&self) {
        tokio::time::sleep(events::QUIET * 2 + Duration::from_millis(100)).await;
    }
}
