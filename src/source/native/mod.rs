//! Native nftables tables (every table of the namespace iptables-nft did not make),
//! read in the namespace of `--netns` as the iptables child is.
//!
//! At the start and whenever the rule set's generation id changes, the tables are
//! listed: their chains and rules (handles, counters, verdicts) from the kernel over
//! netlink (`build.rs`), the rules' text and verdict maps from `nft -a list ruleset`
//! (one child process). Every other poll asks the kernel only for the counters, per
//! chain, and puts them on the rules by handle; a handle that does not fit lists again.
//! Without the `nft` program the chains and counters are still shown, each rule by its
//! handle, and [`NativeReader::take_notice`] says what is missing.

mod build;
mod counters;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::kernel::nft::NftSocket;
use super::live::find_binary;
use super::recording::NativeRecorder;
use super::replay::NativeSlot;
use super::spawn;
use crate::model::FirewallTable;
use build::Failed;
pub use build::no_text;

/// The most `nft -a list ruleset` may print.
const MAX_OUTPUT: usize = 256 << 20;

/// How often a read starts again when the rule set changes while it is read.
const ATTEMPTS: usize = 4;

/// What is said once when `nft` is missing.
pub const NO_NFT: &str = "native nftables tables: `nft` is not on PATH, so their rules show by handle only, without their text, sets or verdict maps (Debian, Ubuntu and Fedora package nft as nftables)";

/// Why no native table could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NativeError {
    Failed(String),
}

impl std::fmt::Display for NativeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NativeError::Failed(why) => {
                write!(f, "native nftables tables cannot be shown: {why}")
            }
        }
    }
}

/// The netlink socket and the tables last read with it.
struct Kernel {
    sock: NftSocket,
    listed: Option<Listed>,
}

/// The tables of the last read, and what is known of them since they were listed.
struct Listed {
    generation: u32,
    tables: Vec<FirewallTable>,
    plans: Vec<counters::Plan>,
    polls_since_full: u32,
}

pub struct NativeReader {
    nft: Option<PathBuf>,
    netns: Option<Arc<OwnedFd>>,
    timeout: Duration,
    /// None until the first read opens it; taken while a read runs off the runtime.
    kernel: Option<Result<Box<Kernel>, String>>,
    /// Said once by the caller: what cannot be shown.
    notice: Option<String>,
    noticed: bool,
    /// A replay: the tables are those of the poll it returned last, read from their text.
    replay: Option<Replayed>,
    /// `--record`: each read's tables go into the recording too.
    record: Option<NativeRecorder>,
}

/// A replay's native tables: where their text comes from, and the last text read.
struct Replayed {
    slot: NativeSlot,
    last: Option<(Arc<str>, Vec<FirewallTable>)>,
}

/// What a step of a read run off the runtime came to.
enum Step {
    Tables(Vec<FirewallTable>),
    /// The rule set is at this generation and must be listed.
    List(u32),
}

impl NativeReader {
    /// A reader in `netns` (None: iptop's own namespace), finding `nft` on PATH.
    pub fn new(netns: Option<Arc<OwnedFd>>, timeout: Duration) -> NativeReader {
        NativeReader {
            nft: find_binary("nft"),
            netns,
            timeout,
            kernel: None,
            notice: None,
            noticed: false,
            replay: None,
            record: None,
        }
    }

    /// A reader of a replay's native tables: those of the poll it returned last.
    pub fn replaying(slot: NativeSlot) -> NativeReader {
        NativeReader {
            replay: Some(Replayed { slot, last: None }),
            ..NativeReader::new(None, Duration::ZERO)
        }
    }

    /// Writes each read's tables into a recording too.
    pub fn record_to(&mut self, rec: NativeRecorder) {
        self.record = Some(rec);
    }

    /// What cannot be shown (no `nft`): once.
    pub fn take_notice(&mut self) -> Option<String> {
        if self.noticed {
            return None;
        }
        let n = self.notice.take();
        self.noticed |= n.is_some();
        n
    }

