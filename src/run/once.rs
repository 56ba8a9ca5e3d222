//! `--once`: one snapshot, or two `--window` apart (a replay: the recorded poll closest
//! to the window's end), with the native nftables tables read beside each poll and the
//! packets of `--trace`, printed as text, JSON or SVG and done.

use std::time::Duration;

use super::{docker_names, open_source, shown_tables, trace};
use crate::choices::{Format, View};
use crate::diff;
use crate::error::AppError;
use crate::model::Snapshot;
use crate::report;
use crate::settings::{NativeTables, OutputSettings, SourceSettings};
use crate::source::recording::Recorder;
use crate::source::{PollLoop, Source};
use crate::ui;

/// Checks that every `-c` chain exists in at least one of the tables.
pub fn check_chains(roots: &[String], snap: &Snapshot) -> Result<(), AppError> {
    for c in roots {
        if !snap.tables.iter().any(|t| t.chain(c).is_some()) {
            let names: Vec<&str> = snap.tables.iter().map(|t| t.name.as_str()).collect();
            return Err(AppError::Runtime(format!(
                "chain `{c}` not found in table {} (iptables -t {} -L lists the chains)",
                names.join(", "),
                names.first().copied().unwrap_or("filter")
            )));
        }
    }
    Ok(())
}

/// `--once`'s polls: the shared [`PollLoop`], asked for the shown tables together, and
/// the native nftables tables read beside each poll.
struct OncePolls {
    polls: PollLoop,
    tables: Vec<String>,
    native: Option<NativePolls>,
}

/// The native tables asked for, and why they cannot be read (said once, after the
/// output, so that a run that fails says only why).
struct NativePolls {
    reader: crate::source::native::NativeReader,
    wanted: NativeTables,
    warning: Option<String>,
}

impl NativePolls {
    /// Adds the native tables asked for to `snap`; a failure leaves the iptables
    /// tables as they are. A table named with `-t` that is nowhere is an error.
    async fn add_to(&mut self, snap: &mut Snapshot) -> Result<(), AppError> {
        match self.reader.read().await {
            Ok(tables) => {
                if let NativeTables::Named(names) = &self.wanted {
                    let probe = |n: &str| NativeTables::Named(vec![n.to_string()]);
                    if let Some(n) = names.iter().find(|n| {
                        !tables.iter().any(|t| {
                            probe(n).wants(t.family.as_deref().unwrap_or_default(), &t.name)
                        })
                    }) {
                        return Err(AppError::Runtime(format!(
                            "table `{n}` is neither an iptables table nor a native nftables table here (nft list tables lists them)"
                        )));
                    }
                }
                snap.tables.extend(tables.into_iter().filter(|t| {
                    self.wanted
                        .wants(t.family.as_deref().unwrap_or_default(), &t.name)
                }));
                if let Some(n) = self.reader.take_notice() {
                    self.warning.get_or_insert(n);
                }
            }
            Err(e) => {
                self.warning.get_or_insert_with(|| e.to_string());
            }
        }
        Ok(())
    }
}

impl OncePolls {
    async fn next(&mut self) -> Result<Option<(bool, Snapshot)>, AppError> {
        let Some(raw) = self.polls.next_raw(&self.tables).await else {
            return Ok(None);
        };
        let polled = self.polls.parse(raw, &self.tables).await;
        if let Some(e) = polled.record_error {
            return Err(AppError::Runtime(format!(
                "cannot write the recording: {e}"
            )));
        }
        let mut snap = polled.snapshot_of(&self.tables)?;
        if self.tables.is_empty() {
            // only native tables: the poll's moment is this one
            snap.taken_at = std::time::SystemTime::now();
            snap.at = polled.at;
        }
        if let Some(n) = &mut self.native {
            n.add_to(&mut snap).await?;
        }
        Ok(Some((polled.discontinuity, snap)))
    }

    fn source(&self) -> &Source {
        self.polls.source()
    }
}

/// `--once`: one snapshot, or two `--window` apart, printed and done.
pub async fn run_once(s: &SourceSettings, output: &OutputSettings) -> Result<(), AppError> {
    let (source, recorder) = open_source(s).await?;
    // said even when the polls shown are whole (the recording is not), unless the
    // run fails: then its one line says why
    let damage = source.damage().map(str::to_string);
    let result = once(s, output, source, recorder).await;
    if let (Ok(()), Some(d)) = (&result, damage) {
        crate::sanitize::eprint_line(&format!("iptop: warning: {d}"));
    }
    result
}

