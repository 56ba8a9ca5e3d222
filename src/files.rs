//! Files iptop writes, often as root, in directories others may write to: an output
//! (`-o`, the export key) appears whole or not at all and never replaces anything
//! unasked; a recording is appended to only when it is one, is this user's own regular
//! file reached without a symlink, and no other iptop records into it.

use std::fs::File;
use std::io::{self, Error, ErrorKind, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};

fn exists_error() -> Error {
    Error::new(
        ErrorKind::AlreadyExists,
        "file exists (use --force to overwrite)",
    )
}

/// Writes a file atomically and, unless `force`, never replaces an existing one. The
/// data goes into an unnamed file (O_TMPFILE) in the target's directory that gets its
/// name only once complete: an iptop killed mid-write leaves nothing behind.
pub fn write_new_file(path: &Path, data: &[u8], force: bool) -> io::Result<()> {
    if let Ok(meta) = std::fs::metadata(path) {
        if !force {
            return Err(exists_error());
        }
        if !meta.is_file() {
            // a device or FIFO (`-o` writes into those through `output::Dest`): renaming
            // over it would replace the node, and writing into another's is not asked
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "it is not a regular file",
            ));
        }
    } else if !force && path.symlink_metadata().is_ok() {
        // a dangling symlink: do not write through it
        return Err(exists_error());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "not a file name"))?;
    match nix::fcntl::open(
        &dir,
        OFlag::O_TMPFILE | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        // firewall rules are for root's eyes: readable by the owner only
        Mode::from_bits_truncate(0o600),
    ) {
        Ok(fd) => {
            let mut f = File::from(fd);
            f.write_all(data)?;
            f.sync_all()?;
            if !force {
                // fails if the name appeared meanwhile, never replaces it
                return link_unnamed(&f, path);
            }
            let tmp = link_beside(&f, &dir, &name.to_string_lossy())?;
            std::fs::rename(&tmp, path).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })
        }
        // filesystems without O_TMPFILE (some network and FUSE ones)
        Err(Errno::EOPNOTSUPP | Errno::EISDIR | Errno::EINVAL) => {
            write_named_temporary(path, &dir, &name.to_string_lossy(), data, force)
        }
        Err(e) => Err(e.into()),
    }
}

/// Gives the unnamed file `f` the name `to`; fails if `to` exists.
fn link_unnamed(f: &File, to: &Path) -> io::Result<()> {
    let by_proc = format!("/proc/self/fd/{}", f.as_raw_fd());
    let r = match nix::unistd::linkat(
        AT_FDCWD,
        by_proc.as_str(),
        AT_FDCWD,
        to,
        AtFlags::AT_SYMLINK_FOLLOW,
    ) {
        // no /proc: linking the descriptor itself needs CAP_DAC_READ_SEARCH
        Err(Errno::ENOENT) if !Path::new("/proc/self/fd").exists() => {
            nix::unistd::linkat(f.as_fd(), "", AT_FDCWD, to, AtFlags::AT_EMPTY_PATH)
        }
        r => r,
    };
    match r {
        Ok(()) => Ok(()),
        Err(Errno::EEXIST) => Err(exists_error()),
        Err(e) => Err(e.into()),
    }
}

/// Names the complete unnamed file `f` `.NAME.PID.tmp` in `dir` (for a rename over an
/// existing file); that name lives only for the rename.
fn link_beside(f: &File, dir: &Path, name: &str) -> io::Result<PathBuf> {
    for n in 0..100 {
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match link_unnamed(f, &tmp) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            r => return r.map(|()| tmp),
        }
    }
    Err(exists_error())
}

/// The way without O_TMPFILE: a named temporary file (removed if anything fails), then a
/// link (never replacing) or, with `force`, a rename.
fn write_named_temporary(
    path: &Path,
    dir: &Path,
    name: &str,
    data: &[u8],
    force: bool,
) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        // firewall rules are for root's eyes: readable by the owner only
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    let persisted = if force {
        tmp.persist(path)
    } else {
        // fails if the name appeared meanwhile, never replaces it
        tmp.persist_noclobber(path)
    };
    persisted.map(drop).map_err(|e| {
        if e.error.kind() == ErrorKind::AlreadyExists {
            exists_error()
        } else {
            e.error
        }
    })
}

