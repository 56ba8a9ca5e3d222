//! What a key or a click asks of the live view ([`Action`]), and what the live view then
//! asks of the poller ([`Command`]): the UI's effects and the poller's commands apart.

use std::time::Duration;

/// Intervals offered by `+` and `-`.
pub const INTERVALS_MS: [u64; 9] = [100, 250, 500, 1000, 2000, 3000, 5000, 10_000, 30_000];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    ScrollUp(usize),
    ScrollDown(usize),
    /// `→`/`l`: expand, or go to the first child when already expanded.
    Expand,
    /// `←`/`h`: collapse, or go to the parent.
    Collapse,
    Toggle,
    ExpandAll,
    CollapseAll,
    /// `Enter` on a jump: its chain becomes the root.
    Drill,
    /// `Backspace`/`Esc`: out of a drill (or search, hot view, filter).
    Back,
    NextTable,
    PrevTable,
    SelectTable(usize),
    SearchStart,
    SearchInput(char),
    SearchBackspace,
    SearchConfirm,
    SearchCancel,
    SearchNext,
    SearchPrev,
    ToggleMovedOnly,
    ToggleHot,
    /// `!`: the findings pane; Enter on a finding shows its rule in the tree.
    ToggleFindings,
    /// The trace pane (`T`, with `--trace`).
    ToggleTrace,
    /// `t`: the prompt for the trace's expression.
    TracePrompt,
    /// `K`: kube-proxy's Services with their endpoints' shares.
    ToggleServices,
    /// `v`: the path view (every table's built-in chains in netfilter's order).
    TogglePath,
    TogglePause,
    IntervalShorter,
    IntervalLonger,
    /// `z`: deltas count from now (a local baseline; iptables is not touched).
    Baseline,
    /// `Z`: back to per-poll deltas.
    ClearBaseline,
    ToggleDetail,
    ToggleHelp,
    /// `.`: next poll of a stepwise replay.
    Step,
    /// `s`: export the current view (see the UI loop).
    Export,
    /// `q`: quit (in the help overlay: close it).
    Quit,
    /// Ctrl-c: quit from anywhere.
    Interrupt,
}

/// What the UI loop must tell the poller after an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    SetTable(String),
    /// The path view is on: list every table on each poll (off: the one on screen).
    AllTables(bool),
    SetInterval(Duration),
    Pause(bool),
    Step,
    /// `t`: start or change the trace (the expression), or stop it (None).
    Trace(Option<String>),
}

/// What an action asks of the world outside the state machine: commands for the poller,
/// effects for the UI loop, in the order they were asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub commands: Vec<Command>,
    pub effects: Vec<Effect>,
}

impl Outcome {
    /// Nothing asked.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty() && self.effects.is_empty()
    }

    /// `later`'s requests after these.
    pub fn extend(&mut self, later: Outcome) {
        self.commands.extend(later.commands);
        self.effects.extend(later.effects);
    }
}

/// What the UI loop must do itself after an action (off the state machine: it takes
/// time or touches files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Write the current table to a new file (the `s` key).
    Export,
}
