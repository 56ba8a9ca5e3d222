//! `--trace EXPR` wired to `--once` and `--stream`: checked, started after the first
//! poll (once the back end is known), and its packets added to the output.

use crate::cli::Cli;
use crate::error::AppError;
use crate::source::Source;
use crate::source::trace::{TraceSpec, Tracer};

/// The option combinations `--trace` refuses, before anything runs.
pub fn check(cli: &Cli) -> Result<(), AppError> {
    if cli.trace.is_none() {
        return Ok(());
    }
    if cli.backend == crate::cli::BackendArg::Legacy {
        return Err(legacy());
    }
    if cli.once && cli.window.is_none() {
        return Err(AppError::Usage(
            "--trace with --once needs --window (how long to trace, e.g. --window 5s)".into(),
        ));
    }
    if cli.once && cli.format == crate::cli::Format::Svg {
        return Err(AppError::Usage(
            "--trace prints its packets with --format text or json, not svg".into(),
        ));
    }
    Ok(())
}

fn legacy() -> AppError {
    AppError::Usage(crate::source::trace::LEGACY.into())
}

/// Starts the trace when `--trace` was given, in the source's namespace. Refuses a
/// source whose tables are all iptables-legacy's: its header says so, or `listed`, the
/// back ends of the tables a first poll listed (empty: not polled yet).
pub async fn start(
    cli: &Cli,
    source: &Source,
    listed: impl IntoIterator<Item = Option<crate::model::Backend>>,
) -> Result<Option<Tracer>, AppError> {
    let Some(expr) = &cli.trace else {
        return Ok(None);
    };
    let backend = &source.info().backend;
    if crate::source::trace::legacy_only(backend, listed) {
        return Err(legacy());
    }
    if backend.contains("legacy") {
        crate::sanitize::eprint_line(
            "iptop: warning: --trace does not see the iptables-legacy tables (only nf_tables ones)",
        );
    }
    let spec = TraceSpec {
        expr: expr.clone(),
        rate: cli.trace_rate,
    };
    crate::source::trace::start(spec, source.netns_fd(), cli.timeout)
        .await
        .map(Some)
}

/// `out` with the traced packets of the window (drained from `tracer`) added (text: a
/// section after the report; JSON: the `trace` object).
pub fn add(
    cli: &Cli,
    tracer: Option<&Tracer>,
    packets: Option<&[crate::source::trace::TracedPacket]>,
    out: String,
) -> String {
    let (Some(t), Some(packets)) = (tracer, packets) else {
        return out;
    };
    let r = crate::report::trace::TraceReport {
        expr: &t.spec.expr,
        rate: t.spec.rate,
        packets,
        seen: t.seen(),
        lost: t.lost(),
    };
    match cli.format {
        crate::cli::Format::Json => crate::report::trace::add_to_json(&out, &r),
        _ => out + &crate::report::trace::text(&r),
    }
}
