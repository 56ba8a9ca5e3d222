//! The path view's state (key `v`, drawn by `ui/pathview.rs`): how far it is scrolled,
//! and its lines, drawn again after a poll or a key.

use std::sync::Arc;

use super::PathLines;

/// The path view's scroll and lines.
#[derive(Debug, Default)]
pub struct PathState {
    pub(in crate::ui) offset: usize,
    pub(in crate::ui) lines: Option<Arc<PathLines>>,
}
