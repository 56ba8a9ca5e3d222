//! One rule's expressions turned into the x_tables entry iptables-nft lists it as
//! (`nft_rule_to_iptables_command_state`): see the parent module.

use super::super::legacy_text::{EXT_HEAD, Layout, Unsupported, unsupported};
use super::super::nft::{
    NFTA_DATA_VERDICT, NFTA_EXPR_DATA, NFTA_EXPR_NAME, NFTA_LIST_ELEM, NFTA_RULE_EXPRESSIONS,
    NFTA_VERDICT_CHAIN, NFTA_VERDICT_CODE, attr, attrs, be32, be64, cstr,
};
use super::push_ext;

const NFTA_RULE_USERDATA: u16 = 7;
const NFTA_DATA_VALUE: u16 = 1;

fn u32_of(d: &[u8], kind: u16) -> Option<u32> {
    attr(d, kind).and_then(be32)
}

/// A data attribute's value (`NFTA_DATA_VALUE` inside it).
fn value(d: &[u8], kind: u16) -> Option<&[u8]> {
    attr(d, kind).and_then(|v| attr(v, NFTA_DATA_VALUE))
}

/// What a register holds: a `meta` key or a `payload` load, maybe under a mask.
#[derive(Clone)]
enum Loaded {
    Meta(u32),
    Payload { base: u32, offset: u32, len: usize },
}

#[derive(Clone)]
struct Reg {
    what: Loaded,
    mask: Option<Vec<u8>>,
}

/// The rule's target: none (the next entry), a standard verdict, a jump, an extension.
pub(super) enum Target {
    Next,
    Verdict(i32),
    Jump(String),
    Ext {
        name: Vec<u8>,
        rev: u8,
        data: Vec<u8>,
    },
}

/// One rule as the x_tables entry iptables-nft makes of it.
pub(super) struct Rule {
    /// The entry's fixed part (`l.entry` bytes): addresses, interfaces, protocol, flags,
    /// counters.
    pub(super) head: Vec<u8>,
    /// Its matches, each a `struct xt_entry_match` with its data.
    pub(super) matches: Vec<u8>,
    pub(super) target: Target,
}

/// A TCP or UDP match made of port comparisons: where its data is in `matches`.
struct Ports {
    at: usize,
    tcp: bool,
}

impl Rule {
    fn new(l: Layout) -> Rule {
        Rule {
            head: vec![0; l.entry],
            matches: Vec::new(),
            target: Target::Next,
        }
    }
}

