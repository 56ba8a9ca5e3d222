//! `--view services`: kube-proxy's Services as text or JSON, from the nat table in
//! iptables mode ([`crate::explain::services`]) and from the `ip kube-proxy` table in
//! nftables mode ([`crate::explain::kube_nft`]).

use std::fmt::Write as _;

use serde::Serialize;
use unicode_width::UnicodeWidthStr;

use super::{Input, SourceReport};
use crate::explain::kube_nft::{self, NftService};
use crate::explain::services::{self, Endpoint, Service};
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
    /// What the numbers cannot say: kube-proxy's nftables rules count nothing.
    pub notes: Vec<String>,
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
    pub endpoints: Vec<Endpoint>,
    /// `iptables` (the nat table's KUBE-SVC chains) or `nftables` (`ip kube-proxy`).
    pub mode: &'static str,
    /// The nftables table (`ip kube-proxy`); null in iptables mode.
    pub table: Option<String>,
    /// External and load-balancer IPs (nftables mode).
    pub external_ips: Vec<String>,
    /// Returning clients keep their endpoint (nftables mode).
    pub affinity: bool,
}

/// The tables the Services are read from: the nat table holding KUBE-SERVICES (else the
/// first nat table), and filter for Services without endpoints.
fn tables<'a>(input: &Input<'a>) -> Result<(usize, Option<&'a FirewallTable>), String> {
    let snap = input.snapshot;
    let nat = snap
        .tables
        .iter()
        .position(|t| t.family.is_none() && t.name == "nat" && t.chain("KUBE-SERVICES").is_some())
        .or_else(|| snap.tables.iter().position(|t| t.family.is_none() && t.name == "nat"))
        .ok_or_else(|| {
            "--view services reads kube-proxy's rules in the nat table (iptables mode) or the ip kube-proxy table (nftables mode), and there is neither here (poll nat with -t nat)".to_string()
        })?;
    let filter = snap
        .tables
        .iter()
        .find(|t| t.name == "filter" && t.chain("KUBE-SERVICES").is_some());
    Ok((nat, filter))
}

/// kube-proxy's nftables tables of the snapshot (`ip kube-proxy`, `ip6 kube-proxy`).
fn nft_tables<'a>(input: &Input<'a>) -> Vec<&'a FirewallTable> {
    input
        .snapshot
        .tables
        .iter()
        .filter(|t| kube_nft::is_kube_proxy(t))
        .collect()
}

/// The Services of iptables mode, and of nftables mode by table (`ip kube-proxy`).
/// The nat table's part is left out when it holds no KUBE-SERVICES beside a
/// kube-proxy nftables table.
struct Grouped {
    iptables: Option<Vec<Service>>,
    nft: Vec<(String, Vec<NftService>)>,
}

fn group(input: &Input) -> Result<Grouped, String> {
    let nft: Vec<(String, Vec<NftService>)> = nft_tables(input)
        .into_iter()
        .map(|t| {
            (
                format!("{} {}", t.family.as_deref().unwrap_or_default(), t.name),
                kube_nft::group(t),
            )
        })
        .collect();
    let iptables = match tables(input) {
        Ok((ni, filter)) => {
            let nat = &input.snapshot.tables[ni];
            if nft.is_empty() || nat.chain("KUBE-SERVICES").is_some() {
                let td = input.deltas.and_then(|d| d.table(ni));
                Some(services::group(nat, td, filter))
            } else {
                None
            }
        }
        Err(e) if nft.is_empty() => return Err(e),
        Err(_) => None,
    };
    Ok(Grouped { iptables, nft })
}

/// The note for nftables mode, with a cluster IP of its Services as the example.
fn not_counted(svcs: &[NftService]) -> String {
    let ip = svcs
        .iter()
        .find_map(|s| s.cluster_ip.as_deref())
        .unwrap_or("CLUSTER-IP");
    kube_nft::NOT_COUNTED.replace("CLUSTER-IP", ip)
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0))
}

pub fn text(input: &Input) -> Result<String, String> {
    let grouped = group(input)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "iptop {} · {} · kube-proxy Services",
        env!("CARGO_PKG_VERSION"),
        input.source.describe()
    );
    let _ = write!(out, "taken {}", format::timestamp(input.snapshot.taken_at));
    match input.deltas {
        // nftables mode only: nothing is counted, over a window or not
        _ if grouped.iptables.is_none() => {}
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
    if let Some(svcs) = &grouped.iptables {
        out.push('\n');
        iptables_text(&mut out, svcs);
    }
    for (table, svcs) in &grouped.nft {
        out.push('\n');
        nft_text(&mut out, table, svcs);
    }
    Ok(out)
}

