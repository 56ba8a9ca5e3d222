//! `--once`: one snapshot, or two `--window` apart (a replay: the recorded poll closest
//! to the window's end), with the native nftables tables read beside each poll and the
//! packets of `--trace`, printed as text, JSON or SVG and done.

use std::time::Duration;

use super::{docker_names, open_schedule, trace};
use crate::choices::{Format, View};
use crate::diff;
use crate::error::AppError;
use crate::model::Snapshot;
use crate::report;
use crate::settings::{NativeTables, OutputSettings, SourceSettings};
use crate::source::Source;
use crate::source::schedule::Schedule;
use crate::ui;

/// Checks that every `-c` chain exists in at least one of the tables.
pub fn check_chains(roots: &[String], snap: &Snapshot) -> Result<(), AppError> {
    for c in roots {
        if !snap.tables.iter().any(|t| t.chain(c).is_some()) {
            return Err(AppError::Runtime(crate::model::suggest::missing_chain(
                snap, c,
            )));
        }
    }
    Ok(())
}

/// `--once`'s polls: the [`Schedule`]'s, with the native tables checked: a table named
/// with `-t` that is nowhere is an error; why native tables cannot be read is kept, to
/// be said once after the output (so that a run that fails says only why).
struct OncePolls {
    schedule: Schedule,
    wanted: NativeTables,
    warning: Option<String>,
}

impl OncePolls {
    async fn next(&mut self) -> Result<Option<(bool, Snapshot)>, AppError> {
        let tick = self
            .schedule
            .next()
            .await
            .map_err(|e| AppError::Runtime(e.to_string()))?;
        let Some(tick) = tick else {
            return Ok(None);
        };
        let snap = tick.snapshot?;
        match tick.native {
            Some(Ok(read)) => {
                if let NativeTables::Named(names) = &self.wanted {
                    let probe = |n: &str| NativeTables::Named(vec![n.to_string()]);
                    if let Some(n) = names.iter().find(|n| {
                        !read.iter().any(|key| {
                            let (f, t) = key.split_once(' ').unwrap_or(("", key));
                            probe(n).wants(f, t)
                        })
                    }) {
                        return Err(AppError::Runtime(format!(
                            "table `{n}` is neither an iptables table nor a native nftables table here (nft list tables lists them)"
                        )));
                    }
                }
            }
            Some(Err(e)) => {
                self.warning.get_or_insert(e);
            }
            None => {}
        }
        if let Some(n) = tick.native_notice {
            self.warning.get_or_insert(n);
        }
        Ok(Some((tick.discontinuity, snap)))
    }

    fn source(&self) -> &Source {
        self.schedule.source()
    }
}

/// The heap of a process that builds one report and exits: at 50k rules it allocates
/// 100+ MB in small pieces and frees none of it (the report and the snapshots go with
/// the process). One arena for every thread (the parse runs on another, and a thread's
/// own arena grew by one `mprotect` every page or so: 10,000 calls), grown 16 MiB at a
/// time, and no memory handed back before the exit. Called before any other thread
/// allocates. glibc's settings: another C library keeps its own.
fn heap_for_once() {
    #[cfg(target_env = "gnu")]
    use nix::libc;
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes malloc's settings.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
    }
}

/// `--once`: one snapshot, or two `--window` apart, printed and done.
pub async fn run_once(s: &SourceSettings, output: &OutputSettings) -> Result<(), AppError> {
    heap_for_once();
    let schedule = open_schedule(s).await?;
    // said even when the polls shown are whole (the recording is not), unless the
    // run fails: then its one line says why
    let damage = schedule.source().damage().map(str::to_string);
    let result = once(s, output, schedule).await;
    if let (Ok(()), Some(d)) = (&result, damage) {
        crate::sanitize::eprint_line(&format!("iptop: warning: {d}"));
    }
    result
}

