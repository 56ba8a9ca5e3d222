//! Plays back a saved listing (a plain `iptables -vnL` dump, as users paste them) or an
//! iptop recording. Needs no root and no iptables.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::recording::{self, FormatError, Recording};
use super::{RawListing, RawPoll};
use crate::model::text::ListingText;
use crate::model::{FirewallTable, SourceInfo, SourceKind};
use crate::parse::parse_table;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// `-t` names another table than the pasted listing shows.
    #[error(
        "{path} is a listing of table {found} ({why}), not of table {asked} (-t {asked}); drop -t or give -t {found}"
    )]
    WrongTable {
        path: String,
        asked: String,
        found: String,
        why: String,
    },
    /// The recording never listed the table asked for.
    #[error("{path} holds no listing of table {asked} (it has: {have})")]
    NoSuchTable {
        path: String,
        asked: String,
        have: String,
    },
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
    /// Each poll's native tables' text (a recording's `@native`, a pasted ruleset).
    native: Vec<Option<Arc<str>>>,
    /// The native text of the poll last returned, for the native reader.
    native_now: NativeSlot,
    /// A paste's tables as read when it was opened (to check it), by table: the first
    /// poll's parse reuses them ([`ReplaySource::take_seeds`]) instead of reading the
    /// same text again.
    seeds: Vec<(String, FirewallTable)>,
}

/// The native tables' text of the poll a replay returned last (None: it has none),
/// shared with [`super::native::NativeReader::replaying`].
pub type NativeSlot = Arc<std::sync::Mutex<Option<Arc<str>>>>;

