//! Where listings come from: the real `iptables` binary ([`live`]) or a saved listing or
//! recording ([`replay`]). Both yield [`RawPoll`]s (the raw text of each table, with
//! exit status and stderr); [`snapshot_from`] turns one into a [`Snapshot`] or says
//! exactly why it cannot.

pub mod kernel;
pub mod live;
pub mod native;
pub mod netns;
pub mod open;
pub mod poll_loop;
pub mod recording;
pub mod replay;
pub mod schedule;
pub mod spawn;
pub mod start;
pub mod text;
pub mod trace;
pub mod version;

pub use open::{CountersFrom, DEMO, Source, SourceConfig};
pub use poll_loop::{PollLoop, Polled};

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::AppError;
use crate::model::text::ListingText;
use crate::model::{Backend, Snapshot};
use crate::parse::{ParseError, parse_table_counted};

/// What running the binary for one table gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawListing {
    pub table: String,
    /// The back end that listed it (None: unknown, as for a pasted listing).
    pub backend: Option<Backend>,
    /// The table does not exist in this back end (legacy tables are never listed then:
    /// listing one would create it). Nothing was run; there is no text.
    pub absent: bool,
    /// Shared with the table parsed from it (see [`crate::model::FirewallTable::listing`]).
    pub stdout: Arc<ListingText>,
    pub stderr: String,
    /// Exit status; `None` when the child did not exit normally (see `failure`).
    pub status: Option<i32>,
    pub took: Duration,
    /// Counters read from the kernel for this listing's rules (`--source kernel`): they
    /// replace the listing's own, by (chain, position).
    pub kernel: Option<Arc<kernel::Counters>>,
    /// Set when there is no usable exit status: the binary could not be started, was
    /// killed at the timeout, or printed more than iptop accepts.
    pub failure: Option<Failure>,
    /// Written by iptop from the table's entries as x_tables handed them out, the way
    /// iptables-legacy lists them ([`kernel::legacy_text`]): no iptables was run.
    pub written: bool,
    /// Its counters are read less often than polled ([`crate::model::Spared`]); with
    /// `held`, `kernel` holds the last read's.
    pub spared: Option<crate::model::Spared>,
    /// The table itself, built straight from the kernel's entries for a poll no other
    /// follows ([`kernel::legacy_text::table`]): no text was written, nothing to parse.
    pub built: Option<Arc<crate::model::FirewallTable>>,
}

impl RawListing {
    /// A listing of `table` with nothing in it yet.
    pub fn empty(table: &str) -> RawListing {
        RawListing {
            table: table.to_string(),
            backend: None,
            absent: false,
            stdout: Arc::default(),
            stderr: String::new(),
            status: None,
            took: Duration::ZERO,
            kernel: None,
            failure: None,
            written: false,
            spared: None,
            built: None,
        }
    }

