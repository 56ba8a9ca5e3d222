//! Where a snapshot came from: the source's kind and what it said of itself, for
//! headers, recordings and exports.

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

/// Where a snapshot came from, for headers and exports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceInfo {
    pub kind: SourceKind,
    pub host: String,
    /// The namespace given with `--netns`, as given.
    pub netns: Option<String>,
    /// `nft`, `legacy`, or empty when unknown.
    pub backend: String,
    /// The binary run (`iptables`, `ip6tables-legacy`, ...), empty for replays of dumps.
    pub binary: String,
    /// What `<binary> --version` said.
    pub version: String,
    /// `ipv4` or `ipv6`.
    pub family: String,
    /// The file replayed.
    pub file: Option<String>,
    /// Where the counters come from when not from the listing: `kernel`.
    pub counters: String,
    /// With `counters` set, the tables whose counters came from the listing all the same
    /// (`filter·legacy`: its chains did not match the kernel's).
    pub listed_counters: Vec<String>,
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
        if !self.backend.is_empty() {
            s.push_str(" · ");
            s.push_str(&self.backend);
        }
        if !self.family.is_empty() && self.family != "ipv4" {
            s.push_str(" · ");
            s.push_str(&self.family);
        }
        if !self.counters.is_empty() {
            s.push_str(" · counters from the ");
            s.push_str(&self.counters);
            if !self.listed_counters.is_empty() {
                s.push_str(&format!(
                    " ({} from the listing)",
                    self.listed_counters.join(", ")
                ));
            }
        }
        s
    }
}