impl ReplaySource {
    /// Reads a file: a recording, or a plain listing (of table `table` when given with
    /// `-t`, else of the table its chains show).
    pub fn open(path: &Path, table: Option<&str>) -> Result<Self, ReplayError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|err| ReplayError::Io {
            path: shown.clone(),
            err,
        })?;
        let text = super::text::lossy_string(bytes);
        let mut src = Self::from_text(&shown, &text, table)?;
        src.info.kind = SourceKind::Replay;
        src.info.file = Some(shown);
        Ok(src)
    }

    /// Parses a recording or plain listing held in memory; `name` is used in errors.
    /// `table`: the table asked for with `-t`, if any.
    pub fn from_text(name: &str, text: &str, table: Option<&str>) -> Result<Self, ReplayError> {
        // a native table named with -t is looked for among the native tables
        let table = table.filter(|t| crate::model::TABLES.contains(t));
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
                    kind: SourceKind::Replay,
                    ..Default::default()
                },
                plain: false,
                damage: rec
                    .damaged
                    .first()
                    .map(|d| format!("{name}: line {}: {}", d.line, d.reason)),
                sessions: rec.sessions,
                session_of: rec.session_of,
                native: rec.native,
                native_now: NativeSlot::default(),
                seeds: Vec::new(),
            };
            src.enter_session_of(0);
            if let Some(t) = table
                && !src.tables().iter().any(|x| x == t)
            {
                return Err(ReplayError::NoSuchTable {
                    path: name.to_string(),
                    asked: t.to_string(),
                    have: src.tables().join(", "),
                });
            }
            return Ok(src);
        }
        // A pasted `nft list ruleset`: its tables are native ones; what is left of the
        // paste (an iptables listing beside it, if any) is read as below.
        let (text, native) = split_ruleset(text);
        if let Some(n) = &native
            && !has_listing(&text)
        {
            return Ok(Self::plain_of(Vec::new(), name, false, Some(n.clone())));
        }
        // A plain dump: what a user pasted, read into one listing per table and each
        // parsed now, so that a bad one is reported with its line in the file.
        let mut paste = crate::parse::paste::normalize(&text).map_err(|e| ReplayError::Format {
            path: name.to_string(),
            line: e.line,
            reason: e.reason,
        })?;
        let several = paste.tables.len() > 1;
        let mut notes: Vec<String> = paste.warnings.clone();
        let mut found: Vec<(String, Arc<ListingText>, FirewallTable)> = Vec::new();
        for p in &mut paste.tables {
            let guess = p.table.as_deref().or(table).unwrap_or("filter");
            let text: Arc<ListingText> = Arc::new(std::mem::take(&mut p.text).into());
            let parsed = parse_table(guess, &text, None).map_err(|e| ReplayError::Format {
                path: name.to_string(),
                line: p.paste_line(e.line),
                reason: e.reason,
            })?;
            let t = match (&p.table, table) {
                // a save dump names its tables
                (Some(t), Some(asked)) if t != asked && !several => {
                    return Err(ReplayError::WrongTable {
                        path: name.to_string(),
                        asked: asked.to_string(),
                        found: t.clone(),
                        why: format!("its `*{t}` line"),
                    });
                }
                (Some(t), _) => t.clone(),
                (None, _) => pick(name, table, several, infer_table(&parsed), &mut notes)?,
            };
            if found.iter().any(|(f, ..)| *f == t) {
                notes.push(format!(
                    "the paste holds a second listing of table {t} (its line {}): only the first is shown",
                    p.paste_line(1)
                ));
                continue;
            }
            found.push((t, text, parsed));
        }
        if let Some(asked) = table
            && several
            && !found.iter().any(|(t, ..)| t == asked)
        {
            return Err(ReplayError::NoSuchTable {
                path: name.to_string(),
                asked: asked.to_string(),
                have: found
                    .iter()
                    .map(|(t, ..)| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let mut stderr = String::new();
        for n in &notes {
            stderr.push_str(n);
            stderr.push('\n');
        }
        let mut seeds = Vec::with_capacity(found.len());
        let listings = found
            .into_iter()
            .map(|(table, stdout, mut parsed)| {
                // read under the name guessed before its chains told it
                parsed.name.clone_from(&table);
                seeds.push((table.clone(), parsed));
                RawListing {
                    table,
                    backend: None,
                    absent: false,
                    stdout,
                    stderr: stderr.clone(),
                    status: Some(0),
                    took: Duration::ZERO,
                    kernel: None,
                    failure: None,
                    ..RawListing::empty("")
                }
            })
            .collect();
        let mut src = Self::plain_of(listings, name, paste.ipv6, native);
        src.seeds = seeds;
        Ok(src)
    }

    /// The tables of a paste as read when it was opened (empty after the first call, and
    /// for a recording): a parse of the same listing against one of them takes its
    /// chains whole, without reading their lines again.
    pub fn take_seeds(&mut self) -> Vec<(String, FirewallTable)> {
        std::mem::take(&mut self.seeds)
    }

    /// A paste's one poll: its listings and its native tables' text.
    fn plain_of(
        listings: Vec<RawListing>,
        name: &str,
        ipv6: bool,
        native: Option<Arc<str>>,
    ) -> ReplaySource {
        let taken_at = std::fs::metadata(name)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        ReplaySource {
            polls: vec![RawPoll {
                seq: 1,
                at: Duration::ZERO,
                taken_at,
                listings,
                discontinuity: false,
                last: false,
            }],
            next: 0,
            looping: false,
            offset: Duration::ZERO,
            info: SourceInfo {
                kind: SourceKind::Replay,
                family: ipv6.then_some(crate::model::IpFamily::Ipv6),
                ..Default::default()
            },
            plain: true,
            damage: None,
            sessions: Vec::new(),
            session_of: Vec::new(),
            native: vec![native],
            native_now: NativeSlot::default(),
            seeds: Vec::new(),
        }
    }

    /// Played for one poll and done (`--once` without a window): no poll keeps the rule
    /// texts a next poll would compare with ([`RawPoll::last`]).
    pub fn once(&mut self) {
        for p in &mut self.polls {
            p.last = true;
        }
    }

    /// Where the native tables of each poll returned go (see [`NativeSlot`]).
    pub fn native_slot(&self) -> NativeSlot {
        self.native_now.clone()
    }

    /// Whether any poll holds native tables.
    pub fn has_native(&self) -> bool {
        self.native.iter().any(Option::is_some)
    }

    fn set_native(&self, i: usize) {
        let n = self.native.get(i).cloned().flatten();
        *self
            .native_now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = n;
    }

    pub fn looping(mut self, on: bool) -> Self {
        self.looping = on;
        self
    }

    pub fn with_kind(mut self, kind: SourceKind) -> Self {
        self.info.kind = kind;
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
                kind: self.info.kind,
                file: self.info.file.take(),
                ..s.clone()
            };
        }
    }

    pub fn is_plain(&self) -> bool {
        self.plain
    }

    /// Tables present in any poll, in the order they first appear (the set can change
    /// within a recording).
    pub fn tables(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in self.polls.iter().flat_map(|p| &p.listings) {
            if !out.contains(&l.table) {
                out.push(l.table.clone());
            }
        }
        out
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
            self.set_native(0);
            return Some(p);
        }
        let mut p = self.polls[self.next].clone();
        p.at += self.offset;
        self.enter_session_of(self.next);
        self.set_native(self.next);
        self.next += 1;
        Some(p)
    }
}