async fn once(
    s: &SourceSettings,
    output: &OutputSettings,
    schedule: Schedule,
) -> Result<(), AppError> {
    let mut poller = OncePolls {
        schedule,
        wanted: s.native.clone(),
        warning: None,
    };
    let (names, warning) = docker_names(s, poller.source().is_replay()).await;
    if let Some(w) = warning {
        crate::sanitize::eprint_line(&format!("iptop: warning: {w}"));
    }
    if s.window.is_none() {
        poller.schedule.source_mut().once();
    }
    let started = tokio::time::Instant::now();
    poller.schedule.due_at(started);
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
    let (mut snap, deltas, window_start) = match s.window {
        None => (first, None, None),
        Some(w) => {
            let second = if poller.source().is_replay() {
                replay_sample_after(&mut poller, &first, w).await?
            } else {
                // While recording, poll on the interval through the window so the
                // recording has every step; otherwise just once at its end.
                let end = started + w;
                if poller.schedule.is_recording() {
                    while poller.schedule.due().is_some_and(|at| at < end) {
                        poller.next().await?;
                    }
                }
                poller.schedule.due_at(end);
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
    // the window's traced packets: on the rules without counter too
    let traced = tracer.as_mut().map(crate::source::trace::Tracer::drain);
    if let Some(p) = &traced {
        crate::source::trace::counted::mark(&mut snap.tables, &p.iter());
    }
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
    let to_stdout = output.file.as_deref().is_none_or(|p| p.as_os_str() == "-");
    if to_stdout && tracer.is_none() && output.view == View::Tree && output.format == Format::Json {
        // written as it is made: tens of MB at 50k rules never held whole, and no escaping
        // after it (every string of it went through the JSON escapes)
        let r = report::build(&input);
        if let Some(w) = &poller.warning {
            crate::sanitize::eprint_line(&format!("iptop: warning: {w}"));
        }
        let written = json_to_stdout(&r);
        // let go with the process, not freed piece by piece
        std::mem::forget(r);
        std::mem::forget(snap);
        std::mem::forget(deltas);
        std::mem::forget(poller);
        return written;
    }
    let plain =
        !crate::look::use_color(output.look.color, to_stdout && crate::look::stdout_is_tty());
    if to_stdout
        && tracer.is_none()
        && output.view == View::Tree
        && output.format == Format::Text
        && plain
    {
        // written as it is made, a chunk of whole lines at a time, escaped and (with
        // --ascii) mapped as the whole text would be: tens of MB at 50k rules never held
        if let Some(w) = &poller.warning {
            crate::sanitize::eprint_line(&format!("iptop: warning: {w}"));
        }
        let written = text_to_stdout(&input, output.look.ascii);
        std::mem::forget(snap);
        std::mem::forget(deltas);
        std::mem::forget(poller);
        return written;
    }
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
    let out = trace::add(output.format, tracer.as_ref(), traced.as_deref(), out);
    if let Some(w) = &poller.warning {
        crate::sanitize::eprint_line(&format!("iptop: warning: {w}"));
    }
    // the same for the snapshots: the process ends right after the output
    std::mem::forget(snap);
    std::mem::forget(deltas);
    std::mem::forget(poller);
    // no raw control, bidi or invisible character from the rules' text, whatever the
    // format and wherever it goes (colours are added after)
    // (no copy of a clean output: tens of MB at 50k rules)
    let escaped = match crate::sanitize::lines(&out) {
        std::borrow::Cow::Owned(s) => Some(s),
        std::borrow::Cow::Borrowed(_) => None,
    };
    let out = escaped.unwrap_or(out);
    let out = match output.format {
        Format::Text => crate::look::once_text(&output.look, to_stdout, out),
        _ => out,
    };
    match &output.file {
        Some(path) => crate::output::write(path, out.as_bytes(), output.force),
        None => crate::output::write_stdout(out.as_bytes()),
    }
    .map_err(AppError::Runtime)
}

/// The text export to stdout as [`report::text::render_with`] makes it, each chunk
/// escaped as [`crate::sanitize::lines`] escapes the whole (a chunk is whole lines,
/// and the escapes start afresh on each line) and, with `ascii`, mapped as
/// [`crate::look::ascii_only`] maps it; a reader that went away is fine.
fn text_to_stdout(input: &report::Input, ascii: bool) -> Result<(), AppError> {
    use std::io::Write;
    let mut w = std::io::stdout().lock();
    let mut failed: Option<std::io::Error> = None;
    let mut out = String::new();
    report::text::render_with(input, &mut out, &mut |chunk| {
        if failed.is_none() {
            let escaped = crate::sanitize::lines(chunk);
            let r = if ascii {
                w.write_all(crate::look::ascii_only(&escaped).as_bytes())
            } else {
                w.write_all(escaped.as_bytes())
            };
            failed = r.err();
        }
        chunk.clear();
    });
    crate::output::stdout_written(failed.map_or_else(|| w.flush(), Err)).map_err(AppError::Runtime)
}

/// The JSON report to stdout, as [`report::json_of`] makes it, through a buffer; a
/// reader that went away (`iptop --once | head`) is fine.
fn json_to_stdout(r: &report::Report<'_>) -> Result<(), AppError> {
    use std::io::Write;
    let mut w = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = crate::sanitize::json_pretty_to(&mut w, r)
        .map_err(std::io::Error::from)
        .and_then(|()| w.write_all(b"\n"))
        .and_then(|()| w.flush());
    crate::output::stdout_written(written).map_err(AppError::Runtime)
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
