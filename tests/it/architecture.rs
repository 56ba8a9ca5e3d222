//! The shape of the source tree, checked on every test run (see ARCHITECTURE.md):
//! imports between modules point one way (no module cycle at any level), a few layers
//! never import the ones above them, and no source file grows past 700 lines.
//!
//! A module is a file or a directory module. Imports are read from the text of src/:
//! every `crate::a::b` path (in `use` lines and inline), `super::x` and `self::x`. They
//! are compared at each level of the tree: `crate::ui::render` importing
//! `crate::ui::live_view::LiveView` is an arrow render → state among the modules of ui/;
//! `crate::ui::…` importing `crate::model::…` is an arrow ui → model among the
//! top-level modules. A module's own submodules and its ancestors are not arrows (a
//! parent declares its children; a child may use what its parent defines).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest a source file may be.
const MAX_LINES: usize = 700;

type ModPath = Vec<String>;

struct SourceFile {
    module: ModPath,
    text: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `src/ui/state/hot.rs` → `ui::live_view::hot`; `src/ui/mod.rs` → `ui`; `src/lib.rs` → ``.
fn module_of(path: &Path) -> ModPath {
    let rel = path.strip_prefix(src_dir()).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("file name");
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

fn sources() -> Vec<SourceFile> {
    let mut paths = Vec::new();
    rust_files(&src_dir(), &mut paths);
    paths
        .into_iter()
        .filter(|p| !p.ends_with("main.rs"))
        .map(|p| SourceFile {
            module: module_of(&p),
            text: std::fs::read_to_string(&p).expect("read"),
        })
        .collect()
}

/// The code of a line without its `//` comment (doc comments name modules freely).
fn code(line: &str) -> &str {
    match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    }
}

/// Every module path a file refers to, resolved against the modules that exist.
fn references(file: &SourceFile, modules: &BTreeSet<ModPath>) -> BTreeSet<ModPath> {
    let mut out = BTreeSet::new();
    for line in file.text.lines() {
        let line = code(line);
        for (start, _) in line
            .match_indices("crate::")
            .chain(line.match_indices("super::"))
        {
            // a path segment, not the end of a longer word (`my_crate::`)
            if line[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            let path: Vec<&str> = line[start..]
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or("")
                .split("::")
                .filter(|s| !s.is_empty())
                .collect();
            let mut abs: ModPath = if path[0] == "crate" {
                Vec::new()
            } else {
                // `super` of a file module is its parent module
                let mut m = file.module.clone();
                m.pop();
                m
            };
            let mut rest = &path[1..];
            while rest.first() == Some(&"super") {
                abs.pop();
                rest = &rest[1..];
            }
            for seg in rest {
                let mut next = abs.clone();
                next.push((*seg).to_string());
                if modules.contains(&next) {
                    abs = next;
                } else {
                    break;
                }
            }
            out.insert(abs);
        }
    }
    out
}

/// Arrows between sibling modules at every level: parent module → {from → {to}}.
fn arrows() -> BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> {
    let files = sources();
    let modules: BTreeSet<ModPath> = files.iter().map(|f| f.module.clone()).collect();
    let mut levels: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for f in &files {
        for to in references(f, &modules) {
            let common = f.module.iter().zip(&to).take_while(|(a, b)| a == b).count();
            // an ancestor or a descendant: no arrow
            if common == f.module.len() || common == to.len() {
                continue;
            }
            levels
                .entry(f.module[..common].to_vec())
                .or_default()
                .entry(f.module[common].clone())
                .or_default()
                .insert(to[common].clone());
        }
    }
    levels
}

/// The cycles of a graph, each as a closed path (one per strongly connected component
/// with more than one node).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = graph
        .iter()
        .flat_map(|(k, v)| std::iter::once(k).chain(v))
        .collect();
    let reaches = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(n) = stack.pop() {
            for m in graph.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    stack.push(m.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reaches(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in &nodes {
        if done.contains(*n) || !reach[n].contains(*n) {
            continue;
        }
        let component: Vec<String> = nodes
            .iter()
            .filter(|m| reach[n].contains(**m) && reach[*m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        done.extend(component.iter().cloned());
        out.push(component);
    }
    out
}

#[test]
fn no_module_imports_in_a_circle() {
    let mut found = Vec::new();
    for (parent, graph) in arrows() {
        for c in cycles(&graph) {
            let at = if parent.is_empty() {
                "crate".to_string()
            } else {
                parent.join("::")
            };
            let arrows: Vec<String> = c
                .iter()
                .flat_map(|a| {
                    graph[a]
                        .iter()
                        .filter(|b| c.contains(b))
                        .map(move |b| format!("{a} → {b}"))
                })
                .collect();
            found.push(format!("in {at}: {}", arrows.join(", ")));
        }
    }
    assert!(
        found.is_empty(),
        "modules that import each other:\n{}",
        found.join("\n")
    );
}

/// The layers that must never reach up (see ARCHITECTURE.md).
#[test]
fn lower_layers_never_import_the_upper_ones() {
    let top = &arrows()[&Vec::new()];
    let never: &[(&str, &[&str])] = &[
        (
            "model",
            &[
                "parse", "source", "diff", "tree", "cells", "report", "ui", "run", "cli",
            ],
        ),
        (
            "parse",
            &[
                "source", "diff", "tree", "cells", "report", "ui", "run", "cli",
            ],
        ),
        (
            "source",
            &[
                "diff", "tree", "cells", "report", "ui", "run", "cli", "docker",
            ],
        ),
        ("diff", &["tree", "cells", "report", "ui", "run", "cli"]),
        ("tree", &["cells", "report", "ui", "run", "cli"]),
        ("report", &["ui", "run", "cli"]),
        ("ui", &["run", "cli"]),
        ("docker", &["ui", "run", "cli", "report"]),
        ("explain", &["ui", "run", "cli", "report"]),
    ];
    let mut broken = Vec::new();
    for (from, tos) in never {
        for to in top.get(*from).into_iter().flatten() {
            if tos.contains(&to.as_str()) {
                broken.push(format!("{from} → {to}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports that point up a layer: {broken:?}"
    );
}

#[test]
fn no_source_file_is_longer_than_700_lines() {
    let mut paths = Vec::new();
    rust_files(&src_dir(), &mut paths);
    let long: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).expect("read").lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them by concern): {long:?}"
    );
}

/// The checker itself: a cycle between two sibling modules is found, one level down too.
#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    g.entry("c".into()).or_default().insert("d".into());
    let c = cycles(&g);
    assert_eq!(c, vec![vec!["a".to_string(), "b".into(), "c".into()]]);
    g.remove("c");
    assert!(cycles(&g).is_empty());
}
