//! Plays back a saved listing (a plain `iptables -vnL` dump, as users paste them) or an
//! iptop recording. Needs no root and no iptables.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::recording::{self, FormatError, Recording};
use super::{RawListing, RawPoll};
use crate::model::SourceInfo;
use crate::parse::parse_table;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error("{path}: line {line}: {reason}")]
    Format {
        path: String,
        line: usize,
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct ReplaySource {
    polls: Vec<RawPoll>,
    next: usize,
    /// Start over after the last poll (the demo) rather than stay on it.
    looping: bool,
    /// Added to recorded times after each loop, so time keeps moving forward.
    offset: Duration,
    info: SourceInfo,
    /// A plain dump: one listing, shown as it is (no movement).
    plain: bool,
    /// The first poll the recording holds only part of, where and why.
    damage: Option<String>,
    /// Each recorded session's header, and each poll's session: a poll is labelled
    /// with its own session's source, not the last one's.
    sessions: Vec<SourceInfo>,
    session_of: Vec<usize>,
}

impl ReplaySource {
    /// Reads a file: a recording, or a plain listing of `table`.
    pub fn open(path: &Path, table: &str) -> Result<Self, ReplayError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|err| ReplayError::Io {
            path: shown.clone(),
            err,
        })?;
        let text = super::text::lossy_string(bytes);
        let mut src = Self::from_text(&shown, &text, table)?;
        src.info.kind = "replay".into();
        src.info.file = Some(shown);
        Ok(src)
    }

    /// Parses a recording or plain listing held in memory; `name` is used in errors.
    pub fn from_text(name: &str, text: &str, table: &str) -> Result<Self, ReplayError> {
        let ferr = |e: FormatError| ReplayError::Format {
            path: name.to_string(),
            line: e.line,
            reason: e.reason,
        };
        if recording::is_recording(text) {
            let mut rec = recording::parse_recording(text).map_err(ferr)?;
            rec.fail_damaged(name, table);
            validate(&rec).map_err(ferr)?;
            let mut src = ReplaySource {
                polls: rec.polls,
                next: 0,
                looping: false,
                offset: Duration::ZERO,
                info: SourceInfo {
                    kind: "replay".into(),
                    ..Default::default()
                },
                plain: false,
                damage: rec
                    .damaged
                    .first()
                    .map(|d| format!("{name}: line {}: {}", d.line, d.reason)),
                sessions: rec.sessions,
                session_of: rec.session_of,
            };
            src.enter_session_of(0);
            return Ok(src);
        }
        // A plain dump: check it parses now, so a bad file is reported with its line.
        parse_table(table, text).map_err(|e| ReplayError::Format {
            path: name.to_string(),
            line: e.line,
            reason: e.reason,
        })?;
        let mut stdout = text.to_string();
        if !stdout.ends_with('\n') {
            stdout.push('\n'); // pasted listings often lose the final newline
        }
        let taken_at = std::fs::metadata(name)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        Ok(ReplaySource {
            polls: vec![RawPoll {
                seq: 1,
                at: Duration::ZERO,
                taken_at,
                listings: vec![RawListing {
                    table: table.to_string(),
                    stdout: Arc::new(stdout.into()),
                    stderr: String::new(),
                    status: Some(0),
                    took: Duration::ZERO,
                    failure: None,
                }],
                discontinuity: false,
            }],
            next: 0,
            looping: false,
            offset: Duration::ZERO,
            info: SourceInfo {
                kind: "replay".into(),
                ..Default::default()
            },
            plain: true,
            damage: None,
            sessions: Vec::new(),
            session_of: Vec::new(),
        })
    }

    pub fn looping(mut self, on: bool) -> Self {
        self.looping = on;
        self
    }

    pub fn with_kind(mut self, kind: &str) -> Self {
        self.info.kind = kind.to_string();
        self
    }

    /// The source of the poll last returned (of the first before any).
    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// Where the recording is cut off or damaged (the first such poll), if it is.
    pub fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }

    /// Takes the header of poll `i`'s session, keeping what the replay itself says
    /// (its kind, its file).
    fn enter_session_of(&mut self, i: usize) {
        if let Some(s) = self.session_of.get(i).and_then(|&k| self.sessions.get(k)) {
            self.info = SourceInfo {
                kind: std::mem::take(&mut self.info.kind),
                file: self.info.file.take(),
                ..s.clone()
            };
        }
    }

    pub fn is_plain(&self) -> bool {
        self.plain
    }

    /// Tables present in the first poll, in recorded order.
    pub fn tables(&self) -> Vec<String> {
        self.polls
            .first()
            .map(|p| p.listings.iter().map(|l| l.table.clone()).collect())
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.polls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.polls.is_empty()
    }

    /// The recorded time of the poll `next()` returns, or None at the end.
    pub fn peek_at(&self) -> Option<Duration> {
        if self.next < self.polls.len() {
            Some(self.offset + self.polls[self.next].at)
        } else if self.looping && !self.polls.is_empty() && !self.plain {
            Some(self.loop_offset() + self.polls[0].at)
        } else {
            None
        }
    }

    fn loop_offset(&self) -> Duration {
        let last = self.polls.last().map(|p| p.at).unwrap_or_default();
        let gap = match self.polls.len() {
            0 | 1 => Duration::from_secs(1),
            n => self.polls[n - 1].at.saturating_sub(self.polls[n - 2].at),
        };
        self.offset + last + gap
    }

    /// The next poll; `None` when a non-looping replay is over. A plain dump returns its
    /// one listing once.
    pub fn next_poll(&mut self) -> Option<RawPoll> {
        if self.next >= self.polls.len() {
            if !self.looping || self.plain || self.polls.is_empty() {
                return None;
            }
            self.offset = self.loop_offset();
            self.next = 0;
            let mut p = self.polls[0].clone();
            p.at += self.offset;
            p.discontinuity = true;
            self.next = 1;
            self.enter_session_of(0);
            return Some(p);
        }
        let mut p = self.polls[self.next].clone();
        p.at += self.offset;
        self.enter_session_of(self.next);
        self.next += 1;
        Some(p)
    }
}

