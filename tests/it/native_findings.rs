//! Findings and notes about native nftables tables on a real Docker 29 nftables host
//! (tests/lab/nft-docker29.sh): nftables.service's `inet filter` with a forward policy
//! of drop beside Docker's own table.

use serde_json::Value;

use crate::common::{Lab, iptop, run_ok};

/// Loads an `inet filter` table as Debian's /etc/nftables.conf writes it, with the
/// forward policy turned to drop.
fn inet_filter_dropping(lab: &Lab) {
    for cmd in [
        "add table inet filter",
        "add chain inet filter input { type filter hook input priority filter; policy accept; }",
        "add chain inet filter forward { type filter hook forward priority filter; policy drop; }",
        "add chain inet filter output { type filter hook output priority filter; policy accept; }",
    ] {
        let mut args = vec!["/usr/sbin/nft"];
        args.extend(cmd.split(' '));
        lab.host_cmd(&args);
    }
}

fn once(lab: &Lab, args: &[&str]) -> String {
    let host = lab.host();
    let out = run_ok(iptop().args(["--netns", &host]).args(args));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
#[ignore = "needs root: network namespaces, nft"]
fn native_forward_drop_beside_docker29() {
    let lab = Lab::up_nft();
    // Docker's table alone: nothing drops its forwarded traffic
    let json: Value =
        serde_json::from_str(&once(&lab, &["--once", "--format", "json"])).expect("JSON");
    let ids = |j: &Value| -> Vec<String> {
        j["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert!(
        !ids(&json).contains(&"native-forward-drop".to_string()),
        "{json}"
    );
    // Docker's vmap rules count nothing
    assert!(
        ids(&json).contains(&"counterless-rules".to_string()),
        "{json}"
    );

    inet_filter_dropping(&lab);
    let json: Value =
        serde_json::from_str(&once(&lab, &["--once", "--format", "json"])).expect("JSON");
    let f = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "native-forward-drop")
        .unwrap_or_else(|| panic!("no native-forward-drop in {json}"));
    assert_eq!(f["table"], "filter", "{f}");
    assert_eq!(f["chain"], "forward", "{f}");
    assert!(
        f["message"].as_str().unwrap().contains("drops by policy"),
        "{f}"
    );

    let text = once(&lab, &["--once"]);
    assert!(text.contains("native-forward-drop"), "{text}");
    assert!(
        text.contains("inet filter forward (forward hook, priority 0) drops by policy"),
        "{text}"
    );
    // the notes on both tables' chains
    assert!(
        text.contains("Docker 29 (nftables): Forwarded packets"),
        "{text}"
    );
    assert!(
        text.contains("nftables.service: /etc/nftables.conf's forwarded packets"),
        "{text}"
    );
}
