//! Settings: defaults, then `jank-hotpatch.toml` at the workspace root, then the editor's
//! initializationOptions, then `workspace/configuration` (later layers win).
//!
//! Owns: the setting names, their types and defaults, and checking them. A bad value keeps
//! the previous value and produces a [`ConfigProblem`] with the reason; an unknown key is a
//! warning. Must not read LSP types: the `lsp` module hands it plain JSON.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The optional per-workspace settings file.
pub const CONFIG_FILE: &str = "jank-hotpatch.toml";

/// The cache directory, in the workspace, unless `cacheDir` says otherwise: everything the
/// sidecar writes goes there (patch ids, build cache, journal, the app's URL, the demo's runtime).
pub const CACHE_DIR: &str = ".jank-hotpatch";

/// Which tools turn C++ into a side module.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Toolchain {
    /// `resident` when its service is built and starts, else `clang` when emscripten's clang++
    /// and wasm-ld are found, else `emcc`.
    #[default]
    Auto,
    /// clang and lld kept loaded in the build service (`build-service/`): no process start
    /// per patch; the same bytes as `clang`, which it falls back to.
    Resident,
    /// clang++ and wasm-ld called directly with emcc's flags (about 5x faster than emcc).
    Clang,
    /// `emcc -sSIDE_MODULE=1`.
    Emcc,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// Patch the changed forms of a file when it is saved.
    pub patch_on_save: bool,
    pub nrepl: NreplSettings,
    pub build: BuildSettings,
    pub app: AppSettings,
    /// Where patch ids, the build cache, generated C++ and the journal live.
    /// Default: `<workspace>/.jank-hotpatch`.
    pub cache_dir: Option<PathBuf>,
    pub nrepl_server: NreplServerSettings,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NreplSettings {
    /// `host:port` of jank's nREPL server. Default: read `.nrepl-port`, walking up from the
    /// file being patched.
    pub endpoint: Option<String>,
    pub timeout_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildSettings {
    pub toolchain: Toolchain,
    /// Headers precompiled once and included in every patch build (e.g. `<string>`).
    pub pch_headers: Vec<String>,
    /// Extra include directories for the generated C++ (jank's runtime headers).
    pub include_dirs: Vec<PathBuf>,
    pub timeout_ms: u64,
    /// Upper bound of the on-disk build cache; least recently used entries go first.
    pub cache_max_mb: u64,
    /// Where emscripten is installed. Default: found from `emcc` on PATH.
    pub emscripten_root: Option<PathBuf>,
    /// The resident build's `jank-build-service` binary. Default: next to `jank-hotpatch`,
    /// else where this crate's build put it.
    pub service_binary: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppSettings {
    /// Directory of the app's static files (page, main module `.js`/`.wasm`).
    pub root: Option<PathBuf>,
    /// The main module `.wasm`, whose exports every patch's imports are checked against.
    pub main_module: Option<PathBuf>,
    /// Address the HTTP + WebSocket server binds. Loopback unless you mean otherwise.
    pub host: String,
    /// Port of the HTTP + WebSocket server; the next free port is used when it is taken.
    pub port: u16,
    /// Largest side module sent to pages, in bytes.
    pub max_module_bytes: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NreplServerSettings {
    /// Listen as an nREPL server in front of jank's, for CIDER, Calva and Conjure.
    pub enabled: bool,
    /// 0 picks a free port; the port is written to `<cacheDir>/nrepl-port`.
    pub port: u16,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            patch_on_save: true,
            nrepl: NreplSettings { endpoint: None, timeout_ms: 30_000 },
            build: BuildSettings {
                toolchain: Toolchain::Auto,
                // Every patch of the jank fork includes it: precompiled once, a compile in the
                // build service took 2.9 ms instead of 3.4 (mean of 380 each, interleaved).
                pch_headers: vec!["<stdint.h>".into()],
                include_dirs: Vec::new(),
                timeout_ms: 30_000,
                cache_max_mb: 256,
                emscripten_root: None,
                service_binary: None,
            },
            app: AppSettings {
                root: None,
                main_module: None,
                host: "127.0.0.1".to_string(),
                port: 7888,
                max_module_bytes: 16 * 1024 * 1024,
            },
            cache_dir: None,
            nrepl_server: NreplServerSettings { enabled: false, port: 0 },
        }
    }
}

/// Something wrong with a setting. The setting keeps its previous value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    #[error("unknown setting `{key}` in {source_name} (ignored)")]
    UnknownKey { key: String, source_name: String },
    #[error("bad value for `{key}` in {source_name}: {reason}; keeping {kept}")]
    BadValue { key: String, source_name: String, reason: String, kept: String },
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
}