    /// The table exists in this back end and the binary listed it (exit status 0).
    pub fn listed(&self) -> bool {
        !self.absent && self.failure.is_none() && self.status == Some(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The binary is not there (`ENOENT`).
    NotFound(String),
    /// Starting it failed otherwise (permissions, entering the namespace).
    Spawn(String),
    /// Killed after the poll timeout.
    Timeout(Duration),
    /// Killed by a signal it did not get from iptop.
    Signal(i32),
    /// More output than iptop reads.
    TooLarge(usize),
    /// iptop may not look (reading `/proc/net/ip_tables_names` as a normal user).
    Denied(String),
    /// A replayed poll the recording holds only part of (cut off or damaged); says
    /// where in which file.
    Damaged(String),
    /// Reading the counters from the kernel failed.
    Kernel(String),
}

/// One poll: every table's listing at about the same moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPoll {
    pub seq: u64,
    /// Monotonic offset from the start of the source (recorded for replays).
    pub at: Duration,
    pub taken_at: SystemTime,
    pub listings: Vec<RawListing>,
    /// True for the first poll after a replay looped or a recording's new session:
    /// counters are not comparable with the poll before.
    pub discontinuity: bool,
    /// No poll follows this one (`--once` without a window): its parse keeps nothing for
    /// a next one to reuse.
    pub last: bool,
}

impl RawPoll {
    pub fn took(&self) -> Duration {
        self.listings.iter().map(|l| l.took).sum()
    }
}

/// Why a poll gave no snapshot. The UI keeps the last good one and shows this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollError {
    NotFound {
        binary: String,
    },
    PermissionDenied {
        table: String,
        detail: String,
    },
    Timeout {
        table: String,
        after: Duration,
    },
    Locked {
        table: String,
        detail: String,
    },
    UnknownTable {
        table: String,
        detail: String,
    },
    /// iptables-nft stopped mid-listing at a rule it cannot print (exit 3).
    Incomplete {
        table: String,
        detail: String,
    },
    Failed {
        table: String,
        status: Option<i32>,
        detail: String,
    },
    Parse {
        table: String,
        error: ParseError,
    },
    /// The output ends in the middle of a line.
    CutOff {
        table: String,
    },
    Spawn {
        table: String,
        detail: String,
    },
    TooLarge {
        table: String,
        bytes: usize,
    },
    /// A recorded poll that is cut off or damaged: never shown in part.
    Damaged {
        table: String,
        detail: String,
    },
    /// The kernel and the listing disagree on the chains or their rule counts.
    Mismatch {
        table: String,
        detail: String,
    },
    /// A replay holds no listing of a table asked for.
    MissingTable {
        table: String,
        have: Vec<String>,
    },
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PollError::NotFound { binary } => write!(
                f,
                "`{binary}` not found (install iptables, or try --demo / --replay FILE)"
            ),
            PollError::PermissionDenied { table, detail } => write!(
                f,
                "permission denied listing table {table}: run iptop as root (sudo iptop), or try --demo / --replay FILE ({detail})"
            ),
            PollError::Timeout { table, after } => write!(
                f,
                "listing table {table} took longer than {}; iptables was killed",
                humantime::format_duration(*after)
            ),
            PollError::Locked { table, .. } => {
                write!(f, "table {table}: another program holds the xtables lock")
            }

            PollError::UnknownTable { table, detail } => {
                write!(f, "table {table} does not exist here ({detail})")
            }
            PollError::Incomplete { table, detail } => write!(
                f,
                "table {table} is incomplete: iptables stopped at a rule it cannot print ({detail}); the table holds native nftables rules, see `nft list ruleset`"
            ),
            PollError::Failed {
                table,
                status,
                detail,
            } => match status {
                Some(s) => write!(f, "listing table {table} failed (exit {s}): {detail}"),
                None => write!(f, "listing table {table} failed: {detail}"),
            },
            PollError::Parse { table, error } => {
                write!(f, "cannot read the listing of table {table}: {error}")
            }
            PollError::CutOff { table } => write!(
                f,
                "the listing of table {table} ends mid-line (output cut off)"
            ),
            PollError::Spawn { table, detail } => {
                write!(f, "cannot run iptables for table {table}: {detail}")
            }
            PollError::TooLarge { table, bytes } => {
                write!(
                    f,
                    "the listing of table {table} is larger than {bytes} bytes; refusing to read it"
                )
            }
            PollError::Damaged { detail, .. } => f.write_str(detail),
            PollError::Mismatch { table, detail } => write!(
                f,
                "table {table}: the kernel's counters do not fit the listing ({detail})"
            ),
            PollError::MissingTable { table, have } => {
                write!(
                    f,
                    "no listing of table {table} to replay (it has: {})",
                    have.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for PollError {}

impl From<PollError> for AppError {
    fn from(e: PollError) -> Self {
        AppError::Runtime(e.to_string())
    }
}

impl PollError {
    /// Errors every later poll will repeat: iptop is not root, iptables is missing, the
    /// namespace cannot be entered. The live view ends with them before it starts.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            PollError::NotFound { .. }
                | PollError::PermissionDenied { .. }
                | PollError::Spawn { .. }
        )
    }

    /// Errors a later poll may not repeat (the lock, a timeout): worth retrying.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PollError::Locked { .. } | PollError::Timeout { .. } | PollError::CutOff { .. }
        )
    }
}

/// The first line of stderr that says something, for messages.
fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("# Warning"))
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

