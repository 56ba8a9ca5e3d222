//! What the main area shows (one [`Screen`]) and what is drawn over it and has the
//! keyboard first (at most one [`Overlay`]), instead of a flag for each.

/// What fills the main area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Screen {
    /// The tree of chains.
    #[default]
    Tree,
    /// The hot view (`o`): the rules that moved lately, by rate.
    Hot,
    /// The findings pane (`!`): rules of thumb that matched within the export window.
    Findings,
    /// kube-proxy's Services (`K`): endpoints and their shares of new connections.
    Services,
    /// The path view (`v`, `--view path`): every table's built-in chains hook by hook.
    Path,
    /// The trace pane (`T`, `--trace`): the traced packets and their paths.
    Trace,
}

/// What is drawn over the screen and has the keyboard first (at most one at a time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    /// The help (`?`), over what the main area shows, scrolled down by this many lines:
    /// the arrows and page keys scroll it, any other key closes it.
    Help(u16),
    /// Typing a search query over the tree (`/`).
    Search,
    /// The trace prompt (`t`): the expression typed so far.
    TracePrompt(String),
}
