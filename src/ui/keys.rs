//! Keys and mouse to [`Action`]s: arrows and vim keys both. The help overlay lists
//! exactly this table ([`HELP`]).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use super::state::Action;

/// (keys, what they do) for the help overlay and the README.
pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓  k j", "move"),
    ("PgUp PgDn  Ctrl-b Ctrl-f", "page up / down"),
    ("g G  Home End", "top / bottom"),
    ("→ l", "expand (again: into it)"),
    ("← h", "collapse, or go to the parent"),
    ("Space", "expand / collapse"),
    ("e E", "expand all / collapse all"),
    ("Enter", "drill into the chain a rule jumps to"),
    ("Backspace Esc", "back out (drill, filter, hot view)"),
    (
        "Tab Shift-Tab  1-5",
        "table: filter nat mangle raw security",
    ),
    ("/  n N", "search chains and rules / next / previous"),
    ("f", "only rules that moved (with their chain path)"),
    (
        "o",
        "hot view: rules that moved lately, by rate; Enter: show in tree",
    ),
    (
        "v",
        "path view: every table's built-in chains in netfilter's order",
    ),
    ("z Z", "baseline: Δ counts from now / back to per-poll Δ"),
    ("p", "pause / resume polling"),
    ("+ -", "poll interval longer / shorter"),
    ("d", "detail pane on / off"),
    (
        "s",
        "export the view on screen (Δ of the last 10 s, or since z)",
    ),
    (".", "next poll (replay with --step)"),
    ("?", "this help"),
    ("q  Ctrl-c", "quit (q here: close this help)"),
];

/// Maps a key press; `searching`: the search prompt has the keyboard.
pub fn action(key: KeyEvent, searching: bool) -> Option<Action> {
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
        KeyCode::Char(c @ '1'..='5') => Action::Table(c as usize - '1' as usize),
        KeyCode::Char('/') => Action::SearchStart,
        KeyCode::Char('n') => Action::SearchNext,
        KeyCode::Char('N') => Action::SearchPrev,
        KeyCode::Char('f') => Action::ToggleMovedOnly,
        KeyCode::Char('o') => Action::ToggleHot,
        KeyCode::Char('v') => Action::TogglePath,
        KeyCode::Char('p') => Action::TogglePause,
        KeyCode::Char('+') | KeyCode::Char('=') => Action::IntervalLonger,
        KeyCode::Char('-') | KeyCode::Char('_') => Action::IntervalShorter,
        KeyCode::Char('z') => Action::Baseline,
        KeyCode::Char('Z') => Action::ClearBaseline,
        KeyCode::Char('d') => Action::ToggleDetail,
        KeyCode::Char('s') => Action::Export,
        KeyCode::Char('.') => Action::Step,
        KeyCode::Char('?') | KeyCode::F(1) => Action::ToggleHelp,
        _ => return None,
    })
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
        assert_eq!(action(k(KeyCode::Char('3')), false), Some(Action::Table(2)));
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
}
