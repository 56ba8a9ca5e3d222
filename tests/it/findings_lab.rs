//! Findings on real iptables: the lab's swarm host with a DOCKER-USER rule that matches
//! the published port after DNAT, connections that FORWARD's DROP policy drops, and an
//! INPUT rule that seems to close the published port.

use crate::common::Lab;
use serde_json::Value;

/// `iptop --once --window 3s --format json` (and `extra`) while `during` sends traffic.
fn findings_over_window(lab: &Lab, extra: &[&str], during: impl FnOnce()) -> Vec<Value> {
    let mut args = vec!["--once", "--window", "3s", "--format", "json"];
    args.extend_from_slice(extra);
    let v: Value = serde_json::from_str(&lab.once_during(&args, during)).expect("json");
    v["findings"].as_array().expect("findings").clone()
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn docker_user_dport_policy_drop_and_the_ufw_trap_on_the_lab() {
    let lab = Lab::up("iptables-restore");
    // the lab as Docker writes it holds no trap, and requests that get through move no policy
    let f = findings_over_window(&lab, &[], || lab.curl(3));
    assert!(f.is_empty(), "{f:#?}");

    lab.drop_in_docker_user(8080);
    let f = findings_over_window(&lab, &[], || lab.blocked(5));
    let ids: Vec<&str> = f.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["policy-drop", "docker-user-dport"], "{f:#?}");
    let policy = &f[0];
    assert_eq!(
        (&policy["table"], &policy["chain"], &policy["rule"]),
        (
            &Value::from("filter"),
            &Value::from("FORWARD"),
            &Value::Null
        )
    );
    assert!(
        policy["message"]
            .as_str()
            .unwrap()
            .contains("dropped 5 packets"),
        "{policy}"
    );
    let user = &f[1];
    assert_eq!(
        (&user["chain"], &user["rule"], &user["severity"]),
        (
            &Value::from("DOCKER-USER"),
            &Value::from(1),
            &Value::from("warning")
        )
    );

    // the ufw trap: INPUT drops the published port, the requests get through all the same
    lab.host_cmd(&[
        "iptables", "-I", "INPUT", "-p", "tcp", "--dport", "80", "-j", "DROP",
    ]);
    let f = findings_over_window(&lab, &["-t", "filter", "-t", "nat"], || lab.curl(3));
    let bypass = f
        .iter()
        .find(|f| f["id"] == "published-port-bypasses-input")
        .unwrap_or_else(|| panic!("{f:#?}"));
    assert_eq!(
        (&bypass["chain"], &bypass["rule"], &bypass["severity"]),
        (
            &Value::from("INPUT"),
            &Value::from(1),
            &Value::from("critical")
        )
    );
    assert!(
        bypass["message"]
            .as_str()
            .unwrap()
            .contains("DOCKER-INGRESS rule 1 publishes it to 172.18.0.2:80"),
        "{bypass}"
    );
}
