//! The extensions a legacy listing is written with, each as iptables 1.8's `print`
//! writes it with `-n`: by (name, revision, size of its data), the revisions iptables
//! 1.8 chooses on a current kernel. Any other is [`Unsupported`]: iptables lists the
//! table instead.

use std::io::Write as _;
use std::net::IpAddr;

use super::{Unsupported, addr, cstr, unsupported};

fn u16_ne(d: &[u8], o: usize) -> u16 {
    u16::from_ne_bytes([d[o], d[o + 1]])
}

fn u16_be(d: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([d[o], d[o + 1]])
}

fn u32_ne(d: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]])
}

fn ipv4(d: &[u8], o: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(d[o], d[o + 1], d[o + 2], d[o + 3])
}

/// An extension (or revision) not written here.
fn unknown(kind: &str, name: &[u8], rev: u8) -> Unsupported {
    unsupported(format!(
        "{kind} {} revision {rev}",
        String::from_utf8_lossy(name)
    ))
}

/// REJECT's replies by `ipt_reject_with` / `ip6t_reject_with` (empty: not named by
/// iptables 1.8, such as the deprecated echo reply).
const REJECT4: [&str; 9] = [
    "icmp-net-unreachable",
    "icmp-host-unreachable",
    "icmp-proto-unreachable",
    "icmp-port-unreachable",
    "",
    "icmp-net-prohibited",
    "icmp-host-prohibited",
    "tcp-reset",
    "icmp-admin-prohibited",
];
const REJECT6: [&str; 7] = [
    "icmp6-no-route",
    "icmp6-adm-prohibited",
    "",
    "icmp6-addr-unreachable",
    "icmp6-port-unreachable",
    "",
    "tcp-reset",
];

fn sized<'a>(d: &'a [u8], n: usize, what: &str) -> Result<&'a [u8], Unsupported> {
    if d.len() == n {
        Ok(d)
    } else {
        Err(unsupported(format!(
            "{what}: {} bytes of data, not {n}",
            d.len()
        )))
    }
}

