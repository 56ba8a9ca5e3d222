//! Counters in the live view: deltas, the baseline, heat, the hot view and the history.

use super::*;

#[test]
fn deltas_baseline_and_heat() {
    let t0 = table();
    let mut app = app_with(&t0);
    let mut t1 = t0.clone();
    bump(&mut t1, "DOCKER-INGRESS", "dpt:80", 5);
    app.on_snapshot("filter", snap(&t1, 1), false);
    select(&mut app, "ACCEPT tcp dpt:80");
    let row = app.selected_row().expect("row").clone();
    assert_eq!(app.movement(&row).delta().map(|d| d.packets), Some(5));
    assert_eq!(
        app.table_data()
            .heat(app.table_data().table().expect("t"), &row),
        Some(0)
    );

    app.apply(Action::Baseline);
    let mut t2 = t1.clone();
    bump(&mut t2, "DOCKER-INGRESS", "dpt:80", 3);
    app.on_snapshot("filter", snap(&t2, 2), false);
    let mut t3 = t2.clone();
    bump(&mut t3, "DOCKER-INGRESS", "dpt:80", 4);
    app.on_snapshot("filter", snap(&t3, 3), false);
    let row = app.selected_row().expect("row").clone();
    assert_eq!(
        app.movement(&row).delta().map(|d| d.packets),
        Some(7),
        "since the baseline"
    );
    // the rate is still the last poll's
    let t = app.table_data().table().expect("t").clone();
    assert_eq!(app.table_data().shown_deltas().pps(&t, &row), Some(4.0));
    app.apply(Action::ClearBaseline);
    assert_eq!(app.movement(&row).delta().map(|d| d.packets), Some(4));

    // no movement for HEAT_POLLS polls: the highlight is gone
    for s in 4..4 + HEAT_POLLS {
        app.on_snapshot("filter", snap(&t3, s), false);
    }
    assert_eq!(
        app.table_data()
            .heat(app.table_data().table().expect("t"), &row),
        None
    );
    let h = app
        .table_data()
        .history_of(app.table_data().table().expect("t"), 4, 0)
        .expect("history");
    assert_eq!(
        h.rates(app.table_data().polls),
        [5.0, 3.0, 4.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn counters_going_down_show_a_reset() {
    let t0 = table();
    let mut t1 = t0.clone();
    bump(&mut t1, "DOCKER-USER", "RETURN", 100);
    let mut app = app_with(&t1);
    let mut t2 = t0.clone();
    bump(&mut t2, "DOCKER-USER", "RETURN", 7);
    app.on_snapshot("filter", snap(&t2, 1), false);
    select(&mut app, "RETURN");
    let d = app.movement(&app.selected_row().expect("row").clone());
    assert_eq!(
        d.delta().copied(),
        Some(Delta {
            packets: 7,
            bytes: 420,
            reset: true
        })
    );
}

#[test]
fn tables_errors_and_commands() {
    let mut app = app_with(&table());
    let asked = app.apply(Action::NextTable);
    assert_eq!(app.table_name(), "nat");
    assert!(app.rows().is_empty(), "nothing polled for nat yet");
    assert_eq!(asked.commands, [Command::SetTable("nat".into())]);
    app.apply(Action::SelectTable(0));
    assert_eq!(app.table_name(), "filter");
    assert!(!app.rows().is_empty());
    app.apply(Action::PrevTable);
    assert_eq!(app.table_name(), "security");
    app.apply(Action::SelectTable(0));

    app.on_error(
        "filter",
        crate::source::PollError::Timeout {
            table: "filter".into(),
            after: std::time::Duration::from_secs(5),
        },
    );
    assert!(!app.rows().is_empty(), "the last good snapshot stays");
    assert!(app.table_data().error.is_some());
    app.on_snapshot("filter", snap(&table(), 1), false);
    assert!(app.table_data().error.is_none());

    let mut asked = app.apply(Action::IntervalLonger);
    asked.extend(app.apply(Action::IntervalShorter));
    asked.extend(app.apply(Action::IntervalShorter));
    asked.extend(app.apply(Action::TogglePause));
    assert_eq!(
        asked.commands,
        [
            Command::SetInterval(Duration::from_secs(2)),
            Command::SetInterval(Duration::from_secs(1)),
            Command::SetInterval(Duration::from_millis(500)),
            Command::Pause(true),
        ]
    );
    app.apply(Action::ToggleHelp);
    assert!(app.shows_help());
    app.apply(Action::Down);
    assert!(app.shows_help(), "the arrows scroll the help");
    app.apply(Action::ToggleDetail);
    assert!(!app.shows_help(), "any other key closes the help");
    app.apply(Action::ToggleHelp);
    app.apply(Action::Quit);
    assert!(
        !app.shows_help() && !app.quit,
        "q closes the help, not iptop"
    );
    app.apply(Action::ToggleHelp);
    app.apply(Action::Interrupt);
    assert!(app.quit, "Ctrl-c quits from the help");
    app.quit = false;
    app.apply(Action::Quit);
    assert!(app.quit);
}

#[test]
fn hot_view_sorts_by_rate_and_jumps_to_the_rule() {
    let t0 = table();
    let mut app = app_with(&t0);
    let mut t1 = t0.clone();
    // 5 requests through DOCKER-INGRESS, 50 packets dropped by isolation
    bump(&mut t1, "FORWARD", "DOCKER-INGRESS", 5);
    bump(&mut t1, "DOCKER-INGRESS", "dpt:80", 5);
    bump(&mut t1, "FORWARD", "DOCKER-ISOLATION-STAGE-1", 50);
    bump(
        &mut t1,
        "DOCKER-ISOLATION-STAGE-1",
        "DOCKER-ISOLATION-STAGE-2",
        50,
    );
    bump(&mut t1, "DOCKER-ISOLATION-STAGE-2", "DROP", 50);
    app.on_snapshot("filter", snap(&t1, 1), false);
    app.apply(Action::ToggleHot);
    let hot = app.hot_rows();
    assert_eq!(hot.len(), 5);
    assert!(
        hot.windows(2).all(|w| w[0].pps >= w[1].pps),
        "fastest first"
    );
    let t = app.table_data().table().expect("t").clone();
    let drops: Vec<&HotRow> = hot
        .iter()
        .filter(|h| {
            h.rule
                .is_some_and(|r| t.chains[h.chain].rules[r].spec.target == "DROP")
        })
        .collect();
    assert_eq!(
        drops.len(),
        1,
        "each rule once, though STAGE-2 appears twice in the tree"
    );
    assert_eq!(drops[0].pps, 50.0);
    assert_eq!(
        drops[0].path,
        [
            "FORWARD",
            "DOCKER-ISOLATION-STAGE-1",
            "DOCKER-ISOLATION-STAGE-2"
        ]
    );
    let dpt80 = hot
        .iter()
        .position(|h| {
            h.rule
                .is_some_and(|r| t.chains[h.chain].rules[r].spec.extra == "tcp dpt:80")
        })
        .expect("dpt:80");
    assert_eq!(hot[dpt80].path, ["FORWARD", "DOCKER-INGRESS"]);
    for _ in 0..dpt80 {
        app.apply(Action::Down);
    }
    app.apply(Action::Drill);
    assert_eq!(app.screen(), Screen::Tree);
    assert_eq!(app.overlay(), None);
    assert_eq!(selected_label(&app), "ACCEPT tcp dpt:80");
}

#[test]
fn hot_view_keeps_what_moved_lately_and_its_selection() {
    let t0 = table();
    let mut app = app_with(&t0);
    let mut t1 = t0.clone();
    bump(&mut t1, "DOCKER-INGRESS", "dpt:80", 10);
    bump(&mut t1, "FORWARD", "DOCKER-INGRESS", 10);
    app.on_snapshot("filter", snap(&t1, 1), false);
    app.apply(Action::ToggleHot);
    let key = |app: &mut LiveView, i: usize| {
        let hot = app.hot_rows();
        let t = app.table_data().table().expect("t");
        let Some(r) = hot[i].rule else {
            return format!("end of {}", t.chains[hot[i].chain].name);
        };
        let r = &t.chains[hot[i].chain].rules[r];
        format!("{} {}", r.spec.target, r.spec.extra)
            .trim()
            .to_string()
    };
    assert_eq!(app.hot_rows().len(), 2);
    app.apply(Action::Down);
    let picked = key(&mut app, 1);
    // three quiet seconds: still listed, with their peak and how long ago they moved
    let mut t = t1.clone();
    for s in 2..5 {
        app.on_snapshot("filter", snap(&t, s), false);
    }
    let hot = app.hot_rows();
    assert_eq!(hot.len(), 2, "idle rules stay in the hot view for a while");
    assert!(hot.iter().all(|h| h.pps == 0.0 && h.peak == 10.0));
    assert!(
        hot.iter()
            .all(|h| h.idle_for == Some(Duration::from_secs(3)))
    );
    // something else moves now: it sorts first, and the selection stays on its rule
    bump(&mut t, "FORWARD", "DOCKER-USER", 4);
    bump(&mut t, "DOCKER-USER", "RETURN", 4);
    app.on_snapshot("filter", snap(&t, 5), false);
    let hot = app.hot_rows();
    assert_eq!(hot.len(), 4);
    assert_eq!((hot[0].pps, hot[0].idle_for), (4.0, None));
    let sel = app.hot_selected();
    assert_eq!(key(&mut app, sel), picked);
    // after HISTORY quiet polls the first two are gone
    for s in 6..(6 + HISTORY as u64) {
        app.on_snapshot("filter", snap(&t, s), false);
    }
    assert!(app.hot_rows().is_empty());
}

#[test]
fn moved_only_ignores_paths_that_did_not_move() {
    // A chain jumped to from two places moves under both in the counters; only the path
    // whose jump moved is kept.
    let t0 = table();
    let mut app = app_with(&t0);
    let mut t1 = t0.clone();
    bump(&mut t1, "FORWARD", "DOCKER-ISOLATION-STAGE-1", 3);
    let c = t1.chain_index("DOCKER-ISOLATION-STAGE-1").expect("chain");
    t1.chain_mut(c).counters[1].packets += 3; // -i docker0 ! -o docker0 -j STAGE-2
    bump(&mut t1, "DOCKER-ISOLATION-STAGE-2", "DROP", 3);
    app.on_snapshot("filter", snap(&t1, 1), false);
    app.apply(Action::ToggleMovedOnly);
    let l = labels(&app);
    assert_eq!(
        l,
        [
            "FORWARD (policy DROP)",
            "└─ DOCKER-ISOLATION-STAGE-1",
            "   └─ DOCKER-ISOLATION-STAGE-2 ×2",
            "      └─ DROP",
        ]
    );
}

#[test]
fn scrolling_keeps_the_selection_in_view() {
    let mut app = app_with(&table());
    app.set_viewport(5);
    app.apply(Action::Bottom);
    assert_eq!(app.selected_index(), app.rows().len() - 1);
    assert_eq!(app.offset(), app.rows().len() - 5);
    app.apply(Action::ScrollUp(100));
    assert_eq!(app.offset(), 0);
    assert!(app.selected_index() < 5);
    app.apply(Action::PageDown);
    assert!(app.selected_index() >= 5);
}

#[test]
fn history_fills_idle_polls_with_zeros_and_keeps_the_last_window() {
    let mut h = History::default();
    h.moved(1, Duration::from_secs(1), 5.0);
    h.moved(2, Duration::from_secs(2), 3.0);
    // idle in polls 3 and 4
    h.moved(5, Duration::from_secs(5), 7.0);
    assert_eq!(h.rates(5), [5.0, 3.0, 0.0, 0.0, 7.0]);
    assert_eq!(h.rates(7), [5.0, 3.0, 0.0, 0.0, 7.0, 0.0, 0.0]);
    assert_eq!(h.peak(7), 7.0);
    // a long idle stretch: only the last HISTORY polls are kept, the old peak is gone
    let late = 5 + HISTORY as u64 + 10;
    assert_eq!(h.rates(late), vec![0.0; HISTORY]);
    assert_eq!(h.peak(late), 0.0);
    h.moved(late + 1, Duration::from_secs(late + 1), 2.0);
    let r = h.rates(late + 1);
    assert_eq!(r.len(), HISTORY);
    assert_eq!(r[HISTORY - 1], 2.0);
    assert!(r[..HISTORY - 1].iter().all(|&x| x == 0.0));
    // many movements in a row never grow it beyond the window
    for p in late + 2..late + 2 + 3 * HISTORY as u64 {
        h.moved(p, Duration::from_secs(p), p as f32);
    }
    let now = late + 1 + 3 * HISTORY as u64;
    let r = h.rates(now);
    assert_eq!(r.len(), HISTORY);
    assert_eq!(r[HISTORY - 1], now as f32);
}

#[test]
fn baseline_sums_patched_in_place_equal_sums_laid_out_again() {
    // Polls whose rules are unchanged (same_rules_as_prev) add their movement to the
    // baseline's layout in place; a poll with an inserted rule lays it out again. Both
    // must give what laying out the sums from scratch gives.
    let same = |t: &FirewallTable| {
        let mut t = t.clone();
        t.same_rules_as_prev = true;
        t
    };
    let check = |app: &LiveView, when: &str| {
        let v = app.table_data();
        let t = v.table().expect("t");
        let fresh = v.baseline.as_ref().expect("baseline").laid_out(t);
        assert_eq!(v.baseline_deltas.as_ref(), Some(&fresh), "{when}");
    };
    let t0 = table();
    let mut app = app_with(&t0);
    app.apply(Action::Baseline);
    let mut t = t0.clone();
    for s in 1..6 {
        bump(&mut t, "DOCKER-INGRESS", "dpt:80", s);
        bump(&mut t, "FORWARD", "DOCKER-INGRESS", s);
        if s % 2 == 0 {
            bump(&mut t, "DOCKER-ISOLATION-STAGE-2", "DROP", 2);
        }
        let c = t.chain_index("FORWARD").expect("FORWARD");
        t.chain_mut(c).packets += 1; // the policy's counters
        app.on_snapshot("filter", snap(&same(&t), s), false);
        check(&app, &format!("poll {s}"));
    }
    // someone runs iptables -Z on DOCKER-INGRESS: a reset, summed from zero
    let c = t.chain_index("DOCKER-INGRESS").expect("chain");
    for k in &mut t.chain_mut(c).counters {
        *k = Default::default();
    }
    app.on_snapshot("filter", snap(&same(&t), 6), false);
    check(&app, "after a reset");
    // a rule inserted at the top of DOCKER-INGRESS: the layout changes
    insert_rule(&mut t, "DOCKER-INGRESS", "LOG", "6", "");
    t.chain_mut(c).counters[0].packets = 9;
    bump(&mut t, "DOCKER-INGRESS", "dpt:80", 1);
    app.on_snapshot("filter", snap(&t, 7), false);
    check(&app, "after an insert");
    for s in 8..11 {
        bump(&mut t, "DOCKER-INGRESS", "LOG", 2);
        bump(&mut t, "DOCKER-INGRESS", "dpt:80", 3);
        app.on_snapshot("filter", snap(&same(&t), s), false);
        check(&app, &format!("poll {s}"));
    }
    select(&mut app, "ACCEPT tcp dpt:80");
    let row = app.selected_row().expect("row").clone();
    // 1+2+3+4+5 before the reset, 1 with the insert, 3 polls of 3 since
    assert_eq!(
        app.movement(&row).delta().map(|d| (d.packets, d.reset)),
        Some((15 + 1 + 9, true))
    );
}

/// Sets the counters of the `n`-th rule (0-based) of `chain` whose match text is `what`.
fn set_counter(t: &mut FirewallTable, chain: &str, what: &str, n: usize, packets: u64) {
    let c = t.chain_index(chain).expect("chain");
    let i = t.chains[c]
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.spec.extra == what)
        .nth(n)
        .expect("rule")
        .0;
    t.chain_mut(c).counters[i] = crate::model::Counter {
        packets,
        bytes: packets * 60,
    };
}

/// A row of rule `rule` of chain `chain`, on its own.
fn rule_row(chain: usize, rule: usize) -> TreeRow {
    TreeRow {
        kind: RowKind::Rule { chain, rule },
        id: tree::NodeId(0),
        depth: 1,
        parent: None,
        fold: Fold::Leaf,
        jump: None,
        last: false,
        guides: 0,
        note: None,
    }
}

/// The baseline sums of the rules of `chain` whose match text is `what`, in order.
fn sums_of(app: &LiveView, chain: &str, what: &str) -> Vec<Movement> {
    let v = app.table_data();
    let t = v.table().expect("t");
    let c = t.chain_index(chain).expect("chain");
    (0..t.chains[c].rules.len())
        .filter(|&r| t.chains[c].rules[r].spec.extra == what)
        .map(|r| {
            movement(
                v.table().expect("table"),
                &rule_row(c, r),
                v.shown_deltas().shown,
            )
        })
        .collect()
}

#[test]
fn baseline_stays_on_identical_rules_when_a_copy_is_inserted_above_them() {
    // two counting rules with the same text (no -j), with traffic before the baseline
    const COPY: &str = "tcp dpt:80";
    let mut t = table();
    insert_rule(&mut t, "DOCKER-USER", "", "6", COPY);
    insert_rule(&mut t, "DOCKER-USER", "", "6", COPY);
    set_counter(&mut t, "DOCKER-USER", COPY, 0, 1_000_000);
    set_counter(&mut t, "DOCKER-USER", COPY, 1, 400_000);
    let mut app = app_with(&t);
    app.apply(Action::Baseline);
    let d = |p: u64| {
        Movement::Delta(Delta {
            packets: p,
            bytes: p * 60,
            reset: false,
        })
    };
    set_counter(&mut t, "DOCKER-USER", COPY, 0, 1_000_005);
    set_counter(&mut t, "DOCKER-USER", COPY, 1, 400_005);
    app.on_snapshot("filter", snap(&t, 1), false);
    assert_eq!(sums_of(&app, "DOCKER-USER", COPY), [d(5), d(5)]);
    // a third copy inserted at the top, counting 2 packets while the others count 5 more
    insert_rule(&mut t, "DOCKER-USER", "", "6", COPY);
    set_counter(&mut t, "DOCKER-USER", COPY, 0, 2);
    set_counter(&mut t, "DOCKER-USER", COPY, 1, 1_000_010);
    set_counter(&mut t, "DOCKER-USER", COPY, 2, 400_010);
    app.on_snapshot("filter", snap(&t, 2), false);
    assert_eq!(sums_of(&app, "DOCKER-USER", COPY), [d(2), d(10), d(10)]);
    // the sums go on from there
    set_counter(&mut t, "DOCKER-USER", COPY, 0, 3);
    set_counter(&mut t, "DOCKER-USER", COPY, 1, 1_000_011);
    set_counter(&mut t, "DOCKER-USER", COPY, 2, 400_011);
    app.on_snapshot("filter", snap(&t, 3), false);
    assert_eq!(sums_of(&app, "DOCKER-USER", COPY), [d(3), d(11), d(11)]);
    let fresh = app
        .table_data()
        .baseline
        .as_ref()
        .expect("baseline")
        .laid_out(app.table_data().table().expect("t"));
    assert_eq!(app.table_data().baseline_deltas.as_ref(), Some(&fresh));

    // one copy zeroed (`iptables -Z DOCKER-USER 2`): its copies cannot be told apart,
    // so their sums are unknown from then on, never a wrong number
    // (polls whose rules are the same patch the sums in place)
    t.same_rules_as_prev = true;
    set_counter(&mut t, "DOCKER-USER", COPY, 1, 1);
    set_counter(&mut t, "DOCKER-USER", COPY, 2, 400_012);
    app.on_snapshot("filter", snap(&t, 4), false);
    assert_eq!(
        sums_of(&app, "DOCKER-USER", COPY),
        [Movement::Unknown, Movement::Unknown, Movement::Unknown]
    );
    set_counter(&mut t, "DOCKER-USER", COPY, 2, 400_013);
    app.on_snapshot("filter", snap(&t, 5), false);
    assert_eq!(
        sums_of(&app, "DOCKER-USER", COPY),
        [Movement::Unknown, Movement::Unknown, Movement::Unknown]
    );
    let fresh = app
        .table_data()
        .baseline
        .as_ref()
        .expect("baseline")
        .laid_out(app.table_data().table().expect("t"));
    assert_eq!(app.table_data().baseline_deltas.as_ref(), Some(&fresh));
    // without the baseline, the last poll's deltas are known again
    app.apply(Action::ClearBaseline);
    assert_eq!(sums_of(&app, "DOCKER-USER", COPY), [d(0), d(0), d(1)]);
}

/// A replay that starts over (the demo loops): the view says so, and the hot view forgets
/// what moved in the last round.
#[test]
fn a_replay_starting_over_is_said_and_the_hot_view_starts_afresh() {
    let t0 = table();
    let mut app = app_with(&t0);
    let mut t1 = t0.clone();
    bump(&mut t1, "DOCKER-INGRESS", "dpt:80", 10);
    bump(&mut t1, "FORWARD", "DOCKER-INGRESS", 10);
    app.on_snapshot("filter", snap(&t1, 1), false);
    app.apply(Action::ToggleHot);
    assert!(!app.hot_rows().is_empty(), "the rule moved");
    assert!(app.notice().is_none());
    // the recording's first poll again
    app.on_snapshot("filter", snap(&t0, 2), true);
    assert!(
        app.notice().is_some_and(|n| n.contains("started again")),
        "{:?}",
        app.notice()
    );
    assert!(app.hot_rows().is_empty(), "nothing moved since");
}

#[test]
fn rules_whose_keys_are_alike_show_no_history_rather_than_each_others() {
    let mut t0 = table();
    let c = t0.chain_index("DOCKER-INGRESS").expect("chain");
    let (moving, idle) = {
        let rules = &t0.chains[c].rules;
        let at = |what: &str| rules.iter().position(|r| r.spec.extra.contains(what));
        (at("dpt:80").expect("dpt:80"), rules.len() - 1)
    };
    // the idle RETURN's text made to hash as the moving rule's (a crafted comment)
    let key = t0.chains[c].rules[moving].key;
    Arc::make_mut(&mut t0.chain_mut(c).rules)[idle].key = key;
    let mut app = app_with(&t0);
    let mut t1 = t0.clone();
    bump(&mut t1, "DOCKER-INGRESS", "dpt:80", 5);
    app.on_snapshot("filter", snap(&t1, 1), false);
    let v = app.table_data();
    let t = v.table().expect("t");
    for r in [moving, idle] {
        assert!(v.history_of(t, c, r).is_none(), "rule {r}");
        assert_eq!(v.heat(t, &rule_row(c, r)), None, "rule {r}");
    }
    // the deltas, by position, are each rule's own
    let d = v.deltas.as_ref().expect("deltas");
    assert_eq!(d.rule(c, moving).map(|d| d.packets), Some(5));
    assert_eq!(d.rule(c, idle).map(|d| d.packets), Some(0));
}

#[test]
fn a_poll_that_read_no_counters_keeps_the_last_reads_deltas_and_rates() {
    let t0 = table();
    let spared = |held| crate::model::Spared {
        every: 2,
        took: Duration::from_millis(70),
        held,
    };
    let mut t1 = t0.clone();
    t1.spared = Some(spared(false));
    let mut app = app_with(&t1);
    assert!(
        app.notice().is_some_and(|n| n.contains("every 2 polls")),
        "{:?}",
        app.notice()
    );
    let mut t2 = t1.clone();
    bump(&mut t2, "DOCKER-INGRESS", "dpt:80", 8);
    app.on_snapshot("filter", snap(&t2, 2), false);
    select(&mut app, "ACCEPT tcp dpt:80");
    let row = app.selected_row().expect("row").clone();
    let rate = |app: &LiveView| {
        let t = app.table_data().table().expect("t").clone();
        app.table_data().shown_deltas().pps(&t, &row)
    };
    // 8 packets between two reads 2 s apart
    assert_eq!(app.movement(&row).delta().map(|d| d.packets), Some(8));
    assert_eq!(rate(&app), Some(4.0));
    // the next poll only checked the rules: the same counters, handed on as held
    let mut t3 = t2.clone();
    t3.spared = Some(spared(true));
    app.on_snapshot("filter", snap(&t3, 3), false);
    assert_eq!(
        app.movement(&row).delta().map(|d| d.packets),
        Some(8),
        "not a poll in which nothing moved"
    );
    assert_eq!(rate(&app), Some(4.0));
    let v = app.table_data();
    assert_eq!(v.polls, 2, "a held poll is no read");
    assert_eq!(v.window, Duration::from_secs(2));
    assert_eq!(
        v.polled().map(|p| p.0),
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_003)),
        "the header's clock is the poll's"
    );
    assert_eq!(
        v.recent.back().map(|s| s.at),
        Some(Duration::from_secs(2)),
        "the export window keeps the reads only"
    );
    // the next read: measured from the last read
    let mut t4 = t2.clone();
    bump(&mut t4, "DOCKER-INGRESS", "dpt:80", 2);
    app.on_snapshot("filter", snap(&t4, 4), false);
    assert_eq!(app.movement(&row).delta().map(|d| d.packets), Some(2));
    assert_eq!(rate(&app), Some(1.0));
    assert!(app.table_data().held.is_none());
}
