//! The trace pane (`T`, with `--trace EXPR` or `t`): the last traced packets (time,
//! summary, verdict and where), how many were seen; Enter shows one packet's path step
//! by step. `t` opens a prompt for the expression: Enter starts or changes the trace (the
//! poller ends the old one and makes the new one), Enter on an empty line stops it. The
//! rows of the last traced packet's path are marked in the tree ([`LiveView::traced_path`]).

use std::collections::VecDeque;

use super::LiveView;
use crate::model::{FirewallTable, SourceKind};
use crate::source::trace::{Step, TracedPacket};
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
    /// The user moved off the newest packet (up, or to the top): the selection stays on
    /// the packet picked while new ones arrive, until the bottom is reached again.
    pub pinned: bool,
    /// Showing the selected packet's path.
    pub open: bool,
}

impl TracePane {
    /// Takes one packet (the oldest goes past `KEEP`); the newest is at the end.
    pub fn push(&mut self, p: TracedPacket, seen: u64, lost: u64) {
        let follow = !self.pinned && self.selected + 1 >= self.packets.len();
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

/// The row `r` hangs under.
fn parent_of<'a>(rows: &'a [TreeRow], r: &TreeRow) -> Option<&'a TreeRow> {
    rows.get(r.parent? as usize)
}

/// The rule a chain's row is shown under (its chain's name and position): the jump
/// above it, or through a verdict map's element, the map's rule. None for a root.
fn caller_of<'a>(t: &'a FirewallTable, rows: &[TreeRow], r: &TreeRow) -> Option<(&'a str, usize)> {
    let mut up = parent_of(rows, r)?;
    loop {
        let RowKind::Rule { chain, rule } = up.kind else {
            return None;
        };
        let c = t.chains.get(chain)?;
        if c.native.as_ref().is_some_and(|n| n.vmap) {
            up = parent_of(rows, up)?;
            continue;
        }
        return Some((&c.name, rule + 1));
    }
}

/// The step that jumped (or went) to step `i`'s chain last before it: its chain and
/// rule position.
fn step_caller(p: &TracedPacket, i: usize) -> Option<(&str, Option<usize>)> {
    let s = &p.steps[i];
    p.steps[..i]
        .iter()
        .rev()
        .find(|j| {
            j.target.as_deref() == Some(s.chain.as_str())
                && j.table == s.table
                && j.family == s.family
        })
        .map(|j| (j.chain.as_str(), j.rule))
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

    /// A traced packet arrived, with how many were seen and how often events were lost:
    /// into the pane, and the path view drawn again with its marks.
    pub fn on_traced(&mut self, p: TracedPacket, seen: u64, lost: u64) {
        self.trace.push(p, seen, lost);
        self.path.lines.take();
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
        if crate::source::trace::legacy_only(self.source.backend, backends) {
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

    /// Is `r` (a row of `rows`) on path `p`: its rule matched, or (a verdict row) the
    /// chain's policy or end decided? A chain shown under several callers is on the path
    /// only under the caller the packet jumped from (the step before the jump names it);
    /// a verdict map's element, where its map's rule sent the packet.
    pub fn traced_row(p: &TracedPacket, t: &FirewallTable, rows: &[TreeRow], r: &TreeRow) -> bool {
        let (chain, num) = match r.kind {
            RowKind::Rule { chain, rule } => (chain, Some(rule + 1)),
            RowKind::Verdict { chain } => (chain, None),
            _ => return false,
        };
        let Some(c) = t.chains.get(chain) else {
            return false;
        };
        let here = |s: &Step| s.table == t.name && family_fits(t, &s.family);
        if c.native.as_ref().is_some_and(|n| n.vmap) {
            // an element: its map's rule on the path, and the packet sent where it goes
            let (Some(num), Some(parent)) = (num, parent_of(rows, r)) else {
                return false;
            };
            let RowKind::Rule {
                chain: pc,
                rule: pr,
            } = parent.kind
            else {
                return false;
            };
            let target = c.rules.get(num - 1).map(|x| x.spec.target.as_str());
            let map_rule = t.chains.get(pc).map(|x| &*x.name);
            return Self::traced_row(p, t, rows, parent)
                && p.steps.iter().any(|s| {
                    here(s)
                        && Some(s.chain.as_str()) == map_rule
                        && s.rule == Some(pr + 1)
                        && s.target.as_deref() == target
                });
        }
        let caller = caller_of(t, rows, r);
        p.steps.iter().enumerate().any(|(i, s)| {
            s.chain == *c.name
                && here(s)
                && match num {
                    Some(n) => s.rule == Some(n),
                    None => s.rule.is_none() && matches!(s.kind, "policy" | "return"),
                }
                && match (caller, step_caller(p, i)) {
                    (Some(row), Some(step)) => row.0 == step.0 && Some(row.1) == step.1,
                    // a root, or a jump the trace did not report: as the rule says
                    _ => true,
                }
        })
    }

    pub(super) fn apply_trace(&mut self, action: Action) {
        let last = self.trace.packets.len().saturating_sub(1);
        let page = self.frame.viewport;
        let t = &mut self.trace;
        let s = &mut t.selected;
        // moving up pins the packet picked; reaching the bottom follows the newest again
        match action {
            Action::Up => (*s, t.pinned) = (s.saturating_sub(1), true),
            Action::Top => (*s, t.pinned) = (0, true),
            Action::PageUp => (*s, t.pinned) = (s.saturating_sub(page), true),
            Action::ScrollUp(k) => (*s, t.pinned) = (s.saturating_sub(k), true),
            Action::Down => *s = (*s + 1).min(last),
            Action::Bottom => *s = last,
            Action::PageDown => *s = (*s + page).min(last),
            Action::ScrollDown(k) => *s = (*s + k).min(last),
            Action::Drill | Action::Expand => t.open = !t.open,
            Action::Back if t.open => t.open = false,
            Action::ToggleTrace | Action::Back => self.screen = Screen::Tree,
            _ => self.apply_common(action),
        }
        let t = &mut self.trace;
        if matches!(
            action,
            Action::Down | Action::Bottom | Action::PageDown | Action::ScrollDown(_)
        ) && t.selected == last
        {
            t.pinned = false;
        }
    }
}
