//! Starting the `iptables` child cheaply: `clone(CLONE_VM | CLONE_VFORK)`, as glibc's
//! posix_spawn does, with `setns` into the network namespace in the child when asked.
//! A fork (what `Command::pre_exec` needs) copies iptop's page tables and makes every
//! page it touches copy-on-write until the child execs: at 10k rules that was a quarter
//! of iptop's own CPU per poll. Only the child ever enters the namespace.
//!
//! The child runs on its own stack in iptop's memory until `execve`: it makes only
//! system calls (setns, setpgid, prctl, dup2, setrlimit, sigaction, sigprocmask, execve,
//! write, _exit), allocates nothing and touches nothing but what was prepared for it.
//!
//! The child leads its own process group, so that a timed-out iptables is killed with
//! whatever it started (a modprobe, a wrapper script's children); and it dies with
//! iptop (PR_SET_PDEATHSIG), which the terminal's Ctrl-C no longer reaches it for.
//!
//! Its stdout and stderr are in-memory files (memfd), not pipes: iptables writes a 10 MB
//! listing without ever waiting for iptop, and iptop sleeps until the child exits, then
//! reads each file in one go, instead of waking to drain a pipe every few hundred KiB.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use nix::libc;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;

/// A running child: its pid, the in-memory files that take its stdout and stderr, and a
/// pidfd to await its exit. Dropping it before it was reaped kills and reaps it: no zombies.
pub struct Spawned {
    pub pid: Pid,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// Readable when the child exits (None on kernels without pidfd_open).
    pidfd: Option<AsyncFd<OwnedFd>>,
    reaped: bool,
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in an argument"))
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// An anonymous in-memory file (close-on-exec in iptop; the child gets it by dup2),
/// sealed once the child is done (see [`super::text::from_memfd`]).
fn memfd(name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    use nix::sys::memfd::{MFdFlags, memfd_create};
    memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING).map_err(io::Error::from)
}

/// Reads what the child wrote into one of its output files, up to `cap` bytes, from the
/// start (the child's writes moved the shared offset, so this reads by position).
pub fn read_output(fd: &OwnedFd, cap: usize) -> io::Result<Vec<u8>> {
    let size = nix::sys::stat::fstat(fd).map_err(io::Error::from)?.st_size;
    let want = usize::try_from(size).unwrap_or(usize::MAX).min(cap);
    let mut buf = vec![0u8; want];
    let mut have = 0;
    while have < want {
        let at = libc::off_t::try_from(have).unwrap_or(libc::off_t::MAX);
        match nix::sys::uio::pread(fd, &mut buf[have..], at) {
            Ok(0) => break,
            Ok(n) => have += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    buf.truncate(have);
    Ok(buf)
}

/// Starts `program` with `args`, the environment plus `LC_ALL=C`, stdin from /dev/null,
/// stdout and stderr into in-memory files (read once it has exited: iptop does not wake
/// while it writes), each capped at `max_output` bytes (RLIMIT_FSIZE: a child that
/// writes more is stopped by SIGXFSZ); inside `netns` (a namespace fd) when given.
pub fn spawn(
    program: &Path,
    args: &[String],
    netns: Option<RawFd>,
    max_output: u64,
) -> io::Result<Spawned> {
    // Everything the child needs, prepared before it exists.
    let path = cstring(program.as_os_str())?;
    let mut argv_c = vec![path.clone()];
    for a in args {
        argv_c.push(cstring(OsStr::new(a))?);
    }
    let mut env_c: Vec<CString> = Vec::new();
    for (k, v) in std::env::vars_os() {
        if k == "LC_ALL" {
            continue;
        }
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        if let Ok(c) = CString::new(kv) {
            env_c.push(c);
        }
    }
    env_c.push(CString::new("LC_ALL=C").map_err(|_| io::Error::other("env"))?);
    let argv: Vec<*const libc::c_char> = argv_c
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp: Vec<*const libc::c_char> = env_c
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let out = memfd(c"iptables-stdout")?;
    let err = memfd(c"iptables-stderr")?;
    // the child writes its errno here when it cannot exec; closed by the exec (CLOEXEC)
    let (fail_r, fail_w) = pipe()?;
    let devnull = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(io::Error::from)?;
    let mut stack = vec![0u8; 64 * 1024];

    let (null_fd, out_fd, err_fd, fail_fd) = (
        devnull.as_raw_fd(),
        out.as_raw_fd(),
        err.as_raw_fd(),
        fail_w.as_raw_fd(),
    );
    let fsize = libc::rlimit {
        rlim_cur: max_output,
        rlim_max: max_output,
    };
    let ns_fd = netns.unwrap_or(-1);
    let (path_p, argv_p, envp_p) = (path.as_ptr(), argv.as_ptr(), envp.as_ptr());

    // No signal handler may run in the child while it shares iptop's memory.
    // SAFETY: sigset_t is plain data; pthread_sigmask only reads/writes the given sets.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    let child = Box::new(move || -> isize {
        // SAFETY (whole block): runs in the vfork child before exec; only system calls on
        // values prepared above, no allocation, no unwinding.
        unsafe fn fail(fd: RawFd) -> ! {
            // SAFETY: errno of this thread, then a write of 4 bytes and _exit.
            unsafe {
                let e: i32 = *libc::__errno_location();
                libc::write(fd, (&e as *const i32).cast(), 4);
                libc::_exit(127)
            }
        }
        unsafe {
            if ns_fd >= 0 && libc::setns(ns_fd, libc::CLONE_NEWNET) != 0 {
                fail(fail_fd);
            }
            if libc::setpgid(0, 0) != 0
                || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
            {
                fail(fail_fd);
            }
            if libc::dup2(null_fd, 0) < 0 || libc::dup2(out_fd, 1) < 0 || libc::dup2(err_fd, 2) < 0
            {
                fail(fail_fd);
            }
            // this process only (CLONE_VM without CLONE_THREAD: its own limits)
            if libc::setrlimit(libc::RLIMIT_FSIZE, &fsize) != 0 {
                fail(fail_fd);
            }
            // iptop's handlers must not run in iptables: back to the defaults
            for sig in 1..65 {
                let mut sa: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut sa) == 0
                    && sa.sa_sigaction != libc::SIG_DFL
                    && sa.sa_sigaction != libc::SIG_IGN
                {
                    let mut dfl: libc::sigaction = std::mem::zeroed();
                    dfl.sa_sigaction = libc::SIG_DFL;
                    libc::sigaction(sig, &dfl, std::ptr::null_mut());
                }
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            libc::execve(path_p, argv_p, envp_p);
            fail(fail_fd)
        }
    });
    // SAFETY: CLONE_VM | CLONE_VFORK: this thread waits until the child has exec'd or
    // exited, so everything the child uses stays alive and unmoved until then.
    let res = unsafe {
        nix::sched::clone(
            child,
            &mut stack,
            nix::sched::CloneFlags::CLONE_VM | nix::sched::CloneFlags::CLONE_VFORK,
            Some(libc::SIGCHLD),
        )
    };
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    drop((fail_w, devnull, stack, argv, envp, argv_c, env_c, path));
    let pid = res.map_err(io::Error::from)?;
    let mut s = Spawned {
        pid,
        stdout: out,
        stderr: err,
        pidfd: None,
        reaped: false,
    };
    let mut errno = [0u8; 4];
    if nix::unistd::read(&fail_r, &mut errno).unwrap_or(0) == 4 {
        let _ = s.reap_blocking();
        return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno)));
    }
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd >= 0 {
        // SAFETY: a fresh fd owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        // SAFETY: an OwnedFd keeps its fd open and unchanged while the AsyncFd owns it.
        s.pidfd =
            unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok();
    }
    Ok(s)
}

