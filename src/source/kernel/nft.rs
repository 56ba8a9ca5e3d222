//! nftables over netlink: the generation id, the chains of a table with their policy
//! counters, and per chain the rules' counters and jumps. Nothing else of a rule is
//! decoded.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::libc;

use super::request::{self, NftRequest};
use crate::model::Counter;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLA_TYPE_MASK: u16 = 0x3fff;

const NFTA_GEN_ID: u16 = 1;
pub(super) const NFTA_CHAIN_TABLE: u16 = 1;
pub(super) const NFTA_CHAIN_NAME: u16 = 3;
pub(super) const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_USE: u16 = 6;
pub(super) const NFTA_CHAIN_COUNTERS: u16 = 8;
const NFTA_COUNTER_BYTES: u16 = 1;
const NFTA_COUNTER_PACKETS: u16 = 2;
pub(super) const NFTA_RULE_HANDLE: u16 = 3;
pub(super) const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_NAT_TYPE: u16 = 1;
const NFT_NAT_DNAT: u32 = 1;
const NFTA_TARGET_NAME: u16 = 1;
pub(super) const NFTA_LIST_ELEM: u16 = 1;
pub(super) const NFTA_EXPR_NAME: u16 = 1;
pub(super) const NFTA_EXPR_DATA: u16 = 2;
pub(super) const NFTA_IMMEDIATE_DATA: u16 = 2;
pub(super) const NFTA_DATA_VERDICT: u16 = 2;
pub(super) const NFTA_VERDICT_CODE: u16 = 1;
pub(super) const NFTA_VERDICT_CHAIN: u16 = 2;
const NFT_JUMP: i32 = -3;
const NFT_GOTO: i32 = -4;

/// A chain as the chain list gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainInfo {
    pub name: String,
    /// A base chain (built-in: it has a hook); its policy counters.
    pub policy: Option<Counter>,
    /// How many references the kernel holds to the chain: jumps and gotos of rules and
    /// of verdict map elements (None: not told).
    pub uses: Option<u32>,
}

/// One rule: its counter (zero without a counter expression) and the chain it jumps
/// or goes to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleInfo {
    pub counter: Counter,
    pub jump: Option<String>,
    /// A counter comes before the jump: every packet that takes it moves the counter.
    pub jump_counted: bool,
    /// The rule's kernel handle (what trace events name a rule by).
    pub handle: Option<u64>,
    /// Its target is DNAT (iptables-nft's `DNAT` target or nft's `dnat to`).
    pub dnat: bool,
}

/// A netlink socket of the NETLINK_NETFILTER family, bound to the network namespace
/// of the thread that created it.
pub struct NftSocket {
    fd: OwnedFd,
    seq: u32,
    out: Vec<u8>,
    buf: Vec<u8>,
    /// Low 16 bits of the generation each dump message carried (the last one seen).
    pub dump_gen: Option<u16>,
}

/// The flag of a nested attribute's type.
pub const NLA_F_NESTED: u16 = 0x8000;

/// Appends attribute `kind` with `payload`, padded to 4 bytes. Only an encoder: what this
/// socket sends is built by `request` and checked by it (`--trace` sends its own batch).
pub fn put(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Appends a nested attribute whose content `f` writes.
pub fn nest(out: &mut Vec<u8>, kind: u16, f: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    f(out);
    let len = (out.len() - at) as u16;
    out[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    out[at + 2..at + 4].copy_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
}

/// A nested attribute whose content `f` writes, on its own (tests build messages so).
#[cfg(test)]
pub(crate) fn nested(kind: u16, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    nest(&mut out, kind, f);
    out
}

/// Attributes in `b`: (type without flags, payload).
pub fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let kind = u16::from_ne_bytes([b[2], b[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            return None;
        }
        let payload = &b[4..len];
        b = &b[((len + 3) & !3).min(b.len())..];
        Some((kind, payload))
    })
}

pub(super) fn attr(b: &[u8], kind: u16) -> Option<&[u8]> {
    attrs(b).find(|(k, _)| *k == kind).map(|(_, p)| p)
}

/// A big-endian `u32` attribute's value (None: shorter than 4 bytes).
pub(super) fn be32(p: &[u8]) -> Option<u32> {
    p.get(..4)
        .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]))
}

pub(super) fn be64(p: &[u8]) -> u64 {
    p.get(..8)
        .map_or(0, |s| u64::from_be_bytes(s.try_into().unwrap_or_default()))
}

pub(super) fn cstr(p: &[u8]) -> &[u8] {
    &p[..memchr::memchr(0, p).unwrap_or(p.len())]
}

pub(super) fn counter(p: &[u8]) -> Counter {
    Counter {
        packets: attr(p, NFTA_COUNTER_PACKETS).map_or(0, be64),
        bytes: attr(p, NFTA_COUNTER_BYTES).map_or(0, be64),
    }
}

