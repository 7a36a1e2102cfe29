//! Tidy checks, as rust-analyzer has them: the tree and its documents must not drift apart.
//! Each fails the build with what to fix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the server crate sits in the repository").to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The modules of `server/src` as the code map names them: top-level modules, and the front
/// ends one by one (`front` only groups them). Each with the file that holds its `//!` header
/// and every `.rs` file that belongs to it.
fn modules() -> BTreeMap<String, (PathBuf, Vec<PathBuf>)> {
    let src = repo().join("server/src");
    let mut out = BTreeMap::new();
    let mut add = |name: String, path: PathBuf| {
        let (header, files) =
            if path.is_dir() { (path.join("mod.rs"), rust_files(&path)) } else { (path.clone(), vec![path]) };
        out.insert(name, (header, files));
    };
    for entry in std::fs::read_dir(&src).unwrap().flatten() {
        let path = entry.path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        match stem.as_str() {
            "lib" | "main" => {}
            "front" => {
                for inner in std::fs::read_dir(&path).unwrap().flatten() {
                    let inner = inner.path();
                    let name = inner.file_stem().unwrap().to_string_lossy().into_owned();
                    if name != "mod" {
                        add(format!("front::{name}"), inner);
                    }
                }
            }
            _ => add(stem, path),
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn every_module_says_what_it_owns() {
    for (name, (header, _)) in modules() {
        let text = read(&header);
        assert!(
            text.starts_with("//!"),
            "server/src module `{name}` ({}) must start with a `//!` header",
            header.display()
        );
    }
}

/// Which modules a module's code names (`crate::x`, or a sibling front end).
fn dependencies(name: &str, files: &[PathBuf], all: &BTreeSet<String>) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    for file in files {
        let text = read(file);
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + "crate::".len()..];
                let first: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                let target = if first == "front" {
                    let inner: String = rest["front::".len().min(rest.len())..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    format!("front::{inner}")
                } else {
                    first
                };
                if all.contains(&target) && target != name {
                    deps.insert(target);
                }
            }
        }
    }
    deps
}

#[test]
fn modules_do_not_import_each_other_in_circles() {
    let modules = modules();
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let graph: BTreeMap<String, BTreeSet<String>> =
        modules.iter().map(|(name, (_, files))| (name.clone(), dependencies(name, files, &names))).collect();
    // Depth-first search for a back edge; the path to it is the cycle to report.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in &graph[node] {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for name in graph.keys() {
        if let Some(cycle) = visit(name, &graph, &mut Vec::new(), &mut done) {
            panic!("modules of server/src import each other in a circle: {}", cycle.join(" -> "));
        }
    }
    // The stages' contracts and the reader are the bottom: they name no other stage.
    for leaf in ["stages", "reader", "config"] {
        let deps: Vec<_> = graph[leaf].iter().filter(|d| d.as_str() != "reader").collect();
        assert!(deps.is_empty(), "`{leaf}` must not depend on {deps:?}");
    }
    // Only the composition root names the concrete stages among the layers above them.
    for upper in ["pipeline", "front::lsp", "front::watch", "front::nrepl_endpoint"] {
        for concrete in ["compile", "build", "check", "deliver"] {
            assert!(
                !graph[upper].contains(concrete),
                "`{upper}` names the concrete stage `{concrete}`: only `app` may"
            );
        }
    }
}

#[test]
fn architecture_names_every_module() {
    let architecture = read(&repo().join("ARCHITECTURE.md"));
    for name in modules().keys() {
        let shown = name.rsplit("::").next().unwrap();
        assert!(
            architecture.contains(&format!("`{shown}/`")) || architecture.contains(&format!("`{shown}.rs`")),
            "ARCHITECTURE.md has no section for the module `{name}` of server/src (as `{shown}/` or `{shown}.rs`)"
        );
    }
}

/// The README's settings table, `| `key` | default | what |`, keyed by setting.
fn readme_settings() -> BTreeMap<String, String> {
    let readme = read(&repo().join("README.md"));
    let table = readme.split("## Settings").nth(1).expect("README.md has a `## Settings` section");
    table
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let key = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((key.to_string(), cells.get(2)?.to_string()))
        })
        .collect()
}

#[test]
fn readme_lists_every_setting_with_its_default() {
    let table = readme_settings();
    let keys = jank_hotpatch::config::keys_and_defaults();
    for (key, default) in &keys {
        let row = table.get(key).unwrap_or_else(|| panic!("README.md's settings table has no row for `{key}`"));
        let shown = match default {
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => format!("`{s}`"),
            other => format!("`{other}`"),
        };
        assert_eq!(row, &shown, "README.md's default for `{key}`");
    }
    let known: BTreeSet<&String> = keys.iter().map(|(k, _)| k).collect();
    for key in table.keys() {
        assert!(known.contains(key), "README.md's settings table lists `{key}`, which is not a setting");
    }
}