/// How the child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Spawned {
    fn reap_blocking(&mut self) -> io::Result<Exit> {
        loop {
            match waitpid(self.pid, None) {
                Ok(st) => {
                    if let Some(e) = exit_of(st) {
                        self.reaped = true;
                        return Ok(e);
                    }
                }
                Err(nix::Error::EINTR) => continue,
                Err(e) => {
                    self.reaped = true;
                    return Err(e.into());
                }
            }
        }
    }

    /// Waits for the child to exit, without blocking the runtime. Cancel-safe: dropping
    /// the future leaves the child to a later `wait` (or to `Drop`).
    pub async fn wait(&mut self) -> io::Result<Exit> {
        loop {
            match &self.pidfd {
                Some(afd) => {
                    let mut guard = afd.readable().await?;
                    guard.clear_ready();
                }
                // no pidfd (kernel < 5.3): poll the child's state
                None => tokio::time::sleep(Duration::from_millis(2)).await,
            }
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(nix::Error::EINTR) => {}
                Ok(st) => {
                    if let Some(e) = exit_of(st) {
                        self.reaped = true;
                        return Ok(e);
                    }
                }
                Err(e) => {
                    self.reaped = true;
                    return Err(e.into());
                }
            }
        }
    }

    /// Kills the child, and every process of its group, and reaps it.
    pub fn kill_and_reap(&mut self) {
        if !self.reaped {
            // Until it is reaped the child's pid (the group's id) cannot be reused.
            let _ = killpg(self.pid, Signal::SIGKILL);
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = self.reap_blocking();
        }
    }
}

fn exit_of(st: WaitStatus) -> Option<Exit> {
    match st {
        WaitStatus::Exited(_, code) => Some(Exit::Code(code)),
        WaitStatus::Signaled(_, sig, _) => Some(Exit::Signal(sig as i32)),
        _ => None,
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_child_runs_in_the_c_locale_with_the_rest_of_the_environment() {
        let mut child = spawn(Path::new("/usr/bin/env"), &[], None, 1 << 20).expect("spawn");
        assert!(matches!(child.wait().await, Ok(Exit::Code(0))));
        let out =
            String::from_utf8(read_output(&child.stdout, 1 << 20).expect("read")).expect("utf-8");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("LC_ALL="))
                .collect::<Vec<_>>(),
            [&"LC_ALL=C"],
            "{out}"
        );
        if let Ok(path) = std::env::var("PATH") {
            assert!(lines.contains(&format!("PATH={path}").as_str()), "{out}");
        }
    }
}
