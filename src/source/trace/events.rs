//! The kernel's trace events (`NFT_MSG_TRACE` on the group `NFNLGRP_NFTRACE`): decoded
//! with a bounds check on every byte (any byte string gives an event or nothing, never
//! a panic), and grouped by trace id into traced packets.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant, SystemTime};

use crate::source::kernel::nft::attrs;

const NFT_MSG_TRACE: u16 = 17;
const NFNL_SUBSYS_NFTABLES: u16 = 10;

const NFTA_TRACE_TABLE: u16 = 1;
const NFTA_TRACE_CHAIN: u16 = 2;
const NFTA_TRACE_RULE_HANDLE: u16 = 3;
const NFTA_TRACE_TYPE: u16 = 4;
const NFTA_TRACE_VERDICT: u16 = 5;
const NFTA_TRACE_ID: u16 = 6;
const NFTA_TRACE_NETWORK_HEADER: u16 = 8;
const NFTA_TRACE_TRANSPORT_HEADER: u16 = 9;
const NFTA_TRACE_IIF: u16 = 10;
const NFTA_TRACE_OIF: u16 = 12;
const NFTA_TRACE_MARK: u16 = 14;
const NFTA_TRACE_NFPROTO: u16 = 15;
const NFTA_TRACE_POLICY: u16 = 16;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;

/// What an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The chain's policy decided.
    Policy,
    /// The chain ended without a verdict: back to the caller.
    Return,
    /// A rule matched.
    Rule,
    Other,
}

/// One decoded `NFT_MSG_TRACE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    pub id: u32,
    pub kind: Option<Kind>,
    /// The table's family (`ip`, `ip6`, `inet`, ...).
    pub family: u8,
    pub table: String,
    pub chain: String,
    pub handle: Option<u64>,
    /// Lowercase: accept, drop, continue, return, jump, goto, queue, ...
    pub verdict: Option<String>,
    /// The chain of a jump or goto.
    pub target: Option<String>,
    pub iif: Option<u32>,
    pub oif: Option<u32>,
    pub mark: Option<u32>,
    /// `NFPROTO_IPV4` (2) or `NFPROTO_IPV6` (10) of the packet.
    pub nfproto: Option<u32>,
    pub network: Vec<u8>,
    pub transport: Vec<u8>,
}

