//! Every request the read-only sources make of the kernel, and the one place their
//! bytes are built.
//!
//! nftables: only `NFT_MSG_GETGEN`, `NFT_MSG_GETCHAIN` and `NFT_MSG_GETRULE`, as plain
//! requests or dumps, never with `NLM_F_ACK` or a create/replace flag. x_tables: only
//! `getsockopt` with `IPT_SO_GET_INFO` / `IPT_SO_GET_ENTRIES` (and their `IP6T_` twins);
//! iptop never calls `setsockopt` on these sockets. [`allowed`] and
//! [`allowed_sockopt`] are checked on every request right before it is sent, so a
//! request outside the list is refused even if a later change builds one.
//!
//! The one write iptop can make, the trace table of `--trace`, is not built here and
//! does not go through these sockets: it lives in `source::trace::table`, on a socket of
//! its own opened only when `--trace` is given. The sockets of the counter sources (and
//! the trace's own reads of rule handles, `NftSocket::rules`) still refuse everything but
//! the reads above.

/// nfnetlink subsystem of nftables.
pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
pub const NFT_MSG_GETCHAIN: u16 = 4;
pub const NFT_MSG_GETRULE: u16 = 7;
pub const NFT_MSG_GETGEN: u16 = 16;
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_ROOT | NLM_F_MATCH`.
pub const NLM_F_DUMP: u16 = 0x300;

// Attributes of the requests.
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;

/// `NFPROTO_UNSPEC`: a dump of every family (native tables are of any family).
pub const ALL_FAMILIES: u8 = 0;

/// `NFPROTO_IPV4` / `NFPROTO_IPV6`: the families iptables-nft's tables live in.
pub fn family(ipv6: bool) -> u8 {
    if ipv6 { 10 } else { 2 }
}

/// A request to nftables: nothing in it can change a rule, a chain or a counter.
#[derive(Debug, Clone, Copy)]
pub enum NftRequest<'a> {
    /// The rule set's generation id (it changes with every commit in the namespace).
    Generation,
    /// Every chain of the family (the kernel ignores a table filter on this dump).
    Chains,
    /// One chain, with its policy counters.
    Chain { table: &'a str, chain: &'a str },
    /// The rules of one chain, in order.
    Rules { table: &'a str, chain: &'a str },
}

impl NftRequest<'_> {
    fn kind(&self) -> (u16, u16) {
        match self {
            NftRequest::Generation => (NFT_MSG_GETGEN, NLM_F_REQUEST),
            NftRequest::Chains => (NFT_MSG_GETCHAIN, NLM_F_REQUEST | NLM_F_DUMP),
            NftRequest::Chain { .. } => (NFT_MSG_GETCHAIN, NLM_F_REQUEST),
            NftRequest::Rules { .. } => (NFT_MSG_GETRULE, NLM_F_REQUEST | NLM_F_DUMP),
        }
    }

    pub fn is_dump(&self) -> bool {
        self.kind().1 & NLM_F_DUMP != 0
    }
}

/// Writes the netlink message for `req` into `out` (cleared first).
pub fn build(req: &NftRequest, family: u8, seq: u32, out: &mut Vec<u8>) {
    let (msg, flags) = req.kind();
    out.clear();
    out.extend_from_slice(&[0; 4]); // length, set below
    out.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | msg).to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    // nfgenmsg: family, NFNETLINK_V0, res_id 0
    out.extend_from_slice(&[family, 0, 0, 0]);
    match req {
        NftRequest::Generation | NftRequest::Chains => {}
        NftRequest::Chain { table, chain } => {
            put_str(out, NFTA_CHAIN_TABLE, table);
            put_str(out, NFTA_CHAIN_NAME, chain);
        }
        NftRequest::Rules { table, chain } => {
            put_str(out, NFTA_RULE_TABLE, table);
            put_str(out, NFTA_RULE_CHAIN, chain);
        }
    }
    let len = out.len() as u32;
    out[..4].copy_from_slice(&len.to_ne_bytes());
}

fn put_str(out: &mut Vec<u8>, kind: u16, s: &str) {
    let len = 4 + s.len() + 1;
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Whether `msg` is one whole netlink message of an allowed kind: a GETGEN, GETCHAIN or
/// GETRULE of nftables, flagged as a request or a dump request and nothing else.
pub fn allowed(msg: &[u8]) -> bool {
    if msg.len() < 20 {
        return false;
    }
    let len = u32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]) as usize;
    let kind = u16::from_ne_bytes([msg[4], msg[5]]);
    let flags = u16::from_ne_bytes([msg[6], msg[7]]);
    let (subsys, op) = (kind >> 8, kind & 0xff);
    len == msg.len()
        && subsys == NFNL_SUBSYS_NFTABLES
        && matches!(
            (op, flags),
            (NFT_MSG_GETGEN | NFT_MSG_GETCHAIN, NLM_F_REQUEST)
                | (NFT_MSG_GETCHAIN | NFT_MSG_GETRULE, 0x301)
        )
}

/// The x_tables `getsockopt` numbers iptop uses (`IPT_BASE_CTL` = 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockOpt {
    /// `IPT_SO_GET_INFO` / `IP6T_SO_GET_INFO`: sizes and hook offsets of a table.
    Info,
    /// `IPT_SO_GET_ENTRIES` / `IP6T_SO_GET_ENTRIES`: the rules with their counters.
    Entries,
}

impl SockOpt {
    pub fn number(self) -> i32 {
        match self {
            SockOpt::Info => 64,
            SockOpt::Entries => 65,
        }
    }
}

/// `SOL_IP` / `SOL_IPV6`.
pub fn sockopt_level(ipv6: bool) -> i32 {
    if ipv6 { 41 } else { 0 }
}

/// Whether a `getsockopt(level, number)` is one of the reads above.
pub fn allowed_sockopt(level: i32, number: i32) -> bool {
    matches!(level, 0 | 41) && matches!(number, 64 | 65)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_request() -> Vec<NftRequest<'static>> {
        vec![
            NftRequest::Generation,
            NftRequest::Chains,
            NftRequest::Chain {
                table: "filter",
                chain: "INPUT",
            },
            NftRequest::Rules {
                table: "nat",
                chain: "KUBE-SERVICES",
            },
            NftRequest::Rules {
                table: "docker-bridges",
                chain: "filter-FORWARD",
            },
        ]
    }

    #[test]
    fn every_request_that_can_be_built_is_a_read() {
        let mut buf = Vec::new();
        for req in every_request() {
            for fam in [family(false), family(true), ALL_FAMILIES, 1, 3, 5, 7] {
                build(&req, fam, 7, &mut buf);
                assert!(allowed(&buf), "{req:?} built a message outside the list");
                let kind = u16::from_ne_bytes([buf[4], buf[5]]);
                let flags = u16::from_ne_bytes([buf[6], buf[7]]);
                assert!(
                    [0x0a04, 0x0a07, 0x0a10].contains(&kind),
                    "{req:?}: type {kind:#x}"
                );
                // no ACK, no NLM_F_CREATE/REPLACE/EXCL/APPEND (0x100..0x800 on a write)
                assert!(flags == 0x1 || flags == 0x301, "{req:?}: flags {flags:#x}");
                assert_eq!(req.is_dump(), flags == 0x301);
            }
        }
    }

    #[test]
    fn nothing_else_passes_the_check() {
        let mut buf = Vec::new();
        build(&NftRequest::Generation, 2, 1, &mut buf);
        let mut passed = Vec::new();
        for kind in 0..=u16::MAX {
            for flags in [
                0u16, 0x1, 0x4, 0x5, 0x301, 0x305, 0x401, 0x501, 0x601, 0x801, 0xffff,
            ] {
                let mut m = buf.clone();
                m[4..6].copy_from_slice(&kind.to_ne_bytes());
                m[6..8].copy_from_slice(&flags.to_ne_bytes());
                if allowed(&m) {
                    passed.push((kind, flags));
                }
            }
        }
        // GETGEN, GETCHAIN and GETCHAIN dump, GETRULE dump: nothing else, in
        // particular no NEW*/DEL* message, no GETRULE_RESET (25) and nothing with
        // NLM_F_ACK (0x4)
        assert_eq!(
            passed,
            [
                (0x0a04, 0x1),
                (0x0a04, 0x301),
                (0x0a07, 0x301),
                (0x0a10, 0x1)
            ]
        );
        // a message whose length field disagrees, or two messages in one buffer
        let mut two = buf.clone();
        two.extend_from_slice(&buf);
        assert!(!allowed(&two));
        assert!(!allowed(&buf[..16]));
    }

    #[test]
    fn only_the_two_get_options() {
        for o in [SockOpt::Info, SockOpt::Entries] {
            for v6 in [false, true] {
                assert!(allowed_sockopt(sockopt_level(v6), o.number()));
            }
        }
        let mut ok = Vec::new();
        for level in -1..300 {
            for n in 0..1000 {
                if allowed_sockopt(level, n) {
                    ok.push((level, n));
                }
            }
        }
        assert_eq!(ok, [(0, 64), (0, 65), (41, 64), (41, 65)]);
    }
}
