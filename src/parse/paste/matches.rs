//! A save dump's match and target options → the text `iptables -L` prints for them
//! ([`MATCHES`], [`TARGETS`], [`PORTS`]); anything else stays as the dump has it.

/// An option of a match or target: `[!] --name values...`.
#[derive(Debug, Clone)]
pub(super) struct Opt {
    pub neg: bool,
    pub name: String,
    pub vals: Vec<String>,
    /// The words as the dump has them.
    pub raw: String,
}

/// Match options `iptables -L` prints as `LABEL VALUE`: (match, option, label).
const MATCHES: &[(&str, &str, &str)] = &[
    ("conntrack", "--ctstate", "ctstate"),
    ("conntrack", "--ctstatus", "ctstatus"),
    ("conntrack", "--ctproto", "ctproto"),
    ("conntrack", "--ctorigsrc", "ctorigsrc"),
    ("conntrack", "--ctorigdst", "ctorigdst"),
    ("conntrack", "--ctorigsrcport", "ctorigsrcport"),
    ("conntrack", "--ctorigdstport", "ctorigdstport"),
    ("conntrack", "--ctdir", "ctdir"),
    ("state", "--state", "state"),
    ("mark", "--mark", "mark match"),
    ("set", "--match-set", "match-set"),
    ("multiport", "--dports", "multiport dports"),
    ("multiport", "--destination-ports", "multiport dports"),
    ("multiport", "--sports", "multiport sports"),
    ("multiport", "--source-ports", "multiport sports"),
    ("multiport", "--ports", "multiport ports"),
    ("icmp", "--icmp-type", "icmptype"),
    ("icmp6", "--icmpv6-type", "ipv6-icmptype"),
    ("statistic", "--mode", "statistic mode"),
    ("statistic", "--probability", "probability"),
    ("statistic", "--every", "every"),
    ("statistic", "--packet", "packet"),
    ("limit", "--limit", "limit: avg"),
    ("limit", "--limit-burst", "burst"),
    ("addrtype", "--src-type", "src-type"),
    ("addrtype", "--dst-type", "dst-type"),
    ("addrtype", "--limit-iface-in", "limit-in"),
    ("addrtype", "--limit-iface-out", "limit-out"),
];

/// Target options `iptables -L` prints as `LABEL VALUE` (`LABELVALUE` when the label
/// ends in `:`): (target, option, label).
const TARGETS: &[(&str, &str, &str)] = &[
    ("DNAT", "--to-destination", "to:"),
    ("DNAT", "--random", "random"),
    ("DNAT", "--persistent", "persistent"),
    ("SNAT", "--to-source", "to:"),
    ("SNAT", "--random", "random"),
    ("SNAT", "--random-fully", "random-fully"),
    ("SNAT", "--persistent", "persistent"),
    ("MASQUERADE", "--to-ports", "masq ports:"),
    ("MASQUERADE", "--random", "random"),
    ("MASQUERADE", "--random-fully", "random-fully"),
    ("REDIRECT", "--to-ports", "redir ports"),
    ("REJECT", "--reject-with", "reject-with"),
    ("LOG", "--log-prefix", "prefix"),
];

/// Port options of `-m tcp` / `-m udp` / `-m sctp`: (option, one port, a range).
const PORTS: &[(&str, &str, &str)] = &[
    ("--dport", "dpt:", "dpts:"),
    ("--destination-port", "dpt:", "dpts:"),
    ("--sport", "spt:", "spts:"),
    ("--source-port", "spt:", "spts:"),
];

pub(super) fn render_match(name: &str, opts: &[Opt], implicit: bool) -> String {
    let verbatim = || {
        let words: Vec<&str> = opts.iter().map(|o| o.raw.as_str()).collect();
        match implicit {
            true => words.join(" "),
            false if words.is_empty() => format!("-m {name}"),
            false => format!("-m {name} {}", words.join(" ")),
        }
    };
    match name {
        "tcp" | "udp" | "sctp" | "udplite" => {
            let mut out = vec![name.to_string()];
            for o in opts {
                if let Some((_, one, range)) = PORTS.iter().find(|(n, ..)| *n == o.name) {
                    let v = o.vals.join(" ");
                    let label = if v.contains(':') { range } else { one };
                    out.push(format!("{label}{}{v}", if o.neg { "!" } else { "" }));
                } else if o.name == "--tcp-flags" && o.vals.len() == 2 {
                    out.push(format!(
                        "flags:{}0x{:02X}/0x{:02X}",
                        if o.neg { "!" } else { "" },
                        tcp_flags(&o.vals[0]),
                        tcp_flags(&o.vals[1])
                    ));
                } else if o.name == "--syn" {
                    out.push(format!("flags:{}0x17/0x02", if o.neg { "!" } else { "" }));
                } else {
                    return verbatim();
                }
            }
            if out.len() == 1 {
                return if implicit { String::new() } else { verbatim() };
            }
            out.join(" ")
        }
        "comment" => match opts {
            [o] if o.name == "--comment" => format!("/* {} */", escape_comment(&o.vals.join(" "))),
            _ => verbatim(),
        },
        _ => {
            let mut out: Vec<String> = Vec::new();
            if name == "addrtype" {
                out.push("ADDRTYPE match".into());
            }
            for o in opts {
                let Some((_, _, label)) =
                    MATCHES.iter().find(|(m, n, _)| *m == name && *n == o.name)
                else {
                    return verbatim();
                };
                let mut v = o.vals.join(" ");
                if name == "icmp" {
                    v = match v.split_once('/') {
                        Some((t, c)) => format!("{t} code {c}"),
                        None if v == "any" => "255".into(),
                        None => v,
                    };
                }
                out.push(match (o.neg, name) {
                    (false, _) => format!("{label} {v}").trim_end().to_string(),
                    (true, "mark") => format!("{label} ! {v}"),
                    (true, "addrtype") => format!("{label} !{v}"),
                    (true, "multiport") => format!("{label}  !{v}"),
                    (true, _) => format!("! {label} {v}"),
                });
            }
            if name == "limit" && !opts.iter().any(|o| o.name == "--limit-burst") {
                out.push("burst 5".into());
            }
            if out.is_empty() {
                return verbatim();
            }
            out.join(" ")
        }
    }
}

