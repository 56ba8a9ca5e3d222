//! `--listen ADDR`: no UI; iptop polls on its interval and serves the last poll at
//! `/metrics` in the Prometheus text format (version 0.0.4), so the Prometheus that
//! already scrapes a fleet sees every host's rules. A scrape only encodes what the last
//! poll left in [`State`]: it never runs iptables.
//!
//! Series: per rule `iptop_rule_packets_total` and `iptop_rule_bytes_total` (labels
//! `table`, `chain`, `rule` (its position), `target`, `comment`, `match` (the match
//! text without the comment: `tcp dpt:80`), `backend`); per built-in
//! chain `iptop_chain_policy_packets_total` and `..._bytes_total` (`table`, `chain`,
//! `policy`, `backend`); and about polling: `iptop_polls_total`,
//! `iptop_poll_failures_total{reason}`, `iptop_poll_duration_seconds`,
//! `iptop_last_poll_success`, `iptop_last_poll_timestamp_seconds`.

mod deadline;
pub mod http;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use hyper::body::Bytes;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::error::AppError;
use crate::model::{ChainKind, Snapshot};
use crate::source::PollError;
use crate::source::schedule::Schedule;

/// Label values longer than this are cut (a comment can be 256 bytes; a series name
/// should stay readable).
const MAX_LABEL: usize = 128;

/// What the last poll left for the scrapes.
#[derive(Debug, Default)]
pub struct State {
    /// The last good snapshot.
    pub snapshot: Option<Arc<Snapshot>>,
    /// The source's back end when it names one (`--backend nft|legacy`).
    pub backend: Option<crate::model::Backend>,
    pub polls: u64,
    /// Failed polls by reason (`timeout`, `locked`, ...).
    pub failures: BTreeMap<String, u64>,
    pub last_duration: Duration,
    pub last_success: bool,
    pub last_at: Option<SystemTime>,
}

impl State {
    pub fn polled(&mut self, snap: Snapshot, took: Duration) {
        self.polls += 1;
        self.last_duration = took;
        self.last_success = true;
        self.last_at = Some(snap.taken_at);
        self.snapshot = Some(Arc::new(snap));
    }

    pub fn failed(&mut self, e: &PollError) {
        self.polls += 1;
        self.last_success = false;
        self.last_at = Some(SystemTime::now());
        *self.failures.entry(reason(e).to_string()).or_default() += 1;
    }
}

/// A short, stable reason for a failed poll (a label value).
fn reason(e: &PollError) -> &'static str {
    match e {
        PollError::NotFound { .. } => "not_found",
        PollError::PermissionDenied { .. } => "permission",
        PollError::Timeout { .. } => "timeout",
        PollError::Locked { .. } => "locked",
        _ => "other",
    }
}

