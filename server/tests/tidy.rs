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
            // The crate root, the binary, and the unit tests' scratch dirs (test code only).
            "lib" | "main" | "test_dir" => {}
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
    files.iter().flat_map(|file| named_modules(&read(file))).filter(|t| all.contains(t) && t != name).collect()
}

/// The modules of `server/src` a file's code names, as the code map names them (`x`, or
/// `front::x`): every `crate::` path, in `use` items of any shape (grouped, nested, over
/// several lines) and in code. Comments are left out.
fn named_modules(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let boundary = code[..i].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if boundary {
            for path in use_tree(&mut code[i + "crate::".len()..].chars().peekable()) {
                let module = match path.as_slice() {
                    [front, inner, ..] if front == "front" => format!("front::{inner}"),
                    [first, ..] => first.clone(),
                    [] => continue,
                };
                out.insert(module);
            }
        }
    }
    out
}

/// The paths of a use tree (`a::b`, `a::{b, c::{d}}`, `{a, b}`), each as its segments.
fn use_tree(chars: &mut std::iter::Peekable<std::str::Chars>) -> Vec<Vec<String>> {
    let skip_space = |chars: &mut std::iter::Peekable<std::str::Chars>| {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
    };
    skip_space(chars);
    if chars.next_if_eq(&'{').is_some() {
        let mut paths = Vec::new();
        loop {
            skip_space(chars);
            match chars.peek() {
                None => break,
                Some('}') => {
                    chars.next();
                    break;
                }
                Some(',') => {
                    chars.next();
                }
                Some(_) => {
                    let before = paths.len();
                    paths.extend(use_tree(chars));
                    if paths.len() == before && chars.next_if(|c| *c != '}' && *c != ',').is_none() {
                        // Nothing readable here: not a use tree after all.
                        break;
                    }
                }
            }
        }
        return paths;
    }
    let segment: String = std::iter::from_fn(|| chars.next_if(|c| c.is_alphanumeric() || *c == '_')).collect();
    if segment.is_empty() {
        return Vec::new();
    }
    skip_space(chars);
    let mut rest = chars.clone();
    if rest.next() == Some(':') && rest.next() == Some(':') {
        chars.next();
        chars.next();
        let inner = use_tree(chars);
        if !inner.is_empty() {
            return inner
                .into_iter()
                .map(|mut path| {
                    path.insert(0, segment.clone());
                    path
                })
                .collect();
        }
    }
    vec![vec![segment]]
}

#[test]
fn the_import_scan_reads_grouped_nested_and_multi_line_paths() {
    let text = "use crate::{config::Settings, side_module::{SideModuleBuilder, Tools}};\n\
                use crate::{\n    front::{watch, lsp::ext},\n    stages,\n};\n\
                // use crate::doctor;\n\
                fn f() { crate::deliver::AppServer::start(); let x = my_crate::compile::y; }";
    let found: Vec<String> = named_modules(text).into_iter().collect();
    assert_eq!(found, ["config", "deliver", "front::lsp", "front::watch", "side_module", "stages"]);
}

/// The module graph of `server/src`: who names whom.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules.iter().map(|(name, (_, files))| (name.clone(), dependencies(name, files, &names))).collect()
}

/// The stage implementations, and the modules that may name them besides each other:
/// `app`, the composition root; `doctor`, which runs each stage's own code on a user's setup
/// to say what a patch will meet; `main_module`, the page's contract, which reads a built
/// app with the check stage and links with the build stage's emcc.
const CONCRETE_STAGES: [&str; 4] = ["compile", "side_module", "check", "deliver"];
const MAY_NAME_STAGES: [&str; 3] = ["app", "doctor", "main_module"];

/// Every module that names a concrete stage without being allowed to, with the stage.
fn stage_boundary_violations(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let allowed = |m: &str| CONCRETE_STAGES.contains(&m) || MAY_NAME_STAGES.contains(&m);
    graph
        .iter()
        .filter(|(module, _)| !allowed(module))
        .flat_map(|(module, deps)| {
            CONCRETE_STAGES
                .iter()
                .filter(|stage| deps.contains(**stage))
                .map(move |stage| format!("`{module}` names `{stage}`"))
        })
        .collect()
}

#[test]
fn only_the_composition_roots_name_concrete_stages() {
    let violations = stage_boundary_violations(&graph());
    assert!(violations.is_empty(), "only {MAY_NAME_STAGES:?} may name the concrete stages: {violations:?}");
}

#[test]
fn a_grouped_import_across_a_boundary_is_caught() {
    let demo =
        named_modules("use crate::{\n    config::Settings,\n    side_module::{build_main_module, BuildError},\n};");
    let graph = BTreeMap::from([("front::demo".to_string(), demo)]);
    assert_eq!(stage_boundary_violations(&graph), ["`front::demo` names `side_module`"]);
}