fn be32(p: &[u8]) -> Option<u32> {
    p.get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be64(p: &[u8]) -> Option<u64> {
    p.get(..8)
        .map(|b| u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
}

fn string(p: &[u8]) -> String {
    let end = p.iter().position(|b| *b == 0).unwrap_or(p.len());
    String::from_utf8_lossy(&p[..end]).into_owned()
}

/// A netfilter or nf_tables verdict code in words.
pub fn verdict_name(code: u32) -> String {
    match code as i32 {
        0 => "drop".into(),
        1 => "accept".into(),
        2 => "stolen".into(),
        3 => "queue".into(),
        4 => "repeat".into(),
        5 => "stop".into(),
        -1 => "continue".into(),
        -2 => "break".into(),
        -3 => "jump".into(),
        -4 => "goto".into(),
        -5 => "return".into(),
        c if c & 0xff == 3 => "queue".into(),
        c => format!("verdict {c}"),
    }
}

/// The family's name as nft writes it.
pub fn family_name(f: u8) -> &'static str {
    match f {
        1 => "inet",
        2 => "ip",
        3 => "arp",
        5 => "netdev",
        7 => "bridge",
        10 => "ip6",
        _ => "unknown",
    }
}

/// Decodes one netlink message (header included); None if it is not a trace event.
pub fn decode(msg: &[u8]) -> Option<Event> {
    let kind = u16::from_ne_bytes([*msg.get(4)?, *msg.get(5)?]);
    if kind != (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_TRACE {
        return None;
    }
    let family = *msg.get(16)?;
    let body = msg.get(20..)?;
    let mut e = Event {
        family,
        ..Event::default()
    };
    for (k, p) in attrs(body) {
        match k {
            NFTA_TRACE_ID => e.id = be32(p)?,
            NFTA_TRACE_TYPE => {
                e.kind = Some(match be32(p)? {
                    1 => Kind::Policy,
                    2 => Kind::Return,
                    3 => Kind::Rule,
                    _ => Kind::Other,
                });
            }
            NFTA_TRACE_TABLE => e.table = string(p),
            NFTA_TRACE_CHAIN => e.chain = string(p),
            NFTA_TRACE_RULE_HANDLE => e.handle = be64(p),
            NFTA_TRACE_VERDICT => {
                for (vk, vp) in attrs(p) {
                    match vk {
                        NFTA_VERDICT_CODE => e.verdict = be32(vp).map(verdict_name),
                        NFTA_VERDICT_CHAIN => e.target = Some(string(vp)),
                        _ => {}
                    }
                }
            }
            NFTA_TRACE_POLICY => e.verdict = be32(p).map(verdict_name),
            NFTA_TRACE_IIF => e.iif = be32(p),
            NFTA_TRACE_OIF => e.oif = be32(p),
            NFTA_TRACE_MARK => e.mark = be32(p),
            NFTA_TRACE_NFPROTO => e.nfproto = be32(p),
            NFTA_TRACE_NETWORK_HEADER => e.network = p.to_vec(),
            NFTA_TRACE_TRANSPORT_HEADER => e.transport = p.to_vec(),
            _ => {}
        }
    }
    Some(e)
}

/// Every netlink message in one datagram, header included (stops at the first
/// malformed one).
pub fn messages(mut b: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let len = u32::from_ne_bytes(b.get(..4)?.try_into().ok()?) as usize;
        if len < 16 || len > b.len() {
            return None;
        }
        let m = &b[..len];
        b = &b[((len + 3) & !3).min(b.len())..];
        Some(m)
    })
}

/// A one-line summary of the packet from its headers: `tcp 192.168.61.100:51234 →
/// 192.168.61.6:80`.
pub fn summary(nfproto: Option<u32>, net: &[u8], transport: &[u8]) -> String {
    let (src, dst, proto, l4): (IpAddr, IpAddr, u8, &[u8]) = match (nfproto, net.first()) {
        (Some(10), _) | (None, Some(0x60..=0x6f)) if net.len() >= 40 => {
            let a: [u8; 16] = net[8..24].try_into().unwrap_or_default();
            let b: [u8; 16] = net[24..40].try_into().unwrap_or_default();
            let l4 = if transport.is_empty() {
                net.get(40..).unwrap_or(&[])
            } else {
                transport
            };
            (
                Ipv6Addr::from(a).into(),
                Ipv6Addr::from(b).into(),
                net[6],
                l4,
            )
        }
        (_, Some(v)) if v >> 4 == 4 && net.len() >= 20 => {
            let a = Ipv4Addr::new(net[12], net[13], net[14], net[15]);
            let b = Ipv4Addr::new(net[16], net[17], net[18], net[19]);
            let ihl = usize::from(v & 0xf) * 4;
            let l4 = if transport.is_empty() {
                net.get(ihl..).unwrap_or(&[])
            } else {
                transport
            };
            (a.into(), b.into(), net[9], l4)
        }
        _ => return "packet (no headers)".into(),
    };
    let port = |at: usize| l4.get(at..at + 2).map(|p| u16::from_be_bytes([p[0], p[1]]));
    let addr = |a: IpAddr, p: Option<u16>| match (a, p) {
        (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, Some(p)) => format!("{a}:{p}"),
        (a, None) => a.to_string(),
    };
    match proto {
        6 | 17 | 132 | 136 => {
            let name = match proto {
                6 => "tcp",
                17 => "udp",
                132 => "sctp",
                _ => "udplite",
            };
            let mut s = format!("{name} {} → {}", addr(src, port(0)), addr(dst, port(2)));
            if proto == 6
                && let Some(&f) = l4.get(13)
            {
                let flags: Vec<&str> = [(0x02, "syn"), (0x10, "ack"), (0x01, "fin"), (0x04, "rst")]
                    .iter()
                    .filter(|(b, _)| f & b != 0)
                    .map(|(_, n)| *n)
                    .collect();
                if !flags.is_empty() {
                    s.push_str(&format!(" [{}]", flags.join(",")));
                }
            }
            s
        }
        1 | 58 => {
            let name = if proto == 1 { "icmp" } else { "icmpv6" };
            let t = l4.first().map(|t| format!(" type {t}")).unwrap_or_default();
            format!("{name} {src} → {dst}{t}")
        }
        p => format!("proto {p} {src} → {dst}"),
    }
}

