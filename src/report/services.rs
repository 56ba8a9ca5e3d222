//! `--view services`: kube-proxy's Services as text or JSON ([`crate::explain::services`]).

use std::fmt::Write as _;

use serde::Serialize;
use unicode_width::UnicodeWidthStr;

use super::{Input, SourceReport};
use crate::explain::services::{self, Service};
use crate::format;
use crate::model::FirewallTable;

#[derive(Debug, Serialize)]
pub struct ServicesReport {
    pub version: u32,
    /// `services`: this document lists Services, not chains.
    pub view: &'static str,
    pub taken_at: String,
    pub window_ms: Option<u64>,
    pub window_start: Option<String>,
    /// `window`: new connections over the window; `total`: since the rules were loaded.
    pub counted: &'static str,
    pub source: SourceReport,
    pub warnings: Vec<String>,
    pub services: Vec<ServiceReport>,
}

#[derive(Debug, Serialize)]
pub struct ServiceReport {
    /// `ns/name:port` from kube-proxy's comments; null when the rules carry none.
    pub name: Option<String>,
    /// The name, else `cluster IP:port/protocol`.
    pub label: String,
    pub chain: Option<String>,
    pub cluster_ip: Option<String>,
    pub protocol: String,
    pub port: Option<u16>,
    pub node_port: Option<u16>,
    /// Only this node's endpoints (a KUBE-SVL chain).
    pub local: bool,
    pub new_connections: Option<u64>,
    pub endpoints: Vec<EndpointReport>,
}

#[derive(Debug, Serialize)]
pub struct EndpointReport {
    pub address: String,
    pub chain: String,
    /// The number of the rule in the Service's chain that picks it.
    pub rule: u32,
    /// The `statistic` probability of that rule; null for the last, which takes the rest.
    pub probability: Option<f64>,
    /// The share of new connections the cascade intends (1/n each).
    pub intended_share: f64,
    pub new_connections: Option<u64>,
    /// Its share of the Service's new connections; null when there were none.
    pub share: Option<f64>,
}

/// The tables the Services are read from: the nat table holding KUBE-SERVICES (else the
/// first nat table), and filter for Services without endpoints.
fn tables<'a>(input: &Input<'a>) -> Result<(usize, Option<&'a FirewallTable>), String> {
    let snap = input.snapshot;
    let nat = snap
        .tables
        .iter()
        .position(|t| t.name == "nat" && t.chain("KUBE-SERVICES").is_some())
        .or_else(|| snap.tables.iter().position(|t| t.name == "nat"))
        .ok_or_else(|| {
            "--view services reads kube-proxy's rules in the nat table, and there is none here (poll it with -t nat)".to_string()
        })?;
    let filter = snap
        .tables
        .iter()
        .find(|t| t.name == "filter" && t.chain("KUBE-SERVICES").is_some());
    Ok((nat, filter))
}

fn group(input: &Input) -> Result<Vec<Service>, String> {
    let (ni, filter) = tables(input)?;
    let td = input.deltas.and_then(|d| d.table(ni));
    Ok(services::group(&input.snapshot.tables[ni], td, filter))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0))
}

