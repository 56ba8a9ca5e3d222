//! The columns, one descriptor each: title, config key, alignment, how the live tree sizes
//! it and when it gives way, whether it is on by default, and where its text is in a row's
//! [`Cells`]. The column plan (`ui/column_plan.rs`), the config file's `columns` list, the
//! text export and the live tree read this table: a new column is a row here and its
//! value in [`Cells`] (filled by [`super::cells`]).

use std::borrow::Cow;

use crate::model::{Rule, Text};

/// A column, by its place in [`COLUMNS`] (the order the text export prints them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Tree,
    DPkts,
    DBytes,
    Rate,
    Pkts,
    Bytes,
    Prot,
    Opt,
    In,
    Out,
    Source,
    Destination,
    Match,
    Handle,
}

/// How the live tree sizes a column.
#[derive(Debug, Clone, Copy)]
pub enum Width {
    /// The tree drawing and labels: as wide as its rows need, bounded.
    Tree,
    /// Numbers: a fixed width, so they never shift between polls.
    Fixed(u16),
    /// A count: fixed, or wide enough for `no counter` when some rule has none.
    Count(u16),
    /// Text as wide as its widest value over the table's rules (at least `min`, at most
    /// `cap`); left out when every rule says nothing (empty, or one of `empty`).
    Text {
        min: u16,
        cap: u16,
        empty: &'static [&'static str],
        /// The value measured, from a rule.
        of: fn(&Rule) -> Cow<'_, str>,
        /// On a narrow terminal it is cut (to 4 at least) rather than dropped.
        cut: bool,
    },
    /// The match text: `min` before the columns that may be cut are (enough for a port
    /// or `to:10.0.0.2:80`; no more than the widest match on screen), `want` once the
    /// columns of rank below `grow` are placed, then whatever room is left.
    Rest { min: u16, want: u16, grow: u8 },
}

/// When a column gives way on the live tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// What tells two rules of a chain apart: placed first (by rank), the tree gives up
    /// room for it.
    Keep(u8),
    /// Placed while there is room, by rank.
    IfRoom(u8),
    /// Not in the live tree.
    Never,
}

/// How the live tree draws a column's cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The tree drawing, the label in the colour of its verdict.
    Tree,
    /// A Δ: lit when it moved, italic when new or unknown, dim otherwise.
    Delta,
    /// The rate: lit when packets flow.
    Rate,
    /// Plain text or number.
    Plain,
    /// The match text, its comments dim after it.
    Match,
}

/// One column.
#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    pub column: Column,
    pub title: &'static str,
    /// Its name in the config file's `columns` list (empty: always shown).
    pub key: &'static str,
    pub right: bool,
    pub width: Width,
    pub fit: Fit,
    pub kind: Kind,
    /// Shown unless the config file's `columns` list leaves it out (else only when listed).
    pub default_on: bool,
    /// A native nftables table has it (their rules have no prot, opt, interface or
    /// address columns: only their text).
    pub native: bool,
    /// Its text in a row's cells.
    pub cell: for<'c> fn(&'c Cells<'_>) -> &'c str,
}

const ANY_IFACE: &[&str] = &["*", "any"];
const ANY_ADDR: &[&str] = &["0.0.0.0/0", "::/0", "anywhere"];