async fn once(
    s: &SourceSettings,
    output: &OutputSettings,
    source: Source,
    recorder: Option<Recorder>,
) -> Result<(), AppError> {
    let tables = shown_tables(&source, s);
    let native = match source.native_reader(s.timeout) {
        Some(reader) if !s.native.none() => Some(NativePolls {
            reader,
            wanted: s.native.clone(),
            warning: None,
        }),
        _ => None,
    };
    let mut poller = OncePolls {
        polls: PollLoop::new(source, recorder),
        tables,
        native,
    };
    let (names, warning) = docker_names(s, poller.source().is_replay()).await;
    if let Some(w) = warning {
        crate::sanitize::eprint_line(&format!("iptop: warning: {w}"));
    }
    let started = tokio::time::Instant::now();
    let (_, first) = poller
        .next()
        .await?
        .ok_or_else(|| AppError::Runtime("the replay holds no poll".into()))?;
    // the header of the session this poll (and the one compared with it) belongs to
    let info = poller.source().info().clone();
    check_chains(&output.roots, &first)?;
    let mut tracer = trace::start(
        s.trace.as_ref(),
        s.timeout,
        poller.source(),
        crate::source::trace::backends(&first.tables),
    )
    .await?;
    let (snap, deltas, window_start) = match s.window {
        None => (first, None, None),
        Some(w) => {
            let second = if poller.source().is_replay() {
                replay_sample_after(&mut poller, &first, w).await?
            } else {
                // While recording, poll on the interval through the window so the
                // recording has every step; otherwise just once at its end.
                if poller.polls.is_recording() {
                    let mut next = started + s.interval;
                    while next < started + w {
                        tokio::time::sleep_until(next).await;
                        poller.next().await?;
                        next += s.interval;
                    }
                }
                tokio::time::sleep_until(started + w).await;
                poller
                    .next()
                    .await?
                    .map(|(_, s)| s)
                    .ok_or_else(|| AppError::Runtime("the source ended".into()))?
            };
            if let Some(t) = &tracer {
                t.settle().await;
            }
            let d = diff::diff(&first, &second);
            let start = first.taken_at;
            (second, Some(d), Some(start))
        }
    };
    let input = report::Input {
        snapshot: &snap,
        deltas: deltas.as_ref(),
        window_start,
        source: &info,
        roots: &output.roots,
        moved_only: output.moved_only,
        names: names.as_ref(),
        window_note: None,
    };
    let out = match output.view {
        // the report is let go with the process, not freed piece by piece (a fifth of
        // the CPU of a 50k-rule export)
        View::Tree if output.format == Format::Json => {
            let r = report::build(&input);
            let s = report::json_of(&r);
            std::mem::forget(r);
            s
        }
        View::Tree => ui::export::render(output.format, &input),
        View::Services => {
            report::services::render(output.format, &input).map_err(AppError::Runtime)?
        }
        View::Path => ui::export::render_path(output.format, &input),
    };
    let out = trace::add(output.format, tracer.as_mut(), out);
    if let Some(w) = poller.native.as_ref().and_then(|n| n.warning.as_ref()) {
        crate::sanitize::eprint_line(&format!("iptop: warning: {w}"));
    }
    // the same for the snapshots: the process ends right after the output
    std::mem::forget(snap);
    std::mem::forget(deltas);
    std::mem::forget(poller);
    // no raw control, bidi or invisible character from the rules' text, whatever the
    // format and wherever it goes (colours are added after)
    let out = crate::sanitize::lines(&out).into_owned();
    let out = match output.format {
        Format::Text => {
            let to_stdout = output.file.as_deref().is_none_or(|p| p.as_os_str() == "-");
            crate::look::once_text(&output.look, to_stdout, out)
        }
        _ => out,
    };
    match &output.file {
        Some(path) => crate::output::write(path, out.as_bytes(), output.force),
        None => crate::output::write_stdout(out.as_bytes()),
    }
    .map_err(AppError::Runtime)
}

/// The recorded poll whose time is closest to `first.at + window`.
async fn replay_sample_after(
    poller: &mut OncePolls,
    first: &Snapshot,
    window: Duration,
) -> Result<Snapshot, AppError> {
    let goal = first.at + window;
    let mut best: Option<Snapshot> = None;
    while let Some((discontinuity, snap)) = poller.next().await? {
        if discontinuity {
            break;
        }
        let closer = best
            .as_ref()
            .is_none_or(|b| goal.abs_diff(snap.at) <= goal.abs_diff(b.at));
        if !closer {
            break;
        }
        let past = snap.at >= goal;
        best = Some(snap);
        if past {
            break;
        }
    }
    best.ok_or_else(|| {
        AppError::Runtime("the replay has only one poll: no window to compare".into())
    })
}
