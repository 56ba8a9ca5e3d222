//! The live view's spared reads of a legacy table (`source/kernel/spare.rs`) on real
//! iptables-legacy in a namespace the test creates, with real packets: a poll between
//! reads reads no counter (the packets it would show stay for the next read, marked
//! held, never as a poll in which nothing moved), a change of the rules is read at once,
//! and the rule set is the same afterwards.

use std::sync::Arc;
use std::time::Duration;

use crate::common::hostile::Ns;
use iptop::model::Backend;
use iptop::source::kernel::KernelSource;
use iptop::source::kernel::spare::MOST;
use iptop::source::live::{BackendChoice, LiveConfig, LiveSource};
use iptop::source::{RawListing, RawPoll, snapshot_from};

const BIN: &str = "iptables-legacy";

/// The packets of INPUT's rule `i` as a poll's snapshot shows them.
fn packets(raw: &RawPoll, i: usize) -> u64 {
    let s = snapshot_from(raw, &["filter".to_string()]).expect("snapshot");
    let t = &s.tables[0];
    let c = t.chain_index("INPUT").expect("INPUT");
    t.chains[c].counters[i].packets
}

fn legacy(raw: &RawPoll) -> &RawListing {
    raw.listings
        .iter()
        .find(|l| l.backend == Some(Backend::Legacy))
        .expect("the legacy listing")
}

/// A namespace whose INPUT counts the connections `Ns::knock` tries (its first rule).
fn knocked() -> Ns {
    let ns = Ns::new();
    ns.exec(&["ip", "link", "set", "lo", "up"]);
    ns.ipt(
        BIN,
        &["-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "ACCEPT"],
    );
    ns
}

/// A runtime, and the kernel source of the filter table of `ns` (iptables-legacy).
fn kernel_source(ns: &Ns) -> (tokio::runtime::Runtime, KernelSource) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let live = LiveSource::new(LiveConfig {
        backend: BackendChoice::Legacy,
        ipv6: false,
        netns: Some(ns.0.clone()),
        tables: vec!["filter".to_string()],
        timeout: Duration::from_secs(5),
        binary: None,
    })
    .expect("source");
    let netns = live.netns_fd();
    match KernelSource::new(Box::new(live), netns, BackendChoice::Legacy, false, false) {
        Ok(k) => (rt, k),
        Err((_, why)) => panic!("the kernel source cannot start: {why}"),
    }
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn a_spared_legacy_table_is_held_between_reads_and_read_at_once_when_its_rules_change() {
    let ns = knocked();
    ns.ipt(
        BIN,
        &["-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "DROP"],
    );
    let save = || ns.exec(&["iptables-legacy-save", "-t", "filter"]).stdout;
    let rules_before = save();
    let (rt, mut k) = kernel_source(&ns);
    // reads that may take a millionth of the interval: any is over its share, so the
    // table is read every MOST polls, and held for up to 10 s (the test polls faster)
    k.spare_reads(Duration::from_secs(1), 1_000_000);
    let mut poll = || rt.block_on(k.poll());

    // the listing, then the first read of it: spared from now on
    let first = poll();
    assert!(legacy(&first).spared.is_none(), "a listing's own read");
    let read = poll();
    let s = legacy(&read).spared.expect("spared");
    assert_eq!((s.every, s.held), (MOST, false));
    let seen = packets(&read, 0);

    // packets, then a poll between reads: nothing read, the last read's counters held
    ns.knock(5);
    let held = poll();
    let s = legacy(&held).spared.expect("spared");
    assert!(s.held, "no counters read");
    assert!(Arc::ptr_eq(
        legacy(&held).kernel.as_ref().expect("counters"),
        legacy(&read).kernel.as_ref().expect("counters")
    ));
    assert_eq!(
        packets(&held, 0),
        seen,
        "the packets wait for the next read"
    );

    // the polls up to the next read hold; that read shows every packet since
    for _ in 2..MOST {
        assert!(legacy(&poll()).spared.is_some_and(|s| s.held));
    }
    let next = poll();
    assert!(legacy(&next).spared.is_some_and(|s| !s.held), "read again");
    assert!(
        packets(&next, 0) == seen + 5,
        "5 connections tried since the read: {} then {}",
        seen,
        packets(&next, 0)
    );

    // a rule inserted between reads: GET_INFO tells, the table is read and listed again
    assert!(legacy(&poll()).spared.is_some_and(|s| s.held));
    ns.ipt(
        BIN,
        &["-I", "INPUT", "-p", "udp", "--dport", "53", "-j", "ACCEPT"],
    );
    ns.knock(2);
    let changed = poll();
    assert!(
        legacy(&changed).spared.is_none_or(|s| !s.held),
        "a change is never held"
    );
    let s = snapshot_from(&changed, &["filter".to_string()]).expect("snapshot");
    let t = &s.tables[0];
    let input = &t.chains[t.chain_index("INPUT").expect("INPUT")];
    assert_eq!(input.rules.len(), 3, "the inserted rule is shown");
    assert!(input.rules[0].spec.extra.contains("dpt:53"));
    assert_eq!(input.counters[1].packets, seen + 7, "the connections since");

    // read-only: only the rule the test inserted is new
    ns.ipt(BIN, &["-D", "INPUT", "1"]);
    let strip = |b: Vec<u8>| -> Vec<String> {
        String::from_utf8_lossy(&b)
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with(':'))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(strip(save()), strip(rules_before));
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn without_sparing_every_poll_reads() {
    let ns = knocked();
    let (rt, mut k) = kernel_source(&ns);
    let mut last = rt.block_on(k.poll());
    for _ in 0..4 {
        ns.knock(1);
        let now = rt.block_on(k.poll());
        assert!(legacy(&now).spared.is_none());
        assert_eq!(
            packets(&now, 0),
            packets(&last, 0) + 1,
            "read on every poll"
        );
        last = now;
    }
}