/// A match's text (with its leading space).
pub fn matched(
    out: &mut Vec<u8>,
    name: &[u8],
    rev: u8,
    d: &[u8],
    v6: bool,
) -> Result<(), Unsupported> {
    match (name, rev) {
        (b"comment", 0) => {
            let d = sized(d, 256, "comment")?;
            let c = cstr(&d[..255]);
            // a line break makes more lines than rules: iptables lists it, and the
            // parser reads it with the kernel's rule counts
            if c.contains(&b'\n') {
                return Err(unsupported("a comment with a line break"));
            }
            out.extend_from_slice(b" /* ");
            out.extend_from_slice(c);
            out.extend_from_slice(b" */");
        }
        (b"tcp", 0) => {
            let d = sized(d, 16, "tcp")?;
            let inv = d[11];
            if inv & !0x0f != 0 {
                return Err(unsupported("tcp: unknown inversion flags"));
            }
            out.extend_from_slice(b" tcp");
            ports(out, "spt", u16_ne(d, 0), u16_ne(d, 2), inv & 0x01 != 0);
            ports(out, "dpt", u16_ne(d, 4), u16_ne(d, 6), inv & 0x02 != 0);
            let (option, mask, cmp) = (d[8], d[9], d[10]);
            if option != 0 || inv & 0x08 != 0 {
                let not = if inv & 0x08 != 0 { "!" } else { "" };
                let _ = write!(out, " option={not}{option}");
            }
            if mask != 0 || inv & 0x04 != 0 {
                let not = if inv & 0x04 != 0 { "!" } else { "" };
                let _ = write!(out, " flags:{not}0x{mask:02X}/0x{cmp:02X}");
            }
        }
        (b"udp", 0) => {
            let d = sized(d, 16, "udp")?;
            let inv = d[8];
            if inv & !0x03 != 0 {
                return Err(unsupported("udp: unknown inversion flags"));
            }
            out.extend_from_slice(b" udp");
            ports(out, "spt", u16_ne(d, 0), u16_ne(d, 2), inv & 0x01 != 0);
            ports(out, "dpt", u16_ne(d, 4), u16_ne(d, 6), inv & 0x02 != 0);
        }
        (b"statistic", 0) => {
            let d = sized(d, 24, "statistic")?;
            let (mode, flags) = (u16_ne(d, 0), u16_ne(d, 2));
            if flags & !1 != 0 {
                return Err(unsupported("statistic: unknown flags"));
            }
            let not = if flags & 1 != 0 { " !" } else { "" };
            match mode {
                0 => {
                    let p = f64::from(u32_ne(d, 4)) / f64::from(0x8000_0000u32);
                    let _ = write!(
                        out,
                        " statistic mode random{not} probability {}",
                        fixed11(p)
                    );
                }
                1 => {
                    let (every, packet) = (u32_ne(d, 4), u32_ne(d, 8));
                    let _ = write!(
                        out,
                        " statistic mode nth{not} every {}",
                        u64::from(every) + 1
                    );
                    if packet != 0 {
                        let _ = write!(out, " packet {packet}");
                    }
                }
                _ => return Err(unsupported("statistic: unknown mode")),
            }
        }
        (b"mark", 1) => {
            let d = sized(d, 16, "mark")?;
            out.extend_from_slice(b" mark match");
            if d[8] != 0 {
                out.extend_from_slice(b" !");
            }
            mark(out, u32_ne(d, 0), u32_ne(d, 4));
        }
        (b"addrtype", 1) => {
            let d = sized(d, 8, "addrtype")?;
            let (src, dst, flags) = (u16_ne(d, 0), u16_ne(d, 2), u32_ne(d, 4));
            if flags & !0x0f != 0 || (src | dst) & !0x0fff != 0 {
                return Err(unsupported("addrtype: unknown flags"));
            }
            out.extend_from_slice(b" ADDRTYPE match");
            for (types, inv, what) in [(src, 0x01, "src-type"), (dst, 0x02, "dst-type")] {
                if types != 0 {
                    let not = if flags & inv != 0 { "!" } else { "" };
                    let _ = write!(out, " {what} {not}");
                    addr_types(out, types);
                }
            }
            if flags & 0x04 != 0 {
                out.extend_from_slice(b" limit-in");
            }
            if flags & 0x08 != 0 {
                out.extend_from_slice(b" limit-out");
            }
        }
        (b"conntrack", 1..=3) => {
            let n = [152, 160, 168][usize::from(rev) - 1];
            let d = sized(d, n, "conntrack")?;
            let (flags, inv) = (u16_ne(d, 146), u16_ne(d, 148));
            let states = if rev == 1 {
                u16::from(d[150])
            } else {
                u16_ne(d, 150)
            };
            // the state alone (XT_CONNTRACK_STATE), or as `-m state` (STATE_ALIAS)
            const STATE: u16 = 1;
            const ALIAS: u16 = 1 << 13;
            if flags & !(STATE | ALIAS) != 0 || flags & STATE == 0 || inv & !STATE != 0 {
                return Err(unsupported("conntrack: more than a state"));
            }
            if inv & STATE != 0 {
                out.extend_from_slice(b" !");
            }
            out.extend_from_slice(if flags & ALIAS != 0 {
                b" state"
            } else {
                b" ctstate"
            });
            ct_states(out, states)?;
        }
        (b"multiport", 1) => {
            let d = sized(d, 48, "multiport")?;
            let (flags, count) = (d[0], usize::from(d[1]));
            let which = match flags {
                0 => "sports ",
                1 => "dports ",
                2 => "ports ",
                _ => return Err(unsupported("multiport: unknown flags")),
            };
            if count > 15 {
                return Err(unsupported("multiport: more than 15 ports"));
            }
            let _ = write!(out, " multiport {which}");
            if d[47] != 0 {
                out.extend_from_slice(b" !");
            }
            let mut i = 0;
            while i < count {
                if i > 0 {
                    out.push(b',');
                }
                let _ = write!(out, "{}", u16_ne(d, 2 + 2 * i));
                if d[32 + i] != 0 {
                    i += 1;
                    let _ = write!(out, ":{}", u16_ne(d, 2 + 2 * i.min(14)));
                }
                i += 1;
            }
        }
        (b"icmp" | b"icmp6", 0) => {
            if v6 != (name == b"icmp6") {
                return Err(unsupported("icmp of the other family"));
            }
            let d = sized(d, 8, "icmp")?;
            let (ty, lo, hi, inv) = (d[0], d[1], d[2], d[3]);
            if inv & !1 != 0 {
                return Err(unsupported("icmp: unknown inversion flags"));
            }
            out.extend_from_slice(if v6 { b" ipv6-icmp" } else { b" icmp" });
            if ty == 0xff && lo == 0 && hi == 0xff {
                // `any`: how iptables prints it depends on its version
                return Err(unsupported("icmp: any type"));
            }
            if inv & 1 != 0 {
                out.extend_from_slice(b" !");
            }
            let _ = write!(out, "type {ty}");
            if lo == hi {
                let _ = write!(out, " code {lo}");
            } else if lo != 0 || hi != 0xff {
                let _ = write!(out, " codes {lo}-{hi}");
            }
        }
        _ => return Err(unknown("match", name, rev)),
    }
    Ok(())
}

