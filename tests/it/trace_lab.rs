//! `--trace EXPR` on the real labs: the traced packets' paths through iptables-nft's
//! and native nftables tables, the trace table's life (only while iptop runs, gone
//! after SIGKILL), the bytecode iptop writes read back by nft, and the refusals.

use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::common::{Lab, iptop};

/// The host's rule set as `nft -s list ruleset` and `iptables-save` print it.
fn ruleset(lab: &Lab) -> String {
    let nft = lab.host_cmd(&["nft", "-s", "list", "ruleset"]);
    let ipt = lab.host_cmd(&["iptables-save"]);
    let ipt: String = String::from_utf8_lossy(&ipt.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        // a chain's policy counters move with the traffic: not the rule set
        .map(|l| match l.split_once(" [") {
            Some((chain, _)) if l.starts_with(':') => format!("{chain}\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    format!("{}{ipt}", String::from_utf8_lossy(&nft.stdout))
}

/// A `--once --window` run's `trace` object.
fn traced(lab: &Lab, expr: &str, window: &str, traffic: impl FnOnce()) -> Value {
    let out = lab.once_during(
        &[
            "--once", "--window", window, "--format", "json", "--trace", expr,
        ],
        traffic,
    );
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    crate::schema::check(&crate::schema::validator(), &doc, "--once --trace");
    doc["trace"].clone()
}

fn steps(p: &Value) -> Vec<(String, String, String)> {
    p["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["table"].as_str().unwrap_or_default().to_string(),
                s["chain"].as_str().unwrap_or_default().to_string(),
                s["verdict"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn packets(t: &Value) -> &Vec<Value> {
    t["packets"].as_array().expect("packets")
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn the_swarm_lab_published_port_blocked_and_cross_bridge() {
    let lab = Lab::up("iptables-nft-restore");
    let before = ruleset(&lab);
    let t = traced(&lab, "tcp dport 80", "5s", || {
        for _ in 0..5 {
            lab.curl(1);
            thread::sleep(Duration::from_millis(300));
        }
    });
    assert_eq!(t["expr"], "tcp dport 80");
    assert_eq!(t["rate"], 10);
    let dnat: Vec<&Value> = packets(&t)
        .iter()
        .filter(|p| {
            let s = p["steps"].as_array().unwrap();
            s.iter()
                .any(|s| s["table"] == "nat" && s["chain"] == "DOCKER-INGRESS" && s["dnat"] == true)
                && s.iter().any(|s| {
                    s["table"] == "filter"
                        && s["chain"] == "DOCKER-INGRESS"
                        && s["verdict"] == "accept"
                })
        })
        .collect();
    assert!(dnat.len() >= 5, "{t:#}");
    let p = dnat[0];
    assert_eq!(p["verdict"], "accept");
    assert_eq!(p["where"], "accept by filter DOCKER-INGRESS rule 1");
    assert!(
        p["summary"]
            .as_str()
            .unwrap()
            .starts_with("tcp 192.168.61.100:"),
        "{p:#}"
    );
    assert!(p["summary"].as_str().unwrap().contains("→ 192.168.61.6:80"));
    let nat = p["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["chain"] == "DOCKER-INGRESS" && s["table"] == "nat")
        .unwrap();
    assert_eq!(nat["rule"], 1);
    assert!(nat["handle"].as_u64().is_some());
    assert_eq!(t["seen"].as_u64().unwrap() as usize, packets(&t).len());

    // port 81: the docker0 container's, which nothing publishes; and a cross-bridge attempt
    let t = traced(&lab, "tcp dport 81", "4s", || {
        lab.blocked(3);
        lab.cross(1);
    });
    let blocked: Vec<&Value> = packets(&t)
        .iter()
        .filter(|p| p["summary"].as_str().unwrap().contains("→ 172.17.0.2:81"))
        .collect();
    assert!(blocked.len() >= 3, "{t:#}");
    for p in &blocked {
        let last = steps(p).last().cloned().unwrap();
        assert_eq!(
            last,
            ("filter".into(), "FORWARD".into(), "drop".into()),
            "{p:#}"
        );
        assert_eq!(p["where"], "drop by filter FORWARD policy");
        assert_eq!(
            p["steps"].as_array().unwrap().last().unwrap()["rule"],
            Value::Null
        );
    }
    let cross = packets(&t)
        .iter()
        .find(|p| p["summary"].as_str().unwrap().contains("→ 172.18.0.2:81"))
        .unwrap_or_else(|| panic!("no cross-bridge packet: {t:#}"));
    assert_eq!(
        steps(cross).last().cloned().unwrap(),
        (
            "filter".into(),
            "DOCKER-ISOLATION-STAGE-2".into(),
            "drop".into()
        ),
        "{cross:#}"
    );
    assert_eq!(
        cross["where"],
        "drop by filter DOCKER-ISOLATION-STAGE-2 rule 1"
    );
    // nothing of the trace is left
    assert_eq!(ruleset(&lab), before);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn the_native_docker29_lab_through_the_verdict_map() {
    let lab = Lab::up_nft();
    let t = traced(&lab, "tcp dport 8080", "4s", || {
        for _ in 0..3 {
            lab.curl(1);
            thread::sleep(Duration::from_millis(300));
        }
    });
    let walked = packets(&t).iter().find(|p| {
        let s = steps(p);
        let has = |chain: &str, verdict: &str| {
            s.iter()
                .any(|(tb, c, v)| tb == "docker-bridges" && c == chain && v == verdict)
        };
        has("nat-PREROUTING", "jump")
            && s.iter().any(|(_, c, _)| c == "nat-prerouting-and-output")
            && has("filter-FORWARD", "jump")
            && s.iter().any(|(_, c, _)| c == "filter-forward-in__bridge1")
    });
    let p = walked.unwrap_or_else(|| panic!("no packet walked the verdict map: {t:#}"));
    let st = p["steps"].as_array().unwrap();
    let jump = st
        .iter()
        .find(|s| s["chain"] == "filter-FORWARD" && s["verdict"] == "jump")
        .unwrap();
    assert_eq!(jump["target"], "filter-forward-in__bridge1");
    assert_eq!(jump["family"], "ip");
    let dnat = st
        .iter()
        .find(|s| s["chain"] == "nat-prerouting-and-output")
        .unwrap();
    assert_eq!(dnat["dnat"], true, "{p:#}");
    assert_eq!(p["verdict"], "accept");
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn the_trace_table_lives_only_while_iptop_runs() {
    let lab = Lab::up("iptables-nft-restore");
    let before = ruleset(&lab);
    // a run without --trace writes nothing
    lab.once_during(&["--once", "--window", "1s", "--format", "json"], || {
        lab.curl(2);
    });
    assert_eq!(ruleset(&lab), before);
    // a live --stream trace, killed with SIGKILL
    let expr = r#"ip saddr 192.168.61.0/24 tcp dport 80-90 iifname "eth*""#;
    let child = iptop()
        .args([
            "--netns",
            &lab.host(),
            "--stream",
            "-t",
            "filter",
            "--trace",
            expr,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("iptop");
    let mut during = String::new();
    for _ in 0..50 {
        thread::sleep(Duration::from_millis(100));
        during = ruleset(&lab);
        if during != before {
            break;
        }
    }
    // the only difference: the table inet iptop-trace
    let at = during
        .find("table inet iptop-trace {")
        .unwrap_or_else(|| panic!("no trace table:\n{during}"));
    let len = during[at..].find("\n}\n").expect("the table's end") + 3;
    let extra = during[at..at + len].to_string();
    assert_eq!(
        format!("{}{}", &during[..at], &during[at + len..]),
        before,
        "more than the trace table changed"
    );
    assert!(extra.contains("chain prerouting"), "{extra}");
    assert!(extra.contains("chain output"), "{extra}");
    assert!(extra.contains("limit rate 10/second"), "{extra}");
    assert!(extra.contains("meta nftrace set 1"), "{extra}");
    // what iptop encoded reads back as the bytecode nft compiled
    let listed = lab.host_cmd(&[
        "nft",
        "--debug=netlink",
        "list",
        "table",
        "inet",
        "iptop-trace",
    ]);
    let compiled = lab.host_cmd(&[
        "nft",
        "--debug=netlink",
        "-c",
        "add table inet t; add chain inet t c { type filter hook prerouting priority -350; policy accept; }; add rule inet t c",
        expr,
        "limit rate 10/second meta nftrace set 1",
    ]);
    let code = |o: &std::process::Output| -> Vec<String> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.trim_start().starts_with("[ "))
            .map(|l| l.trim().to_string())
            .collect()
    };
    let (listed, compiled) = (code(&listed), code(&compiled));
    assert!(compiled.len() > 6, "{compiled:?}");
    // two chains, one rule each: the same bytecode twice
    assert_eq!(listed, [compiled.clone(), compiled].concat());
    // traffic is traced while it runs
    lab.curl(1);
    thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(r#""type":"trace""#))
        .unwrap_or_else(|| panic!("no trace line in {text}"));
    let v: Value = serde_json::from_str(line).expect("NDJSON");
    crate::schema::check(&crate::schema::validator(), &v, "a --stream trace line");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .starts_with("tcp 192.168.61.100:")
    );
    // the kernel removed the table with iptop's socket
    let mut after = String::new();
    for _ in 0..50 {
        after = ruleset(&lab);
        if after == before {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(after, before);
}

#[test]
fn refusals_exit_2() {
    // the legacy back end: refused before anything runs
    let out = iptop()
        .args([
            "--backend",
            "legacy",
            "--trace",
            "tcp dport 80",
            "--once",
            "--window",
            "1s",
        ])
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("iptables-legacy"));
    // --once without a window
    let out = iptop()
        .args(["--trace", "tcp dport 80", "--once"])
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--window"));
    // not with a replay
    let out = iptop()
        .args(["--demo", "--trace", "tcp dport 80"])
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn a_bad_expression_is_nfts_error_and_exit_2() {
    let lab = Lab::up("iptables-nft-restore");
    let before = ruleset(&lab);
    for (expr, says) in [
        ("tcp dprt 80", "nft refused the --trace expression"),
        ("tcp dport { 80, 443 }", "anonymous sets"),
        ("ct state new", "conntrack (ct)"),
        ("tcp dport 80; flush ruleset", "not allowed"),
        ("tcp dport 80 \u{1b}[2J", "not allowed"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_iptop"))
            .args([
                "--netns",
                &lab.host(),
                "--once",
                "--window",
                "1s",
                "--trace",
                expr,
            ])
            .output()
            .expect("iptop");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{expr}: {err}");
        assert!(err.contains(says), "{expr}: {err}");
        assert!(!err.contains('\u{1b}'), "{err:?}");
    }
    assert_eq!(ruleset(&lab), before);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn the_live_views_trace_pane_lists_the_requests_and_shows_a_path() {
    let lab = Lab::up("iptables-nft-restore");
    let cmd = format!(
        "{} --netns {} --trace 'tcp dport 80'",
        env!("CARGO_BIN_EXE_iptop"),
        lab.host()
    );
    let tmux = crate::common::Tmux::start(&cmd, 160, 40);
    tmux.wait_for(10, "the first poll", |s| s.contains("DOCKER-INGRESS"));
    // iptop's own table is not a tab of the firewall's
    let s = tmux.wait_for(5, "the tabs", |s| s.contains("1 filter"));
    assert!(!s.contains("iptop-trace"), "{s}");
    lab.curl(2);
    tmux.keys(&["T"]);
    let s = tmux.wait_for(10, "the traced requests", |s| {
        s.contains("[syn]  → accept by filter DOCKER-INGRESS rule 1")
    });
    assert!(s.contains("trace tcp dport 80:"), "{s}");
    assert!(s.contains("tcp 192.168.61.100:"), "{s}");
    // the first SYN listed (a connection's later packets skip nat): from the top, down
    // as many rows as there are packets above it
    let listed: Vec<&str> = s
        .lines()
        .filter(|l| l.contains("tcp 192.168.61.100:"))
        .collect();
    let syn = listed
        .iter()
        .position(|l| l.contains("[syn]"))
        .unwrap_or_else(|| panic!("no SYN listed:\n{s}"));
    let mut keys = vec!["g"];
    keys.extend(std::iter::repeat_n("Down", syn));
    keys.push("Enter");
    tmux.keys(&keys);
    let s = tmux.wait_for(5, "a packet's path", |s| {
        s.contains("nat DOCKER-INGRESS rule 1") && s.contains("DNAT, accept")
    });
    assert!(s.contains("filter DOCKER-INGRESS rule 1"), "{s}");
    tmux.keys(&["q"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn t_starts_and_stops_a_trace_from_the_live_view_and_marks_the_path() {
    let lab = Lab::up("iptables-nft-restore");
    let before = ruleset(&lab);
    let tables =
        || String::from_utf8_lossy(&lab.host_cmd(&["nft", "list", "tables"]).stdout).into_owned();
    let cmd = format!("{} --netns {}", env!("CARGO_BIN_EXE_iptop"), lab.host());
    let tmux = crate::common::Tmux::start(&cmd, 160, 40);
    tmux.wait_for(10, "the first poll", |s| s.contains("DOCKER-INGRESS"));
    // without --trace nothing is added
    assert!(!tables().contains("iptop-trace"));
    tmux.keys(&["t"]);
    tmux.wait_for(5, "the prompt", |s| s.contains("Enter start (empty: stop)"));
    tmux.keys(&["tcp dport 80", "Enter"]);
    tmux.wait_for(10, "the trace started", |s| {
        s.contains("tracing tcp dport 80")
    });
    assert!(tables().contains("table inet iptop-trace"), "{}", tables());
    lab.curl(2);
    tmux.keys(&["T"]);
    let s = tmux.wait_for(10, "the traced requests", |s| {
        s.contains("[syn]  → accept by filter DOCKER-INGRESS rule 1")
    });
    assert!(s.contains("trace tcp dport 80:"), "{s}");
    assert!(s.contains("tcp 192.168.61.100:"), "{s}");
    // the pane's hints list t
    assert!(s.contains("t trace expr"), "{s}");
    // back to the tree, table nat: the DNAT row of the last path is marked
    tmux.keys(&["T", "2"]);
    let s = tmux.wait_for(10, "the marked DNAT row", |s| {
        s.lines().any(|l| l.contains("◆ DNAT"))
    });
    assert!(s.contains("DOCKER-INGRESS"), "{s}");
    // t, the line cleared, Enter: the trace stops and its table is gone
    tmux.keys(&["t"]);
    tmux.wait_for(5, "the prompt prefilled", |s| {
        s.contains("trace tcp dport 80█")
    });
    let back = vec!["BSpace"; "tcp dport 80".len()];
    tmux.keys(&back);
    tmux.keys(&["Enter"]);
    tmux.wait_for(10, "the trace stopped", |s| s.contains("trace stopped"));
    let mut gone = false;
    for _ in 0..50 {
        if !tables().contains("iptop-trace") {
            gone = true;
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(gone, "{}", tables());
    assert_eq!(ruleset(&lab), before);
    tmux.keys(&["q"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn an_auto_detected_legacy_back_end_is_refused_by_stream() {
    let lab = Lab::up("iptables-legacy-restore");
    let before = ruleset(&lab);
    let out = iptop()
        .args([
            "--netns",
            &lab.host(),
            "--stream",
            "-t",
            "filter",
            "--trace",
            "tcp dport 80",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("iptables-legacy"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(r#""type":"trace""#));
    assert_eq!(ruleset(&lab), before);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn the_live_view_refuses_a_trace_where_iptables_legacy_holds_the_rules() {
    let lab = Lab::up("iptables-legacy-restore");
    let before = ruleset(&lab);
    let tables =
        || String::from_utf8_lossy(&lab.host_cmd(&["nft", "list", "tables"]).stdout).into_owned();
    // --trace given: refused before the screen is taken
    let cmd = format!(
        "{} --netns {} --trace 'tcp dport 80'; echo exit=$?; sleep 30",
        env!("CARGO_BIN_EXE_iptop"),
        lab.host()
    );
    let tmux = crate::common::Tmux::start(&cmd, 160, 40);
    let s = tmux.wait_for(10, "the refusal", |s| s.contains("exit="));
    assert!(s.contains("iptables-legacy"), "{s}");
    assert!(s.contains("exit=2"), "{s}");
    drop(tmux);
    // `t` in the live view: the status line says why, nothing is added
    let cmd = format!("{} --netns {}", env!("CARGO_BIN_EXE_iptop"), lab.host());
    let tmux = crate::common::Tmux::start(&cmd, 160, 40);
    tmux.wait_for(10, "the first poll", |s| s.contains("DOCKER-INGRESS"));
    tmux.keys(&["t"]);
    tmux.wait_for(5, "the prompt", |s| s.contains("Enter start (empty: stop)"));
    tmux.keys(&["tcp dport 80", "Enter"]);
    let s = tmux.wait_for(10, "the refusal", |s| s.contains("iptables-legacy"));
    assert!(s.contains("a trace uses nf_tables tracing"), "{s}");
    thread::sleep(Duration::from_millis(500));
    assert!(!tables().contains("iptop-trace"), "{}", tables());
    assert_eq!(ruleset(&lab), before);
    tmux.keys(&["q"]);
}
