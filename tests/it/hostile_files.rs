//! Files and programs others control: a hanging iptables, an `-o` FIFO or device
//! another user planted, the invoking user's config file reached under sudo.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::iptop;

/// A directory with fake `iptables`, `iptables-nft` and `iptables-legacy` that run
/// `body` (a shell script) for every call, `--version` included.
fn fake_iptables(body: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["iptables", "iptables-nft", "iptables-legacy"] {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write fake");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    dir
}

fn path_with(dir: &Path) -> String {
    format!("{}:/usr/bin:/bin", dir.display())
}

/// An iptables that never answers, not even `--version`: the one-shot export reports it
/// within one timeout (the version questions run beside the listing), not one timeout
/// per version asked and then the listing's (15 s with both back ends).
#[test]
fn a_hanging_iptables_is_reported_within_one_timeout() {
    let fake = fake_iptables("exec sleep 300");
    let start = Instant::now();
    let out = iptop()
        .args(["--once", "--source", "iptables", "--timeout", "5s"])
        .env("PATH", path_with(fake.path()))
        .output()
        .expect("run");
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("took longer than 5s"), "{err}");
    eprintln!("a hanging iptables reported after {took:?}");
    assert!(
        took < Duration::from_secs(7),
        "reported after {took:?}, more than one 5 s timeout"
    );
}

/// The version asked in the background still reaches the export's header.
#[test]
fn the_version_asked_beside_the_listing_is_shown() {
    let fake = fake_iptables(
        r#"if [ "$1" = --version ]; then echo "iptables v1.8.9 (nf_tables)"; exit 0; fi
printf 'Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\nnum pkts bytes target prot opt in out source destination\n'"#,
    );
    for plain in [false, true] {
        let mut cmd = iptop();
        cmd.args(["--once", "--source", "iptables"])
            .env("PATH", path_with(fake.path()));
        if plain {
            // a plain iptables: its back end is known only from its version
            cmd.arg("--iptables").arg(fake.path().join("iptables"));
        }
        let out = crate::common::run_ok(&mut cmd);
        let text = String::from_utf8_lossy(&out.stdout);
        let head = text.lines().next().unwrap_or_default();
        assert!(head.contains("iptables v1.8.9 (nf_tables)"), "{head}");
        if plain {
            assert!(head.contains(" nft "), "{head}");
        }
    }
}

/// Runs `cmd` for at most `secs`: its output, or None when it had to be killed.
fn run_within(cmd: &mut std::process::Command, secs: u64) -> Option<std::process::Output> {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if child.try_wait().expect("wait").is_some() {
            return Some(child.wait_with_output().expect("output"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A directory anyone may create in, as /tmp: mode 1777.
fn sticky_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    dir
}

const NOBODY: u32 = 65534;

fn refused_in_one_line(out: &std::process::Output, says: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(says), "{err}");
    assert!(out.stdout.is_empty(), "nothing on stdout either");
}

/// `-o` names a FIFO another user made in a sticky directory, with its reader waiting:
/// refused, and the reader gets nothing.
#[test]
#[ignore = "needs root: network namespaces"]
fn another_users_fifo_gets_nothing() {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = sticky_dir();
    let fifo = dir.path().join("fw.json");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622)).expect("mkfifo");
    nix::unistd::chown(&fifo, Some(nix::unistd::Uid::from_raw(NOBODY)), None).expect("chown");
    // the other user's reader, already waiting
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(&fifo)
        .expect("reader");
    for mode in [&["--once"][..], &["--stream", "--count", "1"][..]] {
        let out = run_within(
            iptop()
                .args(["--demo", "--format", "json", "-o"])
                .arg(&fifo)
                .args(mode),
            10,
        )
        .expect("iptop ended");
        refused_in_one_line(&out, "owned by uid 65534");
        let mut got = Vec::new();
        let _ = reader.read_to_end(&mut got);
        assert!(
            got.is_empty(),
            "{mode:?}: the reader got {} bytes",
            got.len()
        );
    }
    // nor through a link that user planted to a device
    let link = dir.path().join("fw.txt");
    std::os::unix::fs::symlink("/dev/null", &link).expect("symlink");
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        &link,
        Some(nix::unistd::Uid::from_raw(NOBODY)),
        None,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .expect("lchown");
    let out =
        run_within(iptop().args(["--demo", "--once", "-o"]).arg(&link), 10).expect("iptop ended");
    refused_in_one_line(&out, "symbolic link owned by uid 65534");
}

