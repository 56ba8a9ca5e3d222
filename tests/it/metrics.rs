//! `--listen` on the lab's real iptables: `/metrics` parses as the Prometheus text
//! format, DOCKER-INGRESS's `dpt:80` series grows with real requests, and a scrape
//! never runs iptables (a wrapper logs every run of it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Lab, iptop};

/// iptop --listen on a free port; killed when dropped.
struct Listener {
    child: Child,
    addr: String,
}

impl Listener {
    fn start(args: &[&str]) -> Listener {
        let mut child = iptop()
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("iptop");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        err.read_line(&mut line).expect("stderr line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        // keep reading stderr so iptop never blocks on it
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        Listener { child, addr }
    }

    /// GET path: status line and body.
    fn get(&self, path: &str) -> (String, String) {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .expect("request");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("response");
        let (head, body) = resp.split_once("\r\n\r\n").expect("a response");
        (head.to_string(), body.to_string())
    }

    fn metrics(&self) -> String {
        let (head, body) = self.get("/metrics");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "{head}"
        );
        body
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses the exposition with prometheus-parse, and checks every line strictly: HELP
/// and TYPE lines, then samples `name{label="value",...} number`.
fn parse(text: &str) -> prometheus_parse::Scrape {
    let sample = regex::Regex::new(
        r#"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (-?[0-9.]+(e[+-]?[0-9]+)?|NaN|[+-]Inf)$"#,
    )
    .expect("re");
    let mut typed = std::collections::HashSet::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let name = it.next().expect("name");
            assert!(
                matches!(it.next(), Some("counter" | "gauge")),
                "type of {l}"
            );
            assert!(typed.insert(name.to_string()), "TYPE twice: {l}");
        } else if !l.starts_with("# HELP ") {
            assert!(sample.is_match(l), "not a sample line: {l:?}");
            let name = l.split(['{', ' ']).next().expect("name");
            assert!(typed.contains(name), "{name} before its TYPE");
        }
    }
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses")
}

fn value(s: &prometheus_parse::Scrape, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && want.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .and_then(|x| match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        })
}

