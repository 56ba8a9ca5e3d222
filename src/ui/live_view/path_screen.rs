//! The path view's state (key `v`, drawn by `ui/pathview.rs`): how far it is scrolled,
//! and its lines, drawn again after a poll or a key.

use std::cell::OnceCell;
use std::sync::Arc;

use super::PathLines;

/// The path view's scroll and lines.
#[derive(Debug, Default)]
pub struct PathState {
    pub(in crate::ui) offset: usize,
    /// The screen's width the lines were fitted to (a new width draws them again).
    pub(in crate::ui) width: u16,
    /// Drawn once after a poll or a key (the first frame fills it), then reused.
    pub(in crate::ui) lines: OnceCell<Arc<PathLines>>,
}
