//! Recordings made by the iptop binary, read back: a recording cut anywhere (even at a
//! line boundary) is reported and never shows a partial table; each poll is labelled
//! with its own session's source.

use std::fs;
use std::path::Path;
use std::process::Output;

use crate::common::{FakeIptables, iptop, run_ok};
use iptop::source::replay::ReplaySource;
use iptop::source::snapshot_from;
use serde_json::Value;

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A recording of filter and nat, `polls` polls of the fake iptables' Docker swarm.
fn record(fake: &FakeIptables, rec: &Path, extra: &[&str]) {
    let out = iptop()
        .args(["--once", "-t", "filter", "-t", "nat", "--record"])
        .arg(rec)
        .args(extra)
        .env("PATH", fake.path_env())
        .output()
        .expect("iptop");
    assert!(out.status.success(), "{}", stderr_of(&out));
}

const TABLES: [&str; 2] = ["filter", "nat"];

/// What a replay of `text` shows: per poll, per table, the listing text it accepted
/// (None where it reported an error instead).
fn shown(text: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let mut src =
        ReplaySource::from_text("cut.rec", text, Some("filter")).map_err(|e| e.to_string())?;
    let mut polls = Vec::new();
    while let Some(p) = src.next_poll() {
        let per_table = TABLES
            .iter()
            .map(|t| {
                snapshot_from(&p, &[t.to_string()]).ok().map(|_| {
                    p.listings
                        .iter()
                        .find(|l| l.table == *t)
                        .map(|l| l.stdout.to_string())
                        .unwrap_or_default()
                })
            })
            .collect();
        polls.push(per_table);
    }
    Ok(polls)
}

#[test]
fn a_recording_cut_anywhere_is_reported_and_never_shown_in_part() {
    let fake = FakeIptables::new("ok");
    let dir = tempfile::tempdir().expect("tmp");
    let rec = dir.path().join("polls.rec");
    record(&fake, &rec, &["--window", "600ms", "--interval", "200ms"]);
    let text = fs::read_to_string(&rec).expect("read");
    let whole = shown(&text).expect("the whole recording replays");
    assert!(whole.len() >= 3, "{} polls", whole.len());
    assert!(whole.iter().flatten().all(Option::is_some));

    // every line boundary, and every 7th byte
    let mut cuts: Vec<usize> = text.match_indices('\n').map(|(i, _)| i + 1).collect();
    cuts.extend((0..text.len()).step_by(7));
    let mut reported = 0;
    for at in cuts {
        let cut = &text[..at];
        // where whole polls end, nothing is lost
        let at_poll_end = cut.is_empty()
            || text[at..].starts_with("@poll ")
            || at == text.len()
            || (cut.ends_with('\n') && !cut.contains("@poll "));
        match shown(cut) {
            Err(e) => {
                assert!(!at_poll_end || !cut.contains("@poll "), "cut at {at}: {e}");
                assert!(e.contains("line "), "cut at {at}: {e}");
                reported += 1;
            }
            Ok(polls) => {
                for (i, p) in polls.iter().enumerate() {
                    for (t, listing) in p.iter().enumerate() {
                        if let Some(l) = listing {
                            assert_eq!(
                                Some(l),
                                whole[i][t].as_ref(),
                                "cut at byte {at}: poll {i} of {} shown in part",
                                TABLES[t]
                            );
                        }
                    }
                }
                let any_error = polls.iter().flatten().any(Option::is_none);
                if !at_poll_end {
                    assert!(any_error, "cut at byte {at} not reported");
                    reported += 1;
                }
            }
        }
    }
    assert!(reported > 100, "{reported}");
}

#[test]
fn replaying_a_cut_recording_names_the_file_and_line() {
    let fake = FakeIptables::new("ok");
    let dir = tempfile::tempdir().expect("tmp");
    let rec = dir.path().join("polls.rec");
    record(&fake, &rec, &["--window", "400ms", "--interval", "200ms"]);
    let text = fs::read_to_string(&rec).expect("read");
    let second = text.match_indices("@poll ").nth(1).expect("two polls").0;
    // cut at a line boundary inside the second poll's filter listing
    let inside = second + text[second..].find("Chain FORWARD").expect("chain");
    let cut = dir.path().join("cut.rec");
    fs::write(&cut, &text[..inside]).expect("write");
    let line = text[..second].lines().count() + 1;

    // the first poll is whole: shown, with a warning naming the cut poll
    let out = run_ok(
        iptop()
            .args(["--replay"])
            .arg(&cut)
            .args(["--once", "--format", "json"]),
    );
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("cut.rec: line {line}: poll 2 is cut off")),
        "{err}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["tables"][0]["name"], "filter");

    // a window reaching into it: refused, not compared with a partial table
    let out = iptop()
        .args(["--replay"])
        .arg(&cut)
        .args(["--once", "--window", "200ms"])
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr_of(&out).contains(&format!("line {line}: poll 2 is cut off")),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(stderr_of(&out).lines().count(), 1, "{}", stderr_of(&out));

    // cut right after the first `@poll` line: nothing to show, for any table
    let first = text.find("@poll ").expect("poll");
    let end = first + text[first..].find('\n').expect("line") + 1;
    fs::write(&cut, &text[..end]).expect("write");
    let out = iptop()
        .args(["--replay"])
        .arg(&cut)
        .args(["--once", "-t", "nat"])
        .output()
        .expect("iptop");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("poll 1 is cut off"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A network namespace of the test's own, deleted when dropped.
struct Netns(String);

impl Netns {
    fn add(name: &str) -> Netns {
        crate::common::require_root();
        let name = format!("{name}-{}", std::process::id());
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip");
        assert!(ok.success());
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn each_poll_is_labelled_with_its_own_sessions_source() {
    let fake = FakeIptables::new("ok");
    let (a, b) = (Netns::add("iptop-rec-a"), Netns::add("iptop-rec-b"));
    let dir = tempfile::tempdir().expect("tmp");
    let rec = dir.path().join("two.rec");
    record(&fake, &rec, &["--netns", &a.0]);
    record(&fake, &rec, &["--netns", &b.0]);

    let mut src = ReplaySource::open(&rec, Some("filter")).expect("replay");
    assert_eq!(src.info().netns.as_deref(), Some(a.0.as_str()));
    src.next_poll().expect("poll 1");
    assert_eq!(src.info().netns.as_deref(), Some(a.0.as_str()));
    let p = src.next_poll().expect("poll 2");
    assert!(p.discontinuity);
    assert_eq!(src.info().netns.as_deref(), Some(b.0.as_str()));

    // --once shows the first poll: the first session's namespace
    let out = run_ok(
        iptop()
            .args(["--replay"])
            .arg(&rec)
            .args(["--once", "--format", "json"]),
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["source"]["netns"], a.0.as_str());
}