    /// Runs `f` on the kernel side off the async runtime's thread.
    async fn with_kernel<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Kernel) -> T + Send + 'static,
    ) -> Result<T, NativeError> {
        let k = match self.kernel.take() {
            Some(k) => k,
            None => {
                let netns = self.netns.clone();
                tokio::task::spawn_blocking(move || open_in(netns.as_deref()))
                    .await
                    .unwrap_or_else(|_| Err("the socket thread failed".into()))
                    .map(|sock| Box::new(Kernel { sock, listed: None }))
            }
        };
        let mut k = match k {
            Ok(k) => k,
            Err(e) => {
                self.kernel = Some(Err(e.clone()));
                return Err(NativeError::Failed(e));
            }
        };
        let (k, out) = tokio::task::spawn_blocking(move || {
            let out = f(&mut k);
            (k, out)
        })
        .await
        .map_err(|_| NativeError::Failed("the netlink reader panicked".into()))?;
        self.kernel = Some(Ok(k));
        Ok(out)
    }

    /// Every native table of the namespace now, with its counters (of a replay: those
    /// of the poll it returned last). With `--record`, written into the recording.
    pub async fn read(&mut self) -> Result<Vec<FirewallTable>, NativeError> {
        if let Some(r) = &mut self.replay {
            let now = r
                .slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            let Some(text) = now else {
                return Ok(Vec::new());
            };
            if let Some((t, tables)) = &r.last
                && Arc::ptr_eq(t, &text)
            {
                return Ok(tables.clone());
            }
            let tables = crate::parse::nft::text::parse(&text);
            r.last = Some((text, tables.clone()));
            return Ok(tables);
        }
        let read = self.read_kernel().await;
        if let (Ok(tables), Some(rec)) = (&read, &self.record)
            && let Err(e) = rec.write(tables)
        {
            self.record = None;
            self.notice.get_or_insert_with(|| {
                format!("cannot write the native nftables tables into the recording: {e}")
            });
        }
        read
    }

    async fn read_kernel(&mut self) -> Result<Vec<FirewallTable>, NativeError> {
        let io =
            |e: std::io::Error| NativeError::Failed(format!("reading nftables over netlink: {e}"));
        for _ in 0..ATTEMPTS {
            let step = self
                .with_kernel(|k| -> Result<Step, Failed> {
                    let generation = k.sock.generation()?;
                    match &mut k.listed {
                        Some(l) if l.generation == generation => {
                            let mut now = l.tables.clone();
                            for t in &mut now {
                                t.same_rules_as_prev = true;
                            }
                            let full = l.polls_since_full + 1 >= counters::FULL_EVERY;
                            let r = counters::read(
                                &mut k.sock,
                                generation,
                                &mut now,
                                &mut l.plans,
                                full,
                            );
                            match r {
                                Ok(()) => {
                                    l.polls_since_full =
                                        if full { 0 } else { l.polls_since_full + 1 };
                                    for (t, prev) in now.iter().zip(l.tables.iter()) {
                                        t.share_callers(prev);
                                    }
                                    l.tables.clone_from(&now);
                                    Ok(Step::Tables(now))
                                }
                                Err(e) => {
                                    k.listed = None;
                                    Err(e)
                                }
                            }
                        }
                        _ => Ok(Step::List(generation)),
                    }
                })
                .await?;
            let generation = match step {
                Ok(Step::Tables(t)) => return Ok(t),
                Ok(Step::List(g)) => g,
                Err(Failed::Changed) => continue,
                Err(Failed::Io(e)) => return Err(io(e)),
            };
            // a host of iptables-nft tables only: no nft child at each of its changes
            let any = self
                .with_kernel(|k| build::any_native(&mut k.sock))
                .await?
                .map_err(io)?;
            let listing = match &self.nft {
                _ if !any => None,
                Some(_) => Some(crate::parse::nft::listing::parse_listing(
                    &self.run(&["-a", "list", "ruleset"]).await?,
                )),
                None => {
                    self.notice.get_or_insert_with(|| NO_NFT.to_string());
                    None
                }
            };
            let listed = self
                .with_kernel(move |k| -> Result<Vec<FirewallTable>, Failed> {
                    let tables = build::list(&mut k.sock, generation, listing.as_ref())?;
                    if k.sock.generation()? != generation {
                        return Err(Failed::Changed);
                    }
                    let bare = listing.is_none();
                    k.listed = Some(Listed {
                        generation,
                        plans: tables.iter().map(|t| counters::Plan::of(t, bare)).collect(),
                        tables: tables.clone(),
                        polls_since_full: 0,
                    });
                    Ok(tables)
                })
                .await?;
            match listed {
                Ok(t) => return Ok(t),
                Err(Failed::Changed) => {}
                Err(Failed::Io(e)) => return Err(io(e)),
            }
        }
        Err(NativeError::Failed(
            "the rule set changed on every try while it was read".into(),
        ))
    }

    async fn run(&self, args: &[&str]) -> Result<String, NativeError> {
        let Some(nft) = self.nft.as_ref() else {
            return Err(NativeError::Failed(NO_NFT.into()));
        };
        let args: Vec<String> = args.iter().map(ToString::to_string).collect();
        let netns = self.netns.as_ref().map(AsRawFd::as_raw_fd);
        let mut child = spawn::spawn(nft, &args, netns, MAX_OUTPUT as u64 + 1)
            .map_err(|e| NativeError::Failed(format!("starting nft: {e}")))?;
        let exit = tokio::select! {
            r = child.wait() => r.map_err(|e| NativeError::Failed(format!("nft: {e}")))?,
            () = tokio::time::sleep(self.timeout) => {
                child.kill_and_reap();
                return Err(NativeError::Failed(format!(
                    "nft {} took longer than {}",
                    args.join(" "),
                    humantime::format_duration(self.timeout)
                )));
            }
        };
        let out = spawn::read_output(&child.stdout, MAX_OUTPUT + 1)
            .map_err(|e| NativeError::Failed(format!("reading nft's output: {e}")))?;
        let err = spawn::read_output(&child.stderr, 1 << 16).unwrap_or_default();
        match exit {
            spawn::Exit::Code(0) if out.len() <= MAX_OUTPUT => {
                Ok(String::from_utf8_lossy(&out).into_owned())
            }
            spawn::Exit::Code(0) => Err(NativeError::Failed(format!(
                "nft printed more than {MAX_OUTPUT} bytes"
            ))),
            e => {
                let msg = String::from_utf8_lossy(&err);
                let first = msg.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                Err(NativeError::Failed(format!(
                    "nft {} failed ({e:?}): {first}",
                    args.join(" ")
                )))
            }
        }
    }
}

