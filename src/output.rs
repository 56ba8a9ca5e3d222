//! Where `-o` sends output: `-` is stdout; a character device (`/dev/null`,
//! `/dev/stdout`, a terminal) or a FIFO is written into as it is, without `--force`, when
//! it is root's, iptop's user's or the sudo user's (a FIFO with its reader already); a
//! regular file is created whole and never replaced unasked ([`crate::files`]); a
//! directory, a socket or a block device is refused with one line.

use std::fs::File;
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};

/// A destination for `-o`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    Stdout,
    /// A character device or a FIFO: opened and written into, never created or replaced.
    Stream(PathBuf),
    /// A regular file (or a name not taken yet): written whole, beside it, then named.
    File(PathBuf),
}

impl Dest {
    /// What `path` names. A directory, a socket or a block device is an error whose
    /// message completes "cannot write PATH: ".
    pub fn of(path: &Path) -> Result<Dest, String> {
        if path.as_os_str() == "-" {
            return Ok(Dest::Stdout);
        }
        // follows links: /dev/stdout is one
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(Dest::File(path.to_path_buf()));
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            return Err("it is a directory; give a file name in it (-o DIR/report.json)".into());
        }
        if ft.is_char_device() || ft.is_fifo() {
            return Ok(Dest::Stream(path.to_path_buf()));
        }
        if ft.is_block_device() {
            return Err("it is a block device (a disk); iptop does not write to disks".into());
        }
        if ft.is_socket() {
            return Err("it is a socket; use a FIFO or `-o -` with a pipe".into());
        }
        Ok(Dest::File(path.to_path_buf()))
    }

    /// Opens a destination for a stream of lines (`--stream`): stdout, a device or FIFO,
    /// or a new regular file (mode 0600, never through a symlink; an existing one only
    /// with `force`, then truncated).
    pub fn open_stream(&self, force: bool) -> io::Result<Box<dyn Write + Send>> {
        match self {
            Dest::Stdout => Ok(Box::new(io::stdout())),
            Dest::Stream(p) => Ok(Box::new(open_special(p)?)),
            Dest::File(p) => {
                let mut flags = OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_NOCTTY
                    | OFlag::O_CLOEXEC;
                flags |= if force { OFlag::O_TRUNC } else { OFlag::O_EXCL };
                let fd = nix::fcntl::open(p.as_path(), flags, Mode::from_bits_truncate(0o600))
                    .map_err(|e| match e {
                        nix::errno::Errno::EEXIST => io::Error::new(
                            ErrorKind::AlreadyExists,
                            "file exists (use --force to overwrite)",
                        ),
                        nix::errno::Errno::ELOOP => io::Error::new(
                            ErrorKind::PermissionDenied,
                            "it is a symbolic link (iptop does not write through links)",
                        ),
                        e => e.into(),
                    })?;
                let f = File::from(fd);
                if !f.metadata()?.is_file() {
                    return Err(io::Error::new(
                        ErrorKind::InvalidInput,
                        "not a regular file",
                    ));
                }
                Ok(Box::new(f))
            }
        }
    }
}

/// Opens a device or FIFO found at `path` for writing: only root's, iptop's own user's
/// or the sudo user's (another user's FIFO would hand them the firewall), reached only
/// through links such owners made. A FIFO must have its reader (waited for up to a
/// second, never forever). Checked again after the open: a regular file or directory
/// swapped in meanwhile is refused before a byte is written (no O_CREAT, no O_TRUNC:
/// nothing is created or cut).
fn open_special(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::MetadataExt;
    let refuse = |why: String| io::Error::new(ErrorKind::PermissionDenied, why);
    links_trusted(path)?;
    let meta = std::fs::metadata(path)?;
    let fifo = meta.file_type().is_fifo();
    let what = if fifo { "a FIFO" } else { "a device" };
    if !crate::files::trusted_owner(meta.uid()) {
        return Err(refuse(format!(
            "it is {what} owned by uid {}, not by root or you: iptop does not hand the firewall to another user",
            meta.uid()
        )));
    }
    let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let waited_until = Instant::now() + Duration::from_secs(1);
    let fd = loop {
        match nix::fcntl::open(path, flags, Mode::empty()) {
            Ok(fd) => break fd,
            // a FIFO without a reader yet: one started beside iptop gets a moment
            Err(Errno::ENXIO) if fifo && Instant::now() < waited_until => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(Errno::ENXIO) if fifo => {
                return Err(io::Error::new(
                    ErrorKind::NotConnected,
                    "it is a FIFO nobody reads (start its reader first)",
                ));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let st = nix::sys::stat::fstat(&fd).map_err(io::Error::from)?;
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    if kind != SFlag::S_IFCHR && kind != SFlag::S_IFIFO {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "it changed while iptop opened it (no longer a device or FIFO)",
        ));
    }
    if !crate::files::trusted_owner(st.st_uid) {
        return Err(refuse(format!(
            "it changed owner while iptop opened it (uid {})",
            st.st_uid
        )));
    }
    // writes wait for the reader from here on, as they would have without -o
    let now = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let blocking = OFlag::from_bits_truncate(now) - OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(blocking)).map_err(io::Error::from)?;
    Ok(File::from(fd))
}