/// One step of a traced packet: a rule that matched, a chain's policy or its end.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    pub family: String,
    pub table: String,
    pub chain: String,
    pub handle: Option<u64>,
    /// The rule's position in its chain (1 is the first), when known; None for a
    /// policy or a return.
    pub rule: Option<usize>,
    pub verdict: String,
    /// The chain jumped or gone to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `rule`, `policy` or `return`.
    pub kind: &'static str,
    /// The rule is a DNAT (a nat chain's rule whose target is DNAT).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dnat: bool,
}

/// A traced packet: its steps through every table, in the kernel's order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TracedPacket {
    pub id: u32,
    #[serde(skip)]
    pub time: Option<SystemTime>,
    pub summary: String,
    pub verdict: String,
    #[serde(rename = "where")]
    pub place: String,
    pub steps: Vec<Step>,
}

impl Step {
    fn at(&self) -> String {
        match (self.kind, self.rule, self.handle) {
            ("policy", ..) => "policy".into(),
            ("return", ..) => "end of chain".into(),
            (_, Some(n), _) => format!("rule {n}"),
            (_, None, Some(h)) => format!("rule handle {h}"),
            _ => "rule".into(),
        }
    }

    /// `filter FORWARD`, with the family when it is not iptables' own.
    fn chain_name(&self) -> String {
        match self.family.as_str() {
            "ip" | "ip6" if !self.table.is_empty() => format!("{} {}", self.table, self.chain),
            f => format!("{f} {} {}", self.table, self.chain),
        }
    }
}

/// The verdict that decided the packet's fate, and where, in words: the first drop;
/// else the last accept of a filter chain; else a DNAT; else the last accept.
pub fn decide(steps: &[Step]) -> (String, String) {
    let final_verdict = |v: &str| matches!(v, "drop" | "queue" | "stolen");
    if let Some(s) = steps.iter().find(|s| final_verdict(&s.verdict)) {
        return (
            s.verdict.clone(),
            format!("{} by {} {}", s.verdict, s.chain_name(), s.at()),
        );
    }
    let accepts = |s: &&Step| s.verdict == "accept";
    let pick = steps
        .iter()
        .rev()
        .filter(accepts)
        .find(|s| !s.dnat && !matches!(s.table.as_str(), "nat" | "raw" | "mangle"))
        .map(|s| {
            (
                "accept".to_string(),
                format!("accept by {} {}", s.chain_name(), s.at()),
            )
        })
        .or_else(|| {
            steps.iter().find(|s| s.dnat).map(|s| {
                (
                    "accept".to_string(),
                    format!("DNAT in {} {}", s.chain_name(), s.at()),
                )
            })
        })
        .or_else(|| {
            steps.iter().rev().find(accepts).map(|s| {
                (
                    "accept".to_string(),
                    format!("accept by {} {}", s.chain_name(), s.at()),
                )
            })
        });
    pick.unwrap_or_else(|| ("none".into(), "no verdict seen".into()))
}

