//! Native nftables tables on a real Docker 29 nftables host (tests/lab/nft-docker29.sh):
//! Docker's `ip docker-bridges` table in `--once` text and JSON, with real traffic
//! through its verdict maps, DNAT and accept rules.

use serde_json::Value;

use crate::common::Lab;

/// The row of the text export whose MATCH column ends with `text`.
fn row<'a>(out: &'a str, text: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_end().ends_with(text))
        .unwrap_or_else(|| panic!("no row for {text} in:\n{out}"))
}

/// The first number of a row (its ΔPKTS column).
fn delta(row: &str) -> u64 {
    row.split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no delta in {row}"))
}

const DNAT: &str =
    "iifname != \"bridge1\" tcp dport 8080 counter dnat to 192.0.2.2:80 comment \"DNAT\"";
const ACCEPT: &str = "ip daddr 192.0.2.2 tcp dport 80 counter accept";

#[test]
#[ignore = "needs root: network namespaces, nft"]
fn docker29_text_moves_and_follows_vmaps() {
    let lab = Lab::up_nft();
    // an iptables rule beside Docker's native table, made by iptables-nft
    lab.host_cmd(&[
        "iptables-nft",
        "-A",
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        "9",
        "-j",
        "ACCEPT",
    ]);
    let out = lab.once_during(&["--once", "--window", "3s"], || lab.curl(5));
    assert!(delta(row(&out, DNAT)) >= 5, "{out}");
    assert!(delta(row(&out, ACCEPT)) >= 5, "{out}");
    // Docker's vmap rules count nothing: no numbers, never 0
    let vmap = row(&out, "oifname vmap @filter-forward-in-jumps");
    assert!(vmap.contains("no counter"), "{vmap}");
    // filter-forward-in__bridge1 hangs under filter-FORWARD, through the map's element
    let lines: Vec<&str> = out.lines().collect();
    let at = |p: &dyn Fn(&str) -> bool| lines.iter().position(|l| p(l)).expect("row");
    let fwd = at(&|l| l.starts_with("filter-FORWARD (policy accept)"));
    let map = at(&|l| l.contains("├─ @filter-forward-in-jumps"));
    let branch = at(&|l| l.contains("\"bridge1\" → filter-forward-in__bridge1"));
    let accept = at(&|l| l.trim_end().ends_with(ACCEPT));
    assert!(fwd < map && map < branch && branch < accept, "{out}");
    assert!(
        lines[branch].starts_with("│  ├─ filter-forward-in__bridge1"),
        "{}",
        lines[branch]
    );
    assert!(
        lines[accept].starts_with("│  │  ├─ accept"),
        "{}",
        lines[accept]
    );
    // the iptables rule keeps its own table, as iptables shows it
    assert!(out.contains("table filter · nft"), "{out}");
    assert!(out.contains("tcp dpt:9"), "{out}");
    assert!(out.contains("table ip docker-bridges · nftables"), "{out}");
}

