//! What the tests of a listing written from the kernel share, for either back end
//! (`legacy_written.rs`, `nft_written.rs`): a namespace of the test's own with its rules
//! loaded, iptables' own listing of a table, the listing iptop writes, `--once`, and
//! the comparison of the two listings.

use std::process::Command;

use iptop::source::kernel::legacy::LegacySocket;
use iptop::source::kernel::nft::NftSocket;
use iptop::source::kernel::nft_text;
use serde_json::Value;

use crate::common::hostile::Ns;
use crate::common::{iptop, root, run_ok};

/// A namespace of the test's own (deleted when dropped), its rules IPv6 or not, loaded
/// and listed with iptables of one back end (`legacy`, `nft`).
pub struct Netns(pub Ns, pub bool, pub &'static str);

impl Netns {
    pub fn new(backend: &'static str) -> Netns {
        Netns(Ns::new(), false, backend)
    }

    pub fn v6(backend: &'static str) -> Netns {
        Netns(Ns::new(), true, backend)
    }

    fn bin(&self, what: &str) -> String {
        format!(
            "{}tables-{}{what}",
            if self.1 { "ip6" } else { "ip" },
            self.2
        )
    }

    /// A namespace holding `gen-scale.sh`'s kube-proxy rules, `n` of them, loaded with
    /// iptables of `backend`.
    pub fn scale(backend: &'static str, n: usize) -> Netns {
        let ns = Netns::new(backend);
        let script = root().join("tests/fixtures/iptables/gen-scale.sh");
        run_ok(
            Command::new("bash")
                .arg(&script)
                .args([&n.to_string(), backend, &ns.0.0]),
        );
        ns
    }

    pub fn load(&self, rules: &[u8]) {
        self.0.restore(&self.bin("-restore"), rules);
    }

    /// iptables' listing, as iptop runs it.
    pub fn listed(&self, table: &str) -> String {
        let out = run_ok(Command::new("ip").args([
            "netns",
            "exec",
            &self.0.0,
            &self.bin(""),
            "-w",
            "5",
            "-t",
            table,
            "-L",
            "-v",
            "-n",
            "-x",
            "--line-numbers",
        ]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The listing iptop writes from what the kernel holds (x_tables entries, nftables
    /// rules), or why not.
    pub fn written(&self, table: &str) -> Result<String, String> {
        let path = format!("/run/netns/{}", self.0.0);
        let (table, v6, nft) = (table.to_string(), self.1, self.2 == "nft");
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path).expect("netns");
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            if nft {
                let mut s = NftSocket::open().expect("netlink socket");
                nft_text::write(&mut s, &table, v6, None)
                    .expect("netlink")
                    .map(|(text, _)| text)
                    .map_err(|e| e.0)
            } else {
                let mut s = LegacySocket::open(v6).expect("raw socket");
                s.read_text(&table).expect("GET_ENTRIES").map_err(|e| e.0)
            }
        })
        .join()
        .expect("reader thread")
    }

    /// A legacy table built from its entries as `--once` builds it (no listing), or
    /// why not.
    pub fn built(&self, table: &str) -> Result<iptop::model::FirewallTable, String> {
        let path = format!("/run/netns/{}", self.0.0);
        let (table, v6) = (table.to_string(), self.1);
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path).expect("netns");
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let mut s = LegacySocket::open(v6).expect("raw socket");
            s.read_table(&table).expect("GET_ENTRIES").map_err(|e| e.0)
        })
        .join()
        .expect("reader thread")
    }

    pub fn once(&self, table: &str, source: &str) -> Value {
        let mut args = vec![
            "--netns",
            &self.0.0,
            "--backend",
            self.2,
            "--source",
            source,
            "--once",
            "--format",
            "json",
            "-t",
            table,
        ];
        if self.1 {
            args.push("-6");
        }
        let out = run_ok(iptop().args(&args));
        serde_json::from_slice(&out.stdout).expect("json")
    }
}

