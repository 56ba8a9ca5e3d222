//! Native nftables tables in recordings and `--replay`: a recording made on a namespace
//! with native tables replays them with their counters; a pasted `nft list ruleset` (with
//! `-a` or without, with counters or none) shows its tables in the tree, JSON and the
//! path view, its hostile text escaped.

use serde_json::Value;

use crate::common::{Lab, hostile, iptop, run_ok};

const DOCKER29: &str = "tests/fixtures/nft/docker29-lab.txt";
const KUBE: &str = "tests/fixtures/nft/kube-proxy.txt";
const DNAT: &str =
    "iifname != \"bridge1\" tcp dport 8080 counter dnat to 192.0.2.2:80 comment \"DNAT\"";

fn json(out: &[u8]) -> Value {
    serde_json::from_slice(out).expect("json")
}

/// The rule of a native table whose text is `text`.
fn rule<'a>(doc: &'a Value, table: &str, text: &str) -> &'a Value {
    doc["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter(|t| t["name"] == table && t["kind"] == "nftables")
        .flat_map(|t| t["chains"].as_array().expect("chains"))
        .flat_map(|c| c["rules"].as_array().expect("rules"))
        .find(|r| r["text"] == text)
        .unwrap_or_else(|| panic!("no rule {text} in {doc}"))
}

fn replay(path: &str, args: &[&str]) -> std::process::Output {
    run_ok(
        iptop()
            .args(["--replay", path, "--once"])
            .args(args)
            .current_dir(crate::common::root()),
    )
}

#[test]
fn a_pasted_ruleset_shows_in_the_tree_json_and_path_view() {
    let doc = json(&replay(DOCKER29, &["--format", "json"]).stdout);
    let dnat = rule(&doc, "docker-bridges", DNAT);
    assert_eq!(
        (dnat["packets"].as_u64(), dnat["handle"].as_u64()),
        (Some(6), Some(25))
    );
    // the vmap rules have no counter: null, never 0
    let vmap = rule(
        &doc,
        "docker-bridges",
        "oifname vmap @filter-forward-in-jumps",
    );
    assert!(vmap["packets"].is_null(), "{vmap}");
    assert_eq!(
        vmap["jumps_to"],
        serde_json::json!(["filter-forward-in__docker0", "filter-forward-in__bridge1"])
    );
    // iptables-nft's `ip filter` in the paste is not a native table
    let tables: Vec<&str> = doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tables, ["docker-bridges", "filter"]);

    let text = String::from_utf8(replay(DOCKER29, &[]).stdout).unwrap();
    assert!(
        text.contains("table ip docker-bridges · nftables"),
        "{text}"
    );
    assert!(text.contains("filter-forward-in__bridge1"), "{text}");
    assert!(text.contains("no counter"), "{text}");

    let path = String::from_utf8(replay(DOCKER29, &["--view", "path"]).stdout).unwrap();
    let raw = path.find("raw-PREROUTING (policy").expect("raw-PREROUTING");
    let nat = path.find("nat-PREROUTING (policy").expect("nat-PREROUTING");
    assert!(raw < nat, "{path}");
}

#[test]
fn a_paste_without_handles_or_counters_has_no_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ruleset.txt");
    // `nft list ruleset` (no -a) as a user pastes it, after their prompt
    let text = std::fs::read_to_string(crate::common::root().join(KUBE)).unwrap();
    let bare: String = text
        .lines()
        .map(|l| l.split(" # handle ").next().unwrap_or(l).to_string() + "\n")
        .collect();
    std::fs::write(&p, format!("root@node:~# nft list ruleset\n{bare}")).unwrap();
    let doc = json(&replay(p.to_str().unwrap(), &["--format", "json"]).stdout);
    let rules: Vec<&Value> = doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["chains"].as_array().unwrap())
        .flat_map(|c| c["rules"].as_array().unwrap())
        .collect();
    assert!(rules.len() > 10);
    assert!(rules.iter().all(|r| r["packets"].is_null()), "{doc}");
    let dnat = rules
        .iter()
        .find(|r| r["text"] == "meta l4proto tcp dnat to 10.180.0.1:8080")
        .expect("the endpoint's dnat");
    assert_eq!(dnat["handle"].as_u64(), Some(0));
}

