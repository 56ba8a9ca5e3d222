//! Native nftables tables (every table of the namespace iptables-nft did not make): read
//! with the `nft` program, in the namespace of `--netns` as the iptables child is.
//!
//! Each read runs `nft -j list ruleset` (libnftables' documented JSON: chains with their
//! hooks, rules with handles, verdicts, verdict maps and counters), and `nft -a list
//! ruleset` (each rule's text as nft prints it, by handle) only when the rule set's shape
//! changed: the JSON without its counters' numbers differs from the last one's. The
//! counters come from the JSON of every read; reading them by handle over netlink (as
//! `source/kernel/` does for iptables-nft's tables) is left for later.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::live::find_binary;
use super::spawn;
use crate::model::{FirewallTable, hash_str};

/// The most either listing may print.
const MAX_OUTPUT: usize = 256 << 20;

/// Why no native table could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NativeError {
    /// There is no `nft` program on PATH.
    NoNft,
    Failed(String),
}

impl std::fmt::Display for NativeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NativeError::NoNft => f.write_str(
                "native nftables tables cannot be shown: `nft` is not on PATH (it lives in /usr/sbin; Debian, Ubuntu and Fedora package it as nftables)",
            ),
            NativeError::Failed(why) => {
                write!(f, "native nftables tables cannot be shown: {why}")
            }
        }
    }
}

pub struct NativeReader {
    nft: Option<PathBuf>,
    netns: Option<Arc<OwnedFd>>,
    timeout: Duration,
    /// The shape of the rule set the texts were read for, and the texts.
    texts: Option<(u64, String)>,
}

impl NativeReader {
    /// A reader in `netns` (None: iptop's own namespace), finding `nft` on PATH.
    pub fn new(netns: Option<Arc<OwnedFd>>, timeout: Duration) -> NativeReader {
        NativeReader {
            nft: find_binary("nft"),
            netns,
            timeout,
            texts: None,
        }
    }

    /// Every native table of the namespace now, with its counters.
    pub async fn read(&mut self) -> Result<Vec<FirewallTable>, NativeError> {
        let json = self.run(&["-j", "list", "ruleset"]).await?;
        let shape = hash_str(&without_numbers(&json));
        if self.texts.as_ref().is_none_or(|(s, _)| *s != shape) {
            let text = self.run(&["-a", "list", "ruleset"]).await?;
            self.texts = Some((shape, text));
        }
        let text = self.texts.as_ref().map(|(_, t)| t.as_str());
        crate::parse::nft::parse_ruleset(&json, text).map_err(NativeError::Failed)
    }

    async fn run(&self, args: &[&str]) -> Result<String, NativeError> {
        let nft = self.nft.as_ref().ok_or(NativeError::NoNft)?;
        let args: Vec<String> = args.iter().map(ToString::to_string).collect();
        let netns = self.netns.as_ref().map(AsRawFd::as_raw_fd);
        let mut child = spawn::spawn(nft, &args, netns, MAX_OUTPUT as u64 + 1).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                NativeError::NoNft
            } else {
                NativeError::Failed(format!("starting nft: {e}"))
            }
        })?;
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
}

/// The JSON without the numbers of its counters (`"packets": 12`, `"bytes": 720`): the
/// same while only counters moved.
fn without_numbers(json: &str) -> String {
    const KEYS: [&str; 2] = ["\"packets\": ", "\"bytes\": "];
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some((at, len)) = KEYS
        .iter()
        .filter_map(|k| rest.find(k).map(|at| (at, k.len())))
        .min()
    {
        out.push_str(&rest[..at + len]);
        rest = rest[at + len..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_ignores_counters() {
        let a = r#"{"counter": {"packets": 6, "bytes": 360}}, {"dnat": {"port": 80}}"#;
        let b = r#"{"counter": {"packets": 16, "bytes": 1360}}, {"dnat": {"port": 80}}"#;
        let c = r#"{"counter": {"packets": 16, "bytes": 1360}}, {"dnat": {"port": 81}}"#;
        assert_eq!(without_numbers(a), without_numbers(b));
        assert_ne!(without_numbers(b), without_numbers(c));
    }
}
