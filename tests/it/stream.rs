//! `--stream` on the lab's real iptables: NDJSON, one version-1 document per poll,
//! flushed line by line, ended by `--count N` or by SIGINT.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{Lab, iptop, root, run_ok};
use serde_json::Value;

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("assets/iptop-v1.schema.json")).expect("schema");
    jsonschema::validator_for(&serde_json::from_str(&text).expect("JSON")).expect("schema")
}

fn dpt80_delta(doc: &Value) -> Option<u64> {
    doc["tables"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == "filter")?["chains"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == "DOCKER-INGRESS")?["rules"]
        .as_array()?
        .iter()
        .find(|r| r["extra"] == "tcp dpt:80")?["delta_packets"]
        .as_u64()
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn three_lines_each_a_version_1_document() {
    let v = validator();
    let lab = Lab::up("iptables-restore");
    let host = lab.host();
    let out = run_ok(iptop().args([
        "--netns",
        &host,
        "--stream",
        "--count",
        "3",
        "--interval",
        "300ms",
        "--format",
        "json",
    ]));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let mut times = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let doc: Value = serde_json::from_str(l).expect("each line is JSON");
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "line {i}: {errors:?}");
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["source"]["kind"], "live");
        // the first has no window; the others the deltas since the poll before
        assert_eq!(doc["window_ms"].is_null(), i == 0, "{l}");
        times.push(doc["taken_at"].as_str().expect("taken_at").to_string());
    }
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn lines_are_flushed_as_polled_and_sigint_ends_it() {
    let lab = Lab::up("iptables-restore");
    let host = lab.host();
    let mut child = iptop()
        .args(["--netns", &host, "--stream", "--interval", "500ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("iptop");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let started = Instant::now();
    let first = lines.next().expect("a line").expect("read");
    serde_json::from_str::<Value>(&first).expect("JSON");
    // requests between polls show as deltas of the next documents
    lab.curl(5);
    let mut moved = 0;
    let end = Instant::now() + Duration::from_secs(10);
    while moved < 5 && Instant::now() < end {
        let l = lines.next().expect("a line").expect("read");
        let doc: Value = serde_json::from_str(&l).expect("JSON");
        moved += dpt80_delta(&doc).unwrap_or(0);
    }
    assert!(moved >= 5, "dpt:80 moved {moved}");
    assert!(started.elapsed() < Duration::from_secs(10));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("kill");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
}

#[test]
fn a_replay_streams_each_poll_and_head_ends_it_quietly() {
    let out = run_ok(iptop().args(["--demo", "--stream"]));
    let n = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(n > 30, "{n} polls in the demo");
    let out = run_ok(iptop().args(["--demo", "--stream", "--count", "2", "--moved-only"]));
    let text = String::from_utf8_lossy(&out.stdout);
    let second: Value = serde_json::from_str(text.lines().nth(1).expect("2 lines")).expect("JSON");
    assert_eq!(second["moved_only"], true);
    let mut listed = 0;
    for c in second["tables"][0]["chains"].as_array().expect("chains") {
        for r in c["rules"].as_array().expect("rules") {
            listed += 1;
            assert!(
                r["delta_packets"].as_u64().unwrap_or(0) + r["delta_bytes"].as_u64().unwrap_or(0)
                    > 0
            );
        }
    }
    assert!(listed > 0, "the demo's traffic moved no rule");
    // a reader that stops early
    let sh = format!("{} --demo --stream | head -1", env!("CARGO_BIN_EXE_iptop"));
    let out = run_ok(std::process::Command::new("bash").args(["-o", "pipefail", "-c", &sh]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
