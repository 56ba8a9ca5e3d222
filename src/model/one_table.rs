//! One table of a poll as a view shows it: [`TableId`] says which (its name and the back
//! end that holds it), [`TableSnapshot`] is a poll's snapshot of exactly that table.
//! A host with rules in both iptables-nft and iptables-legacy has two tables of one
//! name in a poll; each is a view of its own.

use std::ops::Deref;
use std::sync::Arc;

use super::{Backend, FirewallTable, Snapshot};

/// Which table a view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableId {
    /// One of [`super::TABLES`].
    pub name: &'static str,
    /// The back end, when both hold the table; None when one does (or it is not known).
    pub backend: Option<Backend>,
    /// A native nftables table: its number among the native tables the view has seen
    /// (their names are the view's); `name` is then empty.
    pub native: Option<u32>,
}

impl TableId {
    pub fn new(name: &'static str) -> TableId {
        TableId {
            name,
            backend: None,
            native: None,
        }
    }

    /// `filter`, or `filter·legacy` when both back ends hold it.
    pub fn label(&self) -> String {
        match self.backend {
            Some(b) => format!("{}·{b}", self.name),
            None => self.name.to_string(),
        }
    }
}

/// A snapshot that holds exactly one table.
#[derive(Debug, Clone)]
pub struct TableSnapshot(Arc<Snapshot>);

impl TableSnapshot {
    /// A poll's snapshot of table `name`, one per back end that holds it (in the
    /// snapshot's order); a snapshot without the table (no back end holds it) gives an
    /// empty table of that name, so that its warnings are still shown.
    pub fn split(snap: Arc<Snapshot>, name: &str) -> Vec<TableSnapshot> {
        match snap.tables.len() {
            1 => vec![TableSnapshot(snap)],
            0 => {
                let mut s = (*snap).clone();
                s.tables.push(FirewallTable::new(name));
                vec![TableSnapshot(Arc::new(s))]
            }
            _ => snap
                .tables
                .iter()
                .map(|t| {
                    TableSnapshot(Arc::new(Snapshot {
                        taken_at: snap.taken_at,
                        at: snap.at,
                        took: snap.took,
                        tables: vec![t.clone()],
                        warnings: snap.warnings.clone(),
                        seq: snap.seq,
                    }))
                })
                .collect(),
        }
    }

    pub fn table(&self) -> &FirewallTable {
        &self.0.tables[0]
    }

    /// The snapshot, shared.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.0
    }
}

impl Deref for TableSnapshot {
    type Target = Snapshot;

    fn deref(&self) -> &Snapshot {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(tables: Vec<FirewallTable>) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            taken_at: std::time::SystemTime::UNIX_EPOCH,
            at: std::time::Duration::ZERO,
            took: std::time::Duration::ZERO,
            tables,
            warnings: vec!["w".into()],
            seq: 3,
        })
    }

    #[test]
    fn one_snapshot_per_back_end() {
        let mut nft = FirewallTable::new("filter");
        nft.backend = Some(Backend::Nft);
        let mut legacy = FirewallTable::new("filter");
        legacy.backend = Some(Backend::Legacy);
        let parts = TableSnapshot::split(snap(vec![nft, legacy]), "filter");
        let b: Vec<_> = parts.iter().map(|p| p.table().backend).collect();
        assert_eq!(b, [Some(Backend::Nft), Some(Backend::Legacy)]);
        assert!(parts.iter().all(|p| p.tables.len() == 1 && p.seq == 3));
        assert_eq!(parts[1].warnings, ["w"]);
        let none = TableSnapshot::split(snap(vec![]), "raw");
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].table().name, "raw");
        assert!(none[0].table().chains.is_empty());
    }

    #[test]
    fn labels() {
        assert_eq!(TableId::new("nat").label(), "nat");
        let id = TableId {
            name: "filter",
            backend: Some(Backend::Legacy),
            native: None,
        };
        assert_eq!(id.label(), "filter·legacy");
    }
}
