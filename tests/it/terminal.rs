//! The live view and its terminal, in tmux: every signal that ends iptop leaves the
//! terminal as it was (normal screen, mouse reporting off, cursor shown, cooked mode);
//! with stdout not a terminal the view refuses to start; a replay labels each poll with
//! its own session's source and shows a cut poll as a failure, not as a table.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::common::Tmux;
use iptop::model::SourceInfo;
use iptop::source::recording::{encode_poll, header};
use iptop::source::{RawListing, RawPoll};

fn signal_number(name: &str) -> i32 {
    let out = Command::new("bash")
        .args(["-c", &format!("kill -l {name}")])
        .output()
        .expect("kill -l");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("signal number")
}

#[test]
fn every_signal_that_ends_iptop_restores_the_terminal_first() {
    let bin = env!("CARGO_BIN_EXE_iptop");
    for name in [
        "QUIT", "USR1", "USR2", "ALRM", "VTALRM", "PROF", "XCPU", "IO", "PWR", "RTMIN", "RTMAX",
        "BUS", "SEGV", "ABRT", "ILL", "FPE", "SYS", "TRAP",
    ] {
        // no core files in the working directory; `stty -a` shows the mode left behind
        let tmux = Tmux::start(
            &format!("ulimit -c 0; {bin} --demo; echo CODE=$?; stty -a"),
            120,
            40,
        );
        tmux.wait_for(10, "the demo", |s| s.contains("DOCKER-INGRESS"));
        assert_eq!(tmux.display("#{alternate_on}"), "1", "{name}");
        assert_eq!(tmux.display("#{mouse_any_flag}"), "1", "{name}");
        let pid = tmux.pane_child();
        let ok = Command::new("bash")
            .args(["-c", &format!("kill -{name} {pid}")])
            .status()
            .expect("kill");
        assert!(ok.success(), "{name}");
        let s = tmux.wait_for(10, "iptop to end", |s| s.contains("CODE="));
        assert_eq!(
            tmux.display("#{alternate_on}"),
            "0",
            "{name}: alternate screen left"
        );
        assert_eq!(
            tmux.display("#{mouse_any_flag}"),
            "0",
            "{name}: mouse reporting off"
        );
        assert_eq!(tmux.display("#{cursor_flag}"), "1", "{name}: cursor shown");
        // ended by the signal itself, as its default action would
        let code = 128 + signal_number(name);
        assert!(s.contains(&format!("CODE={code}")), "{name}: {s}");
        let s = tmux.wait_for(5, "stty", |s| s.contains("icanon"));
        assert!(
            !s.contains("-icanon") && !s.contains("-echo "),
            "{name}: the terminal was left raw:\n{s}"
        );
    }
}

#[test]
fn the_live_view_refuses_to_start_without_a_terminal_on_stdout() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out.txt");
    let tmux = Tmux::start(
        &format!(
            "{} --demo > {}; echo CODE=$?",
            env!("CARGO_BIN_EXE_iptop"),
            out.display()
        ),
        120,
        40,
    );
    let s = tmux.wait_for(5, "iptop to refuse", |s| s.contains("CODE="));
    assert!(s.contains("CODE=1"), "{s}");
    assert!(s.contains("iptop: the live view needs a terminal"), "{s}");
    assert_eq!(
        std::fs::read(&out).expect("out").len(),
        0,
        "nothing written into the file"
    );
    assert_eq!(tmux.display("#{alternate_on}"), "0");
    assert_eq!(tmux.display("#{mouse_any_flag}"), "0");
}

fn poll(seq: u64, secs: u64, stdout: &str) -> RawPoll {
    RawPoll {
        last: false,
        seq,
        at: Duration::from_secs(secs),
        taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs),
        listings: vec![RawListing {
            stdout: Arc::new(stdout.into()),
            status: Some(0),
            ..RawListing::empty("filter")
        }],
        discontinuity: false,
    }
}

#[test]
fn a_replay_shows_each_sessions_source_and_reports_a_cut_poll() {
    let listing = std::fs::read_to_string(
        crate::common::root()
            .join("tests/fixtures/iptables/docker-swarm.nft.filter-vnxL-lines.txt"),
    )
    .expect("fixture");
    let session = |netns: &str| SourceInfo {
        kind: iptop::model::SourceKind::Live,
        host: "lab".into(),
        netns: Some(netns.into()),
        ..Default::default()
    };
    let mut text = header(&session("ns-first"))
        + &encode_poll(&poll(1, 0, &listing))
        + &header(&session("ns-second"))
        + &encode_poll(&poll(1, 0, &listing));
    let third = encode_poll(&poll(2, 1, &listing));
    // the recording ends at a line boundary inside the third poll
    let cut = third.find("Chain FORWARD").expect("chain");
    text.push_str(&third[..cut]);
    let dir = tempfile::tempdir().expect("tmp");
    let rec = dir.path().join("two.rec");
    std::fs::write(&rec, &text).expect("write");

    let tmux = Tmux::start(
        &format!(
            "{} --replay {} --step",
            env!("CARGO_BIN_EXE_iptop"),
            rec.display()
        ),
        160,
        40,
    );
    let s = tmux.wait_for(10, "the first poll", |s| s.contains("DOCKER-INGRESS"));
    let head = s.lines().next().unwrap_or("");
    assert!(head.contains("netns ns-first"), "{s}");
    tmux.keys(&["."]);
    tmux.wait_for(10, "the second session", |s| {
        s.lines().next().unwrap_or("").contains("netns ns-second")
    });
    tmux.keys(&["."]);
    let s = tmux.wait_for(10, "the cut poll", |s| s.contains("cut off"));
    assert!(s.contains("STALE"), "{s}");
    assert!(s.contains("two.rec: line "), "{s}");
    assert!(
        s.contains("DOCKER-INGRESS"),
        "the last whole poll stays: {s}"
    );
    tmux.keys(&["q"]);
    let s = tmux.wait_for(5, "exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
}
