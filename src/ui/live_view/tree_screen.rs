//! The tree screen's state: the rows of the table on screen as shown (after drill and
//! filter, only what is open), the one selected, and what the renderer reads of them.

use super::LiveView;
use crate::tree::TreeRow;

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