/// Events of one packet, gathered until it has been quiet for a moment.
struct Pending {
    first: SystemTime,
    last: Instant,
    summary: Option<String>,
    events: Vec<Event>,
    /// The headers as iptop's own chain saw them.
    headers: Option<(Vec<u8>, Vec<u8>)>,
    /// The packet's headers without what forwarding changes ([`same_packet_key`]).
    key: Option<Vec<u8>>,
    /// When its first event came, in the order of all events.
    seq: u64,
}

/// A bridged packet changes trace id on its way (the id hashes the input interface):
/// its parts are joined by their headers, less what forwarding changes (TTL or hop
/// limit, the IPv4 checksum).
fn same_packet_key(network: &[u8], transport: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(64);
    match network.first().map(|v| v >> 4) {
        Some(4) => {
            let ihl = (usize::from(network[0] & 0xf) * 4).clamp(20, 60);
            k.extend_from_slice(network.get(..ihl).unwrap_or(network));
            for i in [8, 10, 11] {
                if let Some(b) = k.get_mut(i) {
                    *b = 0;
                }
            }
        }
        _ => {
            k.extend_from_slice(network.get(..40).unwrap_or(network));
            if let Some(b) = k.get_mut(7) {
                *b = 0;
            }
        }
    }
    k.extend_from_slice(transport.get(..16).unwrap_or(transport));
    k
}

/// Groups events by trace id into packets. A packet is done when no event of its id
/// came for [`QUIET`], or when its id starts again at iptop's own table (the kernel
/// reuses ids: the id hashes the packet buffer's address). Packets leave in the order
/// they came: one finished early waits for the older ones still gathering.
#[derive(Default)]
pub struct Assembler {
    pending: HashMap<u32, Pending>,
    /// Finished, waiting for older packets still pending (with their `seq`).
    ready: Vec<(u64, Gathered)>,
    /// Events of iptop's own trace table (dropped from the steps).
    pub own_table: (u8, String),
    seq: u64,
}

pub const QUIET: Duration = Duration::from_millis(150);
/// At most this many packets are assembled at once (a flood: the oldest are finished).
const MAX_PENDING: usize = 512;

/// The events of a finished packet, and its summary and time.
pub struct Gathered {
    pub id: u32,
    pub time: SystemTime,
    pub summary: String,
    pub events: Vec<Event>,
}

impl Assembler {
    pub fn new(family: u8, table: &str) -> Assembler {
        Assembler {
            pending: HashMap::new(),
            ready: Vec::new(),
            own_table: (family, table.to_string()),
            seq: 0,
        }
    }

    fn is_own(&self, e: &Event) -> bool {
        e.family == self.own_table.0 && e.table == self.own_table.1
    }

    /// Takes one event; what it finished goes to `done` (in the order the packets came).
    pub fn push(&mut self, e: Event, now: Instant, done: &mut Vec<Gathered>) {
        let own = self.is_own(&e);
        // the first event of a chain carries the packet's headers: at iptop's own
        // chain, that is a packet starting
        // (the same packet can pass it twice, bridged: then its headers are the same)
        if own
            && !e.network.is_empty()
            && self.pending.get(&e.id).is_some_and(|p| {
                !p.events.is_empty()
                    && !p.headers.as_ref().is_some_and(|(n, t)| {
                        *n == e.network
                            && (t.is_empty() || e.transport.is_empty() || *t == e.transport)
                    })
            })
            && let Some(p) = self.pending.remove(&e.id)
        {
            self.ready.push((p.seq, finish(e.id, p)));
            self.release(done);
        }
        if self.pending.len() >= MAX_PENDING && !self.pending.contains_key(&e.id) {
            self.flush(now + QUIET * 2, done);
        }
        let p = self.pending.entry(e.id).or_insert_with(|| Pending {
            first: SystemTime::now(),
            last: now,
            summary: None,
            events: Vec::new(),
            headers: None,
            key: None,
            seq: self.seq,
        });
        self.seq += 1;
        p.last = now;
        if p.key.is_none() && !e.network.is_empty() {
            p.key = Some(same_packet_key(&e.network, &e.transport));
        }
        if p.summary.is_none() && !e.network.is_empty() {
            p.summary = Some(summary(e.nfproto, &e.network, &e.transport));
        }
        // a rule event without a rule or a verdict only carries the headers
        let empty = e.kind == Some(Kind::Rule) && e.handle.is_none() && e.verdict.is_none();
        if own {
            if p.headers.is_none() && !e.network.is_empty() {
                p.headers = Some((e.network, e.transport));
            }
        } else if !empty {
            p.events.push(e);
        }
    }

