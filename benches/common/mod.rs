//! What the benches that run against a prepared namespace share: their flags and the
//! median of their samples.

use std::time::Duration;

/// The command line: `--name value` flags.
pub struct Args(Vec<String>);

impl Args {
    /// The flags; None (after saying what to run) when `cargo bench` runs this bench
    /// without `--netns`: it needs root and a loaded ruleset, which `script` prepares.
    pub fn from_env(bench: &str, script: &str) -> Option<Args> {
        let args: Vec<String> = std::env::args().collect();
        if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--netns") {
            println!("{bench}: run {script} (needs root and a loaded ruleset)");
            return None;
        }
        Some(Args(args))
    }

    /// The value after `name`, or `default`.
    pub fn get(&self, name: &str, default: &str) -> String {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    }
}

pub fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}