#[test]
fn modules_do_not_import_each_other_in_circles() {
    let graph = graph();
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

// The editor protocol's mirrors: constants generated from `front/lsp/ext.rs` and `config`,
// TypeScript interfaces checked field by field against the Rust types.

use jank_hotpatch::front::lsp::ext;
use jank_hotpatch::stages::Stage;
use serde_json::{json, Value};

const GENERATED_BY: &str = "UPDATE_PROTOCOL=1 cargo test -p jank-hotpatch --test tidy";

fn stages() -> Vec<&'static str> {
    Stage::ALL.iter().map(|s| s.as_str()).collect()
}

fn typescript_mirror() -> String {
    let settings: serde_json::Map<String, Value> = jank_hotpatch::config::keys_and_defaults().into_iter().collect();
    format!(
        r#"// The sidecar's editor protocol: generated from server/src/front/lsp/ext.rs and
// server/src/config by `{GENERATED_BY}`. Do not edit.

export const HOT_PATCH_FORM = {form};
export const HOT_PATCH_FILE = {file};
export const UNDO_PATCH = {undo};
export const PATCH_STATUS = {patch_status};
export const SERVER_STATUS = {server_status};
export const STATUS_REQUEST = {status};

/** The stages of a patch, in the order they run. */
export const STAGES = {stages} as const;
export type Stage = (typeof STAGES)[number];

/** How long a patched form is highlighted, in milliseconds. */
export const FLASH_MS = {flash};
/** The longest value shown inline, in characters. */
export const VALUE_MAX_CHARS = {value_max};
/** The source of the diagnostics (and the start of the log lines) of errors thrown while
 * patched code runs in a page. */
export const RUNTIME_SOURCE = {runtime_source};

/** Every sidecar setting with its default (`null`: none). */
export const SETTINGS: Readonly<Record<string, unknown>> = {settings};
"#,
        form = json!(ext::HOT_PATCH_FORM),
        file = json!(ext::HOT_PATCH_FILE),
        undo = json!(ext::UNDO_PATCH),
        patch_status = json!(<ext::PatchStatus as tower_lsp_server::ls_types::notification::Notification>::METHOD),
        server_status = json!(<ext::ServerStatus as tower_lsp_server::ls_types::notification::Notification>::METHOD),
        status = json!(ext::STATUS_REQUEST),
        stages = json!(stages()),
        flash = ext::FLASH_MS,
        value_max = ext::VALUE_MAX_CHARS,
        runtime_source = json!(ext::RUNTIME_SOURCE),
        settings = serde_json::to_string_pretty(&settings).unwrap(),
    )
}

