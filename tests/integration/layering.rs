//! The dependency direction of DESIGN.md §3, read from the source: every `crate::<module>` path
//! in `src/**/*.rs` (outside `#[cfg(test)] mod tests` and comments) is an edge from the file's
//! top-level module to `<module>`.
//!
//! cli → daemon → host → live → bus → exec, settings, permissions, audit, rollback → the model
//! (event, decision, matcher, error, and the leaves vocab, clock, readfile). The model imports
//! nothing outside the model; settings never imports bus/live/host; exec never imports
//! settings/bus; audit never imports settings; nothing below the front ends imports them.
//!
//! No exception list: the test fails on any edge that breaks these rules and on any import
//! cycle between top-level modules outside the front ends.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn graph() -> Graph {
    let mut g = Graph::new();
    let src = super::support::repo().join("src");
    for (p, code) in sources(&src) {
        let rel = p.strip_prefix(&src).unwrap();
        let top = top_module(rel);
        let entry = g.entry(top.clone()).or_default();
        for line in code.lines() {
            let mut rest = line;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let m: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if !m.is_empty() && m != top {
                    entry.insert(m);
                }
            }
        }
    }
    g
}

/// Every `.rs` file under `root` with its code: the `#[cfg(test)] mod tests` block and `//`
/// comments left out.
fn sources(root: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
                let code =
                    text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
                out.push((p, code));
            }
        }
    }
    out
}

fn top_module(rel: &Path) -> String {
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

const MODEL: &[&str] = &[
    "event",
    "decision",
    "matcher",
    "error",
    "vocab",
    "clock",
    "readfile",
    "atomic_file",
    "digest",
    "offload",
    "sandbox_settings",
    "file_lock",
];
/// The command line and what only it uses: argument types and rendering, and the modules that
/// exist for one command (`completions`, `install`, `init`, `pipe`, `lint` for `check`,
/// `hooktest` for `test`).
const FRONT_ENDS: &[&str] = &["cli", "main", "lib", "completions", "install", "init", "pipe", "lint", "hooktest"];

/// Why an edge breaks the direction, or `None`.
fn rule(from: &str, to: &str) -> Option<&'static str> {
    if MODEL.contains(&from) && !MODEL.contains(&to) {
        return Some("the model imports nothing outside the model");
    }
    if FRONT_ENDS.contains(&to) && !FRONT_ENDS.contains(&from) {
        return Some("nothing below the front ends imports them");
    }
    match (from, to) {
        ("settings", "bus" | "live" | "host" | "daemon") => Some("settings never calls the bus or above"),
        ("exec", "settings" | "bus" | "live" | "host") => Some("exec runs one resolved hook"),
        ("audit", "settings") => Some("audit knows no settings types"),
        ("bus", "live" | "host" | "daemon") => Some("bus is one revision's pipeline"),
        ("live", "host" | "daemon") => Some("live knows no front end"),
        ("host", "daemon") => Some("host knows no socket"),
        _ => None,
    }
}

/// Strongly connected components with more than one member (Tarjan's algorithm).
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !g.contains_key(w) {
                continue;
            }
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low[v];
                t.low.insert(v, lv.min(lw));
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low[v];
                t.low.insert(v, lv.min(iw));
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn dependencies_point_the_way_design_md_says() {
    let g = graph();
    assert!(g.len() > 20, "the module graph: {g:?}");
    assert!(g["daemon"].contains("host"), "the daemon asks the host: {:?}", g["daemon"]);
    let mut problems = Vec::new();
    for (from, tos) in &g {
        for to in tos {
            if let Some(why) = rule(from, to) {
                problems.push(format!("{from} → {to}: {why}"));
            }
        }
    }
    // The front ends are one layer (DESIGN.md's `cli/` folder and the modules that exist for
    // one command): cycles among them are allowed; anywhere else, none.
    for c in cycles(&g).into_iter().filter(|c| !c.iter().all(|m| FRONT_ENDS.contains(&m.as_str()))) {
        problems.push(format!("import cycle: {}", c.join(" ↔ ")));
    }
    assert!(problems.is_empty(), "{} layering problem(s):\n  {}", problems.len(), problems.join("\n  "));
}

