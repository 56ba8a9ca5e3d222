//! The live view in a real terminal (tmux) on the real lab: requests to the published
//! port light up DOCKER-INGRESS, the keys drill into it, `q` leaves the terminal as it
//! was.

mod common;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::Lab;

/// A tmux server of our own, killed when dropped.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(cmd: &str, w: u16, h: u16) -> Tmux {
        let socket = format!("iptop-test-{}-{}", std::process::id(), cmd.len());
        let t = Tmux { socket };
        let status = t
            .cmd(&[
                "new-session",
                "-d",
                "-s",
                "main",
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
            ])
            .arg(format!("{cmd}; echo EXIT=$?; sleep 600"))
            .status()
            .expect("tmux");
        assert!(status.success(), "tmux new-session");
        t
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]).args(args);
        c
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            let ok = self
                .cmd(&["send-keys", "-t", "main", k])
                .status()
                .expect("send-keys");
            assert!(ok.success());
            thread::sleep(Duration::from_millis(150));
        }
    }

    pub fn capture(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p", "-t", "main"])
            .output()
            .expect("capture");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn display(&self, fmt: &str) -> String {
        let out = self
            .cmd(&["display-message", "-p", "-t", "main", fmt])
            .output()
            .expect("display");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Captures until `pred` holds, or fails after `secs` with the last screen.
    pub fn wait_for(&self, secs: u64, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.capture();
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}:\n{s}");
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]).status();
    }
}

/// The Δpkts column of the first row whose text contains `needle`.
fn delta_of(screen: &str, needle: &str) -> Option<u64> {
    let line = screen.lines().find(|l| l.contains(needle))?;
    // `│  ├── ACCEPT   12   792 B   12 ...`: the first number after the label
    line.split_whitespace().find_map(|w| w.parse::<u64>().ok())
}

#[test]
fn live_view_on_the_lab() {
    let lab = Lab::up("iptables-restore");
    let cmd = format!("{} --netns {}", env!("CARGO_BIN_EXE_iptop"), lab.host());
    let tmux = Tmux::start(&cmd, 120, 40);
    tmux.wait_for(10, "the first poll", |s| {
        s.contains("DOCKER-INGRESS") && s.contains("FORWARD")
    });

    // requests spread over ~2 s, while the screen is watched
    let sender = {
        let prefix = lab.prefix.clone();
        thread::spawn(move || {
            for _ in 0..10 {
                let _ = Command::new("bash")
                    .arg(common::root().join("tests/lab/lab.sh"))
                    .args(["curl", "1"])
                    .env("LAB_PREFIX", &prefix)
                    .status();
                thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let s = tmux.wait_for(15, "a moving dpt:80 row", |s| {
        delta_of(s, "tcp dpt:80").is_some_and(|d| d > 0)
    });
    assert!(s.contains("├─▾ DOCKER-INGRESS"), "{s}");
    sender.join().expect("sender");

    // drill into DOCKER-INGRESS: search for it, Enter keeps the match, Enter drills
    tmux.keys(&["/"]);
    tmux.keys(&["DOCKER-INGRESS"]);
    tmux.keys(&["Enter", "Enter"]);
    let s = tmux.wait_for(5, "the breadcrumb", |s| {
        s.contains("FORWARD › DOCKER-INGRESS")
    });
    let table: Vec<&str> = s.lines().skip(3).take(30).collect();
    assert!(table[0].contains("DOCKER-INGRESS"), "{s}");
    for sibling in ["DOCKER-USER", "DOCKER-ISOLATION-STAGE-1", "INPUT", "OUTPUT"] {
        assert!(
            !table.iter().any(|l| l.contains(sibling)),
            "{sibling} shown in the drill:\n{s}"
        );
    }
    assert!(table.iter().any(|l| l.contains("tcp dpt:80")), "{s}");

    // back out, then quit
    tmux.keys(&["Escape"]);
    tmux.wait_for(5, "the whole tree again", |s| s.contains("DOCKER-USER"));
    tmux.keys(&["q"]);
    let s = tmux.wait_for(5, "iptop to exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "0",
        "alternate screen left"
    );
    assert_eq!(tmux.display("#{cursor_flag}"), "1", "cursor shown");
}
