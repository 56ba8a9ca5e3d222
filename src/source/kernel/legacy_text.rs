//! The listing `iptables-legacy -t T -L -v -n -x --line-numbers` (or ip6tables-legacy's)
//! prints, written from the table's entries as x_tables hands them out (`GET_ENTRIES`),
//! so that a legacy table is listed without running iptables: the child costs about
//! three times the read (50k rules: 0.2 s against 0.06 s), and the text and its counters
//! then come from one read, never from two moments.
//!
//! Written byte for byte as iptables-legacy 1.8.9 writes it (chains in libiptc's order:
//! the built-in ones by hook, then the user chains by name; a jump named by the chain
//! whose entries hold its offset; references counted from the jumps) for the rule parts
//! and extensions `ext` knows, at the revisions iptables 1.8 writes. Anything else (an
//! extension or revision not known, a verdict libiptc would refuse, a comment with
//! a line break) is [`Unsupported`]: the caller runs iptables as before. A root test
//! compares the text with iptables-legacy's own listing of the same rules.

mod ext;
mod table;

pub use table::table;

use std::io::Write as _;
use std::net::IpAddr;

use super::quick::{HOOKS, TableInfo};

/// Why a table is not written here (iptables lists it instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

/// Where the parts of an entry are: `struct ipt_entry` or `struct ip6t_entry`.
#[derive(Clone, Copy)]
pub struct Layout {
    /// sizeof the entry, where its matches begin
    pub(super) entry: usize,
    pub(super) target_offset: usize,
    pub(super) next_offset: usize,
    pub(super) counters: usize,
    pub(super) proto: usize,
    pub(super) flags: usize,
    pub(super) invflags: usize,
    /// source, destination, their masks; the interfaces
    pub(super) src: usize,
    pub(super) dst: usize,
    pub(super) smsk: usize,
    pub(super) dmsk: usize,
    pub(super) iniface: usize,
    pub(super) outiface: usize,
    /// the address length, 4 or 16
    pub(super) addr: usize,
    /// the rule flags iptables prints (`-f`, goto), the inversions it prints
    pub(super) frag: u8,
    pub(super) goto: u8,
    pub(super) flags_known: u8,
    pub(super) inv_known: u8,
}

/// IPv4 (`struct ipt_entry`).
pub const V4: Layout = Layout {
    entry: 112,
    target_offset: 88,
    next_offset: 90,
    counters: 96,
    proto: 80,
    flags: 82,
    invflags: 83,
    src: 0,
    dst: 4,
    smsk: 8,
    dmsk: 12,
    iniface: 16,
    outiface: 32,
    addr: 4,
    frag: 0x01,
    goto: 0x02,
    flags_known: 0x03,
    inv_known: 0x7b,
};

/// IPv6 (`struct ip6t_entry`): no fragment flag (`IP6T_F_PROTO` only says `-p` was given).
pub const V6: Layout = Layout {
    entry: 168,
    target_offset: 140,
    next_offset: 142,
    counters: 152,
    proto: 128,
    flags: 131,
    invflags: 132,
    src: 0,
    dst: 16,
    smsk: 32,
    dmsk: 48,
    iniface: 64,
    outiface: 80,
    addr: 16,
    frag: 0,
    goto: 0x04,
    flags_known: 0x05,
    inv_known: 0x5b,
};
/// sizeof(struct xt_entry_match) / xt_entry_target: size, name, revision.
pub(super) const EXT_HEAD: usize = 32;
/// The column titles under every chain header.
const TITLES: &str = "num      pkts      bytes target     prot opt in     out     source               destination         \n";

/// One entry's place in the table, and its verdict (the standard target).
#[derive(Clone, Copy)]
pub(super) struct Entry {
    pub(super) off: usize,
    pub(super) size: usize,
    pub(super) target: usize,
    pub(super) verdict: Option<i32>,
}

/// A chain: where its entries are, its rules, its policy entry (built-in chains).
struct Chain<'a> {
    name: &'a [u8],
    /// Offset of its first entry (a built-in chain's first rule or policy, a user
    /// chain's ERROR head) and of its last (policy, or the closing RETURN).
    head: usize,
    foot: usize,
    rules: std::ops::Range<usize>,
    policy: Option<usize>,
    references: u32,
}

