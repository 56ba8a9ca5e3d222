//! The firewall as iptop sees it: tables of chains of rules, and a snapshot of all
//! polled tables at one moment. Plain data; no I/O.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

mod callers;
pub mod comments;
mod fell;
mod hash;
pub mod native;
mod one_table;
mod short;
mod source_info;
pub mod suggest;
pub mod text;
pub use callers::Callers;
pub use fell::{Fell, rounding_error};
pub use hash::{IdMap, KeyedBuild, KeyedHasher, StableHasher, hash_str, mix};
pub use one_table::{TableId, TableSnapshot};
pub use short::Short;
pub use source_info::{IpFamily, SourceInfo, SourceKind, Spared};

/// The tables iptables knows, in the order the UI offers them.
pub const TABLES: [&str; 5] = ["filter", "nat", "mangle", "raw", "security"];

/// Which of the two iptables back ends holds a table's rules. Both can hold rules for
/// the same table at once, and the kernel evaluates both sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Backend {
    /// iptables-nft: the rules live in nftables (`nft list ruleset` shows them too).
    Nft,
    /// iptables-legacy: the x_tables interface (`/proc/net/ip_tables_names`).
    Legacy,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Nft => "nft",
            Backend::Legacy => "legacy",
        }
    }

    pub fn parse(s: &str) -> Option<Backend> {
        match s {
            "nft" => Some(Backend::Nft),
            "legacy" => Some(Backend::Legacy),
            _ => None,
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Built-in chains of a table, in the kernel's (and the listing's) order.
pub fn builtin_chains(table: &str) -> &'static [&'static str] {
    match table {
        "filter" | "security" => &["INPUT", "FORWARD", "OUTPUT"],
        "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        "mangle" => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
        "raw" => &["PREROUTING", "OUTPUT"],
        _ => &[],
    }
}

/// A column's text: up to 24 bytes kept inline (`tcp`, `*`, `0.0.0.0/0`, a chain name),
/// so that most columns of a rule cost no allocation of their own. Hashes as `str` does.
pub type Text = compact_str::CompactString;

/// The text columns of a rule: everything but its counters and its number.
///
/// Two rules with the same spec in the same chain are told apart by their order
/// (occurrence); see [`crate::diff`]. Fields hold the text as iptables printed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RuleSpec {
    /// Jump or verdict; empty for a rule without `-j` (a counter-only rule).
    pub target: Text,
    /// The rule uses `-g` (`[goto]` in the listing) rather than `-j`.
    pub goto: bool,
    pub prot: Text,
    pub opt: Text,
    pub in_iface: Text,
    pub out_iface: Text,
    pub source: Text,
    pub destination: Text,
    /// Match and target options (`tcp dpt:80`, `/* comment */`, `to:172.18.0.2:80`).
    pub extra: Text,
}

impl RuleSpec {
    /// A hash of the text columns, the same in every run of iptop.
    pub fn stable_hash(&self) -> u64 {
        let mut h = StableHasher::default();
        self.hash(&mut h);
        h.finish()
    }

    /// A short one-line form, as `iptables -S` users would recognise it.
    pub fn summary(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        for (v, any) in [
            (&self.in_iface, "*"),
            (&self.out_iface, "*"),
            (&self.source, "0.0.0.0/0"),
            (&self.destination, "0.0.0.0/0"),
        ] {
            if !v.is_empty() && v != any && v != "::/0" {
                parts.push(v);
            }
        }
        if !self.extra.is_empty() {
            parts.push(&self.extra);
        }
        parts.join(" ")
    }
}

#[derive(Debug, Clone, Default)]
pub struct Rule {
    /// 1-based position in its chain.
    pub num: u32,
    pub spec: Arc<RuleSpec>,
    /// How many earlier rules of the same chain have the same spec (0 for the first).
    pub occurrence: u32,
    /// Hash of `spec` and `occurrence`: the rule's identity within its chain, stable
    /// across polls while the rule exists, whatever its number.
    pub key: u64,
    /// Index of the user chain the rule jumps (or goes) to; set by [`FirewallTable::link`].
    pub jump: Option<u32>,
    /// A rule of a native nftables table: its handle, text and counter.
    pub native: Option<Arc<native::NativeRule>>,
}

/// A rule's packet and byte counters (kept apart from the rule, which rarely changes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

/// Rules are equal when what they say is: `jump` follows from it.
impl PartialEq for Rule {
    fn eq(&self, o: &Rule) -> bool {
        self.num == o.num
            && self.occurrence == o.occurrence
            && self.key == o.key
            && self.spec == o.spec
            && self.native == o.native
    }
}