#[test]
#[ignore = "needs root: network namespaces, nft"]
fn docker29_json_moves_and_says_null() {
    let lab = Lab::up_nft();
    let out = lab.once_during(
        &[
            "--once",
            "--window",
            "3s",
            "--format",
            "json",
            "-t",
            "docker-bridges",
        ],
        || lab.curl(5),
    );
    let v: Value = serde_json::from_str(&out).expect("json");
    crate::schema::check(&crate::schema::validator(), &v, "the nftables lab's JSON");
    let tables = v["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 1, "only the table asked for");
    let t = &tables[0];
    assert_eq!(
        (t["kind"].as_str(), t["family"].as_str()),
        (Some("nftables"), Some("ip"))
    );
    let chain = |name: &str| {
        t["chains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("chain {name}"))
    };
    let rule = |c: &str, text: &str| {
        chain(c)["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["text"] == text)
            .unwrap_or_else(|| panic!("rule {text} in {c}"))
            .clone()
    };
    let dnat = rule("nat-prerouting-and-output", DNAT);
    assert!(dnat["delta_packets"].as_u64().unwrap() >= 5, "{dnat}");
    assert!(dnat["handle"].as_u64().unwrap() > 0);
    let acc = rule("filter-forward-in__bridge1", ACCEPT);
    assert!(acc["delta_packets"].as_u64().unwrap() >= 5, "{acc}");
    let fwd = chain("filter-FORWARD");
    assert_eq!(
        (
            fwd["type"].as_str(),
            fwd["hook"].as_str(),
            fwd["priority"].as_i64()
        ),
        (Some("filter"), Some("forward"), Some(0))
    );
    assert_eq!(chain("raw-PREROUTING")["priority"], -300);
    for r in fwd["rules"].as_array().unwrap() {
        assert!(
            r["packets"].is_null() && r["delta_packets"].is_null(),
            "{r}"
        );
    }
    let vmap = rule("filter-FORWARD", "oifname vmap @filter-forward-in-jumps");
    assert_eq!(
        vmap["jumps_to"],
        serde_json::json!(["filter-forward-in__docker0", "filter-forward-in__bridge1"])
    );
}

/// The path view on the lab: every base chain of every table on its hook by priority,
/// Docker's raw-PREROUTING (raw, −300) before its nat-PREROUTING (dstnat, −100), and
/// iptables' nat PREROUTING marked as sharing dstnat's priority with Docker's chain.
#[test]
#[ignore = "needs root: network namespaces, nft"]
fn docker29_path_view_orders_by_priority() {
    let lab = Lab::up_nft();
    // an iptables-nft nat table beside Docker's native one
    lab.host_cmd(&[
        "iptables-nft",
        "-t",
        "nat",
        "-A",
        "PREROUTING",
        "-p",
        "tcp",
        "--dport",
        "9",
        "-j",
        "ACCEPT",
    ]);
    let out = lab.once_during(&["--once", "--view", "path", "--window", "3s"], || {
        lab.curl(5);
    });
    let pre = out
        .lines()
        .find(|l| l.starts_with("hook PREROUTING"))
        .unwrap_or_else(|| panic!("no PREROUTING hook in:\n{out}"));
    assert!(
        pre.contains("raw = ip docker-bridges raw-PREROUTING (-300, same priority)"),
        "{pre}"
    );
    assert!(
        pre.contains("nat = ip docker-bridges nat-PREROUTING (-100, same priority)"),
        "{pre}"
    );
    let at = |s: &str| out.find(s).unwrap_or_else(|| panic!("no {s} in:\n{out}"));
    let raw = at("ip docker-bridges raw-PREROUTING (policy accept)");
    let nat = at("nat PREROUTING (policy ACCEPT)");
    let native_nat = at("ip docker-bridges nat-PREROUTING (policy accept)");
    assert!(raw < nat && nat < native_nat, "{out}");
    // the row names its note, listed under the hook
    let nat_row = out[nat..].lines().next().unwrap();
    let Some((_, n)) = nat_row.rsplit_once("  [") else {
        panic!("no note on {nat_row}");
    };
    let mark = format!("  [{n} ");
    let note = out[nat..]
        .lines()
        .find(|l| l.starts_with(&mark))
        .unwrap_or_else(|| panic!("no note {mark} under the hook:\n{out}"));
    assert!(
        note.contains("same priority (-100) as ip docker-bridges nat-PREROUTING"),
        "{note}"
    );
    // the DNAT rule moved on the path, the vmap rules count nothing
    assert!(delta(row(&out, DNAT)) >= 5, "{out}");
    assert!(
        row(&out, "oifname vmap @filter-forward-in-jumps").contains("no counter"),
        "{out}"
    );

    let out = lab.once_during(
        &[
            "--once", "--view", "path", "--window", "2s", "--format", "json",
        ],
        || lab.curl(2),
    );
    let v: Value = serde_json::from_str(&out).expect("json");
    let hook = v["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hook"] == "PREROUTING")
        .expect("PREROUTING");
    let chains: Vec<(String, i64, bool)> = hook["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                format!(
                    "{} {}",
                    c["table"].as_str().unwrap(),
                    c["chain"].as_str().unwrap()
                ),
                c["priority"].as_i64().unwrap(),
                c["same_priority"].as_bool().unwrap(),
            )
        })
        .collect();
    let names: Vec<&str> = chains.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "raw PREROUTING",
            "ip docker-bridges raw-PREROUTING",
            "mangle PREROUTING",
            "nat PREROUTING",
            "ip docker-bridges nat-PREROUTING"
        ]
    );
    assert!(chains[3].2 && chains[4].2 && !chains[2].2, "{chains:?}");
    let vmap = v["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["rows"].as_array().unwrap())
        .find(|r| r["text"] == "oifname vmap @filter-forward-in-jumps")
        .expect("vmap row");
    assert!(vmap["packets"].is_null(), "{vmap}");
}

