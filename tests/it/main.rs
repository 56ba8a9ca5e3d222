//! The integration tests, one binary (each module is one former `tests/NAME.rs`).
//!
//! Tests that need root (network namespaces, real iptables, mounts, another user's files)
//! are `#[ignore = "needs root: ..."]`: as a normal user `cargo test --release` passes and
//! counts them as ignored; as root, `cargo test --release -- --include-ignored` runs them.

mod common;

mod architecture;
mod backends;
mod bounded;
mod churn;
mod cli;
mod derived_numbers;
mod docker;
mod e2e_lab;
mod explain;
mod export;
mod faults;
mod files;
mod findings_lab;
mod findings_tui;
mod fuzz_regressions;
mod hostile;
mod hostile_files;
mod hostile_names;
mod hostile_text;
mod kernel_source;
mod kernel_truth;
mod kube_nft;
mod legacy_written;
mod live_lab;
mod metrics;
mod native_findings;
mod native_kernel;
mod native_nft;
mod native_replay;
mod nft_written;
mod output;
mod parse_fixtures;
mod pastes;
mod processes;
mod readme;
mod readme_lab;
mod recordings;
mod schema;
mod screens;
mod service_limits;
mod services;
mod spared_reads;
mod stream;
mod terminal;
mod trace_lab;
mod tui_tmux;
mod verdicts_lab;
mod widths;
mod written;