    /// Finishes every packet quiet since [`QUIET`] before `now`.
    pub fn flush(&mut self, now: Instant, done: &mut Vec<Gathered>) {
        let quiet: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.last) >= QUIET)
            .map(|(id, _)| *id)
            .collect();
        let mut parts: Vec<(u32, Pending)> = quiet
            .into_iter()
            .filter_map(|id| self.pending.remove(&id).map(|p| (id, p)))
            .collect();
        parts.sort_by_key(|(_, p)| p.seq);
        // the parts of one bridged packet, joined in the order they came
        let mut joined: Vec<(u32, Pending)> = Vec::with_capacity(parts.len());
        for (id, p) in parts {
            let into = p.key.as_ref().and_then(|k| {
                joined
                    .iter_mut()
                    .rev()
                    .find(|(_, q)| q.key.as_ref() == Some(k))
            });
            match into {
                Some((_, q)) => {
                    q.events.extend(p.events);
                    q.summary = q.summary.take().or(p.summary);
                }
                None => joined.push((id, p)),
            }
        }
        for (id, p) in joined {
            self.ready.push((p.seq, finish(id, p)));
        }
        self.release(done);
    }

    /// Moves to `done` the finished packets older than every one still pending, oldest
    /// first.
    fn release(&mut self, done: &mut Vec<Gathered>) {
        let oldest = self
            .pending
            .values()
            .map(|p| p.seq)
            .min()
            .unwrap_or(u64::MAX);
        self.ready.sort_by_key(|(seq, _)| *seq);
        let n = self.ready.partition_point(|(seq, _)| *seq < oldest);
        done.extend(self.ready.drain(..n).map(|(_, g)| g));
    }
}

fn finish(id: u32, p: Pending) -> Gathered {
    Gathered {
        id,
        time: p.first,
        summary: p.summary.unwrap_or_else(|| "packet (no headers)".into()),
        events: p.events,
    }
}

/// The steps of a packet's events: a base chain's end, followed by its policy, is left
/// out (the policy says it).
pub fn steps(events: &[Event]) -> Vec<(u8, Step)> {
    let mut out = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let s = step(e);
        let policy_next = events.get(i + 1).is_some_and(|n| {
            n.kind == Some(Kind::Policy) && n.table == e.table && n.chain == e.chain
        });
        if s.kind == "return" && policy_next {
            continue;
        }
        out.push((e.family, s));
    }
    out
}

/// The step of an event (the rule's position filled in later).
pub fn step(e: &Event) -> Step {
    let kind = match e.kind {
        Some(Kind::Policy) => "policy",
        Some(Kind::Return) => "return",
        // the chain's end (no rule): back to the caller, or its policy next
        _ if e.handle.is_none() && e.verdict.as_deref().is_none_or(|v| v == "continue") => "return",
        _ => "rule",
    };
    Step {
        family: family_name(e.family).to_string(),
        table: e.table.clone(),
        chain: e.chain.clone(),
        handle: e.handle.filter(|_| kind == "rule"),
        rule: None,
        verdict: match (kind, &e.verdict) {
            ("return", _) => "return".into(),
            (_, Some(v)) => v.clone(),
            _ => "continue".into(),
        },
        target: e.target.clone(),
        kind,
        dnat: false,
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
