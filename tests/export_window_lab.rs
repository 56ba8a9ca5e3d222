//! The export key on the real lab: `s` writes what moved over the export window (the
//! last 10 s of polls), not only the last poll, and the status line names the file by
//! its absolute path.

mod common;

use std::thread;
use std::time::Duration;

use common::{Lab, Tmux};

/// The Δ column of a text row: the first number after the label.
fn text_delta(line: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no Δ in {line:?}"))
}

#[test]
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
    let s = tmux.wait_for(10, "the export", |s| s.contains("exported to "));
    let line = s
        .lines()
        .find(|l| l.contains("exported to "))
        .expect("status");
    let path = line
        .split("exported to ")
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
