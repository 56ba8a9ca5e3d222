//! `--netns NAME|PATH`: the namespace file, opened only when it is a network namespace.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

use super::start::StartError;

/// The namespace file for `--netns NAME|PATH`.
pub fn netns_path(spec: &str) -> String {
    if spec.contains('/') {
        spec.to_string()
    } else {
        format!("/run/netns/{spec}")
    }
}

/// Opens a namespace file and checks that it is a network namespace. Never blocks (a
/// fifo is refused, not opened), and a namespace of another kind is named as such even
/// where the kernel refuses to open it.
pub fn open_netns(spec: &str) -> Result<OwnedFd, StartError> {
    let path = netns_path(spec);
    let not_netns = || StartError::NotNetns(path.clone());
    if other_namespace_kind(Path::new(&path)) {
        return Err(not_netns());
    }
    let open_err = |err: nix::Error| match err {
        nix::Error::ENOENT => StartError::NoNetns {
            name: spec.to_string(),
            path: path.clone(),
        },
        err => StartError::NetnsOpen {
            name: spec.to_string(),
            path: path.clone(),
            err,
            hint: if matches!(err, nix::Error::EACCES | nix::Error::EPERM)
                && !nix::unistd::geteuid().is_root()
            {
                " (run iptop as root)"
            } else {
                ""
            },
        },
    };
    // Namespace files are regular (empty) files: anything else is refused before it is
    // opened, and O_NONBLOCK covers a fifo swapped in meanwhile.
    let st = nix::sys::stat::stat(path.as_str()).map_err(open_err)?;
    if st.st_mode & nix::libc::S_IFMT != nix::libc::S_IFREG {
        return Err(not_netns());
    }
    let fd = open(
        path.as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
        Mode::empty(),
    )
    .map_err(open_err)?;
    // NS_GET_NSTYPE = _IO(0xb7, 0x3): which kind of namespace the file is.
    const NS_GET_NSTYPE: nix::libc::c_ulong = 0xb703;
    // SAFETY: the ioctl takes no argument and only reads the fd's namespace type.
    let kind = unsafe { nix::libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _) };
    if kind != nix::libc::CLONE_NEWNET {
        return Err(not_netns());
    }
    Ok(fd)
}

/// `/proc/PID/ns/pid` and its kin: procfs names a namespace file by its kind.
fn other_namespace_kind(path: &Path) -> bool {
    const OTHERS: [&str; 9] = [
        "cgroup",
        "ipc",
        "mnt",
        "pid",
        "pid_for_children",
        "time",
        "time_for_children",
        "user",
        "uts",
    ];
    path.starts_with("/proc")
        && path.parent().and_then(Path::file_name) == Some("ns".as_ref())
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| OTHERS.contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netns_paths() {
        assert_eq!(netns_path("swarm-host"), "/run/netns/swarm-host");
        assert_eq!(netns_path("/proc/1/ns/net"), "/proc/1/ns/net");
    }

    #[test]
    fn netns_errors() {
        assert!(matches!(
            open_netns("iptop-no-such-ns"),
            Err(StartError::NoNetns { .. })
        ));
        assert!(matches!(
            open_netns("/proc/self/ns/uts"),
            Err(StartError::NotNetns(_))
        ));
        assert!(matches!(
            open_netns("/etc/hostname"),
            Err(StartError::NotNetns(_))
        ));
        assert!(open_netns("/proc/self/ns/net").is_ok());
        assert!(matches!(
            open_netns("/proc/1/ns/pid"),
            Err(StartError::NotNetns(_))
        ));
    }
}