/// Root's own FIFO that nobody reads: a clear error within about a second, never a
/// hang; with its reader it is written into as before.
#[test]
#[ignore = "needs root: network namespaces"]
fn a_fifo_without_reader_is_an_error_not_a_hang() {
    let dir = sticky_dir();
    let fifo = dir.path().join("fw.json");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let start = Instant::now();
    let out = run_within(iptop().args(["--demo", "--once", "-o"]).arg(&fifo), 10)
        .expect("iptop must not hang on a FIFO without reader");
    let took = start.elapsed();
    eprintln!("no reader: refused after {took:?}");
    refused_in_one_line(&out, "nobody reads");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read fifo"))
    };
    let out = run_within(
        iptop()
            .args(["--demo", "--once", "--format", "json", "-o"])
            .arg(&fifo),
        10,
    )
    .expect("iptop ended");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(reader.join().expect("reader").contains("\"version\": 1"));
}

const USER: u32 = 4242;
const OTHER: u32 = 4343;

fn chown(p: &Path, uid: u32) {
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        p,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(uid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .expect("chown");
}

/// A home of uid [`USER`] in a directory of root's, with `.config/iptop` made: the
/// tempdir and the home's path.
fn user_home() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let top = tempfile::tempdir().expect("tmp");
    std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let home = top.path().join("home");
    let dir = home.join(".config/iptop");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for d in [&home, &home.join(".config"), &dir] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        chown(d, USER);
    }
    (top, home)
}

/// iptop as `sudo -E` runs it: root, with the user's HOME and the SUDO_ variables.
fn under_sudo_e(home: &Path) -> std::process::Command {
    let mut cmd = iptop();
    cmd.args(["--demo", "--once"])
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", home)
        .env("SUDO_UID", USER.to_string())
        .env("SUDO_GID", USER.to_string())
        // a user whose own home has no config: only HOME's file counts
        .env("SUDO_USER", "nobody");
    cmd
}

/// `sudo -E` keeps the user's HOME: their config file there is read, as it is when
/// found through SUDO_USER (it was refused as "not root's").
#[test]
#[ignore = "needs root: network namespaces"]
fn the_users_config_is_read_under_sudo_e() {
    let (_top, home) = user_home();
    let file = home.join(".config/iptop/config.toml");
    std::fs::write(&file, "tables = [\"nat\"]\n").expect("write");
    chown(&file, USER);
    let out = crate::common::run_ok(&mut under_sudo_e(&home));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("table nat"), "{text}");
}

/// Under sudo the user's config path is walked, not followed: a link to a FIFO (or a
/// device) is refused before it is opened, a link to a root-only file is refused and
/// nothing of it shown, a directory of another user's on the way is refused. Each is
/// one line naming the file, and the content never appears.
#[test]
#[ignore = "needs root: network namespaces"]
fn a_planted_config_is_refused_unopened_and_unread() {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let refused = |home: &Path, says: &str| {
        let out = run_within(&mut under_sudo_e(home), 10).expect("iptop ended");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("config.toml") && err.contains(says), "{err}");
        assert!(!err.contains("hunter2"), "content shown: {err}");
        assert!(out.stdout.is_empty());
    };
    // a link to a FIFO: opening it would wake the writer waiting on it
    let (top, home) = user_home();
    let file = home.join(".config/iptop/config.toml");
    let fifo = home.join(".config/iptop/fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
    chown(&fifo, USER);
    std::os::unix::fs::symlink(&fifo, &file).expect("symlink");
    chown(&file, USER);
    let (tx, rx) = std::sync::mpsc::channel();
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let f = std::fs::OpenOptions::new().write(true).open(&fifo);
            let _ = tx.send(());
            drop(f);
        })
    };
    refused(&home, "symbolic link");
    std::thread::sleep(Duration::from_millis(100));
    assert!(rx.try_recv().is_err(), "iptop opened the FIFO");
    // let the writer go
    let release = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(&fifo);
    writer.join().expect("writer");
    drop(release);
    // a link to /dev/null (a device), then to a file only root may read
    std::fs::remove_file(&file).expect("rm");
    std::os::unix::fs::symlink("/dev/null", &file).expect("symlink");
    chown(&file, USER);
    refused(&home, "symbolic link");
    let secret = top.path().join("shadow");
    std::fs::write(&secret, "hunter2 = \"root's secret\"\n").expect("write");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::remove_file(&file).expect("rm");
    std::os::unix::fs::symlink(&secret, &file).expect("symlink");
    chown(&file, USER);
    refused(&home, "symbolic link");
    // a directory on the way that another user owns (the file itself root's)
    std::fs::remove_file(&file).expect("rm");
    std::fs::write(&file, "hunter2 = 1\n").expect("write");
    chown(&home.join(".config"), OTHER);
    refused(&home, "owned by uid 4343");
    // or that anyone may write to
    chown(&home.join(".config"), USER);
    std::fs::set_permissions(home.join(".config"), std::fs::Permissions::from_mode(0o777))
        .expect("chmod");
    refused(&home, "writable by group or others");
}
