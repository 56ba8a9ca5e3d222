//! The recording format's round trips, cuts and damage.

use super::*;

fn poll(seq: u64, at_ms: u64, stdout: &str) -> RawPoll {
    RawPoll {
        last: false,
        seq,
        at: Duration::from_millis(at_ms),
        taken_at: SystemTime::UNIX_EPOCH
            + Duration::from_secs(1_800_000_000)
            + Duration::from_millis(at_ms),
        listings: vec![
            RawListing {
                table: "filter".into(),
                backend: Some(crate::model::Backend::Legacy),
                absent: false,
                stdout: Arc::new(stdout.into()),
                stderr: "# Warning: something\n".into(),
                status: Some(0),
                took: Duration::from_micros(4321),
                kernel: None,
                failure: None,
                written: true,
                spared: None,
                built: None,
            },
            RawListing {
                table: "nat".into(),
                backend: None,
                absent: true,
                stdout: Arc::default(),
                stderr: String::new(),
                status: None,
                took: Duration::from_secs(5),
                kernel: None,
                failure: Some(Failure::Timeout(Duration::from_secs(5))),
                written: false,
                spared: None,
                built: None,
            },
        ],
        discontinuity: false,
    }
}

#[test]
fn round_trip() {
    let info = SourceInfo {
        kind: crate::model::SourceKind::Live,
        host: "h".into(),
        version: "iptables v1.8.9 (nf_tables)".into(),
        ..Default::default()
    };
    let a = poll(
        1,
        0,
        "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n@odd line\n",
    );
    let b = poll(2, 1500, "cut off mid-li");
    let text = header(&info) + &encode_poll(&a) + &encode_poll(&b);
    assert!(is_recording(&text));
    let rec = parse_recording(&text).expect("parse");
    assert_eq!(rec.sessions[0].version, "iptables v1.8.9 (nf_tables)");
    assert_eq!(rec.polls.len(), 2);
    assert_eq!(rec.polls[0], a);
    assert_eq!(rec.polls[1], b);
    assert!(rec.damaged.is_empty());
}

#[test]
fn listing_lines_that_look_like_headers_or_directives_stay_text() {
    let hostile = "Chain X (policy ACCEPT 0 packets, 0 bytes)\n# iptop recording 1\n@source netns fake\n@end 3\n#\n@@\n";
    let p = poll(1, 0, hostile);
    let text = header(&SourceInfo::default()) + &encode_poll(&p);
    let rec = parse_recording(&text).expect("parse");
    assert_eq!(rec.sessions.len(), 1);
    assert_eq!(rec.polls, [p]);
    assert!(rec.damaged.is_empty());
    assert_eq!(rec.sessions[0].netns, None);
}

/// Where a cut of `text` at `at` bytes leaves the polls, and what replays of it
/// keep: only whole polls, each as recorded.
fn check_cut(text: &str, whole: &Recording, at: usize) {
    let cut = &text[..at];
    let Ok(rec) = parse_recording(cut) else {
        return; // refused as a whole, with its line: nothing shown
    };
    let at_poll_boundary = cut.ends_with('\n')
        && cut
            .lines()
            .rev()
            .find(|l| !l.starts_with("@source") && !l.starts_with(MAGIC_PREFIX))
            .is_none_or(|l| l.starts_with("@end "));
    for (i, p) in rec.polls.iter().enumerate() {
        if rec.damaged.iter().any(|d| d.poll == i) {
            continue;
        }
        assert_eq!(
            Some(p),
            whole.polls.get(i),
            "cut at byte {at}: poll {i} is not whole"
        );
    }
    if !at_poll_boundary {
        let d = rec.damaged.last().unwrap_or_else(|| {
            panic!(
                "cut at byte {at} not reported: {:?} {:?}",
                &cut[at.saturating_sub(80)..],
                rec.polls.len()
            )
        });
        assert_eq!(d.poll, rec.polls.len() - 1, "cut at byte {at}: {d:?}");
        assert!(d.reason.contains("cut off"), "{d:?}");
    } else {
        assert!(
            rec.damaged.is_empty(),
            "cut at byte {at}: {:?}",
            rec.damaged
        );
    }
}

