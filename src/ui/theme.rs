//! Colours of the live view, the colour-blind-safe variant (`--theme colorblind`), and
//! the monochrome one (`--color never`, `NO_COLOR`).

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, Default)]
pub struct Theme {
    pub color: bool,
    /// Blue and orange instead of green and red, and verdicts marked by a symbol.
    pub colorblind: bool,
    /// Tree lines in ASCII (`--ascii`).
    pub ascii: bool,
    /// The tree's columns (`columns` in the config file).
    pub columns: crate::cells::ColumnSet,
}

/// Okabe-Ito's blue and orange (256-colour palette): told apart with any colour vision.
const CB_BLUE: Color = Color::Indexed(33);
const CB_ORANGE: Color = Color::Indexed(208);

impl Theme {
    /// Honours NO_COLOR (<https://no-color.org>): set and not empty means no colour.
    pub fn from_env() -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme {
            color: !no_color,
            ..Theme::default()
        }
    }

    /// The theme the options ask for (colour decided by [`crate::look::use_color`]).
    pub fn from_options(color: bool, look: &crate::look::Look) -> Theme {
        Theme {
            color,
            colorblind: look.theme == crate::look::ThemeName::Colorblind,
            ascii: look.ascii,
            columns: crate::cells::ColumnSet::from_mask(look.columns),
        }
    }

    /// The symbol after a verdict in the colour-blind theme: ✓ accepts, ✗ drops.
    pub fn verdict_mark(&self, target: &str) -> Option<&'static str> {
        if !self.colorblind {
            return None;
        }
        match (target, self.ascii) {
            ("ACCEPT", false) => Some(" ✓"),
            ("DROP" | "REJECT", false) => Some(" ✗"),
            ("ACCEPT", true) => Some(" +"),
            ("DROP" | "REJECT", true) => Some(" x"),
            _ => None,
        }
    }

    fn accept(&self) -> Color {
        if self.colorblind {
            CB_BLUE
        } else {
            Color::Green
        }
    }

    fn deny(&self) -> Color {
        if self.colorblind {
            CB_ORANGE
        } else {
            Color::Red
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn header(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Cyan)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn title_row(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn selected(&self) -> Style {
        if self.color {
            Style::new()
                .bg(Color::Indexed(24))
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn tab(&self, active: bool) -> Style {
        if active {
            self.fg(Color::Cyan)
                .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        } else {
            self.fg(Color::Gray)
        }
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    pub fn chain_row(&self) -> Style {
        self.fg(Color::White).add_modifier(Modifier::BOLD)
    }

    pub fn guide(&self) -> Style {
        self.dim()
    }

    /// The colour of a target: verdicts by meaning, jumps in the chain colour.
    pub fn target(&self, target: &str, is_jump: bool) -> Style {
        if is_jump {
            return self.fg(Color::Cyan).add_modifier(Modifier::BOLD);
        }
        match target {
            "ACCEPT" => self.fg(self.accept()),
            // bold (and underlined when colour-blind-safe): told from ACCEPT without hue
            "DROP" | "REJECT" if self.colorblind => self
                .fg(self.deny())
                .add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            "DROP" | "REJECT" => self.fg(self.deny()).add_modifier(Modifier::BOLD),
            "RETURN" => self.fg(Color::Gray),
            "LOG" | "NFLOG" | "ULOG" | "AUDIT" => self.fg(Color::Yellow),
            "DNAT" | "SNAT" | "MASQUERADE" | "REDIRECT" | "NETMAP" => self.fg(Color::Magenta),
            "" => self.dim(),
            _ => self.fg(Color::Blue),
        }
    }

    pub fn policy(&self, policy: &str) -> Style {
        match policy {
            "ACCEPT" => self.fg(self.accept()),
            "DROP" | "REJECT" if self.colorblind => {
                self.fg(self.deny()).add_modifier(Modifier::BOLD)
            }
            "DROP" | "REJECT" => self.fg(self.deny()),
            _ => Style::new(),
        }
    }

    /// A row whose counters moved `age` polls ago (0: the last poll).
    pub fn heat(&self, age: u64) -> Style {
        if !self.color {
            return if age == 0 {
                Style::new().add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
        }
        match age {
            0 => Style::new().bg(Color::Indexed(58)),
            1 => Style::new().bg(Color::Indexed(238)),
            _ => Style::new().bg(Color::Indexed(236)),
        }
    }

    /// A delta that moved; drops that move stand out most.
    pub fn moved(&self, drop: bool) -> Style {
        match (self.color, drop) {
            (true, true) => Style::new()
                .fg(Color::White)
                .bg(self.deny())
                .add_modifier(Modifier::BOLD),
            (true, false) => Style::new()
                .fg(Color::LightYellow)
                .add_modifier(Modifier::BOLD),
            (false, true) => Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
            (false, false) => Style::new().add_modifier(Modifier::BOLD),
        }
    }

    pub fn reset(&self) -> Style {
        self.fg(Color::Magenta).add_modifier(Modifier::BOLD)
    }

    pub fn error(&self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        }
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn sparkline(&self) -> Style {
        self.fg(Color::LightGreen)
    }

    /// A finding's severity: critical as an error, a warning in yellow, info dim.
    pub fn severity(&self, s: crate::explain::findings::Severity) -> Style {
        use crate::explain::findings::Severity;
        match s {
            Severity::Critical => self.error(),
            Severity::Warning => self
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
            Severity::Info => self.fg(Color::Cyan),
        }
    }
}
