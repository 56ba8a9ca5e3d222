//! The `iptop` binary: options in, exit code out. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = iptop::cli::Cli::parse();
    match iptop::run::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            iptop::sanitize::eprint_line(&format!("iptop: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}
