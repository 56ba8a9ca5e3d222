//! The terminal while the live view runs: refused when stdout is not one, and left as
//! it was found on quit, on error, on panic and on every signal that ends iptop.
//!
//! SIGTERM, SIGINT and SIGHUP end the view normally. Every other catchable signal whose
//! default action ends a process (SIGQUIT, SIGUSR1, SIGALRM, real-time signals, ...)
//! also ends the view normally, then ends iptop by that signal, so its parent still sees
//! why. Faults (SIGSEGV, SIGBUS, SIGABRT, ...) cannot wait for the view: a handler
//! writes the restoring escape sequences and the saved terminal mode itself (both
//! async-signal-safe system calls) before the signal takes its course.

use std::io::{self, IsTerminal};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use nix::libc;

use crate::error::AppError;

/// The live view draws escape sequences: into a file or a pipe they are garbage, and
/// the terminal the keys come from would be left raw. Checked before anything else.
pub fn require_terminal() -> Result<(), AppError> {
    if io::stdout().is_terminal() {
        Ok(())
    } else {
        Err(AppError::Runtime(
            "the live view needs a terminal on stdout; to write to a file or a pipe use --once (with --format, -o)".into(),
        ))
    }
}

/// Restores the terminal when dropped: on quit, on error, and (through ratatui's panic
/// hook plus ours) on panic; while it lives, faults restore it too.
pub struct TerminalGuard;

impl TerminalGuard {
    pub fn start() -> Result<(ratatui::DefaultTerminal, TerminalGuard), AppError> {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = execute!(io::stdout(), DisableMouseCapture, crossterm::cursor::Show);
            prev(info);
        }));
        save_mode();
        let terminal = ratatui::try_init()
            .map_err(|e| AppError::Runtime(format!("cannot set up the terminal: {e}")))?;
        let guard = TerminalGuard;
        let _ = execute!(io::stdout(), EnableMouseCapture);
        ACTIVE.store(true, Ordering::SeqCst);
        catch_faults();
        Ok((terminal, guard))
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ACTIVE.store(false, Ordering::SeqCst);
        let _ = execute!(io::stdout(), DisableMouseCapture);
        ratatui::restore();
        let _ = execute!(io::stdout(), crossterm::cursor::Show);
    }
}

/// Signals after which the view ends as if quit (exit 0).
const QUIT: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// Catchable signals whose default action ends the process (SIGPIPE is ignored by
/// Rust programs, SIGKILL and SIGSTOP cannot be caught), plus the real-time ones.
fn ending_signals() -> Vec<libc::c_int> {
    let mut v = QUIT.to_vec();
    v.extend([
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGXCPU,
        libc::SIGXFSZ,
        libc::SIGIO,
        libc::SIGPWR,
        libc::SIGSTKFLT,
    ]);
    v.extend(libc::SIGRTMIN()..=libc::SIGRTMAX());
    v
}

/// Every signal that would end iptop, caught from the moment this is made.
pub struct Signals {
    streams: Vec<(libc::c_int, tokio::signal::unix::Signal)>,
}

impl Signals {
    /// Must be made inside the runtime, before the terminal is touched.
    pub fn catch() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        let mut streams = Vec::new();
        for sig in ending_signals() {
            match signal(SignalKind::from_raw(sig)) {
                Ok(s) => streams.push((sig, s)),
                // one tokio cannot take (SIGRTMAX): it still restores the terminal
                Err(_) => install_fault_handler(sig),
            }
        }
        Signals { streams }
    }

    /// The first signal caught.
    pub async fn recv(mut self) -> libc::c_int {
        if self.streams.is_empty() {
            return std::future::pending().await;
        }
        let waits = self.streams.iter_mut().map(|(sig, s)| {
            let sig = *sig;
            Box::pin(async move {
                match s.recv().await {
                    Some(()) => sig,
                    None => std::future::pending().await,
                }
            })
        });
        futures_util::future::select_all(waits).await.0
    }
}

/// After the view ended on `sig` and the terminal is restored: SIGTERM, SIGINT and
/// SIGHUP end iptop normally; any other ends it by that signal's default action.
pub fn end_by(sig: libc::c_int) {
    if sig == 0 || QUIT.contains(&sig) {
        return;
    }
    // SAFETY: plain system calls on a signal number; the default action ends the
    // process (or, for one that does not, this returns and iptop exits normally).
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
}

/// Whether the view has the terminal (raw, alternate screen, mouse reporting on).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The terminal's mode before the view, and the descriptor it was read from.
static SAVED_MODE: OnceLock<libc::termios> = OnceLock::new();
static MODE_FD: AtomicI32 = AtomicI32::new(-1);

fn save_mode() {
    // the descriptor crossterm puts into raw mode: stdin if it is a terminal
    let fd = if io::stdin().is_terminal() {
        libc::STDIN_FILENO
    } else {
        libc::STDOUT_FILENO
    };
    // SAFETY: tcgetattr writes a termios for a valid descriptor, or fails.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut t) } == 0 {
        let _ = SAVED_MODE.set(t);
        MODE_FD.store(fd, Ordering::SeqCst);
    }
}

/// Mouse reporting off (what crossterm's DisableMouseCapture writes), the normal
/// screen back, the cursor shown.
const RESTORE: &[u8] =
    b"\x1b[?1006l\x1b[?1015l\x1b[?1003l\x1b[?1002l\x1b[?1000l\x1b[?1049l\x1b[?25h";

/// Restores the terminal from a signal handler: only async-signal-safe calls.
fn restore_from_handler() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        // SAFETY: write and tcsetattr are async-signal-safe; RESTORE is static, the
        // saved mode was set before ACTIVE and never changes.
        unsafe {
            libc::write(libc::STDOUT_FILENO, RESTORE.as_ptr().cast(), RESTORE.len());
            if let Some(t) = SAVED_MODE.get() {
                libc::tcsetattr(MODE_FD.load(Ordering::SeqCst), libc::TCSANOW, t);
            }
        }
    }
}

/// Signals raised by faults (or by abort): they cannot wait for the event loop.
const FAULTS: [libc::c_int; 7] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
];

/// What each signal did before (Rust's stack overflow report for SIGSEGV and SIGBUS).
static PREVIOUS: [OnceLock<libc::sigaction>; 65] = [const { OnceLock::new() }; 65];

fn catch_faults() {
    for sig in FAULTS {
        install_fault_handler(sig);
    }
}

fn install_fault_handler(sig: libc::c_int) {
    let Some(slot) = usize::try_from(sig).ok().and_then(|i| PREVIOUS.get(i)) else {
        return;
    };
    if slot.get().is_some() {
        return; // installed already
    }
    // SAFETY: sigaction with a handler that makes only async-signal-safe calls; on the
    // alternate stack Rust sets up, so that a stack overflow can still be handled.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_fault as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigfillset(&mut sa.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, &sa, &mut old) == 0 {
            let _ = slot.set(old);
        }
    }
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    restore_from_handler();
    // SAFETY: only sigaction and raise, on values set before the handler was installed.
    unsafe {
        let previous = usize::try_from(sig)
            .ok()
            .and_then(|i| PREVIOUS.get(i))
            .and_then(|s| s.get());
        match previous {
            Some(old) => libc::sigaction(sig, old, std::ptr::null_mut()),
            None => libc::signal(sig, libc::SIG_DFL) as libc::c_int,
        };
        if info.is_null() || (*info).si_code <= 0 {
            // sent with kill (not a fault that recurs on return): the default action
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
        // a fault: returning repeats it, now with what handled it before (Rust's
        // stack overflow report) or the default action
    }
}
