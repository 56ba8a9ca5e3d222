//! iptop: live iptables chains as a collapsible jump tree with per-rule deltas and rates.
//!
//! The data flows source → parse → model (snapshot) → diff → tree → ui / report:
//! - [`source`] runs `iptables` (or replays a file) and yields raw listings,
//! - [`parse`] turns a listing into a [`model::FirewallTable`],
//! - [`diff`] matches rules between two snapshots by identity and computes deltas,
//! - [`tree`] lays the chains out as a tree that follows jumps,
//! - [`report`] and [`ui`] show it; [`run`] wires the options ([`cli`]) to a source and
//!   an output.
//!
//! Imports point one way, from [`run`] down to [`model`] (see ARCHITECTURE.md).

pub mod cells;
pub mod choices;
pub mod cli;
pub mod config;
pub mod derive;
pub mod diff;
pub mod docker;
pub mod error;
pub mod explain;
pub mod files;
pub mod flow;
pub mod format;
pub mod look;
pub mod manpage;
pub mod metrics;
pub mod model;
pub mod output;
pub mod parse;
pub mod report;
pub mod run;
pub mod sanitize;
pub mod settings;
pub mod source;
pub mod stream;
#[cfg(any(test, feature = "synth"))]
pub mod synth;
pub mod tree;
pub mod ui;
