//! Exports of one snapshot (with deltas over a window): the same content for `--once`
//! and for the TUI's export key. The serialisable types here are kept apart from the
//! core model so the JSON schema changes only on purpose.

pub mod path;
pub mod services;
pub mod text;
pub mod trace;

use std::borrow::Cow;

use serde::Serialize;

use crate::derive::table::{ChainFacts, RuleFacts};
use crate::format;
use crate::model::{ChainKind, Counter, Fell, FirewallTable};

/// Everything an export needs: what the exports derive from ([`crate::derive`]).
pub use crate::derive::Input;

/// The strings of tables, chains and rules are borrowed from the snapshot: an export of
/// a 50k-rule table copies none of them.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub version: u32,
    pub taken_at: String,
    /// Only rules that moved in the window are listed (`--moved-only`).
    pub moved_only: bool,
    pub window_ms: Option<u64>,
    pub window_start: Option<String>,
    /// What the window is, for an export of the live view: `since the baseline (z)`,
    /// `the last 10s of polls`; absent for `--once`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    pub source: SourceReport,
    pub warnings: Vec<String>,
    pub tables: Vec<TableReport<'a>>,
    /// Rules of thumb that point at traps ([`crate::explain::findings`]).
    pub findings: Vec<FindingReport>,
}

#[derive(Debug, Serialize)]
pub struct FindingReport {
    /// Stable: `policy-drop`, `docker-user-dport`, ...
    pub id: &'static str,
    /// `info`, `warning` or `critical`.
    pub severity: &'static str,
    pub table: String,
    pub backend: Option<String>,
    /// Null for a finding about a whole table.
    pub chain: Option<String>,
    /// The rule's number; null for a chain's policy or a whole table.
    pub rule: Option<u32>,
    pub message: String,
}

/// What a chain or rule is for and who writes it ([`crate::explain::notes`]).
#[derive(Debug, Serialize)]
pub struct AboutReport<'a> {
    pub by: &'a str,
    pub text: &'a str,
}

impl<'a> From<&'a crate::explain::notes::Note> for AboutReport<'a> {
    fn from(n: &'a crate::explain::notes::Note) -> Self {
        AboutReport {
            by: &n.by,
            text: &n.about,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SourceReport {
    pub kind: String,
    pub host: Option<String>,
    pub netns: Option<String>,
    pub backend: Option<String>,
    pub binary: Option<String>,
    pub version: Option<String>,
    pub family: Option<String>,
    pub file: Option<String>,
    /// `kernel` when the counters were read from the kernel rather than the listing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counters: Option<String>,
    /// With `counters`, the tables whose counters came from the listing all the same.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub counters_from_listing: Vec<String>,
    /// The legacy tables whose listing iptop wrote from the kernel's entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub written_from_kernel: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct TableReport<'a> {
    pub name: &'a str,
    /// `nft` or `legacy`: the back end that holds these rules (null when not known, as
    /// for a pasted listing). A table held by both appears once for each.
    pub backend: Option<String>,
    /// False when the counters were abbreviated (a listing without -x).
    pub exact: bool,
    /// `iptables` (a table of iptables, either back end) or `nftables` (a native
    /// nftables table, read with `nft`).
    pub kind: &'static str,
    /// A native table's family: `ip`, `ip6`, `inet`, `arp`, `bridge`, `netdev`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<&'a str>,
    pub chains: Vec<ChainReport<'a>>,
}

#[derive(Debug, Serialize)]
pub struct ChainReport<'a> {
    pub name: &'a str,
    pub builtin: bool,
    pub policy: Option<&'a str>,
    /// Policy counters (built-in chains only; 0 for user chains).
    pub packets: u64,
    pub bytes: u64,
    pub delta_packets: Option<u64>,
    pub delta_bytes: Option<u64>,
    pub references: Option<u32>,
    /// What reached the end of the chain: a built-in chain's policy counters; for a user
    /// chain, what entered minus what left by a verdict, RETURN or goto minus what its
    /// sub-chains kept. Null where the counters do not tell (a sub-chain also called
    /// from elsewhere).
    pub fell_through_packets: Option<u64>,
    pub fell_through_bytes: Option<u64>,
    /// False when computed from abbreviated counters (`332K`): then within ±
    /// `fell_through_error_packets` (and bytes) of the true count.
    pub fell_through_exact: bool,
    pub fell_through_error_packets: Option<u64>,
    pub fell_through_error_bytes: Option<u64>,
    /// Why the count is what it is, when that needs saying: `inconsistent` (the
    /// counters contradict the rules: null counts), `unreachable` (a rule that matches
    /// everything ends the chain: 0, and no fell-through row), `within_rounding` (the
    /// rounding of abbreviated counters could account for all of it). Null otherwise.
    pub fell_through_note: Option<&'static str>,
    /// The same over the window (null without one, or where not determinable).
    pub delta_fell_through_packets: Option<u64>,
    pub delta_fell_through_bytes: Option<u64>,
    /// What the chain is for and who writes it; null when iptop has no note on it.
    pub about: Option<AboutReport<'a>>,
    /// A native base chain's type (`filter`, `nat`, `route`), hook and priority.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub chain_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Not a chain of the kernel's: a verdict map (`@name`, or a rule's anonymous
    /// `vmap {…} #handle`), whose rules are its elements.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub vmap: bool,
    pub rules: Rules<'a>,
}

/// A chain's rules, each made into a [`RuleReport`] as it is written: a report of 50k
/// rules holds no copy of them (about 20 MB less touched by `--once --format json`).
pub struct Rules<'a> {
    table: &'a FirewallTable,
    chain: usize,
    facts: Vec<RuleFacts>,
}

