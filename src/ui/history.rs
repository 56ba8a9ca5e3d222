//! Rate history of the rules that moved, for the sparkline, the heat of moved rows and
//! the hot view.

use std::collections::VecDeque;
use std::time::Duration;

/// Rate samples kept per rule for the sparkline.
pub const HISTORY: usize = 60;
/// Polls over which a moved row's highlight fades.
pub const HEAT_POLLS: u64 = 3;

/// Rate history of one rule that moved. Only polls in which it moved are recorded; the
/// idle polls since then are zeros, filled in when read, so an idle rule costs nothing
/// per poll.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Packets per second up to the poll `moved_at`, oldest first.
    samples: VecDeque<f32>,
    /// Poll number of the last movement.
    pub moved_at: Option<u64>,
    /// Source time ([`crate::model::Snapshot::at`]) of the last movement.
    pub moved_time: Duration,
}

impl History {
    /// Records a movement at poll `poll` (after the last one).
    pub(super) fn moved(&mut self, poll: u64, at: Duration, rate: f32) {
        if let Some(m) = self.moved_at {
            let idle = poll.saturating_sub(m + 1).min(HISTORY as u64) as usize;
            self.samples.extend(std::iter::repeat_n(0.0, idle));
        }
        self.samples.push_back(rate);
        let extra = self.samples.len().saturating_sub(HISTORY);
        self.samples.drain(..extra);
        self.moved_at = Some(poll);
        self.moved_time = at;
    }

    /// Packets per second over the last [`HISTORY`] polls up to poll `now`, oldest first.
    pub fn rates(&self, now: u64) -> Vec<f32> {
        let idle = self
            .moved_at
            .map_or(0, |m| now.saturating_sub(m).min(HISTORY as u64) as usize);
        let mut out: Vec<f32> = self.samples.iter().copied().collect();
        out.resize(out.len() + idle, 0.0);
        out.split_off(out.len().saturating_sub(HISTORY))
    }

    /// The highest rate over the same polls.
    pub fn peak(&self, now: u64) -> f32 {
        self.rates(now).into_iter().fold(0.0, f32::max)
    }
}
