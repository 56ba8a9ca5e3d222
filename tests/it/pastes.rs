//! Real pastes (tests/fixtures/pastes, their origins in its README) replayed with
//! `iptop --replay FILE --once`: each form read, or refused, as a user would meet it.

use std::process::Command;

use serde_json::Value;

use crate::common::{iptop, root, run_ok};

fn paste(name: &str) -> String {
    root()
        .join("tests/fixtures/pastes")
        .join(name)
        .display()
        .to_string()
}

fn json(name: &str, more: &[&str]) -> Value {
    let out = run_ok(
        iptop()
            .args(["--replay", &paste(name), "--once", "--format", "json"])
            .args(more),
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn text(name: &str, more: &[&str]) -> String {
    let out = run_ok(
        iptop()
            .args(["--replay", &paste(name), "--once"])
            .args(more),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn warnings(v: &Value) -> Vec<String> {
    v["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| w.as_str().expect("str").to_string())
        .collect()
}

fn chain<'a>(v: &'a Value, table: &str, name: &str) -> &'a Value {
    let t = v["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"] == table)
        .unwrap_or_else(|| panic!("no table {table}: {v}"));
    t["chains"]
        .as_array()
        .expect("chains")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no chain {name} in {table}"))
}

/// (packets, bytes) of each rule of a chain, in order.
fn counters(c: &Value) -> Vec<(u64, u64)> {
    c["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            (
                r["packets"].as_u64().expect("packets"),
                r["bytes"].as_u64().expect("bytes"),
            )
        })
        .collect()
}

#[test]
fn a_prompt_before_the_listing_is_skipped_and_named() {
    let v = json("prompt-tailscale.txt", &[]);
    assert_eq!(
        warnings(&v),
        ["skipped a shell prompt line in the paste (line 1)"]
    );
    let input = chain(&v, "filter", "INPUT");
    assert_eq!(input["policy"], "ACCEPT");
    assert_eq!(input["packets"], 14192);
    let fwd = chain(&v, "filter", "ts-forward");
    assert_eq!(counters(fwd), [(5596, 492_000), (5596, 492_000)]);
    let t = text("prompt-tailscale.txt", &[]);
    assert!(t.contains("warning: skipped a shell prompt line"), "{t}");
    assert!(t.contains("ts-input"), "{t}");
}

#[test]
fn text_after_the_listing_is_skipped_and_named() {
    let v = json("trailer-docker-for-linux288.txt", &[]);
    assert_eq!(
        warnings(&v),
        [
            "skipped a shell prompt line in the paste (line 23)",
            "skipped text after the listing in the paste (line 22)"
        ]
    );
    let iso = chain(&v, "filter", "DOCKER-ISOLATION");
    assert_eq!(counters(iso), [(1000, 84000)]);
}

#[test]
fn a_code_fence_and_the_prose_around_it_are_skipped() {
    let v = json("fence-ufw-moby15945.md", &[]);
    assert_eq!(
        warnings(&v),
        [
            "skipped a Markdown code fence in the paste (lines 5, 43)",
            "skipped text outside the code fence in the paste (lines 1, 3, 4)"
        ]
    );
    assert_eq!(chain(&v, "filter", "INPUT")["policy"], "DROP");
    assert_eq!(
        counters(chain(&v, "filter", "fail2ban-ssh")),
        [(293, 27823)]
    );
    // ```console with a `$ ` prompt inside: the nat table, from its chains
    let v = json("console-nat-moby8830.md", &[]);
    assert_eq!(v["tables"][0]["name"], "nat");
    let w = warnings(&v);
    assert!(w.iter().any(|w| w.contains("shell prompt line")), "{w:?}");
    let docker = chain(&v, "nat", "DOCKER");
    assert_eq!(counters(docker), [(0, 0), (4, 240)]);
}

#[test]
fn tabs_read_as_the_spaces_they_replace() {
    let tabs = json("tabs-tailscale.txt", &[]);
    let spaces = json("prompt-tailscale.txt", &[]);
    assert_eq!(tabs["tables"], spaces["tables"]);
    assert!(warnings(&tabs).is_empty(), "{tabs}");
}

