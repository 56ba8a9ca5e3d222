//! kube-proxy's nftables mode in the Services view: the rule set of
//! tests/fixtures/nft/kube-proxy.nft (kube-proxy's own layout) loaded with `nft -f` into
//! a fresh network namespace, read by `iptop --netns NS --once --view services`.

use std::process::Command;

use serde_json::Value;

use crate::common::{iptop, require_root, root, run_ok};

/// A network namespace of its own, deleted when dropped (even if the test fails).
struct Ns(String);

impl Ns {
    fn with_kube_proxy() -> Ns {
        require_root();
        let ns = Ns(format!("iptkp{}", std::process::id()));
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
    assert!(
        row("172.30.0.46:80/tcp").contains("(no endpoints)"),
        "{out}"
    );
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
            "172.30.0.46:80/tcp"
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
