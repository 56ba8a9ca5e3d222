//! The one key table ([`KEYMAP`]): each entry names its keys, the actions they do, the
//! line of the help overlay, the hint in the status line and the modes it applies in.
//! Key matching ([`action`]), the `?` overlay ([`help_lines`]) and the hints ([`hints`])
//! all read it, so they cannot disagree. Arrows and vim keys both.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use super::action::Action;

/// Who has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// The tree, the hot view, the help overlay.
    Browse,
    /// The search prompt: keys type into the query.
    Search,
}

/// A key an entry answers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// This key, whatever the modifiers (unless a `Ctrl` entry takes it first).
    Code(KeyCode),
    /// The letter with Control held.
    Ctrl(char),
    /// `1` to `5`: the table of that number.
    TableDigit,
    /// Any character typed without Control.
    Typed,
}

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Does {
    Act(Action),
    /// [`Action::SelectTable`] of the digit pressed.
    SelectTable,
    /// [`Action::SearchInput`] of the character typed.
    TypeInSearch,
}

/// One entry of the key table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Each key with what it does.
    pub keys: &'static [(Key, Does)],
    /// The help overlay's line (keys as shown, what they do); None: not listed.
    pub help: Option<(&'static str, &'static str)>,
    /// The status line's hint (its place, key as shown, label); None: no hint.
    pub hint: Option<(u8, &'static str, &'static str)>,
    pub modes: &'static [KeyMode],
}

const BROWSE: &[KeyMode] = &[KeyMode::Browse];
const SEARCH: &[KeyMode] = &[KeyMode::Search];
const ALL_MODES: &[KeyMode] = &[KeyMode::Browse, KeyMode::Search];

const fn code(c: KeyCode, a: Action) -> (Key, Does) {
    (Key::Code(c), Does::Act(a))
}

const fn ch(c: char, a: Action) -> (Key, Does) {
    (Key::Code(KeyCode::Char(c)), Does::Act(a))
}

const fn ctrl(c: char, a: Action) -> (Key, Does) {
    (Key::Ctrl(c), Does::Act(a))
}

