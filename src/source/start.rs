//! Why a live source cannot start.

/// Why the live source cannot start at all.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "`{0}` not found on PATH (it lives in /usr/sbin: run iptop with sudo; or install iptables, or try --demo / --replay FILE)"
    )]
    NotFound(String),
    /// `--iptables PATH` that is no executable file.
    #[error("`{0}` (--iptables) does not exist or is not an executable file")]
    NoBinary(String),
    #[error(
        "network namespace `{name}` not found ({path} does not exist; `ip netns list` shows the names)"
    )]
    NoNetns { name: String, path: String },
    #[error("cannot open network namespace `{name}` ({path}): {err}{hint}")]
    NetnsOpen {
        name: String,
        path: String,
        err: nix::Error,
        hint: &'static str,
    },
    #[error("`{0}` is not a network namespace")]
    NotNetns(String),
}
