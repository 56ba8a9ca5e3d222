//! What has the keyboard and what the main area shows: one [`Mode`] instead of a flag
//! for each.

/// What fills the main area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Screen {
    /// The tree of chains.
    #[default]
    Tree,
    /// The hot view (`o`): the rules that moved lately, by rate.
    Hot,
    /// The findings pane (`!`): rules of thumb that matched on the last poll.
    Findings,
    /// kube-proxy's Services (`K`): endpoints and their shares of new connections.
    Services,
    /// The path view (`v`, `--view path`): every table's built-in chains hook by hook.
    Path,
    /// The trace pane (`T`, `--trace`): the traced packets and their paths.
    Trace,
}

/// The live view's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The tree of chains.
    #[default]
    Tree,
    /// The hot view (`o`): the rules that moved lately, by rate.
    Hot,
    /// The findings pane (`!`).
    Findings,
    /// kube-proxy's Services (`K`).
    Services,
    /// The path view (`v`).
    Path,
    /// The trace pane (`T`).
    Trace,
    /// Typing a search query over the tree (`/`).
    Search,
    /// The help overlay (`?`), over what the main area showed; any key closes it.
    Help { over: Screen },
}

impl Mode {
    /// What the main area shows (under the help too; the tree while searching).
    pub fn screen(self) -> Screen {
        match self {
            Mode::Tree | Mode::Search => Screen::Tree,
            Mode::Hot => Screen::Hot,
            Mode::Findings => Screen::Findings,
            Mode::Services => Screen::Services,
            Mode::Path => Screen::Path,
            Mode::Trace => Screen::Trace,
            Mode::Help { over } => over,
        }
    }

    /// The mode that shows `screen`.
    pub fn showing(screen: Screen) -> Mode {
        match screen {
            Screen::Tree => Mode::Tree,
            Screen::Hot => Mode::Hot,
            Screen::Findings => Mode::Findings,
            Screen::Services => Mode::Services,
            Screen::Path => Mode::Path,
            Screen::Trace => Mode::Trace,
        }
    }

    /// The main area shows the hot view (under the help too).
    pub fn shows_hot(self) -> bool {
        self.screen() == Screen::Hot
    }

    /// The main area shows the path view (under the help too).
    pub fn shows_path(self) -> bool {
        self.screen() == Screen::Path
    }

    pub fn shows_help(self) -> bool {
        matches!(self, Mode::Help { .. })
    }

    /// The search prompt has the keyboard.
    pub fn is_searching(self) -> bool {
        self == Mode::Search
    }
}