/// A label value as Prometheus takes it well: what [`crate::sanitize::text`] escapes
/// (controls, bidi, invisible characters, marks over ASCII) becomes spaces, and
/// long values are cut at a character boundary (the encoder escapes `\`, `"` and newlines).
pub fn label_value(s: &str) -> String {
    let mut out = crate::sanitize::blanked(s).into_owned();
    if out.len() > MAX_LABEL {
        let mut end = MAX_LABEL;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

/// The match text of a rule without its comment: `tcp dpt:80`.
fn match_text(extra: &str) -> String {
    crate::model::comments::without_comments(extra)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Encodes [`State`] on each scrape.
#[derive(Debug)]
pub struct Metrics(pub Arc<RwLock<State>>);

impl Collector for Metrics {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let st = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(snap) = &st.snapshot {
            let backend_of = |t: &crate::model::FirewallTable| match t.backend {
                Some(b) => b.to_string(),
                None => st
                    .backend
                    .map_or_else(|| "unknown".to_string(), |b| b.to_string()),
            };
            for (name, help, bytes) in [
                (
                    "iptop_rule_packets",
                    "Packets matched by an iptables rule (its counter).",
                    false,
                ),
                (
                    "iptop_rule_bytes",
                    "Bytes matched by an iptables rule (its counter).",
                    true,
                ),
            ] {
                let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
                for t in &snap.tables {
                    let backend = backend_of(t);
                    for c in &t.chains {
                        let chain = label_value(&c.name);
                        for (ri, r) in c.rules.iter().enumerate() {
                            let native = r.native.as_deref();
                            // a rule without a counter has no series: 0 would be a lie
                            if native.is_some_and(|n| !n.has_counter) {
                                continue;
                            }
                            let k = c.counter(ri);
                            let mut labels = vec![
                                ("table", t.name.clone()),
                                ("chain", chain.clone()),
                                ("rule", r.num.to_string()),
                                ("target", label_value(&r.spec.target)),
                                (
                                    "comment",
                                    label_value(
                                        crate::explain::ports::comment(&r.spec.extra).unwrap_or(""),
                                    ),
                                ),
                                ("match", label_value(&match_text(&r.spec.extra))),
                                ("backend", backend.clone()),
                            ];
                            if let (Some(f), Some(n)) = (&t.family, native) {
                                labels.push(("family", label_value(f)));
                                labels.push(("handle", n.handle.to_string()));
                            }
                            let v = if bytes { k.bytes } else { k.packets };
                            ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
                        }
                    }
                }
            }
            for (name, help, bytes) in [
                (
                    "iptop_chain_policy_packets",
                    "Packets that reached the end of a built-in chain and met its policy.",
                    false,
                ),
                (
                    "iptop_chain_policy_bytes",
                    "Bytes that reached the end of a built-in chain and met its policy.",
                    true,
                ),
            ] {
                let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
                for t in &snap.tables {
                    let backend = backend_of(t);
                    for c in &t.chains {
                        // nftables keeps no policy counter
                        if let ChainKind::Builtin { policy } = &c.kind
                            && t.family.is_none()
                        {
                            let labels = [
                                ("table", t.name.clone()),
                                ("chain", label_value(&c.name)),
                                ("policy", label_value(policy)),
                                ("backend", backend.clone()),
                            ];
                            let v = if bytes { c.bytes } else { c.packets };
                            ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
                        }
                    }
                }
            }
        }
        let m = enc.encode_descriptor(
            "iptop_polls",
            "Polls of iptables since iptop started, failed ones included.",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(st.polls).encode(m)?;
        let mut m = enc.encode_descriptor(
            "iptop_poll_failures",
            "Polls that failed, by reason (timeout, locked, permission, not_found, other).",
            None,
            MetricType::Counter,
        )?;
        for (r, n) in &st.failures {
            ConstCounter::new(*n).encode(m.encode_family(&[("reason", r.as_str())])?)?;
        }
        let m = enc.encode_descriptor(
            "iptop_poll_duration_seconds",
            "How long the last good poll's iptables listings took.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(st.last_duration.as_secs_f64()).encode(m)?;
        let m = enc.encode_descriptor(
            "iptop_last_poll_success",
            "1 when the last poll succeeded, else 0 (the series above are from the last good one).",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::from(st.last_success)).encode(m)?;
        if let Some(at) = st.last_at {
            let m = enc.encode_descriptor(
                "iptop_last_poll_timestamp_seconds",
                "When the last poll was taken (Unix time).",
                None,
                MetricType::Gauge,
            )?;
            let secs = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            ConstGauge::new(secs).encode(m)?;
        }
        Ok(())
    }
}

/// The exposition of `state` (what a scrape of `/metrics` returns).
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, registry) {
        out = format!("# encoding failed: {e}\n");
    }
    out
}

/// What `/metrics` serves: the registry, encoded once per poll and kept for the scrapes
/// that follow (two Prometheus servers scraping the same host cost one encoding).
pub struct Exposition {
    registry: Registry,
    state: Arc<RwLock<State>>,
    /// The poll count it was encoded at, and the text.
    cache: std::sync::Mutex<Option<(u64, Bytes)>>,
}

impl Exposition {
    pub fn new(state: Arc<RwLock<State>>) -> Exposition {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Metrics(state.clone())));
        Exposition {
            registry,
            state,
            cache: std::sync::Mutex::new(None),
        }
    }

    /// The text of the last poll.
    pub fn text(&self) -> Bytes {
        let polls = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .polls;
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, text)) = &*cache
            && *at == polls
        {
            return text.clone();
        }
        let text = Bytes::from(render(&self.registry));
        *cache = Some((polls, text.clone()));
        text
    }
}

