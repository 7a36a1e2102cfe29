//! The check stage: a side module's imports against what the page's dynamic linker will
//! find, so that a missing symbol fails here with its name instead of in the browser.
//!
//! Owns: reading wasm import/export sections, the rules of emscripten 3.1.6's dynamic
//! linker (`src/library_dylink.js`), and the `EXPORTED_FUNCTIONS` list a `-sMAIN_MODULE=2`
//! build needs. Must not know about toolchains, patches' C++ or pages.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use wasmparser::{Parser, Payload, TypeRef};

use crate::stages::{Check, SideModule, StageFailure};

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{what} is not a valid wasm module: {reason}")]
    Invalid { what: String, reason: String },
}

/// What `loadWebAssemblyModule` resolves itself, whatever the main module exports: the
/// proxy answers `__memory_base`/`__table_base` per module, and the main module's JS puts
/// the memory, the table and the stack pointer into `asmLibraryArg`.
const LINKER_PROVIDED: [&str; 6] =
    ["memory", "__indirect_function_table", "__stack_pointer", "__memory_base", "__table_base", "__heap_base"];

/// A module's imports and exports, by name.
struct Interface {
    /// (module, name, is a function)
    imports: Vec<(String, String, bool)>,
    exports: HashSet<String>,
    /// Has a `dylink` section: built for emscripten's dynamic linking (a MAIN_MODULE or a
    /// SIDE_MODULE).
    dynamic: bool,
}

fn read_interface(bytes: &[u8], what: &str) -> Result<Interface, CheckError> {
    let invalid =
        |e: wasmparser::BinaryReaderError| CheckError::Invalid { what: what.to_string(), reason: e.to_string() };
    let mut interface = Interface { imports: Vec::new(), exports: HashSet::new(), dynamic: false };
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(invalid)? {
            Payload::ImportSection(reader) => {
                for import in reader {
                    let import = import.map_err(invalid)?;
                    interface.imports.push((
                        import.module.to_string(),
                        import.name.to_string(),
                        matches!(import.ty, TypeRef::Func(_)),
                    ));
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    interface.exports.insert(export.map_err(invalid)?.name.to_string());
                }
            }
            Payload::CustomSection(section) if section.name().starts_with("dylink") => interface.dynamic = true,
            // Imports and exports come before the code: nothing later matters.
            Payload::CodeSectionStart { .. } => break,
            _ => {}
        }
    }
    Ok(interface)
}

/// The names a side module needs from the main module (as `module.name` when the import
/// module is one the dynamic linker does not know). In library_dylink.js, `env` and
/// `wasi_snapshot_preview1` go through one proxy: the linker's own symbols, then
/// `asmLibraryArg` (main module exports + JS library), then `invoke_*` made on demand, then
/// the module's own exports. `GOT.mem`/`GOT.func` entries are filled from the module's
/// own exports, then from `asmLibraryArg`.
fn needed(side: &Interface) -> BTreeSet<String> {
    side.imports
        .iter()
        .filter_map(|(module, name, _)| match module.as_str() {
            "env" | "wasi_snapshot_preview1" => {
                let provided = LINKER_PROVIDED.contains(&name.as_str())
                    || name.starts_with("invoke_")
                    || side.exports.contains(name);
                (!provided).then(|| name.clone())
            }
            "GOT.mem" | "GOT.func" => (!side.exports.contains(name)).then(|| name.clone()),
            other => Some(format!("{other}.{name}")),
        })
        .collect()
}

/// The main module as the dynamic linker sees it.
pub struct ExportCheck {
    main: PathBuf,
    /// Linked for emscripten's dynamic linking (`-sMAIN_MODULE`): it has a dylink section,
    /// which a plain build has not.
    is_main_module: bool,
    /// The wasm's exports.
    exports: HashSet<String>,
    /// JS library functions in `asmLibraryArg`: the wasm's `env`/`wasi` imports, plus the
    /// keys of `asmLibraryArg` in the `.js` next to it when there is one.
    js_library: HashSet<String>,
}

impl ExportCheck {
    /// Reads the main module's `.wasm` (and its `.js`, if beside it).
    pub fn from_main_module(path: &Path) -> Result<Self, CheckError> {
        let bytes = std::fs::read(path).map_err(|source| CheckError::Read { path: path.to_path_buf(), source })?;
        let main = read_interface(&bytes, &path.display().to_string())?;
        let mut js_library: HashSet<String> = main
            .imports
            .iter()
            .filter(|(module, _, is_function)| *is_function && (module == "env" || module == "wasi_snapshot_preview1"))
            .map(|(_, name, _)| name.clone())
            .collect();
        if let Ok(js) = std::fs::read_to_string(path.with_extension("js")) {
            js_library.extend(asm_library_keys(&js));
        }
        Ok(ExportCheck { main: path.to_path_buf(), is_main_module: main.dynamic, exports: main.exports, js_library })
    }

    /// Built with `-sMAIN_MODULE`, so that it can load side modules at all.
    pub fn is_main_module(&self) -> bool {
        self.is_main_module
    }

    /// Those of `names` (wasm names, without `_`) the main module does not export.
    pub fn not_exported<'a>(&self, names: &[&'a str]) -> Vec<&'a str> {
        names.iter().copied().filter(|name| !self.exports.contains(*name)).collect()
    }

    /// The symbols `module` imports that neither the dynamic linker, the main module nor
    /// the module itself provides, sorted.
    pub fn missing(&self, module: &[u8]) -> Result<Vec<String>, CheckError> {
        let side = read_interface(module, "the side module")?;
        Ok(needed(&side)
            .into_iter()
            .filter(|name| !self.exports.contains(name) && !self.js_library.contains(name))
            .collect())
    }
}

