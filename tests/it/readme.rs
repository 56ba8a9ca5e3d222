//! Every command README.md and docs/ give, found in their text and checked, so that a
//! command added to them is checked without editing this file.
//!
//! A command is a line of a `sh` (or `bash`, `shell`, `console`) block or a `$ ` line of
//! a `text` block (an example with its output); in README.md also an inline code span,
//! in prose or in a command's comment, that starts with `iptop `, `sudo `, `cargo ` or
//! `bash ` (there every such span is a command to copy, never a mention). Each is
//! one of: an `iptop` run (also `sudo iptop`, `cargo run --release -- ARGS`, and one
//! piped into another program), a lab script (`tests/lab/*.sh`), a command `.ci/run`
//! runs ([`BY_CI`], checked to be there), or one not run ([`NOT_RUN`], with why: it
//! installs something, or needs a Docker Engine). A command that is none of them
//! fails the test, naming its file and line.
//!
//! As a normal user, every `iptop` command's arguments go through the binary's own
//! parser and the checks of combinations that run before any poll
//! (`Cli::parse_args`, `Settings::new`): a typo or a removed option fails. As root,
//! `readme_lab` runs each one on a lab of the test's own.

use std::path::{Path, PathBuf};

use crate::common::root;

/// One command of a page.
#[derive(Debug, Clone)]
pub struct DocCommand {
    /// The page, relative to the repository (`README.md`, `docs/usage.md`).
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// The command, without its comment.
    pub text: String,
    /// What the page shows it printing: the lines after a `$ ` line of a `text` block.
    pub shown: Vec<String>,
}

impl DocCommand {
    pub fn at(&self) -> String {
        format!("{}:{}: {}", self.file, self.line, self.text)
    }
}

/// What a command is, and so how it is checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// The iptop binary with these arguments; `pipe`: the rest of the pipeline its
    /// output goes through (`jq ...`, `sudo tee FILE >/dev/null`).
    Iptop {
        args: Vec<String>,
        pipe: Option<String>,
    },
    /// A lab script (`tests/lab/NAME`) with these arguments.
    Lab { script: String, args: Vec<String> },
    /// Run by CI: `file` holds `needle`.
    Ci {
        file: &'static str,
        needle: &'static str,
    },
    /// Not run, with why.
    NotRun(&'static str),
}

/// Commands `.ci/run` runs, directly or through the file named: (the command as the
/// pages give it, the file, the text it runs it by).
pub const BY_CI: [(&str, &str, &str); 4] = [
    (
        "cargo test --release",
        ".ci/as-user.sh",
        "cargo test --locked --release",
    ),
    (
        "sudo -E env \"PATH=$PATH\" CARGO_TARGET_DIR=target/root cargo test --release -- --include-ignored",
        ".ci/run",
        "cargo test --locked --release -- --include-ignored",
    ),
    (
        "cargo build --release --locked",
        "packaging/deb.sh",
        "cargo build --release --locked",
    ),
    ("bash packaging/deb.sh", ".ci/run", "bash packaging/deb.sh"),
];

/// Commands not run, and why. Keep it short: everything else is run.
pub const NOT_RUN: [(&str, &str); 6] = [
    (
        "sudo install -m 755 target/release/iptop /usr/local/bin/iptop",
        "installs the binary into /usr/local/bin",
    ),
    (
        "sudo mkdir -p /usr/local/share/man/man8",
        "makes a directory under /usr/local",
    ),
    (
        "sudo apt install ./target/debian/iptop_*.deb",
        "installs the package (packaging/deb.sh, run by .ci/run, checks its contents)",
    ),
    (
        "cargo install --locked --path .",
        "installs into ~/.cargo/bin",
    ),
    (
        "sudo iptop --netns container:web",
        "needs a Docker Engine with a container named web: docker.rs runs --netns container:NAME on a real one",
    ),
    (
        "sudo iptop --netns dock-host --docker-host unix:///tmp/dock-docker/docker.sock --once --window 3s --moved-only",
        "the output of the Docker Engine lab (tests/lab/docker-lab.sh), which docker.rs runs",
    ),
];

/// The pages whose commands are checked: README.md and docs/*.md.
pub fn pages() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    out.extend(docs);
    out
}

/// Every command of every page, in page order.
pub fn all_commands() -> Vec<DocCommand> {
    pages().iter().flat_map(|p| commands_of(p)).collect()
}

fn commands_of(path: &Path) -> Vec<DocCommand> {
    let text = std::fs::read_to_string(path).expect("read page");
    let file = path
        .strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string();
    let inline = file == "README.md";
    commands_in(&file, &text, inline)
}

