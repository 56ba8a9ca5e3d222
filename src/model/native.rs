//! What a native nftables table adds to the model: a chain's base-chain settings, a
//! rule's handle, its text as `nft` prints it, whether it counts at all, and where it
//! jumps. iptables-nft's own tables are read as iptables tables and carry none of it.

use std::sync::Arc;

/// A chain of a native table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NativeChain {
    /// The chain's handle in its table (0 for a verdict map's stand-in chain).
    pub handle: u64,
    /// Base chains only: `filter`, `nat`, `route`.
    pub base: Option<BaseChain>,
    /// The chain stands for a verdict map (named `@name`, or a rule's anonymous
    /// `vmap { ... }`): its rules are the map's elements, each going where its verdict
    /// says. Not a chain of the kernel's.
    pub vmap: bool,
}

/// A base chain's hook registration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BaseChain {
    pub kind: String,
    pub hook: String,
    pub priority: i64,
    /// `accept` or `drop` as nft prints it.
    pub policy: String,
}

/// A rule of a native table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NativeRule {
    /// The rule's handle (0 for a verdict map's element).
    pub handle: u64,
    /// The rule as `nft -a list ruleset` prints it, without its counter's numbers
    /// (`counter` stays) and without `# handle N`.
    pub text: Arc<str>,
    /// The rule has a `counter` statement: without one it has no numbers at all, never 0.
    pub has_counter: bool,
    /// The chains the rule jumps or goes to: one for `jump`/`goto`, one per element of
    /// a verdict map (named or anonymous), in element order.
    pub jumps_to: Vec<String>,
    /// Every counter of a rule that has more than one, in order (the last is the rule's
    /// own); empty otherwise.
    pub counters: Vec<super::Counter>,
    /// The rule matches on something: an expression besides its counters, `log` and its
    /// verdict. An unconditional rule takes every packet that reaches it.
    pub conditional: bool,
}

/// Packets a trace (`--trace`) saw match each rule of a native table that has no
/// counter, by (chain, rule) index: what the traced packets did where nothing counts.
pub type Traced = std::collections::HashMap<(usize, usize), u64>;

/// The netfilter families nftables knows, as `nft` spells them.
pub const FAMILIES: [&str; 6] = ["ip", "ip6", "inet", "arp", "bridge", "netdev"];

/// The tables iptables-nft makes: an `ip`/`ip6` table named like an iptables table
/// (`filter`, `nat`, `mangle`, `raw`, `security`) is shown as iptables shows it.
pub fn is_iptables_table(family: &str, name: &str) -> bool {
    matches!(family, "ip" | "ip6") && super::TABLES.contains(&name)
}
