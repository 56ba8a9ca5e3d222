//! Files and programs others control: a hanging iptables, an `-o` FIFO or device
//! another user planted, the invoking user's config file reached under sudo.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::iptop;

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
        let out = common::run_ok(&mut cmd);
        let text = String::from_utf8_lossy(&out.stdout);
        let head = text.lines().next().unwrap_or_default();
        assert!(head.contains("iptables v1.8.9 (nf_tables)"), "{head}");
        if plain {
            assert!(head.contains(" nft "), "{head}");
        }
    }
}
