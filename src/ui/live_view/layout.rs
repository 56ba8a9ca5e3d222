//! The frame's regions, and what the live view fits to them before a frame is drawn:
//! [`LiveView::layout`] (called by the UI loop with the frame's size) decides whether the
//! detail pane shows, keeps the list's height for the paging keys, scrolls the selection
//! into view and builds what the screen on show draws (the hot view's rows, the Services
//! text). Drawing then only reads the view (`render::draw` takes `&LiveView`).

use ratatui::layout::{Constraint, Layout, Rect};

use super::{LiveView, Overlay, Screen};

/// What the live view keeps of the frame between draws.
#[derive(Debug)]
pub(super) struct FrameState {
    /// Detail pane chosen with `d`; None: shown when the terminal is tall enough.
    pub(super) show_detail: Option<bool>,
    /// Whether the last layout showed the detail pane.
    pub(super) detail_shown: bool,
    /// Rows of the list on screen at the last layout (the paging keys' step).
    pub(super) viewport: usize,
}

impl Default for FrameState {
    fn default() -> Self {
        FrameState {
            show_detail: None,
            detail_shown: false,
            viewport: 20,
        }
    }
}

/// A frame's regions, top to bottom (a region the frame has no room for is empty).
#[derive(Debug, Clone, Copy)]
pub struct Regions {
    /// Source, table, interval and state marks.
    pub header: Rect,
    /// The table tabs and breadcrumb (8 lines tall and more).
    pub tabs: Rect,
    /// The screen on show: the tree, hot view, findings, Services, path view or traces.
    pub main: Rect,
    /// The selected row's detail.
    pub detail: Rect,
    /// Key hints, a message, a prompt.
    pub status: Rect,
}

impl LiveView {
    /// The detail pane's height in a frame of `area`: 8 lines when asked for (`d`) and
    /// there is room, or when the terminal is tall; the path and Services views are
    /// tables of their own, with no row of the tree to detail.
    fn detail_height(&self, area: Rect) -> u16 {
        match self.frame.show_detail {
            _ if matches!(self.screen, Screen::Path | Screen::Services) => 0,
            Some(true) if area.height >= 14 => 8,
            None if area.height >= 30 => 8,
            _ => 0,
        }
    }

    /// The regions of a frame of `area`.
    pub fn regions(&self, area: Rect) -> Regions {
        let tall = area.height >= 8;
        let [header, tabs, main, detail, status] = area.layout(&Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(if tall { 1 } else { 0 }),
            Constraint::Fill(1),
            Constraint::Length(self.detail_height(area)),
            Constraint::Length(if area.height >= 3 { 1 } else { 0 }),
        ]));
        Regions {
            header,
            tabs,
            main,
            detail,
            status,
        }
    }

    /// Fits the view to a frame of `area`, before it is drawn: whether the detail pane
    /// shows, the list's height, the selection scrolled into view, and what the screen
    /// on show draws built once.
    pub fn layout(&mut self, area: Rect) {
        if area.height == 0 || area.width == 0 {
            return;
        }
        if let Some(Overlay::Help(s)) = self.overlay {
            // scrolled no further than its last line
            let note = self.selected_chain_note();
            let (lines, _) = crate::ui::help::lines(area.width, note.as_ref());
            // the drawing ends a help without a note in a blank line
            let n = lines.len() + usize::from(note.is_none());
            let s = crate::ui::help::clamp_scroll(s, n, area.height);
            self.overlay = Some(Overlay::Help(s));
        }
        self.frame.detail_shown = self.detail_height(area) > 0;
        let h = self.regions(area).main.height as usize;
        // a list's first line is its column titles
        let list = h.saturating_sub(1).max(1);
        let polled = self.table_data().snap.is_some();
        match self.screen {
            Screen::Tree if polled => {
                self.frame.viewport = list;
                self.ensure_visible();
            }
            Screen::Hot if polled => {
                self.hot_rows();
                self.frame.viewport = list;
            }
            Screen::Tree | Screen::Hot => {}
            Screen::Findings | Screen::Trace => self.frame.viewport = list,
            Screen::Services => {
                self.frame.viewport = h.max(1);
                self.fit_services(h);
            }
            Screen::Path => {
                self.frame.viewport = h.max(1);
                if self.path.width != area.width {
                    self.path.width = area.width;
                    self.path.lines.take();
                }
            }
        }
    }

    /// Rows of the list on screen at the last layout: what the paging keys move by.
    pub fn viewport(&self) -> usize {
        self.frame.viewport
    }

    /// Sets the list's height until the next layout (a view driven without a frame).
    pub fn set_viewport(&mut self, rows: usize) {
        self.frame.viewport = rows;
    }

    /// Whether the last layout showed the detail pane.
    pub fn detail_shown(&self) -> bool {
        self.frame.detail_shown
    }

    /// What fills the main area.
    pub fn screen(&self) -> Screen {
        self.screen
    }

    /// Shows `screen` (the first one, `--view path`).
    pub fn start_on(&mut self, screen: Screen) {
        self.screen = screen;
    }

    /// What is drawn over the screen, if anything.
    pub fn overlay(&self) -> Option<&Overlay> {
        self.overlay.as_ref()
    }

    /// The note on the chain of the selected row (the chain itself, or the chain a rule
    /// sits in, or the one it jumps to), for the help: `(chain, note)`.
    pub fn selected_chain_note(&self) -> Option<(String, crate::explain::notes::Note)> {
        if self.screen != Screen::Tree {
            return None;
        }
        let t = self.table_data().table()?;
        let row = self.selected_row()?;
        let mut chains = vec![row.chain()];
        if let Some(j) = row.jump {
            chains.insert(0, j);
        }
        chains.into_iter().find_map(|c| {
            let name = &t.chains[c].name;
            crate::explain::notes::about(&t.name, name).map(|n| (name.to_string(), n.clone()))
        })
    }

    /// How far the help is scrolled (the drawing keeps it within the lines).
    pub fn help_scroll(&self) -> u16 {
        match self.overlay {
            Some(Overlay::Help(s)) => s,
            _ => 0,
        }
    }

    /// The help is shown.
    pub fn shows_help(&self) -> bool {
        matches!(self.overlay, Some(Overlay::Help(_)))
    }

    /// The search prompt has the keyboard.
    pub fn searching(&self) -> bool {
        self.overlay == Some(Overlay::Search)
    }

    /// A prompt has the keyboard (search or trace): keys type into it.
    pub fn typing(&self) -> bool {
        matches!(
            self.overlay,
            Some(Overlay::Search | Overlay::TracePrompt(_))
        )
    }
}
