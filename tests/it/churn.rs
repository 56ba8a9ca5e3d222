//! Rule churn on real iptables: between two polls the test inserts rules at the top of
//! chains, zeroes a chain's counters (the test runs `iptables -Z` itself; iptop never
//! does) and deletes a rule. Every delta iptop computes must equal what
//! `iptables-save -c` (an independent format) says moved for that same rule text.

use std::collections::HashMap;
use std::thread;
use std::time::Duration;

use crate::common::{Lab, saved_rule};
use iptop::diff::{Delta, diff};
use iptop::model::Backend;
use iptop::source::kernel::KernelSource;
use iptop::source::live::{BackendChoice, LiveConfig, LiveSource};
use iptop::source::{RawPoll, snapshot_from};

/// Where the counters come from: every poll's listing, or the kernel.
enum Src {
    Listing(Box<LiveSource>),
    Kernel(Box<KernelSource>),
}

impl Src {
    async fn poll(&mut self) -> RawPoll {
        match self {
            Src::Listing(l) => l.poll().await,
            Src::Kernel(k) => k.poll().await,
        }
    }
}

/// The live source on the lab host's filter table; `kernel`: counters from the kernel.
fn lab_source(lab: &Lab, backend: BackendChoice, kernel: bool) -> Src {
    let live = LiveSource::new(LiveConfig {
        backend,
        ipv6: false,
        netns: Some(lab.host()),
        tables: vec!["filter".to_string()],
        timeout: Duration::from_secs(5),
        binary: None,
    })
    .expect("source");
    if !kernel {
        return Src::Listing(Box::new(live));
    }
    let netns = live.netns_fd();
    match KernelSource::new(Box::new(live), netns, backend, false, false) {
        Ok(k) => Src::Kernel(Box::new(k)),
        Err((_, why)) => panic!("the kernel source cannot start: {why}"),
    }
}

/// chain -> [(rule text, packets, bytes)] from `iptables-save -c -t filter`.
fn save(lab: &Lab, bin: &str) -> HashMap<String, Vec<(String, u64, u64)>> {
    let out = lab.host_cmd(&[bin, "-c", "-t", "filter"]);
    let mut m: HashMap<String, Vec<(String, u64, u64)>> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((chain, rule, p, b)) = saved_rule(line) {
            m.entry(chain.to_string())
                .or_default()
                .push((rule.to_string(), p, b));
        }
    }
    m
}

