//! The trace pane (`T`, with `--trace EXPR` or `t`): the last traced packets (time,
//! summary, verdict and where), how many were seen; Enter shows one packet's path step
//! by step. `t` opens a prompt for the expression: Enter starts or changes the trace (the
//! poller ends the old one and makes the new one), Enter on an empty line stops it. The
//! rows of the last traced packet's path are marked in the tree ([`LiveView::traced_path`]).

use std::collections::VecDeque;

use super::LiveView;
use crate::model::{FirewallTable, SourceKind};
use crate::source::trace::TracedPacket;
use crate::tree::{RowKind, TreeRow};
use crate::ui::action::{Action, Command};
use crate::ui::mode::{Overlay, Screen};

/// The prompt takes at most this many characters.
pub const PROMPT_MAX: usize = 400;

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

    /// Another trace (or none): the packets of the one before go.
    fn restart(&mut self, expr: Option<String>) {
        *self = TracePane {
            expr,
            ..TracePane::default()
        };
    }
}

/// A step of family `family` can be in `t` (an iptables table is `ip` or `ip6`'s).
fn family_fits(t: &FirewallTable, family: &str) -> bool {
    match &t.family {
        Some(f) => f == family,
        None => matches!(family, "ip" | "ip6"),
    }
}

impl LiveView {
    /// The trace pane: the traced packets, the one selected.
    pub fn trace(&self) -> &TracePane {
        &self.trace
    }

    /// The trace `--trace EXPR` started before the view (None: none runs).
    pub fn set_trace_expr(&mut self, expr: Option<String>) {
        self.trace.expr = expr;
    }

    /// A traced packet arrived, with how many were seen and how often events were lost.
    pub fn on_traced(&mut self, p: TracedPacket, seen: u64, lost: u64) {
        self.trace.push(p, seen, lost);
    }

    /// The `t` prompt, open: the expression typed so far.
    pub fn trace_prompt(&self) -> Option<&str> {
        match &self.overlay {
            Some(Overlay::TracePrompt(text)) => Some(text),
            _ => None,
        }
    }

    /// `t`: the prompt, prefilled with the running expression.
    pub(super) fn open_trace_prompt(&mut self) {
        let text = self.trace.expr.clone().unwrap_or_default();
        self.overlay = Some(Overlay::TracePrompt(text));
    }

    /// A key while the `t` prompt is open (the search prompt's keys).
    pub(super) fn apply_trace_prompt(&mut self, action: Action) {
        let Some(Overlay::TracePrompt(text)) = self.overlay.as_mut() else {
            return;
        };
        match action {
            Action::SearchInput(c) if text.chars().count() < PROMPT_MAX => text.push(c),
            Action::SearchBackspace => {
                text.pop();
            }
            Action::SearchConfirm => {
                let text = std::mem::take(text);
                self.overlay = None;
                self.ask_trace(text.trim());
            }
            Action::SearchCancel | Action::Back => self.overlay = None,
            _ => {}
        }
    }

    /// Asks the poller for the trace `expr` (empty: stop the one running).
    fn ask_trace(&mut self, expr: &str) {
        if expr.is_empty() {
            if self.trace.expr.is_some() {
                self.pending.commands.push(Command::Trace(None));
                self.message = Some("stopping the trace…".into());
            }
            return;
        }
        if self.source.kind != SourceKind::Live {
            self.message = Some("a replay has no kernel to trace: trace on a live host".into());
            return;
        }
        let listed = self.tables.iter().filter_map(|d| d.snap.as_ref());
        let backends =
            crate::source::trace::backends(listed.map(crate::model::TableSnapshot::table));
        if crate::source::trace::legacy_only(&self.source.backend, backends) {
            self.message = Some(crate::source::trace::LEGACY.replace("--trace", "a trace"));
            return;
        }
        self.pending
            .commands
            .push(Command::Trace(Some(expr.to_string())));
        self.message = Some(format!("starting the trace {expr}…"));
    }

    /// The poller's answer to [`Command::Trace`]: the trace running (or none), or why
    /// it could not start (then none runs: the one before has ended).
    pub fn on_trace(&mut self, r: Result<Option<String>, String>) {
        match r {
            Ok(expr) => {
                self.message = Some(match &expr {
                    Some(e) => format!("tracing {e} (T: the trace pane; t: change or stop)"),
                    None => "trace stopped: its table is gone".into(),
                });
                self.trace.restart(expr);
            }
            Err(e) => {
                self.trace.restart(None);
                self.message = Some(e);
            }
        }
    }

    /// The traced path marked in `t`: the selected packet's in the trace pane (the
    /// newest, unless one was picked) or, when it did not cross `t` (a connection's
    /// later packets skip nat), the newest before it that did.
    pub fn traced_path(&self, t: &FirewallTable) -> Option<&TracedPacket> {
        let sel = self
            .trace
            .selected
            .min(self.trace.packets.len().checked_sub(1)?);
        self.trace.packets.range(..=sel).rev().find(|p| {
            p.steps
                .iter()
                .any(|s| s.table == t.name && family_fits(t, &s.family))
        })
    }

    /// Is `r` on path `p`: its rule matched, or (a verdict row) the chain's policy or
    /// end decided?
    pub fn traced_row(p: &TracedPacket, t: &FirewallTable, r: &TreeRow) -> bool {
        let (chain, num) = match r.kind {
            RowKind::Rule { chain, rule } => (chain, Some(rule + 1)),
            RowKind::Verdict { chain } => (chain, None),
            _ => return false,
        };
        let Some(name) = t.chains.get(chain).map(|c| &*c.name) else {
            return false;
        };
        p.steps.iter().any(|s| {
            s.chain == name
                && s.table == t.name
                && family_fits(t, &s.family)
                && match num {
                    Some(n) => s.rule == Some(n),
                    None => s.rule.is_none() && matches!(s.kind, "policy" | "return"),
                }
        })
    }

    pub(super) fn apply_trace(&mut self, action: Action) {
        let last = self.trace.packets.len().saturating_sub(1);
        let page = self.frame.viewport;
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
            Action::ToggleTrace | Action::Back => self.screen = Screen::Tree,
            _ => self.apply_common(action),
        }
    }
}