fn elisp_mirror() -> String {
    let quoted = |s: &str| format!("{s:?}");
    let stages: Vec<String> = stages().iter().map(|s| quoted(s)).collect();
    format!(
        r#";;; jank-hotpatch-protocol.el --- The sidecar's editor protocol  -*- lexical-binding: t; -*-

;; This file is not part of GNU Emacs.

;;; Commentary:

;; Generated from server/src/front/lsp/ext.rs, server/src/config and
;; server/src/app.rs by
;; `{GENERATED_BY}'.  Do not edit.

;;; Code:

(defconst jank-hotpatch-protocol-hot-patch-form {form}
  "The command that patches the top-level form at a position.")

(defconst jank-hotpatch-protocol-hot-patch-file {file}
  "The command that patches the forms of a file changed since its last patch.")

(defconst jank-hotpatch-protocol-undo-patch {undo}
  "The command that takes a definition, or a file's last patch, back one version.")

(defconst jank-hotpatch-protocol-patch-status {patch_status}
  "The notification that carries every patch report.")

(defconst jank-hotpatch-protocol-server-status {server_status}
  "The notification that carries the sidecar's health.")

(defconst jank-hotpatch-protocol-stages '({stages})
  "The stages of a patch, in the order they run.")

(defconst jank-hotpatch-protocol-flash-seconds {flash}
  "How long a patched form is highlighted, in seconds.")

(defconst jank-hotpatch-protocol-value-max-chars {value_max}
  "The longest value shown inline, in characters.")

(defconst jank-hotpatch-protocol-version {version}
  "The version of jank-hotpatch this package belongs to.
Its sidecar gives its own in the serverInfo of its answer to initialize.")

(defconst jank-hotpatch-protocol-runtime-source {runtime_source}
  "The source of the diagnostics of errors thrown by patched code in a page.")

(defconst jank-hotpatch-protocol-cache-dir {cache_dir}
  "The sidecar's cache directory when cacheDir is not set, in the workspace.")

(defconst jank-hotpatch-protocol-app-url-file {app_url}
  "The file in the cache directory that holds the app's URL.")

(provide 'jank-hotpatch-protocol)
;;; jank-hotpatch-protocol.el ends here
"#,
        form = quoted(ext::HOT_PATCH_FORM),
        file = quoted(ext::HOT_PATCH_FILE),
        undo = quoted(ext::UNDO_PATCH),
        patch_status = quoted(<ext::PatchStatus as tower_lsp_server::ls_types::notification::Notification>::METHOD),
        server_status = quoted(<ext::ServerStatus as tower_lsp_server::ls_types::notification::Notification>::METHOD),
        stages = stages.join(" "),
        flash = ext::FLASH_MS as f64 / 1000.0,
        value_max = ext::VALUE_MAX_CHARS,
        version = quoted(env!("CARGO_PKG_VERSION")),
        runtime_source = quoted(ext::RUNTIME_SOURCE),
        cache_dir = quoted(jank_hotpatch::config::CACHE_DIR),
        app_url = quoted(jank_hotpatch::app::APP_URL_FILE),
    )
}

#[test]
fn the_editors_protocol_constants_are_generated_from_ext_rs() {
    for (path, text) in [
        ("vscode-extension/src/protocol.generated.ts", typescript_mirror()),
        ("emacs/jank-hotpatch-protocol.el", elisp_mirror()),
    ] {
        let path = repo().join(path);
        if std::env::var_os("UPDATE_PROTOCOL").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == text, "{} is out of date with ext.rs: run `{GENERATED_BY}`", path.display());
    }
}

/// The workspace's version (Cargo.toml) is the version of every package: the editors compare
/// theirs with the sidecar's `serverInfo.version`, and `scripts/dist.sh` names the artifacts
/// after it.
#[test]
fn the_editor_packages_have_the_workspace_version() {
    let version = env!("CARGO_PKG_VERSION");
    let package: Value = serde_json::from_str(&read(&repo().join("vscode-extension/package.json"))).unwrap();
    assert_eq!(package["version"], json!(version), "vscode-extension/package.json: \"version\"");
    let emacs = read(&repo().join("emacs/jank-hotpatch.el"));
    let header = emacs.lines().find_map(|l| l.strip_prefix(";; Version: "));
    assert_eq!(header, Some(version), "emacs/jank-hotpatch.el: the `;; Version:` header");
}

/// The fields of `export interface <name> { ... }` in a TypeScript file.
fn interface_fields(ts: &str, name: &str) -> BTreeSet<String> {
    let start = ts.find(&format!("export interface {name} {{")).unwrap_or_else(|| panic!("no interface {name}"));
    let body = &ts[start..ts[start..].find("\n}").map(|e| start + e).unwrap()];
    body.lines()
        .skip(1)
        .filter_map(|l| {
            let l = l.trim();
            let field: String = l.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            (!field.is_empty() && l[field.len()..].trim_start().starts_with(['?', ':'])).then_some(field)
        })
        .collect()
}

fn json_fields(value: Value) -> BTreeSet<String> {
    value.as_object().expect("an object").keys().cloned().collect()
}

#[test]
fn the_typescript_interfaces_have_the_fields_the_server_sends() {
    let ts = read(&repo().join("vscode-extension/src/lsp_ext.ts"));
    let uri: tower_lsp_server::ls_types::Uri = "file:///a.jank".parse().unwrap();
    // Every optional field filled, so that serde writes every field.
    let report = ext::PatchReportParams {
        ok: true,
        uri,
        forms: vec![ext::PatchedFormParams {
            ns: "a".into(),
            name: None,
            range: Default::default(),
            value: Some("1".into()),
        }],
        stages: Default::default(),
        steps: Default::default(),
        total_ms: 1.0,
        pages: 1,
        value: Some("1".into()),
        error: Some(ext::ReportErrorParams { stage: Stage::Build, message: "x".into() }),
        message: Some("x".into()),
        superseded: true,
        warnings: vec!["x".into()],
        summary: "x".into(),
        stage_order: Stage::ALL.to_vec(),
        undo: true,
        versions: vec![ext::VarVersionParams { ns: "a".into(), name: "b".into(), version: 1 }],
        output: vec!["x".into()],
        dependents: vec![ext::DependentParams {
            uri: "file:///b.jank".parse().unwrap(),
            ns: "b".into(),
            name: Some("f".into()),
            range: Default::default(),
            macros: vec!["a/m".into()],
            ok: false,
            error: Some(ext::ReportErrorParams { stage: Stage::Compile, message: "x".into() }),
        }],
    };
    let status = serde_json::to_value(ext::ServerStatusParams { app_url: Some("x".into()), ..Default::default() }).unwrap();
    let value = serde_json::to_value(&report).unwrap();
    for (interface, fields) in [
        ("PatchReport", json_fields(value.clone())),
        ("PatchedForm", json_fields(value["forms"][0].clone())),
        ("StageTimes", json_fields(value["stages"].clone())),
        ("VarVersion", json_fields(value["versions"][0].clone())),
        ("Dependent", json_fields(value["dependents"][0].clone())),
        ("ServerStatusParams", json_fields(status.clone())),
    ] {
        assert_eq!(interface_fields(&ts, interface), fields, "lsp_ext.ts `{interface}` against ext.rs");
    }
    assert!(ts.contains("name: string | null"), "a form's name is null for an expression");
    for sent in [value, status] {
        assert_eq!(keys_not_in_camel_case(&sent), Vec::<String>::new(), "the editor protocol is in LSP's camelCase");
    }
}

/// The keys of a JSON value, at any depth, that are not camelCase.
fn keys_not_in_camel_case(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, value)| {
                let own = (key.contains(['_', '-']) || key.starts_with(|c: char| c.is_uppercase())).then(|| key.clone());
                own.into_iter().chain(keys_not_in_camel_case(value))
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(keys_not_in_camel_case).collect(),
        _ => Vec::new(),
    }
}

/// Every type of `ext.rs` that goes over the wire is renamed to camelCase, and every command's
/// arguments (`*Args`) refuse unknown fields: a typo or another casing is an error, never
/// silently ignored.
#[test]
fn every_editor_protocol_type_is_camel_case_and_arguments_refuse_unknown_fields() {
    let ext = read(&repo().join("server/src/front/lsp/ext.rs"));
    let lines: Vec<&str> = ext.lines().collect();
    let mut checked = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line.strip_prefix("pub struct ").and_then(|rest| rest.split([' ', '{']).next()) else {
            continue;
        };
        let attributes: Vec<&str> = lines[..i].iter().rev().take_while(|l| l.starts_with("#[")).copied().collect();
        if !attributes.iter().any(|a| a.contains("Serialize") || a.contains("Deserialize")) {
            continue;
        }
        checked += 1;
        let serde = attributes.iter().find(|a| a.starts_with("#[serde(")).copied().unwrap_or_default();
        assert!(serde.contains(r#"rename_all = "camelCase""#), "ext.rs `{name}` is not renamed to camelCase");
        if name.ends_with("Args") {
            assert!(serde.contains("deny_unknown_fields"), "ext.rs `{name}` accepts unknown fields");
        }
    }
    assert!(checked >= 9, "found only {checked} protocol types in ext.rs");
}

#[test]
fn the_editors_take_protocol_names_from_the_generated_files_only() {
    // As string literals: comments may name them.
    let literals: Vec<String> = [
        ext::HOT_PATCH_FORM,
        ext::HOT_PATCH_FILE,
        ext::UNDO_PATCH,
        "jank/patchStatus",
        "jank/serverStatus",
        "compileMs",
    ]
    .iter()
    .map(|name| format!("\"{name}\""))
    .collect();
    let mut sources: Vec<PathBuf> = Vec::new();
    for dir in ["vscode-extension/src", "emacs"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap().flatten() {
            let path = entry.path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if (name.ends_with(".ts") || name.ends_with(".el"))
                && !name.contains("generated")
                && !name.contains("protocol")
            {
                sources.push(path);
            }
        }
    }
    for path in sources {
        let text = read(&path);
        for literal in &literals {
            assert!(
                !text.contains(literal.as_str()),
                "{} spells `{literal}` itself: take it from the generated protocol file",
                path.display()
            );
        }
    }
}

#[test]
fn the_vscode_settings_are_sidecar_settings_with_its_defaults() {
    let package: Value = serde_json::from_str(&read(&repo().join("vscode-extension/package.json"))).unwrap();
    let properties = package["contributes"]["configuration"]["properties"].as_object().expect("settings");
    let defaults: BTreeMap<String, Value> = jank_hotpatch::config::keys_and_defaults().into_iter().collect();
    for (name, property) in properties {
        let key =
            name.strip_prefix("jankHotpatch.").unwrap_or_else(|| panic!("`{name}` lacks the jankHotpatch prefix"));
        if key.starts_with("server.") {
            continue; // the client's own (where the sidecar binary is)
        }
        let default = defaults
            .get(key)
            .unwrap_or_else(|| panic!("package.json offers `{name}`, which the sidecar does not know"));
        if !default.is_null() {
            assert_eq!(&property["default"], default, "package.json's default for `{name}`");
        }
    }
}

#[test]
fn the_test_support_crate_names_jank_s_port_file_as_the_sidecar_does() {
    assert_eq!(test_support::standin::PORT_FILE, jank_hotpatch::nrepl::PORT_FILE);
}