/// The key table, in the order of the help overlay.
pub const KEYMAP: &[Binding] = &[
    Binding {
        keys: &[
            code(KeyCode::Up, Action::Up),
            ch('k', Action::Up),
            code(KeyCode::Down, Action::Down),
            ch('j', Action::Down),
        ],
        help: Some(("↑ ↓  k j", "move")),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[
            code(KeyCode::PageUp, Action::PageUp),
            code(KeyCode::PageDown, Action::PageDown),
            ctrl('b', Action::PageUp),
            ctrl('f', Action::PageDown),
        ],
        help: Some(("PgUp PgDn  Ctrl-b Ctrl-f", "page up / down")),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[
            ch('g', Action::Top),
            ch('G', Action::Bottom),
            code(KeyCode::Home, Action::Top),
            code(KeyCode::End, Action::Bottom),
        ],
        help: Some(("g G  Home End", "top / bottom")),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[
            code(KeyCode::Right, Action::Expand),
            ch('l', Action::Expand),
        ],
        help: Some(("→ l", "expand (again: into it)")),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[
            code(KeyCode::Left, Action::Collapse),
            ch('h', Action::Collapse),
        ],
        help: Some(("← h", "collapse, or go to the parent")),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[ch(' ', Action::Toggle)],
        help: Some(("Space", "expand / collapse")),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[ch('e', Action::ExpandAll), ch('E', Action::CollapseAll)],
        help: Some(("e E", "expand all / collapse all")),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[code(KeyCode::Enter, Action::Drill)],
        help: Some(("Enter", "drill into the chain a rule jumps to")),
        hint: Some((2, "↵", "drill")),
        modes: BROWSE,
    },
    Binding {
        keys: &[
            code(KeyCode::Backspace, Action::Back),
            code(KeyCode::Esc, Action::Back),
        ],
        help: Some(("Backspace Esc", "back out (drill, filter, hot view)")),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[
            code(KeyCode::Tab, Action::NextTable),
            code(KeyCode::BackTab, Action::PrevTable),
            (Key::TableDigit, Does::SelectTable),
        ],
        help: Some((
            "Tab Shift-Tab  1-9",
            "table: filter nat mangle raw security, 6-9 native",
        )),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[
            ch('/', Action::SearchStart),
            ch('n', Action::SearchNext),
            ch('N', Action::SearchPrev),
        ],
        help: Some(("/  n N", "search chains and rules / next / previous")),
        hint: Some((3, "/", "search")),
        modes: BROWSE,
    },
    Binding {
        keys: &[ch('f', Action::ToggleMovedOnly)],
        help: Some(("f", "only rules that moved (with their chain path)")),
        hint: Some((4, "f", "moved")),
        modes: BROWSE,
    },
    Binding {
        keys: &[ch('o', Action::ToggleHot)],
        help: Some((
            "o",
            "hot view: rules that moved lately, by rate; Enter: show in tree",
        )),
        hint: Some((5, "o", "hot")),
        modes: BROWSE,
    },
    Binding {
        keys: &[ch('T', Action::ToggleTrace)],
        help: Some((
            "T",
            "trace pane (t or --trace EXPR): packets, verdicts; Enter: path",
        )),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[ch('t', Action::TracePrompt)],
        help: Some((
            "t",
            "trace: type an nft expression (tcp dport 80); empty: stop",
        )),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[ch('!', Action::ToggleFindings)],
        help: Some((
            "!",
            "findings: known traps seen in the last 10 s; Enter: show the rule",
        )),
        hint: Some((6, "!", "findings")),
        modes: BROWSE,
    },
    Binding {
        keys: &[ch('K', Action::ToggleServices)],
        help: Some((
            "K",
            "kube-proxy Services: endpoints, their share of new connections",
        )),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[ch('v', Action::TogglePath)],
        help: Some((
            "v",
            "path view: every table's built-in chains in netfilter's order",
        )),
        hint: Some((6, "v", "path")),
        modes: BROWSE,
    },
    Binding {
        keys: &[ch('z', Action::Baseline), ch('Z', Action::ClearBaseline)],
        help: Some(("z Z", "baseline: Δ counts from now / back to per-poll Δ")),
        hint: Some((7, "z", "baseline")),
        modes: BROWSE,
    },
    Binding {
        keys: &[ch('p', Action::TogglePause)],
        help: Some(("p", "pause / resume polling")),
        hint: Some((8, "p", "pause")),
        modes: BROWSE,
    },
    Binding {
        keys: &[
            ch('+', Action::IntervalLonger),
            ch('=', Action::IntervalLonger),
            ch('-', Action::IntervalShorter),
            ch('_', Action::IntervalShorter),
        ],
        help: Some(("+ -", "poll interval longer / shorter")),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[ch('d', Action::ToggleDetail)],
        help: Some(("d", "detail pane on / off")),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[ch('s', Action::Export)],
        help: Some((
            "s",
            "export the view on screen (Δ of the last 10 s, or since z)",
        )),
        hint: Some((9, "s", "export")),
        modes: BROWSE,
    },
    Binding {
        keys: &[ch('.', Action::Step)],
        help: Some((".", "next poll (replay with --step)")),
        hint: None,
        modes: BROWSE,
    },
    Binding {
        keys: &[
            ch('?', Action::ToggleHelp),
            code(KeyCode::F(1), Action::ToggleHelp),
        ],
        help: Some(("?", "this help")),
        hint: Some((1, "?", "help")),
        modes: BROWSE,
    },
    Binding {
        keys: &[ctrl('c', Action::Interrupt)],
        help: None,
        hint: None,
        modes: ALL_MODES,
    },
    Binding {
        keys: &[ch('q', Action::Quit)],
        help: Some(("q  Ctrl-c", "quit (q here: close this help)")),
        hint: Some((0, "q", "quit")),
        modes: BROWSE,
    },
    Binding {
        keys: &[
            code(KeyCode::Enter, Action::SearchConfirm),
            code(KeyCode::Esc, Action::SearchCancel),
            code(KeyCode::Backspace, Action::SearchBackspace),
            (Key::Typed, Does::TypeInSearch),
        ],
        help: None,
        hint: None,
        modes: SEARCH,
    },
];