/// A target's text (with its leading space), for a target with a name.
pub fn target(
    out: &mut Vec<u8>,
    name: &[u8],
    rev: u8,
    d: &[u8],
    v6: bool,
) -> Result<(), Unsupported> {
    match (name, rev, v6) {
        (b"MARK", 2, _) => {
            let d = sized(d, 8, "MARK")?;
            let (m, mask) = (u32_ne(d, 0), u32_ne(d, 4));
            let _ = if m == 0 {
                write!(out, " MARK and 0x{:x}", !mask)
            } else if m == mask {
                write!(out, " MARK or 0x{m:x}")
            } else if mask == 0 {
                write!(out, " MARK xor 0x{m:x}")
            } else if mask == u32::MAX {
                write!(out, " MARK set 0x{m:x}")
            } else {
                write!(out, " MARK xset 0x{m:x}/0x{mask:x}")
            };
        }
        (b"DNAT" | b"SNAT" | b"MASQUERADE", 0, false) => {
            let d = sized(d, 24, "NAT")?;
            if u32_ne(d, 0) != 1 {
                return Err(unsupported("NAT: not one range"));
            }
            let r = Range {
                flags: u32_ne(d, 4),
                min: IpAddr::V4(ipv4(d, 8)),
                max: IpAddr::V4(ipv4(d, 12)),
                min_port: u16_be(d, 16),
                max_port: u16_be(d, 18),
                base: 0,
            };
            nat(out, name, &r)?;
        }
        // nf_nat_range2 (DNAT 2, both families) and nf_nat_range (IPv6: MASQUERADE 0,
        // SNAT and DNAT 1): the addresses as 16 bytes
        (b"DNAT", 2, _) | (b"MASQUERADE", 0, true) | (b"SNAT" | b"DNAT", 1, true) => {
            let two = rev == 2;
            let d = sized(d, if two { 48 } else { 40 }, "NAT")?;
            let addr = |o: usize| -> IpAddr {
                if v6 {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(&d[o..o + 16]);
                    IpAddr::V6(std::net::Ipv6Addr::from(b))
                } else {
                    IpAddr::V4(ipv4(d, o))
                }
            };
            if !v6 && d[8..20].iter().chain(&d[24..36]).any(|&b| b != 0) {
                return Err(unsupported("DNAT: an IPv6 range in an IPv4 rule"));
            }
            let r = Range {
                flags: u32_ne(d, 0),
                min: addr(4),
                max: addr(20),
                min_port: u16_be(d, 36),
                max_port: u16_be(d, 38),
                base: if two { u16_be(d, 40) } else { 0 },
            };
            nat(out, name, &r)?;
        }
        (b"REJECT", 0, _) => {
            let d = sized(d, 8, "REJECT")?;
            let names: &[&str] = if v6 { &REJECT6 } else { &REJECT4 };
            let with = names
                .get(u32_ne(d, 0) as usize)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| unsupported("REJECT: an unknown reply"))?;
            let _ = write!(out, " reject-with {with}");
        }
        _ => return Err(unknown("target", name, rev)),
    }
    Ok(())
}

/// A NAT range as `nf_nat_range2` holds it.
struct Range {
    flags: u32,
    min: IpAddr,
    max: IpAddr,
    min_port: u16,
    max_port: u16,
    base: u16,
}