/// Decodes one rule message into the entry iptables-nft would list it as.
pub(super) fn decode(m: &[u8], l: Layout) -> Result<Rule, Unsupported> {
    if attr(m, NFTA_RULE_USERDATA).is_some() {
        return Err(unsupported("a rule with user data"));
    }
    let mut r = Rule::new(l);
    let mut regs: Vec<Option<Reg>> = vec![None; 24];
    let mut ports: Option<Ports> = None;
    let mut counted = false;
    let mut verdict_set = false;
    let exprs = attr(m, NFTA_RULE_EXPRESSIONS).unwrap_or(&[]);
    for (k, e) in attrs(exprs) {
        if k != NFTA_LIST_ELEM {
            continue;
        }
        if verdict_set {
            return Err(unsupported("an expression after the verdict"));
        }
        let d = attr(e, NFTA_EXPR_DATA).unwrap_or(&[]);
        let reg = |kind: u16| -> Result<usize, Unsupported> {
            match u32_of(d, kind) {
                Some(n @ (1..=4 | 8..=23)) => Ok(n as usize),
                _ => Err(unsupported("a register iptables-nft does not use")),
            }
        };
        match attr(e, NFTA_EXPR_NAME).map_or(&[][..], cstr) {
            b"meta" => {
                // NFTA_META_SREG: a `meta set`, which iptables-nft never writes
                if attr(d, 3).is_some() {
                    return Err(unsupported("meta set"));
                }
                let key = u32_of(d, 2).ok_or_else(|| unsupported("meta without a key"))?;
                regs[reg(1)?] = Some(Reg {
                    what: Loaded::Meta(key),
                    mask: None,
                });
            }
            b"payload" => {
                if attr(d, 5).is_some() {
                    return Err(unsupported("payload set"));
                }
                let (Some(base), Some(offset), Some(len)) =
                    (u32_of(d, 2), u32_of(d, 3), u32_of(d, 4))
                else {
                    return Err(unsupported("payload without base, offset or length"));
                };
                regs[reg(1)?] = Some(Reg {
                    what: Loaded::Payload {
                        base,
                        offset,
                        len: len as usize,
                    },
                    mask: None,
                });
            }
            b"bitwise" => {
                // a mask and a zero xor only (NFTA_BITWISE_OP: 0 is that boolean form)
                if u32_of(d, 6).is_some_and(|op| op != 0) || attr(d, 7).is_some() {
                    return Err(unsupported("a bitwise shift"));
                }
                let (src, dst) = (reg(1)?, reg(2)?);
                let (Some(mask), Some(xor)) = (value(d, 4), value(d, 5)) else {
                    return Err(unsupported("bitwise without mask or xor"));
                };
                if xor.iter().any(|&b| b != 0) {
                    return Err(unsupported("bitwise with an xor"));
                }
                let mut x = regs[src]
                    .clone()
                    .ok_or_else(|| unsupported("bitwise over an empty register"))?;
                if x.mask.is_some() {
                    return Err(unsupported("two masks"));
                }
                x.mask = Some(mask.to_vec());
                regs[dst] = Some(x);
            }
            b"cmp" => {
                let x = regs[reg(1)?]
                    .take()
                    .ok_or_else(|| unsupported("cmp over an empty register"))?;
                let op = u32_of(d, 2).ok_or_else(|| unsupported("cmp without op"))?;
                let data = value(d, 3).ok_or_else(|| unsupported("cmp without data"))?;
                compare(&mut r, &mut ports, l, &x, op, data, data)?;
            }
            b"range" => {
                let x = regs[reg(1)?]
                    .take()
                    .ok_or_else(|| unsupported("range over an empty register"))?;
                let op = match u32_of(d, 2) {
                    Some(0) => 0,
                    Some(1) => 1,
                    _ => return Err(unsupported("range without op")),
                };
                let (Some(from), Some(to)) = (value(d, 3), value(d, 4)) else {
                    return Err(unsupported("range without bounds"));
                };
                // a range: op 6 here (not an nftables cmp op), inverted by `op`
                compare(&mut r, &mut ports, l, &x, 6 + op, from, to)?;
            }
            kind @ (b"match" | b"target") => {
                let name = attr(d, 1).map_or(&[][..], cstr);
                let rev = u32_of(d, 2).and_then(|v| u8::try_from(v).ok());
                let (Some(rev), Some(info)) = (rev, attr(d, 3)) else {
                    return Err(unsupported("an extension without revision or data"));
                };
                if name.is_empty() {
                    return Err(unsupported("an extension without a name"));
                }
                if kind == b"match" {
                    // ports compared before it would go into a second match
                    if ports.is_some() && (name == b"tcp" || name == b"udp") {
                        return Err(unsupported("ports compared beside a tcp or udp match"));
                    }
                    push_ext(&mut r.matches, name, rev, info)?;
                } else {
                    r.target = Target::Ext {
                        name: name.to_vec(),
                        rev,
                        data: info.to_vec(),
                    };
                    verdict_set = true;
                }
            }
            b"counter" => {
                if counted {
                    return Err(unsupported("two counters"));
                }
                counted = true;
                let c = l.counters;
                r.head[c..c + 8].copy_from_slice(&attr(d, 2).map_or(0, be64).to_ne_bytes());
                r.head[c + 8..c + 16].copy_from_slice(&attr(d, 1).map_or(0, be64).to_ne_bytes());
            }
            b"immediate" => {
                if u32_of(d, 1) != Some(0) {
                    return Err(unsupported("immediate data into a register"));
                }
                let v = attr(d, 2)
                    .and_then(|x| attr(x, NFTA_DATA_VERDICT))
                    .ok_or_else(|| unsupported("immediate without a verdict"))?;
                let chain = || {
                    attr(v, NFTA_VERDICT_CHAIN)
                        .map(|c| String::from_utf8_lossy(cstr(c)).into_owned())
                        .ok_or_else(|| unsupported("a jump without its chain"))
                };
                r.target = match u32_of(v, NFTA_VERDICT_CODE).map(|c| c as i32) {
                    Some(1) => Target::Verdict(-2),
                    Some(0) => Target::Verdict(-1),
                    Some(-5) => Target::Verdict(-5),
                    Some(-3) => Target::Jump(chain()?),
                    Some(-4) => {
                        r.head[l.flags] |= l.goto;
                        Target::Jump(chain()?)
                    }
                    _ => return Err(unsupported("a verdict iptables-nft does not write")),
                };
                verdict_set = true;
            }
            other => {
                return Err(unsupported(format!(
                    "the expression {}",
                    String::from_utf8_lossy(other)
                )));
            }
        }
    }
    if !counted {
        return Err(unsupported("a rule without a counter"));
    }
    Ok(r)
}

