//! The processes iptop starts and the files it opens to start them: a timed-out
//! iptables is killed with its own children, an iptop killed outright takes its
//! iptables along, `--netns` never blocks on what it opens and names the true reason,
//! and only absolute PATH entries are searched for iptables.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{FakeIptables, iptop};
use iptop::source::Failure;
use iptop::source::live::{BackendChoice, LiveConfig, LiveSource};

fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "#!/bin/bash\nif [ \"$1\" = --version ]; then echo 'iptables v1.8.9 (nf_tables)'; exit 0; fi\n{body}\n"
        ),
    )
    .expect("write script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_dead(pid: i32, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if !alive(pid) {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

fn read_pid(path: &Path, secs: u64) -> i32 {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(p) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return p;
        }
        assert!(Instant::now() < end, "{} never written", path.display());
        thread::sleep(Duration::from_millis(20));
    }
}

/// Kills a process the test left behind, whatever the outcome.
struct Reap(Vec<i32>);

impl Drop for Reap {
    fn drop(&mut self) {
        for &p in &self.0 {
            if alive(p) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

#[test]
fn a_timed_out_iptables_is_killed_with_its_children() {
    let dir = tempfile::tempdir().expect("tmp");
    let kid = dir.path().join("kid.pid");
    // named for its back end: a plain `iptables` would first be asked its version
    let bin = script(
        dir.path(),
        "iptables-nft",
        &format!("sleep 300 &\necho $! > {}\nwait", kid.display()),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let mut src = LiveSource::new(LiveConfig {
        backend: BackendChoice::Auto,
        ipv6: false,
        netns: None,
        tables: vec!["filter".into()],
        timeout: Duration::from_millis(500),
        binary: Some(bin),
    })
    .expect("source");
    let raw = rt.block_on(src.poll());
    assert_eq!(
        raw.listings[0].failure,
        Some(Failure::Timeout(Duration::from_millis(500)))
    );
    let pid = read_pid(&kid, 5);
    let _reap = Reap(vec![pid]);
    assert!(
        wait_dead(pid, 5),
        "the child iptables started (pid {pid}) outlived the timeout"
    );
}

#[test]
fn iptop_killed_outright_takes_its_iptables_along() {
    let dir = tempfile::tempdir().expect("tmp");
    let me = dir.path().join("iptables.pid");
    let bin = script(
        dir.path(),
        "iptables",
        &format!("echo $$ > {}\nexec sleep 300", me.display()),
    );
    let mut child = iptop()
        .args(["--once", "--timeout", "60s", "--iptables"])
        .arg(&bin)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("iptop");
    let pid = read_pid(&me, 10);
    let _reap = Reap(vec![pid]);
    assert!(alive(pid));
    child.kill().expect("kill iptop");
    child.wait().expect("wait");
    assert!(
        wait_dead(pid, 5),
        "iptables (pid {pid}) outlived the iptop that started it"
    );
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs iptop, killing it if it has not ended after `secs`.
fn run_bounded(cmd: &mut Command, secs: u64) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("iptop");
    let end = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{cmd:?} still running after {secs}s: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn netns_that_is_not_a_network_namespace_says_so_without_blocking() {
    let fake = FakeIptables::new("ok");
    let dir = tempfile::tempdir().expect("tmp");
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let fifo_s = fifo.display().to_string();
    for spec in [
        fifo_s.as_str(),
        "/proc/1/ns/pid",
        "/proc/self/ns/uts",
        "/dev/null",
        "/tmp",
    ] {
        let out = run_bounded(
            iptop()
                .args(["--once", "--netns", spec])
                .env("PATH", fake.path_env()),
            10,
        );
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{spec}: {err}");
        assert_eq!(err.lines().count(), 1, "{spec}: one line: {err}");
        assert!(
            err.contains("is not a network namespace"),
            "{spec}: the true reason: {err}"
        );
        assert!(!err.contains("run iptop as root"), "{spec}: {err}");
    }
    assert!(fake.calls().is_empty(), "nothing was listed");
}

#[test]
fn only_absolute_path_entries_are_searched() {
    // an `iptables` in the working directory, reachable through an empty or a
    // relative PATH entry
    let fake = FakeIptables::new("ok");
    for path in ["", ":/nonexistent", "/nonexistent::", ".", "./"] {
        let out = iptop()
            .args(["--once"])
            .current_dir(fake.dir())
            .env("PATH", path)
            .output()
            .expect("iptop");
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "PATH={path:?}: {err}");
        assert!(
            err.contains("`iptables` not found on PATH"),
            "PATH={path:?}: {err}"
        );
        assert!(
            fake.calls().is_empty(),
            "PATH={path:?} ran ./iptables from the working directory"
        );
    }
    // the same directory given absolutely is used
    let out = iptop()
        .args(["--once"])
        .env("PATH", fake.dir())
        .output()
        .expect("iptop");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!fake.calls().is_empty());
}
