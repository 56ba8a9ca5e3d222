//! The live view in a real terminal (tmux) on the real lab: requests to the published
//! port light up DOCKER-INGRESS, the keys drill into it, `q` leaves the terminal as it
//! was.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{Lab, Tmux};

/// The Δpkts column of the first row whose text contains `needle`.
fn delta_of(screen: &str, needle: &str) -> Option<u64> {
    let line = screen.lines().find(|l| l.contains(needle))?;
    // `│  ├── ACCEPT   12   792 B   12 ...`: the first number after the label
    line.split_whitespace().find_map(|w| w.parse::<u64>().ok())
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
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
                    .arg(crate::common::root().join("tests/lab/lab.sh"))
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

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn demo_moves_without_root_or_iptables() {
    // a copy of the binary that an unprivileged user can run
    let dir = tempfile::tempdir().expect("tmp");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let bin = dir.path().join("iptop");
    std::fs::copy(env!("CARGO_BIN_EXE_iptop"), &bin).expect("copy");
    // nobody, with a PATH that holds no iptables
    let cmd = format!(
        "setpriv --reuid=65534 --regid=65534 --clear-groups env -i PATH=/usr/bin:/bin TERM=xterm-256color HOME=/tmp sh -c 'id -u; command -v iptables || echo no-iptables; exec {} --demo'",
        bin.display()
    );
    let start = Instant::now();
    let tmux = Tmux::start(&cmd, 120, 40);
    let s = tmux.wait_for(3, "moving counters in the demo", |s| {
        delta_of(s, "tcp dpt:80").is_some_and(|d| d > 0)
    });
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(s.contains("demo"), "{s}");
    tmux.keys(&["q"]);
    let s = tmux.wait_for(5, "exit", |s| s.contains("EXIT="));
    assert!(s.contains("65534"), "ran as nobody: {s}");
    assert!(s.contains("no-iptables"), "{s}");
    assert!(s.contains("EXIT=0"), "{s}");
}

#[test]
fn signals_and_panics_leave_the_terminal_restored() {
    let bin = env!("CARGO_BIN_EXE_iptop");
    for how in ["TERM", "INT", "HUP", "panic"] {
        let tmux = Tmux::start(&format!("IPTOP_TEST_PANIC=1 {bin} --demo"), 120, 40);
        tmux.wait_for(10, "the demo", |s| s.contains("DOCKER-INGRESS"));
        assert_eq!(
            tmux.display("#{alternate_on}"),
            "1",
            "{how}: the view runs on the alternate screen"
        );
        let pid = tmux.pane_child();
        if how == "panic" {
            tmux.keys(&["!"]);
        } else {
            let ok = Command::new("kill")
                .args([&format!("-{how}"), &pid])
                .status()
                .expect("kill");
            assert!(ok.success());
        }
        let s = tmux.wait_for(10, "iptop to end", |s| s.contains("EXIT="));
        assert_eq!(
            tmux.display("#{alternate_on}"),
            "0",
            "{how}: alternate screen left"
        );
        assert_eq!(tmux.display("#{cursor_flag}"), "1", "{how}: cursor shown");
        if how == "panic" {
            assert!(s.contains("EXIT=101"), "{s}");
            let all = tmux.capture_all();
            assert!(
                all.contains("panicking on request"),
                "the panic message is readable: {all}"
            );
        } else {
            assert!(s.contains("EXIT=0"), "{how}: {s}");
        }
        // the shell is usable again: typed text echoes on the normal screen
        tmux.keys(&["echo", "Space", "still-here", "Enter"]);
    }
}

/// Comments and a chain name holding ESC, BEL, CR, U+009B, U+202E and a zero-width space
/// (and a comment with a line break that copies a rule line), on real iptables: the live
/// view shows them as visible escapes (the window keeps its title, the screen is not
/// cleared) and the `s` export holds none of them raw.
#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn hostile_text_in_the_live_view_and_its_export() {
    use crate::common::hostile::{Ns, RAW, assert_clean, load};
    let ns = Ns::new();
    load(&ns, "iptables-nft");
    let dir = tempfile::tempdir().expect("tmp");
    let cmd = format!(
        "{} --netns {} --backend nft --export-dir {}",
        env!("CARGO_BIN_EXE_iptop"),
        ns.0,
        dir.path().display()
    );
    let tmux = Tmux::start(&cmd, 200, 40);
    let s = tmux.wait_for(10, "the hostile rules", |s| s.contains("RETURN"));
    assert!(s.contains("⟨U+202E⟩") && s.contains("\\x1b"), "{s}");
    assert!(s.contains("X\\x1b[2J⟨U+202E⟩"), "{s}");
    // T's three rules, no fake DROP row
    let rules: Vec<&str> = s
        .lines()
        .filter(|l| l.contains("├─") || l.contains("└─"))
        .collect();
    assert!(
        !rules
            .iter()
            .any(|l| l.contains("DROP") && l.contains("6.6.6.6") && !l.contains("ACCEPT")),
        "{s}"
    );
    // the comment is one comment, line break and all, after the match text
    assert!(s.contains("/* ok */\\n2   999999 88888888 DROP all"), "{s}");
    assert_ne!(
        tmux.display("#{pane_title}"),
        "pwned",
        "the window was retitled"
    );
    for c in RAW {
        assert!(!s.contains(c), "U+{:04X} on screen:\n{s}", c as u32);
    }
    // the detail pane (shown on a 40-row terminal) of the RETURN rule shows its comment
    // escaped too
    for _ in 0..3 {
        tmux.keys(&["Down"]);
    }
    let s = tmux.wait_for(5, "the detail pane", |s| s.contains("rule 2 of 3"));
    assert!(s.contains("pwned\\x07"), "{s}");
    tmux.keys(&["s"]);
    let s = tmux.wait_for(10, "the export", |s| {
        s.contains("exported ") && s.contains(" to /")
    });
    let file = std::fs::read_dir(dir.path())
        .expect("dir")
        .next()
        .expect("a file")
        .expect("entry")
        .path();
    let text = std::fs::read(&file).expect("read");
    assert_clean("the s export", &text);
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("⟨U+202E⟩ w ⟨U+200B⟩"), "{text}");
    assert!(!s.contains("pwned\u{7}"));
    // drilled into the chain named with escapes (its jump is two rows below RETURN, after
    // T's last rule; T has no fell-through row: its RETURN matches everything): the
    // breadcrumb shows them escaped
    tmux.keys(&["Down", "Down", "Enter"]);
    let s = tmux.wait_for(5, "the breadcrumb", |s| s.contains("INPUT › X"));
    assert!(s.contains("INPUT › X\\x1b[2J⟨U+202E⟩"), "{s}");
    tmux.keys(&["q"]);
    let s = tmux.wait_for(5, "iptop to exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
}