/// `--listen ADDR`: the address is bound (so a taken port is said before anything
/// polls) and the poll loop set up by the options layer.
pub async fn run(
    listener: tokio::net::TcpListener,
    mut schedule: Schedule,
) -> Result<(), AppError> {
    let state = Arc::new(RwLock::new(State {
        backend: schedule.source().info().backend,
        ..State::default()
    }));
    let exposition = Arc::new(Exposition::new(state.clone()));
    if let Ok(local) = listener.local_addr() {
        eprintln!(
            "iptop: serving http://{local}/metrics (every {})",
            crate::format::duration(schedule.interval())
        );
    }
    let server = tokio::spawn(http::serve(listener, exposition, http::connection_cap()));
    let write = |f: &mut dyn FnMut(&mut State)| {
        let mut st = state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut st);
    };
    let mut stops = crate::stream::Stops::catch()?;
    let result = crate::stream::poll_loop(
        &mut schedule,
        &mut stops,
        async |p: &crate::stream::Polled<'_>| {
            let snap = p.snapshot.clone();
            write(&mut |st| st.polled(snap.clone(), p.took));
            Ok(crate::stream::Next::Go)
        },
        |e| {
            crate::sanitize::eprint_line(&format!("iptop: poll failed: {e}"));
            write(&mut |st| st.failed(e));
        },
    )
    .await;
    server.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_cut_and_cleaned() {
        assert_eq!(label_value("a\tb\nc"), "a b c");
        assert_eq!(
            label_value("a\u{1b}[2J\u{202e}b\u{200b}\u{9b}"),
            "a [2J b  "
        );
        // variation selectors, tags, marks over ASCII (a struck-through ACCEPT)
        assert_eq!(label_value("a\u{fe0f}b\u{e0100}c\u{e0041}"), "a b c ");
        assert_eq!(label_value("A\u{336}C\u{336}K"), "A C K");
        assert_eq!(label_value("é\u{301}"), "é\u{301}");
        let long = "é".repeat(100);
        let v = label_value(&long);
        assert!(v.len() <= MAX_LABEL + '…'.len_utf8(), "{}", v.len());
        assert!(v.ends_with('…'));
    }

    #[test]
    fn a_snapshot_encodes_with_escaped_labels() {
        let listing = "Chain INPUT (policy DROP 7 packets, 420 bytes)\n\
num   pkts bytes target     prot opt in     out     source               destination\n\
1       12   720 ACCEPT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:22 /* ssh \"admin\" \\ door */\n";
        let table = crate::parse::parse_table("filter", listing, None).expect("parse");
        let snap = Snapshot {
            taken_at: SystemTime::now(),
            at: Duration::ZERO,
            took: Duration::from_millis(3),
            tables: vec![table],
            warnings: Vec::new(),
            seq: 1,
        };
        let state = Arc::new(RwLock::new(State::default()));
        state
            .write()
            .expect("lock")
            .polled(snap, Duration::from_millis(3));
        let exposition = Exposition::new(state.clone());
        let text = String::from_utf8(exposition.text().to_vec()).expect("utf-8");
        assert!(
            text.contains(
                r#"iptop_rule_packets_total{table="filter",chain="INPUT",rule="1",target="ACCEPT",comment="ssh \"admin\" \\ door",match="tcp dpt:22",backend="unknown"} 12"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"iptop_chain_policy_bytes_total{table="filter",chain="INPUT",policy="DROP",backend="unknown"} 420"#), "{text}");
        assert!(text.contains("iptop_polls_total 1"), "{text}");
        assert!(text.contains("iptop_poll_duration_seconds 0.003"), "{text}");
        // the same poll: the same text, without encoding again
        assert_eq!(exposition.text().as_ptr(), exposition.text().as_ptr());
        state.write().expect("lock").failed(&PollError::Timeout {
            table: "filter".into(),
            after: Duration::from_secs(5),
        });
        let after = exposition.text();
        assert!(
            String::from_utf8_lossy(&after)
                .contains(r#"iptop_poll_failures_total{reason="timeout"} 1"#)
        );
    }

    /// Docker 29's native table (the lab's captured ruleset): its counted rules are
    /// series with `family` and `handle`; its vmap rules (no counter) and base chains
    /// (no policy counter) have none.
    #[test]
    fn native_rules_with_counters_only() {
        let json = include_str!("../../tests/fixtures/nft/docker29-lab.json");
        let text = include_str!("../../tests/fixtures/nft/docker29-lab.txt");
        let tables = crate::parse::nft::parse_ruleset(json, Some(text)).expect("fixture");
        let snap = Snapshot {
            taken_at: SystemTime::now(),
            at: Duration::ZERO,
            took: Duration::from_millis(3),
            tables,
            warnings: Vec::new(),
            seq: 1,
        };
        let state = Arc::new(RwLock::new(State::default()));
        state
            .write()
            .expect("lock")
            .polled(snap, Duration::from_millis(3));
        let text = String::from_utf8(Exposition::new(state).text().to_vec()).expect("utf-8");
        let accept = text
            .lines()
            .find(|l| {
                l.starts_with("iptop_rule_packets_total{table=\"docker-bridges\",chain=\"filter-forward-in__bridge1\"")
                    && l.contains("tcp dport 80 counter accept")
            })
            .unwrap_or_else(|| panic!("no accept series:\n{text}"));
        assert!(accept.contains(r#"family="ip",handle="35"} 6"#), "{accept}");
        assert!(
            !text.contains("vmap"),
            "a counterless rule has a series:\n{text}"
        );
        assert!(
            !text.contains(r#"iptop_chain_policy_packets_total{table="docker-bridges""#),
            "{text}"
        );
    }
}