/// Classifies a non-zero exit or a failure of one listing.
fn listing_error(l: &RawListing) -> Option<PollError> {
    let table = l.table.clone();
    if let Some(f) = &l.failure {
        return Some(match f {
            Failure::NotFound(binary) => PollError::NotFound {
                binary: binary.clone(),
            },
            Failure::Spawn(detail) => PollError::Spawn {
                table,
                detail: detail.clone(),
            },
            Failure::Timeout(after) => PollError::Timeout {
                table,
                after: *after,
            },
            Failure::Signal(sig) => PollError::Failed {
                table,
                status: None,
                detail: format!("killed by signal {sig}"),
            },
            Failure::TooLarge(bytes) => PollError::TooLarge {
                table,
                bytes: *bytes,
            },
            Failure::Denied(detail) => PollError::PermissionDenied {
                table,
                detail: detail.clone(),
            },
            Failure::Damaged(detail) => PollError::Damaged {
                table,
                detail: detail.clone(),
            },
            Failure::Kernel(detail) => PollError::Failed {
                table,
                status: None,
                detail: detail.clone(),
            },
        });
    }
    let status = l.status?;
    if status == 0 {
        return None;
    }
    let err = &l.stderr;
    let detail = first_line(err);
    Some(
        if err.contains("Permission denied")
            || err.contains("you must be root")
            || err.contains("Operation not permitted")
        {
            PollError::PermissionDenied { table, detail }
        } else if status == 4 || err.contains("xtables lock") {
            PollError::Locked { table, detail }
        } else if err.contains("Parsing nftables rule failed")
            || err.contains("unsupported") && status == 3
        {
            PollError::Incomplete {
                table,
                detail: format!("exit {status}: {}", detail_lines(err)),
            }
        } else if err.contains("does not exist") || err.contains("can't initialize") {
            PollError::UnknownTable { table, detail }
        } else {
            PollError::Failed {
                table,
                status: Some(status),
                detail: if detail.is_empty() {
                    "no message".into()
                } else {
                    detail
                },
            }
        },
    )
}

