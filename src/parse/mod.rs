//! Parser for `iptables -L -v -n [-x] [--line-numbers]` listings, in every form seen from
//! iptables 1.4 to 1.8.x, both backends, IPv4 and IPv6, and as users paste them.
//!
//! Columns are minimum widths only (long chain and interface names push the rest of the
//! line right), so a rule line is split on whitespace and anchored on its `opt` token
//! (`--`, `-f`, `!f`); the column-title line of each chain says which columns exist.

mod columns;
mod fields;
pub mod nft;
pub mod paste;
mod records;
mod table;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use crate::model::FirewallTable;
use crate::model::text::ListingText;

pub use fields::{after_destination, parse_counter};

/// How many rules a chain holds, where known from elsewhere (the kernel): it chooses
/// the reading of a listing whose comments print lines that look like rules.
pub type RuleCounts<'a> = &'a dyn Fn(&str) -> Option<usize>;

/// A listing line that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number in the listing.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// A listing to parse: its text alone (`&str`), or the shared text of a poll
/// (`&Arc<ListingText>`), which the table then keeps ([`FirewallTable::listing`]) so that
/// the next poll parsed against it takes every chain whose lines did not change at all
/// (counters included) with one comparison of bytes, without reading its lines.
pub trait Listing {
    fn text(&self) -> &str;
    /// The text to keep in the table, if any.
    fn keep(&self) -> Option<Arc<ListingText>> {
        None
    }
}

impl Listing for str {
    fn text(&self) -> &str {
        self
    }
}

impl Listing for String {
    fn text(&self) -> &str {
        self
    }
}

impl Listing for std::borrow::Cow<'_, str> {
    fn text(&self) -> &str {
        self
    }
}

impl Listing for Arc<ListingText> {
    fn text(&self) -> &str {
        self.as_str()
    }
    fn keep(&self) -> Option<Arc<ListingText>> {
        Some(Arc::clone(self))
    }
}

/// Parses one table's listing (`iptables -t <name> -L -v -n ...`), reusing the rules of
/// `previous` (the same table's last good parse) whose lines did not change: the same
/// result, at a fraction of the cost.
///
/// Lines starting with `#` (iptables' `# Warning: ...` when stderr was captured along)
/// become [`FirewallTable::warnings`]; a `$ ` shell prompt before the first chain is
/// skipped.
pub fn parse_table(
    name: &str,
    text: &(impl Listing + ?Sized),
    previous: Option<&FirewallTable>,
) -> Result<FirewallTable, ParseError> {
    parse_table_counted(name, text, previous, None, true)
}

/// [`parse_table`], with the kernel's rule count of each chain it knows: where a
/// comment's line break prints a line that reads as a rule, the reading with the
/// kernel's number of rules is taken, so that no rule the kernel does not hold is made
/// up (a forged one after a chain's last rule reads as well as a real one).
pub fn parse_table_counted(
    name: &str,
    text: &(impl Listing + ?Sized),
    previous: Option<&FirewallTable>,
    counts: Option<RuleCounts>,
    reusable: bool,
) -> Result<FirewallTable, ParseError> {
    let mut t = table::parse_lines(name, text.text(), previous, counts, reusable)?;
    if let Some(keep) = text.keep() {
        t.listing = Some(keep);
    }
    Ok(t)
}
