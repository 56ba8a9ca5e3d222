//! Pretty JSON written straight from serde's data model: the layout and escapes of
//! serde_json's pretty printer with [`super::JsonFormatter`], byte for byte, at a
//! fraction of its cost per value. An export of 50k rules holds a few million short
//! strings (most of them keys) and numbers: serde_json hands every key through its
//! escaping loop and its formatter, one small write at a time; here a key is written with
//! its line break and indent in one piece, and a string of printable ASCII without `"` or
//! `\` is copied as it is. Any other string goes through serde_json with
//! [`super::JsonFormatter`] (the escapes are made per string), numbers through serde_json's
//! own formatters.

use std::io::Write;

use serde::ser::{self, Serialize};
use serde_json::ser::Formatter as _;

type Error = serde_json::Error;
type Result<T = ()> = std::result::Result<T, Error>;

/// A pretty JSON writer into `w`.
pub struct Pretty<W> {
    w: W,
    level: usize,
    /// Field and variant names (`&'static str`) written before, with the line break and
    /// indent before them and `: ` after them: a report names the same few dozen fields
    /// millions of times, each then one write.
    names: Names,
}

/// One name's piece: the name by its address, length and level, and the piece itself.
#[derive(Clone, Copy)]
struct Slot {
    ptr: usize,
    len: u32,
    level: u32,
    n: u8,
    piece: [u8; PIECE],
}

/// The longest piece kept (a longer one, of a long name deep down, is written in parts).
const PIECE: usize = 54;

/// Each name's piece, by its address, length and level, in one of [`Names::SLOTS`] slots
/// chosen by a hash: the same name at the same level comes back to the same slot.
struct Names {
    slots: Box<[Slot; Names::SLOTS]>,
}

impl Names {
    const SLOTS: usize = 1024;

    fn new() -> Self {
        let empty = Slot {
            ptr: 0,
            len: 0,
            level: 0,
            n: 0,
            piece: [0; PIECE],
        };
        Names {
            slots: Box::new([empty; Self::SLOTS]),
        }
    }

    /// `,\n`, the indent of `level`, `"name": ` (None: the name is not plain, or its
    /// piece too long).
    #[inline]
    fn piece(&mut self, name: &'static str, level: usize) -> Option<&[u8]> {
        let ptr = name.as_ptr() as usize;
        let mix = (ptr as u64) ^ ((level as u64) << 52);
        let i = (mix.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - Self::SLOTS.trailing_zeros()))
            as usize
            % Self::SLOTS;
        let s = &self.slots[i];
        if s.ptr == ptr && s.len as usize == name.len() && s.level as usize == level {
            return Some(&self.slots[i].piece[..usize::from(self.slots[i].n)]);
        }
        self.fill(i, name, level)
    }

    /// Makes the piece of `name` at `level` in slot `i`.
    #[cold]
    fn fill(&mut self, i: usize, name: &'static str, level: usize) -> Option<&[u8]> {
        let n = 2 + 2 * level + 1 + name.len() + 3;
        if n > PIECE || !plain(name.as_bytes()) {
            return None;
        }
        let s = &mut self.slots[i];
        let mut at = 0;
        for part in [
            &b",\n"[..],
            &[b' '; PIECE][..2 * level],
            b"\"",
            name.as_bytes(),
            b"\": ",
        ] {
            s.piece[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        (s.ptr, s.len, s.level, s.n) = (
            name.as_ptr() as usize,
            name.len() as u32,
            level as u32,
            n as u8,
        );
        Some(&s.piece[..n])
    }
}

impl<W: Write> Pretty<W> {
    pub fn new(w: W) -> Self {
        Pretty {
            w,
            level: 0,
            names: Names::new(),
        }
    }

    fn raw(&mut self, b: &[u8]) -> Result {
        self.w.write_all(b).map_err(Error::io)
    }

    /// `,` (unless first), a line break and the indent of the current level.
    fn line(&mut self, first: bool) -> Result {
        const BREAK: &[u8] = b",\n                                                                ";
        let from = usize::from(first);
        match BREAK.get(from..2 + 2 * self.level) {
            Some(s) => self.w.write_all(s),
            None => self
                .w
                .write_all(&BREAK[from..2])
                .and_then(|()| (0..self.level).try_for_each(|_| self.w.write_all(b"  "))),
        }
        .map_err(Error::io)
    }

    fn string(&mut self, s: &str) -> Result {
        if plain(s.as_bytes()) {
            self.raw(b"\"")?;
            self.raw(s.as_bytes())?;
            self.raw(b"\"")
        } else {
            let mut ser = serde_json::Serializer::with_formatter(
                &mut self.w,
                super::JsonFormatter::default(),
            );
            ser::Serializer::serialize_str(&mut ser, s)
        }
    }

    /// `{"variant": ` and an array or object (`b`) inside it, both closed with it.
    fn variant(&mut self, variant: &'static str, b: &[u8]) -> Result<Compound<'_, W>> {
        let mut outer = self.open(b"{")?;
        outer.key(variant)?;
        let p = outer.p;
        p.level += 1;
        p.raw(b)?;
        Ok(Compound {
            p,
            first: true,
            wrapped: true,
        })
    }

    fn open(&mut self, b: &[u8]) -> Result<Compound<'_, W>> {
        self.level += 1;
        self.raw(b)?;
        Ok(Compound {
            p: self,
            first: true,
            wrapped: false,
        })
    }
}

/// Printable ASCII without `"` or `\`: written as it is. Eight bytes at a time.
fn plain(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    super::all_words(b, |w| {
        let has = |c: u8| {
            let x = w ^ (ONES * u64::from(c));
            x.wrapping_sub(ONES) & !x & HIGH != 0
        };
        super::plain_ascii(w) && !has(b'"') && !has(b'\\')
    })
}

/// An array or object being written.
pub struct Compound<'a, W> {
    p: &'a mut Pretty<W>,
    first: bool,
    /// A variant's `{"name": ` around it: closed after it.
    wrapped: bool,
}

