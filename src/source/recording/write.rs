//! Writing a recording: the session header and each poll.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::native::{self, NativeRecorder};
use super::{MAGIC, MAGIC_PREFIX};
use crate::model::{Backend, IpFamily, SourceInfo};
use crate::source::{Failure, RawPoll};

/// Appends polls to a recording file, which it holds locked (one recorder per file).
pub struct Recorder {
    file: Arc<Mutex<File>>,
}

impl Recorder {
    /// Opens (creating or appending; see [`crate::files::open_recording`] for what is
    /// refused) and locks the file, without writing to it yet: a file iptop may not
    /// record into is refused before anything runs.
    pub fn open(path: &Path) -> io::Result<Recorder> {
        Ok(Recorder {
            file: Arc::new(Mutex::new(crate::files::open_recording(
                path,
                MAGIC_PREFIX,
            )?)),
        })
    }

    /// Writes the native tables read beside each poll into the same file.
    pub fn native(&self) -> NativeRecorder {
        NativeRecorder::new(self.file.clone())
    }

    /// Starts a session: its header, with the source's description.
    pub fn start_session(&mut self, info: &SourceInfo) -> io::Result<()> {
        let mut file = native::lock(&self.file);
        let mut head = String::new();
        if !crate::files::ends_in_newline(&file)? {
            // the last session was cut mid-line: its broken line stays its own
            head.push('\n');
        }
        head.push_str(&header(info));
        file.write_all(head.as_bytes())
    }

    pub fn write_poll(&mut self, poll: &RawPoll) -> io::Result<()> {
        let mut file = native::lock(&self.file);
        file.write_all(encode_poll(poll).as_bytes())?;
        file.flush()
    }
}

pub fn header(info: &SourceInfo) -> String {
    let mut s = format!("{MAGIC}\n");
    let fields = [
        ("kind", Some(info.kind.as_str())),
        ("host", Some(info.host.as_str())),
        ("netns", info.netns.as_deref()),
        ("backend", info.backend.map(Backend::as_str)),
        ("binary", Some(info.binary.as_str())),
        ("family", info.family.map(IpFamily::as_str)),
        ("version", Some(info.version.as_str())),
    ];
    for (k, v) in fields {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            let _ = writeln!(s, "@source {k} {}", one_line(v));
        }
    }
    s
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

pub fn encode_poll(poll: &RawPoll) -> String {
    let size: usize = poll.listings.iter().map(|l| l.stdout.len() + 64).sum();
    let mut s = String::with_capacity(size + 64);
    // every line written ends in exactly one newline: `lines` counts them for `@end`
    let mut lines = 1;
    let _ = writeln!(
        s,
        "@poll {} t={:.3} at={}",
        poll.seq,
        poll.at.as_secs_f64(),
        rfc3339(poll.taken_at)
    );
    for l in &poll.listings {
        let _ = write!(s, "@listing {}", l.table);
        if let Some(b) = l.backend {
            let _ = write!(s, " backend={b}");
        }
        if l.absent {
            s.push_str(" absent");
        }
        if l.written {
            s.push_str(" written");
        }
        match (&l.failure, l.status) {
            (Some(f), _) => {
                let _ = write!(s, " failure={}", encode_failure(f));
            }
            (None, Some(st)) => {
                let _ = write!(s, " status={st}");
            }
            (None, None) => {}
        }
        let _ = writeln!(s, " took={:.6}", l.took.as_secs_f64());
        lines += 1;
        for line in l.stderr.lines() {
            let _ = writeln!(s, "@stderr {line}");
            lines += 1;
        }
        let body = l.stdout.strip_suffix('\n');
        for line in body.unwrap_or(&l.stdout).split('\n') {
            if l.stdout.is_empty() {
                break;
            }
            if line.starts_with(['@', '#']) {
                s.push('@');
            }
            s.push_str(line);
            s.push('\n');
            lines += 1;
        }
        if body.is_none() && !l.stdout.is_empty() {
            s.push_str("@cut\n");
            lines += 1;
        }
    }
    let _ = writeln!(s, "@end {lines}");
    s
}

fn encode_failure(f: &Failure) -> String {
    match f {
        Failure::NotFound(b) => format!("notfound:{b}"),
        Failure::Spawn(_) => "spawn".into(),
        Failure::Timeout(d) => format!("timeout:{:.3}", d.as_secs_f64()),
        Failure::Signal(s) => format!("signal:{s}"),
        Failure::TooLarge(n) => format!("toolarge:{n}"),
        Failure::Denied(_) => "denied".into(),
        Failure::Damaged(_) => "damaged".into(),
        Failure::Kernel(_) => "kernel".into(),
    }
}
