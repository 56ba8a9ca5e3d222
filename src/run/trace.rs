//! `--trace EXPR` wired to `--once`, `--stream` and the live view: started after the
//! first poll (once the back end is known), and its packets added to `--once`'s output.
//! Its option combinations are checked with the others ([`crate::settings`]).

use std::time::Duration;

use crate::choices::Format;
use crate::error::AppError;
use crate::source::Source;
use crate::source::trace::{TraceSpec, Tracer};

fn legacy() -> AppError {
    AppError::Usage(crate::source::trace::LEGACY.into())
}

/// Starts the trace `spec` (`--trace`), if any, in the source's namespace, `nft` given
/// `timeout`. Refuses a source whose tables are all iptables-legacy's: its header says
/// so, or `listed`, the back ends of the tables a first poll listed (empty: not polled
/// yet).
pub async fn start(
    spec: Option<&TraceSpec>,
    timeout: Duration,
    source: &Source,
    listed: impl IntoIterator<Item = Option<crate::model::Backend>>,
) -> Result<Option<Tracer>, AppError> {
    let Some(spec) = spec else {
        return Ok(None);
    };
    let backend = source.info().backend;
    if crate::source::trace::legacy_only(backend, listed) {
        return Err(legacy());
    }
    crate::source::trace::start(spec.clone(), source.netns_fd(), timeout)
        .await
        .map(Some)
}

/// `out` in `format` with the traced packets of the window (drained from `tracer`) added
/// (text: a section after the report; JSON: the `trace` object).
pub fn add(
    format: Format,
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
    match format {
        Format::Json => crate::report::trace::add_to_json(&out, &r),
        _ => out + &crate::report::trace::text(&r),
    }
}
