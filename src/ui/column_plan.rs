//! Column planning for the tree table: which columns fit a width, in which order they
//! drop, and how wide each is ([`ColumnStats`] measures a table's variable columns once
//! per snapshot).

use unicode_width::UnicodeWidthStr;

use crate::cells::{COLUMNS, Column, ColumnSet, Fit, Width};
use crate::model::FirewallTable;
use crate::tree::{Fold, RowKind, TreeRow};

/// Which columns fit in `width`, and how wide each is, in display order, with every
/// column on by default.
pub fn layout_columns(width: u16, tree_width: u16, stats: &ColumnStats) -> Vec<(Column, u16)> {
    layout_shown(width, tree_width, stats, ColumnSet::default())
}

/// Which of the `shown` columns fit in `width`, and how wide each is, in display order,
/// as [`COLUMNS`] says: columns that say nothing in this table (every rule `*` or
/// `0.0.0.0/0`) are left out. What tells two rules of a chain apart comes first
/// ([`Fit::Keep`]: Δpkts, the interfaces, whole, and a little of the match text); on a
/// narrow terminal the tree gives up room for them, and the interfaces are cut before
/// they go. Then the others by rank ([`Fit::IfRoom`]: the rate, more match text, totals,
/// addresses, protocol, Δbytes and bytes); the match text takes what is left.
pub fn layout_shown(
    width: u16,
    tree_width: u16,
    stats: &ColumnStats,
    shown: ColumnSet,
) -> Vec<(Column, u16)> {
    // the width a shown column wants, None: it is hidden or says nothing here
    let want = |c: Column| -> Option<u16> {
        if !shown.contains(c) {
            return None;
        }
        match c.def().width {
            Width::Tree => None,
            Width::Fixed(w) => Some(w),
            Width::Count(_) if stats.uncounted => Some("no counter".len() as u16),
            Width::Count(w) => Some(w),
            Width::Text { .. } => stats.width(c),
            Width::Rest { min, .. } => Some(min),
        }
    };
    let mut essential: Vec<(u8, Column, u16)> = COLUMNS
        .iter()
        .filter_map(|d| match d.fit {
            Fit::Keep(rank) if d.column != Column::Tree => Some((rank, d.column, want(d.column)?)),
            _ => None,
        })
        .collect();
    essential.sort_by_key(|(rank, _, _)| *rank);
    let need: u16 = essential.iter().map(|(_, _, w)| w + 1).sum();
    let mut tree_w = tree_width.clamp(12, 48).min(width);
    if tree_w + need > width {
        tree_w = width
            .saturating_sub(need)
            .max(TREE_MIN.min(tree_w))
            .min(tree_w);
    }
    let mut used = tree_w;
    let mut chosen: Vec<(Column, u16)> = vec![(Column::Tree, tree_w)];
    for (_, c, w) in essential {
        let cut = matches!(c.def().width, Width::Text { cut: true, .. });
        if used + 1 + w <= width {
            used += 1 + w;
            chosen.push((c, w));
        } else if cut && width >= used + 1 + 4 {
            // cut rather than drop: `!docker_g…` still differs from `docker_gw…`
            let w = (width - used - 1).min(w);
            used += 1 + w;
            chosen.push((c, w));
        }
    }
    // then by rank: a column while there is room, or the match text growing to its want
    let mut steps: Vec<(u8, Column, bool)> = COLUMNS
        .iter()
        .flat_map(|d| {
            let add = match d.fit {
                Fit::IfRoom(rank) => Some((rank, d.column, false)),
                _ => None,
            };
            let grow = match d.width {
                Width::Rest { grow, .. } => Some((grow, d.column, true)),
                _ => None,
            };
            add.into_iter().chain(grow)
        })
        .collect();
    steps.sort_by_key(|(rank, _, _)| *rank);
    for (_, c, grow) in steps {
        if grow {
            let Width::Rest { want, .. } = c.def().width else {
                continue;
            };
            if let Some(m) = chosen.iter_mut().find(|(x, _)| *x == c) {
                let more = want.saturating_sub(m.1).min(width.saturating_sub(used));
                m.1 += more;
                used += more;
            }
            continue;
        }
        let Some(w) = want(c) else { continue };
        if used + 1 + w <= width {
            used += 1 + w;
            chosen.push((c, w));
        }
    }
    // the match text takes what is left
    if let Some(m) = chosen
        .iter_mut()
        .find(|(c, _)| matches!(c.def().width, Width::Rest { .. }))
    {
        m.1 += width.saturating_sub(used);
    }
    chosen.sort_by_key(|(c, _)| c.index());
    chosen
}

/// The tree column gives up room down to this on a narrow terminal.
const TREE_MIN: u16 = 24;

/// Widths of a table's text columns ([`Width::Text`]) over all its rules (None: the
/// column says nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnStats {
    widths: [Option<u16>; COLUMNS.len()],
    /// Some rule has no counter (a native rule without `counter`): its PKTS cell says
    /// `no counter`, whole.
    pub uncounted: bool,
}

impl ColumnStats {
    pub fn of(t: &FirewallTable) -> ColumnStats {
        let mut s = ColumnStats::default();
        let text: Vec<_> = COLUMNS
            .iter()
            .filter_map(|d| match d.width {
                Width::Text {
                    min,
                    cap,
                    empty,
                    of,
                    ..
                } => Some((d.column.index(), min, cap, empty, of)),
                _ => None,
            })
            .collect();
        for c in &t.chains {
            for r in c.rules.iter() {
                s.uncounted |= r.native.as_ref().is_some_and(|n| !n.has_counter);
                for &(i, min, cap, empty, of) in &text {
                    let v = of(r);
                    if empty.contains(&v.as_ref()) || v.is_empty() {
                        continue;
                    }
                    let w = (crate::sanitize::text(&v).width() as u16).min(cap).max(min);
                    let slot = &mut s.widths[i];
                    *slot = Some(slot.map_or(w, |s| s.max(w)));
                }
            }
        }
        s
    }

    /// The width of text column `c`, None: it says nothing in this table.
    pub fn width(&self, c: Column) -> Option<u16> {
        self.widths[c.index()]
    }

    /// Sets text column `c`'s width (a test's table).
    pub fn set(&mut self, c: Column, w: Option<u16>) {
        self.widths[c.index()] = w;
    }

    /// Widens text column `c` to `w` if it says something (names shown instead of
    /// bridges and addresses need their room).
    pub fn grow(&mut self, c: Column, w: u16) {
        if let Some(x) = &mut self.widths[c.index()] {
            *x = (*x).max(w);
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
        let mut stats = ColumnStats::default();
        for (c, w) in [
            (Column::Prot, 4),
            (Column::In, 12),
            (Column::Out, 12),
            (Column::Source, 13),
            (Column::Destination, 11),
        ] {
            stats.set(c, Some(w));
        }
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