/// Is the native table `(family, name)` asked for (`-t`)?
pub type WantsTable = Box<dyn Fn(&str, &str) -> bool + Send>;

/// The native nftables tables a poll loop shows beside the iptables ones (the live
/// view, `--stream`, `--listen`): read on every poll, only those asked for.
pub struct NativeFeed {
    pub reader: NativeReader,
    pub wants: WantsTable,
}

impl NativeFeed {
    /// The native tables asked for, now; or why none can be read.
    pub async fn read_tables(&mut self) -> Result<Vec<FirewallTable>, String> {
        let tables = self.reader.read().await.map_err(|e| e.to_string())?;
        Ok(tables
            .into_iter()
            .filter(|t| (self.wants)(t.family.as_deref().unwrap_or_default(), &t.name))
            .collect())
    }

    /// What cannot be shown of the tables read (no `nft`): once.
    pub fn take_notice(&mut self) -> Option<String> {
        self.reader.take_notice()
    }
}

/// A netlink socket made inside `netns` (a thread enters it; iptop stays where it is).
fn open_in(netns: Option<&OwnedFd>) -> Result<NftSocket, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(fd) = netns {
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("cannot enter the network namespace: {e}"))?;
            }
            NftSocket::open().map_err(|e| format!("netlink socket: {e}"))
        })
        .join()
        .unwrap_or_else(|_| Err("the socket thread failed".into()))
    })
}