/// What `key` does in `mode`, if anything. Entries with Control come first: `Ctrl-f`
/// pages down while `f` filters; other keys match whatever the modifiers.
pub fn action(key: KeyEvent, searching: bool) -> Option<Action> {
    let mode = if searching {
        KeyMode::Search
    } else {
        KeyMode::Browse
    };
    let held = key.modifiers.contains(KeyModifiers::CONTROL);
    let entries = || {
        KEYMAP
            .iter()
            .filter(move |b| b.modes.contains(&mode))
            .flat_map(|b| b.keys.iter())
    };
    let with_ctrl =
        entries().find(|(k, _)| held && matches!(k, Key::Ctrl(c) if KeyCode::Char(*c) == key.code));
    let (_, does) = with_ctrl.or_else(|| {
        entries().find(|(k, _)| match k {
            Key::Code(c) => *c == key.code,
            Key::Ctrl(_) => false,
            Key::TableDigit => matches!(key.code, KeyCode::Char('1'..='9')),
            Key::Typed => !held && matches!(key.code, KeyCode::Char(_)),
        })
    })?;
    Some(match (does, key.code) {
        (Does::Act(a), _) => *a,
        (Does::SelectTable, KeyCode::Char(c)) => Action::SelectTable(c as usize - '1' as usize),
        (Does::TypeInSearch, KeyCode::Char(c)) => Action::SearchInput(c),
        _ => return None,
    })
}

/// The help overlay's lines: (keys, what they do), in the table's order.
pub fn help_lines() -> impl Iterator<Item = (&'static str, &'static str)> + Clone {
    KEYMAP.iter().filter_map(|b| b.help)
}

/// The status line's hints: (key, label), in their order.
/// The status line's hints on `screen`: the path view scrolls and has keys of its own;
/// every other screen has the tree's.
pub fn hints_on(screen: super::mode::Screen) -> Vec<(&'static str, &'static str)> {
    match screen {
        super::mode::Screen::Path => vec![
            ("q", "quit"),
            ("?", "help"),
            ("v", "back"),
            ("↑↓", "scroll"),
            ("f", "moved"),
            ("z", "baseline"),
            ("p", "pause"),
            ("s", "export"),
        ],
        super::mode::Screen::Trace => vec![
            ("q", "quit"),
            ("?", "help"),
            ("T", "back"),
            ("↑↓", "move"),
            ("Enter", "path"),
            ("t", "trace expr"),
        ],
        _ => hints(),
    }
}

pub fn hints() -> Vec<(&'static str, &'static str)> {
    let mut h: Vec<(u8, &str, &str)> = KEYMAP.iter().filter_map(|b| b.hint).collect();
    h.sort_by_key(|(i, _, _)| *i);
    h.into_iter().map(|(_, k, l)| (k, l)).collect()
}

