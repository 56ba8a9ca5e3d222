//! kube-proxy's nftables mode in the Services view: the rule set of
//! tests/fixtures/nft/kube-proxy.nft (kube-proxy's own layout) loaded with `nft -f` into
//! a fresh network namespace, read by `iptop --netns NS --once --view services`.

use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::common::{iptop, require_root, root, run_ok};

/// A network namespace of its own, deleted when dropped (even if the test fails).
struct Ns(String);

impl Ns {
    fn with_kube_proxy() -> Ns {
        Ns::named_with_kube_proxy("iptkp")
    }

    fn named_with_kube_proxy(prefix: &str) -> Ns {
        require_root();
        let ns = Ns(format!("{prefix}{}", std::process::id()));
        run_ok(Command::new("ip").args(["netns", "add", &ns.0]));
        let fixture = root().join("tests/fixtures/nft/kube-proxy.nft");
        run_ok(
            Command::new("ip")
                .args(["netns", "exec", &ns.0, "nft", "-f"])
                .arg(&fixture),
        );
        ns
    }

    fn services(&self, format: &str) -> String {
        let out = run_ok(iptop().args([
            "--netns", &self.0, "--once", "--view", "services", "--format", format,
        ]));
        String::from_utf8(out.stdout).expect("UTF-8")
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn kube_proxy_nftables_services_text_and_json() {
    let ns = Ns::with_kube_proxy();
    let out = ns.services("text");
    assert!(
        out.contains("table ip kube-proxy (kube-proxy's nftables mode)"),
        "{out}"
    );
    // no KUBE-SERVICES in nat: the iptables part is left out
    assert!(
        !out.contains("no kube-proxy Services in this nat table"),
        "{out}"
    );
    let row = |start: &str| -> String {
        out.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no row {start} in:\n{out}"))
            .to_string()
    };
    let web = row("shop/web:http");
    for w in [
        "172.30.0.41",
        "tcp/80",
        "10.180.0.1:8080",
        "0 mod 3",
        "33.3%",
    ] {
        assert!(web.contains(w), "{w} in {web}");
    }
    let api = row("shop/api:grpc");
    for w in ["172.30.0.42", "tcp/9090", "30090", "0 mod 2", "50.0%"] {
        assert!(api.contains(w), "{w} in {api}");
    }
    assert!(row("kube-system/kube-dns:dns").contains("100.0%"), "{out}");
    assert!(row("shop/batch:http").contains("(no endpoints)"), "{out}");
    assert!(
        out.contains("4 Services, 6 endpoints, 1 without endpoints"),
        "{out}"
    );
    // kube-proxy writes no counters: said, never printed as 0
    assert!(out.contains("cannot be counted"), "{out}");
    assert!(out.contains("--trace 'ip daddr 172.30.0.10'"), "{out}");
    assert!(out.contains("conntrack"), "{out}");
    assert!(out.contains("not counted"), "{out}");

    let v: Value = serde_json::from_str(&ns.services("json")).expect("JSON");
    assert_eq!(v["view"], "services");
    let list = v["services"].as_array().expect("services");
    let names: Vec<&str> = list.iter().map(|s| s["label"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "kube-system/kube-dns:dns",
            "shop/web:http",
            "shop/api:grpc",
            "shop/batch:http"
        ]
    );
    for s in list {
        assert_eq!(s["mode"], "nftables");
        assert_eq!(s["table"], "ip kube-proxy");
        assert!(s["new_connections"].is_null(), "{s}");
    }
    let web = &list[1];
    let eps = web["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 3);
    for (i, e) in eps.iter().enumerate() {
        assert!((e["intended_share"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(e["numgen"], serde_json::json!([i.to_string()]));
        assert!(
            e["new_connections"].is_null() && e["share"].is_null(),
            "{e}"
        );
    }
    assert_eq!(list[2]["node_port"], 30090);
    assert_eq!(
        list[2]["external_ips"],
        serde_json::json!(["192.168.99.33"])
    );
    let notes = v["notes"].as_array().expect("notes");
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("cannot be counted")),
        "{notes:?}"
    );
}

/// Connection attempts from inside the namespace to the web Service's cluster IP: each
/// first packet goes through nat-output → services → a service- chain's numgen map → an
/// endpoint- chain's DNAT, then out a veth into the namespace itself (nothing answers).
fn requests(ns: &Ns, n: usize) {
    for _ in 0..n {
        let _ = Command::new("ip")
            .args(["netns", "exec", &ns.0, "timeout", "0.3", "bash", "-c"])
            .arg("echo > /dev/tcp/172.30.0.41/80")
            .stderr(Stdio::null())
            .status();
        thread::sleep(Duration::from_millis(150));
    }
}

/// `iptop --netns NS --once --window 4s --trace 'ip daddr 172.30.0.41' ARGS` while
/// `n` requests go to the Service.
fn traced(ns: &Ns, n: usize, args: &[&str]) -> String {
    let child = iptop()
        .args(["--netns", &ns.0, "--once", "--window", "4s"])
        .args(["--trace", "ip daddr 172.30.0.41"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("iptop");
    thread::sleep(Duration::from_millis(1000));
    requests(ns, n);
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
#[ignore = "needs root: network namespaces, nft, --trace"]
fn traced_requests_show_where_kube_proxy_counts_nothing() {
    let ns = Ns::named_with_kube_proxy("iptkpt");
    // a way out for the cluster and endpoint addresses: a veth pair whose both ends are
    // in the namespace, a dead end (nothing answers, nothing leaves)
    for args in [
        &["link", "add", "kp0", "type", "veth", "peer", "name", "kp1"][..],
        &["link", "set", "kp0", "up"],
        &["link", "set", "kp1", "up"],
        &["addr", "add", "10.180.0.100/16", "dev", "kp0"],
        &["route", "add", "172.30.0.0/16", "dev", "kp0"],
    ] {
        run_ok(Command::new("ip").args(["-n", &ns.0]).args(args));
    }
    // the Services view: how many traced packets each endpoint was sent
    let doc: Value =
        serde_json::from_str(&traced(&ns, 5, &["--view", "services", "--format", "json"]))
            .expect("json");
    let web = doc["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["cluster_ip"] == "172.30.0.41")
        .expect("the web Service");
    let per: Vec<u64> = web["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| e["traced_packets"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(per.len(), 3);
    assert_eq!(per.iter().sum::<u64>(), 5, "{web}");
    // the other Services saw nothing: no number, not 0
    let api = doc["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["cluster_ip"] == "172.30.0.42")
        .expect("the api Service");
    assert!(api["endpoints"][0].get("traced_packets").is_none(), "{api}");

    // the tree: the counterless DNAT rules say what the traced packets did
    let text = traced(&ns, 3, &["-t", "kube-proxy"]);
    let traced_rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("traced ") && l.contains("dnat to 10.180."))
        .collect();
    assert!(!traced_rows.is_empty(), "{text}");
    let sum: u64 = traced_rows
        .iter()
        .filter_map(|l| {
            let at = l.find("traced ")? + "traced ".len();
            l[at..].split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum();
    assert_eq!(sum, 3, "{text}");
    assert!(text.contains("no counter"), "{text}");
}