/// Every column, in the order they are shown ([`Column`]'s order).
pub const COLUMNS: [ColumnDef; 14] = [
    ColumnDef {
        column: Column::Tree,
        title: "CHAIN / RULE",
        key: "",
        right: false,
        width: Width::Tree,
        fit: Fit::Keep(0),
        kind: Kind::Tree,
        default_on: true,
        native: true,
        cell: |c| &c.label,
    },
    ColumnDef {
        column: Column::DPkts,
        title: "ΔPKTS",
        key: "dpkts",
        right: true,
        width: Width::Fixed(7),
        fit: Fit::Keep(1),
        kind: Kind::Delta,
        default_on: true,
        native: true,
        cell: |c| &c.dpkts,
    },
    ColumnDef {
        column: Column::DBytes,
        title: "ΔBYTES",
        key: "dbytes",
        right: true,
        width: Width::Fixed(11),
        fit: Fit::IfRoom(70),
        kind: Kind::Delta,
        default_on: true,
        native: true,
        cell: |c| &c.dbytes,
    },
    ColumnDef {
        column: Column::Rate,
        title: "PKT/S",
        key: "rate",
        right: true,
        width: Width::Fixed(6),
        fit: Fit::IfRoom(10),
        kind: Kind::Rate,
        default_on: true,
        native: true,
        cell: |c| &c.rate,
    },
    ColumnDef {
        column: Column::Pkts,
        title: "PKTS",
        key: "pkts",
        right: true,
        width: Width::Count(6),
        fit: Fit::IfRoom(30),
        kind: Kind::Plain,
        default_on: true,
        native: true,
        cell: |c| &c.pkts,
    },
    ColumnDef {
        column: Column::Bytes,
        title: "BYTES",
        key: "bytes",
        right: true,
        width: Width::Fixed(11),
        fit: Fit::IfRoom(80),
        kind: Kind::Plain,
        default_on: true,
        native: true,
        cell: |c| &c.bytes,
    },
    ColumnDef {
        column: Column::Prot,
        title: "PROT",
        key: "prot",
        right: false,
        width: Width::Text {
            min: 4,
            cap: 9,
            empty: &["all", "0"],
            of: |r| crate::model::protocol_name(&r.spec.prot),
            cut: false,
        },
        fit: Fit::IfRoom(60),
        kind: Kind::Plain,
        default_on: true,
        native: false,
        cell: |c| &c.prot,
    },
    ColumnDef {
        column: Column::Opt,
        title: "OPT",
        key: "opt",
        right: false,
        width: Width::Fixed(3),
        fit: Fit::Never,
        kind: Kind::Plain,
        default_on: true,
        native: false,
        cell: |c| &c.opt,
    },
    ColumnDef {
        column: Column::In,
        title: "IN",
        key: "in",
        right: false,
        // interface names are at most 15 characters, and `!`
        width: Width::Text {
            min: 3,
            cap: 16,
            empty: ANY_IFACE,
            of: |r| Cow::Borrowed(&r.spec.in_iface),
            cut: true,
        },
        fit: Fit::Keep(2),
        kind: Kind::Plain,
        default_on: true,
        native: false,
        cell: |c| &c.in_iface,
    },
    ColumnDef {
        column: Column::Out,
        title: "OUT",
        key: "out",
        right: false,
        width: Width::Text {
            min: 3,
            cap: 16,
            empty: ANY_IFACE,
            of: |r| Cow::Borrowed(&r.spec.out_iface),
            cut: true,
        },
        fit: Fit::Keep(3),
        kind: Kind::Plain,
        default_on: true,
        native: false,
        cell: |c| &c.out_iface,
    },
    ColumnDef {
        column: Column::Source,
        title: "SOURCE",
        key: "source",
        right: false,
        width: Width::Text {
            min: 6,
            cap: 20,
            empty: ANY_ADDR,
            of: |r| Cow::Borrowed(&r.spec.source),
            cut: false,
        },
        fit: Fit::IfRoom(50),
        kind: Kind::Plain,
        default_on: true,
        native: false,
        cell: |c| &c.source,
    },
    ColumnDef {
        column: Column::Destination,
        title: "DEST",
        key: "dest",
        right: false,
        width: Width::Text {
            min: 4,
            cap: 20,
            empty: ANY_ADDR,
            of: |r| Cow::Borrowed(&r.spec.destination),
            cut: false,
        },
        fit: Fit::IfRoom(40),
        kind: Kind::Plain,
        default_on: true,
        native: false,
        cell: |c| &c.destination,
    },
    ColumnDef {
        column: Column::Match,
        title: "MATCH",
        key: "match",
        right: false,
        // `to:10.0.0.2:80`, `tcp dpt:65535`
        width: Width::Rest {
            min: 14,
            want: 24,
            grow: 20,
        },
        fit: Fit::Keep(4),
        kind: Kind::Match,
        default_on: true,
        native: true,
        cell: |c| &c.matches,
    },
    ColumnDef {
        column: Column::Handle,
        title: "HANDLE",
        key: "handle",
        right: true,
        width: Width::Text {
            min: 6,
            cap: 20,
            empty: &[],
            of: |r| match r.native.as_ref().filter(|n| n.handle != 0) {
                Some(n) => Cow::Owned(n.handle.to_string()),
                None => Cow::Borrowed("-"),
            },
            cut: false,
        },
        fit: Fit::IfRoom(15),
        kind: Kind::Plain,
        default_on: false,
        native: true,
        cell: |c| &c.handle,
    },
];

impl Column {
    /// Its descriptor.
    pub fn def(self) -> &'static ColumnDef {
        &COLUMNS[self as usize]
    }

    pub fn title(self) -> &'static str {
        self.def().title
    }

    pub fn right_aligned(self) -> bool {
        self.def().right
    }

    /// Its index in [`COLUMNS`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The columns a view shows: bit i is [`COLUMNS`]`[i]`. The default is those on by
