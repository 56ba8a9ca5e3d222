//! Whether a listing and the kernel's rule set have the same shape: the same chains,
//! each with as many rules.

use super::Counters;

/// Chains and their rule counts as a `-L` listing shows them.
pub fn listing_shape(text: &str) -> Vec<(&str, usize)> {
    let mut out: Vec<(&str, usize)> = Vec::new();
    let mut title = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Chain ") {
            out.push((rest.split(' ').next().unwrap_or(""), 0));
            title = true;
        } else if title {
            title = false;
        } else if !line.trim().is_empty()
            && !line.starts_with('#')
            && let Some(c) = out.last_mut()
        {
            c.1 += 1;
        }
    }
    out
}

/// Where a listing and the kernel disagree on the chains or their rule counts.
pub fn mismatch(shape: &[(&str, usize)], k: &Counters) -> Option<String> {
    let mut seen = 0;
    for (name, rules) in shape {
        match k.names.get(*name) {
            Some(&i) => {
                seen += 1;
                let n = k.chains[i].rules.len();
                if n != *rules {
                    return Some(format!(
                        "chain {name}: the kernel holds {n} rules, the listing shows {rules}"
                    ));
                }
            }
            // iptables-nft shows the built-in chains of a table it never created
            None if *rules == 0 => {}
            None => return Some(format!("chain {name} is listed but not in the kernel")),
        }
    }
    if seen != k.chains.len() {
        let listed: Vec<&str> = shape.iter().map(|(n, _)| *n).collect();
        let extra = k
            .names
            .keys()
            .find(|n| !listed.contains(&n.as_str()))
            .cloned()
            .unwrap_or_default();
        return Some(format!(
            "chain {extra} is in the kernel but not in the listing"
        ));
    }
    None
}

/// Where the listing, parsed with the kernel's rule counts choosing the reading of
/// comments with line breaks, and the kernel disagree on the chains or rule counts.
pub fn parsed_mismatch(table: &str, text: &str, k: &Counters) -> Option<String> {
    let counts = |c: &str| k.names.get(c).map(|&i| k.chains[i].rules.len());
    match crate::parse::parse_table_counted(table, text, None, Some(&counts), true) {
        Ok(t) => mismatch(
            &t.chains
                .iter()
                .map(|c| (&*c.name, c.rules.len()))
                .collect::<Vec<_>>(),
            k,
        ),
        Err(e) => Some(format!("the listing does not parse: {e}")),
    }
}
