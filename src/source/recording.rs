//! The recording format: every poll's raw listings with their time, table, exit status
//! and stderr, in a text file a human can read and `grep`:
//!
//! ```text
//! # iptop recording 3
//! @source kind live
//! @source version iptables v1.8.9 (nf_tables)
//! @poll 1 t=0.000 at=2026-11-26T12:00:00.123456Z
//! @listing filter backend=nft status=0 took=0.004
//! Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
//! ...
//! @listing nat status=0 took=0.003
//! ...
//! @end 312
//! @native
//! table ip docker-bridges {
//! ...
//! @end 40
//! ```
//!
//! Directives start with `@`; a listing line that itself starts with `@` or `#` is
//! written with one more `@` in front (so no rule text can pass for a directive or a
//! session header). `@stderr TEXT` lines carry what iptables wrote to stderr; `@cut`
//! after a listing means its output did not end with a newline; `@end N` closes a poll
//! of N lines (its `@poll` line included), so a recording cut anywhere, even at a line
//! boundary, or damaged in the middle, is told from a whole one. Appending to a file
//! starts a new session with its own header. `backend=nft|legacy` says which back end listed
//! the table (a table held by both appears twice in one poll); `absent` marks a legacy table
//! that does not exist, so was not listed; `written` one that iptop wrote from the kernel's
//! x_tables entries as iptables-legacy lists them (no iptables was run).
//!
//! `@native` after a poll's `@end` holds the native nftables tables read beside that
//! poll, as `nft -a list ruleset` prints them with their counters (see
//! [`crate::parse::nft::text`]), closed by its own `@end N`; version 3 adds it.
//!
//! Version 1 (no `@end`, `#` lines not escaped) is still read; a cut in it cannot be
//! told from the end of a poll.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Failure, RawListing, RawPoll};
use crate::model::{Backend, SourceInfo};

/// How every recording starts, up to its version.
pub const MAGIC_PREFIX: &str = "# iptop recording ";
/// The version written: 2 ends each poll with `@end N` and escapes `#` lines; 3 adds
/// `@native`.
pub const MAGIC: &str = "# iptop recording 3";
/// The newest version read.
const VERSION: u32 = 3;

mod native;
mod write;
pub use native::NativeRecorder;
pub use write::{Recorder, encode_poll, header};

fn decode_failure(s: &str, stderr: &str) -> Option<Failure> {
    let (kind, arg) = s.split_once(':').unwrap_or((s, ""));
    Some(match kind {
        "notfound" => Failure::NotFound(arg.to_string()),
        "spawn" => Failure::Spawn(stderr.trim().to_string()),
        "kernel" => Failure::Kernel(stderr.trim().to_string()),
        "timeout" => Failure::Timeout(Duration::from_secs_f64(
            arg.parse::<f64>()
                .ok()
                // the same bound as every other time in a recording
                .filter(|v| v.is_finite() && (0.0..1e12).contains(v))?,
        )),
        "signal" => Failure::Signal(arg.parse().ok()?),
        "toolarge" => Failure::TooLarge(arg.parse().ok()?),
        "denied" => Failure::Denied(stderr.trim().to_string()),
        "damaged" => Failure::Damaged(stderr.trim().to_string()),
        _ => return None,
    })
}

/// A recording read back: its sessions' source headers and polls, with times made
/// monotonic across sessions.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// Each session's own header.
    pub sessions: Vec<SourceInfo>,
    pub polls: Vec<RawPoll>,
    /// For each poll, the index of its session in `sessions`.
    pub session_of: Vec<usize>,
    /// For each poll, its native tables' text (`@native`), if it has one.
    pub native: Vec<Option<Arc<str>>>,
    /// For each listing of each poll, the file line where its text starts.
    pub listing_lines: Vec<Vec<usize>>,
    /// Polls the file holds only part of; they stay in `polls` (with whatever part was
    /// read) so that a replay can say where, but must never be shown.
    pub damaged: Vec<Damage>,
}

/// A poll cut off or damaged: which one, its line, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Index into [`Recording::polls`].
    pub poll: usize,
    pub line: usize,
    pub reason: String,
}

impl Recording {
    /// Replaces every listing of a damaged poll by a failure that names `file`, the
    /// line and the reason, for each table the recording holds (`table` if it holds
    /// none): a replay then reports the poll as failed and shows nothing of it.
    pub fn fail_damaged(&mut self, file: &str, table: Option<&str>) {
        let mut tables: Vec<String> = Vec::new();
        for p in &self.polls {
            for l in &p.listings {
                if !tables.contains(&l.table) {
                    tables.push(l.table.clone());
                }
            }
        }
        if tables.is_empty() {
            tables.push(table.unwrap_or("filter").to_string());
        }
        for d in &self.damaged {
            let detail = format!("{file}: line {}: {}", d.line, d.reason);
            if let Some(p) = self.polls.get_mut(d.poll) {
                p.listings = tables
                    .iter()
                    .map(|t| RawListing {
                        kernel: None,
                        failure: Some(Failure::Damaged(detail.clone())),
                        stderr: format!("{detail}\n"),
                        ..RawListing::empty(t)
                    })
                    .collect();
            }
        }
    }
}