/// The native-endian `u16` at `o`, 0 past the end.
pub(super) fn u16_at(b: &[u8], o: usize) -> usize {
    b.get(o..o + 2)
        .map_or(0, |s| usize::from(u16::from_ne_bytes([s[0], s[1]])))
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8)
        .map_or(0, |s| u64::from_ne_bytes(s.try_into().unwrap_or_default()))
}

fn i32_at(b: &[u8], o: usize) -> i32 {
    b.get(o..o + 4)
        .map_or(0, |s| i32::from_ne_bytes(s.try_into().unwrap_or_default()))
}

/// A NUL-terminated name in a fixed field.
fn cstr(b: &[u8]) -> &[u8] {
    &b[..memchr::memchr(0, b).unwrap_or(b.len())]
}

/// A name that must end inside its field: iptables reads one that does not on into the
/// bytes after it, which is left to iptables.
fn name(b: &[u8]) -> Result<&[u8], Unsupported> {
    match memchr::memchr(0, b) {
        Some(n) => Ok(&b[..n]),
        None => Err(unsupported("a name that fills its field")),
    }
}

/// A name a listing prints as one column: one word, or the columns after it would be
/// misread (iptables' listing of it is left to iptables, as it is).
fn word(n: &[u8]) -> Result<&[u8], Unsupported> {
    if n.iter()
        .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
    {
        return Err(unsupported("a name with a space or a control character"));
    }
    Ok(n)
}

pub(super) fn unsupported(why: impl Into<String>) -> Unsupported {
    Unsupported(why.into())
}

/// A match or target of an entry: its name, revision, data and whole size.
struct Ext<'a> {
    name: &'a [u8],
    rev: u8,
    data: &'a [u8],
    size: usize,
}

/// The extension at `o` of an entry.
fn ext_at(e: &[u8], o: usize) -> Result<Ext<'_>, Unsupported> {
    let size = u16_at(e, o);
    if size < EXT_HEAD || o + size > e.len() {
        return Err(unsupported("an extension's size is out of its entry"));
    }
    Ok(Ext {
        name: name(&e[o + 2..o + 31])?,
        rev: e[o + 31],
        data: &e[o + EXT_HEAD..o + size],
        size,
    })
}

/// The listing of a table from its entries (counters included) and its info: `V4` or
/// `V6` says which family's entries they are.
pub fn render(entries: &[u8], info: &TableInfo, l: Layout) -> Result<String, Unsupported> {
    let (list, mut chains) = walk(entries, info, l)?;
    let targets = jumps(&list, &mut chains)?;
    let order = chain_order(chains.iter().map(|c| (c.policy.is_some(), c.name)));
    let mut out: Vec<u8> = Vec::with_capacity(entries.len() * 3 / 4);
    for (n, &c) in order.iter().enumerate() {
        let ch = &chains[c];
        let head = match ch.policy {
            Some(p) => {
                let e = &entries[list[p].off..];
                Head::Policy(
                    list[p].verdict,
                    u64_at(e, l.counters),
                    u64_at(e, l.counters + 8),
                )
            }
            None => Head::References(ch.references),
        };
        push_head(&mut out, n == 0, ch.name, head)?;
        for (num, r) in ch.rules.clone().enumerate() {
            let name = match targets[r] {
                u32::MAX => &[],
                j => chains[j as usize].name,
            };
            let at = list[r];
            rule(
                &mut out,
                num + 1,
                &entries[at.off..][..at.size],
                at,
                name,
                l,
                None,
            )?;
        }
    }
    Ok(crate::model::text::lossy_string(out))
}

/// libiptc's order of a table's chains, given as (built-in, name): the built-in chains
/// as they come (by hook), then the user chains by name.
pub(super) fn chain_order<'n>(chains: impl Iterator<Item = (bool, &'n [u8])>) -> Vec<usize> {
    let keys: Vec<(bool, &[u8])> = chains.collect();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| match (keys[a], keys[b]) {
        ((true, _), (true, _)) => std::cmp::Ordering::Equal,
        ((true, _), _) => std::cmp::Ordering::Less,
        (_, (true, _)) => std::cmp::Ordering::Greater,
        ((false, x), (false, y)) => x.cmp(y),
    });
    order
}

/// What a chain's header says after its name.
#[derive(Clone, Copy)]
pub(super) enum Head {
    /// A built-in chain: its policy's verdict (the standard target's), packets, bytes.
    Policy(Option<i32>, u64, u64),
    /// A user chain: the jumps to it.
    References(u32),
}

