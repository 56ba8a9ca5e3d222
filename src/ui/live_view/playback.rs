//! The poll schedule as the live view knows it: the interval chosen and the one in use,
//! paused or stepped, a replay and whether it ended, the last poll's time.

use std::time::{Duration, SystemTime};

use super::LiveView;

/// The live view's poll schedule.
#[derive(Debug, Clone)]
pub struct Playback {
    /// The interval the user chose (the poller may stretch it).
    pub interval: Duration,
    pub paused: bool,
    /// A replay started with `--step`: `.` asks for the next poll.
    pub step_mode: bool,
    /// A replay or the demo, not live polls.
    pub replay: bool,
    /// Stretched interval in use, when polls are slow.
    pub effective_interval: Option<Duration>,
    /// The replay reached its end.
    pub ended: bool,
    /// When the last poll was taken, and how long it took.
    pub last_poll: Option<(SystemTime, Duration)>,
}

impl Playback {
    pub(super) fn new(interval: Duration, replay: bool) -> Playback {
        Playback {
            interval,
            paused: false,
            step_mode: false,
            replay,
            effective_interval: None,
            ended: false,
            last_poll: None,
        }
    }
}

impl LiveView {
    /// The poll schedule.
    pub fn playback(&self) -> &Playback {
        &self.playback
    }

    /// A replay stepped with `.` (`--step`).
    pub fn set_step_mode(&mut self, on: bool) {
        self.playback.step_mode = on;
    }

    /// The poller stretched the interval (polls are slow), or went back to it (None).
    pub fn on_stretched(&mut self, to: Option<Duration>) {
        self.playback.effective_interval = to;
    }

    /// The replay reached its end.
    pub fn on_ended(&mut self) {
        self.playback.ended = true;
    }
}