#[test]
fn a_cut_anywhere_is_reported_and_never_taken_whole() {
    let info = SourceInfo {
        kind: crate::model::SourceKind::Live,
        netns: Some("a".into()),
        ..Default::default()
    };
    let listing = "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\nnum pkts bytes target prot opt in out source destination\n1 5 300 ACCEPT 0 -- * * 0.0.0.0/0 0.0.0.0/0\n2 6 360 DROP 0 -- * * 1.2.3.4 0.0.0.0/0\n";
    let text = header(&info)
        + &encode_poll(&poll(1, 0, listing))
        + &encode_poll(&poll(2, 1000, listing))
        + &header(&info)
        + &encode_poll(&poll(1, 0, "cut off mid-li"));
    let whole = parse_recording(&text).expect("whole");
    assert!(whole.damaged.is_empty());
    for at in 0..=text.len() {
        check_cut(&text, &whole, at);
    }
}

#[test]
fn a_poll_without_its_end_or_with_the_wrong_count_is_damaged() {
    let info = SourceInfo::default();
    let one = encode_poll(&poll(1, 0, "x\n"));
    let two = encode_poll(&poll(2, 1000, "x\n"));
    // a line lost in the middle: the count no longer holds
    let lost = one.replacen("@stderr # Warning: something\n", "", 1);
    let rec = parse_recording(&(header(&info) + &lost + &two)).expect("parse");
    assert_eq!(rec.damaged.len(), 1, "{:?}", rec.damaged);
    // the poll's first line, after the header
    let first = header(&info).lines().count() + 1;
    assert_eq!((rec.damaged[0].poll, rec.damaged[0].line), (0, first));
    assert!(rec.damaged[0].reason.contains("damaged"));
    // a poll without `@end` followed by another: the first is damaged
    let rec = parse_recording(&(header(&info) + &one[..one.find("@end").expect("end")] + &two))
        .expect("parse");
    assert_eq!(rec.damaged.len(), 1);
    assert_eq!(rec.damaged[0].poll, 0);
    assert_eq!(rec.polls[1], poll(2, 1000, "x\n"));
    // a session cut, then another appended: the cut poll is reported, the rest plays
    let cut = &one[..one.len() - 20];
    let text = header(&info) + cut + "\n" + &header(&info) + &two;
    let rec = parse_recording(&text).expect("parse");
    assert_eq!(rec.polls.len(), 2);
    assert_eq!(rec.damaged.len(), 1);
    assert_eq!(rec.damaged[0].poll, 0);
    assert!(rec.damaged[0].reason.contains("cut off"));
}

#[test]
fn each_poll_keeps_its_sessions_header() {
    let a = SourceInfo {
        kind: crate::model::SourceKind::Live,
        netns: Some("ns-a".into()),
        ..Default::default()
    };
    let b = SourceInfo {
        kind: crate::model::SourceKind::Live,
        host: "h2".into(),
        ..Default::default()
    };
    let text = header(&a)
        + &encode_poll(&poll(1, 0, "x\n"))
        + &header(&b)
        + &encode_poll(&poll(1, 0, "x\n"));
    let rec = parse_recording(&text).expect("parse");
    assert_eq!(rec.sessions, [a, b]);
    assert_eq!(rec.session_of, [0, 1]);
}