fn churn(restore: &str, backend: BackendChoice, bin: &str, save_bin: &str, kernel: bool) {
    let lab = Lab::up(restore);
    lab.curl(10);
    lab.cross(2);
    thread::sleep(Duration::from_millis(300)); // let the last segments of those connections pass

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let tables = vec!["filter".to_string()];
    let mut src = lab_source(&lab, backend, kernel);
    let s1 = snapshot_from(&rt.block_on(src.poll()), &tables).expect("first poll");
    let save1 = save(&lab, save_bin);

    lab.host_cmd(&[
        bin, "-I", "FORWARD", "1", "-p", "udp", "--dport", "9999", "-j", "ACCEPT",
    ]);
    lab.host_cmd(&[
        bin,
        "-I",
        "DOCKER-INGRESS",
        "1",
        "-p",
        "tcp",
        "--dport",
        "8080",
        "-j",
        "ACCEPT",
    ]);
    lab.host_cmd(&[bin, "-Z", "DOCKER-USER"]);
    lab.host_cmd(&[
        bin, "-D", "FORWARD", "-i", "docker0", "-o", "docker0", "-j", "ACCEPT",
    ]);
    lab.curl(2);
    thread::sleep(Duration::from_millis(300));

    let save2 = save(&lab, save_bin);
    let s2 = snapshot_from(&rt.block_on(src.poll()), &tables).expect("second poll");
    let d = diff(&s1, &s2);
    let td = d.table(0).expect("filter deltas");
    let t2 = &s2.tables[0];

    let mut checked = 0;
    let mut resets = Vec::new();
    for (ci, chain) in t2.chains.iter().enumerate() {
        let now = save2.get(&*chain.name).cloned().unwrap_or_default();
        assert_eq!(
            now.len(),
            chain.rules.len(),
            "{}: listing and save agree on the rules",
            chain.name
        );
        for (ri, (text, p2, b2)) in now.iter().enumerate() {
            let got = td.rule(ci, ri).copied();
            let before = save1
                .get(&*chain.name)
                .and_then(|v| v.iter().find(|(t, ..)| t == text));
            match before {
                None => assert_eq!(got, None, "{text}: new rule must have no delta"),
                Some((_, p1, b1)) => {
                    let want = Delta::between((*p1, *b1), (*p2, *b2));
                    assert_eq!(got, Some(want), "{text}");
                    if want.reset {
                        resets.push(text.clone());
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 20, "every surviving rule was compared");
    assert_eq!(
        resets,
        ["-A DOCKER-USER -j RETURN"],
        "only the zeroed chain reset"
    );
    let user = t2.chain_index("DOCKER-USER").expect("DOCKER-USER");
    let ud = td.rule(user, 0).expect("delta");
    assert!(
        ud.reset && ud.packets > 0,
        "counted from zero after -Z: {ud:?}"
    );
    // the DNAT'd requests after the churn land on dpt:80, now rule 2 of DOCKER-INGRESS
    let ing = t2.chain_index("DOCKER-INGRESS").expect("ingress");
    assert_eq!(t2.chains[ing].rules[1].spec.extra, "tcp dpt:80");
    assert!(td.rule(ing, 1).expect("dpt:80").packets >= 2);
    assert_eq!(td.rule(ing, 0), None, "the inserted dpt:8080 rule is new");
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn churn_nft() {
    churn(
        "iptables-nft-restore",
        BackendChoice::Nft,
        "iptables-nft",
        "iptables-nft-save",
        false,
    );
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn churn_legacy() {
    churn(
        "iptables-legacy-restore",
        BackendChoice::Legacy,
        "iptables-legacy",
        "iptables-legacy-save",
        false,
    );
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn churn_nft_kernel_counters() {
    churn(
        "iptables-nft-restore",
        BackendChoice::Nft,
        "iptables-nft",
        "iptables-nft-save",
        true,
    );
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn churn_legacy_kernel_counters() {
    churn(
        "iptables-legacy-restore",
        BackendChoice::Legacy,
        "iptables-legacy",
        "iptables-legacy-save",
        true,
    );
}

/// `[p:b] -A CHAIN rest` of `iptables-save -c`, per chain: (text, packets, bytes).
type Saved = HashMap<String, Vec<(String, u64, u64)>>;

/// What iptop's delta for each rule of `chain` must be, from two saves: a rule whose
/// text is there once before and after is that rule; copies of one text are paired in
/// order, as many as both saves have, never letting a counter go down, and get a delta
/// only where every such pairing (found here by trying them all) pairs them alike.
fn expected(before: &Saved, after: &Saved, chain: &str) -> Vec<Option<Delta>> {
    let old = before.get(chain).cloned().unwrap_or_default();
    let new = after.get(chain).cloned().unwrap_or_default();
    let mut out = vec![None; new.len()];
    let mut texts: Vec<&str> = new.iter().map(|(t, ..)| t.as_str()).collect();
    texts.sort();
    texts.dedup();
    for text in texts {
        let olds: Vec<(u64, u64)> = old
            .iter()
            .filter(|(t, ..)| t == text)
            .map(|(_, p, b)| (*p, *b))
            .collect();
        let news: Vec<usize> = (0..new.len()).filter(|&j| new[j].0 == text).collect();
        let cur = |j: usize| (new[news[j]].1, new[news[j]].2);
        if olds.len() == 1 && news.len() == 1 {
            out[news[0]] = Some(Delta::between(olds[0], cur(0)));
            continue;
        }
        let mut all = Vec::new();
        pairings(
            &olds,
            &news
                .iter()
                .map(|&j| (new[j].1, new[j].2))
                .collect::<Vec<_>>(),
            &mut all,
        );
        for k in 0..news.len() {
            let partners: Vec<Option<usize>> =
                all.iter().map(|p: &Vec<Option<usize>>| p[k]).collect();
            if let Some(Some(i)) = partners.first()
                && partners.iter().all(|p| *p == Some(*i))
            {
                out[news[k]] = Some(Delta::between(olds[*i], cur(k)));
            }
        }
    }
    out
}

/// Every order-keeping pairing of min(old, new) copies whose counters do not go down:
/// per new copy, the old copy it is.
fn pairings(old: &[(u64, u64)], new: &[(u64, u64)], out: &mut Vec<Vec<Option<usize>>>) {
    fn go(
        old: &[(u64, u64)],
        new: &[(u64, u64)],
        i: usize,
        j: usize,
        left: usize,
        acc: &mut Vec<Option<usize>>,
        out: &mut Vec<Vec<Option<usize>>>,
    ) {
        if left == 0 {
            let mut v = acc.clone();
            v.resize(new.len(), None);
            out.push(v);
            return;
        }
        if i >= old.len() || j >= new.len() {
            return;
        }
        if new[j].0 >= old[i].0 && new[j].1 >= old[i].1 {
            acc.push(Some(i));
            go(old, new, i + 1, j + 1, left - 1, acc, out);
            acc.pop();
        }
        acc.push(None);
        go(old, new, i, j + 1, left, acc, out);
        acc.pop();
        if old.len() - i > left {
            go(old, new, i + 1, j, left, acc, out);
        }
    }
    go(
        old,
        new,
        0,
        0,
        old.len().min(new.len()),
        &mut Vec::new(),
        out,
    );
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn a_minute_of_churn_while_iptop_watches() {
    churn_while_iptop_watches(Backend::Nft, false, 60);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn churn_while_iptop_watches_kernel_counters_nft() {
    churn_while_iptop_watches(Backend::Nft, true, 30);
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn churn_while_iptop_watches_kernel_counters_legacy() {
    churn_while_iptop_watches(Backend::Legacy, true, 30);
}

/// Random churn (inserts, -R, deletes, -Z, chains added and removed) with traffic, for
/// `secs`: every poll's deltas must be what two `iptables-save -c` say. `kernel`: the
/// counters come from the kernel (the live view then records nothing).
fn churn_while_iptop_watches(backend: Backend, kernel: bool, secs: u64) {
    let b = backend.as_str();
    let lab = Lab::up(&format!("iptables-{b}-restore"));
    let dir = tempfile::tempdir().expect("tmp");
    let rec = dir.path().join("churn.rec");
    let how = if kernel {
        "--source kernel".to_string()
    } else {
        format!("--record {}", rec.display())
    };
    let tmux = crate::common::Tmux::start(
        &format!(
            "{} --netns {} -i 200ms --backend {b} {how}",
            env!("CARGO_BIN_EXE_iptop"),
            lab.host(),
        ),
        120,
        40,
    );
    tmux.wait_for(10, "the live view", |s| s.contains("DOCKER-INGRESS"));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let tables = vec!["filter".to_string()];
    let choice = match backend {
        Backend::Nft => BackendChoice::Nft,
        Backend::Legacy => BackendChoice::Legacy,
    };
    let mut src = lab_source(&lab, choice, kernel);
    let bin = format!("iptables-{b}");
    let save_bin = format!("iptables-{b}-save");
    let ipt = |args: &[&str]| {
        let mut v = vec![bin.as_str()];
        v.extend_from_slice(args);
        let _ = std::process::Command::new("ip")
            .args(["netns", "exec", &lab.host()])
            .args(&v)
            .output();
    };
    let mut rng = iptop::synth::Rng::new(42);
    let start = std::time::Instant::now();
    let (mut rounds, mut compared, mut resets, mut new_rules) = (0, 0, 0, 0);
    let mut extra_chains: Vec<String> = Vec::new();
    let mut prev = snapshot_from(&rt.block_on(src.poll()), &tables).expect("first poll");
    let mut before = save(&lab, &save_bin);
    while start.elapsed() < Duration::from_secs(secs) {
        rounds += 1;
        // churn, with traffic flowing through the rules being changed
        for _ in 0..3 {
            let port = (1000 + rng.below(20)).to_string();
            match rng.below(8) {
                0 => ipt(&[
                    "-I", "FORWARD", "1", "-p", "udp", "--dport", &port, "-j", "ACCEPT",
                ]),
                1 => ipt(&[
                    "-I",
                    "DOCKER-INGRESS",
                    &(1 + rng.below(3)).to_string(),
                    "-p",
                    "tcp",
                    "--dport",
                    &port,
                    "-j",
                    "RETURN",
                ]),
                // only rules the churn added go: the lab's own paths stay open
                2 => ipt(&[
                    "-D", "FORWARD", "-p", "udp", "--dport", &port, "-j", "ACCEPT",
                ]),
                3 => ipt(&["-R", "DOCKER-USER", "1", "-j", "RETURN"]),
                4 => ipt(&[
                    "-Z",
                    ["DOCKER-USER", "DOCKER-INGRESS", "FORWARD"][rng.below(3) as usize],
                ]),
                5 => {
                    let name = format!("CHURN-{}", rng.below(1000));
                    ipt(&["-N", &name]);
                    ipt(&["-A", &name, "-j", "RETURN"]);
                    ipt(&["-I", "DOCKER-USER", "1", "-j", &name]);
                    extra_chains.push(name);
                }
                6 => {
                    if let Some(name) = extra_chains.pop() {
                        ipt(&["-D", "DOCKER-USER", "-j", &name]);
                        ipt(&["-F", &name]);
                        ipt(&["-X", &name]);
                    }
                }
                _ => ipt(&[
                    "-A",
                    "DOCKER-INGRESS",
                    "-p",
                    "udp",
                    "--dport",
                    &port,
                    "-j",
                    "ACCEPT",
                ]),
            }
        }
        lab.curl(2);
        lab.cross(1);
        thread::sleep(Duration::from_millis(150));
        // the same moment, twice over: no traffic between the save and the poll
        let after = save(&lab, &save_bin);
        let cur = snapshot_from(&rt.block_on(src.poll()), &tables).expect("poll");
        let d = diff(&prev, &cur);
        let td = d.table(0).expect("filter");
        let t = &cur.tables[0];
        for (ci, chain) in t.chains.iter().enumerate() {
            let want = expected(&before, &after, &chain.name);
            assert_eq!(
                want.len(),
                chain.rules.len(),
                "round {rounds}: {} has the rules of the save",
                chain.name
            );
            for (ri, w) in want.iter().enumerate() {
                let got = td.rule(ci, ri).copied();
                assert_eq!(
                    got,
                    *w,
                    "round {rounds}: {} rule {} ({})",
                    chain.name,
                    ri + 1,
                    chain.rules[ri].spec.summary()
                );
                match got {
                    Some(g) => {
                        compared += 1;
                        resets += usize::from(g.reset);
                        assert!(
                            g.packets <= chain.counters[ri].packets,
                            "never more than the counter"
                        );
                    }
                    None => new_rules += 1,
                }
            }
        }
        prev = cur;
        before = after;
    }
    assert!(rounds >= secs / 3, "{rounds} rounds in {secs} s");
    assert!(
        resets > 0 && new_rules > 0,
        "the churn zeroed and inserted: {resets} resets, {new_rules} new"
    );
    println!("{rounds} rounds, {compared} deltas checked, {resets} resets, {new_rules} new rules");

    // the live view watched all of it and is still there
    let s = tmux.capture();
    assert!(
        s.contains("iptop · filter") && s.contains("FORWARD") && !s.contains("EXIT="),
        "{s}"
    );
    tmux.keys(&["q"]);
    let s = tmux.wait_for(5, "exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
    if kernel {
        return;
    }
    // and what it recorded replays into deltas that never exceed their counters
    let mut r = iptop::source::replay::ReplaySource::open(&rec, Some("filter")).expect("recording");
    let mut last: Option<iptop::model::Snapshot> = None;
    let mut polls = 0;
    while let Some(raw) = r.next_poll() {
        let Ok(s) = snapshot_from(&raw, &tables) else {
            continue;
        };
        polls += 1;
        if let Some(p) = &last {
            let d = diff(p, &s);
            let td = d.table(0).expect("filter");
            for (ci, c) in s.tables[0].chains.iter().enumerate() {
                for ri in 0..c.rules.len() {
                    if let Some(x) = td.rule(ci, ri) {
                        assert!(
                            x.packets <= c.counters[ri].packets && x.bytes <= c.counters[ri].bytes
                        );
                    }
                }
            }
        }
        last = Some(s);
    }
    assert!(polls >= 200, "the view polled every 200 ms: {polls}");
}