impl Eq for Rule {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainKind {
    /// A built-in chain with its policy (`ACCEPT`, `DROP`).
    Builtin { policy: String },
    /// A user chain with the reference count iptables printed (None: not printed or
    /// `ERROR obtaining refs`).
    User { references: Option<u32> },
}

#[derive(Debug, Clone)]
pub struct Chain {
    /// Shared with the same chain of the previous poll.
    pub name: Arc<str>,
    pub kind: ChainKind,
    /// Policy counters of a built-in chain; 0 for user chains.
    pub packets: u64,
    pub bytes: u64,
    /// The rules: shared with the previous poll while none of them changed.
    pub rules: Arc<Vec<Rule>>,
    /// The rules' counters, parallel to `rules`.
    pub counters: Vec<Counter>,
    /// Each rule's listing text after its counters, as printed, in one buffer: the next
    /// poll reuses a rule's parse when its text is unchanged, and compares it here with
    /// one sequential read (see [`crate::parse::parse_table`]).
    pub text: Arc<RuleTexts>,
    /// A chain of a native nftables table: base-chain settings, handle.
    pub native: Option<Arc<native::NativeChain>>,
}

/// Where a chain's lines (header to last rule, without the final `\n`) were in the
/// listing it was parsed from (see [`FirewallTable::listing`]): the next poll takes a chain whose
/// lines are byte for byte the same as it is, counters included, without reading them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChainSpan {
    pub start: usize,
    /// 0: the chain cannot be taken over whole (its lines held something else too).
    pub len: usize,
    /// Lines from the header to the last rule.
    pub lines: usize,
    /// Its counters were all exact (`-x`), and it had counter columns.
    pub exact: bool,
    pub counted: bool,
}

/// Chains are equal when their rules are; `text` follows from them.
impl PartialEq for Chain {
    fn eq(&self, o: &Chain) -> bool {
        self.name == o.name
            && self.kind == o.kind
            && self.packets == o.packets
            && self.bytes == o.bytes
            && self.rules == o.rules
            && self.counters == o.counters
            && self.native == o.native
    }
}

impl Eq for Chain {}

/// The texts of a chain's rules after their counters, back to back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleTexts {
    buf: Vec<u8>,
    ends: Vec<u32>,
    /// The columns the texts were printed in (the chain's title line, encoded): a text
    /// means the same rule only under the same columns.
    pub layout: u64,
}

impl RuleTexts {
    pub fn with_capacity(bytes: usize, rules: usize) -> Self {
        RuleTexts {
            buf: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(rules),
            layout: 0,
        }
    }

    pub fn push(&mut self, text: &str) {
        self.buf.extend_from_slice(text.as_bytes());
        self.ends.push(self.buf.len() as u32);
    }