/// The Δ of the first row of an exported text file whose text contains all of `needles`.
fn file_delta(text: &str, needles: &[&str]) -> u64 {
    let line = text
        .lines()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .unwrap_or_else(|| panic!("no row with {needles:?} in\n{text}"));
    crate::common::text_delta(line)
}

/// `s` in the path view counts every table over the same polls: nat is polled only
/// since `v`, so filter's rows are counted from there too, and the file says so; the
/// status line names the window.
#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn path_view_export_counts_every_table_over_the_same_window() {
    let lab = Lab::up("iptables-restore");
    let dir = tempfile::tempdir().expect("tmp");
    let cmd = format!(
        "{} --netns {} --export-dir {} --format text",
        env!("CARGO_BIN_EXE_iptop"),
        lab.host(),
        dir.path().display()
    );
    let tmux = Tmux::start(&cmd, 120, 40);
    tmux.wait_for(10, "the first poll", |s| s.contains("DOCKER-INGRESS"));
    // before the path view: filter is polled, nat is not
    lab.curl(20);
    thread::sleep(Duration::from_millis(1500));
    tmux.keys(&["v"]);
    tmux.wait_for(5, "the path view", |s| s.contains("nat PREROUTING"));
    thread::sleep(Duration::from_millis(1500));
    lab.curl(3);
    thread::sleep(Duration::from_millis(2500));
    tmux.keys(&["s"]);
    let s = tmux.wait_for(10, "the export", |s| s.contains("exported Δ over the last"));
    let line = s
        .lines()
        .find(|l| l.contains("exported Δ over the last"))
        .expect("status");
    assert!(line.contains(" to /"), "{line}");
    let file = std::fs::read_dir(dir.path())
        .expect("dir")
        .next()
        .expect("a file")
        .expect("entry")
        .path();
    let text = std::fs::read_to_string(&file).expect("the exported file");
    assert!(
        text.contains("every table over the same polls"),
        "the file says the window is shared:\n{text}"
    );
    // the three requests since `v`: one DNAT'd packet each, in nat
    let dnat = file_delta(&text, &["DNAT", "to:172.18.0.2:80"]);
    assert_eq!(dnat, 3, "{text}");
    // filter's rows over the same polls: the packets of those three connections, not
    // of the twenty before `v`
    let accept = file_delta(&text, &["ACCEPT", "tcp dpt:80"]);
    assert!(
        (3..=30).contains(&accept),
        "filter's dpt:80 ACCEPT counted over nat's window: {accept}\n{text}"
    );
    tmux.keys(&["q"]);
    tmux.wait_for(5, "exit", |s| s.contains("EXIT=0"));
}
