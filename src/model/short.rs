//! [`Short`]: a short [`Text`] made on the stack from whole strings (numbers, tree
//! drawing), then copied inline in one go: a `Text` grown a piece at a time pays for
//! each piece, and a `String` for its allocation.

use super::Text;

/// Up to 48 bytes of whole `&str`s one after the other.
pub struct Short {
    b: [u8; 48],
    n: usize,
}

impl Default for Short {
    fn default() -> Self {
        Short { b: [0; 48], n: 0 }
    }
}

impl Short {
    /// Appends `s` whole (a part that would not fit is left out: none is that long).
    pub fn push(&mut self, s: &str) -> &mut Self {
        if let Some(to) = self.b.get_mut(self.n..self.n + s.len()) {
            to.copy_from_slice(s.as_bytes());
            self.n += s.len();
        }
        self
    }

    /// The digits of `v`, which fits in 64 bits (every number written so does): they
    /// come without a 128-bit division.
    pub fn int(&mut self, v: u128) -> &mut Self {
        self.push(itoa::Buffer::new().format(u64::try_from(v).unwrap_or(u64::MAX)))
    }

    /// The text (inline when 24 bytes or less).
    pub fn text(&self) -> Text {
        // SAFETY: the bytes are whole `&str`s one after the other ([`Short::push`]),
        // which is UTF-8.
        Text::new(unsafe { std::str::from_utf8_unchecked(&self.b[..self.n]) })
    }
}
