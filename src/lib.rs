//! iptop: live iptables chains as a collapsible jump tree with per-rule deltas and rates.
//!
//! The data flows source → parse → model (snapshot) → diff → tree → ui / report:
//! - [`source`] runs `iptables` (or replays a file) and yields raw listings,
//! - [`parse`] turns a listing into a [`model::Table`],
//! - [`diff`] matches rules between two snapshots by identity and computes deltas,
//! - [`tree`] lays the chains out as a tree that follows jumps,
//! - [`report`] and [`ui`] show it.

pub mod app;
pub mod cli;
pub mod columns;
pub mod diff;
pub mod docker;
pub mod explain;
pub mod files;
pub mod format;
pub mod model;
pub mod parse;
pub mod report;
pub mod sanitize;
pub mod source;
pub mod synth;
pub mod tree;
pub mod ui;
