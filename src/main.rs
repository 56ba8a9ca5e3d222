//! The `iptop` binary: options in, exit code out. Everything else lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    one_malloc_arena();
    // a panic's message may quote outside text: written escaped
    iptop::sanitize::install_panic_hook();
    let cli = match iptop::config::cli_from_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            iptop::sanitize::eprint_line(&format!("iptop: {e}"));
            return ExitCode::from(e.exit_code());
        }
    };
    match iptop::run::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            iptop::sanitize::eprint_line(&format!("iptop: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}

/// iptop's threads (the runtime's, the kernel reader's, the parse's) hand big buffers to
/// each other, and glibc gives each thread an arena of its own that keeps what was freed
/// in it: at 50k rules, 30 MB more resident memory for no speed. So one arena, unless
/// `MALLOC_ARENA_MAX` says otherwise.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first in main, before any thread starts; mallopt only sets an
        // option of the allocator
        unsafe {
            nix::libc::mallopt(nix::libc::M_ARENA_MAX, 1);
        }
    }
}
