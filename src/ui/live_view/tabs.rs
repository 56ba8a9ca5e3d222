//! The table tabs: one per table, two for a table that both back ends hold
//! (`filter·nft`, `filter·legacy`), each with its own tree, deltas and selection. Polls
//! arrive per table name; a poll's snapshot is split into one [`TableSnapshot`] per
//! back end, and the tabs of that name follow what the poll holds.

use std::sync::Arc;

use super::{Command, LiveView, TableData};
use crate::model::{FirewallTable, Snapshot, TABLES, TableId, TableSnapshot};

impl LiveView {
    /// Per tab: the table it shows.
    pub fn tabs(&self) -> &[TableId] {
        &self.tabs
    }

    /// Per tab: what is known of its table.
    pub fn tables(&self) -> &[TableData] {
        &self.tables
    }

    /// The tab on screen: index into [`LiveView::tabs`] and [`LiveView::tables`].
    pub fn current(&self) -> usize {
        self.current
    }

    /// The table on screen.
    pub fn table_id(&self) -> TableId {
        self.tabs[self.current]
    }

    /// The name of the table on screen.
    pub fn table_name(&self) -> &'static str {
        self.tabs[self.current].name
    }

    /// A tab's label: `filter`, or `filter·legacy` when both back ends hold it; a
    /// native table's name (`docker-bridges`), with its family where the name alone is
    /// ambiguous (`inet filter`).
    pub fn tab_label(&self, tab: usize) -> String {
        match self.tabs.get(tab) {
            Some(TableId {
                native: Some(k), ..
            }) => self.native_label(*k as usize),
            Some(id) => id.label(),
            None => String::new(),
        }
    }

    /// The tab that shows table `name` (the first, when both back ends hold it).
    pub fn tab_of(&self, name: &str) -> Option<usize> {
        self.tabs.iter().position(|t| t.name == name)
    }

    /// The tabs of table `name`, in order.
    fn tabs_of(&self, name: &str) -> std::ops::Range<usize> {
        let start = self.tab_of(name).unwrap_or(self.tabs.len());
        let len = self.tabs[start..]
            .iter()
            .take_while(|t| t.name == name)
            .count();
        start..start + len
    }

    /// A good poll of `table` arrived (with both back ends holding it, a table of each;
    /// `FAMILY NAME` for a native nftables table).
    pub fn on_snapshot(&mut self, table: &str, snap: Arc<Snapshot>, discontinuity: bool) {
        let Some(name) = TABLES.iter().copied().find(|t| *t == table) else {
            if let Some((family, name)) = table.split_once(' ') {
                self.on_native(family, name, snap, discontinuity);
            }
            return;
        };
        self.playback.last_poll = Some((snap.taken_at, snap.took));
        if discontinuity {
            // the demo and a looping replay start over: say so (each table of the poll
            // says the same)
            self.notify(format!(
                "the {} started again from its beginning: the hot view and Δ start afresh",
                if self.source.kind == crate::model::SourceKind::Demo {
                    "demo recording"
                } else {
                    "recording"
                }
            ));
            self.hot.cache = None;
            self.hot.selected = 0;
        }
        let parts = TableSnapshot::split(snap, name);
        let ids: Vec<TableId> = if parts.len() == 1 {
            vec![TableId::new(name)]
        } else {
            parts
                .iter()
                .map(|p| TableId {
                    name,
                    backend: p.table().backend,
                    native: None,
                })
                .collect()
        };
        let range = self.tabs_of(name);
        if self.tabs[range.clone()] != ids[..] {
            self.regroup(name, &ids, &parts);
        }
        let range = self.tabs_of(name);
        self.path.lines.take();
        for (i, part) in range.zip(parts) {
            let was_spared = self.tables[i].spared.is_some();
            self.forget_search_tree(i, &part);
            let snap = part.snapshot().clone();
            // a poll that read no counters (a spared table) changes nothing to redo
            let read = self.tables[i].update(part, discontinuity);
            if read {
                self.tables[i].remember(snap, discontinuity, self.export_window);
            }
            if let (false, Some(s)) = (was_spared, self.tables[i].spared) {
                self.notify(spared_notice(&self.tab_label(i), &self.tables[i], s));
            }
            if i == self.current && read {
                self.rebuild();
            }
        }
    }

    /// Makes the tabs of `name` those of `ids`: each keeps the view (selection, history,
    /// baseline) of the tab that showed the same back end's table, if there was one.
    fn regroup(&mut self, name: &'static str, ids: &[TableId], parts: &[TableSnapshot]) {
        let range = self.tabs_of(name);
        let on_screen = range
            .contains(&self.current)
            .then(|| self.current - range.start);
        let mut old: Vec<Option<TableData>> = self
            .tables
            .splice(range.clone(), std::iter::empty())
            .map(Some)
            .collect();
        let old_ids: Vec<TableId> = self
            .tabs
            .splice(range.clone(), std::iter::empty())
            .collect();
        let backend_of = |d: &TableData| d.table().and_then(|t| t.backend);
        let mut new = Vec::with_capacity(ids.len());
        for p in parts {
            let b = p.table().backend;
            let k = old
                .iter()
                .position(|d| d.as_ref().is_some_and(|d| backend_of(d) == b));
            new.push(k.and_then(|k| old[k].take()).unwrap_or_default());
        }
        // the tab on screen stays on the same back end's table (or the first of them)
        let keep = on_screen.map(|k| {
            let b = old_ids.get(k).and_then(|id| id.backend);
            ids.iter()
                .position(|id| id.backend == b && b.is_some())
                .unwrap_or(0)
        });
        for (k, (id, data)) in ids.iter().zip(new).enumerate() {
            self.tabs.insert(range.start + k, *id);
            self.tables.insert(range.start + k, data);
        }
        if let Some(k) = keep {
            self.current = range.start + k;
        } else if self.current >= range.end {
            self.current = self.current + ids.len() - range.len();
        }
        self.search_cache = None;
    }

    /// A poll of `table` failed; the last good snapshot stays (in each of its tabs).
    pub fn on_error(&mut self, table: &str, error: crate::source::PollError) {
        let tabs = self.tabs_of(table);
        if let Some(last) = tabs.clone().last() {
            for i in tabs.start..last {
                self.tables[i].error = Some(error.clone());
            }
            self.tables[last].error = Some(error);
        }
    }

    /// Digit `n`: the `n`th table; again on a table both back ends hold: its next one.
    /// The native tables come after iptables' five, in the order they were first seen.
    pub(super) fn select_table(&mut self, n: usize) {
        let Some(name) = TABLES.get(n) else {
            let k = (n - TABLES.len()) as u32;
            if let Some(i) = self.tabs.iter().position(|t| t.native == Some(k)) {
                self.switch_table(i);
            }
            return;
        };
        let range = self.tabs_of(name);
        if range.is_empty() {
            return;
        }
        let next = if range.contains(&self.current) {
            range.start + (self.current - range.start + 1) % range.len()
        } else {
            range.start
        };
        self.switch_table(next);
    }

    pub(super) fn switch_table(&mut self, i: usize) {
        if i == self.current || i >= self.tabs.len() {
            return;
        }
        let name = self.tabs[i].name;
        // native tables are read on every poll: the iptables table polled stays
        let polled = self.table_name() != name && self.tabs[i].native.is_none();
        self.current = i;
        self.hot.selected = 0;
        if polled {
            self.pending
                .commands
                .push(Command::SetTable(name.to_string()));
        }
        self.rebuild();
    }
}

/// Said once when a table's counters start being read less often than polled.
fn spared_notice(label: &str, t: &TableData, s: crate::model::Spared) -> String {
    let rules = t.table().map_or(0, FirewallTable::rule_count);
    format!(
        "{label}: counters read every {} polls while its rules stand still (one read of its \
         {rules} rules takes {}); Δ and rates span the reads",
        s.every,
        crate::format::duration(s.took)
    )
}