/// A recording line that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub line: usize,
    pub reason: String,
}

pub fn is_recording(text: &str) -> bool {
    text.trim_start_matches('\u{feff}')
        .starts_with(MAGIC_PREFIX)
}

/// The version a session header line announces, if the line is one.
fn session_version(line: &str) -> Option<&str> {
    line.strip_prefix(MAGIC_PREFIX)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
}

fn parse_secs(v: &str, what: &str, line: usize) -> Result<Duration, FormatError> {
    v.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1e12)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| FormatError {
            line,
            reason: format!(
                "expected {what} in seconds, found `{}`",
                v.chars().take(40).collect::<String>()
            ),
        })
}

fn clean(raw: &str) -> &str {
    raw.strip_suffix('\r')
        .unwrap_or(raw)
        .trim_start_matches('\u{feff}')
}

pub fn parse_recording(text: &str) -> Result<Recording, FormatError> {
    let mut r = Reader::default();
    // every line a recorder writes ends in a newline: one that does not was cut
    let body = text.strip_suffix('\n');
    let cut_mid_line = body.is_none() && !text.is_empty();
    let body = body.unwrap_or(text);
    let mut lines = body.split('\n').enumerate().peekable();
    let mut last_line = 0;
    while let Some((i, raw)) = lines.next() {
        let lineno = i + 1;
        last_line = lineno;
        let line = clean(raw);
        let next = lines.peek();
        let last_of_session = next.is_none_or(|(_, n)| session_version(clean(n)).is_some());
        if next.is_none() && cut_mid_line && (r.version >= 2 || line.starts_with('#')) {
            if !r.skip_session {
                r.cut_at(lineno);
            }
            continue;
        }
        if let Some(v) = session_version(line) {
            r.end_session(lineno - 1);
            r.start_session(v, lineno)?;
            continue;
        }
        if r.skip_session {
            continue;
        }
        if let Err(e) = r.line(line, lineno) {
            // in a version 2 session, the one line a cut can break is its last
            if r.version >= 2 && last_of_session {
                r.cut_at(lineno);
            } else {
                return Err(e);
            }
        }
    }
    r.end_session(last_line);
    r.close_listing();
    if r.rec.polls.is_empty() {
        return Err(FormatError {
            line: 1,
            reason: "the recording holds no `@poll`".into(),
        });
    }
    Ok(r.rec)
}

/// A version 2 poll whose `@end` has not been read yet.
#[derive(Debug)]
struct OpenPoll {
    index: usize,
    seq: u64,
    line: usize,
    /// Lines read so far, its `@poll` line included.
    lines: usize,
}

#[derive(Default)]
struct Reader {
    rec: Recording,
    version: u32,
    listing: Option<RawListing>,
    /// The text of an open `@native` block.
    native: Option<String>,
    cut: bool,
    open: Option<OpenPoll>,
    /// The rest of a session whose last line broke.
    skip_session: bool,
    // time offset of the current session, so that appended sessions follow on
    base: Duration,
    session_first: Option<Duration>,
    new_session: bool,
    last_at: Duration,
}

impl Reader {
    fn close_listing(&mut self) {
        if let (Some(n), Some(slot)) = (self.native.take(), self.rec.native.last_mut()) {
            *slot = Some(n.into());
        }
        if let Some(mut l) = self.listing.take() {
            if self.cut {
                if l.stdout.ends_with('\n') {
                    Arc::make_mut(&mut l.stdout).to_mut().pop();
                }
                self.cut = false;
            }
            if let Some(p) = self.rec.polls.last_mut() {
                p.listings.push(l);
            }
        }
    }

    fn start_session(&mut self, version: &str, lineno: usize) -> Result<(), FormatError> {
        self.version = version
            .parse()
            .ok()
            .filter(|v| (1..=VERSION).contains(v))
            .ok_or_else(|| FormatError {
                line: lineno,
                reason: format!(
                    "recording version {} (this iptop reads versions 1 to {VERSION})",
                    version.chars().take(20).collect::<String>()
                ),
            })?;
        if !self.rec.polls.is_empty() {
            self.new_session = true;
            self.base = self.last_at + Duration::from_secs(1);
            self.session_first = None;
        }
        self.skip_session = false;
        self.rec.sessions.push(SourceInfo::default());
        Ok(())
    }