impl<W: Write> Compound<'_, W> {
    fn close(self, b: &[u8]) -> Result {
        let p = self.p;
        p.level -= 1;
        if !self.first {
            p.line(true)?;
        }
        p.raw(b)?;
        if self.wrapped {
            p.level -= 1;
            p.line(true)?;
            p.raw(b"}")?;
        }
        Ok(())
    }

    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
        self.p.line(self.first)?;
        self.first = false;
        v.serialize(&mut *self.p)
    }

    /// A name with the line break and indent before it and `: ` after it, in one write
    /// when it is plain (every field name).
    fn key(&mut self, k: &'static str) -> Result {
        let first = std::mem::replace(&mut self.first, false);
        let p = &mut *self.p;
        if let Some(piece) = p.names.piece(k, p.level) {
            return p
                .w
                .write_all(&piece[usize::from(first)..])
                .map_err(Error::io);
        }
        p.line(first)?;
        p.string(k)?;
        p.raw(b": ")
    }
}

impl<'a, W: Write> ser::Serializer for &'a mut Pretty<W> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, W>;
    type SerializeTuple = Compound<'a, W>;
    type SerializeTupleStruct = Compound<'a, W>;
    type SerializeTupleVariant = Compound<'a, W>;
    type SerializeMap = Compound<'a, W>;
    type SerializeStruct = Compound<'a, W>;
    type SerializeStructVariant = Compound<'a, W>;

    fn serialize_bool(self, v: bool) -> Result {
        self.raw(if v { b"true" } else { b"false" })
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result {
        self.raw(itoa::Buffer::new().format(v).as_bytes())
    }
    fn serialize_i128(self, v: i128) -> Result {
        self.raw(itoa::Buffer::new().format(v).as_bytes())
    }
    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result {
        self.raw(itoa::Buffer::new().format(v).as_bytes())
    }
    fn serialize_u128(self, v: u128) -> Result {
        self.raw(itoa::Buffer::new().format(v).as_bytes())
    }
    fn serialize_f32(self, v: f32) -> Result {
        if v.is_finite() {
            let f = &mut serde_json::ser::CompactFormatter;
            f.write_f32(&mut self.w, v).map_err(Error::io)
        } else {
            self.raw(b"null")
        }
    }
    fn serialize_f64(self, v: f64) -> Result {
        if v.is_finite() {
            let f = &mut serde_json::ser::CompactFormatter;
            f.write_f64(&mut self.w, v).map_err(Error::io)
        } else {
            self.raw(b"null")
        }
    }
    fn serialize_char(self, v: char) -> Result {
        self.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result {
        self.string(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result {
        let mut c = self.open(b"[")?;
        for b in v {
            c.element(b)?;
        }
        c.close(b"]")
    }
    fn serialize_none(self) -> Result {
        self.raw(b"null")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        self.raw(b"null")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        self.raw(b"null")
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result {
        let mut c = self.open(b"{")?;
        c.key(variant)?;
        v.serialize(&mut *c.p)?;
        c.close(b"}")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a, W>> {
        self.open(b"[")
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a, W>> {
        self.open(b"[")
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a, W>> {
        self.open(b"[")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, W>> {
        self.variant(variant, b"[")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a, W>> {
        self.open(b"{")
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a, W>> {
        self.open(b"{")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, W>> {
        self.variant(variant, b"{")
    }
}

/// The compounds whose parts are elements (`]` closes them) or named fields (`}`).
macro_rules! compound {
    ($($trait:ident :: $method:ident),*) => {$(
        impl<W: Write> ser::$trait for Compound<'_, W> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
                self.element(v)
            }
            fn end(self) -> Result {
                self.close(b"]")
            }
        }
    )*};
    (named $($trait:ident),*) => {$(
        impl<W: Write> ser::$trait for Compound<'_, W> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, k: &'static str, v: &T) -> Result {
                self.key(k)?;
                v.serialize(&mut *self.p)
            }
            fn end(self) -> Result {
                self.close(b"}")
            }
        }
    )*};
}

compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);
compound!(named SerializeStruct, SerializeStructVariant);

impl<W: Write> ser::SerializeMap for Compound<'_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result {
        self.p.line(self.first)?;
        self.first = false;
        k.serialize(Key(&mut *self.p))?;
        self.p.raw(b": ")
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
        v.serialize(&mut *self.p)
    }
    fn end(self) -> Result {
        self.close(b"}")
    }
}

/// A map's key: a string, or what serde_json writes as one (a number, a bool, a unit
/// variant) in quotes.
struct Key<'a, W>(&'a mut Pretty<W>);

fn key_error() -> Error {
    ser::Error::custom("key must be a string")
}

impl<W: Write> Key<'_, W> {
    fn quoted(self, s: &str) -> Result {
        self.0.raw(b"\"")?;
        self.0.raw(s.as_bytes())?;
        self.0.raw(b"\"")
    }
}

impl<W: Write> ser::Serializer for Key<'_, W> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result {
        self.0.string(v)
    }
    fn serialize_char(self, v: char) -> Result {
        self.0.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_bool(self, v: bool) -> Result {
        self.quoted(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_i16(self, v: i16) -> Result {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_i32(self, v: i32) -> Result {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_i64(self, v: i64) -> Result {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_i128(self, v: i128) -> Result {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_u8(self, v: u8) -> Result {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_u16(self, v: u16) -> Result {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_u32(self, v: u32) -> Result {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_u64(self, v: u64) -> Result {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_u128(self, v: u128) -> Result {
        self.quoted(itoa::Buffer::new().format(v))
    }
    fn serialize_f32(self, _: f32) -> Result {
        Err(key_error())
    }
    fn serialize_f64(self, _: f64) -> Result {
        Err(key_error())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result {
        Err(key_error())
    }
    fn serialize_none(self) -> Result {
        Err(key_error())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result {
        Err(key_error())
    }
    fn serialize_unit(self) -> Result {
        Err(key_error())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        Err(key_error())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.0.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result {
        Err(key_error())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(key_error())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
        Err(key_error())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(key_error())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(key_error())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        Err(key_error())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        Err(key_error())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(key_error())
    }
}

#[cfg(test)]
#[path = "pretty_tests.rs"]
mod tests;
