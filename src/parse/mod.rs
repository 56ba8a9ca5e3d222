//! Parser for `iptables -L -v -n [-x] [--line-numbers]` listings, in every form seen from
//! iptables 1.4 to 1.8.x, both backends, IPv4 and IPv6, and as users paste them.
//!
//! Columns are minimum widths only (long chain and interface names push the rest of the
//! line right), so a rule line is split on whitespace and anchored on its `opt` token
//! (`--`, `-f`, `!f`); the column-title line of each chain says which columns exist.

mod columns;
mod fields;
mod records;
mod table;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use crate::model::Table;

pub use fields::parse_counter;
pub use table::parse_table_reusing;

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

/// Parses one table's listing (`iptables -t <name> -L -v -n ...`).
///
/// Lines starting with `#` (iptables' `# Warning: ...` when stderr was captured along)
/// become [`Table::warnings`]; a `$ ` shell prompt before the first chain is skipped.
pub fn parse_table(name: &str, text: &str) -> Result<Table, ParseError> {
    parse_table_reusing(name, text, None)
}

/// [`parse_table_reusing`], keeping `text` in the table ([`Table::listing`]): the next
/// poll parsed against this one then takes every chain whose lines did not change at all
/// (counters included) with one comparison of bytes, without reading its lines.
pub fn parse_listing_reusing(
    name: &str,
    text: &Arc<crate::source::Text>,
    prev: Option<&Table>,
) -> Result<Table, ParseError> {
    let mut t = parse_table_reusing(name, text, prev)?;
    t.listing = Some(text.clone());
    Ok(t)
}
