//! Rule text written by other programs, on real iptables (nft and legacy) in a namespace
//! the test makes: a comment holding ESC, BEL, CR, U+009B and U+202E and a chain named
//! with escapes come out escaped on stdout, in `-o` files and on stderr; a comment with a
//! line break that copies a rule line (`ok */\n2 ... DROP ... /* fake`) is read as the
//! comment it is: no fake DROP, the chain keeps its real number of rules.

use std::process::Output;

use crate::common::hostile::{CHAIN, FAKE, HOSTILE, Ns, assert_clean, load};
use crate::common::{iptop, run_ok};

fn once(ns: &Ns, backend: &str, args: &[&str]) -> Output {
    run_ok(
        iptop()
            .args(["--netns", &ns.0, "--backend", backend, "--once"])
            .args(args),
    )
}

/// The rows of chain T in the text export: the rules under `├─▾ T`.
fn rows_under_t(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("├─ T ") || l.starts_with("├─ T  "))
        .unwrap_or_else(|| panic!("no row for T:\n{text}"));
    lines[at + 1..]
        .iter()
        .take_while(|l| l.starts_with("│  "))
        // the row saying what fell through the chain is not a rule
        .filter(|l| !l.contains("fell through"))
        .map(ToString::to_string)
        .collect()
}

fn check_backend(backend: &str, bin: &str) {
    let ns = Ns::new();
    load(&ns, bin);
    let dir = tempfile::tempdir().expect("tmp");

    // --once text on stdout
    let out = once(&ns, backend, &[]);
    assert_clean("stdout", &out.stdout);
    assert_clean("stderr", &out.stderr);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rows = rows_under_t(&text);
    assert_eq!(rows.len(), 3, "T has its three rules:\n{text}");
    let targets: Vec<&str> = rows
        .iter()
        .map(|r| r.split_whitespace().nth(2).unwrap_or_default())
        .collect();
    assert_eq!(targets, ["ACCEPT", "RETURN", "ACCEPT"], "{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.contains("── DROP") && l.contains("6.6.6.6")),
        "the fake DROP is shown as a rule:\n{text}"
    );
    // the comments, escaped where they stand
    assert!(
        text.contains("/* ok */\\n2   999999 88888888 DROP all"),
        "{text}"
    );
    assert!(
        text.contains("e\\x1b]0;pwned\\x07\\x1b[2J x\\r y \\x9b1m z ⟨U+202E⟩ w ⟨U+200B⟩ v"),
        "{text}"
    );
    assert!(text.contains("X\\x1b[2J⟨U+202E⟩"), "{text}");

    // -o: text and SVG files
    for format in ["text", "svg"] {
        let path = dir.path().join(format!("out.{format}"));
        let out = once(
            &ns,
            backend,
            &["--format", format, "-o", path.to_str().expect("path")],
        );
        assert_clean("stderr", &out.stderr);
        let file = std::fs::read(&path).expect("written");
        assert_clean(&format!("-o {format}"), &file);
        if format == "text" {
            // (the header's time aside)
            let body = |t: &str| t.lines().skip(2).collect::<Vec<_>>().join("\n");
            assert_eq!(
                body(&String::from_utf8_lossy(&file)),
                body(&text),
                "-o writes what stdout shows"
            );
        }
    }

    // JSON: the true text (escaped as JSON), no raw character in the file
    let path = dir.path().join("out.json");
    once(
        &ns,
        backend,
        &["--format", "json", "-o", path.to_str().expect("path")],
    );
    let file = std::fs::read(&path).expect("json");
    assert_clean("-o json", &file);
    let v: serde_json::Value = serde_json::from_slice(&file).expect("json parses");
    let chains = v["tables"][0]["chains"].as_array().expect("chains");
    let t = chains.iter().find(|c| c["name"] == "T").expect("T");
    let rules = t["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 3, "{t}");
    assert_eq!(rules[0]["target"], "ACCEPT");
    assert_eq!(rules[0]["extra"], format!("/* {FAKE} */"));
    // the comment is the whole text, line break and all
    assert_eq!(rules[0]["comment"], FAKE);
    assert_eq!(rules[1]["extra"], format!("/* {HOSTILE} */"));
    assert_eq!(rules[2]["num"], 3);
    assert!(
        chains.iter().any(|c| c["name"] == CHAIN),
        "the chain keeps its true name"
    );

    // stderr: an error quoting a chain name
    let out = iptop()
        .args(["--netns", &ns.0, "--backend", backend, "--once", "-c"])
        .arg(format!("{CHAIN}\u{7}"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert_clean("stderr", &out.stderr);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("chain `X\\x1b[2J⟨U+202E⟩\\x07` not found"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn hostile_text_on_iptables_nft() {
    check_backend("nft", "iptables-nft");
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn hostile_text_on_iptables_legacy() {
    check_backend("legacy", "iptables-legacy");
}

/// A replayed listing that fails to parse names the chain escaped on stderr.
#[test]
fn parse_errors_on_stderr_are_escaped() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("listing.txt");
    let listing = format!(
        "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n num pkts bytes target prot opt in out source destination\n\nChain {CHAIN} (0 references)\n\nChain Y (0 references)\n"
    );
    std::fs::write(&path, listing).expect("write");
    let out = iptop()
        .args(["--replay", path.to_str().expect("path"), "--once"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert_clean("stderr", &out.stderr);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("X\\x1b[2J⟨U+202E⟩"), "{err}");
}

/// The crafted comment in a pasted listing: the same reading without iptables.
#[test]
fn crafted_comment_in_a_replayed_listing() {
    let text = include_str!("../../fuzz/seeds/listings/hostile-comment-newline.txt");
    let t = iptop::parse::parse_table("filter", text, None).expect("parses");
    let c = t.chain("T").expect("T");
    let targets: Vec<&str> = c.rules.iter().map(|r| r.spec.target.as_str()).collect();
    assert_eq!(targets, ["ACCEPT", "RETURN", "ACCEPT", "ACCEPT"]);
    assert_eq!(c.rules[0].spec.extra, format!("/* {FAKE} */"));
    assert_eq!(
        c.rules[2].spec.extra,
        "/* a\n\nb\n# not a warning\nnum pkts */ tcp dpt:80"
    );
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    assert_eq!(c.counters[1].packets, 5);
    // the same listing read against itself (the poller's path) reads the same
    let again = iptop::parse::parse_table("filter", text, Some(&t)).expect("again");
    assert_eq!(again, t);
}
