//! Any bytes as a replay file (a recording or a plain listing): reading it and turning
//! up to 50 looped polls into snapshots of filter and nat may fail, never panic.
#![no_main]

use iptop::source::replay::ReplaySource;
use iptop::source::snapshot_from;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(src) = ReplaySource::from_text("fuzz", &text, None) else {
        return;
    };
    let mut src = src.looping(true);
    let filter = ["filter".to_string()];
    let nat = ["nat".to_string()];
    for _ in 0..50 {
        let Some(poll) = src.next_poll() else {
            break;
        };
        let _ = snapshot_from(&poll, &filter);
        let _ = snapshot_from(&poll, &nat);
    }
});
