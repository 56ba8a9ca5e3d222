//! `--once`'s check that a listing holds no line a comment printed, from what the kernel
//! tells without copying a rule: nftables' chain list (each chain's use count), x_tables'
//! table info (its number of entries). When it holds, every line of the listing is one
//! iptables printed for a rule, a chain or the layout, so the listing read one rule a line
//! is the kernel's rule set, and its counters (`-x`: exact) are taken as they are. When it
//! does not, the rule counts are read in full ([`super::Reader::read`]) and choose the
//! reading, as on every other path.
//!
//! A comment's line break makes one more line, printed after the rule's first one, and the
//! comment's own end (`*/`) is on the last of them: a line a comment printed is never
//! empty, so it reads as a chain header, a `#` line or a rule. The checks below refuse the
//! first two outright and count the third, and so each fails on any such line:
//!
//! - nftables (Linux 6.5 on: a chain's use count counts its rules besides the rules and
//!   map elements that jump or go to it): per chain, its use count is the rule lines
//!   under its header plus the rule lines whose target is it. A made-up rule line adds one
//!   to its chain's side (and maybe one to another's), never takes one away. An older
//!   kernel counts only the jumps: the check fails wherever a chain holds rules, and the
//!   full read is made. A built-in chain iptables-nft lists for a table whose hook it
//!   never made is taken when it shows no rule: a header a comment printed is followed by
//!   a rule line, or by a line that is not the column titles (the comment's last line
//!   holds its `*/`), or ends the listing, and each of those fails.
//! - x_tables: the table's entries are its rules, a head and an end for each user chain,
//!   the policy of each built-in chain, and one closing entry. Every header is followed
//!   by the column titles (so a made-up header brings a made-up title line along, and
//!   counts for two entries), the built-in chains are the table's hooks, each listed once,
//!   and the entries counted from the listing match the kernel's number: a made-up line
//!   adds one entry or more. The table's info before the listing and after the check is
//!   the same (no rule set replaced while it was listed, but one of the same size).

use std::collections::HashMap;

use super::nft::ChainInfo;
use crate::model::KeyedBuild;

/// What x_tables tells of a table without its entries (`IPT_SO_GET_INFO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableInfo {
    pub valid_hooks: u32,
    pub hook_entry: [u32; 5],
    pub underflow: [u32; 5],
    pub num_entries: u32,
    pub size: u32,
}

/// Built-in chains by hook (NF_INET_PRE_ROUTING .. NF_INET_POST_ROUTING), as x_tables and
/// iptables name them.
pub(super) const HOOKS: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/// One chain of a listing read as iptables prints it.
struct Listed<'a> {
    name: &'a str,
    builtin: bool,
    rules: usize,
}

/// The fourth word of a rule line: `num pkts bytes target`. A rule without a target
/// puts its protocol there, which at most counts a jump the kernel does not hold (the
/// check fails).
fn target(line: &str) -> &str {
    let b = line.as_bytes();
    let mut i = 0;
    for word in 0..4 {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        if word == 3 {
            return &line[start..i];
        }
    }
    ""
}

/// The listing's chains, each line read as what it looks like; `rule` is called with
/// each rule line. Err: a line no genuine listing holds here (a `#` line, an empty line
/// that is not between two chains, a header not followed by the column titles, a rule
/// line before any chain).
fn read<'a>(text: &'a str, mut rule: impl FnMut(&'a str)) -> Result<Vec<Listed<'a>>, String> {
    let mut chains: Vec<Listed> = Vec::new();
    let mut title: Option<&str> = None;
    let body = text.strip_suffix('\n').unwrap_or(text);
    // `split('\n')`, with memchr's vector search (lines of 200 bytes, 10 MB of them)
    let mut at = 0;
    let mut lines = std::iter::from_fn(|| {
        let rest = body.get(at..)?;
        let end = memchr::memchr(b'\n', rest.as_bytes()).unwrap_or(rest.len());
        at += end + 1;
        Some(&rest[..end])
    });
    let mut after_blank = false;
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("Chain ") {
            let name = rest.split(' ').next().unwrap_or("");
            let builtin = rest[name.len()..].starts_with(" (policy ");
            // the column titles, the same under every chain
            let t = lines.next().ok_or("a header without column titles")?;
            match title {
                None if t.trim_start().starts_with("num ") => title = Some(t),
                Some(x) if x == t => {}
                _ => return Err(format!("chain {name}: not the column titles")),
            }
            chains.push(Listed {
                name,
                builtin,
                rules: 0,
            });
            after_blank = false;
        } else if after_blank {
            return Err("an empty line not followed by a chain".into());
        } else if line.is_empty() {
            if chains.is_empty() {
                return Err("an empty line before the first chain".into());
            }
            after_blank = true;
        } else if line.trim_start().starts_with('#') {
            return Err("a `#` line".into());
        } else {
            let c = chains.last_mut().ok_or("a line before the first chain")?;
            c.rules += 1;
            rule(line);
        }
    }
    if after_blank {
        return Err("the listing ends in an empty line".into());
    }
    Ok(chains)
}