/// default; the tree column is always in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnSet(u32);

impl Default for ColumnSet {
    fn default() -> Self {
        let mut bits = 0;
        for d in &COLUMNS {
            if d.default_on {
                bits |= 1 << d.column.index();
            }
        }
        ColumnSet(bits)
    }
}

impl ColumnSet {
    /// The columns a config file lists (`None`: the defaults).
    pub fn from_mask(mask: Option<u32>) -> ColumnSet {
        mask.map_or_else(ColumnSet::default, |m| ColumnSet(m | 1))
    }

    pub fn contains(self, c: Column) -> bool {
        self.0 & (1 << c.index()) != 0
    }

    /// The shown columns, in display order.
    pub fn columns(self) -> Vec<Column> {
        COLUMNS
            .iter()
            .map(|d| d.column)
            .filter(|c| self.contains(*c))
            .collect()
    }

    /// The mask of the columns named by config `keys` (the tree column always in), or
    /// the name that is not a column's.
    pub fn mask_of<S: AsRef<str>>(keys: &[S]) -> Result<u32, String> {
        let mut bits = 1u32;
        for name in keys {
            let name = name.as_ref();
            let d = COLUMNS
                .iter()
                .find(|d| !d.key.is_empty() && d.key.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    format!(
                        "`{name}` is not a column (one of {})",
                        COLUMNS
                            .iter()
                            .filter(|d| !d.key.is_empty())
                            .map(|d| d.key)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            bits |= 1 << d.column.index();
        }
        Ok(bits)
    }
}

/// The text of every column for one row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cells<'a> {
    /// Tree drawing in front of the label (`│  ├─ `).
    pub prefix: Text,
    /// Chain name with policy, or the rule's target.
    pub label: Cow<'a, str>,
    pub dpkts: Text,
    pub dbytes: Text,
    pub rate: Text,
    pub pkts: Text,
    pub bytes: Text,
    // a rule's text columns, borrowed from the table while they are shown as they are
    pub prot: Cow<'a, str>,
    pub opt: Cow<'a, str>,
    pub in_iface: Cow<'a, str>,
    pub out_iface: Cow<'a, str>,
    pub source: Cow<'a, str>,
    pub destination: Cow<'a, str>,
    pub matches: Cow<'a, str>,
    /// The rule's handle in the kernel (a native nftables rule), else `-`.
    pub handle: Text,
    /// Packets per second over the window.
    pub pps: f64,
    /// The Δ columns show movement (for a user chain at the root: what entered it).
    pub moved: bool,
    /// The Δ columns show a reset (counters went down).
    pub reset: bool,
}

impl Cells<'_> {
    /// Every text shown as [`crate::sanitize::text`] shows it: what a screen or a text
    /// export writes, and measures.
    pub fn sanitize(&mut self) {
        // the prefix is tree drawing made here (box-drawing, spaces, a depth): nothing
        // to escape
        for s in [
            &mut self.label,
            &mut self.prot,
            &mut self.opt,
            &mut self.in_iface,
            &mut self.out_iface,
            &mut self.source,
            &mut self.destination,
            &mut self.matches,
        ] {
            let escaped = match crate::sanitize::text(s) {
                Cow::Owned(t) => Some(t),
                Cow::Borrowed(_) => None,
            };
            if let Some(t) = escaped {
                *s = Cow::Owned(t);
            }
        }
    }

    /// The text of column `c`.
    pub fn get(&self, c: Column) -> &str {
        (c.def().cell)(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_column_order_with_unique_keys() {
        for (i, d) in COLUMNS.iter().enumerate() {
            assert_eq!(d.column.index(), i, "{:?}", d.column);
        }
        let mut keys: Vec<&str> = COLUMNS.iter().map(|d| d.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), COLUMNS.len());
        assert!(ColumnSet::default().contains(Column::Tree));
        let m = ColumnSet::mask_of(&["rate"]).expect("a key");
        let s = ColumnSet::from_mask(Some(m));
        assert!(s.contains(Column::Rate) && s.contains(Column::Tree));
        assert!(!s.contains(Column::Match));
        assert!(ColumnSet::mask_of(&["nope"]).unwrap_err().contains("match"));
        // off by default, on when listed
        assert!(!ColumnSet::default().contains(Column::Handle));
        let s = ColumnSet::from_mask(Some(ColumnSet::mask_of(&["handle"]).expect("a key")));
        assert!(s.contains(Column::Handle));
    }
}
