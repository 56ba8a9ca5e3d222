//! The recording format: every poll's raw listings with their time, table, exit status
//! and stderr, in a text file a human can read and `grep`:
//!
//! ```text
//! # iptop recording 1
//! @source kind live
//! @source version iptables v1.8.9 (nf_tables)
//! @poll 1 t=0.000 at=2026-11-26T12:00:00.123456Z
//! @listing filter backend=nft status=0 took=0.004
//! Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
//! ...
//! @listing nat status=0 took=0.003
//! ...
//! ```
//!
//! Directives start with `@`; a listing line that itself starts with `@` is written with
//! one more `@` in front. `@stderr TEXT` lines carry what iptables wrote to stderr; `@cut`
//! after a listing means its output did not end with a newline. `backend=nft|legacy` says
//! which back end listed the table (a table held by both appears twice in one poll);
//! `absent` marks a legacy table that does not exist, so was not listed. Appending to a file
//! starts a new session with its own header.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Failure, RawListing, RawPoll};
use crate::model::SourceInfo;

pub const MAGIC: &str = "# iptop recording 1";

/// Appends polls to a recording file.
pub struct Recorder {
    file: File,
}

impl Recorder {
    /// Opens (creating or appending) and writes a session header.
    pub fn create(path: &Path, info: &SourceInfo) -> io::Result<Recorder> {
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        file.write_all(header(info).as_bytes())?;
        Ok(Recorder { file })
    }

    pub fn write_poll(&mut self, poll: &RawPoll) -> io::Result<()> {
        self.file.write_all(encode_poll(poll).as_bytes())?;
        self.file.flush()
    }
}

pub fn header(info: &SourceInfo) -> String {
    let mut s = format!("{MAGIC}\n");
    let fields = [
        ("kind", Some(info.kind.as_str())),
        ("host", Some(info.host.as_str())),
        ("netns", info.netns.as_deref()),
        ("backend", Some(info.backend.as_str())),
        ("binary", Some(info.binary.as_str())),
        ("family", Some(info.family.as_str())),
        ("version", Some(info.version.as_str())),
    ];
    for (k, v) in fields {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            let _ = writeln!(s, "@source {k} {}", one_line(v));
        }
    }
    s
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

pub fn encode_poll(poll: &RawPoll) -> String {
    let size: usize = poll.listings.iter().map(|l| l.stdout.len() + 64).sum();
    let mut s = String::with_capacity(size + 64);
    let _ = writeln!(
        s,
        "@poll {} t={:.3} at={}",
        poll.seq,
        poll.at.as_secs_f64(),
        rfc3339(poll.taken_at)
    );
    for l in &poll.listings {
        let _ = write!(s, "@listing {}", l.table);
        if let Some(b) = l.backend {
            let _ = write!(s, " backend={b}");
        }
        if l.absent {
            s.push_str(" absent");
        }
        match (&l.failure, l.status) {
            (Some(f), _) => {
                let _ = write!(s, " failure={}", encode_failure(f));
            }
            (None, Some(st)) => {
                let _ = write!(s, " status={st}");
            }
            (None, None) => {}
        }
        let _ = writeln!(s, " took={:.6}", l.took.as_secs_f64());
        for line in l.stderr.lines() {
            let _ = writeln!(s, "@stderr {line}");
        }
        let body = l.stdout.strip_suffix('\n');
        for line in body.unwrap_or(&l.stdout).split('\n') {
            if l.stdout.is_empty() {
                break;
            }
            if line.starts_with('@') {
                s.push('@');
            }
            s.push_str(line);
            s.push('\n');
        }
        if body.is_none() && !l.stdout.is_empty() {
            s.push_str("@cut\n");
        }
    }
    s
}

fn encode_failure(f: &Failure) -> String {
    match f {
        Failure::NotFound(b) => format!("notfound:{b}"),
        Failure::Spawn(_) => "spawn".into(),
        Failure::Timeout(d) => format!("timeout:{:.3}", d.as_secs_f64()),
        Failure::Signal(s) => format!("signal:{s}"),
        Failure::TooLarge(n) => format!("toolarge:{n}"),
        Failure::Denied(_) => "denied".into(),
    }
}