/// A table's rows under its titles, padded; columns from `right_from` on to the right.
fn table_text(out: &mut String, titles: &[&str], mut rows: Vec<Vec<String>>, right_from: usize) {
    // names come from comments and chain names: escaped before they are measured
    for v in rows.iter_mut().flatten() {
        crate::sanitize::in_place(v);
    }
    let mut widths: Vec<usize> = titles.iter().map(|t| t.width()).collect();
    for r in &rows {
        for (w, v) in widths.iter_mut().zip(r) {
            *w = (*w).max(v.width());
        }
    }
    let mut line = |vals: &[String]| {
        let mut l = String::new();
        for (i, v) in vals.iter().enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let pad = " ".repeat(widths[i].saturating_sub(v.width()));
            if i >= right_from {
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
    line(&titles.iter().map(ToString::to_string).collect::<Vec<_>>());
    for r in &rows {
        line(r);
    }
}

/// The columns of a Services table before the endpoint's: service, cluster IP, port,
/// node port; then the endpoint and three columns of its numbers.
const HEAD: usize = 4;

/// One Service's rows: `head` on its first endpoint's row (or alone, with `(no
/// endpoints)`), each endpoint's address (else its chain) and its three numbers.
fn service_rows<'a>(
    rows: &mut Vec<Vec<String>>,
    head: [String; HEAD],
    endpoints: impl ExactSizeIterator<Item = (&'a str, &'a str, [String; 3])>,
) {
    let blank = || vec![String::new(); HEAD + 4];
    let mut first = Vec::from(head);
    first.resize(HEAD + 4, String::new());
    if endpoints.len() == 0 {
        first[HEAD] = "(no endpoints)".into();
        rows.push(first);
        return;
    }
    for (i, (address, chain, numbers)) in endpoints.enumerate() {
        let mut row = if i == 0 { first.clone() } else { blank() };
        row[HEAD] = if address.is_empty() { chain } else { address }.to_string();
        row[HEAD + 1..].clone_from_slice(&numbers);
        rows.push(row);
    }
}

/// A Service's head columns: its label (and `mark`), cluster IP, port, node port.
fn head(
    label: String,
    mark: Option<&str>,
    cluster_ip: &Option<String>,
    protocol: &str,
    port: Option<u16>,
    node_port: Option<u16>,
) -> [String; HEAD] {
    [
        match mark {
            Some(m) => format!("{label} ({m})"),
            None => label,
        },
        cluster_ip.clone().unwrap_or_default(),
        port.map(|p| format!("{protocol}/{p}")).unwrap_or_default(),
        node_port.map(|p| p.to_string()).unwrap_or_default(),
    ]
}

/// The line under a Services table: how many Services and endpoints, and `tail`.
fn summary(out: &mut String, services: usize, endpoints: usize, without: usize, tail: &str) {
    let _ = writeln!(
        out,
        "\n{services} Services, {endpoints} endpoints, {without} without endpoints. {tail}"
    );
}

/// kube-proxy's nftables mode: Services, endpoints and their `numgen` shares; no counts.
fn nft_text(out: &mut String, table: &str, svcs: &[NftService]) {
    let _ = writeln!(out, "table {table} (kube-proxy's nftables mode)");
    if svcs.is_empty() {
        out.push_str("no Services in it (no service-ips elements, no service- chains)\n");
        return;
    }
    let titles = [
        "SERVICE",
        "CLUSTER IP",
        "PORT",
        "NODE PORT",
        "ENDPOINT",
        "NUMGEN",
        "SHARE",
        "NEW",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for s in svcs {
        let mark = s.affinity.then_some("affinity");
        let h = head(
            s.label(),
            mark,
            &s.cluster_ip,
            &s.protocol,
            s.port,
            s.node_port,
        );
        let endpoints = s.endpoints.iter().map(|e| {
            let numgen = match s.modulus {
                Some(m) if !e.keys.is_empty() => format!("{} mod {m}", e.keys.join(",")),
                _ => "?".into(),
            };
            let traced = match e.traced {
                Some(n) => format!("traced {n}"),
                None => "not counted".into(),
            };
            let numbers = [numgen, pct(Some(e.share)), traced];
            (e.address.as_str(), e.chain.as_str(), numbers)
        });
        service_rows(&mut rows, h, endpoints);
        for ip in &s.external_ips {
            let mut row = vec![String::new(); HEAD + 4];
            row[1] = format!("{ip} (external)");
            rows.push(row);
        }
    }
    table_text(out, &titles, rows, 5);
    let endpoints: usize = svcs.iter().map(|s| s.endpoints.len()).sum();
    let without = svcs.iter().filter(|s| s.endpoints.is_empty()).count();
    summary(
        out,
        svcs.len(),
        endpoints,
        without,
        "NUMGEN: the values of numgen random mod N that pick the endpoint; SHARE: the share of new connections that gives it.",
    );
    let _ = writeln!(out, "note: {}", not_counted(svcs));
    if svcs
        .iter()
        .flat_map(|s| &s.endpoints)
        .any(|e| e.traced.is_some())
    {
        out.push_str("traced N: the packets --trace saw DNAT'd to the endpoint in the window (those its expression matched, at most --trace-rate a second).\n");
    }
}

/// kube-proxy's iptables mode: the nat table's Services with their new connections.
fn iptables_text(out: &mut String, svcs: &[Service]) {
    if svcs.is_empty() {
        out.push_str("no kube-proxy Services in this nat table (no KUBE-SVC chains)\n");
        return;
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
    let mut rows: Vec<Vec<String>> = Vec::new();
    for s in svcs {
        let mark = s.local.then_some("local");
        let h = head(
            s.label(),
            mark,
            &s.cluster_ip,
            &s.protocol,
            s.port,
            s.node_port,
        );
        let endpoints = s.endpoints.iter().map(|e| {
            let new = e
                .new
                .map_or_else(|| "?".into(), |n| format::count(n).into());
            let numbers = [new, pct(e.share), pct(Some(e.intended))];
            (e.address.as_str(), e.chain.as_str(), numbers)
        });
        service_rows(&mut rows, h, endpoints);
    }
    table_text(out, &titles, rows, 5);
    let endpoints: usize = svcs.iter().map(|s| s.endpoints.len()).sum();
    let without = svcs.iter().filter(|s| s.endpoints.is_empty()).count();
    summary(
        out,
        svcs.len(),
        endpoints,
        without,
        "nat counts the first packet of each connection; INTENDED is what the statistic cascade gives each endpoint.",
    );
}

fn iptables_report(s: &Service) -> ServiceReport {
    ServiceReport {
        name: s.name.clone(),
        label: s.label(),
        chain: s.chain.clone(),
        cluster_ip: s.cluster_ip.clone(),
        protocol: s.protocol.clone(),
        port: s.port,
        node_port: s.node_port,
        local: s.local,
        new_connections: s.new_connections(),
        endpoints: s.endpoints.clone(),
        mode: "iptables",
        table: None,
        external_ips: Vec::new(),
        affinity: false,
    }
}

/// A Service of nftables mode: its counts null (its rules have no counter).
fn nft_report(table: &str, s: &NftService) -> ServiceReport {
    ServiceReport {
        name: s.name.clone(),
        label: s.label(),
        chain: s.chain.clone(),
        cluster_ip: s.cluster_ip.clone(),
        protocol: s.protocol.clone(),
        port: s.port,
        node_port: s.node_port,
        local: false,
        new_connections: None,
        endpoints: s
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| Endpoint {
                address: e.address.clone(),
                chain: e.chain.clone(),
                rule: i as u32 + 1,
                probability: None,
                intended: e.share,
                new: None,
                share: None,
                numgen: e.keys.clone(),
                traced_packets: e.traced,
            })
            .collect(),
        mode: "nftables",
        table: Some(table.to_string()),
        external_ips: s.external_ips.clone(),
        affinity: s.affinity,
    }
}

pub fn json(input: &Input) -> Result<String, String> {
    let grouped = group(input)?;
    let base = super::build_header(&crate::derive::header(input));
    let mut services: Vec<ServiceReport> = grouped
        .iptables
        .iter()
        .flatten()
        .map(iptables_report)
        .collect();
    let mut notes = Vec::new();
    for (table, svcs) in &grouped.nft {
        services.extend(svcs.iter().map(|s| nft_report(table, s)));
        notes.push(format!("table {table}: {}", not_counted(svcs)));
    }
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
        services,
        notes,
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
