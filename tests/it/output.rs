//! Where output goes and how it looks: `-o -`, devices and FIFOs, directories, options
//! that need --once or --stream, `--color`, `NO_COLOR`, `--ascii`, and the config file.

use std::fs;
use std::process::Output;

use crate::common::{FakeIptables, Tmux, iptop, run_ok};
use serde_json::Value;

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A usage error: exit 2, one line, naming `what`.
fn assert_usage(out: &Output, what: &str) {
    let e = stderr_of(out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains(what), "{what} not in: {e}");
}

#[test]
fn dash_is_stdout_and_devices_need_no_force() {
    let out = run_ok(iptop().args(["--demo", "--once", "--format", "json", "-o", "-"]));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["version"], 1);
    let dir = tempfile::tempdir().expect("tmp");
    let here = run_ok(
        iptop()
            .current_dir(dir.path())
            .args(["--demo", "--once", "-o", "-"]),
    );
    assert!(String::from_utf8_lossy(&here.stdout).contains("FORWARD"));
    assert!(!dir.path().join("-").exists(), "no file named -");

    let out = run_ok(iptop().args(["--demo", "--once", "-o", "/dev/null"]));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    use std::os::unix::fs::FileTypeExt;
    assert!(
        fs::metadata("/dev/null")
            .expect("meta")
            .file_type()
            .is_char_device()
    );
    // /dev/stdout is a link to the pipe: written into, not replaced
    let out = run_ok(iptop().args(["--demo", "--once", "--format", "json", "-o", "/dev/stdout"]));
    assert!(serde_json::from_slice::<Value>(&out.stdout).is_ok());

    // a FIFO, without --force
    let fifo = dir.path().join("pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read_to_string(fifo).expect("read fifo"))
    };
    run_ok(
        iptop()
            .args(["--demo", "--once", "--format", "json", "-o"])
            .arg(&fifo),
    );
    assert!(reader.join().expect("reader").contains("\"version\": 1"));
}

#[test]
fn a_directory_is_one_clear_error_and_files_stay_safe() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = iptop()
        .args(["--demo", "--once", "-o"])
        .arg(dir.path())
        .output()
        .expect("iptop");
    let e = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("is a directory"), "{e}");
    assert!(!e.contains("file exists"), "{e}");
    assert_eq!(fs::read_dir(dir.path()).expect("dir").count(), 0);

    // a new regular file: 0600, never replaced without --force
    let f = dir.path().join("t.json");
    run_ok(
        iptop()
            .args(["--demo", "--once", "--format", "json", "-o"])
            .arg(&f),
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&f).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    let out = iptop()
        .args(["--demo", "--once", "-o"])
        .arg(&f)
        .output()
        .expect("iptop");
    assert!(stderr_of(&out).contains("--force"), "{}", stderr_of(&out));
}

#[test]
fn output_options_without_once_or_stream_are_usage_errors() {
    let out = iptop()
        .args(["--demo", "-o", "x.json"])
        .output()
        .expect("iptop");
    assert_usage(&out, "-o needs --once or --stream");
    let out = iptop()
        .args(["--demo", "--moved-only"])
        .output()
        .expect("iptop");
    assert_usage(&out, "--moved-only needs --once or --stream");
    let out = iptop()
        .args(["--demo", "--once", "--force"])
        .output()
        .expect("iptop");
    assert_usage(&out, "--force needs -o");
    let out = iptop().args(["--count", "3"]).output().expect("iptop");
    assert_usage(&out, "--stream");
    let out = iptop()
        .args(["--stream", "--demo", "--format", "svg"])
        .output()
        .expect("iptop");
    assert_usage(&out, "--stream prints JSON");
    let out = iptop()
        .args(["--listen", "127.0.0.1:1", "--format", "json"])
        .output()
        .expect("iptop");
    assert_usage(&out, "--format does not apply to --listen");
}

