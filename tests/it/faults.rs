//! Faults of the source while the live view runs: a fake `iptables` (given with
//! `--iptables`) hangs, holds the xtables lock, warns, answers slowly and disappears.
//! The view stays live, keeps the last good snapshot, marks it STALE with the reason,
//! and recovers. Also: no zombie after 1000 polls, and only the child enters the
//! network namespace.

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use crate::common::{FakeIptables, Tmux};
use iptop::source::live::{BackendChoice, LiveConfig, LiveSource};
use iptop::source::{Failure, snapshot_from};

fn view_with(fake: &FakeIptables, extra: &str) -> Tmux {
    let cmd = format!(
        "{} --iptables {}/iptables {extra}",
        env!("CARGO_BIN_EXE_iptop"),
        fake.dir().display()
    );
    Tmux::start(&cmd, 120, 40)
}

fn status_line(s: &str) -> String {
    s.lines().last().unwrap_or("").to_string()
}

#[test]
fn the_view_survives_every_fault() {
    let fake = FakeIptables::new("ok");
    let tmux = view_with(&fake, "--timeout 2s -i 300ms");
    tmux.wait_for(10, "the first poll", |s| s.contains("DOCKER-INGRESS"));

    // hangs: killed at the timeout, the last snapshot stays, keys still work
    fake.set("hang");
    let s = tmux.wait_for(10, "the timeout", |s| s.contains("took longer than 2s"));
    assert!(s.contains("STALE"), "{s}");
    assert!(
        s.contains("DOCKER-INGRESS") && s.contains("tcp dpt:80"),
        "last snapshot kept:\n{s}"
    );
    tmux.keys(&["?"]);
    tmux.wait_for(5, "help while the poll hangs", |s| {
        s.contains("any key closes")
    });
    tmux.keys(&["Escape"]);

    // the xtables lock: reported, retried on the next tick
    fake.set("lock");
    let s = tmux.wait_for(10, "the lock", |s| s.contains("holds the xtables lock"));
    assert!(s.contains("STALE") && s.contains("retrying"), "{s}");

    // back to normal: the marker goes away
    fake.set("ok");
    tmux.wait_for(10, "recovery", |s| {
        !s.contains("STALE") && s.contains("DOCKER-INGRESS")
    });

    // a warning on stderr is shown, not parsed
    fake.set("warn");
    let s = tmux.wait_for(10, "the warning", |s| {
        status_line(s).contains("iptables-legacy tables present")
    });
    assert!(!s.contains("STALE"), "{s}");

    // permission denied
    fake.set("denied");
    tmux.wait_for(10, "permission denied", |s| s.contains("run iptop as root"));

    // an nft listing cut short by native rules: reported as incomplete, not shown as whole
    fake.set("nftnative");
    let s = tmux.wait_for(10, "incomplete listing", |s| s.contains("is incomplete"));
    assert!(
        s.contains("DOCKER-INGRESS"),
        "the last whole snapshot stays:\n{s}"
    );

    // slow answers: the interval stretches and the header says so
    fake.set("slow");
    tmux.wait_for(15, "a stretched interval", |s| s.contains("slow polls"));

    // the binary disappears, then comes back
    fake.set("ok");
    let path = fake.dir().join("iptables");
    let hidden = fake.dir().join("iptables.away");
    std::fs::rename(&path, &hidden).expect("hide");
    let s = tmux.wait_for(10, "the missing binary", |s| s.contains("not found"));
    assert!(s.contains("STALE"), "{s}");
    std::fs::rename(&hidden, &path).expect("restore");
    tmux.wait_for(10, "recovery", |s| {
        !s.contains("STALE") && s.contains("DOCKER-INGRESS")
    });

    tmux.keys(&["q"]);
    let s = tmux.wait_for(5, "exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
}

/// A live source on the fake, its back end known from its `--version` as iptop asks it.
fn source(
    rt: &tokio::runtime::Runtime,
    fake: &FakeIptables,
    netns: Option<String>,
    timeout: Duration,
) -> LiveSource {
    let mut src = LiveSource::new(LiveConfig {
        backend: BackendChoice::Auto,
        ipv6: false,
        netns,
        tables: vec!["filter".into()],
        timeout,
        binary: Some(fake.dir().join("iptables")),
    })
    .expect("source");
    rt.block_on(src.probe_version());
    src
}

/// Children of this process that are zombies.
fn zombies() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut z = Vec::new();
    for e in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 1 && f[1] == me && f[0] == "Z" {
            z.push(stat);
        }
    }
    z
}

#[test]
fn no_zombies_after_a_thousand_polls() {
    let fake = FakeIptables::new("ok");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let mut src = source(&rt, &fake, None, Duration::from_millis(300));
    let tables = vec!["filter".to_string()];
    for i in 0..1000 {
        // every hundredth poll hangs and is killed at the timeout
        fake.set(if i % 100 == 99 { "hang" } else { "ok" });
        let raw = rt.block_on(src.poll());
        let l = &raw.listings[0];
        if i % 100 == 99 {
            assert_eq!(
                l.failure,
                Some(Failure::Timeout(Duration::from_millis(300)))
            );
        } else {
            snapshot_from(&raw, &tables).unwrap_or_else(|e| panic!("poll {i}: {e}"));
        }
    }
    assert_eq!(zombies(), Vec::<String>::new(), "no child left unreaped");
    // a future dropped mid-poll (the view quit while iptables ran) reaps its child too
    fake.set("hang");
    rt.block_on(async {
        let _ = tokio::time::timeout(Duration::from_millis(100), src.poll()).await;
    });
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        zombies(),
        Vec::<String>::new(),
        "the cancelled poll's child was reaped"
    );
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn only_the_child_enters_the_namespace() {
    crate::common::require_root();
    let ns = format!("iptop-nscheck-{}", std::process::id());
    let ok = std::process::Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .expect("ip");
    assert!(ok.success());
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .status();
        }
    }
    let _del = Del(ns.clone());
    let target = std::fs::metadata(format!("/run/netns/{ns}"))
        .expect("netns")
        .ino();
    let mine = std::fs::metadata("/proc/self/ns/net").expect("ns").ino();
    assert_ne!(target, mine);

    // the fake reports the namespace it runs in on stderr
    let fake = FakeIptables::new("ok");
    std::fs::write(fake.dir().join("behaviour"), "ok").expect("behaviour");
    let wrapper = fake.dir().join("iptables-ns");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/bash\nstat -L -c 'netns %i' /proc/self/ns/net >&2\nexec {}/iptables \"$@\"\n",
            fake.dir().display()
        ),
    )
    .expect("wrapper");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let mut src = LiveSource::new(LiveConfig {
        backend: BackendChoice::Auto,
        ipv6: false,
        netns: Some(ns.clone()),
        tables: vec!["filter".into()],
        timeout: Duration::from_secs(5),
        binary: Some(wrapper),
    })
    .expect("source");
    rt.block_on(src.probe_version());
    for _ in 0..20 {
        let raw = rt.block_on(src.poll());
        let err = &raw.listings[0].stderr;
        assert!(
            err.contains(&format!("netns {target}")),
            "the child ran in the namespace: {err}"
        );
        // every thread of this process is still where it was
        for t in std::fs::read_dir("/proc/self/task")
            .expect("tasks")
            .flatten()
        {
            let ino = std::fs::metadata(t.path().join("ns/net"))
                .expect("task ns")
                .ino();
            assert_eq!(ino, mine, "thread {:?} left its namespace", t.file_name());
        }
    }
}
