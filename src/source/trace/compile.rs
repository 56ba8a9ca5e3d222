//! An nft match expression → the netlink expressions of the trace rule.
//!
//! iptop writes no nft compiler: the real `nft` compiles `EXPR limit rate N/second meta
//! nftrace set 1` in check mode (`-c`: the kernel validates the batch and aborts it,
//! nothing is committed) with `--debug=netlink`, which prints the rule's bytecode
//! (`[ meta load l4proto => reg 1 ]`, `[ cmp eq reg 1 0x00000006 ]`, ...). [`parse`] reads
//! those lines and [`encode`] turns them into netlink attributes. Only what common flow
//! selectors produce is understood; anything else is refused by name.

use std::fmt;

/// One expression of the trace rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Meta {
        key: u32,
        dreg: u32,
    },
    MetaSet {
        key: u32,
        sreg: u32,
    },
    Payload {
        base: u32,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    Cmp {
        sreg: u32,
        op: u32,
        data: Vec<u8>,
    },
    Bitwise {
        sreg: u32,
        dreg: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    Range {
        sreg: u32,
        op: u32,
        from: Vec<u8>,
        to: Vec<u8>,
    },
    Limit {
        rate: u64,
        unit: u64,
        burst: u32,
        bytes: bool,
        flags: u32,
    },
    Immediate {
        dreg: u32,
        data: Vec<u8>,
    },
}

/// Why the bytecode cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileError {
    /// nft compiled it to something iptop does not encode (an anonymous set, ct, ...).
    Unsupported(String),
    /// The lines are not what `nft --debug=netlink` prints.
    Garbled(String),
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::Unsupported(what) => write!(
                f,
                "the expression needs {what}, which --trace does not support (it supports meta, payload, cmp, bitwise and range matches: ports, addresses, prefixes, ranges, interfaces, protocols, marks)"
            ),
            CompileError::Garbled(line) => {
                write!(f, "unexpected output of nft --debug=netlink: {line}")
            }
        }
    }
}

/// The meta keys iptop encodes: (name as libnftnl prints it, kernel key, size in bytes).
const META_KEYS: &[(&str, u32, u32)] = &[
    ("len", 0, 4),
    ("protocol", 1, 2),
    ("priority", 2, 4),
    ("mark", 3, 4),
    ("iif", 4, 4),
    ("oif", 5, 4),
    ("iifname", 6, 16),
    ("oifname", 7, 16),
    ("iiftype", 8, 2),
    ("oiftype", 9, 2),
    ("skuid", 10, 4),
    ("skgid", 11, 4),
    ("nftrace", 12, 1),
    ("nfproto", 15, 1),
    ("l4proto", 16, 1),
    ("pkttype", 19, 1),
    ("cpu", 20, 4),
    ("iifgroup", 21, 4),
    ("oifgroup", 22, 4),
    ("cgroup", 23, 4),
];

const BASES: &[(&str, u32)] = &[
    ("link layer", 0),
    ("network header", 1),
    ("transport header", 2),
    ("inner header", 3),
];
const CMP_OPS: &[&str] = &["eq", "neq", "lt", "lte", "gt", "gte"];
const UNITS: &[(&str, u64)] = &[
    ("second", 1),
    ("minute", 60),
    ("hour", 3600),
    ("day", 86400),
    ("week", 604_800),
];

fn meta_key(name: &str) -> Option<(u32, u32)> {
    META_KEYS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|&(_, k, s)| (k, s))
}

/// The bytes of `0x%08x` words as libnftnl prints a register's data (host order words).
fn words(ws: &[&str]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(ws.len() * 4);
    for w in ws {
        let v = u32::from_str_radix(w.strip_prefix("0x")?, 16).ok()?;
        out.extend_from_slice(&v.to_ne_bytes());
    }
    Some(out)
}

fn num(s: &str) -> Option<u32> {
    s.parse().ok()
}

fn reg(s: &str) -> Option<u32> {
    num(s).filter(|r| *r <= 24)
}

/// The data compared with a register holding `reg_len` bytes: whole words for the
/// register's length, or a prefix (an interface name with `*`) shorter than it.
fn sized(mut data: Vec<u8>, reg_len: usize) -> Vec<u8> {
    if data.len() >= reg_len {
        data.truncate(reg_len.max(1));
    } else {
        while data.len() > 1 && data.last() == Some(&0) {
            data.pop();
        }
    }
    data
}