    fn range(&self, i: usize) -> Option<(usize, usize)> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some((start, end))
    }

    pub fn get(&self, i: usize) -> Option<&str> {
        let (s, e) = self.range(i)?;
        std::str::from_utf8(&self.buf[s..e]).ok()
    }

    /// Is text `i` exactly `text`? (The hot comparison of every poll: bytes only.)
    #[inline]
    pub fn is(&self, i: usize, text: &str) -> bool {
        match self.range(i) {
            Some((s, e)) => e - s == text.len() && self.buf[s..e] == *text.as_bytes(),
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The first `n` texts.
    pub fn prefix(&self, n: usize) -> RuleTexts {
        let n = n.min(self.ends.len());
        let end = if n == 0 { 0 } else { self.ends[n - 1] as usize };
        let mut t = RuleTexts::with_capacity(self.buf.len().max(end), self.ends.len());
        t.buf.extend_from_slice(&self.buf[..end]);
        t.ends.extend_from_slice(&self.ends[..n]);
        t.layout = self.layout;
        t
    }
}

impl Chain {
    /// The counters of rule `i` (zero when out of range).
    pub fn counter(&self, i: usize) -> Counter {
        self.counters.get(i).copied().unwrap_or_default()
    }

    /// Fills in `occurrence` and `key` of every rule from their specs.
    pub fn assign_keys(&mut self) {
        hash::assign_keys(Arc::<Vec<Rule>>::make_mut(&mut self.rules));
    }

    pub fn is_builtin(&self) -> bool {
        matches!(self.kind, ChainKind::Builtin { .. })
    }

    pub fn policy(&self) -> Option<&str> {
        match &self.kind {
            ChainKind::Builtin { policy } => Some(policy),
            ChainKind::User { .. } => None,
        }
    }

    pub fn references(&self) -> Option<u32> {
        match self.kind {
            ChainKind::User { references } => references,
            ChainKind::Builtin { .. } => None,
        }
    }
}

/// The kernel's counters as put on a table: the kernel's chains by name as they were
/// read, each listed chain's place among them, and the counters put on it (shared with
/// the read, so that the next read tells by pointer which chains it changed).
#[derive(Debug, Clone)]
pub struct KernelCounters {
    /// Each kernel chain's place by its name: as many as the kernel held chains.
    pub names: Arc<HashMap<String, usize>>,
    /// Per listed chain: its kernel chain and the kernel's counters put on it (None: a
    /// built-in chain the kernel does not hold, listed without rules).
    pub put: Vec<Option<(usize, Arc<Vec<Counter>>)>>,
}

#[derive(Debug, Clone, Default)]
pub struct FirewallTable {
    pub name: String,
    /// The back end the listing came from (None: not known, e.g. a pasted listing).
    pub backend: Option<Backend>,
    /// A native nftables table's family (`ip`, `inet`, ...); None for an iptables table.
    pub family: Option<String>,
    pub chains: Vec<Arc<Chain>>,
    /// False when some counter was abbreviated (`332K`): the listing lacked `-x`.
    pub exact: bool,
    /// False when the listing had no counter columns at all (`iptables -nL`).
    pub has_counters: bool,
    /// The same chains and rules as the table it was parsed against (only counters
    /// differ): what depends on the rules alone need not be computed again.
    pub same_rules_as_prev: bool,
    /// Lines iptables printed that are not rules (`# Warning: ...`).
    pub warnings: Vec<String>,
    /// Chain name -> position; shared with the previous poll while the chains are the same.
    index: Arc<HashMap<Arc<str>, usize, KeyedBuild>>,
    /// The listing the table was parsed from, when kept (live polls).
    pub listing: Option<Arc<text::ListingText>>,
    /// Where each chain's lines are in `listing` (parallel to `chains` when it is kept).
    pub spans: Vec<ChainSpan>,
    /// The jumps into each chain, built when first asked for ([`FirewallTable::callers`]);
    /// forgotten by every method that changes chains or jumps.
    callers: OnceLock<Arc<Callers>>,
    /// What fell through each chain, by its counters (see `flow`), computed when first
    /// asked for; forgotten with `callers`.
    fell: OnceLock<Arc<Vec<Fell>>>,
    /// What fell through each chain over a window in which nothing moved: it follows
    /// from the rules alone, so it is kept as long as `callers` is (and shared with it).
    fell_still: OnceLock<Arc<Vec<Fell>>>,
    /// The kernel's counters this table holds, as they were put on it
    /// (`source::kernel::apply`); let go by any other change of a chain.
    kernel: Option<Arc<KernelCounters>>,
    /// A native table's rules without counters: the traced packets that matched them
    /// (`--trace`); None without a trace or when none did.
    pub traced: Option<Arc<native::Traced>>,
    /// Counters read less often than polled (the live view, a big legacy table).
    pub spared: Option<Spared>,
}

/// Tables are equal when their listings say the same; the index and the
/// `same_rules_as_prev` hint follow from that.
impl PartialEq for FirewallTable {
    fn eq(&self, o: &FirewallTable) -> bool {
        self.name == o.name
            && self.backend == o.backend
            && self.family == o.family
            && self.chains == o.chains
            && self.exact == o.exact
            && self.has_counters == o.has_counters
            && self.warnings == o.warnings
    }
}

impl Eq for FirewallTable {}

impl FirewallTable {
    pub fn new(name: impl Into<String>) -> Self {
        FirewallTable {
            name: name.into(),
            exact: true,
            has_counters: true,
            ..Default::default()
        }
    }

    /// Traced packets that matched rule `rule` of chain `chain` (a rule without counter
    /// of a native table, `--trace`).
    pub fn traced(&self, chain: usize, rule: usize) -> Option<u64> {
        self.traced.as_ref()?.get(&(chain, rule)).copied()
    }

    /// The jumps into each chain (built on first use, then kept with the table).
    pub fn callers(&self) -> &Callers {
        self.callers
            .get_or_init(|| Arc::new(Callers::of_table(self)))
    }

    /// The cache of what fell through each chain (filled by `flow`).
    pub fn fell_cache(&self) -> &OnceLock<Arc<Vec<Fell>>> {
        &self.fell
    }

    /// Takes `prev`'s callers index if it was built: for a table with the same chains and
    /// rules ([`FirewallTable::same_rules_as_prev`]).
    pub fn share_callers(&self, prev: &FirewallTable) {
        if let Some(c) = prev.callers.get() {
            let _ = self.callers.set(c.clone());
            if let Some(f) = prev.fell_still.get().filter(|_| self.exact == prev.exact) {
                let _ = self.fell_still.set(f.clone());
            }
        }
    }

    /// The cache of what fell through each chain over a window in which nothing moved
    /// (filled by `flow`).
    pub fn fell_still_cache(&self) -> &OnceLock<Arc<Vec<Fell>>> {
        &self.fell_still
    }

    /// Adds a chain; returns false (and adds nothing) if the name is taken.
    pub fn push_chain(&mut self, chain: Chain) -> bool {
        if self.index.contains_key(&chain.name) {
            return false;
        }
        self.kernel = None;
        self.callers = OnceLock::new();
        self.fell = OnceLock::new();
        self.fell_still = OnceLock::new();
        Arc::make_mut(&mut self.index).insert(chain.name.clone(), self.chains.len());
        self.listing = None;
        self.chains.push(Arc::new(chain));
        true
    }

    /// The kernel's counters this table holds ([`KernelCounters`]).
    pub fn kernel_counters(&self) -> Option<&Arc<KernelCounters>> {
        self.kernel.as_ref()
    }

    /// Says which kernel counters the table now holds (after it took them).
    pub fn set_kernel_counters(&mut self, k: Option<Arc<KernelCounters>>) {
        self.kernel = k;
    }

    /// Chain `i` to change (a copy of it if another table shares it). The table no
    /// longer says what its listing says: the listing is let go.
    pub fn chain_mut(&mut self, i: usize) -> &mut Chain {
        self.kernel = None;
        self.listing = None;
        self.callers = OnceLock::new();
        self.fell = OnceLock::new();
        self.fell_still = OnceLock::new();
        Arc::make_mut(&mut self.chains[i])
    }

    /// Chain `i` to change its counters only (a copy of it if another table shares it):
    /// its rules, the jumps and the listing stay; what fell through is computed again.
    pub fn counters_mut(&mut self, i: usize) -> &mut Chain {
        self.kernel = None;
        self.fell = OnceLock::new();
        Arc::make_mut(&mut self.chains[i])
    }

    /// Adds a chain without indexing it; [`FirewallTable::reindex`] or [`FirewallTable::share_index`]
    /// must follow.
    pub(crate) fn push_unindexed(&mut self, chain: Arc<Chain>) {
        self.kernel = None;
        self.callers = OnceLock::new();
        self.fell = OnceLock::new();
        self.fell_still = OnceLock::new();
        self.chains.push(chain);
    }

    /// Indexes the chains; on a name listed twice, returns the position of the second.
    pub(crate) fn reindex(&mut self) -> Result<(), usize> {
        let mut index = HashMap::with_capacity_and_hasher(self.chains.len(), KeyedBuild);
        for (i, c) in self.chains.iter().enumerate() {
            if index.insert(c.name.clone(), i).is_some() {
                return Err(i);
            }
        }
        self.index = Arc::new(index);
        Ok(())
    }

    /// Takes `prev`'s index when the chains are the same, in the same order; returns
    /// whether it could.
    pub(crate) fn share_index(&mut self, prev: &FirewallTable) -> bool {
        let same = prev.chains.len() == self.chains.len()
            && prev.index.len() == prev.chains.len()
            && prev
                .chains
                .iter()
                .zip(&self.chains)
                // a chain that turned from built-in to user (or back) changes where
                // jumps land, though its name did not change
                .all(|(a, b)| a.name == b.name && a.is_builtin() == b.is_builtin());
        if same {
            self.index = prev.index.clone();
        }
        same
    }

    pub fn chain_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chain_index(name).map(|i| &*self.chains[i])
    }

    /// The user chain a rule jumps (or goes) to, if its target is one.
    pub fn jump_target(&self, rule: &Rule) -> Option<usize> {
        rule.jump.map(|j| j as usize)
    }

    /// Resolves every rule's `jump` from its target name.
    pub fn link(&mut self) {
        self.callers = OnceLock::new();
        self.fell = OnceLock::new();
        self.fell_still = OnceLock::new();
        let jumps: Vec<Vec<Option<u32>>> = self
            .chains
            .iter()
            .map(|c| {
                c.rules
                    .iter()
                    .map(|r| self.resolve(&r.spec.target))
                    .collect()
            })
            .collect();
        for (c, js) in self.chains.iter_mut().zip(jumps) {
            if c.rules.iter().zip(&js).any(|(r, j)| r.jump != *j) {
                let c = Arc::make_mut(c);
                for (r, j) in Arc::make_mut(&mut c.rules).iter_mut().zip(js) {
                    r.jump = j;
                }
            }
        }
    }

    /// The index of the user chain called `target`.
    pub fn resolve(&self, target: &str) -> Option<u32> {
        if target.is_empty() {
            return None;
        }
        self.chain_index(target)
            .filter(|&i| !self.chains[i].is_builtin())
            .map(|i| i as u32)
    }

    pub fn rule_count(&self) -> usize {
        self.chains.iter().map(|c| c.rules.len()).sum()
    }
}