/// A chain's header and the column titles, after a blank line unless it is the first.
pub(super) fn push_head(
    out: &mut Vec<u8>,
    first: bool,
    name: &[u8],
    head: Head,
) -> Result<(), Unsupported> {
    if !first {
        out.push(b'\n');
    }
    out.extend_from_slice(b"Chain ");
    out.extend_from_slice(name);
    let _ = match head {
        Head::Policy(verdict, packets, bytes) => {
            let policy = match verdict {
                Some(-2) => "ACCEPT",
                Some(-1) => "DROP",
                _ => return Err(unsupported("a policy that is neither ACCEPT nor DROP")),
            };
            writeln!(out, " (policy {policy} {packets} packets, {bytes} bytes)")
        }
        Head::References(n) => writeln!(out, " ({n} references)"),
    };
    out.extend_from_slice(TITLES.as_bytes());
    Ok(())
}

/// Per entry, the chain its jump names (`u32::MAX`: none), found as libiptc finds it
/// (the chain whose entries hold the offset); each chain's references counted.
fn jumps(list: &[Entry], chains: &mut [Chain]) -> Result<Vec<u32>, Unsupported> {
    let mut by_head: Vec<usize> = (0..chains.len()).collect();
    by_head.sort_by_key(|&i| chains[i].head);
    let find = |v: usize, chains: &[Chain]| -> Option<usize> {
        let at = by_head.partition_point(|&i| chains[i].head <= v);
        let i = *by_head.get(at.checked_sub(1)?)?;
        (v <= chains[i].foot).then_some(i)
    };
    let mut targets: Vec<u32> = vec![u32::MAX; list.len()];
    for c in 0..chains.len() {
        for r in chains[c].rules.clone() {
            let Entry {
                off, size, verdict, ..
            } = list[r];
            if let Some(v) = verdict
                && v >= 0
                && v as usize != off + size
            {
                let j =
                    find(v as usize, chains).ok_or_else(|| unsupported("a jump to no chain"))?;
                targets[r] = j as u32;
                chains[j].references += 1;
            }
        }
    }
    Ok(targets)
}

/// The entries and the chains they make, in one pass over the entries.
fn walk<'a>(
    entries: &'a [u8],
    info: &TableInfo,
    l: Layout,
) -> Result<(Vec<Entry>, Vec<Chain<'a>>), Unsupported> {
    let mut list: Vec<Entry> = Vec::with_capacity(entries.len() / 256);
    let mut chains: Vec<Chain> = Vec::new();
    // the chain being walked: for a built-in one its underflow
    let mut cur: Option<Option<usize>> = None;
    let mut off = 0;
    while off < entries.len() {
        let e = &entries[off..];
        let size = u16_at(e, l.next_offset);
        let target = u16_at(e, l.target_offset);
        if size < l.entry + EXT_HEAD
            || size > e.len()
            || target < l.entry
            || target + EXT_HEAD > size
        {
            return Err(unsupported("an entry's size is out of the table"));
        }
        let e = &e[..size];
        let Ext {
            name: tname,
            data: tdata,
            ..
        } = ext_at(e, target)?;
        let i = list.len();
        list.push(Entry {
            off,
            size,
            target,
            verdict: tname.is_empty().then(|| i32_at(tdata, 0)),
        });
        off += size;
        let at = list[i].off;
        if let Some(h) =
            (0..5).find(|&h| info.valid_hooks & (1 << h) != 0 && info.hook_entry[h] as usize == at)
        {
            if cur.is_some() {
                return Err(unsupported("a hook inside a chain"));
            }
            chains.push(Chain {
                name: HOOKS[h].as_bytes(),
                head: at,
                foot: info.underflow[h] as usize,
                rules: i..i,
                policy: None,
                references: 0,
            });
            cur = Some(Some(info.underflow[h] as usize));
        }
        if tname == b"ERROR" {
            // the end of the previous user chain, if any, was its RETURN
            if let (Some(None), Some(c)) = (cur, chains.last_mut()) {
                if c.rules.is_empty() {
                    return Err(unsupported("a user chain without its RETURN"));
                }
                c.rules.end -= 1;
                c.foot = list[c.rules.end].off;
            } else if cur.is_some() {
                return Err(unsupported("a built-in chain without its policy"));
            }
            let name = word(name(tdata)?)?;
            if name == b"ERROR" {
                cur = None; // the end of the table
                if off != entries.len() {
                    return Err(unsupported("entries after the table's end"));
                }
            } else {
                chains.push(Chain {
                    name,
                    head: at,
                    foot: at,
                    rules: i + 1..i + 1,
                    policy: None,
                    references: 0,
                });
                cur = Some(None);
            }
            continue;
        }
        let Some(c) = chains.last_mut() else {
            return Err(unsupported("an entry before any chain"));
        };
        match cur {
            Some(Some(u)) if u == at => {
                c.policy = Some(i);
                cur = None;
            }
            Some(_) => c.rules.end = i + 1,
            None => return Err(unsupported("an entry outside every chain")),
        }
    }
    if cur.is_some() {
        return Err(unsupported("a table without its end"));
    }
    if chains
        .iter()
        .any(|c| c.policy.is_none() && c.name.len() > 28)
    {
        return Err(unsupported("a chain name longer than iptables allows"));
    }
    Ok((list, chains))
}