/// The rules catch what they are meant to (the checker itself can fail).
#[test]
fn the_layering_rules_catch_a_violation() {
    assert!(rule("settings", "bus").is_some());
    assert!(rule("exec", "settings").is_some());
    assert!(rule("event", "settings").is_some());
    assert!(rule("host", "cli").is_some());
    assert!(rule("host", "live").is_none());
    let mut g = Graph::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("a".into());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycles(&g), vec![vec!["a".to_string(), "b".to_string()]]);
}

/// The files of one module folder (`src/<folder>/<child>.rs` or `src/<folder>/<child>/…`) and
/// which of their siblings each names (`crate::<folder>::<sibling>`, `super::<sibling>` from a
/// child, `super::super::<sibling>` from a grandchild, `use super::{a, b}` groups); test code
/// (`mod tests`, and the `tests`/`*_tests` files) left out.
fn folder_graph(folder: &Path) -> Graph {
    let name = folder.file_name().unwrap().to_string_lossy().into_owned();
    let children: BTreeSet<String> = std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().trim_end_matches(".rs").to_string())
        .filter(|c| c != "mod" && c != "tests" && !c.ends_with("_tests"))
        .collect();
    let mut g = Graph::new();
    for (p, code) in sources(folder) {
        let rel: Vec<String> =
            p.strip_prefix(folder).unwrap().components().map(|c| c.as_os_str().to_string_lossy().into()).collect();
        if rel == ["mod.rs"] {
            continue;
        }
        let child = rel[0].trim_end_matches(".rs").to_string();
        if !children.contains(&child) {
            continue;
        }
        // `super` is the folder from `<child>.rs` and `<child>/mod.rs`; deeper, one more.
        let up = if rel.len() == 1 || (rel.len() == 2 && rel[1] == "mod.rs") { "super::" } else { "super::super::" };
        let entry = g.entry(child.clone()).or_default();
        let crate_prefix = format!("crate::{name}::");
        for prefix in [crate_prefix.as_str(), up] {
            let mut rest = code.as_str();
            while let Some(at) = rest.find(prefix) {
                rest = &rest[at + prefix.len()..];
                // After `super::`, `super::super::` is the grandparent: not a sibling.
                let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                    let inner = group.split('}').next().unwrap_or_default();
                    inner
                        .split(',')
                        .map(|s| s.trim().split("::").next().unwrap_or_default().trim().to_string())
                        .collect()
                } else {
                    vec![
                        rest.chars()
                            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                            .collect(),
                    ]
                };
                for n in names {
                    if n != child && children.contains(&n) {
                        entry.insert(n);
                    }
                }
            }
        }
    }
    g
}

/// No import cycle between the files of one module folder either (issue 18 named
/// `settings/file ↔ settings/remote`): each folder's files point one way. The front ends
/// (`cli/`) are one layer and exempt.
#[test]
fn no_module_folder_has_an_import_cycle_among_its_files() {
    let src = super::support::repo().join("src");
    let mut problems = Vec::new();
    let mut folders = 0;
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let p = e.path();
        if !p.is_dir() || p.file_name().is_some_and(|n| n == "cli") {
            continue;
        }
        folders += 1;
        let g = folder_graph(&p);
        for c in cycles(&g) {
            problems.push(format!("src/{}: {}", p.file_name().unwrap().to_string_lossy(), c.join(" ↔ ")));
        }
    }
    assert!(folders >= 8, "module folders found: {folders}");
    assert!(problems.is_empty(), "import cycles inside module folders:\n  {}", problems.join("\n  "));
    // The scan sees a sibling edge in each spelling (it can fail).
    let settings = folder_graph(&src.join("settings"));
    assert!(settings["resolve"].contains("remote"), "{settings:?}");
    assert!(settings["remote"].contains("file"), "{settings:?}");
    assert!(settings["file"].contains("remote_config"), "{settings:?}");
}