const META_MARK: u32 = 3;
const META_IIFNAME: u32 = 6;
const META_OIFNAME: u32 = 7;
const META_L4PROTO: u32 = 16;
const IPT_INV_VIA_IN: u8 = 0x01;
const IPT_INV_VIA_OUT: u8 = 0x02;
const IPT_INV_SRCIP: u8 = 0x08;
const IPT_INV_DSTIP: u8 = 0x10;
const IPT_INV_FRAG: u8 = 0x20;
const IPT_INV_PROTO: u8 = 0x40;
/// `IP6T_F_PROTO`: an IPv6 rule names its protocol.
const IP6T_F_PROTO: u8 = 0x01;

/// A comparison of what register `x` holds (op: nftables' cmp op, or 6 / 7 for a range
/// and its inversion, `lo`..`hi` its bounds) put on the rule as iptables-nft reads it.
fn compare(
    r: &mut Rule,
    ports: &mut Option<Ports>,
    l: Layout,
    x: &Reg,
    op: u32,
    lo: &[u8],
    hi: &[u8],
) -> Result<(), Unsupported> {
    let inv = match op {
        0 | 6 => false,
        1 | 7 => true,
        _ => {
            return match &x.what {
                Loaded::Payload { base: 2, .. } => port(r, ports, l, x, op, lo, hi),
                _ => Err(unsupported("an ordering comparison")),
            };
        }
    };
    let ranged = op >= 6;
    match &x.what {
        Loaded::Meta(k @ (META_IIFNAME | META_OIFNAME)) if !ranged && x.mask.is_none() => {
            let (at, flag) = if *k == META_IIFNAME {
                (l.iniface, IPT_INV_VIA_IN)
            } else {
                (l.outiface, IPT_INV_VIA_OUT)
            };
            // iptables-nft's parse_ifname: a name with its NUL, or a prefix (`eth+`)
            let n = lo.len();
            if n == 0 || n > 16 || lo[..n - 1].contains(&0) {
                return Err(unsupported("an interface name iptables cannot hold"));
            }
            r.head[at..at + n].copy_from_slice(lo);
            r.head[at + 32..at + 32 + n].fill(0xff);
            if lo[n - 1] != 0 {
                if n + 1 >= 16 {
                    return Err(unsupported("an interface prefix iptables cannot hold"));
                }
                r.head[at + n] = b'+';
            }
            if inv {
                r.head[l.invflags] |= flag;
            }
        }
        Loaded::Meta(META_L4PROTO) if !ranged && x.mask.is_none() && lo.len() == 1 => {
            protocol(r, l, lo[0], inv);
        }
        Loaded::Meta(META_MARK) if !ranged && lo.len() == 4 => {
            // xt_mark_mtinfo1: mark, mask, invert
            let mask = match &x.mask {
                Some(m) if m.len() == 4 => [m[0], m[1], m[2], m[3]],
                Some(_) => return Err(unsupported("a mark mask of another size")),
                None => [0xff; 4],
            };
            let mut data = Vec::with_capacity(12);
            // the register holds the mark as the host stores it
            data.extend_from_slice(lo);
            data.extend_from_slice(&mask);
            data.extend_from_slice(&[u8::from(inv), 0, 0, 0]);
            push_ext(&mut r.matches, b"mark", 1, &data)?;
        }
        Loaded::Payload {
            base: 1,
            offset,
            len,
        } if !ranged && lo.len() == *len => {
            let a = l.addr as u32;
            // IPv4: saddr at 12, daddr at 16; IPv6: 8 and 24; the protocol at 9 (IPv4)
            let (src, dst) = if a == 4 { (12, 16) } else { (8, 24) };
            if a == 4 && *offset == 9 && *len == 1 && x.mask.is_none() {
                protocol(r, l, lo[0], inv);
                return Ok(());
            }
            // `-f`: the fragment offset not zero (`! -f`: zero), mask and data as
            // iptables-nft writes them
            if a == 4 && *offset == 6 && *len == 2 {
                if x.mask.as_deref() != Some(&[0x1f, 0xff][..]) || lo != [0, 0] {
                    return Err(unsupported("a fragment test iptables-nft does not write"));
                }
                r.head[l.flags] |= l.frag;
                if !inv {
                    r.head[l.invflags] |= IPT_INV_FRAG;
                }
                return Ok(());
            }
            let (at, mask_at, flag) = match *offset {
                o if o == src => (l.src, l.smsk, IPT_INV_SRCIP),
                o if o == dst => (l.dst, l.dmsk, IPT_INV_DSTIP),
                _ => return Err(unsupported("a payload iptables-nft does not compare")),
            };
            if *len == 0 || *len > l.addr {
                return Err(unsupported("an address of another size"));
            }
            r.head[at..at + len].copy_from_slice(lo);
            match &x.mask {
                Some(m) if m.len() == *len => r.head[mask_at..mask_at + len].copy_from_slice(m),
                Some(_) => return Err(unsupported("an address mask of another size")),
                None => r.head[mask_at..mask_at + len].fill(0xff),
            }
            if inv {
                r.head[l.invflags] |= flag;
            }
        }
        Loaded::Payload { base: 2, .. } => return port(r, ports, l, x, op, lo, hi),
        _ => return Err(unsupported("a comparison iptables-nft does not write")),
    }
    Ok(())
}

