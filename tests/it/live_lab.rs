//! The live view on the real lab: the export key writes what moved over the export
//! window (the last 10 s of polls), not only the last poll, and the status line names the
//! file by its absolute path; FORWARD's policy DROP is a row that lights up red, and `f`
//! and `o` list it.

use std::thread;
use std::time::Duration;

use crate::common::{Lab, Tmux, text_delta};

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn export_key_covers_the_last_seconds_of_polls() {
    let lab = Lab::up("iptables-restore");
    let dir = tempfile::tempdir().expect("tmp");
    let cmd = format!(
        "{} --netns {} --export-dir {} --format text",
        env!("CARGO_BIN_EXE_iptop"),
        lab.host(),
        dir.path().display()
    );
    let tmux = Tmux::start(&cmd, 160, 40);
    tmux.wait_for(10, "the first poll", |s| s.contains("DOCKER-INGRESS"));
    lab.curl(10);
    // three polls later the last poll's Δ is 0 again
    thread::sleep(Duration::from_secs(3));
    tmux.keys(&["s"]);
    // the status line names the window and the file
    let s = tmux.wait_for(10, "the export", |s| s.contains("exported Δ over the last"));
    let line = s
        .lines()
        .find(|l| l.contains("exported Δ over the last"))
        .expect("status");
    let path = line
        .split(" to ")
        .nth(1)
        .expect("path")
        .split_whitespace()
        .next()
        .expect("path");
    assert!(path.starts_with('/'), "an absolute path: {line}");
    let text = std::fs::read_to_string(path).expect("the exported file");
    // the file says which window it covers: here all the polls there were, about 4 s
    assert!(text.contains(" of polls"), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("ACCEPT") && l.ends_with("tcp dpt:80"))
        .unwrap_or_else(|| panic!("no dpt:80 row in\n{text}"));
    assert!(text_delta(row) >= 10, "10 requests in the window: {row}");
    tmux.keys(&["q"]);
    tmux.wait_for(5, "exit", |s| s.contains("EXIT="));
}

/// The Δpkts column of the first row whose text contains `needle`.
fn delta_of(screen: &str, needle: &str) -> Option<u64> {
    let line = screen.lines().find(|l| l.contains(needle))?;
    line.split(needle)
        .nth(1)?
        .split_whitespace()
        .find_map(|w| w.parse::<u64>().ok())
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn policy_drop_row_lights_up_and_f_and_o_list_it() {
    let lab = Lab::up("iptables-restore");
    let cmd = format!("{} --netns {}", env!("CARGO_BIN_EXE_iptop"), lab.host());
    // tall enough for FORWARD's last row above the detail pane
    let tmux = Tmux::start(&cmd, 120, 60);
    tmux.wait_for(10, "the first poll", |s| s.contains("policy DROP"));
    // a baseline: the Δ counts every blocked attempt, whichever polls they fall in
    tmux.keys(&["z"]);
    tmux.wait_for(5, "the baseline", |s| s.contains("since baseline"));
    lab.blocked(5);
    let s = tmux.wait_for(10, "FORWARD's policy DROP moving", |s| {
        delta_of(s, "policy DROP").is_some_and(|d| d >= 5)
    });
    assert!(
        s.contains("└── policy DROP"),
        "the last row of FORWARD: {s}"
    );
    // lit red: its label, and its moving Δ
    let colored = tmux.capture_colors();
    let row = colored
        .lines()
        .find(|l| l.contains("policy DROP"))
        .expect("row");
    assert!(
        row.contains("[31m")
            || row.contains("[1;31m")
            || row.contains(";31m")
            || row.contains("38;5;1m"),
        "red: {row:?}"
    );
    // f: only what moved, the policy row with it
    tmux.keys(&["f"]);
    let s = tmux.wait_for(5, "only moved", |s| s.contains("only moved"));
    assert!(s.contains("policy DROP"), "{s}");
    tmux.keys(&["f"]);
    // o: the hot view lists it, with FORWARD as its path
    tmux.keys(&["o"]);
    let s = tmux.wait_for(5, "the hot view", |s| s.contains("hot: by rate now"));
    let line = s
        .lines()
        .find(|l| l.contains("policy DROP"))
        .unwrap_or_else(|| panic!("policy DROP in the hot view:\n{s}"));
    assert!(line.contains("FORWARD"), "{line}");
    tmux.keys(&["q"]);
    tmux.wait_for(5, "exit", |s| s.contains("EXIT="));
}