/// The polled tables at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Wall-clock time of the poll (for a replay: when it was recorded).
    pub taken_at: SystemTime,
    /// Monotonic time since the source started; deltas divide by differences of it.
    pub at: Duration,
    /// How long the poll took (all tables).
    pub took: Duration,
    pub tables: Vec<FirewallTable>,
    /// Warnings from iptables' stderr and from the listings.
    pub warnings: Vec<String>,
    /// Sequence number of the poll, from 1.
    pub seq: u64,
}

impl Snapshot {
    /// One snapshot of the tables of `parts` (polls of the same moment), their warnings
    /// each once, in order.
    pub fn combine(parts: &[&Snapshot]) -> Snapshot {
        let mut tables = Vec::new();
        let mut warnings: Vec<String> = Vec::new();
        for p in parts {
            tables.extend(p.tables.iter().cloned());
            for w in &p.warnings {
                if !warnings.contains(w) {
                    warnings.push(w.clone());
                }
            }
        }
        let first = parts.first();
        Snapshot {
            taken_at: first.map_or(SystemTime::UNIX_EPOCH, |p| p.taken_at),
            at: first.map_or(Duration::ZERO, |p| p.at),
            took: first.map_or(Duration::ZERO, |p| p.took),
            tables,
            warnings,
            seq: first.map_or(0, |p| p.seq),
        }
    }