/// Opens a NETLINK_NETFILTER socket in the calling thread's network namespace.
pub fn netlink_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned right after.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_NETFILTER,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl NftSocket {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<NftSocket> {
        let fd = netlink_socket()?;
        Ok(NftSocket {
            fd,
            seq: 0,
            out: Vec::with_capacity(256),
            buf: vec![0; 128 << 10],
            dump_gen: None,
        })
    }

    /// Sends `req` and calls `each` with the payload (after nfgenmsg) of every reply.
    pub(super) fn request(
        &mut self,
        req: &NftRequest,
        family: u8,
        mut each: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        self.request_family(req, family, |_, m| each(m))
    }

    /// [`Self::request`], telling `each` the family of every reply (nfgenmsg's): a dump
    /// of every family answers with each.
    pub(super) fn request_family(
        &mut self,
        req: &NftRequest,
        family: u8,
        mut each: impl FnMut(u8, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        request::build(req, family, seq, &mut self.out);
        if !request::allowed(&self.out) {
            return Err(io::Error::other(
                "refusing a netlink request that is not a read",
            ));
        }
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: sends our buffer to the kernel (port 0); addr is a valid sockaddr_nl.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                self.out.as_ptr().cast(),
                self.out.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let dump = req.is_dump();
        loop {
            // SAFETY: receives into our buffer of buf.len() bytes.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            if n > self.buf.len() {
                return Err(io::Error::other("netlink reply larger than the buffer"));
            }
            let mut b = &self.buf[..n];
            while b.len() >= 16 {
                let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
                let kind = u16::from_ne_bytes([b[4], b[5]]);
                let mseq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
                if len < 16 || len > b.len() {
                    return Err(io::Error::other("malformed netlink reply"));
                }
                let msg = &b[16..len];
                b = &b[((len + 3) & !3).min(b.len())..];
                if mseq != seq {
                    continue; // a late reply to an earlier request
                }
                match kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let code = msg
                            .get(..4)
                            .map_or(0, |c| i32::from_ne_bytes(c.try_into().unwrap_or_default()));
                        if code == 0 {
                            return Ok(());
                        }
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    _ if msg.len() >= 4 => {
                        if dump {
                            self.dump_gen = Some(u16::from_be_bytes([msg[2], msg[3]]));
                        }
                        each(msg[0], &msg[4..])?;
                        if !dump {
                            return Ok(());
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The generation id of the rule set.
    pub fn generation(&mut self) -> io::Result<u32> {
        let mut gen_id = None;
        self.request(&NftRequest::Generation, 2, |m| {
            gen_id = attr(m, NFTA_GEN_ID)
                .and_then(|p| p.get(..4))
                .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]));
            Ok(())
        })?;
        gen_id.ok_or_else(|| io::Error::other("no generation id in the reply"))
    }

    /// The chains of `table`, in the kernel's order. Empty when the table does not exist.
    pub fn chains(&mut self, family: u8, table: &str) -> io::Result<Vec<ChainInfo>> {
        let mut out = Vec::new();
        self.request(&NftRequest::Chains, family, |m| {
            if attr(m, NFTA_CHAIN_TABLE).map(cstr) == Some(table.as_bytes()) {
                out.push(chain_info(m));
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// One chain (None: it or its table does not exist).
    pub fn chain(&mut self, family: u8, table: &str, chain: &str) -> io::Result<Option<ChainInfo>> {
        let mut out = None;
        match self.request(&NftRequest::Chain { table, chain }, family, |m| {
            out = Some(chain_info(m));
            Ok(())
        }) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
            Ok(()) => Ok(out),
        }
    }

    /// The rules of one chain, in order, into `out` (cleared first). A missing chain
    /// gives no rules.
    pub fn rules(
        &mut self,
        family: u8,
        table: &str,
        chain: &str,
        out: &mut Vec<RuleInfo>,
    ) -> io::Result<()> {
        out.clear();
        match self.request(&NftRequest::Rules { table, chain }, family, |m| {
            out.push(rule_info(m));
            Ok(())
        }) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            r => r,
        }
    }
}

pub(super) fn chain_info(m: &[u8]) -> ChainInfo {
    ChainInfo {
        name: String::from_utf8_lossy(attr(m, NFTA_CHAIN_NAME).map_or(&[][..], cstr)).into_owned(),
        policy: attr(m, NFTA_CHAIN_HOOK)
            .map(|_| attr(m, NFTA_CHAIN_COUNTERS).map_or_else(Counter::default, counter)),
        uses: attr(m, NFTA_CHAIN_USE)
            .and_then(|p| p.get(..4))
            .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]])),
    }
}

/// The counter, the jump, the handle and whether it is a DNAT: only `counter`,
/// `immediate`, `nat` and `target` expressions are looked into.
pub(super) fn rule_info(m: &[u8]) -> RuleInfo {
    let mut r = RuleInfo {
        handle: attr(m, NFTA_RULE_HANDLE)
            .and_then(|p| p.get(..8))
            .map(|p| u64::from_be_bytes(p.try_into().unwrap_or_default())),
        ..RuleInfo::default()
    };
    let mut counted = false;
    let Some(exprs) = attr(m, NFTA_RULE_EXPRESSIONS) else {
        return r;
    };
    for (k, e) in attrs(exprs) {
        if k != NFTA_LIST_ELEM {
            continue;
        }
        let name = attr(e, NFTA_EXPR_NAME).map_or(&[][..], cstr);
        let data = attr(e, NFTA_EXPR_DATA).unwrap_or(&[]);
        match name {
            b"counter" if !counted => {
                r.counter = counter(data);
                counted = true;
            }
            b"immediate" => {
                let verdict = attr(data, NFTA_IMMEDIATE_DATA)
                    .and_then(|d| attr(d, NFTA_DATA_VERDICT))
                    .unwrap_or(&[]);
                let code = attr(verdict, NFTA_VERDICT_CODE)
                    .and_then(|c| c.get(..4))
                    .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                if matches!(code, Some(NFT_JUMP | NFT_GOTO)) {
                    r.jump = attr(verdict, NFTA_VERDICT_CHAIN)
                        .map(|c| String::from_utf8_lossy(cstr(c)).into_owned());
                    r.jump_counted = counted;
                }
            }
            b"nat" => {
                r.dnat |= attr(data, NFTA_NAT_TYPE)
                    .and_then(|p| p.get(..4))
                    .is_some_and(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]) == NFT_NAT_DNAT);
            }
            b"target" => {
                r.dnat |= attr(data, NFTA_TARGET_NAME).map(cstr) == Some(&b"DNAT"[..]);
            }
            _ => {}
        }
    }
    r
}