/// The user who started iptop through sudo (`SUDO_UID`), when iptop runs as root.
pub fn invoking_uid() -> Option<u32> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    std::env::var("SUDO_UID").ok()?.parse().ok()
}

/// Whether a file owned by `uid` is one iptop may hand what it reads: root's, its own
/// user's, or that of the user who ran sudo.
pub fn trusted_owner(uid: u32) -> bool {
    uid == 0 || uid == nix::unistd::geteuid().as_raw() || invoking_uid() == Some(uid)
}

/// Opens a file of another user's (or one that must stay theirs) for reading, as root
/// may have to (the sudo user's config): `Ok(None)` when it is not there. Every
/// directory on the way down from `/` is owned by one of `owners` (or root) and not
/// writable by group or others (unless sticky, as /tmp); a symbolic link on the way
/// must be theirs too, and is followed by this same walk; the file itself must be a
/// regular file, not a link when `!follow_last` (checked before it is opened: a device
/// or FIFO is never opened). The error is one line that says what was refused and
/// never anything of what the file holds.
pub fn open_owned(path: &Path, owners: &[u32], follow_last: bool) -> Result<Option<File>, String> {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    use std::path::Component;
    let trusted = |uid: u32| uid == 0 || owners.contains(&uid);
    let dir_ok = |fd: &OwnedFd, shown: &Path| -> Result<(), String> {
        let st = nix::sys::stat::fstat(fd).map_err(|e| e.to_string())?;
        if !trusted(st.st_uid) {
            return Err(format!(
                "directory {} is owned by uid {}, not by its user or root: not read",
                shown.display(),
                st.st_uid
            ));
        }
        if st.st_mode & 0o022 != 0 && st.st_mode & 0o1000 == 0 {
            return Err(format!(
                "directory {} is writable by group or others (mode {:o}): not read",
                shown.display(),
                st.st_mode & 0o7777
            ));
        }
        Ok(())
    };
    if !path.is_absolute() {
        return Err("not an absolute path: not read".into());
    }
    let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let root = nix::fcntl::open("/", dir_flags, Mode::empty()).map_err(|e| e.to_string())?;
    dir_ok(&root, Path::new("/"))?;
    // the directories walked into, with the path shown for each
    let mut stack: Vec<(OwnedFd, PathBuf)> = vec![(root, PathBuf::from("/"))];
    let mut todo: VecDeque<OsString> = VecDeque::new();
    let push_front = |todo: &mut VecDeque<OsString>, p: &Path| {
        for c in p.components().rev() {
            if let Component::Normal(n) = c {
                todo.push_front(n.to_os_string());
            } else if c == Component::ParentDir {
                todo.push_front("..".into());
            }
        }
    };
    push_front(&mut todo, path);
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        let last = todo.is_empty();
        let (cur, cur_path) = stack.last().expect("the root stays");
        let shown = cur_path.join(&name);
        let st = match nix::sys::stat::fstatat(cur, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
        {
            Ok(st) => st,
            // not there, or where this user may not look: no file
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::EACCES) => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", shown.display())),
        };
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        if kind == SFlag::S_IFLNK {
            if last && !follow_last {
                return Err("it is a symbolic link: not read (iptop, as root, does not follow a link to another user's config)".into());
            }
            if !trusted(st.st_uid) {
                return Err(format!(
                    "{} is a symbolic link owned by uid {}, not by its user or root: not read",
                    shown.display(),
                    st.st_uid
                ));
            }
            links += 1;
            if links > 40 {
                return Err("too many symbolic links: not read".into());
            }
            let target = PathBuf::from(
                nix::fcntl::readlinkat(cur, name.as_os_str()).map_err(|e| e.to_string())?,
            );
            if target.is_absolute() {
                stack.truncate(1);
            }
            push_front(&mut todo, &target);
            continue;
        }
        if last {
            if kind != SFlag::S_IFREG {
                return Err("not a regular file: not read".into());
            }
            let fd = nix::fcntl::openat(
                cur,
                name.as_os_str(),
                OFlag::O_RDONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_NONBLOCK
                    | OFlag::O_NOCTTY
                    | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| e.to_string())?;
            let st = nix::sys::stat::fstat(&fd).map_err(|e| e.to_string())?;
            if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
                return Err("not a regular file: not read".into());
            }
            return Ok(Some(File::from(fd)));
        }
        if kind != SFlag::S_IFDIR {
            return Ok(None);
        }
        let fd = match nix::fcntl::openat(cur, name.as_os_str(), dir_flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::EACCES) => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", shown.display())),
        };
        dir_ok(&fd, &shown)?;
        stack.push((fd, shown));
    }
    Err("not a file name: not read".into())
}