fn detail_lines(err: &str) -> String {
    err.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(2)
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Turns a raw poll into a snapshot of the tables asked for, or the first reason it
/// cannot be one. A listing is accepted only whole: exit 0, ending in a newline, parsed
/// completely.
pub fn snapshot_from(raw: &RawPoll, tables: &[String]) -> Result<Snapshot, PollError> {
    snapshot_reusing(raw, tables, None)
}

/// [`snapshot_from`], reusing the rules of `prev` (the last good poll) whose text did not
/// change: the same result, at a fraction of the cost.
pub fn snapshot_reusing(
    raw: &RawPoll,
    tables: &[String],
    prev: Option<&Snapshot>,
) -> Result<Snapshot, PollError> {
    let mut out = Vec::with_capacity(tables.len());
    let mut warnings = Vec::new();
    let mut note = |w: String| {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    };
    for name in tables {
        let listings: Vec<&RawListing> = raw.listings.iter().filter(|l| &l.table == name).collect();
        if listings.is_empty() {
            return Err(PollError::MissingTable {
                table: name.clone(),
                have: raw.listings.iter().map(|l| l.table.clone()).collect(),
            });
        }
        let mut parsed: Vec<crate::model::FirewallTable> = Vec::with_capacity(listings.len());
        for l in &listings {
            if l.absent {
                note(absent_note(l));
                continue;
            }
            if let Some(e) = listing_error(l) {
                return Err(e);
            }
            if !l.stdout.is_empty() && !l.stdout.ends_with('\n') {
                return Err(PollError::CutOff {
                    table: name.clone(),
                });
            }
            let prev_t = prev.and_then(|p| p.table_of(name, l.backend));
            let mut t = match (&l.built, kernel::reuse(prev_t, l)) {
                (Some(built), _) => crate::model::FirewallTable::clone(built),
                (None, Some(t)) => t,
                (None, None) => {
                    // the kernel's rule counts choose the reading of crafted comments
                    let counts = l
                        .kernel
                        .as_deref()
                        .map(|k| move |c: &str| k.names.get(c).map(|&i| k.chains[i].rules.len()));
                    parse_table_counted(
                        name,
                        &l.stdout,
                        prev_t,
                        counts.as_ref().map(|f| f as crate::parse::RuleCounts),
                        !raw.last,
                    )
                    .map_err(|error| PollError::Parse {
                        table: name.clone(),
                        error,
                    })?
                }
            };
            if let Some(k) = &l.kernel {
                kernel::apply(&mut t, k).map_err(|detail| PollError::Mismatch {
                    table: name.clone(),
                    detail,
                })?;
            }
            t.backend = l.backend;
            t.spared = l.spared;
            // iptables-nft's "iptables-legacy tables present": moot when iptop lists the
            // legacy table of this name too
            let legacy_listed = listings
                .iter()
                .any(|o| o.backend == Some(Backend::Legacy) && !o.absent);
            for w in l.stderr.lines().map(str::trim).filter(|w| !w.is_empty()) {
                if legacy_listed && w.contains("iptables-legacy tables present") {
                    continue;
                }
                note(w.to_string());
            }
            for w in &t.warnings {
                note(w.clone());
            }
            parsed.push(t);
        }
        // With both back ends listed (auto), an nft table without a rule or a changed
        // policy holds nothing: the legacy one is where the rules are.
        if parsed.len() > 1 {
            let holds = |t: &crate::model::FirewallTable| {
                t.backend != Some(Backend::Nft)
                    || t.rule_count() > 0
                    || t.chains
                        .iter()
                        .any(|c| !c.is_builtin() || c.policy().is_some_and(|p| p != "ACCEPT"))
            };
            if parsed.iter().all(holds) {
                note(format!(
                    "table {name} holds rules in both iptables-nft and iptables-legacy: the kernel evaluates both rule sets, and each tool shows only its own half"
                ));
            } else {
                parsed.retain(holds);
            }
        }
        out.extend(parsed);
    }
    Ok(Snapshot {
        taken_at: raw.taken_at,
        at: raw.at,
        took: raw.took(),
        tables: out,
        warnings,
        seq: raw.seq,
    })
}

/// What a table that does not exist in a back end means for the user: the source says
/// it in the listing's stderr (so that a recording keeps it).
fn absent_note(l: &RawListing) -> String {
    match first_line(&l.stderr) {
        s if s.is_empty() => format!(
            "table {} does not exist in the {} back end here",
            l.table,
            l.backend.map_or("selected", Backend::as_str)
        ),
        s => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(stdout: &str, stderr: &str, status: i32) -> RawPoll {
        RawPoll {
            last: false,
            seq: 1,
            at: Duration::ZERO,
            taken_at: SystemTime::UNIX_EPOCH,
            listings: vec![RawListing {
                table: "filter".into(),
                backend: None,
                absent: false,
                stdout: Arc::new(ListingText::from(stdout)),
                stderr: stderr.into(),
                status: Some(status),
                took: Duration::from_millis(3),
                kernel: None,
                failure: None,
                written: false,
                spared: None,
                built: None,
            }],
            discontinuity: false,
        }
    }

    const OK: &str = "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\nnum pkts bytes target prot opt in out source destination\n";

    fn err(p: &RawPoll) -> PollError {
        snapshot_from(p, &["filter".to_string()]).unwrap_err()
    }

    #[test]
    fn classifies_failures() {
        assert!(matches!(
            err(&listing(
                "",
                "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n",
                4
            )),
            PollError::PermissionDenied { .. }
        ));
        let e = err(&listing(
            "",
            "Can't lock /run/xtables.lock: Resource temporarily unavailable\nAnother app is currently holding the xtables lock. Stopped waiting after 1s.\n",
            4,
        ));
        assert!(matches!(e, PollError::Locked { .. }), "{e:?}");
        assert!(e.is_transient());
        let e = err(&listing(
            OK,
            "Error: unsupported layer 4 protocol value\niptables v1.8.9 (nf_tables): Parsing nftables rule failed\nPerhaps iptables or your kernel needs to be upgraded.\n",
            3,
        ));
        assert!(matches!(e, PollError::Incomplete { .. }), "{e:?}");
        assert!(e.to_string().contains("incomplete"), "{e}");
        assert!(matches!(
            err(&listing(
                "",
                "iptables v1.8.9 (legacy): can't initialize iptables table `foo': Table does not exist (do you need to insmod?)\n",
                3
            )),
            PollError::UnknownTable { .. }
        ));
        assert!(matches!(
            err(&listing(&OK[..40], "", 0)),
            PollError::CutOff { .. }
        ));
        assert!(matches!(
            err(&listing("garbage\n", "", 0)),
            PollError::Parse { .. }
        ));
    }

    #[test]
    fn warnings_are_kept_apart() {
        let s = snapshot_from(
            &listing(
                OK,
                "# Warning: iptables-legacy tables present, use iptables-legacy to see them\n",
                0,
            ),
            &["filter".to_string()],
        )
        .expect("snapshot");
        assert_eq!(
            s.warnings,
            ["# Warning: iptables-legacy tables present, use iptables-legacy to see them"]
        );
        assert_eq!(s.tables[0].chains.len(), 1);
    }
}
