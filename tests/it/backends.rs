//! Back ends, pasted listings and recordings on the real lab: iptop never creates a legacy
//! table, `--backend auto` shows the back end that holds the rules (both when both do), a
//! pasted listing knows its table, a recording holds every table polled, and errors that
//! every poll would repeat end the live view before it takes the screen.

use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::common::{Lab, Tmux, iptop, run_ok};
use serde_json::Value;

/// The legacy tables that exist in the lab's host namespace.
fn legacy_tables(lab: &Lab) -> Vec<String> {
    let out = lab.host_cmd(&["cat", "/proc/net/ip_tables_names"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("json")
}

fn tables_named<'a>(v: &'a Value, name: &str) -> Vec<&'a Value> {
    v["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter(|t| t["name"] == name)
        .collect()
}

fn chain<'a>(table: &'a Value, name: &str) -> &'a Value {
    table["chains"]
        .as_array()
        .expect("chains")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no chain {name} in {table}"))
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn legacy_tables_are_never_created() {
    let lab = Lab::up("iptables-nft-restore");
    let host = lab.host();
    assert!(legacy_tables(&lab).is_empty(), "a fresh namespace");

    // --backend legacy: nothing to list, and it says so
    let out = run_ok(iptop().args(["--netns", &host, "--backend", "legacy", "--once"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("no legacy table filter in this namespace"),
        "{text}"
    );
    assert!(!text.contains("FORWARD"), "no table is made up: {text}");
    let out = run_ok(iptop().args([
        "--netns",
        &host,
        "--backend",
        "legacy",
        "--once",
        "-t",
        "nat",
        "-t",
        "raw",
        "--format",
        "json",
    ]));
    let v = json_of(&out);
    assert_eq!(v["tables"].as_array().map(Vec::len), Some(0), "{v}");
    assert!(
        v["warnings"].to_string().contains("no legacy table nat"),
        "{v}"
    );

    // auto: the rules are in nftables, and that is all it lists
    let out = run_ok(iptop().args([
        "--netns", &host, "--once", "-t", "filter", "-t", "nat", "--format", "json",
    ]));
    let v = json_of(&out);
    for t in v["tables"].as_array().expect("tables") {
        assert_eq!(t["backend"], "nft", "{t}");
    }
    assert_eq!(v["source"]["backend"], "nft");
    assert_eq!(tables_named(&v, "filter").len(), 1);

    // the live view with legacy too
    let tmux = Tmux::start(
        &format!(
            "{} --netns {host} --backend legacy -t nat",
            env!("CARGO_BIN_EXE_iptop")
        ),
        120,
        30,
    );
    tmux.wait_for(10, "the note about legacy", |s| {
        s.contains("no legacy table")
    });
    tmux.keys(&["1", "3", "4", "5", "q"]);
    tmux.wait_for(5, "exit", |s| s.contains("EXIT=0"));

    assert!(
        legacy_tables(&lab).is_empty(),
        "iptop created legacy tables: {:?}",
        legacy_tables(&lab)
    );
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn auto_finds_rules_loaded_with_legacy() {
    let lab = Lab::up("iptables-legacy-restore");
    let out = lab.once_during(
        &[
            "--once", "--window", "3s", "--format", "json", "-t", "filter", "-t", "nat",
        ],
        || lab.curl(5),
    );
    let v: Value = serde_json::from_str(&out).expect("json");
    let filter = tables_named(&v, "filter");
    assert_eq!(filter.len(), 1, "the empty nft table gives way: {v}");
    assert_eq!(filter[0]["backend"], "legacy");
    let dpt80 = chain(filter[0], "DOCKER-INGRESS")["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["extra"] == "tcp dpt:80")
        .expect("dpt:80")
        .clone();
    assert!(
        dpt80["delta_packets"].as_u64().is_some_and(|d| d >= 5),
        "{dpt80}"
    );
    assert_eq!(tables_named(&v, "nat")[0]["backend"], "legacy");
    assert_eq!(v["source"]["backend"], "legacy");
    // only the tables the rules made exist in legacy; iptop added none
    let mut t = legacy_tables(&lab);
    t.sort();
    assert_eq!(t, ["filter", "nat"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn both_back_ends_are_shown_with_a_warning() {
    let lab = Lab::up("iptables-nft-restore");
    let host = lab.host();
    lab.host_cmd(&["iptables-legacy", "-A", "INPUT", "-j", "ACCEPT"]);
    let out = run_ok(iptop().args(["--netns", &host, "--once", "--format", "json"]));
    let v = json_of(&out);
    let filter = tables_named(&v, "filter");
    let backends: Vec<&Value> = filter.iter().map(|t| &t["backend"]).collect();
    assert_eq!(backends, ["nft", "legacy"], "{v}");
    assert!(chain(filter[0], "DOCKER-INGRESS").is_object());
    let input = chain(filter[1], "INPUT")["rules"]
        .as_array()
        .expect("rules");
    assert_eq!(input.len(), 1);
    assert_eq!(input[0]["target"], "ACCEPT");
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("both iptables-nft and iptables-legacy"),
        "{warnings}"
    );
    assert_eq!(v["source"]["backend"], "nft+legacy");
    // iptables-nft's own hint is moot: iptop shows the legacy rules itself
    assert!(
        !warnings.contains("iptables-legacy tables present"),
        "{warnings}"
    );
    // the text says which is which
    let out = run_ok(iptop().args(["--netns", &host, "--once"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("table filter · nft"), "{text}");
    assert!(text.contains("table filter · legacy"), "{text}");
    // nat exists in nft only: not listed with legacy, not created
    assert_eq!(legacy_tables(&lab), ["filter"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn both_back_ends_have_a_tab_each_in_the_live_view() {
    let lab = Lab::up("iptables-nft-restore");
    lab.host_cmd(&["iptables-legacy", "-A", "INPUT", "-j", "ACCEPT"]);
    let dir = tempfile::tempdir().expect("tmp");
    let cmd = format!(
        "{} --netns {} --export-dir {}",
        env!("CARGO_BIN_EXE_iptop"),
        lab.host(),
        dir.path().display()
    );
    let tmux = Tmux::start(&cmd, 120, 40);
    let s = tmux.wait_for(10, "a tab per back end", |s| {
        s.contains(" 1 filter·nft ") && s.contains(" filter·legacy ")
    });
    // the nft tab first: Docker's chains; the warning says both sets are evaluated
    assert!(s.contains("iptop · filter·nft"), "{s}");
    assert!(s.contains("DOCKER-INGRESS"), "{s}");
    assert!(s.contains("the kernel evaluates both rule sets"), "{s}");
    // 1 again: the legacy half of filter, with its one INPUT rule
    tmux.keys(&["1"]);
    let s = tmux.wait_for(5, "the legacy tab", |s| s.contains("iptop · filter·legacy"));
    let tree: Vec<&str> = s
        .lines()
        .skip(3)
        .take_while(|l| !l.contains(" detail "))
        .collect();
    assert!(tree[0].contains("INPUT ACCEPT"), "{s}");
    assert!(tree[1].contains("ACCEPT"), "{s}");
    assert!(!s.contains("DOCKER-INGRESS"), "{s}");
    // Tab goes on to nat, Shift-Tab back to the legacy filter
    tmux.keys(&["Tab"]);
    tmux.wait_for(5, "nat", |s| s.contains("iptop · nat"));
    tmux.keys(&["BTab"]);
    tmux.wait_for(5, "back to legacy", |s| s.contains("iptop · filter·legacy"));
    // `s` on the legacy tab: the file says which back end it holds
    tmux.keys(&["s"]);
    tmux.wait_for(10, "the export", |s| {
        s.contains("exported ") && s.contains(" to /")
    });
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.len() == 1 && names[0].starts_with("iptop-filter-legacy-"),
        "{names:?}"
    );
    tmux.keys(&["q"]);
    tmux.wait_for(5, "exit", |s| s.contains("EXIT=0"));
    assert_eq!(legacy_tables(&lab), ["filter"]);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn a_pasted_listing_knows_its_table() {
    let lab = Lab::up("iptables-nft-restore");
    let out = lab.host_cmd(&["iptables", "-t", "nat", "-vnxL"]);
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("nat.txt");
    std::fs::write(&file, &out.stdout).expect("write");
    let f = file.to_str().expect("path");

    let v = json_of(&run_ok(
        iptop().args(["--replay", f, "--once", "--format", "json"]),
    ));
    assert_eq!(v["tables"][0]["name"], "nat", "{v}");
    assert!(chain(&v["tables"][0], "DOCKER-INGRESS").is_object());

    let out = iptop()
        .args(["--replay", f, "--once", "-t", "filter"])
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("table nat") && err.contains("-t filter"),
        "{err}"
    );

    // one chain of it: no built-in chain, but a DNAT says nat
    let out = lab.host_cmd(&["iptables", "-t", "nat", "-vnxL", "DOCKER-INGRESS"]);
    std::fs::write(&file, &out.stdout).expect("write");
    let v = json_of(&run_ok(
        iptop().args(["--replay", f, "--once", "--format", "json"]),
    ));
    assert_eq!(v["tables"][0]["name"], "nat", "{v}");

    // FORWARD alone could be filter, mangle or security: shown as filter, and said so
    let out = lab.host_cmd(&["iptables", "-vnxL", "FORWARD"]);
    std::fs::write(&file, &out.stdout).expect("write");
    let v = json_of(&run_ok(
        iptop().args(["--replay", f, "--once", "--format", "json"]),
    ));
    assert_eq!(v["tables"][0]["name"], "filter");
    assert!(
        v["warnings"].to_string().contains("does not say its table"),
        "{v}"
    );
    let v =
        json_of(&run_ok(iptop().args([
            "--replay", f, "--once", "--format", "json", "-t", "mangle",
        ])));
    assert_eq!(v["tables"][0]["name"], "mangle");
}

/// Replays `rec` for `table` over a one-second window.
fn replay_window(rec: &str, table: &str) -> Value {
    let v = json_of(&run_ok(iptop().args([
        "--replay", rec, "--once", "--window", "1s", "--format", "json", "-t", table,
    ])));
    assert_eq!(v["tables"][0]["name"], table, "{v}");
    let w = v["window_ms"].as_u64().expect("window");
    assert!((700..=1600).contains(&w), "{w}");
    v
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn recordings_hold_every_table_polled() {
    let lab = Lab::up("iptables-nft-restore");
    let host = lab.host();
    let dir = tempfile::tempdir().expect("tmp");
    let bin = env!("CARGO_BIN_EXE_iptop");

    // -t filter -t nat: both recorded on every poll, whichever is on screen
    let rec = dir.path().join("both.rec");
    let rec_s = rec.to_str().expect("path").to_string();
    let tmux = Tmux::start(
        &format!("{bin} --netns {host} -t filter -t nat -i 250ms --record {rec_s}"),
        120,
        30,
    );
    tmux.wait_for(10, "the first poll", |s| s.contains("DOCKER-INGRESS"));
    lab.curl(3);
    thread::sleep(Duration::from_secs(2));
    tmux.keys(&["q"]);
    tmux.wait_for(5, "exit", |s| s.contains("EXIT=0"));
    drop(tmux);
    let text = std::fs::read_to_string(&rec).expect("recording");
    let polls = text.lines().filter(|l| l.starts_with("@poll ")).count();
    let nat = text
        .lines()
        .filter(|l| l.starts_with("@listing nat "))
        .count();
    assert!(polls >= 4, "{polls} polls");
    assert_eq!(
        nat, polls,
        "nat in every poll although filter was on screen"
    );
    replay_window(&rec_s, "filter");
    replay_window(&rec_s, "nat");

    // only -t filter, and the user switches to nat: nat is polled (and recorded) from then
    let rec = dir.path().join("switched.rec");
    let rec_s = rec.to_str().expect("path").to_string();
    let tmux = Tmux::start(
        &format!("{bin} --netns {host} -t filter -i 250ms --record {rec_s}"),
        120,
        30,
    );
    tmux.wait_for(10, "the first poll", |s| s.contains("DOCKER-INGRESS"));
    thread::sleep(Duration::from_secs(1));
    tmux.keys(&["2"]);
    tmux.wait_for(10, "the nat table", |s| s.contains("PREROUTING ACCEPT"));
    thread::sleep(Duration::from_millis(2500));
    tmux.keys(&["q"]);
    tmux.wait_for(5, "exit", |s| s.contains("EXIT=0"));
    drop(tmux);
    let text = std::fs::read_to_string(&rec).expect("recording");
    let first = text
        .find("@listing nat ")
        .expect("nat recorded after the switch");
    assert!(text[..first].contains("@listing filter "));
    replay_window(&rec_s, "filter");
    replay_window(&rec_s, "nat");
    let out = iptop()
        .args(["--replay", &rec_s, "--once", "-t", "raw"])
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no listing of table raw"), "{err}");
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn not_root_ends_the_live_view_before_the_screen() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("typescript");
    let bin = env!("CARGO_BIN_EXE_iptop");
    // `script` keeps every byte iptop wrote to the terminal
    let cmd = format!(
        "script -qfec 'setpriv --reuid=nobody --regid=nogroup --clear-groups {bin}' {}",
        log.display()
    );
    let tmux = Tmux::start(&cmd, 250, 30);
    let s = tmux.wait_for(10, "exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=1"), "{s}");
    let screen: Vec<&str> = s
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("EXIT="))
        .collect();
    assert_eq!(screen.len(), 1, "one line: {s}");
    assert!(
        screen[0].starts_with("iptop: ") && screen[0].contains("root"),
        "{s}"
    );
    let bytes = std::fs::read(&log).expect("typescript");
    let raw = String::from_utf8_lossy(&bytes);
    assert!(
        !raw.contains("\x1b[?1049h"),
        "the alternate screen was entered: {raw:?}"
    );
    // the same line as --once
    let once = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            bin,
            "--once",
        ])
        .output()
        .expect("setpriv");
    assert_eq!(once.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&once.stderr).trim(),
        screen[0].trim()
    );
}
