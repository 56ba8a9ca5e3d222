//! `--view services` on kube-proxy recordings (tests/fixtures/services, made by make.py
//! from real iptables listings) and on the scale-1000 fixture: Services named from the
//! comments or, without them, by cluster IP and port; endpoints; shares of new
//! connections as the counters say (make.py's numbers) next to the intended 1/n.

use crate::common::{iptop, root, run_ok};
use serde_json::Value;

fn services(args: &[&str]) -> Value {
    let out = run_ok(iptop().current_dir(root()).args(args));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["view"], "services");
    v
}

fn endpoints(s: &Value) -> Vec<(String, u64, f64, f64)> {
    s["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["address"].as_str().unwrap().to_string(),
                e["new_connections"].as_u64().unwrap(),
                e["share"].as_f64().unwrap_or(-1.0),
                e["intended_share"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-3
}

/// What make.py put in the window, whatever the labels.
fn check_window(list: &[Value], label: impl Fn(&Value) -> String, names: [&str; 4]) {
    let find = |l: &str| {
        list.iter()
            .find(|s| label(s) == l)
            .unwrap_or_else(|| panic!("no {l} in {list:#?}"))
    };
    let api = endpoints(find(names[0]));
    assert_eq!(api.len(), 1);
    assert_eq!((api[0].0.as_str(), api[0].1), ("192.168.49.2:8443", 5));
    let dns = endpoints(find(names[1]));
    assert_eq!(
        dns.iter().map(|e| e.1).collect::<Vec<_>>(),
        [100, 96],
        "{dns:?}"
    );
    assert!(close(dns[0].2, 100.0 / 196.0) && close(dns[0].3, 0.5));
    let web = find(names[2]);
    assert_eq!(web["node_port"], 30080);
    assert_eq!(web["cluster_ip"], "10.96.120.15");
    let web = endpoints(web);
    assert_eq!(
        web.iter().map(|e| (e.0.as_str(), e.1)).collect::<Vec<_>>(),
        [
            ("10.244.1.5:8080", 30),
            ("10.244.1.6:8080", 28),
            ("10.244.2.7:8080", 32)
        ]
    );
    for (e, share) in web.iter().zip([30.0 / 90.0, 28.0 / 90.0, 32.0 / 90.0]) {
        assert!(close(e.2, share), "{e:?}");
        assert!(
            close(e.3, 1.0 / 3.0),
            "the cascade 1/3, 1/2, rest is 1/3 each: {e:?}"
        );
    }
    // session affinity: returning clients count for their endpoint, outside the cascade
    let sess = endpoints(find(names[3]));
    assert_eq!(sess.iter().map(|e| e.1).collect::<Vec<_>>(), [13, 4]);
    assert!(close(sess[0].3, 0.5) && close(sess[1].3, 0.5));
}

#[test]
fn services_named_from_kube_proxy_comments() {
    let v = services(&[
        "--replay",
        "tests/fixtures/services/kube-comments.rec",
        "--once",
        "--window",
        "3s",
        "--view",
        "services",
        "--format",
        "json",
    ]);
    assert_eq!(v["counted"], "window");
    let list = v["services"].as_array().unwrap();
    assert_eq!(list.len(), 5, "{list:#?}");
    check_window(
        list,
        |s| s["name"].as_str().unwrap_or_default().to_string(),
        [
            "default/kubernetes:https",
            "kube-system/kube-dns:dns",
            "shop/web:http",
            "shop/session:http",
        ],
    );
    let cart = list.iter().find(|s| s["name"] == "shop/cart:http").unwrap();
    assert!(cart["endpoints"].as_array().unwrap().is_empty());
    assert_eq!(
        (&cart["cluster_ip"], &cart["port"], &cart["node_port"]),
        (
            &Value::from("10.96.44.2"),
            &Value::from(80),
            &Value::from(30081)
        )
    );
}

#[test]
fn services_by_cluster_ip_without_comments() {
    let v = services(&[
        "--replay",
        "tests/fixtures/services/kube-plain.rec",
        "--once",
        "--window",
        "3s",
        "--view",
        "services",
        "--format",
        "json",
    ]);
    let list = v["services"].as_array().unwrap();
    for s in list {
        assert!(s["name"].is_null(), "{s}");
    }
    check_window(
        list,
        |s| s["label"].as_str().unwrap().to_string(),
        [
            "10.96.0.1:443/tcp",
            "10.96.0.10:53/udp",
            "10.96.120.15:80/tcp",
            "10.96.50.9:80/tcp",
        ],
    );
    assert!(
        list.iter()
            .any(|s| s["label"] == "10.96.44.2:80/tcp" && s["endpoints"] == Value::Array(vec![]))
    );
    // the text names them the same way
    let out = run_ok(iptop().current_dir(root()).args([
        "--replay",
        "tests/fixtures/services/kube-plain.rec",
        "--once",
        "--window",
        "3s",
        "--view",
        "services",
    ]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("10.96.120.15:80/tcp"), "{text}");
    assert!(text.contains("(no endpoints)"), "{text}");
    assert!(text.contains("33.3%"), "{text}");
}

#[test]
fn services_of_a_large_pasted_listing() {
    let v = services(&[
        "--replay",
        "tests/fixtures/iptables/scale-1000.nft.nat-vnxL-lines.txt",
        "--once",
        "--view",
        "services",
        "--format",
        "json",
    ]);
    assert_eq!(v["counted"], "total");
    let list = v["services"].as_array().unwrap();
    // gen-scale.sh: every 10th service has no endpoints (and no nat chain)
    assert!(list.len() > 40, "{}", list.len());
    for s in list {
        let name = s["name"].as_str().unwrap();
        assert!(name.starts_with("ns") && name.contains("/svc-"), "{s}");
        let eps = s["endpoints"].as_array().unwrap();
        let n = eps.len();
        assert!((1..=4).contains(&n), "{s}");
        let total: u64 = eps
            .iter()
            .map(|e| e["new_connections"].as_u64().unwrap())
            .sum();
        let mut sum = 0.0;
        for e in eps {
            assert!(e["address"].as_str().unwrap().starts_with("10.244."), "{e}");
            assert!(
                close(e["intended_share"].as_f64().unwrap(), 1.0 / n as f64),
                "{s}"
            );
            if total > 0 {
                sum += e["share"].as_f64().unwrap();
            }
        }
        assert!(total == 0 || close(sum, 1.0), "{s}");
        // every third service is a NodePort
        let i: usize = name
            .split("/svc-")
            .nth(1)
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(s["node_port"].is_u64(), i.is_multiple_of(3), "{s}");
    }
}

#[test]
fn the_tree_of_the_same_recording_finds_the_rejected_service() {
    let out = run_ok(iptop().current_dir(root()).args([
        "--replay",
        "tests/fixtures/services/kube-comments.rec",
        "--once",
        "--window",
        "3s",
        "-t",
        "filter",
        "-t",
        "nat",
        "--format",
        "json",
    ]));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["id"], "kube-no-endpoints");
    assert_eq!(f[0]["chain"], "KUBE-SERVICES");
    assert!(f[0]["message"].as_str().unwrap().contains("shop/cart:http"));
    for t in v["tables"].as_array().unwrap() {
        for c in t["chains"].as_array().unwrap() {
            assert!(
                c["about"].is_object(),
                "every chain here is kube-proxy's or built in: {c}"
            );
        }
    }
}

#[test]
fn services_view_says_what_it_cannot_do() {
    let fx = "tests/fixtures/iptables/scale-1000.nft.nat-vnxL-lines.txt";
    for (args, code) in [
        (vec!["--replay", fx, "--view", "services"], 2),
        (
            vec![
                "--replay", fx, "--once", "--view", "services", "--format", "svg",
            ],
            2,
        ),
        (
            vec![
                "--replay",
                fx,
                "--once",
                "--view",
                "services",
                "--moved-only",
                "--window",
                "1s",
            ],
            2,
        ),
        (
            vec![
                "--replay",
                "tests/fixtures/iptables/docker-swarm.nft.filter-vnxL-lines.txt",
                "--once",
                "--view",
                "services",
            ],
            1,
        ),
    ] {
        let out = iptop().current_dir(root()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("services"), "{err}");
    }
    // a nat table without kube-proxy: said, not an error
    let out = run_ok(iptop().current_dir(root()).args([
        "--replay",
        "tests/fixtures/iptables/docker-swarm.nft.nat-vnxL-lines.txt",
        "--once",
        "--view",
        "services",
    ]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no kube-proxy Services"));
}

#[test]
fn a_node_port_that_jumps_straight_to_the_service_chain() {
    // kube-proxy before 1.24: `KUBE-NODEPORTS ... tcp dpt:30080 -> KUBE-SVC-...` with no
    // KUBE-EXT chain between (a real node's nat table, tests/fixtures/pastes/README.md)
    let v = services(&[
        "--replay",
        "tests/fixtures/pastes/kube-nodeport-qifangsu.txt",
        "--once",
        "--view",
        "services",
        "--format",
        "json",
    ]);
    let list = v["services"].as_array().unwrap();
    let nginx = list
        .iter()
        .find(|s| s["name"] == "default/nginx-svc")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(nginx["node_port"], 30080, "{nginx}");
    assert_eq!(nginx["cluster_ip"], "10.108.205.52", "{nginx}");
    assert_eq!(nginx["port"], 80, "{nginx}");
    assert_eq!(endpoints(nginx)[0].0, "10.244.1.3:80", "{nginx}");
    // the others have no node port
    let dns = list
        .iter()
        .find(|s| s["name"] == "kube-system/kube-dns:dns")
        .unwrap_or_else(|| panic!("{v}"));
    assert!(dns["node_port"].is_null(), "{dns}");
}
