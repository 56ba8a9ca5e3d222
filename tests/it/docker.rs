//! Names from a real Docker Engine: Debian's docker.io started by tests/lab/docker-lab.sh
//! inside a network namespace, with a container publishing a port on the default bridge
//! and one on a user network (a br-<id> bridge). iptop asks it over its socket.
//!
//! Skipped only when docker.io cannot be installed; everything after that must work.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Tmux, iptop, require_root, root, run_ok};
use serde_json::Value;

struct DockerLab {
    prefix: String,
}

impl DockerLab {
    fn script(&self, verb: &str) -> std::process::Output {
        Command::new("bash")
            .arg(root().join("tests/lab/docker-lab.sh"))
            .arg(verb)
            .env("LAB_PREFIX", &self.prefix)
            .output()
            .expect("docker-lab.sh")
    }

    fn sock(&self) -> String {
        format!("unix:///tmp/{}docker/docker.sock", self.prefix)
    }

    fn host(&self) -> String {
        format!("{}host", self.prefix)
    }

    fn web(&self) -> String {
        format!("{}web", self.prefix)
    }
}

impl Drop for DockerLab {
    fn drop(&mut self) {
        self.script("down");
    }
}

/// docker.io and busybox-static, installed if they can be: false only when they cannot.
fn docker_installed() -> bool {
    let have = || {
        Command::new("sh")
            .args(["-c", "command -v dockerd && command -v busybox"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if have() {
        return true;
    }
    let install = "export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq docker.io busybox-static >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq docker.io busybox-static >/dev/null 2>&1; }";
    let _ = Command::new("sh").args(["-c", install]).status();
    have()
}

fn json(args: &[&str]) -> Value {
    let out = run_ok(iptop().args(args));
    serde_json::from_slice(&out.stdout).expect("json")
}

fn rules_of<'a>(v: &'a Value, table: &str) -> Vec<(&'a str, &'a Value)> {
    let mut out = Vec::new();
    for t in v["tables"].as_array().unwrap() {
        if t["name"] != table {
            continue;
        }
        for c in t["chains"].as_array().unwrap() {
            for r in c["rules"].as_array().unwrap() {
                out.push((c["name"].as_str().unwrap(), r));
            }
        }
    }
    out
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn names_namespaces_and_notes_from_a_real_docker_engine() {
    require_root();
    if !docker_installed() {
        eprintln!("skipped: docker.io cannot be installed here");
        return;
    }
    let lab = DockerLab {
        prefix: format!("ipd{}-", std::process::id()),
    };
    let up = lab.script("up");
    assert!(
        up.status.success(),
        "docker-lab.sh up: {}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    let (host, sock, web) = (lab.host(), lab.sock(), lab.web());
    let net = format!("{}net", lab.prefix);

    // JSON: names per rule, and a note on every Docker chain
    let v = json(&[
        "--netns",
        &host,
        "--docker-host",
        &sock,
        "--once",
        "-t",
        "filter",
        "-t",
        "nat",
        "--format",
        "json",
    ]);
    let filter = rules_of(&v, "filter");
    let to_web = filter
        .iter()
        .find(|(c, r)| *c == "DOCKER" && r["destination"] == "172.17.0.2")
        .unwrap_or_else(|| panic!("no DOCKER rule to 172.17.0.2 in {v}"));
    assert_eq!(
        to_web.1["names"]["destination"],
        web.as_str(),
        "{}",
        to_web.1
    );
    let bridge = filter
        .iter()
        .find_map(|(_, r)| {
            r["out"]
                .as_str()
                .filter(|o| o.starts_with("br-"))
                .map(|o| (o.to_string(), r))
        })
        .unwrap_or_else(|| panic!("no rule on a br- bridge in {v}"));
    assert_eq!(bridge.1["names"]["out"], net.as_str(), "{}", bridge.1);
    let dnat = rules_of(&v, "nat")
        .into_iter()
        .find(|(_, r)| r["target"] == "DNAT")
        .expect("the published port's DNAT");
    assert_eq!(dnat.1["names"]["dnat"], web.as_str(), "{}", dnat.1);
    for t in v["tables"].as_array().unwrap() {
        for c in t["chains"].as_array().unwrap() {
            if c["name"].as_str().unwrap().starts_with("DOCKER") {
                assert!(c["about"]["text"].is_string(), "{c}");
            }
        }
    }

    // text: the names next to the address and the bridge
    let out = run_ok(iptop().args([
        "--netns",
        &host,
        "--docker-host",
        &sock,
        "--once",
        "-t",
        "filter",
        "-t",
        "nat",
    ]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("172.17.0.2 ({web})")), "{text}");
    assert!(text.contains(&format!("{} ({net})", bridge.0)), "{text}");
    assert!(
        text.contains(&format!("to:172.17.0.2:80 ({web})")),
        "{text}"
    );

    // without a named Docker host, another namespace gets no names from the default one
    let out = run_ok(iptop().args(["--netns", &host, "--once"]));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&web));

    // the live view shows the container's name for its address
    let cmd = format!(
        "{} --netns {host} --docker-host {sock}",
        env!("CARGO_BIN_EXE_iptop")
    );
    let tmux = Tmux::start(&cmd, 160, 40);
    tmux.keys(&["e"]);
    tmux.wait_for(10, "the container's name in the tree", |s| s.contains(&web));
    tmux.keys(&["q"]);

    // --list-netns: the lab's namespace and the containers
    let out = run_ok(iptop().args(["--list-netns", "--docker-host", &sock]));
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(
        list.lines()
            .any(|l| l.starts_with(&format!("{web} ")) && l.ends_with(&format!("container:{web}"))),
        "{list}"
    );
    assert!(
        list.lines().any(|l| l.starts_with(&format!("{host} "))),
        "{list}"
    );
    let v = json(&["--list-netns", "--docker-host", &sock, "--format", "json"]);
    let entry = v
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == web.as_str())
        .expect("the web container");
    assert!(
        entry["what"].as_str().unwrap().contains("bridge"),
        "{entry}"
    );
    assert!(std::path::Path::new(entry["path"].as_str().unwrap()).exists());

    // --netns container:NAME lists inside the container: its tables are empty
    let v = json(&[
        "--netns",
        &format!("container:{web}"),
        "--docker-host",
        &sock,
        "--once",
        "--format",
        "json",
    ]);
    assert_eq!(v["source"]["netns"], format!("container:{web}"));
    let chains = v["tables"][0]["chains"].as_array().unwrap();
    let names: Vec<&str> = chains.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["INPUT", "FORWARD", "OUTPUT"], "{v}");
    assert!(
        chains
            .iter()
            .all(|c| c["rules"].as_array().unwrap().is_empty())
    );
    let out = iptop()
        .args([
            "--netns",
            "container:nothing-here",
            "--docker-host",
            &sock,
            "--once",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no container nothing-here") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn without_docker_nothing_changes_and_nothing_waits() {
    let fx = root().join("tests/fixtures/iptables/docker-swarm.nft.filter-vnxL-lines.txt");
    let plain = run_ok(
        iptop()
            .arg("--replay")
            .arg(&fx)
            .args(["--once", "--format", "json"]),
    );
    // a socket named but missing: a warning, the same output, at once
    let t = Instant::now();
    let named = run_ok(iptop().arg("--replay").arg(&fx).args([
        "--once",
        "--format",
        "json",
        "--docker-host",
        "/nonexistent/docker.sock",
    ]));
    assert!(t.elapsed() < Duration::from_secs(5));
    let strip = |o: &std::process::Output| {
        let mut v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["taken_at"] = Value::Null;
        v
    };
    assert_eq!(strip(&plain), strip(&named));
    let err = String::from_utf8_lossy(&named.stderr);
    assert!(
        err.contains("no Docker socket at /nonexistent/docker.sock"),
        "{err}"
    );
    assert!(plain.stderr.is_empty());
    // a remote Docker is not asked, and says why
    let out = run_ok(iptop().arg("--replay").arg(&fx).args([
        "--once",
        "--docker-host",
        "tcp://10.0.0.1:2375",
    ]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unix socket"));
    // a socket that accepts and never answers costs one short timeout
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("silent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let t = Instant::now();
    let out = run_ok(
        iptop()
            .arg("--replay")
            .arg(&fx)
            .args(["--once", "--docker-host"])
            .arg(&sock),
    );
    let took = t.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not answer"));
}