/// The expressions of the one rule in `nft --debug=netlink -c` output.
pub fn parse(out: &str) -> Result<Vec<Expr>, CompileError> {
    let mut exprs = Vec::new();
    let mut reg_len = [0usize; 25];
    let mut rules = 0;
    for line in out.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with("__set") || t.starts_with("element") {
            return Err(CompileError::Unsupported("an anonymous set".into()));
        }
        let Some(body) = t.strip_prefix("[ ").and_then(|b| b.strip_suffix(" ]")) else {
            if t.starts_with("inet iptop-trace ") {
                rules += 1;
            }
            continue; // table and chain lines
        };
        if rules != 1 {
            return Err(CompileError::Garbled(t.to_string()));
        }
        let garbled = || CompileError::Garbled(t.to_string());
        let w: Vec<&str> = body.split_whitespace().collect();
        let e = match w.as_slice() {
            ["meta", "load", key, "=>", "reg", r] => {
                let (key, size) = meta_key(key)
                    .ok_or_else(|| CompileError::Unsupported(format!("meta {key}")))?;
                let dreg = reg(r).ok_or_else(garbled)?;
                reg_len[dreg as usize] = size as usize;
                Expr::Meta { key, dreg }
            }
            ["meta", "set", key, "with", "reg", r] => {
                let (key, size) = meta_key(key)
                    .ok_or_else(|| CompileError::Unsupported(format!("meta set {key}")))?;
                let sreg = reg(r).ok_or_else(garbled)?;
                // the value loaded for it is as wide as the key
                if let Some(Expr::Immediate { dreg, data }) = exprs.last_mut()
                    && *dreg == sreg
                {
                    data.truncate(size as usize);
                }
                Expr::MetaSet { key, sreg }
            }
            ["payload", "load", len, "@", rest @ ..] => {
                let len = len.strip_suffix('b').and_then(num).ok_or_else(garbled)?;
                let rest = rest.join(" ");
                let (base, tail) = BASES
                    .iter()
                    .find_map(|(n, b)| rest.strip_prefix(n).map(|t| (*b, t)))
                    .ok_or_else(garbled)?;
                let tw: Vec<&str> = tail.split_whitespace().collect();
                let ["+", off, "=>", "reg", r] = tw.as_slice() else {
                    return Err(garbled());
                };
                let dreg = reg(r).ok_or_else(garbled)?;
                if len == 0 || len > 64 {
                    return Err(garbled());
                }
                reg_len[dreg as usize] = len as usize;
                Expr::Payload {
                    base,
                    offset: num(off).ok_or_else(garbled)?,
                    len,
                    dreg,
                }
            }
            ["cmp", op, "reg", r, data @ ..] if !data.is_empty() => {
                let op = CMP_OPS.iter().position(|o| o == op).ok_or_else(garbled)? as u32;
                let sreg = reg(r).ok_or_else(garbled)?;
                let data = words(data).ok_or_else(garbled)?;
                Expr::Cmp {
                    sreg,
                    op,
                    data: sized(data, reg_len[sreg as usize]),
                }
            }
            ["range", op, "reg", r, data @ ..] if !data.is_empty() && data.len() % 2 == 0 => {
                let op = match *op {
                    "eq" => 0,
                    "neq" => 1,
                    _ => return Err(garbled()),
                };
                let sreg = reg(r).ok_or_else(garbled)?;
                let half = data.len() / 2;
                let n = reg_len[sreg as usize].max(1);
                let mut from = words(&data[..half]).ok_or_else(garbled)?;
                let mut to = words(&data[half..]).ok_or_else(garbled)?;
                from.truncate(n);
                to.truncate(n);
                Expr::Range { sreg, op, from, to }
            }
            ["bitwise", "reg", d, "=", "(", "reg", s, "&", rest @ ..] => {
                let sreg = reg(s).ok_or_else(garbled)?;
                let dreg = reg(d).ok_or_else(garbled)?;
                let close = rest.iter().position(|x| *x == ")").ok_or_else(garbled)?;
                let (mask, tail) = rest.split_at(close);
                let [")", "^", xor @ ..] = tail else {
                    return Err(garbled());
                };
                let n = reg_len[sreg as usize].max(1);
                let mut mask = words(mask).ok_or_else(garbled)?;
                let mut xor = words(xor).ok_or_else(garbled)?;
                if mask.is_empty() || mask.len() != xor.len() {
                    return Err(garbled());
                }
                mask.truncate(n);
                xor.truncate(n);
                reg_len[dreg as usize] = mask.len();
                Expr::Bitwise {
                    sreg,
                    dreg,
                    mask,
                    xor,
                }
            }
            [
                "limit",
                "rate",
                rate,
                "burst",
                burst,
                "type",
                kind,
                "flags",
                flags,
            ] => {
                let (r, u) = rate.split_once('/').ok_or_else(garbled)?;
                let unit = UNITS
                    .iter()
                    .find(|(n, _)| *n == u)
                    .map(|(_, s)| *s)
                    .ok_or_else(garbled)?;
                Expr::Limit {
                    rate: r.parse().map_err(|_| garbled())?,
                    unit,
                    burst: num(burst).ok_or_else(garbled)?,
                    bytes: match *kind {
                        "packets" => false,
                        "bytes" => true,
                        _ => return Err(garbled()),
                    },
                    flags: flags
                        .strip_prefix("0x")
                        .and_then(|f| u32::from_str_radix(f, 16).ok())
                        .ok_or_else(garbled)?,
                }
            }
            ["immediate", "reg", r, data @ ..]
                if !data.is_empty() && data.iter().all(|d| d.starts_with("0x")) =>
            {
                let dreg = reg(r).ok_or_else(garbled)?;
                if dreg == 0 {
                    return Err(CompileError::Unsupported("a verdict".into()));
                }
                let data = words(data).ok_or_else(garbled)?;
                reg_len[dreg as usize] = data.len();
                Expr::Immediate { dreg, data }
            }
            ["immediate", ..] => return Err(CompileError::Unsupported("a verdict".into())),
            [name, ..] => {
                let what = match *name {
                    "lookup" | "dynset" => "a set lookup".to_string(),
                    "ct" => "conntrack (ct)".to_string(),
                    n => format!("the `{n}` expression"),
                };
                return Err(CompileError::Unsupported(what));
            }
            [] => return Err(garbled()),
        };
        exprs.push(e);
    }
    if rules != 1 {
        return Err(CompileError::Garbled(format!(
            "{rules} rules in the compiled batch"
        )));
    }
    // the rule must end as iptop wrote it: limit, then `meta nftrace set 1`
    match exprs.as_slice() {
        [
            ..,
            Expr::Limit { .. },
            Expr::Immediate { .. },
            Expr::MetaSet { key: 12, .. },
        ] => Ok(exprs),
        _ => Err(CompileError::Garbled(
            "the rule does not end in limit and meta nftrace set 1".into(),
        )),
    }
}

