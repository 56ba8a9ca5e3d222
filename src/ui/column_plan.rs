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
/// Columns that say nothing in this table (every rule `*` or `0.0.0.0/0`) are left out.
/// What tells two rules of a chain apart comes first: Δpkts, the interfaces (whole, as
/// wide as their longest name) and a little of the match text; on a narrow terminal the
/// tree gives up room for them, and the interfaces are cut before they go. Then the
/// rate, more match text, totals, addresses, protocol, Δbytes and bytes; the match text
/// takes what is left.
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
    const MATCH_MIN: u16 = 8;
    const MATCH_WANT: u16 = 24;
    let shown = |c: Column| {
        cells::ALL
            .iter()
            .position(|x| *x == c)
            .is_none_or(|i| hidden & (1 << i) == 0)
    };
    let text = |c: Column| stats.width(c).filter(|_| shown(c));
    let essential: Vec<(Column, u16)> = [
        shown(Column::DPkts).then(|| (Column::DPkts, number_width(Column::DPkts))),
        text(Column::In).map(|w| (Column::In, w)),
        text(Column::Out).map(|w| (Column::Out, w)),
        shown(Column::Match).then_some((Column::Match, MATCH_MIN)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let need: u16 = essential.iter().map(|(_, w)| w + 1).sum();
    let mut tree_w = tree_width.clamp(12, 48).min(width);
    if tree_w + need > width {
        tree_w = width
            .saturating_sub(need)
            .max(TREE_MIN.min(tree_w))
            .min(tree_w);
    }
    let mut used = tree_w;
    let mut chosen: Vec<(Column, u16)> = vec![(Column::Tree, tree_w)];
    for (c, w) in essential {
        if used + 1 + w <= width {
            used += 1 + w;
            chosen.push((c, w));
        } else if matches!(c, Column::In | Column::Out) && width >= used + 1 + 4 {
            // cut rather than drop: `!docker_g…` still differs from `docker_gw…`
            let w = (width - used - 1).min(w);
            used += 1 + w;
            chosen.push((c, w));
        }
    }
    let optional = [
        Column::Rate,
        Column::Match,
        Column::Pkts,
        Column::Destination,
        Column::Source,
        Column::Prot,
        Column::DBytes,
        Column::Bytes,
    ];
    for c in optional {
        if c == Column::Match {
            // more of the match text before the totals and addresses
            if let Some(m) = chosen.iter_mut().find(|(c, _)| *c == Column::Match) {
                let more = (MATCH_WANT - m.1).min(width.saturating_sub(used));
                m.1 += more;
                used += more;
            }
            continue;
        }
        let w = match c {
            Column::Prot | Column::Source | Column::Destination => match text(c) {
                Some(w) => w,
                None => continue,
            },
            _ if !shown(c) => continue,
            Column::Pkts if stats.uncounted => "no counter".len() as u16,
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

/// The tree column gives up room down to this on a narrow terminal.
const TREE_MIN: u16 = 24;

/// Widths of a table's text columns over all its rules (None: the column says nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnStats {
    pub prot: Option<u16>,
    pub in_iface: Option<u16>,
    pub out_iface: Option<u16>,
    pub source: Option<u16>,
    pub destination: Option<u16>,
    /// Some rule has no counter (a native rule without `counter`): its PKTS cell says
    /// `no counter`, whole.
    pub uncounted: bool,
}

impl ColumnStats {
    pub fn of(t: &FirewallTable) -> ColumnStats {
        fn grow(slot: &mut Option<u16>, v: &str, any: &[&str], cap: u16, title: u16) {
            if any.contains(&v) || v.is_empty() {
                return;
            }
            let w = (crate::sanitize::text(v).width() as u16)
                .min(cap)
                .max(title);
            *slot = Some(slot.map_or(w, |s| s.max(w)));
        }
        let mut s = ColumnStats::default();
        for c in &t.chains {
            for r in c.rules.iter() {
                s.uncounted |= r.native.as_ref().is_some_and(|n| !n.has_counter);
                let p = &r.spec;
                grow(
                    &mut s.prot,
                    &crate::model::protocol_name(&p.prot),
                    &["all", "0"],
                    9,
                    4,
                );
                // interface names are at most 15 characters, and `!`
                grow(&mut s.in_iface, &p.in_iface, &["*", "any"], 16, 3);
                grow(&mut s.out_iface, &p.out_iface, &["*", "any"], 16, 3);
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
                    // measured as drawn: escaped
                    2 + crate::sanitize::text(&c.name).width() + if c.is_builtin() { 8 } else { 11 }
                }
                // `│  ├─▾ TARGET [goto] ↻ cycle`
                RowKind::Rule { chain, rule } => {
                    let spec = &t.chains[chain].rules[rule].spec;
                    // a NAT target is shown with where it sends packets
                    let target = super::fit::nat(spec)
                        .map_or(crate::sanitize::text(&spec.target).width(), |(l, _)| {
                            crate::sanitize::text(&l).width()
                        });
                    let label = target.max(11)
                        + if spec.goto { 7 } else { 0 }
                        + if r.fold == Fold::Cycle { 8 } else { 0 }
                        // ` ×2`: a chain with several callers
                        + match r.jump.map(|j| t.callers().of(j).len()) {
                            Some(n) if n > 1 => 2 + n.to_string().len(),
                            _ => 0,
                        };
                    r.prefix_width() + 1 + label
                }
                // `│  └─ fell through`, `└─ policy ACCEPT`
                RowKind::Verdict { .. } => r.prefix_width() + 1 + 13,
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
            uncounted: false,
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
        assert_eq!(narrow[..2], [Column::Tree, Column::DPkts]);
        // what tells rules apart stays: interfaces and match text before totals
        for c in [Column::In, Column::Out, Column::Match] {
            assert!(narrow.contains(&c), "{c:?} in {narrow:?}");
        }
        assert!(!narrow.contains(&Column::Bytes));
        // at 60 the tree gives up room for the interfaces; the rate goes first
        let tight = names(60);
        for c in [Column::In, Column::Out] {
            assert!(tight.contains(&c), "{c:?} in {tight:?}");
        }
        assert!(!tight.contains(&Column::Prot));
        for w in [0u16, 5, 20, 40, 80, 120, 200] {
            let total: u16 = layout_columns(w, 34, &stats)
                .iter()
                .map(|(_, w)| w + 1)
                .sum();
            assert!(total <= w + 1, "{w}: {total}");
        }
    }
}
