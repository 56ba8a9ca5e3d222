use super::*;
use crate::derive::Want;
use crate::derive::path::path;
use crate::derive::path::tests::{docker29, input_of};

#[test]
fn native_base_chains_in_text_and_json() {
    let snap = docker29();
    let source = crate::model::SourceInfo::default();
    let input = input_of(&snap, &source);
    let out = render_text(&path(&input, Want::TEXT));
    assert!(
        out.contains("hook PREROUTING · ip docker-bridges raw-PREROUTING (-300), nat = ip docker-bridges nat-PREROUTING (-100, same priority)"),
        "{out}"
    );
    assert!(
        out.contains("nat PREROUTING (policy ACCEPT)  ")
            || out.contains("nat PREROUTING (policy ACCEPT) "),
        "{out}"
    );
    let raw = out
        .find("ip docker-bridges raw-PREROUTING (policy")
        .expect("raw row");
    let nat = out.find("nat PREROUTING (policy ACCEPT)").expect("nat row");
    assert!(raw < nat, "{out}");
    assert!(
        out.contains("same priority (-100) as ip docker-bridges nat-PREROUTING: their order is registration order"),
        "{out}"
    );
    // the vmap rule counts nothing: null in JSON, never 0
    let json = render_json(&path(&input, Want::JSON));
    let json: serde_json::Value = serde_json::from_str(&json).expect("json");
    let fwd = json["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hook"] == "FORWARD")
        .unwrap();
    let vmap = fwd["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["text"] == "oifname vmap @filter-forward-in-jumps")
        .expect("vmap row");
    assert!(
        vmap["packets"].is_null() && vmap["handle"].as_u64().unwrap() > 0,
        "{vmap}"
    );
    assert_eq!(fwd["chains"][0]["chain"], "filter-FORWARD");
}
