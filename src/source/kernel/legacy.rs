//! x_tables (iptables-legacy) through `getsockopt` on a raw socket: `GET_INFO` for the
//! sizes and hook offsets, `GET_ENTRIES` for the rules with their counters, walked into
//! chains: built-in chains from the hook offsets (their last entry holds the policy
//! counters), user chains from the ERROR entries that head them.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::libc;

use super::legacy_text::{Layout, V4, V6, u16_at};
use super::quick::{HOOKS, TableInfo};
use super::request::{self, SockOpt};
use crate::model::Counter;

/// sizeof(struct ipt_getinfo) (the same for ip6t).
const INFO_LEN: usize = 84;
/// sizeof(struct ipt_get_entries) without the entries (name, size, padding to 8).
const ENTRIES_HEAD: usize = 40;

/// One chain read from the kernel: where its name is in the entries, its policy
/// counters (built-in chains) and its rules' range in the counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyChain {
    name: std::ops::Range<usize>,
    pub policy: Option<Counter>,
    pub rules: std::ops::Range<usize>,
}

/// A table as read: its chains, and every rule's counters back to back.
#[derive(Debug, Default)]
pub struct LegacyTable {
    pub chains: Vec<LegacyChain>,
    pub counters: Vec<Counter>,
}

/// A raw socket of the family, bound to the network namespace of its creating thread.
pub struct LegacySocket {
    fd: OwnedFd,
    ipv6: bool,
    buf: Vec<u8>,
}