impl ConfigProblem {
    /// Unknown keys are warnings; everything else is an error the user must see.
    pub fn is_warning(&self) -> bool {
        matches!(self, ConfigProblem::UnknownKey { .. })
    }
}

impl Settings {
    /// Reads `jank-hotpatch.toml` from `workspace` (if present) over the defaults.
    pub fn load(workspace: &Path) -> (Settings, Vec<ConfigProblem>) {
        let mut settings = Settings::default();
        let problems = settings.apply_file(&workspace.join(CONFIG_FILE));
        (settings, problems)
    }

    /// Applies a settings file; a missing file is not a problem.
    pub fn apply_file(&mut self, path: &Path) -> Vec<ConfigProblem> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                return vec![ConfigProblem::Unreadable { path: path.display().to_string(), reason: e.to_string() }]
            }
        };
        match toml::from_str::<toml::Value>(&text) {
            Ok(value) => match serde_json::to_value(value) {
                Ok(json) => self.apply(&json, CONFIG_FILE),
                Err(e) => vec![ConfigProblem::Unreadable { path: path.display().to_string(), reason: e.to_string() }],
            },
            Err(e) => vec![ConfigProblem::Unreadable { path: path.display().to_string(), reason: e.to_string() }],
        }
    }

    /// Applies one layer of settings given as JSON (initializationOptions or the answer to
    /// `workspace/configuration`). Keys are camelCase and may be nested (`{"build":
    /// {"toolchain": "clang"}}`) or dotted (`{"build.toolchain": "clang"}`); a top-level
    /// `jankHotpatch` object is unwrapped. `null` means "not set here".
    pub fn apply(&mut self, layer: &Value, source_name: &str) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let Some(object) = layer.as_object() else {
            if !layer.is_null() {
                problems.push(ConfigProblem::BadValue {
                    key: "(settings)".into(),
                    source_name: source_name.into(),
                    reason: format!("expected an object, got {}", json_type(layer)),
                    kept: "all values".into(),
                });
            }
            return problems;
        };
        let mut flat = Vec::new();
        flatten("", object, &mut flat);
        for (key, value) in flat {
            if value.is_null() {
                continue;
            }
            let key = key.strip_prefix("jankHotpatch.").unwrap_or(&key).to_string();
            if let Err(problem) = self.set(&key, value, source_name) {
                problems.push(problem);
            }
        }
        problems
    }

    /// Sets one setting by its dotted key. The keys are the struct's own (its serde names, as
    /// `keys_and_defaults` lists them): the value is put in place in the settings' JSON and the
    /// whole read back, so that a bad value leaves every setting as it was.
    fn set(&mut self, key: &str, value: &Value, source_name: &str) -> Result<(), ConfigProblem> {
        let unknown = || ConfigProblem::UnknownKey { key: key.to_string(), source_name: source_name.to_string() };
        let mut tree = serde_json::to_value(&*self).map_err(|_| unknown())?;
        let slot = key.split('.').try_fold(&mut tree, |node, part| node.get_mut(part)).ok_or_else(unknown)?;
        if slot.is_object() {
            return Err(unknown()); // a section, not a setting
        }
        let kept = std::mem::replace(slot, value.clone()).to_string();
        let bad = |reason: String| ConfigProblem::BadValue {
            key: key.to_string(),
            source_name: source_name.to_string(),
            reason,
            kept: kept.clone(),
        };
        let mut updated: Settings = serde_json::from_value(tree).map_err(|e| bad(e.to_string()))?;
        if key == "nrepl.endpoint" {
            updated.nrepl.endpoint = match updated.nrepl.endpoint.as_deref().map(str::trim) {
                None | Some("") | Some("auto") => None,
                Some(e) if parse_endpoint(e).is_some() => Some(e.into()),
                Some(e) => return Err(bad(format!("`{e}` is not host:port or a port number"))),
            };
        }
        *self = updated;
        Ok(())
    }

    /// Relative paths in settings are relative to the workspace root.
    pub fn resolve_paths(&mut self, workspace: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = workspace.join(&*p);
            }
        };
        for p in [&mut self.app.root, &mut self.app.main_module, &mut self.cache_dir].into_iter().flatten() {
            resolve(p);
        }
        self.build.include_dirs.iter_mut().for_each(resolve);
    }

    /// The cache directory, defaulting to `<workspace>/.jank-hotpatch` ([`CACHE_DIR`]).
    pub fn cache_dir(&self, workspace: &Path) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(|| workspace.join(CACHE_DIR))
    }
}