#[test]
fn the_source_header_keeps_its_back_end_and_family() {
    let info = SourceInfo {
        kind: crate::model::SourceKind::Live,
        backend: Some(crate::model::Backend::Legacy),
        family: Some(crate::model::IpFamily::Ipv6),
        ..Default::default()
    };
    let text = header(&info) + &encode_poll(&poll(1, 0, "x\n"));
    assert!(text.contains("@source backend legacy\n@"), "{text}");
    assert!(text.contains("@source family ipv6\n"), "{text}");
    let rec = parse_recording(&text).expect("parse");
    assert_eq!(rec.sessions, [info]);
    // a word this version does not know: not known, and the recording still plays
    let odd = text
        .replace("backend legacy", "backend nft+legacy")
        .replace("family ipv6", "family ipx");
    let rec = parse_recording(&odd).expect("parse");
    assert_eq!(rec.sessions[0].backend, None);
    assert_eq!(rec.sessions[0].family, None);
    assert_eq!(rec.polls.len(), 1);
}

#[test]
fn version_1_still_reads() {
    let v1 = "# iptop recording 1\n@poll 1 t=0.000 at=2026-01-01T00:00:00Z\n@listing filter status=4 took=0\n@poll 2 t=1.000\n@listing filter status=4 took=0\n";
    let rec = parse_recording(v1).expect("v1");
    assert_eq!(rec.polls.len(), 2);
    assert!(rec.damaged.is_empty());
    let e = parse_recording("# iptop recording 9\n").unwrap_err();
    assert!(e.reason.contains("version 9"), "{e:?}");
}

#[test]
fn appended_sessions_continue_in_time() {
    let info = SourceInfo::default();
    let text = header(&info)
        + &encode_poll(&poll(1, 0, "x\n"))
        + &encode_poll(&poll(2, 1000, "x\n"))
        + &header(&info)
        + &encode_poll(&poll(1, 0, "x\n"));
    let rec = parse_recording(&text).expect("parse");
    let ats: Vec<u64> = rec.polls.iter().map(|p| p.at.as_millis() as u64).collect();
    assert_eq!(ats, [0, 1000, 2000]);
    assert!(rec.polls[2].discontinuity && !rec.polls[1].discontinuity);
}

#[test]
fn errors_name_the_line() {
    let e = parse_recording(
        "# iptop recording 1\n@poll 1 t=0 at=2026-01-01T00:00:00Z\n@listing filter\n",
    )
    .unwrap_err();
    assert_eq!(e.line, 3);
    let e = parse_recording("# iptop recording 1\nChain X\n").unwrap_err();
    assert_eq!(e.line, 2);
    let e = parse_recording("# iptop recording 1\n@poll x\n").unwrap_err();
    assert_eq!(e.line, 2);
    let e = parse_recording("# iptop recording 1\n@poll 1 t=-4\n").unwrap_err();
    assert!(e.reason.contains("seconds"));
    let e = parse_recording("# iptop recording 1\n@bogus\n").unwrap_err();
    assert!(e.reason.contains("unknown directive"));
    let e = parse_recording("# iptop recording 1\n").unwrap_err();
    assert!(e.reason.contains("no `@poll`"));
}

#[test]
fn native_blocks_go_with_their_poll() {
    let info = SourceInfo::default();
    let nft =
        "table inet t {\n\tchain c {\n\t\t# policy counter packets 1 bytes 2\n@end 1\n\t}\n}\n";
    let text = header(&info)
        + &encode_poll(&poll(1, 0, "x\n"))
        + &native::encode_native(nft)
        + &encode_poll(&poll(2, 1000, "x\n"));
    let rec = parse_recording(&text).expect("parse");
    assert!(rec.damaged.is_empty(), "{:?}", rec.damaged);
    assert_eq!(rec.native.len(), 2);
    assert_eq!(rec.native[0].as_deref(), Some(nft));
    assert_eq!(rec.native[1], None);
    // a block whose `@end` does not add up damages its poll
    let bad = (header(&info) + &encode_poll(&poll(1, 0, "x\n")) + &native::encode_native(nft))
        .replace("@end 7\n", "@end 9\n");
    assert_eq!(parse_recording(&bad).expect("parse").damaged.len(), 1);
    // a block before any poll is refused
    let e = parse_recording(&(header(&info) + "@native\n@end 1\n")).unwrap_err();
    assert!(e.reason.contains("@native"), "{}", e.reason);
}
