//! Takes a listing's text from the in-memory file iptables wrote it into: sealed and
//! mapped when it can be, read otherwise (see [`crate::model::text`]).

use std::os::fd::OwnedFd;

use nix::fcntl::{FcntlArg, SealFlag, fcntl};

pub use crate::model::text::lossy_string;
use crate::model::text::{ListingText, Mapped};

/// What a child wrote into the memfd `fd`, up to `cap` bytes: mapped when the file
/// can be sealed against further writes (no process can change it any more) and
/// holds UTF-8; otherwise read into a `String` (other bytes becoming U+FFFD).
pub fn from_memfd(fd: &OwnedFd, cap: usize) -> std::io::Result<ListingText> {
    // Seal before reading the size: a process still holding the file (a leftover
    // child of iptables) could shrink it between fstat and the seal, and a mapping
    // longer than the file faults (SIGBUS) on the missing pages.
    let seals = SealFlag::F_SEAL_WRITE
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_SEAL;
    let sealed = fcntl(fd, FcntlArg::F_ADD_SEALS(seals)).is_ok();
    if sealed {
        let size = nix::sys::stat::fstat(fd)
            .map_err(std::io::Error::from)?
            .st_size;
        let len = usize::try_from(size).unwrap_or(usize::MAX).min(cap);
        if len == 0 {
            return Ok(ListingText::Owned(String::new()));
        }
        // SAFETY: sealed against writes and shrinking just above; `len` is at most
        // its size, measured after the seal.
        if let Some(t) = unsafe { Mapped::map_sealed(fd, len) } {
            return Ok(t);
        }
    }
    // Not sealable: read by position, which a shrinking file only makes shorter.
    Ok(ListingText::Owned(lossy_string(super::spawn::read_output(
        fd, cap,
    )?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memfd_with(bytes: &[u8]) -> OwnedFd {
        let fd = nix::sys::memfd::memfd_create(
            c"t",
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC | nix::sys::memfd::MFdFlags::MFD_ALLOW_SEALING,
        )
        .expect("memfd");
        nix::unistd::write(&fd, bytes).expect("write");
        fd
    }

    #[test]
    fn mapped_sealed_and_capped() {
        let fd = memfd_with(b"Chain INPUT (policy ACCEPT)\n");
        let t = from_memfd(&fd, 1 << 20).expect("text");
        assert!(matches!(t, ListingText::Mapped(_)));
        assert_eq!(&*t, "Chain INPUT (policy ACCEPT)\n");
        // sealed: nobody can write to it any more
        assert!(nix::unistd::write(&fd, b"more").is_err());
        let t = from_memfd(&fd, 5).expect("capped");
        assert_eq!(&*t, "Chain");
        // other bytes than UTF-8 are replaced, in a copy
        let t = from_memfd(&memfd_with(b"a\xffb\n"), 1 << 20).expect("text");
        assert!(matches!(t, ListingText::Owned(_)));
        assert_eq!(&*t, "a\u{fffd}b\n");
        let t = from_memfd(&memfd_with(b""), 1 << 20).expect("empty");
        assert_eq!(&*t, "");
    }
}

#[cfg(test)]
mod race {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, mpsc};

    /// A process still holding the memfd (a leftover child of iptables) shrinks and
    /// grows it while iptop takes the text: whatever size the file has when it is
    /// sealed is what is mapped, never more (more would be a SIGBUS on access).
    #[test]
    fn a_file_changing_size_while_it_is_taken_never_faults() {
        const SIZE: i64 = 1 << 16;
        let (tx, rx) = mpsc::channel::<OwnedFd>();
        let busy = Arc::new(AtomicBool::new(false));
        let holder = {
            let busy = busy.clone();
            std::thread::spawn(move || {
                for fd in rx {
                    busy.store(true, Ordering::SeqCst);
                    // until the seals stop it
                    for i in 0.. {
                        let len = if i % 2 == 0 { 0 } else { SIZE };
                        if nix::unistd::ftruncate(&fd, len).is_err() {
                            break;
                        }
                    }
                    busy.store(false, Ordering::SeqCst);
                }
            })
        };
        for _ in 0..1000 {
            let fd = nix::sys::memfd::memfd_create(
                c"t",
                nix::sys::memfd::MFdFlags::MFD_CLOEXEC
                    | nix::sys::memfd::MFdFlags::MFD_ALLOW_SEALING,
            )
            .expect("memfd");
            nix::unistd::ftruncate(&fd, SIZE).expect("size");
            tx.send(fd.try_clone().expect("dup")).expect("send");
            while !busy.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            let t = from_memfd(&fd, usize::MAX).expect("text");
            // every byte of it is read (a fault would kill the test here)
            assert!(t.bytes().all(|b| b == 0));
            // stops the holder even if the text was taken without sealing the file
            let _ = fcntl(
                &fd,
                FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW),
            );
            let size = nix::sys::stat::fstat(&fd).expect("stat").st_size;
            assert_eq!(t.len() as i64, size);
            while busy.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
        }
        drop(tx);
        holder.join().expect("holder");
    }
}