/// `s` padded with spaces to `width` bytes (printf's `%-Ns`).
fn pad(out: &mut Vec<u8>, s: &[u8], width: usize) {
    out.extend_from_slice(s);
    out.resize(out.len() + width.saturating_sub(s.len()), b' ');
}

/// An address with its mask as `xtables_ipaddr_to_numeric` + `ipmask_to_numeric` write
/// it (their `ip6` kin for 16 bytes): the address, then `/len`, nothing for a whole
/// mask, the mask written whole when it is not a prefix.
fn address(out: &mut Vec<u8>, addr: &[u8], mask: &[u8]) -> Result<(), Unsupported> {
    ip(out, addr)?;
    let bits = mask.len() as u32 * 8;
    // the mask in the high bits of a u128, whatever its length
    let m = mask.iter().fold(0u128, |m, &b| (m << 8) | u128::from(b)) << (128 - bits);
    let ones = m.leading_ones();
    let prefix = m.checked_shl(ones).unwrap_or(0) == 0;
    if ones == bits && prefix {
        return Ok(());
    }
    out.push(b'/');
    if prefix {
        number(out, u64::from(ones));
        Ok(())
    } else {
        ip(out, mask)
    }
}

/// An address of 4 or 16 bytes as `inet_ntop` writes it ([`addr`]).
fn ip(out: &mut Vec<u8>, a: &[u8]) -> Result<(), Unsupported> {
    if a.len() == 4 {
        dotted(out, a);
        return Ok(());
    }
    let mut b = [0u8; 16];
    b.copy_from_slice(&a[..16]);
    addr(out, IpAddr::V6(b.into()))
}

/// An address as `inet_ntop` writes it: dotted for IPv4; for IPv6, RFC 5952 (glibc's
/// and Rust's agree but on the deprecated IPv4-compatible form, left to iptables).
fn addr(out: &mut Vec<u8>, a: IpAddr) -> Result<(), Unsupported> {
    match a {
        IpAddr::V4(a) => dotted(out, &a.octets()),
        IpAddr::V6(a) => {
            let w = a.segments();
            if w[..6] == [0; 6] && w[6] != 0 {
                return Err(unsupported("an IPv4-compatible IPv6 address"));
            }
            let _ = write!(out, "{a}");
        }
    }
    Ok(())
}

/// `a.b.c.d`
fn dotted(out: &mut Vec<u8>, a: &[u8]) {
    for (i, &b) in a[..4].iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        number(out, u64::from(b));
    }
}

fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A number right-aligned in `width` bytes and a space (printf's `%8llu `).
fn right(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut b = itoa::Buffer::new();
    let s = b.format(n).as_bytes();
    out.resize(out.len() + width.saturating_sub(s.len()), b' ');
    out.extend_from_slice(s);
    out.push(b' ');
}

/// Where the text columns of a rule's line are in it ([`rule`]): byte ranges of
/// `out`, each as the listing's parser reads its column (an inversion's `!` with it).
#[derive(Default)]
pub(super) struct Cols {
    pub(super) target: (usize, usize),
    pub(super) prot: (usize, usize),
    pub(super) opt: (usize, usize),
    pub(super) ifaces: [(usize, usize); 2],
    pub(super) addrs: [(usize, usize); 2],
}

/// One rule's line (`num`: its number in its chain; `e`: its entry, `at` where its
/// parts are; `jump`: the chain a jump names), saying where its columns went in `out`
/// when `cols` is given.
pub(super) fn rule(
    out: &mut Vec<u8>,
    num: usize,
    e: &[u8],
    at: Entry,
    jump: &[u8],
    l: Layout,
    mut cols: Option<&mut Cols>,
) -> Result<(), Unsupported> {
    let invflags = e[l.invflags];
    let flags = e[l.flags];
    if invflags & !l.inv_known != 0 || flags & !l.flags_known != 0 {
        return Err(unsupported("IP flags iptables does not print"));
    }
    let Ext {
        name: tname,
        rev: trev,
        data: tdata,
        ..
    } = ext_at(e, at.target)?;
    let target: &[u8] = if tname.is_empty() {
        let v = i32_at(tdata, 0);
        match v {
            -2 => b"ACCEPT",
            -1 => b"DROP",
            -4 => b"QUEUE",
            -5 => b"RETURN",
            v if v >= 0 => jump,
            _ => return Err(unsupported("a verdict libiptc does not name")),
        }
    } else {
        tname
    };
    let mut b = itoa::Buffer::new();
    pad(out, b.format(num).as_bytes(), 4);
    out.push(b' ');
    right(out, u64_at(e, l.counters), 8);
    right(out, u64_at(e, l.counters + 8), 8);
    let start = out.len();
    pad(out, target, 9);
    if let Some(c) = cols.as_deref_mut() {
        c.target = (start, start + target.len());
    }
    out.push(b' ');
    let start = out.len() + usize::from(invflags & 0x40 == 0);
    out.push(if invflags & 0x40 != 0 { b'!' } else { b' ' });
    // a protocol is a byte: a wider number (crafted entries) would run into `opt`
    let proto = u16_at(e, l.proto);
    if proto > 255 {
        return Err(unsupported("a protocol number above 255"));
    }
    let proto = b.format(proto).as_bytes();
    pad(out, proto, 5);
    if let Some(c) = cols.as_deref_mut() {
        c.prot = (
            start,
            start + usize::from(invflags & 0x40 != 0) + proto.len(),
        );
        c.opt = (out.len(), out.len() + 2);
    }
    out.push(if invflags & 0x20 != 0 { b'!' } else { b'-' });
    out.push(if flags & l.frag != 0 { b'f' } else { b'-' });
    out.push(b' ');
    out.push(b' ');
    for (k, (name, inv)) in [
        (&e[l.iniface..l.iniface + 16], 0x01),
        (&e[l.outiface..l.outiface + 16], 0x02),
    ]
    .into_iter()
    .enumerate()
    {
        let start = out.len();
        if invflags & inv != 0 {
            out.push(b'!');
        }
        match word(self::name(name)?)? {
            b"" => out.push(b'*'),
            n => out.extend_from_slice(n),
        }
        let len = out.len() - start;
        if let Some(c) = cols.as_deref_mut() {
            c.ifaces[k] = (start, out.len());
        }
        out.resize(out.len() + 6usize.saturating_sub(len), b' ');
        out.push(b' ');
    }
    let n = l.addr;
    for (k, (addr, mask, inv)) in [
        (&e[l.src..l.src + n], &e[l.smsk..l.smsk + n], 0x08),
        (&e[l.dst..l.dst + n], &e[l.dmsk..l.dmsk + n], 0x10),
    ]
    .into_iter()
    .enumerate()
    {
        let bang = out.len();
        out.push(if invflags & inv != 0 { b'!' } else { b' ' });
        let start = out.len();
        address(out, addr, mask)?;
        let len = out.len() - start;
        if let Some(c) = cols.as_deref_mut() {
            c.addrs[k] = (if invflags & inv != 0 { bang } else { start }, out.len());
        }
        out.resize(out.len() + 19usize.saturating_sub(len), b' ');
        out.push(b' ');
    }
    if flags & l.goto != 0 {
        out.extend_from_slice(b"[goto] ");
    }
    let v6 = l.addr == 16;
    let mut o = l.entry;
    while o < at.target {
        let Ext {
            name,
            rev,
            data,
            size,
        } = ext_at(e, o)?;
        if o + size > at.target {
            return Err(unsupported("a match overlaps the target"));
        }
        ext::matched(out, name, rev, data, v6)?;
        o += size;
    }
    if !tname.is_empty() {
        ext::target(out, tname, trev, tdata, v6)?;
    }
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests;
