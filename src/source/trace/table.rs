//! The one write iptop ever makes to the kernel, and only with `--trace`: a single
//! nfnetlink batch that adds the table `inet iptop-trace`, owned by this socket
//! (`NFT_TABLE_F_OWNER`: the kernel deletes the table when the socket closes, also when
//! iptop is killed), with two base chains (`prerouting`, `output`; type filter,
//! priority -350, before raw; policy accept) of one rule each: `EXPR limit rate
//! N/second meta nftrace set 1`. Nothing here is used by the read-only sources, whose
//! requests are still checked by `source::kernel::request::allowed`.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::libc;

use super::compile::{self, Expr};

pub const TABLE: &str = "iptop-trace";
/// `NFPROTO_INET`.
pub const FAMILY_INET: u8 = 1;
pub const PRIORITY: i32 = -350;

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLMSG_ERROR: u16 = 2;
const NFT_TABLE_F_OWNER: u32 = 0x2;
const NF_ACCEPT: u32 = 1;
/// `NF_INET_PRE_ROUTING`, `NF_INET_LOCAL_OUT`.
pub const CHAINS: [(&str, u32); 2] = [("prerouting", 0), ("output", 3)];

pub use crate::source::kernel::nft::netlink_socket;

/// Sets a receive timeout on `fd` (so a blocking read can look at a stop flag).
pub fn recv_timeout(fd: &OwnedFd, ms: i64) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: ms / 1000,
        tv_usec: ((ms % 1000) * 1000) as libc::suseconds_t,
    };
    // SAFETY: tv is a valid timeval for SO_RCVTIMEO.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn msg(
    out: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    f: impl FnOnce(&mut Vec<u8>),
) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[family, 0]);
    out.extend_from_slice(&res_id.to_be_bytes());
    f(out);
    let len = (out.len() - at) as u32;
    out[at..at + 4].copy_from_slice(&len.to_ne_bytes());
}

/// The batch, and the sequence numbers whose ACKs it asks for.
pub fn batch(exprs: &[Expr], first_seq: u32) -> (Vec<u8>, Vec<u32>) {
    let mut out = Vec::with_capacity(1024);
    let mut seq = first_seq;
    let mut acks = Vec::new();
    let nft = |m: u16| (NFNL_SUBSYS_NFTABLES << 8) | m;
    msg(
        &mut out,
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        seq,
        0,
        NFNL_SUBSYS_NFTABLES,
        |_| {},
    );
    seq += 1;
    msg(
        &mut out,
        nft(NFT_MSG_NEWTABLE),
        NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
        seq,
        FAMILY_INET,
        0,
        |o| {
            compile::put_str(o, 1, TABLE); // NFTA_TABLE_NAME
            compile::put_u32(o, 2, NFT_TABLE_F_OWNER); // NFTA_TABLE_FLAGS
        },
    );
    acks.push(seq);
    for (name, hook) in CHAINS {
        seq += 1;
        msg(
            &mut out,
            nft(NFT_MSG_NEWCHAIN),
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK,
            seq,
            FAMILY_INET,
            0,
            |o| {
                compile::put_str(o, 1, TABLE); // NFTA_CHAIN_TABLE
                compile::put_str(o, 3, name); // NFTA_CHAIN_NAME
                compile::nest(o, 4, |h| {
                    compile::put_u32(h, 1, hook); // NFTA_HOOK_HOOKNUM
                    compile::put_u32(h, 2, PRIORITY as u32); // NFTA_HOOK_PRIORITY
                });
                compile::put_u32(o, 5, NF_ACCEPT); // NFTA_CHAIN_POLICY
                compile::put_str(o, 7, "filter"); // NFTA_CHAIN_TYPE
            },
        );
        acks.push(seq);
        seq += 1;
        msg(
            &mut out,
            nft(NFT_MSG_NEWRULE),
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK,
            seq,
            FAMILY_INET,
            0,
            |o| {
                compile::put_str(o, 1, TABLE); // NFTA_RULE_TABLE
                compile::put_str(o, 2, name); // NFTA_RULE_CHAIN
                compile::nest(o, 4, |e| compile::encode(exprs, e)); // NFTA_RULE_EXPRESSIONS
            },
        );
        acks.push(seq);
    }
    seq += 1;
    msg(
        &mut out,
        NFNL_MSG_BATCH_END,
        NLM_F_REQUEST,
        seq,
        0,
        NFNL_SUBSYS_NFTABLES,
        |_| {},
    );
    (out, acks)
}

/// Why the kernel refused, in words.
fn refused(errno: i32) -> String {
    let e = io::Error::from_raw_os_error(errno);
    let why = match errno {
        libc::EEXIST => {
            "the table inet iptop-trace already exists (is another iptop tracing in this namespace?)".to_string()
        }
        libc::EOPNOTSUPP | libc::EINVAL => {
            format!("{e} (owned tables need Linux 5.12 or later, nftables tracing needs nf_tables)")
        }
        libc::EPERM => format!("{e} (tracing needs CAP_NET_ADMIN in the namespace)"),
        _ => e.to_string(),
    };
    format!("the kernel refused the trace table: {why}")
}

/// Sends the batch on `fd` and waits for every ACK. On success the table lives as
/// long as `fd` stays open.
pub fn create(fd: &OwnedFd, exprs: &[Expr]) -> Result<(), String> {
    let (out, mut want) = batch(exprs, 1);
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as u16;
    recv_timeout(fd, 5000).map_err(|e| format!("the trace socket: {e}"))?;
    // SAFETY: sends our buffer to the kernel (port 0); addr is a valid sockaddr_nl.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            out.as_ptr().cast(),
            out.len(),
            0,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if sent < 0 {
        return Err(refused(
            io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ));
    }
    let mut buf = vec![0u8; 64 << 10];
    while !want.is_empty() {
        // SAFETY: receives into our buffer of buf.len() bytes.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!(
                "the kernel did not acknowledge the trace table: {e}"
            ));
        }
        let mut b = &buf[..n as usize];
        while b.len() >= 16 {
            let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
            let kind = u16::from_ne_bytes([b[4], b[5]]);
            let seq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
            if len < 16 || len > b.len() {
                return Err("the kernel's answer to the trace table is malformed".into());
            }
            let body = &b[16..len];
            b = &b[((len + 3) & !3).min(b.len())..];
            if kind != NLMSG_ERROR {
                continue;
            }
            let code = body
                .get(..4)
                .map_or(0, |c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]));
            if code != 0 {
                return Err(refused(-code));
            }
            want.retain(|s| *s != seq);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_is_begin_five_messages_end() {
        let e = compile::parse(
            "inet iptop-trace c\n  [ limit rate 10/second burst 5 type packets flags 0x0 ]\n  [ immediate reg 1 0x00000001 ]\n  [ meta set nftrace with reg 1 ]\n",
        )
        .unwrap();
        let (b, acks) = batch(&e, 7);
        assert_eq!(acks, vec![8, 9, 10, 11, 12]);
        let mut kinds = Vec::new();
        let mut rest = &b[..];
        while rest.len() >= 16 {
            let len = u32::from_ne_bytes(rest[..4].try_into().unwrap()) as usize;
            kinds.push(u16::from_ne_bytes([rest[4], rest[5]]));
            rest = &rest[len..];
        }
        assert!(rest.is_empty());
        assert_eq!(kinds, vec![16, 0xa00, 0xa03, 0xa06, 0xa03, 0xa06, 17]);
        // the table asks for the owner flag
        assert!(b.windows(4).any(|w| w == 2u32.to_be_bytes()));
    }
}
