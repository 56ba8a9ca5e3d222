//! The live view's columns at 200, 120 and 80 columns, as insta snapshots: the swarm
//! host's filter and nat tables (the seed's listings), the Docker 28 layout captured on
//! the lab, and a kube-proxy nat table. What tells rules apart must stay: whole
//! interface names, NAT targets with where they send packets, the interfaces at 80.

use std::sync::Arc;
use std::time::Duration;

use iptop::source::replay::ReplaySource;
use iptop::source::snapshot_from;
use iptop::ui::live_view::LiveView;
use iptop::ui::render;
use iptop::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// A live view of a recording or a pasted listing of `table`, after its first polls.
fn app_of(file: &str, table: &str) -> LiveView {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture");
    let mut r = ReplaySource::from_text(file, &text, Some(table)).expect("replay");
    let mut app = LiveView::new(r.info().clone(), table, vec![], Duration::from_secs(1));
    for _ in 0..2 {
        let Some(raw) = r.next_poll() else {
            break;
        };
        let s = snapshot_from(&raw, &[table.into()]).expect("snapshot");
        app.on_snapshot(table, Arc::new(s), raw.discontinuity);
    }
    app
}

fn screen(app: &mut LiveView, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| {
        app.layout(f.area());
        render::draw(
            f,
            app,
            &Theme {
                color: false,
                ..Theme::default()
            },
        );
    })
    .expect("draw");
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let re = regex::Regex::new(r"\d\d:\d\d:\d\d").expect("re");
    let out = re.replace_all(&out, "HH:MM:SS").into_owned();
    // the replayed file's path is where the checkout is
    out.replace(env!("CARGO_MANIFEST_DIR"), "<repo>")
}

/// The title row of the tree (its column names).
fn titles(s: &str) -> &str {
    s.lines()
        .find(|l| l.starts_with("CHAIN / RULE"))
        .expect("titles")
}

const SIZES: [(u16, u16); 3] = [(200, 50), (120, 40), (80, 24)];

fn check(name: &str, file: &str, table: &str) -> Vec<String> {
    let mut app = app_of(file, table);
    SIZES
        .iter()
        .map(|&(w, h)| {
            let s = screen(&mut app, w, h);
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), &s);
            s
        })
        .collect()
}

#[test]
fn swarm_filter() {
    let s = check(
        "swarm_filter",
        "iptables/docker-swarm.nft.filter-vnxL.txt",
        "filter",
    );
    // at 120 the bridge names are whole, negated too
    assert!(s[1].contains(" docker_gwbridge "), "{}", s[1]);
    assert!(s[1].contains("!docker_gwbridge"), "{}", s[1]);
    // at 80 the interfaces are still there: the two STAGE-2 jumps differ only by them
    let t = titles(&s[2]);
    assert!(t.contains(" IN ") && t.contains(" OUT "), "{}", s[2]);
    assert!(s[2].contains("docker0 "), "{}", s[2]);
    // the tree whole, and the port of the walk-through readable
    assert!(s[2].contains("DOCKER-ISOLATION-STAGE-2 ×2"), "{}", s[2]);
    assert!(s[2].contains("tcp dpt:80"), "{}", s[2]);
}

#[test]
fn swarm_nat() {
    let s = check("swarm_nat", "iptables/docker-swarm.nft.nat-vnxL.txt", "nat");
    for screen in &s {
        assert!(screen.contains("DNAT → 172.18.0.2:80"), "{screen}");
        assert!(screen.contains("tcp dpt:80"), "{screen}");
    }
    // OUT says nothing on screen at 80: it gave way to the match text
    assert!(!titles(&s[2]).contains(" OUT "), "{}", s[2]);
}

#[test]
fn docker28_filter() {
    let s = check("docker28_filter", "lab/docker28.filter-vnxL.txt", "filter");
    assert!(s[1].contains("!docker_gwbridge"), "{}", s[1]);
    assert!(s[2].contains("fell through"), "{}", s[2]);
}

#[test]
fn docker28_nat() {
    let s = check("docker28_nat", "lab/docker28.nat-vnxL.txt", "nat");
    assert!(s[1].contains("DNAT → 172.18.0.2:80"), "{}", s[1]);
}

#[test]
fn kube_proxy_nat() {
    let s = check("kube_nat", "services/kube-comments.rec", "nat");
    // kube-proxy's comments no longer push the port out of sight
    assert!(s[1].contains("tcp dpt:80"), "{}", s[1]);
}