/// Refuses a path reached through a symbolic link another user made (`fw.json ->
/// /dev/watchdog` planted in a sticky directory); root's own (`/dev/stdout`) are fine.
fn links_trusted(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        let Ok(m) = p.symlink_metadata() else {
            // not there (or a magic link's `pipe:[N]`): the open says what is wrong
            return Ok(());
        };
        if !m.file_type().is_symlink() {
            return Ok(());
        }
        if !crate::files::trusted_owner(m.uid()) {
            return Err(io::Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "it is a symbolic link owned by uid {}, not by root or you: not followed",
                    m.uid()
                ),
            ));
        }
        let target = std::fs::read_link(&p)?;
        p = match p.parent() {
            Some(dir) if target.is_relative() => dir.join(target),
            _ => target,
        };
    }
    Err(io::Error::from_raw_os_error(nix::libc::ELOOP))
}

/// Writes one whole output (`--once`) to `path` as `-o` asks.
pub fn write(path: &Path, data: &[u8], force: bool) -> Result<(), String> {
    let fail = |e: String| format!("cannot write {}: {e}", path.display());
    match Dest::of(path).map_err(fail)? {
        Dest::Stdout => write_stdout(data),
        Dest::Stream(p) => open_special(&p)
            .and_then(|mut f| f.write_all(data).and_then(|_| f.flush()))
            .or_else(ignore_broken_pipe)
            .map_err(|e| fail(e.to_string())),
        Dest::File(p) => {
            crate::files::write_new_file(&p, data, force).map_err(|e| fail(e.to_string()))
        }
    }
}

/// Writes to stdout; a reader that went away (`iptop --once | head`) is fine.
pub fn write_stdout(data: &[u8]) -> Result<(), String> {
    let mut stdout = io::stdout().lock();
    stdout_written(stdout.write_all(data).and_then(|_| stdout.flush()))
}

/// What writing to stdout came to: a reader that went away (`iptop --once | head`) is
/// fine; anything else is said.
pub fn stdout_written(r: io::Result<()>) -> Result<(), String> {
    r.or_else(ignore_broken_pipe)
        .map_err(|e| format!("cannot write to stdout: {e}"))
}

fn ignore_broken_pipe(e: io::Error) -> io::Result<()> {
    if e.kind() == ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(Dest::of(Path::new("-")), Ok(Dest::Stdout));
        assert_eq!(
            Dest::of(Path::new("/dev/null")),
            Ok(Dest::Stream("/dev/null".into()))
        );
        let dir = tempfile::tempdir().expect("tmp");
        let e = Dest::of(dir.path()).unwrap_err();
        assert!(e.contains("directory"), "{e}");
        let f = dir.path().join("x.json");
        assert_eq!(Dest::of(&f), Ok(Dest::File(f.clone())));
    }

    #[test]
    fn special_written_without_force_file_never_replaced() {
        write(Path::new("/dev/null"), b"x", false).expect("/dev/null");
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("x.json");
        write(&f, b"one", false).expect("new file");
        let e = write(&f, b"two", false).unwrap_err();
        assert!(e.contains("--force"), "{e}");
        let e = write(dir.path(), b"two", true).unwrap_err();
        assert!(e.contains("is a directory"), "{e}");
        assert_eq!(std::fs::read(&f).expect("read"), b"one");
    }

    #[test]
    fn stream_file_is_private_and_not_through_links() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("s.ndjson");
        let mut w = Dest::of(&f)
            .expect("dest")
            .open_stream(false)
            .expect("open");
        w.write_all(b"{}\n").expect("write");
        drop(w);
        let mode = std::fs::metadata(&f).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(Dest::of(&f).expect("dest").open_stream(false).is_err());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &link).expect("symlink");
        let e = match Dest::of(&link).expect("dest").open_stream(true) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("wrote through a symlink"),
        };
        assert!(e.contains("symbolic link"), "{e}");
    }
}
