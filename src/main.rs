//! The `iptop` binary: options in, exit code out. Everything else lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
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
