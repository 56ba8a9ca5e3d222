//! Native nftables tables in the live view: one tab each (`docker-bridges`, or `inet
//! filter` where the name alone is ambiguous), after iptables' tables in the order they
//! were first seen, selected with `-t` and the number keys. The poller reads them on
//! every poll (`nft -j list ruleset`) and sends each as `FAMILY NAME`.

use std::sync::Arc;

use super::{LiveView, TableData};
use crate::model::{Snapshot, TABLES, TableId, TableSnapshot};

/// The native nftables tables seen so far, and the one `-t` named.
#[derive(Debug, Default)]
pub(super) struct NativeTabs {
    /// `(family, name)` in the order first seen: [`TableId::native`] indexes it.
    names: Vec<(String, String)>,
    /// `-t` named a native table: its tab is shown once the table is first read.
    start: Option<String>,
}

impl LiveView {
    /// `-t` named a native table (`docker-bridges`, `inet filter`): its tab is shown
    /// once the table is first read.
    pub fn set_start_native(&mut self, table: Option<String>) {
        self.native.start = table;
    }

    /// Native table `k`'s family and name.
    pub fn native_name(&self, k: usize) -> Option<&(String, String)> {
        self.native.names.get(k)
    }

    /// Native table `k`'s label: its name, or `FAMILY NAME` when another table (native
    /// or iptables') has that name.
    pub fn native_label(&self, k: usize) -> String {
        let Some((family, name)) = self.native.names.get(k) else {
            return String::new();
        };
        let twice = TABLES.contains(&name.as_str())
            || self.native.names.iter().filter(|(_, n)| n == name).count() > 1;
        if twice {
            format!("{family} {name}")
        } else {
            name.clone()
        }
    }

    /// The tab of native table `family name`, made (after the last tab) when it is new.
    fn native_tab(&mut self, family: &str, name: &str) -> usize {
        let k = match self
            .native
            .names
            .iter()
            .position(|(f, n)| f == family && n == name)
        {
            Some(k) => k,
            None => {
                self.native
                    .names
                    .push((family.to_string(), name.to_string()));
                self.native.names.len() - 1
            }
        } as u32;
        if let Some(i) = self.tabs.iter().position(|t| t.native == Some(k)) {
            return i;
        }
        self.tabs.push(TableId {
            name: "",
            backend: None,
            native: Some(k),
        });
        self.tables.push(TableData::default());
        self.tabs.len() - 1
    }

    /// A poll of native table `family name` arrived.
    pub(super) fn on_native(
        &mut self,
        family: &str,
        name: &str,
        snap: Arc<Snapshot>,
        discontinuity: bool,
    ) {
        let i = self.native_tab(family, name);
        let Some(part) = TableSnapshot::split(snap, name).into_iter().next() else {
            return;
        };
        self.path.lines.take();
        self.forget_search_tree(i, &part);
        self.tables[i].remember(part.snapshot().clone(), discontinuity, self.export_window);
        self.tables[i].update(part, discontinuity);
        // `-t docker-bridges` (or `-t 'inet filter'`): shown once it is first read
        let wanted = self
            .native
            .start
            .as_deref()
            .is_some_and(|w| w == name || w == format!("{family} {name}"));
        if wanted {
            self.native.start = None;
            self.switch_table(i);
        }
        if i == self.current {
            self.rebuild();
        }
    }
}
