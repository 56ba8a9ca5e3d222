//! Findings in the live view are judged over a window: the header's badge and the pane
//! agree, a trap that fired a few polls ago is still listed (with when), and one not seen
//! for longer than the window goes.

use super::*;
use crate::explain::findings::POLICY_DROP;

fn policy_dropped(t: &mut FirewallTable, n: u64) {
    let c = t.chain_index("FORWARD").expect("FORWARD");
    let c = t.chain_mut(c);
    c.packets += n;
    c.bytes += 60 * n;
}

#[test]
fn a_finding_stays_for_the_window_then_goes() {
    let t0 = table();
    let mut app = app_with(&t0);
    let mut t1 = t0.clone();
    policy_dropped(&mut t1, 3);
    app.on_snapshot("filter", snap(&t1, 1), false);
    app.evaluate_findings();
    let ids = |app: &LiveView| -> Vec<_> { app.findings().iter().map(|f| f.finding.id).collect() };
    assert_eq!(ids(&app), [POLICY_DROP]);
    assert_eq!(app.findings()[0].ago, Duration::ZERO);
    // two quiet polls: still listed, last seen 2 s ago
    app.on_snapshot("filter", snap(&t1, 2), false);
    app.evaluate_findings();
    app.on_snapshot("filter", snap(&t1, 3), false);
    app.evaluate_findings();
    assert_eq!(ids(&app), [POLICY_DROP]);
    assert_eq!(app.findings()[0].ago, Duration::from_secs(2));
    assert!(app.worst_finding().is_some(), "the badge says the same");
    // dropped again: fresh
    let mut t2 = t1.clone();
    policy_dropped(&mut t2, 1);
    app.on_snapshot("filter", snap(&t2, 4), false);
    app.evaluate_findings();
    assert_eq!(app.findings().len(), 1, "found again, not twice");
    assert_eq!(app.findings()[0].ago, Duration::ZERO);
    // quiet for longer than the window (10 s): gone
    app.on_snapshot("filter", snap(&t2, 15), false);
    app.evaluate_findings();
    assert!(app.findings().is_empty(), "{:?}", ids(&app));
    assert!(app.worst_finding().is_none());
}

/// A run of quiet polls (same rules, nothing moved) is judged once and finds what a
/// fresh judgement finds: the rules' own findings refreshed each poll, a drop of a few
/// polls ago kept with its age; a poll in which something moved is judged again.
#[test]
fn quiet_polls_are_judged_once_and_find_the_same() {
    use crate::explain::findings::UNREFERENCED_CHAIN;
    let text = format!(
        "{SWARM}\nChain ORPHAN (0 references)\n    pkts      bytes target     prot opt in     out     source               destination\n       0        0 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0\n"
    );
    let mut t0 = parse_table("filter", &text, None).expect("fixture");
    let mut cached = app_with(&t0);
    let mut fresh = app_with(&t0);
    policy_dropped(&mut t0, 3);
    let quiet = {
        let mut t = t0.clone();
        t.same_rules_as_prev = true;
        t
    };
    let ids = |app: &LiveView| -> Vec<_> {
        app.findings()
            .iter()
            .map(|f| (f.finding.id, f.ago))
            .collect()
    };
    for (secs, t) in [(1, &t0), (2, &quiet), (3, &quiet), (4, &quiet)] {
        for app in [&mut cached, &mut fresh] {
            app.on_snapshot("filter", snap(t, secs), false);
        }
        cached.evaluate_findings();
        fresh.findings.still = None;
        fresh.evaluate_findings();
        assert_eq!(ids(&cached), ids(&fresh), "poll {secs}");
    }
    assert!(cached.findings.still.as_ref().is_some_and(|s| s.seq == 4));
    assert_eq!(
        ids(&cached),
        [
            (UNREFERENCED_CHAIN, Duration::ZERO),
            (POLICY_DROP, Duration::from_secs(3))
        ]
    );
    // dropped again: judged afresh
    let mut t5 = quiet.clone();
    policy_dropped(&mut t5, 1);
    cached.on_snapshot("filter", snap(&t5, 5), false);
    cached.evaluate_findings();
    assert!(cached.findings.still.is_none());
    assert_eq!(
        ids(&cached),
        [
            (POLICY_DROP, Duration::ZERO),
            (UNREFERENCED_CHAIN, Duration::ZERO)
        ]
    );
}