    /// The end of a session (`last` is its last line): a poll still open was cut off.
    fn end_session(&mut self, last: usize) {
        self.close_listing();
        if let Some(o) = self.open.take() {
            self.damage(
                o.index,
                o.line,
                format!(
                    "poll {} is cut off: the recording ends at line {last}, inside it",
                    o.seq
                ),
            );
        }
    }

    fn damage(&mut self, poll: usize, line: usize, reason: String) {
        if !self.rec.damaged.iter().any(|d| d.poll == poll) {
            self.rec.damaged.push(Damage { poll, line, reason });
        }
    }

    /// Line `lineno` is broken and the last of its session: the poll it is in (or one
    /// that was starting) is cut off there.
    fn cut_at(&mut self, lineno: usize) {
        self.close_listing();
        self.skip_session = true;
        if let Some(o) = self.open.take() {
            self.damage(
                o.index,
                o.line,
                format!(
                    "poll {} is cut off: the recording ends at line {lineno}, inside it",
                    o.seq
                ),
            );
            return;
        }
        // between polls (a `@poll` line itself cut): a poll of which nothing is left
        let seq = self.rec.polls.last().map_or(1, |p| p.seq + 1);
        let taken_at = self
            .rec
            .polls
            .last()
            .map_or(SystemTime::UNIX_EPOCH, |p| p.taken_at);
        self.push_poll(seq, self.last_at, taken_at);
        let index = self.rec.polls.len() - 1;
        self.damage(
            index,
            lineno,
            "the recording is cut off at this line".into(),
        );
    }

    fn push_poll(&mut self, seq: u64, at: Duration, taken_at: SystemTime) {
        if self.rec.sessions.is_empty() {
            self.rec.sessions.push(SourceInfo::default());
        }
        self.rec.polls.push(RawPoll {
            seq,
            at,
            taken_at,
            listings: Vec::new(),
            discontinuity: std::mem::take(&mut self.new_session),
            last: false,
        });
        self.rec.session_of.push(self.rec.sessions.len() - 1);
        self.rec.listing_lines.push(Vec::new());
        self.rec.native.push(None);
    }

    fn line(&mut self, line: &str, lineno: usize) -> Result<(), FormatError> {
        let err = |reason: String| FormatError {
            line: lineno,
            reason,
        };
        if let Some(o) = &mut self.open {
            o.lines += 1;
        }
        // a listing line starting with `@` or `#`, escaped
        if let Some(n) = &mut self.native
            && (!line.starts_with('@') || line.starts_with("@@") || line.starts_with("@#"))
        {
            n.push_str(line.strip_prefix('@').unwrap_or(line));
            n.push('\n');
            return Ok(());
        }
        if line.starts_with("@@") || line.starts_with("@#") {
            let escaped = &line[1..];
            let l = self
                .listing
                .as_mut()
                .ok_or_else(|| err("listing text outside a `@listing` block".into()))?;
            let out = Arc::make_mut(&mut l.stdout).to_mut();
            out.push_str(escaped);
            out.push('\n');
            return Ok(());
        }
        if let Some(d) = line.strip_prefix('@') {
            let (word, rest) = d.split_once(' ').unwrap_or((d, ""));
            return self.directive(word, rest, lineno);
        }
        if line.starts_with('#') && self.listing.is_none() {
            return Ok(());
        }
        let l = self
            .listing
            .as_mut()
            .ok_or_else(|| err("expected `@poll` or `@listing` before listing text".into()))?;
        let out = Arc::make_mut(&mut l.stdout).to_mut();
        out.push_str(line);
        out.push('\n');
        Ok(())
    }