#[test]
fn color_never_and_no_color_have_no_escape_byte() {
    let base = ["--demo", "--once", "--window", "2s", "-t", "filter"];
    let always = run_ok(iptop().args(base).args(["--color", "always"]));
    assert!(always.stdout.contains(&0x1b), "--color always colours");
    let text = String::from_utf8_lossy(&always.stdout);
    assert!(
        text.contains("\x1b[32mACCEPT") || text.contains("\x1b[1;31mDROP"),
        "{text}"
    );
    let never = run_ok(iptop().args(base).args(["--color", "never"]));
    assert!(!never.stdout.contains(&0x1b));
    let no_color = run_ok(iptop().args(base).env("NO_COLOR", "1"));
    assert!(!no_color.stdout.contains(&0x1b));
    // the same text once the escapes are taken out
    let stripped = regex::bytes::Regex::new("\x1b\\[[0-9;]*m")
        .expect("re")
        .replace_all(&always.stdout, &b""[..])
        .into_owned();
    let plain = |o: &Output| {
        // taken_at differs between runs
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .skip(2)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let strip_out = Output {
        stdout: stripped,
        ..always.clone()
    };
    assert_eq!(plain(&strip_out), plain(&never));
    // colour-blind theme: DROP also bold and underlined, ACCEPT blue
    let cb = run_ok(
        iptop()
            .args(base)
            .args(["--color", "always", "--theme", "colorblind"]),
    );
    let cb = String::from_utf8_lossy(&cb.stdout);
    assert!(cb.contains("\x1b[38;5;33mACCEPT"), "{cb}");
    assert!(
        !cb.contains("\x1b[32m"),
        "no green in the colour-blind theme"
    );
    // and verdicts marked as in the live view, on the tree's last stroke
    assert!(cb.contains("├✓ \x1b[0m\x1b[38;5;33mACCEPT"), "{cb}");
    assert!(cb.contains("└✗ \x1b[0mpolicy DROP"), "{cb}");
    // without colour, no mark
    assert!(!String::from_utf8_lossy(&never.stdout).contains('✓'));
}

#[test]
fn ascii_tree_lines() {
    let out = run_ok(iptop().args(["--demo", "--once", "--ascii", "--color", "never"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("|- DOCKER-USER"), "{text}");
    assert!(text.contains("`- "), "{text}");
    for c in ['│', '├', '└', '─'] {
        assert!(!text.contains(c), "{c} in {text}");
    }
}

/// `--ascii` text is ASCII through and through: the tree, the headers (`Δ`, `·`), the
/// pointers (`→ see A › B`), outside text (a comment in Chinese, a right-to-left
/// override), in every view and with the colour-blind marks.
#[test]
fn ascii_once_is_pure_ascii() {
    let dir = tempfile::tempdir().expect("tmp");
    let paste = dir.path().join("unicode.txt");
    std::fs::write(
        &paste,
        "Chain INPUT (policy DROP 3 packets, 180 bytes)\n pkts bytes target     prot opt in     out     source               destination\n    5   300 ACCEPT     tcp  --  *      *       0.0.0.0/0            0.0.0.0/0            /* 防火墙 ≈ \u{202e}evil */ tcp dpt:22\n",
    )
    .unwrap();
    let runs: [&[&str]; 6] = [
        &["--demo", "--once", "--window", "1s"],
        &["--demo", "--once", "--view", "path"],
        &["--demo", "--once", "--view", "services"],
        &[
            "--demo",
            "--once",
            "--color",
            "always",
            "--theme",
            "colorblind",
        ],
        &["--replay", paste.to_str().unwrap(), "--once"],
        &[
            "--replay",
            "tests/fixtures/pastes/kube-nodeport-qifangsu.txt",
            "--once",
        ],
    ];
    for args in runs {
        let out = run_ok(
            iptop()
                .current_dir(crate::common::root())
                .args(args)
                .arg("--ascii"),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.len() > 100, "{args:?}: {text}");
        let bad: Vec<char> = text.chars().filter(|c| !c.is_ascii()).collect();
        assert!(bad.is_empty(), "{args:?}: {bad:?} in {text}");
    }
}

/// The live view on a fake iptables, with the config file `cfg` (and more options).
fn live(fake: &FakeIptables, cfg: &std::path::Path, extra: &str) -> Tmux {
    let cmd = format!(
        "{} --iptables {}/iptables --config {} {extra}",
        env!("CARGO_BIN_EXE_iptop"),
        fake.dir().display(),
        cfg.display()
    );
    Tmux::start(&cmd, 120, 40)
}

#[test]
fn config_interval_shows_in_the_header_and_flags_override_it() {
    let fake = FakeIptables::new("ok");
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("config.toml");
    fs::write(
        &cfg,
        "interval = \"3s\"\ntheme = \"colorblind\"\nascii = true\n",
    )
    .expect("write");
    let t = live(&fake, &cfg, "");
    let s = t.wait_for(10, "every 3s", |s| s.contains("every 3s"));
    assert!(
        s.contains("|-") && !s.contains('├'),
        "ascii from the config:\n{s}"
    );
    assert!(
        s.contains("ACCEPT +") || s.contains("DROP x"),
        "verdict marks:\n{s}"
    );
    drop(t);
    let t = live(&fake, &cfg, "-i 1s");
    t.wait_for(10, "every 1s", |s| s.contains("every 1s"));
    drop(t);

    // a bad file: one line naming the key, exit 2, before anything runs
    fs::write(&cfg, "interval = \"soon\"\n").expect("write");
    let out = iptop()
        .args(["--demo", "--once", "--config"])
        .arg(&cfg)
        .output()
        .expect("iptop");
    let e = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("interval") && e.contains("soon"), "{e}");
    // --config names a file that must be there; the default one may be missing
    let out = iptop()
        .args(["--demo", "--once", "--config"])
        .arg(dir.path().join("missing.toml"))
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let empty = tempfile::tempdir().expect("tmp");
    run_ok(
        iptop()
            .args(["--demo", "--once"])
            .env("XDG_CONFIG_HOME", empty.path())
            .env_remove("SUDO_USER"),
    );
}

#[test]
fn config_tables_and_the_sudo_users_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let xdg = dir.path().join("xdg");
    fs::create_dir_all(xdg.join("iptop")).expect("mkdir");
    fs::write(xdg.join("iptop/config.toml"), "tables = [\"nat\"]\n").expect("write");
    let out = run_ok(
        iptop()
            .args(["--demo", "--once", "--format", "json"])
            .env("XDG_CONFIG_HOME", &xdg)
            .env_remove("SUDO_USER"),
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["tables"][0]["name"], "nat");
    // group-writable: refused with one line
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(
        xdg.join("iptop/config.toml"),
        fs::Permissions::from_mode(0o664),
    )
    .expect("chmod");
    let out = iptop()
        .args(["--demo", "--once"])
        .env("XDG_CONFIG_HOME", &xdg)
        .env_remove("SUDO_USER")
        .output()
        .expect("iptop");
    assert!(
        stderr_of(&out).contains("writable by group or others"),
        "{}",
        stderr_of(&out)
    );
}
