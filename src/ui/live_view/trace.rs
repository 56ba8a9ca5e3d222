//! The trace pane (`T`, with `--trace EXPR`): the last traced packets (time, summary,
//! verdict and where), how many were seen; Enter shows one packet's path step by step.

use std::collections::VecDeque;

use super::LiveView;
use crate::source::trace::TracedPacket;
use crate::ui::action::Action;
use crate::ui::mode::Mode;

/// The pane keeps this many packets.
pub const KEEP: usize = 200;

/// The traced packets the live view has seen.
#[derive(Debug, Default)]
pub struct TracePane {
    /// The expression traced (None: no trace running).
    pub expr: Option<String>,
    pub packets: VecDeque<TracedPacket>,
    pub seen: u64,
    pub lost: u64,
    pub selected: usize,
    /// Showing the selected packet's path.
    pub open: bool,
}

impl TracePane {
    /// Takes one packet (the oldest goes past [`KEEP`]); the newest is at the end.
    pub fn push(&mut self, p: TracedPacket, seen: u64, lost: u64) {
        let follow = self.selected + 1 >= self.packets.len();
        if self.packets.len() >= KEEP {
            self.packets.pop_front();
            self.selected = self.selected.saturating_sub(1);
        }
        self.packets.push_back(p);
        if follow && !self.open {
            self.selected = self.packets.len() - 1;
        }
        self.seen = seen;
        self.lost = lost;
    }
}

impl LiveView {
    pub(super) fn apply_trace(&mut self, action: Action) {
        let last = self.trace.packets.len().saturating_sub(1);
        let page = self.viewport;
        let t = &mut self.trace;
        let s = &mut t.selected;
        match action {
            Action::Up => *s = s.saturating_sub(1),
            Action::Down => *s = (*s + 1).min(last),
            Action::Top => *s = 0,
            Action::Bottom => *s = last,
            Action::PageUp => *s = s.saturating_sub(page),
            Action::PageDown => *s = (*s + page).min(last),
            Action::ScrollUp(k) => *s = s.saturating_sub(k),
            Action::ScrollDown(k) => *s = (*s + k).min(last),
            Action::Drill | Action::Expand => t.open = !t.open,
            Action::Back if t.open => t.open = false,
            Action::ToggleTrace | Action::Back => self.mode = Mode::Tree,
            _ => self.apply_common(action),
        }
    }
}
