//! A listing's text: a `String`, or the sealed in-memory file iptables wrote it into,
//! mapped read-only, so that a 10 MB listing is never copied. Either way it is valid
//! UTF-8 and never changes.

use std::fmt;
use std::ops::Deref;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;

use nix::libc;

/// The text of one listing (see the module doc).
pub enum Text {
    Owned(String),
    Mapped(Mapped),
}

/// A read-only mapping of a sealed memfd whose bytes were checked to be UTF-8.
pub struct Mapped {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is read-only and its file is sealed against writes, so the bytes
// never change; sharing or sending a pointer to immutable memory is sound.
unsafe impl Send for Mapped {}
// SAFETY: see above.
unsafe impl Sync for Mapped {}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned; nothing borrows them past `self`.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

impl Mapped {
    fn bytes(&self) -> &[u8] {
        // SAFETY: a live mapping of `len` readable bytes that never change (sealed).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

/// Bytes as text: without a copy when they are UTF-8, else with U+FFFD for what is not.
pub fn lossy_string(v: Vec<u8>) -> String {
    String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

impl Text {
    /// What a child wrote into the memfd `fd`, up to `cap` bytes: mapped when the file
    /// can be sealed against further writes (no process can change it any more) and
    /// holds UTF-8; otherwise read into a `String` (other bytes becoming U+FFFD).
    pub fn from_memfd(fd: &OwnedFd, cap: usize) -> std::io::Result<Text> {
        // Seal before reading the size: a process still holding the file (a leftover
        // child of iptables) could shrink it between fstat and the seal, and a mapping
        // longer than the file faults (SIGBUS) on the missing pages.
        let seals =
            libc::F_SEAL_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on a valid fd with an int argument.
        let sealed = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } == 0;
        if sealed {
            let size = nix::sys::stat::fstat(fd)
                .map_err(std::io::Error::from)?
                .st_size;
            let len = usize::try_from(size).unwrap_or(usize::MAX).min(cap);
            if len == 0 {
                return Ok(Text::Owned(String::new()));
            }
            // SAFETY: a fresh read-only shared mapping of `len` bytes of a sealed file
            // of at least that size (measured after the seal: it can no longer shrink).
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_SHARED | libc::MAP_POPULATE,
                    fd.as_raw_fd(),
                    0,
                )
            };
            if p != libc::MAP_FAILED
                && let Some(ptr) = NonNull::new(p.cast::<u8>())
            {
                let m = Mapped { ptr, len };
                if simdutf8::basic::from_utf8(m.bytes()).is_ok() {
                    return Ok(Text::Mapped(m));
                }
                return Ok(Text::Owned(String::from_utf8_lossy(m.bytes()).into_owned()));
            }
        }
        // Not sealable: read by position, which a shrinking file only makes shorter.
        Ok(Text::Owned(lossy_string(super::spawn::read_output(
            fd, cap,
        )?)))
    }

    /// The text as a `String` to change (a mapped text is copied first).
    pub fn to_mut(&mut self) -> &mut String {
        if let Text::Mapped(m) = self {
            *self = Text::Owned(String::from_utf8_lossy(m.bytes()).into_owned());
        }
        match self {
            Text::Owned(s) => s,
            Text::Mapped(_) => unreachable!("replaced just above"),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Text::Owned(s) => s,
            // SAFETY: checked to be UTF-8 when mapped, and immutable since.
            Text::Mapped(m) => unsafe { std::str::from_utf8_unchecked(m.bytes()) },
        }
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::Owned(String::new())
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::Owned(s)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::Owned(s.to_string())
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Clone for Text {
    fn clone(&self) -> Text {
        Text::Owned(self.as_str().to_string())
    }
}

impl PartialEq for Text {
    fn eq(&self, o: &Text) -> bool {
        self.as_str() == o.as_str()
    }
}

impl Eq for Text {}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
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
        let t = Text::from_memfd(&fd, 1 << 20).expect("text");
        assert!(matches!(t, Text::Mapped(_)));
        assert_eq!(&*t, "Chain INPUT (policy ACCEPT)\n");
        // sealed: nobody can write to it any more
        assert!(nix::unistd::write(&fd, b"more").is_err());
        let t = Text::from_memfd(&fd, 5).expect("capped");
        assert_eq!(&*t, "Chain");
        // other bytes than UTF-8 are replaced, in a copy
        let t = Text::from_memfd(&memfd_with(b"a\xffb\n"), 1 << 20).expect("text");
        assert!(matches!(t, Text::Owned(_)));
        assert_eq!(&*t, "a\u{fffd}b\n");
        let t = Text::from_memfd(&memfd_with(b""), 1 << 20).expect("empty");
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
            let t = Text::from_memfd(&fd, usize::MAX).expect("text");
            // every byte of it is read (a fault would kill the test here)
            assert!(t.bytes().all(|b| b == 0));
            // stops the holder even if the text was taken without sealing the file
            // SAFETY: fcntl on a valid fd with an int argument.
            unsafe {
                libc::fcntl(
                    fd.as_raw_fd(),
                    libc::F_ADD_SEALS,
                    libc::F_SEAL_SHRINK | libc::F_SEAL_GROW,
                )
            };
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