/// `to:a[-b][:p[-q][/base]]` (SNAT, DNAT) or `masq ports: p[-q]`, then the flags.
fn nat(out: &mut Vec<u8>, name: &[u8], r: &Range) -> Result<(), Unsupported> {
    const MAP_IPS: u32 = 1;
    const PROTO: u32 = 2;
    const RANDOM: u32 = 4;
    const PERSISTENT: u32 = 8;
    const FULLY: u32 = 16;
    const OFFSET: u32 = 32;
    let masq = name == b"MASQUERADE";
    let allowed = if masq {
        PROTO | RANDOM | FULLY
    } else if name == b"SNAT" {
        MAP_IPS | PROTO | RANDOM | FULLY | PERSISTENT
    } else {
        MAP_IPS | PROTO | RANDOM | PERSISTENT | OFFSET
    };
    if r.flags & !allowed != 0 || (!masq && r.flags & MAP_IPS == 0) {
        return Err(unsupported(
            "NAT: flags iptables prints differently by version",
        ));
    }
    if masq {
        if r.flags & PROTO != 0 {
            out.extend_from_slice(b" masq ports: ");
            port_range(out, r.min_port, r.max_port);
        }
    } else {
        let brackets = r.min.is_ipv6() && r.flags & PROTO != 0;
        if r.min.is_ipv6() && r.max != r.min {
            return Err(unsupported("NAT: an IPv6 address range"));
        }
        out.extend_from_slice(if brackets { b" to:[" } else { b" to:" });
        addr(out, r.min)?;
        if brackets {
            out.push(b']');
        }
        if r.max != r.min {
            out.push(b'-');
            addr(out, r.max)?;
        }
        if r.flags & PROTO != 0 {
            out.push(b':');
            port_range(out, r.min_port, r.max_port);
            if r.flags & OFFSET != 0 {
                let _ = write!(out, "/{}", r.base);
            }
        }
    }
    if r.flags & RANDOM != 0 {
        out.extend_from_slice(b" random");
    }
    if r.flags & FULLY != 0 {
        out.extend_from_slice(b" random-fully");
    }
    if r.flags & PERSISTENT != 0 {
        out.extend_from_slice(b" persistent");
    }
    Ok(())
}

/// `p`, or `p-q` for a range (NAT's ports).
fn port_range(out: &mut Vec<u8>, min: u16, max: u16) {
    let _ = write!(out, "{min}");
    if max != min {
        let _ = write!(out, "-{max}");
    }
}

/// ` spt:80`, ` dpts:1000:2000`, nothing for every port.
fn ports(out: &mut Vec<u8>, what: &str, min: u16, max: u16, invert: bool) {
    if min == 0 && max == u16::MAX && !invert {
        return;
    }
    let not = if invert { "!" } else { "" };
    let _ = if min == max {
        write!(out, " {what}:{not}{min}")
    } else {
        write!(out, " {what}s:{not}{min}:{max}")
    };
}

fn mark(out: &mut Vec<u8>, m: u32, mask: u32) {
    let _ = if mask == u32::MAX {
        write!(out, " 0x{m:x}")
    } else {
        write!(out, " 0x{m:x}/0x{mask:x}")
    };
}

fn addr_types(out: &mut Vec<u8>, mask: u16) {
    const NAMES: [&str; 12] = [
        "UNSPEC",
        "UNICAST",
        "LOCAL",
        "BROADCAST",
        "ANYCAST",
        "MULTICAST",
        "BLACKHOLE",
        "UNREACHABLE",
        "PROHIBIT",
        "THROW",
        "NAT",
        "XRESOLVE",
    ];
    let mut sep = "";
    for (i, n) in NAMES.iter().enumerate() {
        if mask & (1 << i) != 0 {
            let _ = write!(out, "{sep}{n}");
            sep = ",";
        }
    }
}

/// ` INVALID,NEW,...` in iptables' order.
fn ct_states(out: &mut Vec<u8>, mask: u16) -> Result<(), Unsupported> {
    const NAMES: [(u16, &str); 7] = [
        (1, "INVALID"),
        (8, "NEW"),
        (4, "RELATED"),
        (2, "ESTABLISHED"),
        (256, "UNTRACKED"),
        (64, "SNAT"),
        (128, "DNAT"),
    ];
    if mask == 0 || mask & !(1 | 2 | 4 | 8 | 64 | 128 | 256) != 0 {
        return Err(unsupported("conntrack: states iptables does not name"));
    }
    let mut sep = " ";
    for (bit, n) in NAMES {
        if mask & bit != 0 {
            let _ = write!(out, "{sep}{n}");
            sep = ",";
        }
    }
    Ok(())
}

/// `printf("%.11f", p)` for a probability (0 to 1): rounded half to even on the exact
/// binary value, as glibc does (a unit test compares the two).
pub fn fixed11(p: f64) -> String {
    format!("{p:.11}")
}