/// `tests/fixtures/iptables/edge.rules` without its ipset sets (no ipset here).
pub fn edge_rules() -> Vec<u8> {
    String::from_utf8(fixture("edge.rules"))
        .expect("utf-8")
        .lines()
        .filter(|l| {
            !["-m set", "edge-v4", "edge-v6", "-j SET"]
                .iter()
                .any(|s| l.contains(s))
        })
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect()
}

/// A filter table with `-m limit`, which iptop does not write: iptables of `backend`
/// lists it, and `--once` shows it as `--source iptables` does.
pub fn limit_is_left_to_iptables(backend: &'static str) {
    let ns = Netns::new(backend);
    ns.load(b"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m limit --limit 5/sec -j ACCEPT\n-A INPUT -j ACCEPT\nCOMMIT\n");
    let why = ns.written("filter").expect_err("limit is not written");
    assert!(why.contains("limit"), "{why}");
    let auto = ns.once("filter", "auto");
    assert!(
        auto["source"].get("written_from_kernel").is_none(),
        "{}",
        auto["source"]
    );
    assert_eq!(auto["tables"], ns.once("filter", "iptables")["tables"]);
    let rules = &auto["tables"][0]["chains"][0]["rules"];
    assert_eq!(rules.as_array().map(Vec::len), Some(2), "{rules}");
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/iptables").join(name)).expect("fixture")
}

/// The legacy table built from its entries (`--once`) is iptables' listing parsed, jumps
/// included.
pub fn same_as_parsed(ns: &Netns, t: &str, listed: &str) {
    let built = ns
        .built(t)
        .unwrap_or_else(|why| panic!("table {t} not built: {why}"));
    let parsed = iptop::parse::parse_table_counted(t, listed, None, None, false)
        .expect("iptables' listing parses");
    assert!(built == parsed, "table {t}: the built table differs");
    let jumps = |x: &iptop::model::FirewallTable| -> Vec<Option<u32>> {
        x.chains
            .iter()
            .flat_map(|c| c.rules.iter().map(|r| r.jump))
            .collect()
    };
    assert_eq!(jumps(&built), jumps(&parsed), "table {t}");
}

/// Lines that differ, for the failure message.
pub fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n written: {x:?}\n listed:  {y:?}", i + 1);
        }
    }
    format!(
        "{} lines written, {} listed",
        a.lines().count(),
        b.lines().count()
    )
}

/// [`same_or_left`], every one of `tables` written (or why not, in the failure).
pub fn all_written(ns: &Netns, tables: &[&str]) {
    for t in tables {
        if let Err(why) = ns.written(t) {
            panic!("table {t} not written: {why}");
        }
    }
    assert_eq!(same_or_left(ns, tables), tables.len());
}

/// Each table written byte for byte as iptables lists it (and `--once` says it wrote
/// it), or left to iptables with a reason; `--once` shows the same tables either way.
/// How many were written.
pub fn same_or_left(ns: &Netns, tables: &[&str]) -> usize {
    let mut written_tables = 0;
    for t in tables {
        let auto = ns.once(t, "auto");
        match ns.written(t) {
            Ok(written) => {
                let listed = ns.listed(t);
                assert!(
                    written == listed,
                    "table {t}: {}",
                    first_difference(&written, &listed)
                );
                if ns.2 == "legacy" {
                    same_as_parsed(ns, t, &listed);
                }
                assert_eq!(
                    auto["source"]["written_from_kernel"],
                    serde_json::json!([format!("{t}·{}", ns.2)]),
                    "--once wrote table {t}: {}",
                    auto["source"]
                );
                written_tables += 1;
            }
            Err(why) => {
                assert!(!why.is_empty());
                assert!(auto["source"].get("written_from_kernel").is_none(), "{t}");
            }
        }
        assert_eq!(
            auto["tables"],
            ns.once(t, "iptables")["tables"],
            "table {t}"
        );
    }
    written_tables
}
