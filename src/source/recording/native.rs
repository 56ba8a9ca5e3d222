//! The native nftables tables of a recording: written after each poll they were read
//! beside, as `nft -a list ruleset` prints them with their counters.

use std::fs::File;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::model::FirewallTable;

/// The recording file, locked (a recorder that panicked mid-write leaves it usable).
pub(super) fn lock(file: &Mutex<File>) -> MutexGuard<'_, File> {
    file.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes each poll's native tables into the recording its poll went to.
#[derive(Clone)]
pub struct NativeRecorder {
    file: Arc<Mutex<File>>,
}

impl std::fmt::Debug for NativeRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NativeRecorder")
    }
}

impl NativeRecorder {
    pub(super) fn new(file: Arc<Mutex<File>>) -> NativeRecorder {
        NativeRecorder { file }
    }

    /// Writes `tables` as the `@native` block of the poll written last.
    pub fn write(&self, tables: &[FirewallTable]) -> io::Result<()> {
        let text = crate::parse::nft::text::render(tables);
        let mut file = lock(&self.file);
        file.write_all(encode_native(&text).as_bytes())?;
        file.flush()
    }
}

/// `@native`, the text (a line starting with `@` or `#` escaped with one more `@`),
/// and `@end N` (N: the block's lines, its `@native` line included).
pub fn encode_native(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 32);
    s.push_str("@native\n");
    let mut lines = 1;
    for line in text.lines() {
        if line.starts_with(['@', '#']) {
            s.push('@');
        }
        s.push_str(line);
        s.push('\n');
        lines += 1;
    }
    s.push_str(&format!("@end {lines}\n"));
    s
}