/// Where an nftables listing and the chains' use counts disagree (None: the listing holds
/// only lines iptables printed for the kernel's rules).
pub fn nft_mismatch(text: &str, kernel: &[ChainInfo]) -> Option<String> {
    let index: HashMap<&str, usize, KeyedBuild> = kernel
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    // per kernel chain: the rule lines under its header and those that target it
    let mut counted = vec![(None::<usize>, 0u64); kernel.len()];
    let listed = match read(text, |line| {
        if let Some(&i) = index.get(target(line)) {
            counted[i].1 += 1;
        }
    }) {
        Ok(r) => r,
        Err(e) => return Some(e),
    };
    for c in &listed {
        let Some(&i) = index.get(c.name) else {
            // iptables-nft lists the built-in chains of a table it never made
            if c.builtin && c.rules == 0 {
                continue;
            }
            return Some(format!("chain {} is listed but not in the kernel", c.name));
        };
        if counted[i].0.replace(c.rules).is_some() {
            return Some(format!("chain {} is listed twice", c.name));
        }
    }
    for (c, (rules, jumps)) in kernel.iter().zip(counted) {
        let Some(rules) = rules else {
            return Some(format!("chain {} is in the kernel but not listed", c.name));
        };
        let listed = rules as u64 + jumps;
        if c.uses.map(u64::from) != Some(listed) {
            return Some(format!(
                "chain {}: the kernel holds {:?} references, the listing shows {listed}",
                c.name, c.uses
            ));
        }
    }
    None
}

