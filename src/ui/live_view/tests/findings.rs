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