#[test]
fn two_tables_in_one_paste_and_t_picks_among_them() {
    for f in ["two-tables-prompts.txt", "two-tables-bare.txt"] {
        let v = json(f, &[]);
        assert_eq!(v["tables"][0]["name"], "filter", "{f}");
        assert_eq!(
            counters(chain(&v, "filter", "FORWARD"))[0],
            (1000, 84000),
            "{f}"
        );
        let v = json(f, &["-t", "nat"]);
        assert_eq!(v["tables"][0]["name"], "nat", "{f}");
        assert_eq!(counters(chain(&v, "nat", "POSTROUTING")), [(6, 360)], "{f}");
        let out = iptop()
            .args(["--replay", &paste(f), "--once", "-t", "raw"])
            .output()
            .expect("spawn");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("holds no listing of table raw (it has: filter, nat)"),
            "{err}"
        );
        // the path view shows every table the paste holds
        let t = text(f, &["--view", "path"]);
        assert!(
            t.contains("filter FORWARD") && t.contains("nat PREROUTING"),
            "{t}"
        );
    }
}

#[test]
fn an_iptables_save_dump_without_counters_reads_and_says_so() {
    let v = json("save-algo296.txt", &[]);
    assert_eq!(v["tables"][0]["name"], "filter");
    let w = warnings(&v);
    assert!(
        w.iter().any(|w| w.starts_with("no counters in this paste")),
        "{w:?}"
    );
    let input = chain(&v, "filter", "INPUT");
    assert_eq!(
        (input["policy"].as_str(), input["packets"].as_u64()),
        (Some("DROP"), Some(3))
    );
    let extras: Vec<&str> = input["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["extra"].as_str().expect("extra"))
        .collect();
    assert_eq!(extras[1], "ctstate RELATED,ESTABLISHED");
    assert_eq!(extras[6], "tcp dpt:22 ctstate NEW");
    // a match iptop does not render: as the save line has it
    assert!(
        extras[4].contains("-m hashlimit --hashlimit-upto 5/sec"),
        "{extras:?}"
    );
    let v = json("save-algo296.txt", &["-t", "nat"]);
    assert_eq!(chain(&v, "nat", "PREROUTING")["packets"], 4);
}

#[test]
fn an_iptables_save_c_dump_carries_its_rules_counters() {
    let v = json("save-c-calico1129.txt", &["-t", "raw"]);
    assert!(warnings(&v).is_empty(), "{v}");
    let pre = chain(&v, "raw", "cali-PREROUTING");
    assert_eq!(counters(pre), [(1_108_328, 773_576_550), (0, 0)]);
    assert_eq!(
        pre["rules"][0]["extra"],
        "/* cali:VE1J3S_1t9q8GAsm */ mark match 0x0/0x4000000"
    );
    let v = json("save-c-calico1129.txt", &[]);
    assert_eq!(counters(chain(&v, "filter", "INPUT")), [(52110, 9_216_003)]);
}

#[test]
fn iptables_s_reads_without_counters() {
    let v = json("S-tailscale14900.txt", &[]);
    let w = warnings(&v);
    assert_eq!(w[0], "skipped a shell prompt line in the paste (line 1)");
    assert!(
        w.iter()
            .any(|w| w.contains("iptables-legacy tables present")),
        "{w:?}"
    );
    assert!(w.iter().any(|w| w.starts_with("no counters")), "{w:?}");
    assert_eq!(chain(&v, "filter", "FORWARD")["policy"], "DROP");
    let ts = chain(&v, "filter", "ts-forward");
    assert_eq!(ts["rules"][0]["extra"], "MARK xset 0x40000/0xff0000");
    assert_eq!(ts["rules"][1]["extra"], "mark match 0x40000/0xff0000");
}

#[test]
fn a_wrapped_paste_is_refused_with_how_to_paste_it() {
    for (f, line) in [
        ("wrapped-mailcow6977.txt", 4),
        ("wrapped80-tailscale.txt", 16),
    ] {
        let out = iptop()
            .args(["--replay", &paste(f), "--once"])
            .output()
            .expect("spawn");
        assert!(!out.status.success(), "{f}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "line {line}: the lines look wrapped at 80 columns"
            )) && err.contains("less -S"),
            "{f}: {err}"
        );
    }
}

#[test]
fn an_ip6tables_paste_reports_ipv6() {
    for (f, table) in [
        ("ip6-torutils4.txt", "filter"),
        ("ip6tables-save-openclash2810.txt", "nat"),
    ] {
        let v = json(f, &[]);
        assert_eq!(v["source"]["family"], "ipv6", "{f}");
        assert_eq!(v["tables"][0]["name"], table, "{f}");
        let t = text(f, &[]);
        assert!(
            t.lines().next().is_some_and(|l| l.ends_with("· ipv6")),
            "{t}"
        );
    }
    let v = json("ip6-torutils4.txt", &[]);
    assert_eq!(counters(chain(&v, "filter", "INPUT"))[4], (513, 159_000));
    let v = json("prompt-tailscale.txt", &[]);
    assert_ne!(v["source"]["family"], "ipv6");
}

/// A chain's name, policy counters and rule counters.
type ChainCounters = (String, u64, u64, Vec<(u64, u64)>);