/// The commands of one page's text; `inline`: its inline code spans too.
pub fn commands_in(file: &str, text: &str, inline: bool) -> Vec<DocCommand> {
    let mut out = Vec::new();
    let mut push = |line: usize, cmd: &str| {
        out.push(DocCommand {
            file: file.to_string(),
            line,
            text: cmd.trim().to_string(),
            shown: Vec::new(),
        });
    };
    // the `$ ` examples' output: (index of the command, the lines after it)
    let mut shown: Vec<(usize, Vec<String>)> = Vec::new();
    let mut in_example = false;
    // the prose with every fenced block blanked (lines kept), for the inline spans
    let mut prose = String::new();
    let mut fence: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("```") {
            fence = match fence {
                None => Some(rest.trim().to_string()),
                Some(_) => None,
            };
            in_example = false;
            prose.push('\n');
            continue;
        }
        match fence.as_deref() {
            None => prose.push_str(line),
            Some("sh" | "bash" | "shell" | "console") => {
                if !t.is_empty() && !t.starts_with('#') {
                    let (cmd, comment) = split_comment(t);
                    push(n, cmd);
                    for span in spans(comment).into_iter().filter(|_| inline) {
                        if is_command(span) {
                            push(n, span);
                        }
                    }
                }
            }
            Some("text") => {
                if let Some(cmd) = t.strip_prefix("$ ") {
                    push(n, cmd);
                    shown.push((n, Vec::new()));
                    in_example = true;
                } else if let Some((_, lines)) = shown.last_mut().filter(|_| in_example) {
                    lines.push(line.to_string());
                }
            }
            Some(_) => {}
        }
        prose.push('\n');
    }
    // inline spans, paragraph by paragraph (a span may wrap to the next line)
    let mut start = 0;
    for para in prose.split("\n\n").filter(|_| inline) {
        let first_line = prose[..start].matches('\n').count() + 1;
        let mut offset = 0;
        for span in spans(para) {
            let at = para[offset..].find(span).map_or(offset, |p| offset + p);
            offset = at + span.len();
            let text = span.split_whitespace().collect::<Vec<_>>().join(" ");
            if is_command(&text) {
                push(first_line + para[..at].matches('\n').count(), &text);
            }
        }
        start += para.len() + 2;
    }
    for (line, lines) in shown {
        if let Some(c) = out.iter_mut().find(|c| c.line == line) {
            c.shown = lines;
        }
    }
    out.sort_by_key(|c| c.line);
    out
}

/// An inline span that is a command someone would type.
fn is_command(span: &str) -> bool {
    ["iptop ", "sudo ", "cargo ", "bash "]
        .iter()
        .any(|p| span.starts_with(p))
}

/// The `code` spans of a text (single backticks).
fn spans(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(a) = rest.find('`') {
        let after = &rest[a + 1..];
        let Some(b) = after.find('`') else { break };
        out.push(&after[..b]);
        rest = &after[b + 1..];
    }
    out
}

/// A shell line split at its comment (a `#` after a blank, outside quotes).
fn split_comment(line: &str) -> (&str, &str) {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') if prev.is_whitespace() => return (line[..i].trim_end(), &line[i..]),
            _ => {}
        }
        prev = c;
    }
    (line, "")
}

/// A shell line split at its top-level `|`.
fn split_pipe(line: &str) -> (&str, Option<&str>) {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '|') => return (line[..i].trim(), Some(line[i + 1..].trim())),
            _ => {}
        }
    }
    (line.trim(), None)
}

/// Shell words: blanks split, quotes group and are removed (no escapes, no `$`).
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut in_word = false;
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), _) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            _ => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// What a command is; `Err` for one this file does not know how to check.
pub fn classify(cmd: &str) -> Result<Kind, String> {
    if let Some((_, file, needle)) = BY_CI.iter().find(|(c, _, _)| *c == cmd) {
        return Ok(Kind::Ci { file, needle });
    }
    if let Some((_, why)) = NOT_RUN.iter().find(|(c, _)| *c == cmd) {
        return Ok(Kind::NotRun(why));
    }
    let (head, pipe) = split_pipe(cmd);
    let mut w = words(head);
    if w.first().is_some_and(|s| s == "sudo") {
        w.remove(0);
    }
    // `sudo "$(command -v iptop)"`: the iptop on the user's PATH
    if w.first().is_some_and(|s| s == "$(command -v iptop)") {
        w[0] = "iptop".into();
    }
    // environment assignments before a lab script (`LAB_PREFIX=swarm-`)
    while w
        .first()
        .is_some_and(|s| s.contains('=') && !s.starts_with('-'))
    {
        w.remove(0);
    }
    let pipe = pipe.map(str::to_string);
    match w.first().map(String::as_str) {
        Some("iptop") => Ok(Kind::Iptop {
            args: w[1..].to_vec(),
            pipe,
        }),
        Some("cargo") if w.get(1).is_some_and(|s| s == "run") => {
            let dd = w.iter().position(|s| s == "--");
            Ok(Kind::Iptop {
                args: dd.map(|i| w[i + 1..].to_vec()).unwrap_or_default(),
                pipe,
            })
        }
        Some(s) if s.starts_with("tests/lab/") && s.ends_with(".sh") && pipe.is_none() => {
            Ok(Kind::Lab {
                script: s.trim_start_matches("tests/lab/").to_string(),
                args: w[1..].to_vec(),
            })
        }
        _ => Err(format!(
            "not an iptop run, a lab script, a command of .ci/run (BY_CI) or one \
             listed as not run (NOT_RUN): {cmd}"
        )),
    }
}

