//! A listing's text ([`ListingText`]): a `String`, or the sealed in-memory file iptables wrote
//! it into, mapped read-only, so that a 10 MB listing is never copied. Either way it is
//! valid UTF-8 and never changes. How a listing's file becomes one is the source's
//! business ([`crate::source::text`]).

use std::fmt;
use std::ops::Deref;
use std::os::fd::OwnedFd;

/// The text of one listing (see the module doc).
pub enum ListingText {
    Owned(String),
    Mapped(Mapped),
}

/// A read-only mapping of a sealed memfd whose bytes were checked to be UTF-8.
pub struct Mapped(memmap2::Mmap);

impl Mapped {
    /// Maps the first `len` bytes (`len > 0`) of `fd` read-only; None when mmap fails
    /// or the bytes are not UTF-8 (then the caller reads them another way).
    ///
    /// # Safety
    /// The file must be sealed against writes and shrinking, and hold at least `len`
    /// bytes: a mapping longer than the file faults (SIGBUS), and one whose bytes change
    /// breaks the UTF-8 check.
    pub unsafe fn map_sealed(fd: &OwnedFd, len: usize) -> Option<ListingText> {
        // SAFETY: a read-only mapping of `len` bytes of a sealed file of at least that
        // size (the caller's promise): nobody can change or shrink it under us.
        let map = unsafe { memmap2::MmapOptions::new().len(len).populate().map(fd) }.ok()?;
        let m = Mapped(map);
        if simdutf8::basic::from_utf8(m.bytes()).is_ok() {
            return Some(ListingText::Mapped(m));
        }
        Some(ListingText::Owned(
            String::from_utf8_lossy(m.bytes()).into_owned(),
        ))
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Bytes as text: without a copy when they are UTF-8, else with U+FFFD for what is not.
pub fn lossy_string(v: Vec<u8>) -> String {
    String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

impl ListingText {
    /// The text as a `String` to change (a mapped text is copied first).
    pub fn to_mut(&mut self) -> &mut String {
        if let ListingText::Mapped(m) = self {
            *self = ListingText::Owned(String::from_utf8_lossy(m.bytes()).into_owned());
        }
        match self {
            ListingText::Owned(s) => s,
            ListingText::Mapped(_) => unreachable!("replaced just above"),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ListingText::Owned(s) => s,
            // SAFETY: checked to be UTF-8 when mapped, and immutable since.
            ListingText::Mapped(m) => unsafe { std::str::from_utf8_unchecked(m.bytes()) },
        }
    }
}

impl Default for ListingText {
    fn default() -> ListingText {
        ListingText::Owned(String::new())
    }
}

impl From<String> for ListingText {
    fn from(s: String) -> ListingText {
        ListingText::Owned(s)
    }
}

impl From<&str> for ListingText {
    fn from(s: &str) -> ListingText {
        ListingText::Owned(s.to_string())
    }
}

impl Deref for ListingText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Clone for ListingText {
    fn clone(&self) -> ListingText {
        ListingText::Owned(self.as_str().to_string())
    }
}

impl PartialEq for ListingText {
    fn eq(&self, o: &ListingText) -> bool {
        self.as_str() == o.as_str()
    }
}

impl Eq for ListingText {}

impl fmt::Display for ListingText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ListingText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}
