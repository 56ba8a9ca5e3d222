//! Files iptop writes, as root: `-o` leaves nothing behind when iptop is killed
//! mid-write; `--record` never writes through a symlink, into another user's file or
//! into a file that is not a recording, creates recordings 0600, and refuses a second
//! recorder on the same file.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{FakeIptables, iptop, run_ok};

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs iptop with a file size limit: the write that crosses it kills iptop (SIGXFSZ)
/// in the middle of writing, as a SIGKILL would.
fn killed_mid_write(args: &[&str], out: &Path) -> Output {
    let mut cmd = iptop();
    cmd.args(args).arg("-o").arg(out);
    // SAFETY: setrlimit is async-signal-safe and touches only this child.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_FSIZE, 512, 512)
                .map_err(std::io::Error::from)
        });
    }
    cmd.output().expect("iptop")
}

#[test]
fn output_killed_mid_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("snap.txt");
    let out = killed_mid_write(&["--demo", "--once"], &f);
    assert_eq!(
        out.status.signal(),
        Some(libc_sigxfsz()),
        "killed while writing: {}",
        stderr_of(&out)
    );
    assert_eq!(
        names(dir.path()),
        Vec::<String>::new(),
        "nothing left behind"
    );

    // replacing an existing file: it stays as it was
    fs::write(&f, "keep me").expect("write");
    let out = killed_mid_write(&["--demo", "--once", "--format", "json", "--force"], &f);
    assert_eq!(out.status.signal(), Some(libc_sigxfsz()));
    assert_eq!(names(dir.path()), ["snap.txt"]);
    assert_eq!(fs::read_to_string(&f).expect("read"), "keep me");

    // and unkilled, the file is whole
    run_ok(
        iptop()
            .args(["--demo", "--once", "--format", "json", "--force", "-o"])
            .arg(&f),
    );
    let v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&f).expect("read")).expect("whole json");
    assert_eq!(v["version"], 1);
    assert_eq!(names(dir.path()), ["snap.txt"]);
}

fn libc_sigxfsz() -> i32 {
    nix::sys::signal::Signal::SIGXFSZ as i32
}

/// A recording of the fake iptables (no root needed for the source itself).
fn record(fake: &FakeIptables, rec: &Path) -> Output {
    iptop()
        .args(["--once", "--record"])
        .arg(rec)
        .env("PATH", fake.path_env())
        .output()
        .expect("iptop")
}

fn assert_refused(out: &Output, want: &str) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(want), "`{want}` in: {err}");
    assert!(out.stdout.is_empty(), "nothing done: {err}");
}

#[test]
fn record_refuses_a_planted_symlink() {
    let fake = FakeIptables::new("ok");
    let dir = tempfile::tempdir().expect("tmp");
    let target = dir.path().join("precious");
    fs::write(&target, "root:x:0:0::/root:/bin/bash\n").expect("write");
    let link = dir.path().join("today.rec");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    assert_refused(&record(&fake, &link), "symbolic link");
    assert_eq!(
        fs::read_to_string(&target).expect("read"),
        "root:x:0:0::/root:/bin/bash\n",
        "the target is unchanged"
    );
    // a dangling one: nothing is created at its target
    let nowhere = dir.path().join("nowhere");
    let dangling = dir.path().join("dangling.rec");
    std::os::unix::fs::symlink(&nowhere, &dangling).expect("symlink");
    assert_refused(&record(&fake, &dangling), "symbolic link");
    assert!(!nowhere.exists());
    assert!(fake.calls().is_empty(), "refused before polling");
}

#[test]
fn record_creates_0600_and_appends_only_to_recordings() {
    let fake = FakeIptables::new("ok");
    let dir = tempfile::tempdir().expect("tmp");
    let rec = dir.path().join("new.rec");
    let out = record(&fake, &rec);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let meta = fs::metadata(&rec).expect("meta");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let first = fs::read_to_string(&rec).expect("read");
    assert!(first.starts_with("# iptop recording "), "{first}");

    // appending to it: a second session
    let out = record(&fake, &rec);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let both = fs::read_to_string(&rec).expect("read");
    assert!(both.starts_with(&first) && both.len() > first.len());
    assert_eq!(
        fs::metadata(&rec).expect("meta").permissions().mode() & 0o777,
        0o600
    );

    // an empty file is fine
    let empty = dir.path().join("empty.rec");
    fs::write(&empty, "").expect("write");
    assert!(record(&fake, &empty).status.success());

    // a file that is not a recording is left alone
    let other = dir.path().join("notes.txt");
    fs::write(&other, "my notes\n").expect("write");
    assert_refused(&record(&fake, &other), "not an iptop recording");
    assert_eq!(fs::read_to_string(&other).expect("read"), "my notes\n");

    // nor is anything but a regular file
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    assert_refused(&record(&fake, &fifo), "not a regular file");
    assert_refused(&record(&fake, dir.path()), "not a regular file");
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn record_refuses_another_users_file() {
    crate::common::require_root();
    let fake = FakeIptables::new("ok");
    let dir = tempfile::tempdir().expect("tmp");
    let rec = dir.path().join("theirs.rec");
    let good = dir.path().join("mine.rec");
    assert!(record(&fake, &good).status.success());
    let text = fs::read_to_string(&good).expect("read");
    fs::write(&rec, &text).expect("write");
    std::os::unix::fs::chown(&rec, Some(65534), Some(65534)).expect("chown");
    assert_refused(&record(&fake, &rec), "owned by another user");
    assert_eq!(fs::read_to_string(&rec).expect("read"), text);
    assert_eq!(fs::metadata(&rec).expect("meta").uid(), 65534);
}

#[test]
fn a_second_recorder_on_the_same_file_is_refused() {
    let fake = FakeIptables::new("ok");
    let dir = tempfile::tempdir().expect("tmp");
    let rec = dir.path().join("polls.rec");
    let mut first = iptop()
        .args([
            "--once",
            "--window",
            "3s",
            "--interval",
            "200ms",
            "--record",
        ])
        .arg(&rec)
        .env("PATH", fake.path_env())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("iptop");
    let end = Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(&rec).is_ok_and(|t| t.contains("@poll ")) {
        assert!(Instant::now() < end, "the first recorder never polled");
        thread::sleep(Duration::from_millis(20));
    }
    let out = record(&fake, &rec);
    assert_refused(&out, "another iptop is recording");
    let status = first.wait().expect("wait");
    assert!(status.success());
    // what the first one recorded replays whole: one session, polls in order
    let text = fs::read_to_string(&rec).expect("read");
    assert_eq!(text.matches("# iptop recording").count(), 1, "{text}");
    let seqs: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("@poll "))
        .map(|l| {
            l.split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("seq")
        })
        .collect();
    assert!(seqs.len() >= 10, "{seqs:?}");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    run_ok(Command::new(env!("CARGO_BIN_EXE_iptop")).args([
        "--replay",
        &rec.display().to_string(),
        "--once",
    ]));
}
