//! The tree screen's state: the rows of the table on screen as shown (after drill and
//! filter, only what is open), the one selected, and what the renderer reads of them.

use super::LiveView;
use crate::tree::TreeRow;
use crate::ui::table_state::Drill;

/// The tree screen's state: its rows as shown and the one selected.
#[derive(Debug)]
pub(super) struct TreeState {
    /// Rows of the tree as shown (after drill, filter).
    pub(super) rows: Vec<TreeRow>,
    /// Rows cut at [`super::MAX_ROWS`].
    pub(super) rows_cut: bool,
    /// Width the tree column needs for the current rows.
    pub(super) tree_width: u16,
    /// Index of the selected row in `rows` (its path is kept in the table's view).
    pub(super) sel: usize,
    /// Per row: every jump above it moved in the last few polls, so its movement came
    /// (at least partly) along this path. Under a jump that did not move, a shared
    /// chain's counters are shown without highlight.
    pub(super) live_path: Vec<bool>,
}

impl Default for TreeState {
    fn default() -> Self {
        TreeState {
            rows: Vec::new(),
            rows_cut: false,
            tree_width: 24,
            sel: 0,
            live_path: Vec::new(),
        }
    }
}

impl LiveView {
    /// The chains given with `-c`: roots instead of the built-ins.
    pub fn root_chains(&self) -> &[String] {
        &self.root_chains
    }

    /// The tree's rows as shown (after drill, filter).
    pub fn rows(&self) -> &[TreeRow] {
        &self.tree.rows
    }

    /// The rows were cut at [`super::MAX_ROWS`].
    pub fn rows_cut(&self) -> bool {
        self.tree.rows_cut
    }

    /// The width the tree column needs for the current rows.
    pub fn tree_width(&self) -> u16 {
        self.tree.tree_width
    }

    /// Per row: every jump above it moved in the last few polls.
    pub fn live_path(&self) -> &[bool] {
        &self.tree.live_path
    }
}

impl LiveView {
    /// Enter on a jump: the view starts at the chain it jumps to, the breadcrumb
    /// growing by the chains on the way; Esc goes back.
    pub(super) fn drill(&mut self, sel: usize) {
        let Some(t) = self.table_data().table().cloned() else {
            return;
        };
        let Some(row) = self.tree.rows.get(sel) else {
            return;
        };
        let Some(target) = row.jump else {
            self.message = Some("Enter drills into a jump to a user chain".into());
            return;
        };
        // the chains on the path to this row, then the target
        let mut crumbs: Vec<String> = match self.table_data().drill.last() {
            Some(d) => d.crumbs.clone(),
            None => Vec::new(),
        };
        let mut chain_path = Vec::new();
        let mut j = Some(sel);
        while let Some(k) = j {
            chain_path.push(self.tree.rows[k].chain());
            j = self.tree.rows[k].parent.map(|p| p as usize);
        }
        chain_path.reverse();
        for c in chain_path {
            let name = &t.chains[c].name;
            if crumbs.last().map(String::as_str) != Some(&**name) {
                crumbs.push(name.to_string());
            }
        }
        crumbs.push(t.chains[target].name.to_string());
        let back_to = self.table_data().selected.clone();
        let back_offset = self.table_data().offset;
        let v = self.table_data_mut();
        v.drill.push(Drill {
            chain: t.chains[target].name.to_string(),
            crumbs,
            back_to,
            back_offset,
        });
        v.selected.clear();
        v.offset = 0;
        self.rebuild();
    }
}