fn tcp_flags(list: &str) -> u8 {
    list.split(',')
        .map(|f| match f {
            "FIN" => 0x01,
            "SYN" => 0x02,
            "RST" => 0x04,
            "PSH" => 0x08,
            "ACK" => 0x10,
            "URG" => 0x20,
            "ALL" => 0x3F,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

/// A comment's text inside `/* */`: its line breaks and `*/` made visible.
fn escape_comment(c: &str) -> String {
    c.replace('\n', "\\n")
        .replace('\r', "\\r")
        .replace("*/", "*\\/")
}

pub(super) fn render_target(target: &str, opts: &[Opt]) -> String {
    let verbatim = || {
        opts.iter()
            .map(|o| o.raw.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if opts.is_empty() && target != "LOG" {
        return String::new();
    }
    match target {
        "MARK" => match opts {
            [o] if !o.neg => {
                mark(&o.name, o.vals.first().map_or("", String::as_str)).unwrap_or_else(verbatim)
            }
            _ => verbatim(),
        },
        "LOG" => {
            let mut level = "4".to_string();
            let mut prefix = None;
            let mut flags = 0;
            for o in opts {
                match o.name.as_str() {
                    "--log-level" => level = o.vals.join(" "),
                    "--log-prefix" => prefix = Some(o.vals.join(" ")),
                    "--log-tcp-sequence" => flags |= 1,
                    "--log-tcp-options" => flags |= 2,
                    "--log-ip-options" => flags |= 4,
                    "--log-uid" => flags |= 8,
                    "--log-macdecode" => flags |= 0x20,
                    _ => return verbatim(),
                }
            }
            let mut out = format!("LOG flags {flags} level {level}");
            if let Some(p) = prefix {
                out.push_str(&format!(" prefix \"{p}\""));
            }
            out
        }
        _ => {
            let mut out = Vec::new();
            for o in opts {
                let Some((_, _, label)) = TARGETS
                    .iter()
                    .find(|(t, n, _)| *t == target && *n == o.name)
                else {
                    return verbatim();
                };
                if o.neg {
                    return verbatim();
                }
                let v = o.vals.join(" ");
                out.push(match (label.ends_with(':'), v.is_empty()) {
                    (_, true) => label.to_string(),
                    (true, false) if *label == "to:" => format!("{label}{v}"),
                    _ => format!("{label} {v}"),
                });
            }
            out.join(" ")
        }
    }
}

/// MARK's options as `iptables -L` prints them (`MARK or 0x4000`, `MARK set 0x1`).
fn mark(opt: &str, v: &str) -> Option<String> {
    let num = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16).ok();
    let (val, mask) = match v.split_once('/') {
        Some((a, b)) => (num(a)?, Some(num(b)?)),
        None => (num(v)?, None),
    };
    Some(match (opt, mask) {
        ("--set-xmark" | "--set-mark", Some(m)) => {
            if m == 0xffff_ffff {
                format!("MARK set 0x{val:x}")
            } else if val == 0 {
                format!("MARK and 0x{:x}", !m)
            } else if val == m {
                format!("MARK or 0x{val:x}")
            } else if m == 0 {
                format!("MARK xor 0x{val:x}")
            } else {
                format!("MARK xset 0x{val:x}/0x{m:x}")
            }
        }
        ("--set-xmark" | "--set-mark", None) => format!("MARK set 0x{val:x}"),
        ("--or-mark", None) => format!("MARK or 0x{val:x}"),
        ("--and-mark", None) => format!("MARK and 0x{val:x}"),
        ("--xor-mark", None) => format!("MARK xor 0x{val:x}"),
        _ => return None,
    })
}
