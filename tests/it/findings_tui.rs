//! Findings in the live view on the real lab, in a real terminal (tmux): a DOCKER-USER
//! rule that matches the published port after DNAT raises a badge in the header, `!`
//! lists it, and Enter shows its rule in the filter table's tree (switching from nat);
//! real drops by FORWARD's policy are still listed two polls after the last one.

use crate::common::{Lab, Tmux};

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn a_findings_enter_lands_on_its_rule() {
    let lab = Lab::up("iptables-restore");
    lab.drop_in_docker_user(8080);
    // nat on screen, filter polled with it: the finding is in filter
    let cmd = format!(
        "{} --netns {} -t nat -t filter",
        env!("CARGO_BIN_EXE_iptop"),
        lab.host()
    );
    let tmux = Tmux::start(&cmd, 160, 40);
    let s = tmux.wait_for(10, "the findings badge", |s| {
        s.lines()
            .next()
            .is_some_and(|l| l.trim_end().ends_with("! 1 finding"))
    });
    assert!(s.contains("iptop · nat"), "{s}");

    tmux.keys(&["!"]);
    let s = tmux.wait_for(5, "the findings pane", |s| s.contains("docker-user-dport"));
    let line = s
        .lines()
        .find(|l| l.contains("docker-user-dport"))
        .expect("finding line");
    assert!(line.contains("warning"), "{line}");
    assert!(line.contains("filter DOCKER-USER › 1"), "{line}");
    assert!(
        line.contains("--ctorigdstport") || line.contains("after DNAT"),
        "{line}"
    );

    tmux.keys(&["Enter"]);
    let s = tmux.wait_for(5, "the rule selected in filter's tree", |s| {
        s.contains("iptop · filter") && s.contains("DOCKER-USER rule 1 of")
    });
    // the detail pane describes the selected row: the DROP on dpt:8080
    let detail: Vec<&str> = s
        .lines()
        .skip_while(|l| !l.contains("DOCKER-USER rule 1 of"))
        .take(3)
        .collect();
    assert!(detail.iter().any(|l| l.contains("DROP")), "{s}");
    assert!(detail.iter().any(|l| l.contains("dpt:8080")), "{s}");

    // the tree is open down to that rule: DOCKER-USER's DROP row is on screen
    let tree: Vec<&str> = s.lines().take_while(|l| !l.contains(" detail ")).collect();
    assert!(
        tree.iter()
            .any(|l| l.contains("DROP") && l.contains("dpt:8080")),
        "{s}"
    );
    tmux.keys(&["q"]);
    tmux.wait_for(5, "exit", |s| s.contains("EXIT=0"));
}

/// Findings are judged over the export window (10 s), not the last poll: two polls after
/// the last packet FORWARD's policy dropped, `!` still lists `policy-drop`.
#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn policy_drop_is_listed_two_polls_after_the_last_drop() {
    let lab = Lab::up("iptables-restore");
    let cmd = format!("{} --netns {}", env!("CARGO_BIN_EXE_iptop"), lab.host());
    let tmux = Tmux::start(&cmd, 120, 40);
    tmux.wait_for(10, "the first poll", |s| s.contains("policy DROP"));
    // real packets from the client to an address nothing publishes: FORWARD drops them
    lab.blocked(3);
    tmux.wait_for(5, "the badge", |s| {
        s.lines().next().is_some_and(|l| l.contains("finding"))
    });
    // two polls (1 s apart) with nothing dropped
    std::thread::sleep(std::time::Duration::from_millis(2500));
    tmux.keys(&["!"]);
    let s = tmux.wait_for(5, "the findings pane", |s| s.contains("policy-drop"));
    let line = s
        .lines()
        .find(|l| l.contains("policy-drop"))
        .expect("finding line");
    assert!(line.contains("filter FORWARD"), "{line}");
    assert!(!s.contains("no finding"), "{s}");
    tmux.keys(&["q"]);
    tmux.wait_for(5, "exit", |s| s.contains("EXIT=0"));
}