pub fn text(input: &Input) -> Result<String, String> {
    let svcs = group(input)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "iptop {} · {} · kube-proxy Services",
        env!("CARGO_PKG_VERSION"),
        input.source.describe()
    );
    let _ = write!(out, "taken {}", format::timestamp(input.snapshot.taken_at));
    match input.deltas {
        Some(d) => {
            let _ = write!(
                out,
                " · new connections over {}",
                format::duration(d.elapsed)
            );
        }
        None => out.push_str(" · new connections since the rules were loaded (use --window 2s)"),
    }
    out.push('\n');
    for w in &input.snapshot.warnings {
        let _ = writeln!(out, "warning: {}", crate::sanitize::text(w));
    }
    out.push('\n');
    if svcs.is_empty() {
        out.push_str("no kube-proxy Services in this nat table (no KUBE-SVC chains)\n");
        return Ok(out);
    }
    let titles = [
        "SERVICE",
        "CLUSTER IP",
        "PORT",
        "NODE PORT",
        "ENDPOINT",
        "NEW",
        "SHARE",
        "INTENDED",
    ];
    let mut rows: Vec<[String; 8]> = Vec::new();
    for s in &svcs {
        let mut head = [
            if s.local {
                format!("{} (local)", s.label())
            } else {
                s.label()
            },
            s.cluster_ip.clone().unwrap_or_default(),
            s.port
                .map(|p| format!("{}/{p}", s.protocol))
                .unwrap_or_default(),
            s.node_port.map(|p| p.to_string()).unwrap_or_default(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ];
        if s.endpoints.is_empty() {
            head[4] = "(no endpoints)".into();
            rows.push(head);
            continue;
        }
        for (i, e) in s.endpoints.iter().enumerate() {
            let mut row = if i == 0 {
                head.clone()
            } else {
                Default::default()
            };
            row[4] = if e.address.is_empty() {
                e.chain.clone()
            } else {
                e.address.clone()
            };
            row[5] = e.new.map_or_else(|| "?".into(), format::count);
            row[6] = pct(e.share);
            row[7] = pct(Some(e.intended));
            rows.push(row);
        }
    }
    // names come from comments: escaped before they are measured
    for v in rows.iter_mut().flatten() {
        crate::sanitize::in_place(v);
    }
    let mut widths: Vec<usize> = titles.iter().map(|t| t.width()).collect();
    for r in &rows {
        for (w, v) in widths.iter_mut().zip(r) {
            *w = (*w).max(v.width());
        }
    }
    let right = |i: usize| i >= 5;
    let mut line = |vals: &[String]| {
        let mut l = String::new();
        for (i, v) in vals.iter().enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let pad = " ".repeat(widths[i].saturating_sub(v.width()));
            if right(i) {
                l.push_str(&pad);
                l.push_str(v);
            } else {
                l.push_str(v);
                l.push_str(&pad);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&titles.map(String::from));
    for r in &rows {
        line(r);
    }
    let endpoints: usize = svcs.iter().map(|s| s.endpoints.len()).sum();
    let without = svcs.iter().filter(|s| s.endpoints.is_empty()).count();
    let _ = writeln!(
        out,
        "\n{} Services, {endpoints} endpoints, {without} without endpoints. nat counts the first packet of each connection; INTENDED is what the statistic cascade gives each endpoint.",
        svcs.len()
    );
    Ok(out)
}

pub fn json(input: &Input) -> Result<String, String> {
    let svcs = group(input)?;
    let base = super::build_header(input);
    let report = ServicesReport {
        version: 1,
        view: "services",
        taken_at: base.taken_at,
        window_ms: base.window_ms,
        window_start: base.window_start,
        counted: if input.deltas.is_some() {
            "window"
        } else {
            "total"
        },
        source: base.source,
        warnings: base.warnings,
        services: svcs
            .iter()
            .map(|s| ServiceReport {
                name: s.name.clone(),
                label: s.label(),
                chain: s.chain.clone(),
                cluster_ip: s.cluster_ip.clone(),
                protocol: s.protocol.clone(),
                port: s.port,
                node_port: s.node_port,
                local: s.local,
                new_connections: s.new_connections(),
                endpoints: s
                    .endpoints
                    .iter()
                    .map(|e| EndpointReport {
                        address: e.address.clone(),
                        chain: e.chain.clone(),
                        rule: e.rule,
                        probability: e.probability,
                        intended_share: e.intended,
                        new_connections: e.new,
                        share: e.share,
                    })
                    .collect(),
            })
            .collect(),
    };
    let mut s = crate::sanitize::json_pretty(&report).map_err(|e| e.to_string())?;
    s.push('\n');
    Ok(s)
}

/// `--view services` in `--format text` or `json`.
pub fn render(format: super::Format, input: &Input) -> Result<String, String> {
    match format {
        super::Format::Json => json(input),
        _ => text(input),
    }
}