/// Why a recording file was refused (the message completes "cannot record into FILE:").
fn refuse(why: &str) -> Error {
    Error::new(ErrorKind::PermissionDenied, why.to_string())
}

/// Opens `path` to append a recording to it, creating it (mode 0600) if it does not
/// exist, and locks it for as long as the file stays open. Refused: a symbolic link, a
/// file that is not a regular one, another user's file, a non-empty file that is not a
/// recording (`magic` is how one starts), a file another iptop records into.
pub fn open_recording(path: &Path, magic: &str) -> io::Result<File> {
    // Look before opening: opening a device or a fifo can block or do something.
    if let Ok(m) = path.symlink_metadata() {
        if m.file_type().is_symlink() {
            return Err(refuse(
                "it is a symbolic link (iptop does not write through links)",
            ));
        }
        if !m.is_file() {
            return Err(refuse("it is not a regular file"));
        }
    }
    let fd: OwnedFd = nix::fcntl::open(
        path,
        OFlag::O_RDWR
            | OFlag::O_APPEND
            | OFlag::O_CREAT
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| match e {
        // swapped in between the look and the open
        Errno::ELOOP => refuse("it is a symbolic link (iptop does not write through links)"),
        Errno::EISDIR | Errno::ENXIO => refuse("it is not a regular file"),
        e => e.into(),
    })?;
    let st = nix::sys::stat::fstat(&fd).map_err(Error::from)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(refuse("it is not a regular file"));
    }
    let me = nix::unistd::geteuid().as_raw();
    if st.st_uid != me {
        return Err(refuse(&format!(
            "it is owned by another user (uid {}, iptop runs as uid {me})",
            st.st_uid
        )));
    }
    // SAFETY: flock on a valid fd; the lock goes with the file when it is closed.
    if unsafe { nix::libc::flock(fd.as_raw_fd(), nix::libc::LOCK_EX | nix::libc::LOCK_NB) } != 0 {
        let e = Error::last_os_error();
        return Err(if e.kind() == ErrorKind::WouldBlock {
            Error::new(ErrorKind::WouldBlock, "another iptop is recording into it")
        } else {
            e
        });
    }
    let file = File::from(fd);
    // Locked: nobody else appends while this looks at what is there.
    if st.st_size > 0 {
        let mut head = vec![0u8; magic.len()];
        let n = read_at_most(&file, &mut head, 0)?;
        if n < magic.len() || head != magic.as_bytes() {
            return Err(refuse(&format!(
                "it is not an iptop recording (it does not start with `{}`); iptop appends only to recordings",
                magic.trim()
            )));
        }
    }
    Ok(file)
}

/// Reads from `at` until `buf` is full or the file ends; how much it read.
fn read_at_most(f: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Whether a non-empty file ends in a newline (a recording cut mid-line does not).
pub fn ends_in_newline(f: &File) -> io::Result<bool> {
    let size = f.metadata()?.len();
    if size == 0 {
        return Ok(true);
    }
    let mut last = [0u8; 1];
    Ok(read_at_most(f, &mut last, size - 1)? == 1 && last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_file_whole_and_never_replaced() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("out.txt");
        write_new_file(&p, b"one", false).expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"one");
        let e = write_new_file(&p, b"two", false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        write_new_file(&p, b"three", true).expect("force");
        assert_eq!(std::fs::read(&p).expect("read"), b"three");
        // only the file itself: no temporary name left
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
    }

    /// The way for filesystems without O_TMPFILE, taken directly.
    #[test]
    fn named_temporary_whole_and_never_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("out.txt");
        write_named_temporary(&p, dir.path(), "out.txt", b"one", false).expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"one");
        let e = write_named_temporary(&p, dir.path(), "out.txt", b"two", false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).expect("read"), b"one");
        write_named_temporary(&p, dir.path(), "out.txt", b"three", true).expect("force");
        assert_eq!(std::fs::read(&p).expect("read"), b"three");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
        // readable by the owner only, as the O_TMPFILE way makes it
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