/// A paste's nft ruleset (its `table FAMILY NAME { ... }` blocks) taken out of it: the
/// rest of the paste, and the ruleset's text if it has one.
fn split_ruleset(text: &str) -> (std::borrow::Cow<'_, str>, Option<Arc<str>>) {
    if !crate::parse::nft::text::is_ruleset(text) {
        return (text.into(), None);
    }
    let (mut rest, mut nft) = (String::new(), String::new());
    let mut depth = 0i32;
    for line in text.lines() {
        let l = line.trim();
        if depth == 0 && !crate::parse::nft::text::is_ruleset(l) {
            rest.push_str(line);
            rest.push('\n');
            continue;
        }
        let mut quoted = false;
        for c in l.chars() {
            match c {
                '"' => quoted = !quoted,
                '{' if !quoted => depth += 1,
                '}' if !quoted => depth -= 1,
                _ => {}
            }
        }
        depth = depth.max(0);
        nft.push_str(line);
        nft.push('\n');
    }
    (rest.into(), Some(nft.into()))
}

/// Does what is left of a paste hold an iptables listing or dump?
fn has_listing(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("Chain ")
            || l.starts_with("-A ")
            || l.starts_with("-P ")
            || l.starts_with('*')
    })
}

/// What a pasted listing's own lines say about its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inferred {
    /// Only this table fits; with the reason.
    Is(&'static str, String),
    /// Any of these fit (filter first when it does); with what was looked at.
    OneOf(Vec<&'static str>, String),
}

/// The table of a pasted listing: the one its lines say, or `asked` (`-t`) where they
/// allow it. With several tables in the paste, a listing that cannot be `asked` keeps
/// its own (`-t` then picks among them).
fn pick(
    path: &str,
    asked: Option<&str>,
    several: bool,
    inferred: Inferred,
    notes: &mut Vec<String>,
) -> Result<String, ReplayError> {
    Ok(match (asked, inferred) {
        (Some(asked), Inferred::Is(t, _)) if several && asked != t => t.to_string(),
        (Some(asked), Inferred::OneOf(c, _)) if several && !c.contains(&asked) => c[0].to_string(),
        (Some(asked), Inferred::Is(t, why)) if asked != t => {
            return Err(ReplayError::WrongTable {
                path: path.to_string(),
                asked: asked.to_string(),
                found: t.to_string(),
                why,
            });
        }
        (Some(asked), Inferred::OneOf(c, why)) if !c.contains(&asked) => {
            return Err(ReplayError::WrongTable {
                path: path.to_string(),
                asked: asked.to_string(),
                found: c.join(" or "),
                why,
            });
        }
        (Some(asked), _) => asked.to_string(),
        (None, Inferred::Is(t, _)) => t.to_string(),
        (None, Inferred::OneOf(c, why)) => {
            let t = if c.contains(&"filter") {
                "filter"
            } else {
                c[0]
            };
            notes.push(format!(
                "the listing does not say its table ({why}: {}); shown as {t} (give -t to choose)",
                c.join(" or ")
            ));
            t.to_string()
        }
    })
}

/// Targets that exist in one table only.
const TABLE_TARGETS: [(&str, &str); 12] = [
    ("DNAT", "nat"),
    ("SNAT", "nat"),
    ("MASQUERADE", "nat"),
    ("REDIRECT", "nat"),
    ("NETMAP", "nat"),
    ("CT", "raw"),
    ("NOTRACK", "raw"),
    ("TPROXY", "mangle"),
    ("TTL", "mangle"),
    ("HL", "mangle"),
    ("ECN", "mangle"),
    ("DSCP", "mangle"),
];

/// The table a listing is of: the one whose built-in chains are exactly those listed
/// (iptables -vnL prints them all), else the tables having every built-in chain listed,
/// narrowed by targets valid in one table only.
pub fn infer_table(t: &crate::model::FirewallTable) -> Inferred {
    use crate::model::{TABLES, builtin_chains};
    let builtins: Vec<&str> = t
        .chains
        .iter()
        .filter(|c| c.is_builtin())
        .map(|c| &*c.name)
        .collect();
    let mut cands: Vec<&'static str> = TABLES
        .iter()
        .copied()
        .filter(|tb| builtins.iter().all(|b| builtin_chains(tb).contains(b)))
        .collect();
    let why_chains = format!("its built-in chains {}", builtins.join(", "));
    if !builtins.is_empty() {
        let exact: Vec<&'static str> = cands
            .iter()
            .copied()
            .filter(|tb| builtin_chains(tb).len() == builtins.len())
            .collect();
        // filter and security have the same chains; security is all but never pasted
        match exact.as_slice() {
            [one] | [one, "security"] => return Inferred::Is(one, why_chains),
            _ => {}
        }
    }
    let targets: Vec<(&str, &'static str)> = t
        .chains
        .iter()
        .flat_map(|c| c.rules.iter())
        .filter_map(|r| {
            TABLE_TARGETS
                .iter()
                .find(|(tg, _)| *tg == r.spec.target)
                .map(|&(tg, tb)| (tg, tb))
        })
        .collect();
    if let Some((tg, tb)) = targets.iter().find(|(_, tb)| cands.contains(tb)) {
        return Inferred::Is(tb, format!("a {tg} rule, valid only in {tb}"));
    }
    if cands.is_empty() {
        cands = TABLES.to_vec();
    }
    match cands.as_slice() {
        [one] => Inferred::Is(one, why_chains),
        _ if builtins.is_empty() => Inferred::OneOf(
            cands,
            "no built-in chain and no table-specific target".into(),
        ),
        _ => Inferred::OneOf(cands, why_chains),
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
            parse_table(&l.table, &l.stdout, None).map_err(|e| FormatError {
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
        let mut r = ReplaySource::from_text("x", LISTING, None).expect("plain");
        assert!(r.is_plain());
        let p = r.next_poll().expect("poll");
        assert!(p.listings[0].stdout.ends_with('\n'));
        assert!(r.next_poll().is_none());
    }

    #[test]
    fn bad_plain_dump_names_the_line() {
        let e = ReplaySource::from_text("dump.txt", "Chain INPUT (policy ACCEPT)\n pkts bytes target prot opt in out source destination\n oops\n", None)
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("dump.txt: line 3:"), "{msg}");
    }

    #[test]
    fn bad_recorded_listing_names_the_file_line() {
        let text = "# iptop recording 1\n@poll 1 t=0.000 at=2026-01-01T00:00:00Z\n@listing filter status=0 took=0.001\nChain INPUT (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target prot opt in out source destination\n garbage here\n";
        let e = ReplaySource::from_text("r.rec", text, None).unwrap_err();
        assert!(e.to_string().starts_with("r.rec: line 6:"), "{e}");
    }

    #[test]
    fn looping_moves_forward() {
        let text = "# iptop recording 1\n@poll 1 t=0.000\n@listing filter status=0 took=0\nx\n@poll 2 t=1.000\n@listing filter status=0 took=0\nx\n";
        // `x` is not a listing, but status 0 listings are validated: use a failure instead
        let text = text.replace("status=0 took=0\nx\n", "status=4 took=0\n");
        let mut r = ReplaySource::from_text("r", &text, None)
            .expect("rec")
            .looping(true);
        let ats: Vec<u64> = (0..5)
            .map(|_| r.next_poll().expect("poll").at.as_millis() as u64)
            .collect();
        assert_eq!(ats, [0, 1000, 2000, 3000, 4000]);
    }
}