impl LegacySocket {
    pub fn open(ipv6: bool) -> io::Result<LegacySocket> {
        let domain = if ipv6 { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: plain socket(2); the fd is owned right after.
        let fd = unsafe {
            libc::socket(
                domain,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_RAW,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(LegacySocket {
            // SAFETY: fd is a fresh descriptor nothing else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            ipv6,
            buf: Vec::new(),
        })
    }

    fn get(&self, opt: SockOpt, buf: &mut [u8]) -> io::Result<usize> {
        let level = request::sockopt_level(self.ipv6);
        if !request::allowed_sockopt(level, opt.number()) {
            return Err(io::Error::other(
                "refusing a socket option that is not a read",
            ));
        }
        let mut len = buf.len() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into buf.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                level,
                opt.number(),
                buf.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(len as usize)
    }

    /// The name of a chain of the last read.
    pub fn name(&self, c: &LegacyChain) -> String {
        if c.name.start == usize::MAX {
            return HOOKS[c.name.end].to_string();
        }
        let b = self.buf.get(ENTRIES_HEAD..).unwrap_or(&[]);
        String::from_utf8_lossy(b.get(c.name.clone()).unwrap_or(&[])).into_owned()
    }

    /// The entries of the last read, with their counters zeroed: the same bytes exactly
    /// while no rule changed (compared whole, never by a hash a comment could steer).
    pub fn entries(&self) -> &[u8] {
        self.buf.get(ENTRIES_HEAD..).unwrap_or(&[])
    }

    /// Reads `table` (which must exist: asking for a missing one loads it) into `out`;
    /// The table's info (`GET_INFO`: hooks, number of entries, size) without its
    /// entries. The table must exist: asking for a missing one loads it.
    pub fn info(&self, table: &str) -> io::Result<TableInfo> {
        if table.len() >= 32 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut info = [0u8; INFO_LEN];
        info[..table.len()].copy_from_slice(table.as_bytes());
        self.get(SockOpt::Info, &mut info)?;
        let u32_at = |o: usize| u32::from_ne_bytes(info[o..o + 4].try_into().unwrap_or_default());
        Ok(TableInfo {
            valid_hooks: u32_at(32),
            hook_entry: std::array::from_fn(|h| u32_at(36 + 4 * h)),
            underflow: std::array::from_fn(|h| u32_at(56 + 4 * h)),
            num_entries: u32_at(76),
            size: u32_at(80),
        })
    }

    /// Reads `table` (which must exist) and writes its listing ([`super::legacy_text`])
    /// without walking it into chains: for a listing that is read once.
    pub fn read_text(
        &mut self,
        table: &str,
    ) -> io::Result<Result<String, super::legacy_text::Unsupported>> {
        let info = self.read_entries(table)?;
        let l = self.layout();
        Ok(super::legacy_text::render(
            &self.buf[ENTRIES_HEAD..],
            &info,
            l,
        ))
    }

    /// Reads `table` (which must exist) and builds it straight from its entries
    /// ([`super::legacy_text::table`]), no listing written: for a table read once.
    pub fn read_table(
        &mut self,
        table: &str,
    ) -> io::Result<Result<crate::model::FirewallTable, super::legacy_text::Unsupported>> {
        let info = self.read_entries(table)?;
        let l = self.layout();
        Ok(super::legacy_text::table(
            table,
            &self.buf[ENTRIES_HEAD..],
            &info,
            l,
        ))
    }

    /// `GET_INFO`, then `GET_ENTRIES` into `buf`, asked again while the table changes
    /// size between the two: the info the entries belong to.
    fn read_entries(&mut self, table: &str) -> io::Result<TableInfo> {
        for _ in 0..5 {
            let info = self.info(table)?;
            if self.get_entries(table, info.size as usize)? {
                return Ok(info);
            }
        }
        Err(io::Error::other(
            "the table kept changing while it was read",
        ))
    }

    /// Where the parts of this family's entries are.
    fn layout(&self) -> Layout {
        if self.ipv6 { V6 } else { V4 }
    }

    /// `GET_ENTRIES` of `size` bytes into `buf`; false when the table changed size
    /// since its info was read (ask again).
    fn get_entries(&mut self, table: &str, size: usize) -> io::Result<bool> {
        // the kernel fills all of it: no need to clear what the last read left, and a
        // first buffer comes zeroed from the allocator (fresh pages, no memset)
        if self.buf.capacity() < ENTRIES_HEAD + size {
            self.buf = vec![0; ENTRIES_HEAD + size];
        }
        self.buf.resize(ENTRIES_HEAD + size, 0);
        self.buf[..32].fill(0);
        self.buf[..table.len()].copy_from_slice(table.as_bytes());
        self.buf[32..36].copy_from_slice(&(size as u32).to_ne_bytes());
        let mut buf = std::mem::take(&mut self.buf);
        let r = self.get(SockOpt::Entries, &mut buf);
        self.buf = buf;
        match r {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Ok(false),
            Err(e) => Err(e),
            Ok(_) => Ok(true),
        }
    }

    /// Reads `table` (which must exist: asking for a missing one loads it) into `out`;
    /// [`LegacySocket::entries`] then holds its entries without their counters. `text`:
    /// also the listing written from these entries ([`super::legacy_text`]), or why not.
    pub fn read(
        &mut self,
        table: &str,
        out: &mut LegacyTable,
        text: bool,
    ) -> io::Result<Option<Result<String, super::legacy_text::Unsupported>>> {
        let info = self.read_entries(table)?;
        let layout = self.layout();
        let entries = &mut self.buf[ENTRIES_HEAD..];
        // before the walk takes the counters out
        let written = text.then(|| super::legacy_text::render(entries, &info, layout));
        walk(
            entries,
            layout,
            info.valid_hooks,
            &info.hook_entry,
            &info.underflow,
            out,
        )?;
        Ok(written)
    }
}

fn counter_at(b: &[u8], o: usize) -> Counter {
    let u = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap_or_default());
    Counter {
        packets: u(o),
        bytes: u(o + 8),
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed x_tables entries: {what}"),
    )
}

/// Walks the entries into chains; the counters are taken out (zeroed in `entries`) so
/// that what is left changes only with the rules.
fn walk(
    entries: &mut [u8],
    l: Layout,
    valid_hooks: u32,
    hook_entry: &[u32],
    underflow: &[u32],
    out: &mut LegacyTable,
) -> io::Result<()> {
    out.chains.clear();
    out.counters.clear();
    // the chain being walked: for a built-in one its underflow
    let mut cur: Option<Option<usize>> = None;
    let mut o = 0;
    while o < entries.len() {
        let e = &mut entries[o..];
        let next = u16_at(e, l.next_offset);
        let toff = u16_at(e, l.target_offset);
        if next < l.counters + 16 || next > e.len() || toff + 32 > next {
            return Err(bad("entry size"));
        }
        let counters = counter_at(e, l.counters);
        e[l.counters..l.counters + 16].fill(0);
        let target = &e[toff..next];
        // the standard target has an empty name; an ERROR one heads a chain
        let is_error = target[2] != 0 && target[2..8] == *b"ERROR\0";
        if let Some(h) =
            (0..5).find(|&h| valid_hooks & (1 << h) != 0 && hook_entry[h] as usize == o)
        {
            let at = out.counters.len();
            out.chains.push(LegacyChain {
                name: usize::MAX..h,
                policy: None,
                rules: at..at,
            });
            cur = Some(Some(underflow[h] as usize));
        }
        if is_error {
            let name = &target[32..];
            let len = memchr::memchr(0, name).unwrap_or(name.len());
            if &name[..len] == b"ERROR" {
                cur = None; // the end of the table
            } else {
                let start = o + toff + 32;
                let at = out.counters.len();
                out.chains.push(LegacyChain {
                    name: start..start + len,
                    policy: None,
                    rules: at..at,
                });
                cur = Some(None);
            }
        } else if let (Some(uf), Some(c)) = (cur, out.chains.last_mut()) {
            match uf {
                Some(u) if u == o => {
                    c.policy = Some(counters);
                    cur = None;
                }
                _ => {
                    out.counters.push(counters);
                    c.rules.end = out.counters.len();
                }
            }
        }
        o += next;
    }
    // a user chain ends in its RETURN entry, which is not a rule
    for c in out.chains.iter_mut().filter(|c| c.policy.is_none()) {
        if c.rules.is_empty() {
            return Err(bad("a user chain without its RETURN"));
        }
        c.rules.end -= 1;
    }
    Ok(())
}

/// [`walk`] over IPv4 entries without built-in chains, for the tests.
#[cfg(test)]
pub fn walk_v4(entries: &mut [u8], out: &mut LegacyTable) -> io::Result<()> {
    walk(entries, V4, 0, &[0; 5], &[0; 5], out)
}