const DPT80: [(&str, &str); 4] = [
    ("table", "filter"),
    ("chain", "DOCKER-INGRESS"),
    ("target", "ACCEPT"),
    ("match", "tcp dpt:80"),
];

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn metrics_parse_and_dpt80_grows_with_requests() {
    let lab = Lab::up("iptables-restore");
    let host = lab.host();
    let l = Listener::start(&["--netns", &host, "--interval", "300ms"]);
    let end = Instant::now() + Duration::from_secs(10);
    let (before, first) = loop {
        let text = l.metrics();
        let s = parse(&text);
        if let Some(v) = value(&s, "iptop_rule_packets_total", &DPT80) {
            break (v, text);
        }
        assert!(Instant::now() < end, "no dpt:80 series:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let s = parse(&first);
    // the labels the issue asks for, on each rule series
    let rule = s
        .samples
        .iter()
        .find(|x| x.metric == "iptop_rule_packets_total")
        .expect("a rule series");
    for k in ["table", "chain", "rule", "target", "comment", "backend"] {
        assert!(rule.labels.get(k).is_some(), "no {k} label: {rule:?}");
    }
    assert!(
        value(
            &s,
            "iptop_chain_policy_packets_total",
            &[("chain", "FORWARD"), ("policy", "DROP")]
        )
        .is_some(),
        "{first}"
    );
    assert!(value(&s, "iptop_polls_total", &[]).is_some_and(|n| n >= 1.0));
    assert!(value(&s, "iptop_poll_duration_seconds", &[]).is_some_and(|d| d > 0.0 && d < 5.0));
    assert_eq!(value(&s, "iptop_last_poll_success", &[]), Some(1.0));

    lab.curl(5);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let text = l.metrics();
        let now = value(&parse(&text), "iptop_rule_packets_total", &DPT80).expect("dpt:80");
        if now >= before + 5.0 {
            break;
        }
        assert!(Instant::now() < end, "dpt:80 went {before} -> {now}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (head, _) = l.get("/nothing");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn a_scrape_never_runs_iptables() {
    let lab = Lab::up("iptables-restore");
    let host = lab.host();
    // a wrapper that logs each run and hands over to the real iptables
    let dir = tempfile::tempdir().expect("tmp");
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v iptables"])
            .output()
            .expect("sh")
            .stdout,
    )
    .expect("utf-8");
    let log = dir.path().join("runs.log");
    let wrapper = dir.path().join("iptables");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\nexec {} \"$@\"\n",
            log.display(),
            real.trim()
        ),
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let wrapper = wrapper.display().to_string();
    let l = Listener::start(&["--netns", &host, "--interval", "1h", "--iptables", &wrapper]);
    let end = Instant::now() + Duration::from_secs(10);
    let first = loop {
        let text = l.metrics();
        if value(&parse(&text), "iptop_polls_total", &[]) == Some(1.0)
            && text.contains("DOCKER-INGRESS")
        {
            break text;
        }
        assert!(Instant::now() < end, "no first poll:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let runs = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let before = runs();
    assert!(before >= 1, "the wrapper logged no run");
    lab.curl(2);
    for _ in 0..50 {
        let text = l.metrics();
        // the same poll: what changed since is not seen until the next one
        assert_eq!(text, first);
    }
    assert_eq!(runs(), before, "a scrape ran iptables");
}

/// The Grafana dashboard asks only for series and labels that iptop serves.
#[test]
fn the_dashboard_queries_what_iptop_serves() {
    use std::sync::{Arc, RwLock};
    let listing = std::fs::read_to_string(
        crate::common::root().join("tests/fixtures/iptables/docker-swarm.nft.filter-vnxL.txt"),
    )
    .expect("fixture");
    let table = iptop::parse::parse_table("filter", &listing, None).expect("parse");
    let snap = iptop::model::Snapshot {
        taken_at: std::time::SystemTime::now(),
        at: Duration::ZERO,
        took: Duration::from_millis(2),
        tables: vec![table],
        warnings: Vec::new(),
        seq: 1,
    };
    let state = Arc::new(RwLock::new(iptop::metrics::State::default()));
    state
        .write()
        .expect("lock")
        .polled(snap, Duration::from_millis(2));
    state
        .write()
        .expect("lock")
        .failed(&iptop::source::PollError::Timeout {
            table: "filter".into(),
            after: Duration::from_secs(5),
        });
    let mut reg = prometheus_client::registry::Registry::default();
    reg.register_collector(Box::new(iptop::metrics::Metrics(state)));
    let scrape = parse(&iptop::metrics::render(&reg));
    let names: std::collections::HashSet<&str> =
        scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    let mut labels: std::collections::HashSet<String> = scrape
        .samples
        .iter()
        .flat_map(|s| s.labels.keys().cloned().collect::<Vec<_>>())
        .collect();
    labels.insert("instance".into()); // added by Prometheus
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::common::root().join("assets/grafana-iptop.json"))
            .expect("read"),
    )
    .expect("dashboard is JSON");
    let metric = regex::Regex::new(r"iptop_[a-z_]+").expect("re");
    let by = regex::Regex::new(r"by \(([^)]*)\)").expect("re");
    let legend = regex::Regex::new(r"\{\{(\w+)\}\}").expect("re");
    let mut exprs = 0;
    for p in dash["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().expect("targets") {
            let e = t["expr"].as_str().expect("expr");
            exprs += 1;
            for m in metric.find_iter(e) {
                assert!(
                    names.contains(m.as_str()),
                    "{} is not served: {e}",
                    m.as_str()
                );
            }
            for c in by.captures_iter(e) {
                for l in c[1].split(',') {
                    assert!(labels.contains(l.trim()), "label {l} in {e}");
                }
            }
            for c in legend.captures_iter(t["legendFormat"].as_str().unwrap_or("")) {
                assert!(labels.contains(&c[1]), "legend label {}", &c[1]);
            }
        }
    }
    assert!(exprs >= 5);
}