/// The check stage against `app.mainModule` as it is on disk: when the app is rebuilt, the
/// next patch is checked against the new build (the deliver stage tells pages that run the old
/// one to reload).
pub struct MainModuleCheck {
    path: PathBuf,
    /// The file's modification time when `check` was read, and the check.
    current: std::sync::Mutex<(Option<std::time::SystemTime>, std::sync::Arc<ExportCheck>)>,
}

impl MainModuleCheck {
    pub fn open(path: &Path) -> Result<Self, CheckError> {
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let check = std::sync::Arc::new(ExportCheck::from_main_module(path)?);
        Ok(MainModuleCheck { path: path.to_path_buf(), current: std::sync::Mutex::new((modified, check)) })
    }

    /// The check for the main module now: read again when the file changed. A rebuilt module
    /// that cannot be read is an error for this patch; the next one tries again.
    fn fresh(&self) -> Result<std::sync::Arc<ExportCheck>, CheckError> {
        let modified = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        let mut current = self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.0 != modified {
            let check = std::sync::Arc::new(ExportCheck::from_main_module(&self.path)?);
            tracing::info!(
                "the main module {} changed: patches are checked against the new build",
                self.path.display()
            );
            *current = (modified, check);
        }
        Ok(current.1.clone())
    }
}

impl Check for MainModuleCheck {
    fn check(&self, module: &SideModule) -> Result<(), StageFailure> {
        self.fresh().map_err(|e| StageFailure::new(e.to_string()))?.check(module)
    }
}

impl Check for ExportCheck {
    fn check(&self, module: &SideModule) -> Result<(), StageFailure> {
        let missing = self.missing(&module.bytes).map_err(|e| StageFailure::new(e.to_string()))?;
        if missing.is_empty() {
            return Ok(());
        }
        // Kept beside its C++ so that `link-flags` can read what it imports.
        let wasm = module.cpp_path.with_extension("wasm");
        let side_module = match std::fs::write(&wasm, &module.bytes) {
            Ok(()) => wasm.display().to_string(),
            Err(e) => {
                tracing::warn!("cannot keep the refused side module at {}: {e}", wasm.display());
                "<side modules>".into()
            }
        };
        Err(StageFailure::new(format!(
            "patch {} for {} imports {} symbol(s) the main module {} does not export: {}. \
             Relink the app with the flags `jank-hotpatch link-flags --main {} {side_module}` prints.",
            module.patch_id,
            module.var,
            missing.len(),
            self.main.display(),
            missing.join(", "),
            self.main.display(),
        ))
        .with_detail(module.cpp_path.clone()))
    }
}

/// The `EXPORTED_FUNCTIONS` entries (`_name`, sorted) that a `-sMAIN_MODULE=2` build of
/// `main` needs so that every module in `side_modules` loads: everything they import that
/// the dynamic linker or `main`'s JS library does not provide.
pub fn export_list(main: &Path, side_modules: &[PathBuf]) -> Result<Vec<String>, CheckError> {
    let check = ExportCheck::from_main_module(main)?;
    let mut names = BTreeSet::new();
    for path in side_modules {
        let bytes = std::fs::read(path).map_err(|source| CheckError::Read { path: path.clone(), source })?;
        let side = read_interface(&bytes, &path.display().to_string())?;
        names.extend(needed(&side).into_iter().filter(|n| !check.js_library.contains(n) && !n.contains('.')));
    }
    Ok(names.into_iter().map(|n| format!("_{n}")).collect())
}

/// The keys of `var asmLibraryArg = {"name": value, ...}` in emscripten's JS output.
fn asm_library_keys(js: &str) -> Vec<String> {
    let Some(start) = js.find("asmLibraryArg = {").or_else(|| js.find("asmLibraryArg={")) else {
        return Vec::new();
    };
    let Some(open) = js[start..].find('{') else { return Vec::new() };
    let body = &js[start + open + 1..];
    let Some(end) = body.find('}') else { return Vec::new() };
    body[..end]
        .split(',')
        .filter_map(|pair| {
            let key = pair.split(':').next()?.trim().trim_matches('"');
            (!key.is_empty() && !key.contains(' ')).then(|| key.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asm_library_keys_from_minified_and_plain_js() {
        let js = r#"x;var asmLibraryArg={"__heap_base":___heap_base,"abort":_abort,"fd_write":_fd_write};var y"#;
        assert_eq!(asm_library_keys(js), vec!["__heap_base", "abort", "fd_write"]);
        let js = "var asmLibraryArg = {\n  \"emscripten_x\": _emscripten_x,\n  \"memory\": wasmMemory\n};";
        assert_eq!(asm_library_keys(js), vec!["emscripten_x", "memory"]);
    }

    #[test]
    fn linker_and_self_provided_imports_are_not_needed() {
        let side = Interface {
            imports: vec![
                ("env".into(), "memory".into(), false),
                ("env".into(), "__memory_base".into(), false),
                ("env".into(), "jank_box_integer".into(), true),
                ("env".into(), "invoke_vi".into(), true),
                ("GOT.func".into(), "jank_f_7".into(), false),
                ("GOT.mem".into(), "__stack_chk_guard".into(), false),
                ("odd".into(), "thing".into(), true),
            ],
            exports: ["jank_f_7".to_string()].into_iter().collect(),
            dynamic: true,
        };
        let needed: Vec<_> = needed(&side).into_iter().collect();
        assert_eq!(needed, vec!["__stack_chk_guard", "jank_box_integer", "odd.thing"]);
    }
}
