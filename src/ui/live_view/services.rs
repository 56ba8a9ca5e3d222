//! kube-proxy's Services in the live view (`K`): the grouping of `--view services`
//! ([`crate::explain::services`], [`crate::explain::kube_nft`]) over the last poll of nat
//! and of `ip kube-proxy`, with the window the Δ columns show (the last poll, or since
//! the baseline `z`).

use std::time::SystemTime;

use super::{Action, LiveView, Screen};
use crate::diff::Deltas;
use crate::model::Snapshot;
use crate::report;

/// The Services view's state: its first line shown, and its text for the frame.
#[derive(Debug, Default)]
pub(super) struct ServicesState {
    pub(super) scroll: usize,
    /// The text of the frame being drawn (made by the layout).
    text: Option<String>,
}

impl LiveView {
    /// The Services view's first line shown.
    pub fn services_scroll(&self) -> usize {
        self.services.scroll
    }

    /// The Services view's text as the layout of this frame made it (None: nothing
    /// polled to show yet).
    pub fn services_shown(&self) -> Option<&str> {
        self.services.text.as_deref()
    }

    /// Makes the Services view's text for a frame whose main area is `height` lines,
    /// its scroll kept within it (its lines less a screen).
    pub(super) fn fit_services(&mut self, height: usize) {
        let text = self.services_text();
        if let Some(t) = &text {
            let max = t.lines().count().saturating_sub(height);
            self.services.scroll = self.services.scroll.min(max);
        }
        self.services.text = text;
    }

    /// Keys while the Services view is shown: scrolling, and back.
    pub(super) fn apply_services(&mut self, action: Action) {
        let s = &mut self.services.scroll;
        match action {
            Action::Up => *s = s.saturating_sub(1),
            Action::Down => *s += 1,
            Action::Top => *s = 0,
            Action::Bottom => *s = usize::MAX / 2,
            Action::PageUp => *s = s.saturating_sub(self.frame.viewport),
            Action::PageDown => *s += self.frame.viewport,
            Action::ScrollUp(k) => *s = s.saturating_sub(k),
            Action::ScrollDown(k) => *s += k,
            Action::ToggleServices | Action::Back => self.screen = Screen::Tree,
            _ => self.apply_common(action),
        }
    }

    /// The Services view's text, as `--view services` prints it (without its first
    /// line: the header says where the rules come from). None until nat or kube-proxy's
    /// nftables table (`ip kube-proxy`, `ip6 kube-proxy`) was polled.
    pub fn services_text(&self) -> Option<String> {
        let nft: Vec<&Snapshot> = ["ip kube-proxy", "ip6 kube-proxy"]
            .iter()
            .filter_map(|n| self.tab_of(n))
            .filter_map(|i| self.tables[i].snap.as_deref())
            .collect();
        let Some(nat) = self.tab_of("nat") else {
            // nftables mode only: no counters, so no window either
            nft.first()?;
            let snap = Snapshot::combine(&nft);
            return Some(self.services_of(&snap, None, None));
        };
        let nv = &self.tables[nat];
        let nat_snap = nv.snap.as_deref()?;
        let mut parts: Vec<&Snapshot> = vec![nat_snap];
        // filter's REJECTs of Services without endpoints, when polled with nat
        if let Some(f) = self.tab_of("filter")
            && let Some(fs) = self.tables[f].snap.as_deref()
            && fs.seq == nat_snap.seq
        {
            parts.push(fs);
        }
        parts.extend(nft);
        let snap = Snapshot::combine(&parts);
        let view = nv.shown_deltas();
        let (elapsed, start): (_, Option<SystemTime>) = match &nv.baseline {
            Some(b) => (nat_snap.at.saturating_sub(b.at), Some(b.since)),
            None => (nv.window, nv.window_start),
        };
        let deltas = view.shown.filter(|_| !elapsed.is_zero()).map(|d| Deltas {
            elapsed,
            tables: vec![Some(d.clone())],
        });
        Some(self.services_of(&snap, deltas.as_ref(), start))
    }

    /// `--view services`' text of `snap`, without its first line.
    fn services_of(
        &self,
        snap: &Snapshot,
        deltas: Option<&Deltas>,
        start: Option<SystemTime>,
    ) -> String {
        let input = report::Input {
            snapshot: snap,
            deltas,
            window_start: start,
            source: &self.source,
            roots: &[],
            moved_only: false,
            names: self.names.as_deref(),
            window_note: None,
        };
        let text = report::services::text(&input).unwrap_or_else(|e| e + "\n");
        text.split_once('\n')
            .map_or(text.clone(), |(_, rest)| rest.to_string())
    }
}