impl Rules<'_> {
    /// Each rule's report, in order.
    pub fn reports(&self) -> impl Iterator<Item = RuleReport<'_>> {
        self.facts
            .iter()
            .map(|f| rule_report(self.table, self.chain, f))
    }
}

impl Serialize for Rules<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.reports())
    }
}

impl std::fmt::Debug for Rules<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.reports()).finish()
    }
}

#[derive(Debug, Serialize)]
pub struct RuleReport<'a> {
    pub num: u32,
    /// Null for a native rule without a `counter` statement: it counts nothing.
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    pub delta_packets: Option<u64>,
    pub delta_bytes: Option<u64>,
    /// Packets per second over the window.
    pub rate_pps: Option<f64>,
    /// The counters went down in the window (zeroed); the delta counts from zero.
    pub reset: bool,
    /// The rule did not exist when the window started.
    pub new: bool,
    pub target: Option<&'a str>,
    /// True when the target is a user chain of this table.
    pub jump: bool,
    pub goto: bool,
    pub prot: &'a str,
    /// The protocol's name (`tcp` for `6`, `all` for `0`; `!tcp` for a negated one).
    pub protocol: Cow<'a, str>,
    pub opt: &'a str,
    #[serde(rename = "in")]
    pub in_iface: &'a str,
    #[serde(rename = "out")]
    pub out_iface: &'a str,
    pub source: &'a str,
    pub destination: &'a str,
    pub extra: &'a str,
    /// The rule's `-m comment` text (without `/* */`), or null.
    pub comment: Option<&'a str>,
    /// Docker's names for the rule's interfaces, addresses and DNAT target (`in`, `out`,
    /// `source`, `destination`, `dnat`); absent when none is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<&'a crate::docker::RuleNames>,
    /// A note on this very rule (a few well-known ones); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<AboutReport<'a>>,
    /// A native rule's handle (0 for a verdict map's element).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<u64>,
    /// A native rule as `nft` prints it (its counters' numbers left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<&'a str>,
    /// A native rule's jump, goto and verdict-map targets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jumps_to: Option<&'a [String]>,
    /// A native rule without counter: the packets `--trace` saw match it in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traced_packets: Option<u64>,
}

/// Rates in JSON: three decimals are more than a counter over a window can tell.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The fields every export starts with.
pub struct Header {
    pub taken_at: String,
    pub window_ms: Option<u64>,
    pub window_start: Option<String>,
    pub source: SourceReport,
    pub warnings: Vec<String>,
}

/// The fields every export starts with, of a derived header.
pub fn build_header(h: &crate::derive::Header) -> Header {
    let src = h.source;
    Header {
        taken_at: format::timestamp(h.taken_at),
        window_ms: h.window.map(|d| d.as_millis() as u64),
        window_start: h
            .window_start
            .filter(|_| h.window.is_some())
            .map(format::timestamp),
        source: SourceReport {
            kind: src.kind.as_str().to_string(),
            host: non_empty(&src.host),
            netns: src.netns.clone(),
            // auto: the back ends the tables came from
            backend: src
                .backend
                .map(|b| b.to_string())
                .or_else(|| non_empty(&h.backends)),
            binary: non_empty(&src.binary),
            version: non_empty(&src.version),
            family: src.family.map(|f| f.as_str().to_string()),
            file: src.file.clone(),
            counters: non_empty(&src.counters),
            counters_from_listing: src.listed_counters.clone(),
            written_from_kernel: src.written.clone(),
        },
        warnings: h.warnings.to_vec(),
    }
}

