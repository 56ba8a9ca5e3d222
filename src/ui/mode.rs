//! What has the keyboard and what the main area shows: one [`Mode`] instead of a flag
//! for each.

/// The live view's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The tree of chains.
    #[default]
    Tree,
    /// The hot view (`o`): the rules that moved lately, by rate.
    Hot,
    /// Typing a search query over the tree (`/`).
    Search,
    /// The help overlay (`?`), over the tree or (`over_hot`) the hot view; any key
    /// closes it.
    Help { over_hot: bool },
}

impl Mode {
    /// The main area shows the hot view (under the help too).
    pub fn shows_hot(self) -> bool {
        matches!(self, Mode::Hot | Mode::Help { over_hot: true })
    }

    pub fn shows_help(self) -> bool {
        matches!(self, Mode::Help { .. })
    }

    /// The search prompt has the keyboard.
    pub fn is_searching(self) -> bool {
        self == Mode::Search
    }
}
