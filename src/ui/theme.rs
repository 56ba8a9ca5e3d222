//! Colours of the live view, and the monochrome variant for `NO_COLOR`.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Honours NO_COLOR (<https://no-color.org>): set and not empty means no colour.
    pub fn from_env() -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
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
            "ACCEPT" => self.fg(Color::Green),
            "DROP" | "REJECT" => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            "RETURN" => self.fg(Color::Gray),
            "LOG" | "NFLOG" | "ULOG" | "AUDIT" => self.fg(Color::Yellow),
            "DNAT" | "SNAT" | "MASQUERADE" | "REDIRECT" | "NETMAP" => self.fg(Color::Magenta),
            "" => self.dim(),
            _ => self.fg(Color::Blue),
        }
    }

    pub fn policy(&self, policy: &str) -> Style {
        match policy {
            "ACCEPT" => self.fg(Color::Green),
            "DROP" | "REJECT" => self.fg(Color::Red),
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
                .bg(Color::Red)
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
