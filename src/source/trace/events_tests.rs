use super::*;
use crate::source::trace::compile::{nest, put, put_str, put_u32};

/// An `NFT_MSG_TRACE` as the kernel sends it: header, nfgenmsg, attributes.
fn trace_msg(family: u8, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut m = vec![0; 16];
    m[4..6].copy_from_slice(&((10u16 << 8) | 17).to_ne_bytes());
    m.extend_from_slice(&[family, 0, 0, 0]);
    f(&mut m);
    let len = m.len() as u32;
    m[..4].copy_from_slice(&len.to_ne_bytes());
    m
}

fn ipv4_tcp_syn() -> (Vec<u8>, Vec<u8>) {
    let mut ip = vec![0x45, 0, 0, 60, 0, 0, 0x40, 0, 64, 6, 0, 0];
    ip.extend_from_slice(&[192, 168, 61, 100, 192, 168, 61, 6]);
    let mut tcp = vec![
        0xc8, 0x32, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff,
    ];
    tcp.extend_from_slice(&[0; 4]);
    (ip, tcp)
}

fn rule_event(
    id: u32,
    table: &str,
    chain: &str,
    handle: u64,
    verdict: i32,
    target: Option<&str>,
) -> Vec<u8> {
    let (ip, tcp) = ipv4_tcp_syn();
    trace_msg(2, |m| {
        put_str(m, 1, table);
        put_str(m, 2, chain);
        put(m, 3, &handle.to_be_bytes());
        put_u32(m, 4, 3);
        nest(m, 5, |v| {
            put_u32(v, 1, verdict as u32);
            if let Some(t) = target {
                put_str(v, 2, t);
            }
        });
        put_u32(m, 6, id);
        put(m, 8, &ip);
        put(m, 9, &tcp);
        put_u32(m, 10, 2);
        put_u32(m, 15, 2);
    })
}

fn policy_event(id: u32, table: &str, chain: &str, policy: u32) -> Vec<u8> {
    trace_msg(2, |m| {
        put_str(m, 1, table);
        put_str(m, 2, chain);
        put_u32(m, 4, 1);
        put_u32(m, 6, id);
        put_u32(m, 16, policy);
    })
}

#[test]
fn decodes_a_rule_event() {
    let e = decode(&rule_event(
        7,
        "nat",
        "PREROUTING",
        12,
        -3,
        Some("DOCKER-INGRESS"),
    ))
    .unwrap();
    assert_eq!(e.id, 7);
    assert_eq!(e.kind, Some(Kind::Rule));
    assert_eq!((e.table.as_str(), e.chain.as_str()), ("nat", "PREROUTING"));
    assert_eq!(e.handle, Some(12));
    assert_eq!(e.verdict.as_deref(), Some("jump"));
    assert_eq!(e.target.as_deref(), Some("DOCKER-INGRESS"));
    assert_eq!(e.iif, Some(2));
    assert_eq!(
        summary(e.nfproto, &e.network, &e.transport),
        "tcp 192.168.61.100:51250 → 192.168.61.6:80 [syn]"
    );
    let p = decode(&policy_event(7, "filter", "FORWARD", 0)).unwrap();
    assert_eq!(
        (p.kind, p.verdict.as_deref()),
        (Some(Kind::Policy), Some("drop"))
    );
}

#[test]
fn summaries_of_ipv6_udp_and_icmp() {
    let mut ip6 = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
    ip6.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    ip6.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
    let udp = [0, 53, 0x30, 0x39, 0, 8, 0, 0];
    assert_eq!(
        summary(Some(10), &ip6, &udp),
        "udp [2001:db8::1]:53 → [2001:db8::2]:12345"
    );
    let mut ip = vec![
        0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip.extend_from_slice(&[8, 0, 0, 0]);
    assert_eq!(
        summary(Some(2), &ip, &[]),
        "icmp 10.0.0.1 → 10.0.0.2 type 8"
    );
    assert_eq!(summary(Some(2), &ip[..10], &[]), "packet (no headers)");
}

#[test]
fn garbage_and_truncation_never_panic() {
    let whole = rule_event(1, "filter", "FORWARD", 3, 1, None);
    for cut in 0..whole.len() {
        let _ = decode(&whole[..cut]);
        let _ = messages(&whole[..cut]).count();
    }
    // every byte flipped, one at a time
    for i in 0..whole.len() {
        let mut b = whole.clone();
        b[i] ^= 0xff;
        if let Some(e) = decode(&b) {
            let _ = summary(e.nfproto, &e.network, &e.transport);
        }
    }
    // pseudo-random bytes
    let mut x: u32 = 0x1234_5678;
    for len in 0..400 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for m in messages(&bytes) {
            let _ = decode(m);
        }
        let _ = decode(&bytes);
        let _ = summary(Some(2), &bytes, &bytes);
        let _ = summary(Some(10), &bytes, &[]);
    }
}