/// A network namespace of the test's own, deleted when dropped (also on failure).
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        crate::common::require_root();
        let name = format!("iptpaste{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A save dump with counters loaded into a namespace, listed live, and its own
/// `iptables-save -c` replayed: the same counters, rule for rule.
#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn a_save_dump_replayed_equals_the_live_namespace() {
    let ns = Netns::new();
    let dump = root().join("tests/fixtures/iptables/docker-swarm.legacy.save-c.txt");
    let input = std::fs::File::open(&dump).expect("dump");
    run_ok(
        Command::new("ip")
            .args(["netns", "exec", &ns.0, "iptables-restore", "-c"])
            .stdin(input),
    );
    let saved = run_ok(Command::new("ip").args(["netns", "exec", &ns.0, "iptables-save", "-c"]));
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("save-c.txt");
    std::fs::write(&file, &saved.stdout).expect("write");
    let f = file.display().to_string();
    let mut rules = 0;
    for table in ["filter", "nat"] {
        let live: Value = serde_json::from_slice(
            &run_ok(iptop().args(["--netns", &ns.0, "--once", "--format", "json", "-t", table]))
                .stdout,
        )
        .expect("live json");
        let replay: Value = serde_json::from_slice(
            &run_ok(iptop().args(["--replay", &f, "--once", "--format", "json", "-t", table]))
                .stdout,
        )
        .expect("replay json");
        let chains = |v: &Value| -> Vec<ChainCounters> {
            v["tables"][0]["chains"]
                .as_array()
                .expect("chains")
                .iter()
                .map(|c| {
                    (
                        c["name"].as_str().expect("name").to_string(),
                        c["packets"].as_u64().expect("p"),
                        c["bytes"].as_u64().expect("b"),
                        counters(c),
                    )
                })
                .collect()
        };
        let (mut a, mut b) = (chains(&live), chains(&replay));
        a.sort();
        b.sort();
        assert_eq!(a, b, "table {table}");
        rules += a.iter().map(|c| c.3.len()).sum::<usize>();
    }
    assert!(rules >= 20, "{rules}");
}

/// A kube-proxy node's nat table as text: KUBE-MARK-MASQ (one MARK rule, 11 jumps) is said
/// on each jump (`→ MARK or 0x4000`) instead of a `→ see` row under each; chain notes are
/// listed once under the table, each row naming its note by number.
#[test]
fn kube_nat_text_without_mark_noise_and_notes_under_the_table() {
    let out = run_ok(iptop().current_dir(root()).args([
        "--replay",
        "tests/fixtures/pastes/kube-nodeport-qifangsu.txt",
        "--once",
        "-t",
        "nat",
    ]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("KUBE-MARK-MASQ → see"), "{text}");
    // 11 references: one shows the chain's MARK rule, the other 10 say what it does
    assert_eq!(
        text.matches("KUBE-MARK-MASQ ×11 → MARK or 0x4000").count(),
        10,
        "{text}"
    );
    assert_eq!(
        text.matches("├─ MARK ").count() + text.matches("└─ MARK ").count(),
        2,
        "{text}"
    );
    // other shared chains still point to where they are shown
    assert!(
        text.contains("KUBE-SVC-R2VK7O5AFVLRAXSH → see OUTPUT › KUBE-SERVICES › rule 4"),
        "{text}"
    );
    // notes: no paragraph on a row, each listed once under the table
    assert!(!text.contains("  # "), "{text}");
    let notes: Vec<&str> = text.lines().skip_while(|l| *l != "notes").skip(1).collect();
    assert!(notes.len() >= 5, "{text}");
    for (i, n) in notes.iter().enumerate() {
        let mark = format!("[{}]", i + 1);
        assert!(n.trim_start().starts_with(&mark), "{n}");
        assert_eq!(
            text.matches(&format!("  {mark}\n")).count(),
            1,
            "{mark} once on a row: {text}"
        );
    }
    assert!(
        notes
            .iter()
            .any(|n| n.contains("kube-proxy: Sets mark 0x4000")),
        "{text}"
    );
    for n in &notes {
        let (_, body) = n.split_once("] ").unwrap();
        assert_eq!(text.matches(body).count(), 1, "said once: {body}");
    }
}

/// A Calico node's dump: its note says `Calico` once.
#[test]
fn calico_note_says_its_label_once() {
    let out = run_ok(iptop().current_dir(root()).args([
        "--replay",
        "tests/fixtures/pastes/save-c-calico1129.txt",
        "--once",
    ]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("] Calico: Network policy for pods"), "{text}");
    assert!(!text.contains("Calico: Calico"), "{text}");
}
