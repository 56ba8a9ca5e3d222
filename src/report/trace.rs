//! The traced packets of `--trace`: a text section after the report, the `trace`
//! object of the JSON document, and one NDJSON line per packet for `--stream`.

use serde::Serialize;

use crate::source::trace::TracedPacket;

/// What a trace gave over a window.
pub struct TraceReport<'a> {
    pub expr: &'a str,
    pub rate: u32,
    pub packets: &'a [TracedPacket],
    pub seen: u64,
    pub lost: u64,
}

#[derive(Serialize)]
struct PacketJson<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    time: Option<String>,
    #[serde(flatten)]
    packet: &'a TracedPacket,
}

#[derive(Serialize)]
struct TraceJson<'a> {
    expr: &'a str,
    rate: u32,
    packets: Vec<PacketJson<'a>>,
    seen: u64,
    lost: u64,
}

fn packet_json<'a>(p: &'a TracedPacket, kind: Option<&'static str>) -> PacketJson<'a> {
    PacketJson {
        kind,
        time: p.time.map(crate::format::timestamp),
        packet: p,
    }
}

/// The `trace` object of the JSON document.
pub fn json(r: &TraceReport) -> serde_json::Value {
    serde_json::to_value(TraceJson {
        expr: r.expr,
        rate: r.rate,
        packets: r.packets.iter().map(|p| packet_json(p, None)).collect(),
        seen: r.seen,
        lost: r.lost,
    })
    .unwrap_or(serde_json::Value::Null)
}

/// Adds `trace` to a JSON document printed by `report::json_of`.
pub fn add_to_json(doc: &str, r: &TraceReport) -> String {
    let Ok(serde_json::Value::Object(mut m)) = serde_json::from_str::<serde_json::Value>(doc)
    else {
        return doc.to_string();
    };
    m.insert("trace".into(), json(r));
    let mut s = crate::sanitize::json_pretty(&m).unwrap_or_else(|_| doc.to_string());
    s.push('\n');
    s
}

/// One NDJSON line (`"type":"trace"`), newline included.
pub fn stream_line(p: &TracedPacket) -> String {
    let mut s = crate::sanitize::json_line(&packet_json(p, Some("trace")))
        .unwrap_or_else(|e| format!("{{\"type\":\"trace\",\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

/// One step: `nat PREROUTING rule 1 (handle 4): jump DOCKER-INGRESS`.
pub fn step_text(s: &crate::source::trace::Step) -> String {
    let place = match s.family.as_str() {
        "ip" | "ip6" => format!("{} {}", s.table, s.chain),
        f => format!("{f} {} {}", s.table, s.chain),
    };
    let at = match (s.kind, s.rule, s.handle) {
        ("policy", ..) => "policy".to_string(),
        ("return", ..) => "end".to_string(),
        (_, Some(n), Some(h)) => format!("rule {n} (handle {h})"),
        (_, None, Some(h)) => format!("rule handle {h}"),
        _ => "rule".to_string(),
    };
    let mut v = s.verdict.clone();
    if let Some(t) = &s.target {
        v = format!("{v} {t}");
    }
    if s.dnat {
        v = format!("DNAT, {v}");
    }
    format!("{place} {at}: {v}")
}

/// The text section: each packet, its verdict and where, and its steps.
pub fn text(r: &TraceReport) -> String {
    let mut out = format!(
        "\ntrace {}  (at most {}/s): {} packet{} traced",
        r.expr,
        r.rate,
        r.seen,
        if r.seen == 1 { "" } else { "s" }
    );
    if r.lost > 0 {
        out.push_str(&format!(
            ", events lost {} time{}",
            r.lost,
            if r.lost == 1 { "" } else { "s" }
        ));
    }
    out.push('\n');
    for p in r.packets {
        let time = p
            .time
            .map(|t| {
                crate::format::timestamp(t)
                    .get(11..23)
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default();
        out.push_str(&format!("  {time}  {}  → {}\n", p.summary, p.place));
        for s in &p.steps {
            out.push_str(&format!("      {}\n", step_text(s)));
        }
    }
    out
}
