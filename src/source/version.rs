//! `iptables --version` of every binary the live source runs, asked side by side and in
//! the background: a hanging iptables costs one timeout in all, shared with the first
//! listing (which runs meanwhile), not one timeout per question.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The versions being asked, one per binary, all by one deadline.
pub struct VersionProbe {
    task: JoinHandle<Vec<Option<String>>>,
}

impl VersionProbe {
    /// Asks each of `binaries` for its version now, each killed when `timeout` has
    /// passed since this call. Needs a tokio runtime.
    pub fn start(binaries: Vec<PathBuf>, timeout: Duration) -> VersionProbe {
        let deadline = Instant::now() + timeout;
        let task = tokio::spawn(async move {
            futures_util::future::join_all(binaries.into_iter().map(|path| async move {
                let out = Command::new(&path)
                    .arg("--version")
                    .env("LC_ALL", "C")
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .output();
                match tokio::time::timeout_at(deadline, out).await {
                    Ok(Ok(out)) => Some(String::from_utf8_lossy(&out.stdout).trim().to_string()),
                    _ => None,
                }
            }))
            .await
        });
        VersionProbe { task }
    }

    /// Each binary's answer, in the order given (None: no answer by the deadline, or it
    /// could not run).
    pub async fn finish(mut self) -> Vec<Option<String>> {
        (&mut self.task).await.unwrap_or_default()
    }
}

impl Drop for VersionProbe {
    fn drop(&mut self) {
        // an unfinished probe dropped: its children are killed (kill_on_drop)
        self.task.abort();
    }
}
