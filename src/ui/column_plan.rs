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
/// `0.0.0.0/0`) are left out, and those that say nothing in the rows on screen
/// ([`ColumnStats::seen_in`]) give way first: they come last, while there is room.
/// What tells two rules of a chain apart comes first ([`Fit::Keep`]: Δpkts, the
/// interfaces, and enough match text for a port); on a narrow terminal the interfaces
/// are cut (to `CUT_EASY`), then the tree gives up room (to `TREE_MIN`), then the
/// match text and the interfaces are cut further before any goes. Then the others by
/// rank ([`Fit::IfRoom`]: the rate, more match text, totals, addresses, protocol,
/// Δbytes and bytes); the match text takes what is left.
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
            Width::Rest { min, .. } => Some(match &stats.on_screen {
                // no more than the widest match on screen needs
                Some(s) => min.min(s.match_w.max(MATCH_MIN)),
                None => min,
            }),
        }
    };
    // nothing on screen is in it: it gives way first
    let quiet = |c: Column| {
        stats.on_screen.as_ref().is_some_and(|s| !s.said[c.index()])
            && matches!(c.def().width, Width::Text { .. } | Width::Rest { .. })
    };
    let mut essential: Vec<(u8, Column, u16)> = COLUMNS
        .iter()
        .filter_map(|d| match d.fit {
            Fit::Keep(rank) if d.column != Column::Tree && !quiet(d.column) => {
                Some((rank, d.column, want(d.column)?))
            }
            _ => None,
        })
        .collect();
    essential.sort_by_key(|(rank, _, _)| *rank);
    let mut tree_w = tree_width.clamp(12, 48).min(width);
    let total = |tree_w: u16, e: &[(u8, Column, u16)]| -> u16 {
        tree_w + e.iter().map(|(_, _, w)| w + 1).sum::<u16>()
    };
    let is_cut = |c: Column| matches!(c.def().width, Width::Text { cut: true, .. });
    let is_match = |c: Column| matches!(c.def().width, Width::Rest { .. });
    // give way, step by step, until they fit: the interfaces cut a little, the tree
    // down to its least, the match text to its least, the interfaces to their least
    let mut over = total(tree_w, &essential).saturating_sub(width);
    shave(&mut essential, is_cut, CUT_EASY, &mut over);
    let give = over.min(tree_w.saturating_sub(TREE_MIN));
    tree_w -= give;
    over -= give;
    shave(&mut essential, is_match, MATCH_MIN, &mut over);
    shave(&mut essential, is_cut, CUT_MIN, &mut over);
    // then they go, the last first
    while over > 0 {
        let Some((_, _, w)) = essential.pop() else {
            tree_w = width;
            break;
        };
        over = over.saturating_sub(w + 1);
    }
    let mut used = total(tree_w, &essential);
    let mut chosen: Vec<(Column, u16)> = vec![(Column::Tree, tree_w)];
    chosen.extend(essential.iter().map(|&(_, c, w)| (c, w)));
    // then by rank: a column while there is room, or the match text growing to its want;
    // last the columns nothing on screen is in
    let mut steps: Vec<(u16, Column, bool)> = COLUMNS
        .iter()
        .flat_map(|d| {
            let add = match d.fit {
                Fit::IfRoom(rank) if !quiet(d.column) => Some((u16::from(rank), d.column, false)),
                Fit::IfRoom(_) | Fit::Keep(_) if quiet(d.column) => {
                    Some((QUIET + d.column.index() as u16, d.column, false))
                }
                _ => None,
            };
            let grow = match d.width {
                Width::Rest { grow, .. } => Some((u16::from(grow), d.column, true)),
                _ => None,
            };
            // before the quiet columns, the match text as wide as it is on screen
            let whole = match d.width {
                Width::Rest { .. } if stats.on_screen.is_some() => Some((QUIET, d.column, true)),
                _ => None,
            };
            add.into_iter().chain(grow).chain(whole)
        })
        .collect();
    steps.sort_by_key(|(rank, _, _)| *rank);
    for (rank, c, grow) in steps {
        if grow {
            let Width::Rest { want, .. } = c.def().width else {
                continue;
            };
            let want = match &stats.on_screen {
                Some(s) if rank >= QUIET => s.match_all,
                _ => want,
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

/// Takes `over` columns from the columns `which` picks, one at a time from the widest,
/// none below `floor`.
fn shave(e: &mut [(u8, Column, u16)], which: impl Fn(Column) -> bool, floor: u16, over: &mut u16) {
    while *over > 0 {
        let Some(x) = e
            .iter_mut()
            .filter(|(_, c, w)| which(*c) && *w > floor)
            .max_by_key(|(rank, _, w)| (*w, std::cmp::Reverse(*rank)))
        else {
            return;
        };
        x.2 -= 1;
        *over -= 1;
    }
}

/// The tree column gives up room down to this on a narrow terminal.
const TREE_MIN: u16 = 24;
/// The interfaces are cut to this before the tree gives up room (`docker_gw…`,
/// `!docker_g…` still tell bridges apart).
const CUT_EASY: u16 = 10;
/// ... and to this at the least, before they go.
const CUT_MIN: u16 = 4;
/// The match text is cut to this at the least, before it goes.
const MATCH_MIN: u16 = 8;
/// Columns nothing on screen is in come after every rank.
const QUIET: u16 = 1000;

/// Widths of a table's text columns ([`Width::Text`]) over all its rules (None: the
/// column says nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnStats {
    widths: [Option<u16>; COLUMNS.len()],
    /// Some rule has no counter (a native rule without `counter`): its PKTS cell says
    /// `no counter`, whole.
    pub uncounted: bool,
    /// What the rows on screen say, once measured ([`ColumnStats::seen_in`]).
    pub on_screen: Option<OnScreen>,
}

/// What the rows on screen say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnScreen {
    /// Per column: some row on screen says something in it.
    said: [bool; COLUMNS.len()],
    /// The widest match text on screen (its comments apart).
    match_w: u16,
    /// ... with its comments.
    match_all: u16,
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

    /// Notes which text columns the rows on screen (`rows` of `t`) say something in,
    /// and how wide their match text is: the others give way first.
    pub fn seen_in(&mut self, t: &FirewallTable, rows: &[TreeRow]) {
        let mut s = OnScreen {
            said: [false; COLUMNS.len()],
            match_w: 0,
            match_all: 0,
        };
        for r in rows {
            let RowKind::Rule { chain, rule } = r.kind else {
                continue;
            };
            let rule = &t.chains[chain].rules[rule];
            for d in &COLUMNS {
                match d.width {
                    Width::Text { empty, of, .. } => {
                        let v = of(rule);
                        s.said[d.column.index()] |= !(v.is_empty() || empty.contains(&v.as_ref()));
                    }
                    Width::Rest { .. } => {
                        // as the tree shows it: a NAT target's `to:` is in its label
                        let text = super::fit::nat(&rule.spec)
                            .map_or_else(|| rule.spec.extra.to_string(), |(_, rest)| rest);
                        let (main, comments) = super::fit::split_comments(&text);
                        let w =
                            crate::sanitize::text(if main.is_empty() { &comments } else { &main })
                                .width();
                        s.said[d.column.index()] |= !(main.is_empty() && comments.is_empty());
                        let all = crate::sanitize::text(&main).width()
                            + crate::sanitize::text(&comments).width()
                            + 1;
                        s.match_w = s.match_w.max(w.min(u16::MAX as usize) as u16);
                        s.match_all = s.match_all.max(all.min(u16::MAX as usize) as u16);
                    }
                    _ => {}
                }
            }
        }
        self.on_screen = Some(s);
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

/// Columns the tree needs: guides, fold marker and label (a DNAT's with the container
/// Docker `names` for its target), without building the labels.
pub fn tree_width(
    t: &FirewallTable,
    rows: &[TreeRow],
    names: Option<&crate::docker::Names>,
) -> u16 {
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
                    let target = super::fit::nat_named(spec, names)
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

    #[test]
    fn columns_nothing_on_screen_is_in_give_way_first() {
        let mut stats = ColumnStats::default();
        stats.set(Column::In, Some(16));
        stats.set(Column::Out, Some(16));
        let mut said = [false; COLUMNS.len()];
        said[Column::Match.index()] = true;
        // every interface on screen `*`: the match text has their room
        stats.on_screen = Some(OnScreen {
            said,
            match_w: 25,
            match_all: 25,
        });
        let cols = layout_columns(80, 32, &stats);
        let names: Vec<Column> = cols.iter().map(|(c, _)| *c).collect();
        assert!(!names.contains(&Column::In) && !names.contains(&Column::Out));
        let m = cols
            .iter()
            .find(|(c, _)| *c == Column::Match)
            .expect("match");
        assert!(m.1 >= 25, "{cols:?}");
        // with interfaces on screen they stay, cut, and the match keeps room for a port
        said[Column::In.index()] = true;
        said[Column::Out.index()] = true;
        stats.on_screen = Some(OnScreen {
            said,
            match_w: 25,
            match_all: 25,
        });
        let cols = layout_columns(80, 34, &stats);
        let w = |c: Column| cols.iter().find(|(x, _)| *x == c).map(|(_, w)| *w);
        assert_eq!(w(Column::Tree), Some(34), "{cols:?}");
        assert!(w(Column::In) >= Some(CUT_EASY) && w(Column::Out) >= Some(CUT_EASY));
        assert!(w(Column::Match) >= Some(14), "{cols:?}");
        // a wide table shows the quiet columns again, once the match text is whole
        let cols = layout_columns(250, 36, &stats);
        assert!(cols.iter().any(|(c, _)| *c == Column::In));
    }
}
