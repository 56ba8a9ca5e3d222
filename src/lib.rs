//! iptop: live iptables chains as a collapsible jump tree with per-rule deltas and rates.
//!
//! The data flows source → parse → model (snapshot) → diff → tree → ui / report.

pub mod model;
pub mod parse;
