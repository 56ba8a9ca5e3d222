//! Where a snapshot came from: the source's kind and what it said of itself, for
//! headers, recordings and exports.

use super::Backend;

/// What kind of source polls come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceKind {
    /// `iptables` (and the kernel) on this host or in a namespace.
    #[default]
    Live,
    /// A recording or a pasted listing (`--replay`).
    Replay,
    /// The built-in recording (`--demo`).
    Demo,
}

impl SourceKind {
    /// The word headers, recordings and JSON use: `live`, `replay`, `demo`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Live => "live",
            SourceKind::Replay => "replay",
            SourceKind::Demo => "demo",
        }
    }

    /// The kind [`as_str`](Self::as_str) names; None for another word.
    pub fn from_name(name: &str) -> Option<SourceKind> {
        [SourceKind::Live, SourceKind::Replay, SourceKind::Demo]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// The address family of the tables iptables lists: `iptables` or `ip6tables`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamily {
    Ipv4,
    Ipv6,
}

impl IpFamily {
    /// The word headers, recordings and JSON use: `ipv4`, `ipv6`.
    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::Ipv4 => "ipv4",
            IpFamily::Ipv6 => "ipv6",
        }
    }

    /// The family [`as_str`](Self::as_str) names; None for another word.
    pub fn from_name(name: &str) -> Option<IpFamily> {
        [IpFamily::Ipv4, IpFamily::Ipv6]
            .into_iter()
            .find(|f| f.as_str() == name)
    }
}

/// A table whose counters the live view reads less often than it polls: an
/// iptables-legacy table so big that one read of its entries (`GET_ENTRIES` copies the
/// whole table) would cost more than its share of the interval. Its counters are read
/// every `every` polls while its rules stand still (`IPT_SO_GET_INFO`, which copies no
/// entry, says the same on every poll in between).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spared {
    /// Counters are read every this many polls.
    pub every: u32,
    /// What one read of the whole table takes (its reads' times, smoothed).
    pub took: std::time::Duration,
    /// This poll read no counters: the table is the last read's, and nothing of it
    /// (deltas, rates) is new.
    pub held: bool,
}

/// Where a snapshot came from, for headers and exports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceInfo {
    pub kind: SourceKind,
    pub host: String,
    /// The namespace given with `--netns`, as given.
    pub netns: Option<String>,
    /// The back end listed, when one is (None: unknown, or both listed and each table
    /// says its own).
    pub backend: Option<Backend>,
    /// The binary run (`iptables`, `ip6tables-legacy`, ...), empty for replays of dumps.
    pub binary: String,
    /// What `<binary> --version` said.
    pub version: String,
    /// The family listed; None when unknown (a pasted listing).
    pub family: Option<IpFamily>,
    /// The file replayed.
    pub file: Option<String>,
    /// Where the counters come from when not from the listing: `kernel`.
    pub counters: String,
    /// With `counters` set, the tables whose counters came from the listing all the same
    /// (`filter·legacy`: its chains did not match the kernel's).
    pub listed_counters: Vec<String>,
    /// The tables whose listing iptop wrote from what the kernel holds (`nat·legacy`:
    /// its x_tables entries; `nat·nft`: its nftables rules), running no iptables for
    /// them.
    pub written: Vec<String>,
}

impl SourceInfo {
    /// One line for headers: `live on node1 · netns swarm-host · nft · ipv6`.
    pub fn describe(&self) -> String {
        let mut s = self.kind.as_str().to_string();
        if let Some(f) = &self.file {
            s.push(' ');
            s.push_str(f);
        }
        if !self.host.is_empty() {
            s.push_str(" on ");
            s.push_str(&self.host);
        }
        if let Some(ns) = &self.netns {
            s.push_str(" · netns ");
            s.push_str(ns);
        }
        if let Some(b) = self.backend {
            s.push_str(" · ");
            s.push_str(b.as_str());
        }
        if let Some(f @ IpFamily::Ipv6) = self.family {
            s.push_str(" · ");
            s.push_str(f.as_str());
        }
        // the tables whose listing iptop wrote from what the kernel holds
        let written =
            (!self.written.is_empty()).then(|| format!("rules ({})", self.written.join(", ")));
        match (self.counters.is_empty(), written) {
            (false, w) => {
                s.push_str(" · counters ");
                if let Some(w) = w {
                    s.push_str("and ");
                    s.push_str(&w);
                    s.push(' ');
                }
                s.push_str("from the ");
                s.push_str(&self.counters);
                if !self.listed_counters.is_empty() {
                    s.push_str(&format!(
                        " ({} from the listing)",
                        self.listed_counters.join(", ")
                    ));
                }
            }
            (true, Some(w)) => {
                s.push_str(" · ");
                s.push_str(&w);
                s.push_str(" from the kernel");
            }
            (true, None) => {}
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_says_what_came_from_the_kernel() {
        let mut i = SourceInfo {
            host: "h".into(),
            ..SourceInfo::default()
        };
        assert_eq!(i.describe(), "live on h");
        i.written = vec!["nat·legacy".into()];
        assert_eq!(
            i.describe(),
            "live on h · rules (nat·legacy) from the kernel"
        );
        i.counters = "kernel".into();
        assert_eq!(
            i.describe(),
            "live on h · counters and rules (nat·legacy) from the kernel"
        );
        i.written.clear();
        i.listed_counters = vec!["filter·nft".into()];
        assert_eq!(
            i.describe(),
            "live on h · counters from the kernel (filter·nft from the listing)"
        );
    }
}