pub fn mouse(ev: MouseEvent) -> Option<Action> {
    match ev.kind {
        MouseEventKind::ScrollUp => Some(Action::ScrollUp(3)),
        MouseEventKind::ScrollDown => Some(Action::ScrollDown(3)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn arrows_and_vim_keys_agree() {
        for (a, b) in [
            (KeyCode::Up, KeyCode::Char('k')),
            (KeyCode::Down, KeyCode::Char('j')),
            (KeyCode::Left, KeyCode::Char('h')),
            (KeyCode::Right, KeyCode::Char('l')),
            (KeyCode::Home, KeyCode::Char('g')),
            (KeyCode::End, KeyCode::Char('G')),
            (KeyCode::Backspace, KeyCode::Esc),
        ] {
            assert_eq!(action(k(a), false), action(k(b), false));
        }
        assert_eq!(
            action(k(KeyCode::Char('3')), false),
            Some(Action::SelectTable(2))
        );
        assert_eq!(
            action(
                KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
                true
            ),
            Some(Action::Interrupt)
        );
        assert_eq!(
            action(k(KeyCode::Char('q')), true),
            Some(Action::SearchInput('q'))
        );
    }

    /// The three lists this table replaced, matched by hand: every key, with and
    /// without modifiers, in both modes, does what it did.
    fn hand_written(key: KeyEvent, searching: bool) -> Option<Action> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            return Some(Action::Interrupt);
        }
        if searching {
            return match key.code {
                KeyCode::Enter => Some(Action::SearchConfirm),
                KeyCode::Esc => Some(Action::SearchCancel),
                KeyCode::Backspace => Some(Action::SearchBackspace),
                KeyCode::Char(c) if !ctrl => Some(Action::SearchInput(c)),
                _ => None,
            };
        }
        Some(match key.code {
            KeyCode::Char('b') if ctrl => Action::PageUp,
            KeyCode::Char('f') if ctrl => Action::PageDown,
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Up | KeyCode::Char('k') => Action::Up,
            KeyCode::Down | KeyCode::Char('j') => Action::Down,
            KeyCode::PageUp => Action::PageUp,
            KeyCode::PageDown => Action::PageDown,
            KeyCode::Home | KeyCode::Char('g') => Action::Top,
            KeyCode::End | KeyCode::Char('G') => Action::Bottom,
            KeyCode::Right | KeyCode::Char('l') => Action::Expand,
            KeyCode::Left | KeyCode::Char('h') => Action::Collapse,
            KeyCode::Char(' ') => Action::Toggle,
            KeyCode::Char('e') => Action::ExpandAll,
            KeyCode::Char('E') => Action::CollapseAll,
            KeyCode::Enter => Action::Drill,
            KeyCode::Backspace | KeyCode::Esc => Action::Back,
            KeyCode::Tab => Action::NextTable,
            KeyCode::BackTab => Action::PrevTable,
            KeyCode::Char(c @ '1'..='9') => Action::SelectTable(c as usize - '1' as usize),
            KeyCode::Char('/') => Action::SearchStart,
            KeyCode::Char('n') => Action::SearchNext,
            KeyCode::Char('N') => Action::SearchPrev,
            KeyCode::Char('f') => Action::ToggleMovedOnly,
            KeyCode::Char('o') => Action::ToggleHot,
            KeyCode::Char('!') => Action::ToggleFindings,
            KeyCode::Char('T') => Action::ToggleTrace,
            KeyCode::Char('t') => Action::TracePrompt,
            KeyCode::Char('K') => Action::ToggleServices,
            KeyCode::Char('v') => Action::TogglePath,
            KeyCode::Char('p') => Action::TogglePause,
            KeyCode::Char('+' | '=') => Action::IntervalLonger,
            KeyCode::Char('-' | '_') => Action::IntervalShorter,
            KeyCode::Char('z') => Action::Baseline,
            KeyCode::Char('Z') => Action::ClearBaseline,
            KeyCode::Char('d') => Action::ToggleDetail,
            KeyCode::Char('s') => Action::Export,
            KeyCode::Char('.') => Action::Step,
            KeyCode::Char('?') | KeyCode::F(1) => Action::ToggleHelp,
            _ => return None,
        })
    }

    #[test]
    fn the_table_matches_keys_as_the_hand_written_match_did() {
        let mut codes = vec![
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::Left,
            KeyCode::Right,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Backspace,
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Delete,
            KeyCode::Insert,
            KeyCode::Null,
        ];
        codes.extend((1..=12).map(KeyCode::F));
        codes.extend((' '..='~').map(KeyCode::Char));
        codes.extend(['é', '漢', '\u{7f}'].map(KeyCode::Char));
        for code in codes {
            for m in [
                KeyModifiers::NONE,
                KeyModifiers::SHIFT,
                KeyModifiers::CONTROL,
                KeyModifiers::ALT,
                KeyModifiers::CONTROL | KeyModifiers::SHIFT,
            ] {
                for searching in [false, true] {
                    let k = KeyEvent::new(code, m);
                    assert_eq!(
                        action(k, searching),
                        hand_written(k, searching),
                        "{code:?} {m:?} searching={searching}"
                    );
                }
            }
        }
    }

    #[test]
    fn overlay_and_hints_read_the_table() {
        let help: Vec<_> = help_lines().collect();
        assert_eq!(help.first(), Some(&("↑ ↓  k j", "move")));
        assert_eq!(
            help.last(),
            Some(&("q  Ctrl-c", "quit (q here: close this help)"))
        );
        assert_eq!(help.len(), 26);
        let hints: Vec<&str> = hints().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            hints,
            ["q", "?", "↵", "/", "f", "o", "!", "v", "z", "p", "s"]
        );
        // every hinted key does something in the tree
        for b in KEYMAP.iter().filter(|b| b.hint.is_some()) {
            assert!(b.modes.contains(&KeyMode::Browse));
        }
    }
}
