//! kube-proxy's Services in the live view (`K`): the grouping of `--view services`
//! ([`crate::explain::services`], [`crate::explain::kube_nft`]) over the last poll of nat
//! and of `ip kube-proxy`, with the window the Δ columns show (the last poll, or since
//! the baseline `z`).

use std::time::SystemTime;

use super::{Action, LiveView, Mode};
use crate::diff::Deltas;
use crate::model::Snapshot;
use crate::report;

/// The Services view's state: its first line shown.
#[derive(Debug, Default)]
pub(super) struct ServicesState {
    pub(super) scroll: usize,
}

impl LiveView {
    /// The Services view's first line shown.
    pub fn services_scroll(&self) -> usize {
        self.services.scroll
    }

    /// Keeps the Services view's scroll within `max` (its lines less a screen).
    pub fn clamp_services_scroll(&mut self, max: usize) {
        self.services.scroll = self.services.scroll.min(max);
    }

    /// Keys while the Services view is shown: scrolling, and back.
    pub(super) fn apply_services(&mut self, action: Action) {
        let s = &mut self.services.scroll;
        match action {
            Action::Up => *s = s.saturating_sub(1),
            Action::Down => *s += 1,
            Action::Top => *s = 0,
            Action::Bottom => *s = usize::MAX / 2,
            Action::PageUp => *s = s.saturating_sub(self.viewport),
            Action::PageDown => *s += self.viewport,
            Action::ScrollUp(k) => *s = s.saturating_sub(k),
            Action::ScrollDown(k) => *s += k,
            Action::ToggleServices | Action::Back => self.mode = Mode::Tree,
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