fn decode_failure(s: &str, stderr: &str) -> Option<Failure> {
    let (kind, arg) = s.split_once(':').unwrap_or((s, ""));
    Some(match kind {
        "notfound" => Failure::NotFound(arg.to_string()),
        "spawn" => Failure::Spawn(stderr.trim().to_string()),
        "timeout" => Failure::Timeout(Duration::from_secs_f64(
            arg.parse::<f64>()
                .ok()
                // the same bound as every other time in a recording
                .filter(|v| v.is_finite() && (0.0..1e12).contains(v))?,
        )),
        "signal" => Failure::Signal(arg.parse().ok()?),
        "toolarge" => Failure::TooLarge(arg.parse().ok()?),
        "denied" => Failure::Denied(stderr.trim().to_string()),
        _ => return None,
    })
}

/// A recording read back: its source header(s) and polls, with times made monotonic
/// across sessions.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub info: SourceInfo,
    pub polls: Vec<RawPoll>,
    /// For each listing of each poll, the file line where its text starts.
    pub listing_lines: Vec<Vec<usize>>,
}

/// A recording line that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub line: usize,
    pub reason: String,
}

pub fn is_recording(text: &str) -> bool {
    text.trim_start_matches('\u{feff}').starts_with(MAGIC)
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

pub fn parse_recording(text: &str) -> Result<Recording, FormatError> {
    let mut rec = Recording::default();
    let mut cur_listing: Option<RawListing> = None;
    let mut cut = false;
    // time offset of the current session, so that appended sessions follow on
    let mut base = Duration::ZERO;
    let mut session_first: Option<Duration> = None;
    let mut new_session = false;
    let mut last_at = Duration::ZERO;

    fn close(rec: &mut Recording, l: &mut Option<RawListing>, cut: &mut bool) {
        if let Some(mut l) = l.take() {
            if *cut {
                if l.stdout.ends_with('\n') {
                    Arc::make_mut(&mut l.stdout).to_mut().pop();
                }
                *cut = false;
            }
            if let Some(p) = rec.polls.last_mut() {
                p.listings.push(l);
            }
        }
    }

    let body = text.strip_suffix('\n').unwrap_or(text);
    for (i, raw) in body.split('\n').enumerate() {
        let lineno = i + 1;
        let line = raw
            .strip_suffix('\r')
            .unwrap_or(raw)
            .trim_start_matches('\u{feff}');
        let err = |reason: String| FormatError {
            line: lineno,
            reason,
        };
        if line == MAGIC {
            close(&mut rec, &mut cur_listing, &mut cut);
            if !rec.polls.is_empty() {
                new_session = true;
                base = last_at + Duration::from_secs(1);
                session_first = None;
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("@@") {
            let l = cur_listing
                .as_mut()
                .ok_or_else(|| err("listing text outside a `@listing` block".into()))?;
            let out = Arc::make_mut(&mut l.stdout).to_mut();
            out.push('@');
            out.push_str(rest);
            out.push('\n');
            continue;
        }
        if let Some(d) = line.strip_prefix('@') {
            let (word, rest) = d.split_once(' ').unwrap_or((d, ""));
            match word {
                "source" => {
                    let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                    let v = v.to_string();
                    match k {
                        "kind" => rec.info.kind = v,
                        "host" => rec.info.host = v,
                        "netns" => rec.info.netns = Some(v),
                        "backend" => rec.info.backend = v,
                        "binary" => rec.info.binary = v,
                        "family" => rec.info.family = v,
                        "version" => rec.info.version = v,
                        _ => {} // later versions may add fields
                    }
                }
                "poll" => {
                    close(&mut rec, &mut cur_listing, &mut cut);
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
                    let first = *session_first.get_or_insert(t);
                    let mut gat = base + t.saturating_sub(first);
                    if gat < last_at {
                        gat = last_at; // times never run backwards
                    }
                    last_at = gat;
                    rec.polls.push(RawPoll {
                        seq,
                        at: gat,
                        taken_at: at.unwrap_or(SystemTime::UNIX_EPOCH + gat),
                        listings: Vec::new(),
                        discontinuity: std::mem::take(&mut new_session),
                    });
                    rec.listing_lines.push(Vec::new());
                }
                "listing" => {
                    close(&mut rec, &mut cur_listing, &mut cut);
                    if rec.polls.is_empty() {
                        return Err(err("`@listing` before the first `@poll`".into()));
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
                            l.status =
                                Some(v.parse().map_err(|_| err(format!("bad status `{v}`")))?);
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
                    if let Some(ls) = rec.listing_lines.last_mut() {
                        ls.push(lineno + 1);
                    }
                    cur_listing = Some(l);
                }
                "stderr" => {
                    let l = cur_listing
                        .as_mut()
                        .ok_or_else(|| err("`@stderr` outside a `@listing` block".into()))?;
                    l.stderr.push_str(rest);
                    l.stderr.push('\n');
                    if let Some(Failure::Spawn(d) | Failure::Denied(d)) = &mut l.failure {
                        *d = l.stderr.trim().to_string();
                    }
                    if let Some(ls) = rec.listing_lines.last_mut().and_then(|v| v.last_mut()) {
                        *ls = lineno + 1;
                    }
                }
                "cut" => {
                    if cur_listing.is_none() {
                        return Err(err("`@cut` outside a `@listing` block".into()));
                    }
                    cut = true;
                }
                _ => {
                    return Err(err(format!(
                        "unknown directive `@{}`",
                        word.chars().take(20).collect::<String>()
                    )));
                }
            }
            continue;
        }
        if line.starts_with('#') && cur_listing.is_none() {
            continue;
        }
        let l = cur_listing
            .as_mut()
            .ok_or_else(|| err("expected `@poll` or `@listing` before listing text".into()))?;
        let out = Arc::make_mut(&mut l.stdout).to_mut();
        out.push_str(line);
        out.push('\n');
    }
    close(&mut rec, &mut cur_listing, &mut cut);
    if rec.polls.is_empty() {
        return Err(FormatError {
            line: 1,
            reason: "the recording holds no `@poll`".into(),
        });
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(seq: u64, at_ms: u64, stdout: &str) -> RawPoll {
        RawPoll {
            seq,
            at: Duration::from_millis(at_ms),
            taken_at: SystemTime::UNIX_EPOCH
                + Duration::from_secs(1_800_000_000)
                + Duration::from_millis(at_ms),
            listings: vec![
                RawListing {
                    table: "filter".into(),
                    backend: Some(crate::model::Backend::Legacy),
                    absent: false,
                    stdout: Arc::new(stdout.into()),
                    stderr: "# Warning: something\n".into(),
                    status: Some(0),
                    took: Duration::from_micros(4321),
                    failure: None,
                },
                RawListing {
                    table: "nat".into(),
                    backend: None,
                    absent: false,
                    stdout: Arc::default(),
                    stderr: String::new(),
                    status: None,
                    took: Duration::from_secs(5),
                    failure: Some(Failure::Timeout(Duration::from_secs(5))),
                },
            ],
            discontinuity: false,
        }
    }

    #[test]
    fn round_trip() {
        let info = SourceInfo {
            kind: "live".into(),
            host: "h".into(),
            version: "iptables v1.8.9 (nf_tables)".into(),
            ..Default::default()
        };
        let a = poll(
            1,
            0,
            "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n@odd line\n",
        );
        let b = poll(2, 1500, "cut off mid-li");
        let text = header(&info) + &encode_poll(&a) + &encode_poll(&b);
        assert!(is_recording(&text));
        let rec = parse_recording(&text).expect("parse");
        assert_eq!(rec.info.version, "iptables v1.8.9 (nf_tables)");
        assert_eq!(rec.polls.len(), 2);
        assert_eq!(rec.polls[0], a);
        assert_eq!(rec.polls[1], b);
    }

    #[test]
    fn appended_sessions_continue_in_time() {
        let info = SourceInfo::default();
        let text = header(&info)
            + &encode_poll(&poll(1, 0, "x\n"))
            + &encode_poll(&poll(2, 1000, "x\n"))
            + &header(&info)
            + &encode_poll(&poll(1, 0, "x\n"));
        let rec = parse_recording(&text).expect("parse");
        let ats: Vec<u64> = rec.polls.iter().map(|p| p.at.as_millis() as u64).collect();
        assert_eq!(ats, [0, 1000, 2000]);
        assert!(rec.polls[2].discontinuity && !rec.polls[1].discontinuity);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_recording(
            "# iptop recording 1\n@poll 1 t=0 at=2026-01-01T00:00:00Z\n@listing filter\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse_recording("# iptop recording 1\nChain X\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse_recording("# iptop recording 1\n@poll x\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse_recording("# iptop recording 1\n@poll 1 t=-4\n").unwrap_err();
        assert!(e.reason.contains("seconds"));
        let e = parse_recording("# iptop recording 1\n@bogus\n").unwrap_err();
        assert!(e.reason.contains("unknown directive"));
        let e = parse_recording("# iptop recording 1\n").unwrap_err();
        assert!(e.reason.contains("no `@poll`"));
    }
}