/// Parses every successful listing of a recording, so that a bad one is reported
/// with its line in the file.
fn validate(rec: &Recording) -> Result<(), FormatError> {
    for (p, lines) in rec.polls.iter().zip(&rec.listing_lines) {
        for (l, start) in p.listings.iter().zip(lines) {
            if l.status != Some(0) || l.failure.is_some() || l.stdout.is_empty() {
                continue;
            }
            parse_table(&l.table, &l.stdout).map_err(|e| FormatError {
                line: start + e.line - 1,
                reason: format!("in the listing of table {}: {}", l.table, e.reason),
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target prot opt in out source destination\n    1    60 DROP   0    --  *  *   0.0.0.0/0 0.0.0.0/0";

    #[test]
    fn plain_dump_plays_once() {
        let mut r = ReplaySource::from_text("x", LISTING, "filter").expect("plain");
        assert!(r.is_plain());
        let p = r.next_poll().expect("poll");
        assert!(p.listings[0].stdout.ends_with('\n'));
        assert!(r.next_poll().is_none());
    }

    #[test]
    fn bad_plain_dump_names_the_line() {
        let e = ReplaySource::from_text("dump.txt", "Chain INPUT (policy ACCEPT)\n pkts bytes target prot opt in out source destination\n oops\n", "filter")
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("dump.txt: line 3:"), "{msg}");
    }

    #[test]
    fn bad_recorded_listing_names_the_file_line() {
        let text = "# iptop recording 1\n@poll 1 t=0.000 at=2026-01-01T00:00:00Z\n@listing filter status=0 took=0.001\nChain INPUT (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target prot opt in out source destination\n garbage here\n";
        let e = ReplaySource::from_text("r.rec", text, "filter").unwrap_err();
        assert!(e.to_string().starts_with("r.rec: line 6:"), "{e}");
    }

    #[test]
    fn looping_moves_forward() {
        let text = "# iptop recording 1\n@poll 1 t=0.000\n@listing filter status=0 took=0\nx\n@poll 2 t=1.000\n@listing filter status=0 took=0\nx\n";
        // `x` is not a listing, but status 0 listings are validated: use a failure instead
        let text = text.replace("status=0 took=0\nx\n", "status=4 took=0\n");
        let mut r = ReplaySource::from_text("r", &text, "filter")
            .expect("rec")
            .looping(true);
        let ats: Vec<u64> = (0..5)
            .map(|_| r.next_poll().expect("poll").at.as_millis() as u64)
            .collect();
        assert_eq!(ats, [0, 1000, 2000, 3000, 4000]);
    }
}