/// The pages hold commands (the extraction finds them).
#[test]
fn the_pages_hold_commands() {
    let all = all_commands();
    let readme: Vec<_> = all.iter().filter(|c| c.file == "README.md").collect();
    assert!(readme.len() >= 30, "{readme:#?}");
    for needle in [
        "sudo iptop --netns iptop-host -t filter -t nat",
        "sudo iptop --stream | jq -c '.findings[]'",
        "iptop --replay today.rec",
        "sudo tests/lab/nft-docker29.sh curl 5",
        "cargo run --release -- --demo",
    ] {
        assert!(
            readme.iter().any(|c| c.text == needle),
            "{needle:?} not found in {readme:#?}"
        );
    }
    // a comment is not part of its command
    assert!(
        all.iter().all(|c| !c.text.contains(" # ")),
        "{:#?}",
        all.iter()
            .filter(|c| c.text.contains(" # "))
            .collect::<Vec<_>>()
    );
    let text = "```sh\niptop --bad   # `iptop --also`\n```\nSee `sudo iptop\n-t nat` and `fish`.\n";
    let got: Vec<_> = commands_in("x.md", text, true)
        .into_iter()
        .map(|c| (c.line, c.text))
        .collect();
    assert_eq!(
        got,
        [
            (2, "iptop --bad".to_string()),
            (2, "iptop --also".to_string()),
            (4, "sudo iptop -t nat".to_string())
        ]
    );
}

/// Every command is one this file checks, or is listed with why it is not run; every
/// `BY_CI` one is in the file named; the lists hold no stale line.
#[test]
fn every_command_is_run_or_listed() {
    let all = all_commands();
    let mut bad = Vec::new();
    for c in &all {
        match classify(&c.text) {
            Err(e) => bad.push(format!("{}: {e}", c.at())),
            Ok(Kind::Ci { file, needle }) => {
                let text = std::fs::read_to_string(root().join(file)).expect("ci file");
                if !text.contains(needle) {
                    bad.push(format!("{}: {file} does not run `{needle}`", c.at()));
                }
            }
            Ok(Kind::Lab { script, args }) => {
                let text = std::fs::read_to_string(root().join("tests/lab").join(&script))
                    .unwrap_or_default();
                let sub = args.first().map_or("", String::as_str);
                // its `case` arm: `  up) ...`
                if !text.contains(&format!("\n  {sub})")) {
                    bad.push(format!("{}: tests/lab/{script} has no `{sub}`", c.at()));
                }
            }
            Ok(_) => {}
        }
    }
    // .ci/run runs packaging/deb.sh (which builds with --locked) and .ci/as-user.sh
    let ci = std::fs::read_to_string(root().join(".ci/run")).expect(".ci/run");
    assert!(ci.contains("bash .ci/as-user.sh") && ci.contains("bash packaging/deb.sh"));
    for (cmd, _, _) in BY_CI {
        if !all.iter().any(|c| c.text == cmd) {
            bad.push(format!("BY_CI lists `{cmd}`, which no page gives"));
        }
    }
    for (cmd, _) in NOT_RUN {
        if !all.iter().any(|c| c.text == cmd) {
            bad.push(format!("NOT_RUN lists `{cmd}`, which no page gives"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Every iptop command's options exist and combine: the binary's parser and the checks
/// that run before its first poll accept them.
#[test]
fn every_iptop_command_parses() {
    let mut bad = Vec::new();
    let mut n = 0;
    for c in all_commands() {
        let Ok(Kind::Iptop { args, .. }) = classify(&c.text) else {
            continue;
        };
        n += 1;
        let argv = std::iter::once("iptop".to_string()).chain(args);
        match iptop::cli::Cli::parse_args(argv) {
            Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {}
            Err(e) => bad.push(format!("{}\n{}", c.at(), e.render())),
            Ok(cli) => {
                if let Err(e) = iptop::settings::Settings::new(cli) {
                    bad.push(format!("{}\n{e}", c.at()));
                }
            }
        }
    }
    assert!(n >= 30, "only {n} iptop commands found");
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}

/// A README line with a removed option is caught (the check above is not vacuous).
#[test]
fn a_typo_fails_the_check() {
    for args in [
        vec!["iptop", "--once", "--windw", "3s"],
        vec!["iptop", "--stream", "--listen", "127.0.0.1:9899"],
    ] {
        let ok = iptop::cli::Cli::parse_args(&args)
            .ok()
            .map(iptop::settings::Settings::new)
            .is_some_and(|s| s.is_ok());
        assert!(!ok, "{args:?} accepted");
    }
}

/// The README stays a page a newcomer reads to the end: the rest is in docs/.
#[test]
fn the_readme_is_short() {
    let text = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let n = text.lines().count();
    assert!(n <= 300, "README.md has {n} lines (at most 300)");
}
