//! "Did you mean": the chains closest to a name that is not there (`-c DOCKER-USR`,
//! `-c docker-user`).

use super::Snapshot;

/// What `-c NAME` says when no table shown has the chain: the tables looked in, the
/// closest chain names, and how to list them.
pub fn missing_chain(snap: &Snapshot, name: &str) -> String {
    let tables: Vec<&str> = snap.tables.iter().map(|t| t.name.as_str()).collect();
    let mut msg = format!("chain `{name}` not found in table {}", tables.join(", "));
    let close = closest(
        snap.tables
            .iter()
            .flat_map(|t| t.chains.iter().map(|c| c.name.as_ref())),
        name,
    );
    if !close.is_empty() {
        let quoted: Vec<String> = close.iter().map(|c| format!("`{c}`")).collect();
        msg.push_str(&format!("; did you mean {}?", quoted.join(" or ")));
    }
    msg.push_str(&format!(
        " (iptables -t {} -L lists the chains)",
        tables.first().copied().unwrap_or("filter")
    ));
    msg
}

/// Up to three names closest to `want`: the same but for case first, then by edit
/// distance (case aside), within a quarter of the name's length (at least 2).
pub fn closest<'a>(names: impl Iterator<Item = &'a str>, want: &str) -> Vec<&'a str> {
    let lower = want.to_lowercase();
    let bound = (want.chars().count() / 4).max(2);
    let mut scored: Vec<(usize, &str)> = names
        .filter_map(|n| {
            let d = distance(&n.to_lowercase(), &lower);
            (d <= bound).then_some((d, n))
        })
        .collect();
    scored.sort_unstable();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// Levenshtein distance over characters; stops counting past 64 characters (a chain
/// name is at most 28 in iptables, longer in nftables).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 6] = [
        "INPUT",
        "FORWARD",
        "DOCKER-USER",
        "DOCKER",
        "DOCKER-INGRESS",
        "DOCKER-ISOLATION-STAGE-1",
    ];

    #[test]
    fn case_and_typos() {
        assert_eq!(closest(NAMES.into_iter(), "docker-user"), ["DOCKER-USER"]);
        assert_eq!(closest(NAMES.into_iter(), "DOCKER-USR"), ["DOCKER-USER"]);
        assert_eq!(closest(NAMES.into_iter(), "forwrd"), ["FORWARD"]);
        assert!(closest(NAMES.into_iter(), "KUBE-SERVICES").is_empty());
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
    }
}