/// The netlink attribute encoders (the kernel reader's tests build messages with them).
pub use crate::source::kernel::nft::{NLA_F_NESTED, nest, put};

pub fn put_u32(out: &mut Vec<u8>, kind: u16, v: u32) {
    put(out, kind, &v.to_be_bytes());
}

pub fn put_str(out: &mut Vec<u8>, kind: u16, s: &str) {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    put(out, kind, &b);
}

fn data(out: &mut Vec<u8>, kind: u16, d: &[u8]) {
    nest(out, kind, |o| put(o, 1, d)); // NFTA_DATA_VALUE
}

/// `NFTA_RULE_EXPRESSIONS`' content: one `NFTA_LIST_ELEM` per expression.
pub fn encode(exprs: &[Expr], out: &mut Vec<u8>) {
    for e in exprs {
        nest(out, 1, |o| {
            let name = match e {
                Expr::Meta { .. } | Expr::MetaSet { .. } => "meta",
                Expr::Payload { .. } => "payload",
                Expr::Cmp { .. } => "cmp",
                Expr::Bitwise { .. } => "bitwise",
                Expr::Range { .. } => "range",
                Expr::Limit { .. } => "limit",
                Expr::Immediate { .. } => "immediate",
            };
            put_str(o, 1, name); // NFTA_EXPR_NAME
            nest(o, 2, |o| match e {
                Expr::Meta { key, dreg } => {
                    put_u32(o, 1, *dreg);
                    put_u32(o, 2, *key);
                }
                Expr::MetaSet { key, sreg } => {
                    put_u32(o, 2, *key);
                    put_u32(o, 3, *sreg);
                }
                Expr::Payload {
                    base,
                    offset,
                    len,
                    dreg,
                } => {
                    put_u32(o, 1, *dreg);
                    put_u32(o, 2, *base);
                    put_u32(o, 3, *offset);
                    put_u32(o, 4, *len);
                }
                Expr::Cmp { sreg, op, data: d } => {
                    put_u32(o, 1, *sreg);
                    put_u32(o, 2, *op);
                    data(o, 3, d);
                }
                Expr::Bitwise {
                    sreg,
                    dreg,
                    mask,
                    xor,
                } => {
                    put_u32(o, 1, *sreg);
                    put_u32(o, 2, *dreg);
                    put_u32(o, 3, mask.len() as u32);
                    data(o, 4, mask);
                    data(o, 5, xor);
                }
                Expr::Range { sreg, op, from, to } => {
                    put_u32(o, 1, *sreg);
                    put_u32(o, 2, *op);
                    data(o, 3, from);
                    data(o, 4, to);
                }
                Expr::Limit {
                    rate,
                    unit,
                    burst,
                    bytes,
                    flags,
                } => {
                    put(o, 1, &rate.to_be_bytes());
                    put(o, 2, &unit.to_be_bytes());
                    put_u32(o, 3, *burst);
                    put_u32(o, 4, u32::from(*bytes));
                    put_u32(o, 5, *flags);
                }
                Expr::Immediate { dreg, data: d } => {
                    put_u32(o, 1, *dreg);
                    data(o, 2, d);
                }
            });
        });
    }
}

/// Characters refused in EXPR before nft sees it: they would end the rule and start
/// another command, or comment the rest out.
pub fn check_chars(expr: &str) -> Result<(), String> {
    if expr.trim().is_empty() {
        return Err("--trace needs an nft match expression, e.g. 'tcp dport 80'".into());
    }
    if let Some(c) = expr
        .chars()
        .find(|c| matches!(c, ';' | '#' | '\n' | '\r') || c.is_control())
    {
        return Err(format!(
            "--trace takes one nft match expression: {c:?} is not allowed in it"
        ));
    }
    if expr.contains('{') || expr.contains('}') {
        return Err(
            "--trace does not support anonymous sets ({ ... }): trace one value, or a range (80-443)"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
