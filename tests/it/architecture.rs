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

/// The text of a file without its comments (doc comments name modules freely).
fn code_of(text: &str) -> String {
    text.lines().map(code).collect::<Vec<_>>().join("\n")
}

/// The paths of a use tree that starts at `s` (after `crate::`/`super::`): `a::b`,
/// `a::{b, c::d}`, `{a, b::{c}}`, each as its segments. Stops at the end of the tree.
fn use_tree(s: &str) -> Vec<Vec<String>> {
    fn tree(s: &[u8], i: &mut usize) -> Vec<Vec<String>> {
        let mut prefix: Vec<String> = Vec::new();
        loop {
            while *i < s.len() && s[*i].is_ascii_whitespace() {
                *i += 1;
            }
            if *i < s.len() && s[*i] == b'{' {
                *i += 1;
                let mut out = Vec::new();
                loop {
                    for mut p in tree(s, i) {
                        let mut full = prefix.clone();
                        full.append(&mut p);
                        out.push(full);
                    }
                    while *i < s.len() && s[*i].is_ascii_whitespace() {
                        *i += 1;
                    }
                    match s.get(*i) {
                        Some(b',') => *i += 1,
                        Some(b'}') => {
                            *i += 1;
                            return out;
                        }
                        _ => return out,
                    }
                    while *i < s.len() && s[*i].is_ascii_whitespace() {
                        *i += 1;
                    }
                    if s.get(*i) == Some(&b'}') {
                        *i += 1;
                        return out;
                    }
                }
            }
            let start = *i;
            while *i < s.len() && (s[*i].is_ascii_alphanumeric() || s[*i] == b'_') {
                *i += 1;
            }
            if start == *i {
                return vec![prefix];
            }
            prefix.push(String::from_utf8_lossy(&s[start..*i]).into_owned());
            if s[*i..].starts_with(b"::") {
                *i += 2;
            } else {
                return vec![prefix];
            }
        }
    }
    let mut i = 0;
    tree(s.as_bytes(), &mut i)
}

/// Every module path a file refers to, resolved against the modules that exist: every
/// `crate::…` and `super::…` path, inline or in `use` lines, grouped imports
/// (`use crate::{a::b, c}`) included.
fn references(file: &SourceFile, modules: &BTreeSet<ModPath>) -> BTreeSet<ModPath> {
    let text = code_of(&file.text);
    let mut out = BTreeSet::new();
    for (start, word) in text
        .match_indices("crate::")
        .chain(text.match_indices("super::"))
    {
        // a path segment, not the end of a longer word (`my_crate::`, `$crate::`)
        if text[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ':')
        {
            continue;
        }
        let base: ModPath = if word == "crate::" {
            Vec::new()
        } else {
            // `super` of a file module is its parent module
            let mut m = file.module.clone();
            m.pop();
            m
        };
        for path in use_tree(&text[start + word.len()..]) {
            let mut abs = base.clone();
            let mut rest = &path[..];
            while rest.first().map(String::as_str) == Some("super") {
                abs.pop();
                rest = &rest[1..];
            }
            for seg in rest {
                let mut next = abs.clone();
                next.push(seg.clone());
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

/// The layer table of ARCHITECTURE.md, top (entry) first: each layer's top-level modules
/// (`cli.rs` → `cli`, `ui/` → `ui`).
fn layers() -> Vec<(String, BTreeSet<String>)> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .expect("ARCHITECTURE.md");
    let mut out = Vec::new();
    let mut in_table = false;
    for line in doc.lines() {
        if line.starts_with("| layer |") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 3 || cells[1].starts_with("---") {
            continue;
        }
        let modules = cells[2]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|m| m.trim_end_matches('/').trim_end_matches(".rs").to_string())
            .collect();
        out.push((cells[1].to_string(), modules));
    }
    out
}

/// Every top-level module sits in one layer of ARCHITECTURE.md's table, and imports only
/// its own layer and the layers below (the table lists the top layer first).
#[test]
fn every_module_imports_only_its_layer_and_those_below() {
    let layers = layers();
    assert!(
        layers.len() >= 5,
        "the layer table of ARCHITECTURE.md: {layers:?}"
    );
    let layer_of = |m: &str| layers.iter().position(|(_, ms)| ms.contains(m));
    let files = sources();
    let top: BTreeSet<String> = files
        .iter()
        .filter_map(|f| f.module.first().cloned())
        .collect();
    let missing: Vec<&String> = top.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        missing.is_empty(),
        "modules missing from ARCHITECTURE.md's layer table: {missing:?}"
    );
    let mut broken = Vec::new();
    for (from, tos) in arrows().get(&Vec::new()).into_iter().flatten() {
        let Some(lf) = layer_of(from) else { continue };
        for to in tos {
            if let Some(lt) = layer_of(to)
                && lt < lf
            {
                broken.push(format!(
                    "{from} ({}) → {to} ({})",
                    layers[lf].0, layers[lt].0
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports that point up a layer:\n{}",
        broken.join("\n")
    );
}

/// The import reader: grouped and nested imports are arrows too.
#[test]
fn grouped_imports_are_read() {
    assert_eq!(
        use_tree("{model::Snapshot, ui::{render, live_view::X}, run};"),
        vec![
            vec!["model".to_string(), "Snapshot".into()],
            vec!["ui".into(), "render".into()],
            vec!["ui".into(), "live_view".into(), "X".into()],
            vec!["run".into()],
        ]
    );
    assert_eq!(
        use_tree("cli::Cli, x"),
        vec![vec!["cli".to_string(), "Cli".into()]]
    );
    let file = SourceFile {
        module: vec!["report".into()],
        text: "use crate::{\n    ui::render, // the screen\n    model,\n};\nfn f() { super::cli::x() }".into(),
    };
    let modules: BTreeSet<ModPath> = [
        vec!["ui".to_string()],
        vec!["ui".into(), "render".into()],
        vec!["model".into()],
        vec!["cli".into()],
    ]
    .into_iter()
    .collect();
    let refs = references(&file, &modules);
    assert!(
        refs.contains(&vec!["ui".to_string(), "render".into()]),
        "{refs:?}"
    );
    assert!(refs.contains(&vec!["model".to_string()]), "{refs:?}");
    assert!(refs.contains(&vec!["cli".to_string()]), "{refs:?}");
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
