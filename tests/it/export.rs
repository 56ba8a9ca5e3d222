//! Exports: every format from the swarm recording as an insta snapshot (times blanked),
//! --moved-only, and exports that cannot be written (read-only directory, full disk)
//! failing cleanly without touching what exists.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{iptop, run_ok};
use iptop::report::Format;
use iptop::source::DEMO;
use iptop::source::replay::ReplaySource;
use iptop::source::snapshot_from;
use iptop::ui::live_view::{Action, LiveView};
use iptop::ui::{ExportTo, export};
use serde_json::Value;

/// Blanks clocks and dates: `2026-11-26T12:45:51.100Z`, `12:45:51`.
fn blank_times(s: &str) -> String {
    let re = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z").expect("re");
    let s = re.replace_all(s, "YYYY-MM-DDTHH:MM:SSZ");
    let re = regex::Regex::new(r"\b\d\d:\d\d:\d\d\b").expect("re");
    re.replace_all(&s, "HH:MM:SS").into_owned()
}

fn demo_export(format: &str, extra: &[&str]) -> String {
    let out = run_ok(
        iptop()
            .args([
                "--demo", "--once", "--window", "2s", "-t", "filter", "-t", "nat", "--format",
                format,
            ])
            .args(extra),
    );
    blank_times(&String::from_utf8(out.stdout).expect("utf-8"))
}

#[test]
fn text_export() {
    insta::assert_snapshot!(demo_export("text", &[]));
}

#[test]
fn json_export() {
    let s = demo_export("json", &[]);
    let v: Value = serde_json::from_str(&s).expect("json");
    assert_eq!(v["window_ms"], 1999);
    insta::assert_snapshot!(s);
}

#[test]
fn svg_export() {
    let s = demo_export("svg", &[]);
    assert!(s.starts_with("<svg "), "{}", &s[..100]);
    assert!(s.trim_end().ends_with("</svg>"));
    // both tables are drawn, with the live view's colours
    for want in [
        "DOCKER-INGRESS",
        "PREROUTING",
        // the live view's NAT label: where the DNAT sends packets, whole
        "DNAT → 172.18.0.2:80",
        "#11a8cd",
    ] {
        assert!(s.contains(want), "{want}");
    }
    insta::assert_snapshot!(s);
}

#[test]
fn moved_only_keeps_parents() {
    let text = demo_export("text", &["--moved-only"]);
    for want in [
        "FORWARD (policy DROP)",
        "├─ DOCKER-USER",
        "│  └─ RETURN",
        "DOCKER-INGRESS",
        "tcp dpt:80",
    ] {
        assert!(text.contains(want), "{want} in\n{text}");
    }
    // (the packets FORWARD's policy drops went through `DOCKER * docker0`: it stays)
    for gone in [
        "DOCKER-ISOLATION-STAGE-2",
        "INPUT (policy ACCEPT)",
        "docker_gwbridge  docker_gwbridge",
    ] {
        assert!(!text.contains(gone), "{gone} in\n{text}");
    }
    let json = demo_export("json", &["--moved-only"]);
    let v: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["moved_only"], true);
    let mut rules = 0;
    for t in v["tables"].as_array().expect("tables") {
        for c in t["chains"].as_array().expect("chains") {
            for r in c["rules"].as_array().expect("rules") {
                assert!(r["delta_packets"].as_u64().expect("delta") > 0, "{r}");
                rules += 1;
            }
        }
    }
    assert!(rules >= 5, "{rules}");
    let filter = &v["tables"][0]["chains"];
    let names: Vec<&str> = filter
        .as_array()
        .expect("chains")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    // the chains the blocked connect crossed before FORWARD's policy dropped it too
    assert_eq!(
        names,
        [
            "FORWARD",
            "DOCKER",
            "DOCKER-INGRESS",
            "DOCKER-ISOLATION-STAGE-1",
            "DOCKER-USER"
        ]
    );
    insta::assert_snapshot!(text);
    // without a window nothing has moved: a usage error
    let out = iptop()
        .args(["--demo", "--once", "--moved-only"])
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(2));
}

fn demo_app() -> LiveView {
    let mut r = ReplaySource::from_text("demo", DEMO, None)
        .expect("demo")
        .with_kind(iptop::model::SourceKind::Demo);
    let mut app = LiveView::new(r.info().clone(), "filter", vec![], Duration::from_secs(1));
    for _ in 0..3 {
        let raw = r.next_poll().expect("poll");
        let s = snapshot_from(&raw, &["filter".into()]).expect("filter");
        app.on_snapshot("filter", Arc::new(s), false);
    }
    app
}

#[test]
fn export_key_writes_new_files_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let app = demo_app();
    let to = ExportTo {
        dir: dir.path().to_path_buf(),
        format: Format::Json,
    };
    let a = export(&app, &to).expect("first");
    let first = fs::read_to_string(&a).expect("read");
    let b = export(&app, &to).expect("second");
    assert_ne!(a, b, "a second export in the same second gets its own name");
    assert_eq!(
        fs::read_to_string(&a).expect("read"),
        first,
        "the first is untouched"
    );
    let v: Value = serde_json::from_str(&first).expect("json");
    assert_eq!(v["source"]["kind"], "demo");
    assert!(v["window_ms"].as_u64().is_some());
    assert!(
        a.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("iptop-filter-") && n.ends_with(".json"))
    );
}

#[test]
fn a_missing_export_dir_is_made_for_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let to = ExportTo {
        dir: dir.path().join("exports/iptop"),
        format: Format::Text,
    };
    let a = export(&demo_app(), &to).expect("export into a new directory");
    assert!(a.starts_with(fs::canonicalize(dir.path()).unwrap().join("exports/iptop")));
    for d in ["exports", "exports/iptop"] {
        let mode = fs::metadata(dir.path().join(d))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{d}: {mode:o}");
    }
    // a file where the directory should be: named in the error
    let file = dir.path().join("plain");
    fs::write(&file, "x").unwrap();
    let err = export(
        &demo_app(),
        &ExportTo {
            dir: file.join("sub"),
            format: Format::Text,
        },
    )
    .expect_err("not a directory");
    assert!(err.contains("plain/sub"), "{err}");
}

/// A tmpfs mounted with `opts`, unmounted when dropped.
struct Mount(tempfile::TempDir);

impl Mount {
    fn new(opts: &str) -> Mount {
        crate::common::require_root();
        let dir = tempfile::tempdir().expect("tmp");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount");
        assert!(ok.success(), "mount tmpfs {opts}");
        Mount(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn unwritable_and_full_directories_fail_cleanly() {
    let mut app = demo_app();
    let ro = Mount::new("ro,size=64k");
    let err = export(
        &app,
        &ExportTo {
            dir: ro.path().to_path_buf(),
            format: Format::Text,
        },
    )
    .expect_err("read-only");
    assert!(err.contains("Read-only file system"), "{err}");

    let full = Mount::new("size=8k");
    let err = export(
        &app,
        &ExportTo {
            dir: full.path().to_path_buf(),
            format: Format::Svg,
        },
    )
    .expect_err("full");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(
        fs::read_dir(full.path()).expect("dir").count(),
        0,
        "no partial or temporary file left"
    );

    // the live view says so and goes on
    let asked = app.apply(Action::Export);
    assert_eq!(asked.effects.len(), 1);

    // the command line too: exit 1, one line
    let out = iptop()
        .args(["--demo", "--once", "-o"])
        .arg(ro.path().join("x.txt"))
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("Read-only file system") && e.lines().count() == 1,
        "{e}"
    );
}