/// Every setting key (dotted, as `apply` takes it) with its default, sorted by key: the one list the README, the editors' settings and the docs are checked
/// against. Options without a default are `null`.
pub fn keys_and_defaults() -> Vec<(String, Value)> {
    let defaults = serde_json::to_value(Settings::default()).unwrap_or_default();
    let mut out = Vec::new();
    if let Value::Object(object) = &defaults {
        flatten("", object, &mut out);
    }
    out.into_iter().map(|(k, v)| (k, v.clone())).collect()
}

/// `host:port`, or a bare port on loopback.
pub fn parse_endpoint(endpoint: &str) -> Option<(String, u16)> {
    let endpoint = endpoint.trim();
    if let Ok(port) = endpoint.parse::<u16>() {
        return Some(("127.0.0.1".to_string(), port));
    }
    let (host, port) = endpoint.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port))
}

fn flatten<'a>(prefix: &str, object: &'a serde_json::Map<String, Value>, out: &mut Vec<(String, &'a Value)>) {
    for (key, value) in object {
        let full = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            // Objects are sections, except where a setting itself is an object (none yet).
            Value::Object(inner) => flatten(&full, inner, out),
            _ => out.push((full, value)),
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_key_with_a_default_is_accepted_with_that_default() {
        let keys = keys_and_defaults();
        assert!(keys.iter().any(|(k, _)| k == "build.toolchain"));
        for (key, default) in keys {
            let mut s = Settings::default();
            let problems = s.apply(&json!({ key.clone(): default }), "x");
            assert!(problems.is_empty(), "{key}: {problems:?}");
            assert_eq!(s, Settings::default(), "{key}");
        }
    }

    #[test]
    fn nested_and_dotted_keys_apply() {
        let mut s = Settings::default();
        let problems = s.apply(
            &json!({"build": {"toolchain": "clang"}, "app.port": 9000, "patchOnSave": false}),
            "initializationOptions",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(s.build.toolchain, Toolchain::Clang);
        assert!(s.apply(&json!({"build.toolchain": "resident"}), "x").is_empty());
        assert_eq!(s.build.toolchain, Toolchain::Resident);
        assert_eq!(s.app.port, 9000);
        assert!(!s.patch_on_save);
    }

    #[test]
    fn bad_value_keeps_default_and_says_why() {
        let mut s = Settings::default();
        let problems = s.apply(&json!({"app": {"port": "eighty"}, "build": {"toolchain": "gcc"}}), "x");
        assert_eq!(s.app.port, 7888);
        assert_eq!(s.build.toolchain, Toolchain::Auto);
        assert_eq!(problems.len(), 2);
        assert!(problems.iter().all(|p| !p.is_warning()));
        let text = problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n");
        assert!(text.contains("app.port") && text.contains("keeping 7888"), "{text}");
        assert!(text.contains("expected one of `auto`, `resident`, `clang`, `emcc`; keeping \"auto\""), "{text}");
    }

    #[test]
    fn unknown_key_is_a_warning() {
        let mut s = Settings::default();
        let problems = s.apply(&json!({"jankHotpatch": {"patchOnSvae": true}}), "workspace/configuration");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].is_warning());
        assert!(problems[0].to_string().contains("patchOnSvae"));
    }

    #[test]
    fn endpoint_forms() {
        assert_eq!(parse_endpoint("5555"), Some(("127.0.0.1".into(), 5555)));
        assert_eq!(parse_endpoint("localhost:7"), Some(("localhost".into(), 7)));
        assert_eq!(parse_endpoint("[::1]:7"), Some(("::1".into(), 7)));
        assert_eq!(parse_endpoint("nope"), None);
        let mut s = Settings::default();
        assert_eq!(s.apply(&json!({"nrepl": {"endpoint": "x:y"}}), "t").len(), 1);
        assert_eq!(s.nrepl.endpoint, None);
    }

    #[test]
    fn toml_file_layer() {
        let dir = crate::test_dir::TestDir::new("config");
        std::fs::write(dir.join(CONFIG_FILE), "patchOnSave = false\n[app]\nport = 7999\nbogus = 1\n").unwrap();
        let (s, problems) = Settings::load(&dir);
        assert!(!s.patch_on_save);
        assert_eq!(s.app.port, 7999);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].is_warning());
    }
}