    fn directive(&mut self, word: &str, rest: &str, lineno: usize) -> Result<(), FormatError> {
        let err = |reason: String| FormatError {
            line: lineno,
            reason,
        };
        match word {
            "source" => {
                let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                let v = v.to_string();
                if self.rec.sessions.is_empty() {
                    self.rec.sessions.push(SourceInfo::default());
                }
                let Some(info) = self.rec.sessions.last_mut() else {
                    return Ok(());
                };
                match k {
                    "kind" => {
                        if let Some(k) = crate::model::SourceKind::from_name(&v) {
                            info.kind = k;
                        }
                    }
                    "host" => info.host = v,
                    "netns" => info.netns = Some(v),
                    // an older or later word: not known
                    "backend" => info.backend = Backend::parse(&v),
                    "binary" => info.binary = v,
                    "family" => info.family = crate::model::IpFamily::from_name(&v),
                    "version" => info.version = v,
                    _ => {} // later versions may add fields
                }
            }
            "poll" => {
                let mut parts = rest.split(' ');
                let seq = parts
                    .next()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| err("expected `@poll N t=SECONDS at=TIME`".into()))?;
                let mut t = None;
                let mut at = None;
                for p in parts {
                    if let Some(v) = p.strip_prefix("t=") {
                        t = Some(parse_secs(v, "t", lineno)?);
                    } else if let Some(v) = p.strip_prefix("at=") {
                        at = Some(
                            humantime::parse_rfc3339_weak(v)
                                .map_err(|e| err(format!("bad time `{v}`: {e}")))?,
                        );
                    }
                }
                let t = t.ok_or_else(|| err("`@poll` without `t=`".into()))?;
                self.close_listing();
                if let Some(o) = self.open.take() {
                    self.damage(
                        o.index,
                        o.line,
                        format!(
                            "poll {} is damaged: it has no `@end` before the next poll at line {lineno}",
                            o.seq
                        ),
                    );
                }
                let first = *self.session_first.get_or_insert(t);
                let mut gat = self.base + t.saturating_sub(first);
                if gat < self.last_at {
                    gat = self.last_at; // times never run backwards
                }
                self.last_at = gat;
                self.push_poll(seq, gat, at.unwrap_or(SystemTime::UNIX_EPOCH + gat));
                if self.version >= 2 {
                    self.open = Some(OpenPoll {
                        index: self.rec.polls.len() - 1,
                        seq,
                        line: lineno,
                        lines: 1,
                    });
                }
            }
            "end" => {
                let o = self
                    .open
                    .take()
                    .ok_or_else(|| err("`@end` outside a poll".into()))?;
                self.close_listing();
                let n = rest.parse::<usize>().ok();
                // the `@end` line itself is not one of the poll's lines
                if n != Some(o.lines - 1) {
                    self.damage(
                        o.index,
                        o.line,
                        format!(
                            "poll {} is damaged: `@end {}` at line {lineno}, but it has {} lines",
                            o.seq,
                            rest.chars().take(20).collect::<String>(),
                            o.lines - 1
                        ),
                    );
                }
            }
            "native" => {
                self.close_listing();
                let (index, seq) = match self.rec.polls.last() {
                    Some(p) if self.open.is_none() => (self.rec.polls.len() - 1, p.seq),
                    _ => return Err(err("`@native` not right after a poll's `@end`".into())),
                };
                self.open = Some(OpenPoll {
                    index,
                    seq,
                    line: lineno,
                    lines: 1,
                });
                self.native = Some(String::new());
            }
            "listing" => {
                self.close_listing();
                if self.rec.polls.is_empty() {
                    return Err(err("`@listing` before the first `@poll`".into()));
                }
                if self.version >= 2 && self.open.is_none() {
                    return Err(err("`@listing` after its poll's `@end`".into()));
                }
                let mut parts = rest.split(' ');
                let table = parts
                    .next()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| err("`@listing` without a table name".into()))?;
                let mut l = RawListing::empty(table);
                let mut failure = None;
                for p in parts {
                    if let Some(v) = p.strip_prefix("status=") {
                        l.status = Some(v.parse().map_err(|_| err(format!("bad status `{v}`")))?);
                    } else if let Some(v) = p.strip_prefix("took=") {
                        l.took = parse_secs(v, "took", lineno)?;
                    } else if let Some(v) = p.strip_prefix("failure=") {
                        failure = Some(v.to_string());
                    } else if let Some(v) = p.strip_prefix("backend=") {
                        l.backend = Some(
                            crate::model::Backend::parse(v)
                                .ok_or_else(|| err(format!("unknown backend `{v}`")))?,
                        );
                    } else if p == "absent" {
                        l.absent = true;
                    } else if p == "written" {
                        l.written = true;
                    }
                }
                if let Some(f) = failure {
                    l.failure = Some(
                        decode_failure(&f, "")
                            .ok_or_else(|| err(format!("unknown failure `{f}`")))?,
                    );
                } else if l.status.is_none() && !l.absent {
                    return Err(err("`@listing` needs `status=` or `failure=`".into()));
                }
                if let Some(ls) = self.rec.listing_lines.last_mut() {
                    ls.push(lineno + 1);
                }
                self.listing = Some(l);
            }
            "stderr" => {
                let l = self
                    .listing
                    .as_mut()
                    .ok_or_else(|| err("`@stderr` outside a `@listing` block".into()))?;
                l.stderr.push_str(rest);
                l.stderr.push('\n');
                if let Some(Failure::Spawn(d) | Failure::Damaged(d) | Failure::Denied(d)) =
                    &mut l.failure
                {
                    *d = l.stderr.trim().to_string();
                }
                if let Some(ls) = self.rec.listing_lines.last_mut().and_then(|v| v.last_mut()) {
                    *ls = lineno + 1;
                }
            }
            "cut" => {
                if self.listing.is_none() {
                    return Err(err("`@cut` outside a `@listing` block".into()));
                }
                self.cut = true;
            }
            _ => {
                return Err(err(format!(
                    "unknown directive `@{}`",
                    word.chars().take(20).collect::<String>()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