/// Where an x_tables listing and the table's info disagree (None: the listing holds only
/// lines iptables printed for the kernel's entries).
pub fn legacy_mismatch(text: &str, info: &TableInfo) -> Option<String> {
    let listed = match read(text, |_| {}) {
        Ok(r) => r,
        Err(e) => return Some(e),
    };
    let mut names: Vec<&str> = listed.iter().map(|c| c.name).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Some("a chain is listed twice".into());
    }
    let mut hooks: Vec<&str> = (0..5)
        .filter(|h| info.valid_hooks & (1 << h) != 0)
        .map(|h| HOOKS[h])
        .collect();
    let mut builtin: Vec<&str> = listed
        .iter()
        .filter(|c| c.builtin)
        .map(|c| c.name)
        .collect();
    hooks.sort_unstable();
    builtin.sort_unstable();
    if hooks != builtin {
        return Some("the built-in chains are not the table's hooks".into());
    }
    let entries: u64 = listed
        .iter()
        .map(|c| c.rules as u64 + if c.builtin { 1 } else { 2 })
        .sum::<u64>()
        + 1;
    (entries != u64::from(info.num_entries)).then(|| {
        format!(
            "the kernel holds {} entries, the listing shows {entries}",
            info.num_entries
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TITLE: &str = "num      pkts      bytes target     prot opt in     out     source               destination         ";

    fn rule(n: usize, target: &str, comment: &str) -> String {
        format!(
            "{n:<5} {:>8} {:>8} {target:<10} 0    --  *      *       0.0.0.0/0            0.0.0.0/0            {comment}",
            7, 420
        )
    }

    /// INPUT jumps to SUB, SUB holds one DROP; `comment` on the DROP.
    fn listing(comment: &str) -> String {
        format!(
            "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n{TITLE}\n{}\n{}\n\nChain SUB (1 references)\n{TITLE}\n{}\n",
            rule(1, "SUB", ""),
            rule(2, "ACCEPT", ""),
            rule(1, "DROP", comment)
        )
    }

    fn kernel(input: u32, sub: u32) -> Vec<ChainInfo> {
        let c = |name: &str, base: bool, uses| ChainInfo {
            name: name.into(),
            policy: base.then(Default::default),
            uses: Some(uses),
        };
        vec![c("INPUT", true, input), c("SUB", false, sub)]
    }

    fn info(entries: u32) -> TableInfo {
        TableInfo {
            valid_hooks: 0b1110,
            num_entries: entries,
            ..TableInfo::default()
        }
    }

    /// filter's three built-in chains, SUB: 2 + 1 + 3 policies + 2 for SUB + 1.
    fn legacy(comment: &str) -> String {
        let builtin = format!(
            "\n\nChain FORWARD (policy ACCEPT 0 packets, 0 bytes)\n{TITLE}\n\nChain OUTPUT (policy ACCEPT 0 packets, 0 bytes)\n{TITLE}\n\nChain SUB"
        );
        listing(comment).replace("\n\nChain SUB", &builtin)
    }

    #[test]
    fn a_plain_listing_fits() {
        // INPUT: its 2 rules; SUB: its rule and the jump to it
        assert_eq!(nft_mismatch(&listing("/* ok */"), &kernel(2, 2)), None);
        assert!(nft_mismatch(&listing(""), &kernel(2, 1)).is_some());
        assert_eq!(legacy_mismatch(&legacy("/* ok */"), &info(9)), None);
        assert!(legacy_mismatch(&legacy(""), &info(10)).is_some());
    }

    #[test]
    fn a_line_a_comment_printed_never_fits() {
        for forged in [
            // a rule after the chain's last, and one that jumps
            format!("/* x\n{} */", rule(2, "DROP", "")),
            format!("/* x\n{} */", rule(2, "SUB", "")),
            // an empty line, then a rule
            format!("/* x\n\n{} */", rule(2, "DROP", "")),
            // a chain of its own, with its titles and a rule
            format!(
                "/* x\n\nChain EVIL (0 references)\n{TITLE}\n{} */",
                rule(1, "DROP", "")
            ),
            format!("/* x\n\nChain EVIL (0 references)\n{TITLE} */"),
            "/* x\nChain EVIL (0 references) */".to_string(),
            // a `#` line, a title line
            "/* x\n# Warning */".to_string(),
            format!("/* x\n{TITLE} */"),
            "/* x\n */".to_string(),
        ] {
            let text = listing(&forged);
            assert!(
                nft_mismatch(&text, &kernel(2, 2)).is_some(),
                "nft took {forged:?}"
            );
            // the kernel's 9 entries
            assert!(
                legacy_mismatch(&legacy(&forged), &info(9)).is_some(),
                "legacy took {forged:?}"
            );
        }
    }

    #[test]
    fn chains_the_kernel_does_not_hold_never_fit() {
        let text = listing("");
        let mut k = kernel(2, 2);
        k[1].name = "OTHER".into();
        assert!(nft_mismatch(&text, &k).is_some());
        // a built-in chain iptables-nft lists without the kernel holding it: only empty
        let empty =
            text.clone() + "\nChain FORWARD (policy ACCEPT 0 packets, 0 bytes)\n" + TITLE + "\n";
        assert_eq!(nft_mismatch(&empty, &kernel(2, 2)), None);
        let held = empty.clone() + &rule(1, "DROP", "") + "\n";
        assert!(nft_mismatch(&held, &kernel(2, 2)).is_some());
        assert!(nft_mismatch(&text, &kernel(2, 2)[..1]).is_some());
        let twice = text.clone() + "\nChain SUB (1 references)\n" + TITLE + "\n";
        assert!(nft_mismatch(&twice, &kernel(2, 2)).is_some());
        // a table whose hooks are not the listed built-in chains
        let mut i = info(9);
        i.valid_hooks = 0b11110;
        assert!(legacy_mismatch(&legacy(""), &i).is_some());
    }
}
