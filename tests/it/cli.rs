//! The command line: read-only argv (a fake `iptables` records every call), errors with
//! one line and the right exit code, replays, and failures of the source.

use std::fs;

use crate::common::{FakeIptables, iptop, run_ok};
use serde_json::Value;

const LISTING_OPTS: [&str; 5] = ["-L", "-v", "-n", "-x", "--line-numbers"];

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs iptop with the fake first on PATH.
fn with_fake(fake: &FakeIptables, args: &[&str]) -> std::process::Output {
    iptop()
        .args(args)
        .env("PATH", fake.path_env())
        .output()
        .expect("iptop")
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn iptop_only_ever_lists() {
    let fake = FakeIptables::new("ok");
    let dir = tempfile::tempdir().expect("tmp");
    let rec = dir.path().join("r.rec").display().to_string();
    let runs: &[&[&str]] = &[
        &["--once"],
        &[
            "--once", "--window", "300ms", "-t", "filter", "-t", "nat", "--format", "json",
        ],
        &["--once", "--backend", "legacy", "-t", "nat"],
        &["--once", "--backend", "nft", "-6"],
        &[
            "--once",
            "-t",
            "mangle",
            "-t",
            "raw",
            "-t",
            "security",
            "--timeout",
            "3s",
        ],
        &[
            "--once",
            "--window",
            "1s",
            "--interval",
            "200ms",
            "--record",
            &rec,
        ],
    ];
    for args in runs {
        let out = with_fake(&fake, args);
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
    }
    let calls = fake.calls();
    assert!(calls.len() >= 15, "{} calls", calls.len());
    let mut tables_seen = std::collections::BTreeSet::new();
    let mut programs = std::collections::BTreeSet::new();
    for argv in &calls {
        programs.insert(argv[0].clone());
        let args = &argv[1..];
        if args == ["--version"] {
            continue;
        }
        // exactly: -w N -t TABLE -L -v -n -x --line-numbers
        assert_eq!(args.len(), 9, "unexpected argv {argv:?}");
        assert_eq!(args[0], "-w", "{argv:?}");
        assert!(
            args[1].parse::<u32>().is_ok_and(|w| (1..=10).contains(&w)),
            "{argv:?}"
        );
        assert_eq!(args[2], "-t", "{argv:?}");
        assert!(
            ["filter", "nat", "mangle", "raw", "security"].contains(&args[3].as_str()),
            "{argv:?}"
        );
        tables_seen.insert(args[3].clone());
        assert_eq!(&args[4..], LISTING_OPTS, "{argv:?}");
    }
    assert_eq!(tables_seen.len(), 5);
    // auto lists with iptables-nft, and with iptables-legacy only the legacy tables that
    // exist (listing another would create it)
    let want: std::collections::BTreeSet<String> =
        ["iptables-nft", "iptables-legacy", "ip6tables-nft"]
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
    assert_eq!(programs, want);
    let legacy_tables = fs::read_to_string("/proc/net/ip_tables_names").unwrap_or_default();
    for argv in calls
        .iter()
        .filter(|a| a[0] == "iptables-legacy" && a.len() > 2)
    {
        assert!(
            legacy_tables.lines().any(|t| t == argv[4]),
            "iptables-legacy listed table {} that does not exist: {argv:?}",
            argv[4]
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["-t", "bo gus", "--once"][..],
        &["--window", "2s"][..],
        &["--once", "--window", "soon"][..],
        &["--once", "--interval", "1ms"][..],
        &["--demo", "--replay", "x"][..],
        &["--no-such-flag"][..],
    ] {
        let out = iptop().args(args).output().expect("iptop");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        assert!(!stderr_of(&out).contains("panicked"));
    }
}

#[test]
fn runtime_errors_exit_1_with_one_line() {
    let fake = FakeIptables::new("ok");
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.txt");
    fs::write(&bad, "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target prot opt in out source destination\n    1    60 ACCEPT 0 XX * * 0.0.0.0/0 0.0.0.0/0\n").expect("write");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--once".into(), "--netns".into(), "iptop-no-such-ns".into()],
            "network namespace `iptop-no-such-ns` not found",
        ),
        (
            vec!["--once".into(), "-c".into(), "NOPE".into()],
            "chain `NOPE` not found",
        ),
        (
            vec![
                "--once".into(),
                "--replay".into(),
                "/nonexistent/listing.txt".into(),
            ],
            "cannot read /nonexistent/listing.txt",
        ),
        (
            vec![
                "--once".into(),
                "--replay".into(),
                bad.display().to_string(),
            ],
            "bad.txt: line 3:",
        ),
    ];
    for (args, want) in cases {
        let out = iptop()
            .args(&args)
            .env("PATH", fake.path_env())
            .output()
            .expect("iptop");
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("iptop: "), "{err}");
    }
    // no iptables at all
    let out = iptop()
        .args(["--once"])
        .env("PATH", dir.path())
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("`iptables` not found on PATH"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn source_failures_are_reported_not_shown() {
    let fake = FakeIptables::new("ok");
    let cases = [
        ("denied", "run iptop as root"),
        ("lock", "holds the xtables lock"),
        ("nftnative", "is incomplete"),
        ("cut", "ends mid-line"),
        ("garbage", "line 3"),
    ];
    for (behaviour, want) in cases {
        fake.set(behaviour);
        let out = with_fake(&fake, &["--once", "--format", "json"]);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{behaviour}: {err}");
        assert!(err.contains(want), "{behaviour}: {err}");
        assert!(
            out.stdout.is_empty(),
            "{behaviour}: nothing printed as if whole"
        );
    }
    fake.set("hang");
    let t = std::time::Instant::now();
    let out = with_fake(&fake, &["--once", "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("took longer than 1s"),
        "{}",
        stderr_of(&out)
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(10));

    fake.set("warn");
    let out = with_fake(&fake, &["--once", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        v["warnings"][0],
        "# Warning: iptables-legacy tables present, use iptables-legacy to see them"
    );
}

#[test]
fn replay_of_a_pasted_listing() {
    let fixture =
        crate::common::root().join("tests/fixtures/iptables/docker-swarm.legacy.nat-vnL.txt");
    let out = run_ok(
        iptop()
            .args(["--replay"])
            .arg(&fixture)
            .args(["-t", "nat", "--once", "--format", "json"]),
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["source"]["kind"], "replay");
    assert_eq!(v["tables"][0]["name"], "nat");
    assert_eq!(v["tables"][0]["exact"], false);
    assert!(v["window_ms"].is_null());
    let chains = v["tables"][0]["chains"].as_array().expect("chains");
    assert_eq!(chains.len(), 6);
    assert!(chains[0]["rules"][0]["delta_packets"].is_null());
}

#[test]
fn record_then_replay() {
    let fake = FakeIptables::new("ok");
    let dir = tempfile::tempdir().expect("tmp");
    let rec = dir.path().join("polls.rec");
    let rec_s = rec.display().to_string();
    let out = with_fake(
        &fake,
        &[
            "--once",
            "--window",
            "1s",
            "--interval",
            "250ms",
            "-t",
            "filter",
            "-t",
            "nat",
            "--record",
            &rec_s,
        ],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = fs::read_to_string(&rec).expect("recording");
    assert!(text.starts_with("# iptop recording 3\n"));
    let polls = text.lines().filter(|l| l.starts_with("@poll ")).count();
    assert!(
        (4..=6).contains(&polls),
        "{polls} polls in a 1s window at 250ms"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("@listing nat backend=nft status=0"))
            .count(),
        polls
    );
    // replay needs no iptables at all
    let out = run_ok(
        iptop()
            .args([
                "--replay", &rec_s, "--once", "--window", "1s", "--format", "json", "-t", "nat",
            ])
            .env("PATH", dir.path()),
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let w = v["window_ms"].as_u64().expect("window");
    assert!((900..=1300).contains(&w), "{w}");
    assert_eq!(v["source"]["binary"], "iptables-nft, iptables-legacy");
    // asking a recording for a table it lacks
    let out = iptop()
        .args(["--replay", &rec_s, "--once", "-t", "mangle"])
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("no listing of table mangle"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn output_file_is_never_overwritten_without_force() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("snap.txt");
    fs::write(&f, "keep me").expect("write");
    let out = iptop()
        .args(["--demo", "--once", "-o"])
        .arg(&f)
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("file exists"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(fs::read_to_string(&f).expect("read"), "keep me");
    run_ok(iptop().args(["--demo", "--once", "--force", "-o"]).arg(&f));
    assert!(fs::read_to_string(&f).expect("read").starts_with("iptop "));
    assert_eq!(
        fs::read_dir(dir.path()).expect("dir").count(),
        1,
        "no temporary file left"
    );
}

#[test]
fn forced_output_to_a_device_writes_into_it() {
    // renaming a temporary file over /dev/null would replace the device with a file
    let dir = tempfile::tempdir().expect("tmp");
    let fifo = dir.path().join("pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read_to_string(fifo).expect("read fifo"))
    };
    run_ok(
        iptop()
            .args(["--demo", "--once", "--format", "json", "--force", "-o"])
            .arg(&fifo),
    );
    let got = reader.join().expect("reader");
    assert!(got.contains("\"version\": 1"), "{got}");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        fs::metadata(&fifo).expect("meta").file_type().is_fifo(),
        "still a fifo"
    );
    run_ok(iptop().args(["--demo", "--once", "--force", "-o", "/dev/null"]));
    assert!(
        fs::metadata("/dev/null")
            .expect("meta")
            .file_type()
            .is_char_device()
    );
}

#[test]
fn completions_and_man_page() {
    let out = run_ok(iptop().args(["--completions", "bash"]));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("--netns") && s.contains("--moved-only"), "{s}");
    let out = run_ok(iptop().args(["--completions", "zsh"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("#compdef iptop"));
    let out = run_ok(iptop().args(["--man"]));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.starts_with(".ie") || s.contains(".TH iptop"),
        "{}",
        &s[..200.min(s.len())]
    );
    assert!(s.contains("netns"));
}

/// A mistyped `-c` names the closest chains; `--iptables` to a missing file says so
/// rather than "not found on PATH"; the live `--view services` names the key.
#[test]
fn errors_that_say_what_to_do() {
    let out = iptop()
        .args(["--demo", "--once", "-c", "DOCKER-USR"])
        .output()
        .expect("iptop");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("did you mean `DOCKER-USER`?"), "{err}");
    let out = iptop()
        .args(["--demo", "--once", "-c", "docker-user"])
        .output()
        .expect("iptop");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did you mean `DOCKER-USER`?"),
        "{out:?}"
    );
    let out = iptop()
        .args(["--iptables", "/nonexistent/iptables", "--once"])
        .output()
        .expect("iptop");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("`/nonexistent/iptables` (--iptables) does not exist")
            && !err.contains("PATH"),
        "{err}"
    );
    let out = iptop()
        .args(["--demo", "--view", "services"])
        .output()
        .expect("iptop");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("K there shows the Services"), "{err}");
}
