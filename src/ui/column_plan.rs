//! Column planning for the tree table: which columns fit a width, in which order they
//! drop, and how wide each is ([`ColumnStats`] measures a table's variable columns once
//! per snapshot).

use unicode_width::UnicodeWidthStr;

use crate::cells::{self, Column};
use crate::model::FirewallTable;
use crate::tree::{Fold, RowKind, TreeRow};

/// Widths of the numeric columns: fixed, so numbers never shift between polls.
fn number_width(c: Column) -> u16 {
    match c {
        Column::DPkts => 7,
        Column::Pkts | Column::Rate => 6,
        Column::DBytes | Column::Bytes => 11,
        _ => 0,
    }
}

/// Which columns fit in `width`, and how wide each is, in display order.
/// Columns that say nothing in this table (every rule `*` or `0.0.0.0/0`) go first; then
/// columns drop from the least useful while watching traffic: total bytes, Δbytes,
/// protocol, addresses, interfaces, totals; the tree, Δpkts, rate and match stay.
pub fn layout_columns(width: u16, tree_width: u16, stats: &ColumnStats) -> Vec<(Column, u16)> {
    layout_shown(width, tree_width, stats, 0)
}

/// [`layout_columns`] without the columns `hidden` leaves out (bit i: [`cells::ALL`]`[i]`,
/// from `columns` in the config file).
pub fn layout_shown(
    width: u16,
    tree_width: u16,
    stats: &ColumnStats,
    hidden: u16,
) -> Vec<(Column, u16)> {
    let shown = |c: &Column| {
        cells::ALL
            .iter()
            .position(|x| x == c)
            .is_none_or(|i| hidden & (1 << i) == 0)
    };
    let keep_order = [
        Column::DPkts,
        Column::Rate,
        Column::Match,
        Column::Pkts,
        Column::Source,
        Column::Destination,
        Column::In,
        Column::Out,
        Column::Prot,
        Column::DBytes,
        Column::Bytes,
    ];
    let tree_w = tree_width.clamp(12, 48).min(width);
    let mut used = tree_w;
    let mut chosen: Vec<(Column, u16)> = vec![(Column::Tree, tree_w)];
    const MATCH_MIN: u16 = 16;
    for c in keep_order.into_iter().filter(shown) {
        let w = match c {
            Column::Match => MATCH_MIN,
            Column::Prot | Column::In | Column::Out | Column::Source | Column::Destination => {
                match stats.width(c) {
                    Some(w) => w,
                    None => continue,
                }
            }
            _ => number_width(c),
        };
        if used + 1 + w <= width {
            used += 1 + w;
            chosen.push((c, w));
        }
    }
    // the match text takes what is left
    if let Some(m) = chosen.iter_mut().find(|(c, _)| *c == Column::Match) {
        m.1 += width.saturating_sub(used);
    }
    let order = |c: &Column| cells::ALL.iter().position(|x| x == c).unwrap_or(99);
    chosen.sort_by_key(|(c, _)| order(c));
    chosen
}

/// Widths of a table's text columns over all its rules (None: the column says nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnStats {
    pub prot: Option<u16>,
    pub in_iface: Option<u16>,
    pub out_iface: Option<u16>,
    pub source: Option<u16>,
    pub destination: Option<u16>,
}

impl ColumnStats {
    pub fn of(t: &FirewallTable) -> ColumnStats {
        fn grow(slot: &mut Option<u16>, v: &str, any: &[&str], cap: u16, title: u16) {
            if any.contains(&v) || v.is_empty() {
                return;
            }
            let w = (v.width() as u16).min(cap).max(title);
            *slot = Some(slot.map_or(w, |s| s.max(w)));
        }
        let mut s = ColumnStats::default();
        for c in &t.chains {
            for r in c.rules.iter() {
                let p = &r.spec;
                grow(
                    &mut s.prot,
                    &crate::model::protocol_name(&p.prot),
                    &["all", "0"],
                    9,
                    4,
                );
                grow(&mut s.in_iface, &p.in_iface, &["*", "any"], 10, 3);
                grow(&mut s.out_iface, &p.out_iface, &["*", "any"], 10, 3);
                let anyaddr = ["0.0.0.0/0", "::/0", "anywhere"];
                grow(&mut s.source, &p.source, &anyaddr, 20, 6);
                grow(&mut s.destination, &p.destination, &anyaddr, 20, 4);
            }
        }
        s
    }

    fn width(&self, c: Column) -> Option<u16> {
        match c {
            Column::Prot => self.prot,
            Column::In => self.in_iface,
            Column::Out => self.out_iface,
            Column::Source => self.source,
            Column::Destination => self.destination,
            _ => None,
        }
    }
}

/// Columns the tree needs: guides, fold marker and label, without building the labels.
pub fn tree_width(t: &FirewallTable, rows: &[TreeRow]) -> u16 {
    use unicode_width::UnicodeWidthStr;
    let w = rows
        .iter()
        .map(|r| {
            match r.kind {
                // `▾ FORWARD DROP`, `▾ DOCKER (2 refs)`
                RowKind::Chain { chain } => {
                    let c = &t.chains[chain];
                    2 + c.name.width() + if c.is_builtin() { 8 } else { 11 }
                }
                // `│  ├─▾ TARGET [goto] ↻ cycle`
                RowKind::Rule { chain, rule } => {
                    let spec = &t.chains[chain].rules[rule].spec;
                    let label = spec.target.width().max(11)
                        + if spec.goto { 7 } else { 0 }
                        + if r.fold == Fold::Cycle { 8 } else { 0 }
                        // ` ×2`: a chain with several callers
                        + match r.jump.map(|j| t.callers().of(j).len()) {
                            Some(n) if n > 1 => 2 + n.to_string().len(),
                            _ => 0,
                        };
                    r.prefix_width() + 1 + label
                }
                // drawn across the whole row
                RowKind::Ref { .. } => 0,
            }
        })
        .max()
        .unwrap_or(24);
    w.min(u16::MAX as usize) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_drop_from_the_right_order() {
        let stats = ColumnStats {
            prot: Some(4),
            in_iface: Some(12),
            out_iface: Some(12),
            source: Some(13),
            destination: Some(11),
        };
        let names = |w: u16| -> Vec<Column> {
            layout_columns(w, 34, &stats)
                .into_iter()
                .map(|(c, _)| c)
                .collect()
        };
        let wide = names(200);
        assert_eq!(wide.len(), 13 - 1, "all but OPT");
        let narrow = names(80);
        assert_eq!(narrow[..3], [Column::Tree, Column::DPkts, Column::Rate]);
        assert!(narrow.contains(&Column::Match));
        assert!(!narrow.contains(&Column::Bytes));
        for w in [0u16, 5, 20, 40, 80, 120, 200] {
            let total: u16 = layout_columns(w, 34, &stats)
                .iter()
                .map(|(_, w)| w + 1)
                .sum();
            assert!(total <= w + 1, "{w}: {total}");
        }
    }
}