/// The protocol the rule names (`-p`, `! -p`); an IPv6 rule says it names one.
fn protocol(r: &mut Rule, l: Layout, p: u8, inv: bool) {
    r.head[l.proto..l.proto + 2].copy_from_slice(&u16::from(p).to_ne_bytes());
    if l.addr == 16 {
        r.head[l.flags] |= IP6T_F_PROTO;
    }
    if inv {
        r.head[l.invflags] |= IPT_INV_PROTO;
    }
}

/// A TCP or UDP port comparison: into the rule's tcp or udp match, made at the first
/// as iptables-nft makes it (`struct xt_tcp` / `xt_udp`: source ports, destination ports,
/// then option and flags or just the inversions; every port at first).
fn port(
    r: &mut Rule,
    made: &mut Option<Ports>,
    l: Layout,
    x: &Reg,
    op: u32,
    lo: &[u8],
    hi: &[u8],
) -> Result<(), Unsupported> {
    let Loaded::Payload { offset, len, .. } = x.what else {
        return Err(unsupported(
            "a transport header load iptables-nft does not write",
        ));
    };
    // ports (2 bytes at 0 or 2, no mask), or TCP's flags (1 byte at 13, under a mask,
    // equal or not)
    let flags = offset == 13 && len == 1 && lo.len() == 1 && op <= 1;
    let ports = len == 2 && x.mask.is_none() && lo.len() == 2 && hi.len() == 2;
    if !(flags || ports && matches!(offset, 0 | 2)) {
        return Err(unsupported(
            "a transport header comparison iptables-nft does not write",
        ));
    }
    // the protocol the rule names decides the match; iptables-nft drops ports of another
    let proto = u16::from_ne_bytes([r.head[l.proto], r.head[l.proto + 1]]);
    let tcp = match proto {
        _ if r.head[l.invflags] & IPT_INV_PROTO != 0 => {
            return Err(unsupported("ports of an inverted protocol"));
        }
        6 => true,
        17 => false,
        _ => return Err(unsupported("ports of a protocol other than tcp or udp")),
    };
    if flags && !tcp {
        return Err(unsupported("TCP flags of another protocol"));
    }
    let at = match made {
        Some(p) if p.tcp == tcp => p.at,
        Some(_) => return Err(unsupported("ports of two protocols")),
        None => {
            let mut data = Vec::with_capacity(12);
            for v in [0u16, 0xffff, 0, 0xffff] {
                data.extend_from_slice(&v.to_ne_bytes());
            }
            data.resize(if tcp { 12 } else { 9 }, 0);
            let at = r.matches.len() + EXT_HEAD;
            push_ext(&mut r.matches, if tcp { b"tcp" } else { b"udp" }, 0, &data)?;
            *made = Some(Ports { at, tcp });
            at
        }
    };
    if flags {
        // xt_tcp: flg_mask at 9, flg_cmp at 10, the inversions at 11 (XT_TCP_INV_FLAGS)
        r.matches[at + 9] = x
            .mask
            .as_deref()
            .map_or(Some(0xff), |m| (m.len() == 1).then(|| m[0]))
            .ok_or_else(|| unsupported("a TCP flags mask of another size"))?;
        r.matches[at + 10] = lo[0];
        if op == 1 {
            r.matches[at + 11] |= 0x04;
        }
        return Ok(());
    }
    let (a, b) = (
        u16::from_be_bytes([lo[0], lo[1]]),
        u16::from_be_bytes([hi[0], hi[1]]),
    );
    // spts[0..2] at 0, dpts[0..2] at 4; the inversions after them
    let (pos, inv_bit) = if offset == 0 {
        (at, 0x01)
    } else {
        (at + 4, 0x02)
    };
    let inv_at = at + if tcp { 11 } else { 8 };
    let get = |m: &[u8], o: usize| u16::from_ne_bytes([m[o], m[o + 1]]);
    let (mut min, mut max) = (get(&r.matches, pos), get(&r.matches, pos + 2));
    match op {
        0 | 1 => (min, max) = (a, a),
        2 => max = if a > 1 { a - 1 } else { 1 },
        3 => max = a,
        4 => min = if a < 0xffff { a + 1 } else { 0xffff },
        5 => min = a,
        _ => (min, max) = (a, b),
    }
    if op == 1 || op == 7 {
        r.matches[inv_at] |= inv_bit;
    }
    r.matches[pos..pos + 2].copy_from_slice(&min.to_ne_bytes());
    r.matches[pos + 2..pos + 4].copy_from_slice(&max.to_ne_bytes());
    Ok(())
}