/// The live view on the lab at 120x40: Docker's table has its own tab (`-t
/// docker-bridges`), the published port's accept rule under the verdict map moves
/// after `curl 5`, the vmap rules say `no counter` (never 0), and the detail pane says
/// so for them.
#[test]
#[ignore = "needs root: network namespaces, nft"]
fn docker29_live_view_tab() {
    let lab = Lab::up_nft();
    let cmd = format!(
        "{} --netns {} -t docker-bridges",
        env!("CARGO_BIN_EXE_iptop"),
        lab.host()
    );
    let tmux = crate::common::Tmux::start(&cmd, 120, 40);
    let s = tmux.wait_for(10, "the native tab", |s| {
        s.contains("docker-bridges") && s.contains("filter-FORWARD")
    });
    assert!(s.contains(" 6 docker-bridges"), "{s}");
    // expand every chain, so the accept rule under the map is on screen
    tmux.keys(&["e"]);
    tmux.wait_for(5, "the map's chains open", |s| {
        s.contains("filter-forward-in__bridge1")
    });
    // curl 5, spread over ~1.5 s while the screen is watched (Δ is per poll)
    let sender = {
        let prefix = lab.prefix.clone();
        std::thread::spawn(move || {
            for _ in 0..5 {
                let _ = std::process::Command::new("bash")
                    .arg(crate::common::root().join("tests/lab/nft-docker29.sh"))
                    .args(["curl", "1"])
                    .env("LAB_PREFIX", &prefix)
                    .status();
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
        })
    };
    let moved = |s: &str| {
        s.lines()
            .find(|l| l.contains("ip daddr 192.0.2.2 tcp dport 80"))
            .and_then(|l| {
                // `│  │  ├── accept   5   300 B ...`: the ΔPKTS cell right after the label
                let after = l.split_once("accept ").map_or(l, |(_, r)| r);
                after.split_whitespace().next()?.parse::<u64>().ok()
            })
            .is_some_and(|d| d > 0)
    };
    let s = tmux.wait_for(10, "a nonzero Δ on the published port's accept", moved);
    sender.join().expect("sender");
    let vmap = s
        .lines()
        .find(|l| l.contains("oifname vmap @filter-forward-in-j"))
        .unwrap_or_else(|| panic!("no vmap row:\n{s}"));
    assert!(vmap.contains("no counter"), "{vmap}");
    assert!(
        !vmap.split_whitespace().any(|w| w == "0"),
        "a counterless rule shows 0: {vmap}"
    );
    // the detail pane of the vmap rule: search for it, Enter keeps the match
    tmux.keys(&["/"]);
    tmux.keys(&["@filter-forward-in-jumps"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for(5, "the detail pane says there is no counter", |s| {
        s.contains("no counter: the rule has no `counter` statement")
    });
    tmux.keys(&["q"]);
    let s = tmux.wait_for(5, "iptop to exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
}

/// The live view's tab of a native table, drawn by the real render code on ratatui's
/// TestBackend from the captured lab ruleset (tests/fixtures/nft/): two polls 1 s apart
/// in which the published port's accept rule (handle 35) counted 5 more requests.
/// Every chain open, the vmap rule selected: its row and the detail pane say `no
/// counter`, never 0; deltas and rates only where there is a counter.
/// The live view on the lab's `docker-bridges` table: two polls 1 s apart in which the
/// published port's accept rule (handle 35) counted 5 more requests.
fn docker_bridges_app() -> iptop::ui::live_view::LiveView {
    use iptop::ui::live_view::LiveView;
    use std::sync::Arc;
    use std::time::Duration;

    let json = include_str!("../fixtures/nft/docker29-lab.json");
    let text = include_str!("../fixtures/nft/docker29-lab.txt");
    let before = r#""right": 80}}, {"counter": {"packets": 6, "bytes": 360}}"#;
    assert!(json.contains(before), "the fixture's accept rule");
    let later = json.replace(
        before,
        r#""right": 80}}, {"counter": {"packets": 11, "bytes": 660}}"#,
    );
    let snap = |json: &str, secs: u64, seq: u64| {
        let tables = iptop::parse::nft::parse_ruleset(json, Some(text)).expect("fixture");
        let t = tables
            .into_iter()
            .find(|t| t.name == "docker-bridges")
            .expect("docker-bridges");
        Arc::new(iptop::model::Snapshot {
            taken_at: std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            at: Duration::from_secs(secs),
            took: Duration::ZERO,
            tables: vec![t],
            warnings: vec![],
            seq,
        })
    };
    let source = iptop::model::SourceInfo {
        kind: iptop::model::SourceKind::Demo,
        ..Default::default()
    };
    let mut app = LiveView::new(source, "filter", vec![], Duration::from_secs(1));
    app.set_start_native(Some("docker-bridges".into()));
    app.on_snapshot("ip docker-bridges", snap(json, 0, 1), false);
    app.on_snapshot("ip docker-bridges", snap(&later, 1, 2), false);
    app
}

/// The HANDLE column is off by default; listed in the config file's `columns`, the live
/// tree shows each native rule's kernel handle (the accept rule's 35).
#[test]
fn handle_column_when_the_config_lists_it() {
    use iptop::ui::live_view::Action;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    let mut app = docker_bridges_app();
    app.apply(Action::ExpandAll);
    let draw = |app: &mut iptop::ui::live_view::LiveView, theme: &iptop::ui::theme::Theme| {
        let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
        term.draw(|f| {
            app.layout(f.area());
            iptop::ui::render::draw(f, app, theme);
        })
        .expect("draw");
        let buf = term.backend().buffer().clone();
        (0..40)
            .map(|y| (0..120).map(|x| buf[(x, y)].symbol()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let plain = draw(&mut app, &iptop::ui::theme::Theme::default());
    assert!(!plain.contains("HANDLE"), "{plain}");
    let mut cli = <iptop::cli::Cli as clap::Parser>::parse_from(["iptop"]);
    iptop::config::apply(
        &mut cli,
        std::path::Path::new("c.toml"),
        "columns = [\"dpkts\", \"handle\", \"match\"]\n",
    )
    .expect("config");
    let look = iptop::settings::Settings::new(cli)
        .expect("settings")
        .output
        .look;
    let theme = iptop::ui::theme::Theme::from_options(false, &look);
    let s = draw(&mut app, &theme);
    let titles = s
        .lines()
        .find(|l| l.contains("CHAIN / RULE"))
        .expect("titles");
    assert!(titles.contains("HANDLE"), "{s}");
    assert!(
        !titles.contains("PKT/S") && !titles.contains("BYTES"),
        "{titles}"
    );
    let accept = s
        .lines()
        .find(|l| l.contains("ip daddr 192.0.2.2 tcp dport 80"))
        .expect("accept row");
    assert!(
        accept.split_whitespace().any(|w| w == "35"),
        "the accept rule's handle: {accept}"
    );
}

#[test]
fn native_tab_120x40() {
    use iptop::ui::live_view::Action;
    let mut app = docker_bridges_app();
    assert_eq!(app.tab_label(app.current()), "docker-bridges");
    app.apply(Action::ExpandAll);
    // the vmap rule: row 1 (after filter-FORWARD)
    app.apply(Action::Down);
    let s = crate::screens::screen(&mut app, 120, 40);
    let accept = s
        .lines()
        .find(|l| l.contains("ip daddr 192.0.2.2 tcp dport 80"))
        .expect("accept row");
    assert!(accept.contains("accept                          5"), "{s}");
    assert!(
        s.contains("no counter: the rule has no `counter` statement"),
        "{s}"
    );
    insta::assert_snapshot!(s);
}

/// `--stream` on the lab: each NDJSON document carries Docker's native table beside
/// the iptables one; the published port's accept rule counts the requests made between
/// the first and the last document, its vmap rule is null.
#[test]
#[ignore = "needs root: network namespaces, nft"]
fn docker29_stream_carries_native_tables() {
    let lab = Lab::up_nft();
    let out = lab.once_during(&["--stream", "--count", "4", "--interval", "1s"], || {
        lab.curl(5);
    });
    let docs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(docs.len(), 4, "{out}");
    let rule = |d: &Value, text: &str| -> Value {
        d["tables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["name"] == "docker-bridges" && t["kind"] == "nftables")
            .flat_map(|t| t["chains"].as_array().unwrap())
            .flat_map(|c| c["rules"].as_array().unwrap())
            .find(|r| r["text"] == text)
            .unwrap_or_else(|| panic!("no rule {text} in {d}"))
            .clone()
    };
    let first = rule(&docs[0], ACCEPT)["packets"].as_u64().unwrap();
    let last = rule(&docs[3], ACCEPT)["packets"].as_u64().unwrap();
    assert!(last >= first + 5, "{first} → {last}");
    let vmap = rule(&docs[3], "oifname vmap @filter-forward-in-jumps");
    assert!(vmap["packets"].is_null(), "{vmap}");
}