#[test]
fn hostile_text_in_a_pasted_ruleset_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("evil.txt");
    let h = hostile::HOSTILE;
    let c = hostile::CHAIN;
    std::fs::write(
        &p,
        format!(
            "table inet \"{c}\" {{\n\tchain input {{\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 22 counter packets 1 bytes 60 accept comment \"{h}\" # handle 3\n\t\tjump \"{c}\" # handle 4\n\t}}\n\tchain \"{c}\" {{\n\t\tcounter packets 2 bytes 120 drop comment \"{h}\"\n\t}}\n}}\n"
        ),
    )
    .unwrap();
    for args in [&[][..], &["--view", "path"], &["--format", "svg"]] {
        let out = replay(p.to_str().unwrap(), args);
        hostile::assert_clean(&format!("{args:?}"), &out.stdout);
        hostile::assert_clean(&format!("{args:?} stderr"), &out.stderr);
    }
    let out = replay(p.to_str().unwrap(), &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("pwned"));
}

/// The DNAT rule's packets in a `--format json` report.
fn dnat_packets(doc: &Value) -> u64 {
    rule(doc, "docker-bridges", DNAT)["packets"]
        .as_u64()
        .expect("the DNAT rule counts")
}

#[test]
#[ignore = "needs root: network namespaces, nft"]
fn a_recording_replays_native_tables_with_their_counters() {
    let lab = Lab::up_nft();
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("native.rec");
    let rec_s = rec.to_str().unwrap();
    let live = lab.once_during(
        &[
            "--once", "--window", "3s", "--format", "json", "--record", rec_s,
        ],
        || lab.curl(3),
    );
    let live = serde_json::from_str::<Value>(&live).expect("json");
    let recorded = std::fs::read_to_string(&rec).unwrap();
    assert!(recorded.starts_with("# iptop recording 3\n"), "{recorded}");
    assert!(recorded.matches("\n@native\n").count() >= 2, "{recorded}");
    assert!(recorded.contains("table ip docker-bridges {"), "{recorded}");

    let out = replay(rec_s, &["--window", "3s", "--format", "json"]);
    let replayed = json(&out.stdout);
    assert_eq!(dnat_packets(&replayed), dnat_packets(&live));
    let moved = rule(&replayed, "docker-bridges", DNAT)["delta_packets"]
        .as_u64()
        .expect("a delta");
    assert!(moved >= 3, "{replayed}");
    let vmap = rule(
        &replayed,
        "docker-bridges",
        "oifname vmap @filter-forward-in-jumps",
    );
    assert!(vmap["packets"].is_null());
    assert_eq!(vmap["jumps_to"].as_array().map(Vec::len), Some(2), "{vmap}");

    // --stream of the recording: each poll's native tables, the last with the counters
    // of the last poll
    let out = run_ok(iptop().args([
        "--replay",
        rec_s,
        "--stream",
        "-t",
        "filter",
        "-t",
        "docker-bridges",
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text
        .lines()
        .rfind(|l| l.contains("docker-bridges"))
        .expect("a snapshot with the native table");
    let last: Value = serde_json::from_str(last).expect("json");
    assert_eq!(dnat_packets(&last), dnat_packets(&live));
}

#[test]
fn the_svg_of_a_native_table_holds_its_chains_and_no_counter() {
    for args in [
        &["--format", "svg"][..],
        &["--format", "svg", "-t", "docker-bridges"],
    ] {
        let svg = String::from_utf8(replay(DOCKER29, args).stdout).unwrap();
        assert!(
            svg.starts_with("<svg") || svg.starts_with("<?xml"),
            "{args:?}"
        );
        for chain in [
            "filter-FORWARD",
            "filter-forward-in__bridge1",
            "nat-prerouting-and-output",
            "raw-PREROUTING",
        ] {
            assert!(svg.contains(chain), "{args:?}: no {chain}");
        }
        // the vmap rules have no counter: said, not 0
        assert!(svg.contains("no counter"), "{args:?}");
    }
}

#[test]
fn the_live_view_of_a_pasted_ruleset_opens_on_its_first_native_table() {
    let cmd = format!(
        "cd {} && {} --replay {DOCKER29}",
        crate::common::root().display(),
        env!("CARGO_BIN_EXE_iptop")
    );
    let tmux = crate::common::Tmux::start(&cmd, 160, 40);
    let s = tmux.wait_for(10, "the native table", |s| {
        s.contains("filter-forward-in__bridge1")
    });
    assert!(s.contains("iptop · ip docker-bridges · nftables"), "{s}");
    assert!(s.contains("no counter"), "{s}");
    tmux.keys(&["q"]);
}