    /// The first table called `name` (with both back ends holding it, the nft one).
    pub fn table(&self, name: &str) -> Option<&FirewallTable> {
        self.tables
            .iter()
            .find(|t| t.name == name && t.family.is_none())
    }

    /// The iptables table called `name` from `backend`.
    pub fn table_of(&self, name: &str, backend: Option<Backend>) -> Option<&FirewallTable> {
        self.tables
            .iter()
            .find(|t| t.name == name && t.backend == backend && t.family.is_none())
    }

    /// The table that is `t` in another poll: the same name, back end and family.
    pub fn same_table(&self, t: &FirewallTable) -> Option<&FirewallTable> {
        self.tables
            .iter()
            .find(|o| o.name == t.name && o.backend == t.backend && o.family == t.family)
    }

    /// The back ends of the tables in this snapshot, in order, each once.
    pub fn backends(&self) -> Vec<Backend> {
        let mut v: Vec<Backend> = self.tables.iter().filter_map(|t| t.backend).collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn rule_count(&self) -> usize {
        self.tables.iter().map(FirewallTable::rule_count).sum()
    }
}

/// Friendly name for a protocol column: iptables ≥ 1.8.9 prints numbers with `-n`.
pub fn protocol_name(prot: &str) -> Cow<'_, str> {
    let (neg, p) = match prot.strip_prefix('!') {
        Some(p) => (true, p),
        None => (false, prot),
    };
    let name = match p {
        "0" => "all",
        "1" => "icmp",
        "2" => "igmp",
        "4" => "ipip",
        "6" => "tcp",
        "17" => "udp",
        "41" => "ipv6",
        "47" => "gre",
        "50" => "esp",
        "51" => "ah",
        "58" => "ipv6-icmp",
        "132" => "sctp",
        "136" => "udplite",
        "255" => "raw",
        _ => return Cow::Borrowed(prot),
    };
    if neg {
        Cow::Owned(format!("!{name}"))
    } else {
        Cow::Borrowed(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names() {
        assert_eq!(protocol_name("0"), "all");
        assert_eq!(protocol_name("6"), "tcp");
        assert_eq!(protocol_name("!17"), "!udp");
        assert_eq!(protocol_name("tcp"), "tcp");
        assert_eq!(protocol_name("99"), "99");
    }

    #[test]
    fn builtin_orders() {
        assert_eq!(builtin_chains("filter"), ["INPUT", "FORWARD", "OUTPUT"]);
        assert_eq!(builtin_chains("nat")[0], "PREROUTING");
        assert!(builtin_chains("bogus").is_empty());
    }
}
