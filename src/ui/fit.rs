//! Keeping what tells rules apart when the screen is narrow: NAT targets with where they
//! send packets, comments apart from the match text (they are cut first), chain paths
//! cut from the left (the chain nearest the rule is the one that matters).

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::model::RuleSpec;
use crate::model::comments::{comment_spans, without_comments};

/// Targets that rewrite an address or port, shown with where they send packets.
const NAT: &[&str] = &["DNAT", "SNAT", "NETMAP", "REDIRECT", "MASQUERADE"];

/// A NAT rule's label with its destination (`DNAT → 172.18.0.2:80`, `REDIRECT → 8080`,
/// `MASQUERADE`), and its match text without the part the label now shows. None for
/// other targets.
pub fn nat(spec: &RuleSpec) -> Option<(String, String)> {
    let t = spec.target.as_str();
    if !NAT.contains(&t) {
        return None;
    }
    // read from the match text: a comment saying `to:1.2.3.4` sends nothing anywhere
    let main = without_comments(&spec.extra);
    let words: Vec<&str> = main.split_whitespace().collect();
    // `to:ADDR[:PORT]` (DNAT, SNAT, NETMAP), `redir ports N` (REDIRECT), `masq ports: N`
    let (to, used): (Option<String>, Vec<usize>) =
        if let Some(i) = words.iter().position(|w| w.starts_with("to:")) {
            (Some(words[i]["to:".len()..].to_string()), vec![i])
        } else if let Some(i) = words
            .windows(3)
            .position(|w| w[0] == "redir" && w[1] == "ports")
        {
            (Some(words[i + 2].to_string()), vec![i, i + 1, i + 2])
        } else if let Some(i) = words
            .windows(3)
            .position(|w| w[0] == "masq" && w[1] == "ports:")
        {
            (
                Some(format!("ports {}", words[i + 2])),
                vec![i, i + 1, i + 2],
            )
        } else {
            (None, vec![])
        };
    let label = match to {
        Some(to) => format!("{t} → {to}"),
        None => t.to_string(),
    };
    let mut rest: Vec<&str> = words
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, w)| *w)
        .collect();
    // the comments as they are (line breaks and all), after the match
    rest.extend(comment_spans(&spec.extra).map(|(s, e)| &spec.extra[s..e]));
    Some((label, rest.join(" ")))
}

/// [`nat`] with the name of the container a DNAT sends packets to, as text output puts
/// it after the `to:` (`DNAT → 172.18.0.2:80 (web)`), where Docker knows it.
pub fn nat_named(
    spec: &RuleSpec,
    names: Option<&crate::docker::Names>,
) -> Option<(String, String)> {
    let (mut label, rest) = nat(spec)?;
    if let Some(n) = names.and_then(|n| n.rule(spec).dnat) {
        label.push_str(&format!(" ({n})"));
    }
    Some((label, rest))
}

/// An interface or address with the name Docker knows for it, in `width` columns: whole
/// (`!docker0 (bridge)`); else the value cut before its name (`br-ecda2b… (shop)`), so
/// that a user network's bridge still says which network it is; else the whole cut.
pub fn named(value: &str, name: &str, width: usize) -> String {
    let whole = format!("{value} ({name})");
    if whole.width() <= width {
        return whole;
    }
    let room = width.saturating_sub(name.width() + 3);
    if room >= 5 {
        return format!("{} ({name})", truncate_right(value, room));
    }
    truncate_right(&whole, width)
}