/// The `--once` report of `input`: its tables as [`crate::derive::table`] derives them.
pub fn build<'a>(input: &Input<'a>) -> Report<'a> {
    let tables = input
        .snapshot
        .tables
        .iter()
        .enumerate()
        .map(|(ti, t)| TableReport {
            name: &t.name,
            backend: t.backend.map(|b| b.to_string()),
            exact: t.exact,
            kind: if t.family.is_some() {
                "nftables"
            } else {
                "iptables"
            },
            family: t.family.as_deref(),
            chains: crate::derive::table::chains(input, ti)
                .into_iter()
                .map(|c| chain_report(t, c))
                .collect(),
        })
        .collect();
    let h = build_header(&crate::derive::header(input));
    Report {
        version: 1,
        taken_at: h.taken_at,
        moved_only: input.moved_only,
        window_ms: h.window_ms,
        window_start: h.window_start,
        window: input.window_note.map(str::to_string),
        source: h.source,
        warnings: h.warnings,
        tables,
        findings: crate::derive::findings(input)
            .into_iter()
            .map(|f| FindingReport {
                id: f.id.as_str(),
                severity: f.severity.as_str(),
                table: f.table,
                backend: f.backend.map(|b| b.to_string()),
                chain: f.chain,
                rule: f.rule,
                message: f.message,
            })
            .collect(),
    }
}

fn chain_report(t: &FirewallTable, c: ChainFacts) -> ChainReport<'_> {
    let ch = &t.chains[c.chain];
    let native = ch.native.as_deref();
    let base = native.and_then(|n| n.base.as_ref());
    let fell = c.fell;
    ChainReport {
        name: &ch.name,
        builtin: ch.is_builtin(),
        policy: ch.policy(),
        packets: ch.packets,
        bytes: ch.bytes,
        delta_packets: c.policy_delta.map(|d| d.packets),
        delta_bytes: c.policy_delta.map(|d| d.bytes),
        references: match ch.kind {
            ChainKind::User { references } => references,
            ChainKind::Builtin { .. } => None,
        },
        fell_through_packets: fell.counted().map(|d| d.packets),
        fell_through_bytes: fell.counted().map(|d| d.bytes),
        fell_through_exact: fell.error() == Counter::default(),
        fell_through_error_packets: Some(fell.error().packets).filter(|&e| e > 0),
        fell_through_error_bytes: Some(fell.error().bytes).filter(|&e| e > 0),
        fell_through_note: match fell {
            Fell::Inconsistent => Some("inconsistent"),
            Fell::Unreachable => Some("unreachable"),
            f if f.within_rounding() => Some("within_rounding"),
            _ => None,
        },
        delta_fell_through_packets: c.fell_window.map(|d| d.packets),
        delta_fell_through_bytes: c.fell_window.map(|d| d.bytes),
        about: c.about.map(AboutReport::from),
        chain_type: base.map(|b| b.kind.as_str()),
        hook: base.map(|b| b.hook.as_str()),
        priority: base.map(|b| b.priority),
        vmap: native.is_some_and(|n| n.vmap),
        rules: Rules {
            table: t,
            chain: c.chain,
            facts: c.rules,
        },
    }
}

fn rule_report<'a>(t: &'a FirewallTable, ci: usize, f: &'a RuleFacts) -> RuleReport<'a> {
    let r = &t.chains[ci].rules[f.rule];
    let d = f.delta;
    RuleReport {
        num: r.num,
        packets: f.counted.then_some(f.count.packets),
        bytes: f.counted.then_some(f.count.bytes),
        delta_packets: d.map(|d| d.packets),
        delta_bytes: d.map(|d| d.bytes),
        rate_pps: f.rate_pps.map(round3),
        reset: d.is_some_and(|d| d.reset),
        new: f.new,
        target: Some(r.spec.target.as_str()).filter(|s| !s.is_empty()),
        jump: t.jump_target(r).is_some(),
        goto: r.spec.goto,
        prot: &r.spec.prot,
        protocol: crate::model::protocol_name(&r.spec.prot),
        opt: &r.spec.opt,
        in_iface: &r.spec.in_iface,
        out_iface: &r.spec.out_iface,
        source: &r.spec.source,
        destination: &r.spec.destination,
        extra: &r.spec.extra,
        comment: crate::explain::ports::comment(&r.spec.extra),
        names: f.names.as_deref(),
        about: f.about.map(AboutReport::from),
        handle: r.native.as_ref().map(|n| n.handle),
        text: r.native.as_ref().map(|n| &*n.text),
        jumps_to: r.native.as_ref().map(|n| &n.jumps_to[..]),
        traced_packets: t.traced(ci, f.rule),
    }
}

/// The formats an export is written in (the options' own `--format`). The SVG picture is
/// drawn by the live view's render code (`crate::ui::export`); the others here.
pub use crate::choices::Format;

/// The export as text or JSON; None for a format drawn elsewhere (SVG).
pub fn render(format: Format, input: &Input) -> Option<String> {
    match format {
        Format::Text => Some(text::render(input)),
        Format::Json => Some(json(input)),
        Format::Svg => None,
    }
}

pub fn json(input: &Input) -> String {
    json_of(&build(input))
}

/// A built report as pretty JSON, ending in a newline. C1, DEL and invisible characters
/// are written as \uXXXX: the strings stay the true text.
pub fn json_of(r: &Report<'_>) -> String {
    let mut s =
        crate::sanitize::json_pretty(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}