fn packet_of(msgs: &[Vec<u8>]) -> Vec<Gathered> {
    let mut a = Assembler::new(1, "iptop-trace");
    let t0 = Instant::now();
    let mut done = Vec::new();
    for m in msgs {
        a.push(decode(m).unwrap(), t0, &mut done);
    }
    a.flush(t0 + QUIET, &mut done);
    done
}

#[test]
fn groups_by_id_and_drops_its_own_table() {
    let (ip, tcp) = ipv4_tcp_syn();
    let own = trace_msg(1, |m| {
        put_str(m, 1, "iptop-trace");
        put_str(m, 2, "prerouting");
        put_u32(m, 4, 3);
        put_u32(m, 6, 9);
        put(m, 8, &ip);
        put(m, 9, &tcp);
    });
    let own_policy = trace_msg(1, |m| {
        put_str(m, 1, "iptop-trace");
        put_str(m, 2, "prerouting");
        put_u32(m, 4, 1);
        put_u32(m, 6, 9);
        put_u32(m, 16, 1);
    });
    let got = packet_of(&[
        own.clone(),
        own_policy.clone(),
        rule_event(9, "nat", "PREROUTING", 4, -3, Some("DOCKER-INGRESS")),
        rule_event(9, "nat", "DOCKER-INGRESS", 5, 1, None),
        rule_event(9, "filter", "FORWARD", 6, -3, Some("DOCKER-INGRESS")),
        rule_event(9, "filter", "DOCKER-INGRESS", 7, 1, None),
        // the same id again at iptop's table, another packet (its IP id differs): the next
        {
            let mut o = own.clone();
            let at = o.windows(4).position(|w| w == [0x45, 0, 0, 60]).unwrap();
            o[at + 5] = 9;
            o
        },
        // the same packet at iptop's table again (bridged): the same packet
        own.clone(),
        own_policy,
        policy_event(9, "filter", "FORWARD", 0),
    ]);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].events.len(), 4);
    assert!(got[0].summary.starts_with("tcp 192.168.61.100"));
    let mut first: Vec<Step> = super::steps(&got[0].events)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    first[1].dnat = true;
    first[1].rule = Some(1);
    first[3].rule = Some(1);
    assert_eq!(
        decide(&first),
        (
            "accept".to_string(),
            "accept by filter DOCKER-INGRESS rule 1".to_string()
        )
    );
    let second: Vec<Step> = super::steps(&got[1].events)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(
        decide(&second),
        (
            "drop".to_string(),
            "drop by filter FORWARD policy".to_string()
        )
    );
    assert_eq!(decide(&first[..2]).1, "DNAT in nat DOCKER-INGRESS rule 1");
}

#[test]
fn a_quiet_packet_is_finished() {
    let mut a = Assembler::new(1, "iptop-trace");
    let t0 = Instant::now();
    let mut done = Vec::new();
    a.push(
        decode(&policy_event(3, "filter", "INPUT", 1)).unwrap(),
        t0,
        &mut done,
    );
    a.flush(t0 + QUIET / 2, &mut done);
    assert!(done.is_empty());
    a.flush(t0 + QUIET, &mut done);
    assert_eq!(done.len(), 1);
}

/// iptop's own chain's event for a packet of id `id` with TCP flags `flags`.
fn own_event(id: u32, flags: u8) -> Vec<u8> {
    let (ip, mut tcp) = ipv4_tcp_syn();
    tcp[13] = flags;
    trace_msg(1, |m| {
        put_str(m, 1, "iptop-trace");
        put_str(m, 2, "prerouting");
        put_u32(m, 4, 3);
        put_u32(m, 6, id);
        put(m, 8, &ip);
        put(m, 9, &tcp);
    })
}

#[test]
fn packets_leave_in_the_order_they_came() {
    let mut a = Assembler::new(1, "iptop-trace");
    let t0 = Instant::now();
    let mut done = Vec::new();
    let mut push = |m: Vec<u8>, done: &mut Vec<Gathered>| a.push(decode(&m).unwrap(), t0, done);
    // the SYN (id 1) still gathering while the ACK (id 2) is finished early: the
    // request after it reuses id 2
    push(own_event(1, 0x02), &mut done);
    push(rule_event(1, "filter", "FORWARD", 6, 1, None), &mut done);
    push(own_event(2, 0x10), &mut done);
    push(rule_event(2, "filter", "FORWARD", 6, 1, None), &mut done);
    push(own_event(2, 0x11), &mut done);
    push(rule_event(2, "filter", "FORWARD", 6, 1, None), &mut done);
    assert!(done.is_empty(), "the ACK waits for the SYN before it");
    a.flush(t0 + QUIET, &mut done);
    let order: Vec<&str> = done
        .iter()
        .map(|g| g.summary.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(order, ["[syn]", "[ack]", "[ack,fin]"], "{order:?}");
}