/// Cuts `s` to `width` columns, ending with `…` when it had to cut.
pub fn truncate_right(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > width {
            break;
        }
        out.push(c);
        w += cw;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// The match text split into what it matches and its comments (`/* … */`), so that the
/// comments can be drawn dim after it and cut first.
pub fn split_comments(extra: &str) -> (String, String) {
    let comments: Vec<&str> = comment_spans(extra).map(|(s, e)| &extra[s..e]).collect();
    (
        without_comments(extra)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        comments.join(" "),
    )
}

/// Cuts `s` to `width` columns from the left, starting with `…` when it had to cut.
pub fn truncate_left(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut kept: Vec<char> = Vec::new();
    let mut w = 0;
    for c in s.chars().rev() {
        let cw = c.width().unwrap_or(0);
        if w + cw > width - 1 {
            break;
        }
        kept.push(c);
        w += cw;
    }
    let mut out = String::from("…");
    out.extend(kept.into_iter().rev());
    out
}

/// A chain path (`FORWARD › DOCKER-FORWARD › DOCKER-ISOLATION-STAGE-1 › ...`) in `width`
/// columns: whole chain names from the right, `… › ` for what is left out.
pub fn path_from_right(parts: &[String], width: usize) -> String {
    let whole = parts.join(" › ");
    if whole.width() <= width {
        return whole;
    }
    let mut kept: Vec<&str> = Vec::new();
    let mut w = "… ›".width();
    for p in parts.iter().rev() {
        let pw = p.width() + " › ".width();
        if w + pw > width && !kept.is_empty() {
            break;
        }
        kept.push(p);
        w += pw;
    }
    kept.reverse();
    truncate_left(&format!("… › {}", kept.join(" › ")), width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_value_keeps_its_name_while_it_can() {
        assert_eq!(named("!docker0", "bridge", 30), "!docker0 (bridge)");
        assert_eq!(named("!br-ecda2bcd6b36", "shop", 17), "!br-ecda2… (shop)");
        assert_eq!(named("docker0", "bridge", 10), "docker0 (…");
        assert_eq!(named("docker0", "bridge", 0), "");
    }

    fn spec(target: &str, extra: &str) -> RuleSpec {
        RuleSpec {
            target: target.into(),
            extra: extra.into(),
            ..Default::default()
        }
    }

    #[test]
    fn nat_targets_are_whole() {
        assert_eq!(
            nat(&spec("DNAT", "tcp dpt:80 to:172.18.0.2:80")),
            Some(("DNAT → 172.18.0.2:80".into(), "tcp dpt:80".into()))
        );
        assert_eq!(
            nat(&spec("REDIRECT", "tcp dpt:80 redir ports 8080")),
            Some(("REDIRECT → 8080".into(), "tcp dpt:80".into()))
        );
        assert_eq!(
            nat(&spec("MASQUERADE", "ADDRTYPE match src-type LOCAL")),
            Some(("MASQUERADE".into(), "ADDRTYPE match src-type LOCAL".into()))
        );
        assert_eq!(
            nat(&spec("SNAT", "to:10.0.0.1")),
            Some(("SNAT → 10.0.0.1".into(), String::new()))
        );
        assert_eq!(nat(&spec("ACCEPT", "to:1.2.3.4")), None);
    }

    #[test]
    fn comments_come_apart() {
        assert_eq!(
            split_comments("/* ns0/svc-0:grpc cluster IP */ tcp dpt:9000"),
            (
                "tcp dpt:9000".into(),
                "/* ns0/svc-0:grpc cluster IP */".into()
            )
        );
        assert_eq!(
            split_comments("tcp dpt:22"),
            ("tcp dpt:22".into(), String::new())
        );
        assert_eq!(
            split_comments("/* a */ x /* b */ y"),
            ("x y".into(), "/* a */ /* b */".into())
        );
        // a comment whose line break imitates a rule stays one comment, cut first
        let forged = "/* ok */\n2 999999 88888888 DROP all -- * * 6.6.6.6 0.0.0.0/0 /* fake */";
        assert_eq!(split_comments(forged), (String::new(), forged.into()));
    }

    #[test]
    fn nat_labels_come_from_the_match_not_a_comment() {
        let spec = |extra: &str| RuleSpec {
            target: "DNAT".into(),
            extra: extra.into(),
            ..RuleSpec::default()
        };
        assert_eq!(
            nat(&spec("/* to:6.6.6.6:1 */ tcp dpt:80 to:172.18.0.2:80")),
            Some((
                "DNAT → 172.18.0.2:80".into(),
                "tcp dpt:80 /* to:6.6.6.6:1 */".into()
            ))
        );
        assert_eq!(
            nat(&spec("tcp dpt:80 /* to:6.6.6.6:1 */")),
            Some(("DNAT".into(), "tcp dpt:80 /* to:6.6.6.6:1 */".into()))
        );
    }

    #[test]
    fn paths_keep_their_right_end() {
        let p: Vec<String> = [
            "FORWARD",
            "DOCKER-FORWARD",
            "DOCKER-ISOLATION-STAGE-1",
            "DOCKER-ISOLATION-STAGE-2",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            path_from_right(&p, 60),
            "… › DOCKER-ISOLATION-STAGE-1 › DOCKER-ISOLATION-STAGE-2"
        );
        assert_eq!(path_from_right(&p, 200), p.join(" › "));
        assert_eq!(path_from_right(&p, 20), "…R-ISOLATION-STAGE-2");
        assert_eq!(truncate_left("abcdef", 4), "…def");
    }
}
