//! The build and check stages: C++ -> wasm side module, and its imports against the main
//! module's exports.
//!
//! Owns: toolchain discovery and flags, the precompiled header, the content-addressed build
//! cache, reading wasm import/export sections, and building the (stand-in) main module.
//! Must not know about jank, nREPL, LSP or pages.
//!
//! Builds of different patches may run at once: every file a build writes is named after
//! its patch id, which is never reused.

mod cache;
mod main_module;
mod pch;
mod toolchain;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::{BuildSettings, Toolchain};
use crate::stages::{Build, CompiledForm, FormKey, SideModule, StageFailure};

pub use main_module::{build_main_module, MainModule};

use cache::ModuleCache;
use toolchain::{run_tool, Emscripten, SIDE_MODULE_FLAGS};

const INSTALL_HINT: &str = "install emscripten (`apt-get install emscripten`) or set build.emscriptenRoot";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("emscripten not found: {0}; {INSTALL_HINT}")]
    ToolchainMissing(String),
    #[error("emscripten does not work: {0}")]
    ToolchainBroken(String),
    #[error("{tool} did not finish within {ms} ms (build.timeoutMs) and was killed")]
    Timeout { tool: String, ms: u64 },
    #[error("{tool} crashed (signal {signal}):\n{stderr}")]
    Crashed { tool: String, signal: i32, stderr: String },
    #[error("C++ compile failed:\n{diagnostics}")]
    Compile { diagnostics: String, cpp_path: PathBuf },
    #[error("linking the side module failed:\n{0}")]
    Link(String),
    #[error("the side module is {bytes} bytes, above the limit of {limit} (app.maxModuleBytes)")]
    TooLarge { bytes: usize, limit: usize },
    #[error("{0}")]
    Pch(String),
    #[error("cannot {what}: {source}")]
    Io { what: String, source: std::io::Error },
}

impl BuildError {
    pub(crate) fn io(what: String, source: std::io::Error) -> Self {
        BuildError::Io { what, source }
    }
}

/// Which tools turn a patch's C++ into a side module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tools {
    /// clang++ and wasm-ld, called with the flags emcc itself passes.
    Direct,
    /// `emcc -sSIDE_MODULE=1`.
    Emcc,
}

/// Turns a patch's C++ into a side module, with a content-addressed cache in front.
pub struct SideModuleBuilder {
    emscripten: Emscripten,
    tools: Tools,
    include_flags: Vec<OsString>,
    pch: Option<PathBuf>,
    cache: Option<ModuleCache>,
    /// Generated C++ kept for diagnostics: `<cache_dir>/cpp/patch_<id>.cpp`.
    cpp_dir: PathBuf,
    /// Objects and modules on their way: removed after each build.
    tmp_dir: PathBuf,
    /// Toolchain, flags, PCH: what besides the form decides the module's bytes.
    fingerprint: String,
    timeout: Duration,
    max_module_bytes: usize,
}

impl SideModuleBuilder {
    /// Finds emscripten and learns its commands (one `emcc -v` probe, ~0.3 s), and builds
    /// the PCH if `settings.pch_headers` asks for one and none is up to date. A cache dir
    /// that cannot be written is logged and the builder works without caching.
    pub async fn new(settings: &BuildSettings, cache_dir: &Path) -> Result<Self, BuildError> {
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        let (cache, work_dir) = match cache::writable(&cache_dir.join("cpp")) {
            Ok(()) => {
                let cache = ModuleCache::open(cache_dir.join("modules"), settings.cache_max_mb.saturating_mul(1 << 20));
                (cache, cache_dir.to_path_buf())
            }
            Err(e) => {
                let fallback = std::env::temp_dir().join(format!("jank-hotpatch-{}", std::process::id()));
                tracing::warn!(
                    "cache dir {} is not writable ({e}); building without a cache in {}",
                    cache_dir.display(),
                    fallback.display()
                );
                (None, fallback)
            }
        };
        let cpp_dir = work_dir.join("cpp");
        let tmp_dir = work_dir.join("tmp");
        for dir in [&cpp_dir, &tmp_dir] {
            std::fs::create_dir_all(dir).map_err(|e| BuildError::io(format!("create {}", dir.display()), e))?;
        }

        let emscripten = Emscripten::discover(settings.emscripten_root.as_deref(), &tmp_dir, timeout).await?;
        let tools = match settings.toolchain {
            Toolchain::Emcc => Tools::Emcc,
            Toolchain::Clang if !emscripten.has_direct_tools() => {
                return Err(BuildError::ToolchainMissing(format!(
                    "emscripten's clang++/wasm-ld ({}, {}) are missing",
                    emscripten.compile.program.display(),
                    emscripten.link.program.display()
                )))
            }
            Toolchain::Clang => Tools::Direct,
            Toolchain::Auto if emscripten.has_direct_tools() => Tools::Direct,
            Toolchain::Auto => Tools::Emcc,
        };
        let include_flags: Vec<OsString> = settings
            .include_dirs
            .iter()
            .map(|dir| {
                let mut flag = OsString::from("-I");
                flag.push(dir);
                flag
            })
            .collect();

        let pch = if settings.pch_headers.is_empty() {
            None
        } else {
            let mut flags = emscripten.compile.flags();
            flags.extend(include_flags.iter().map(|f| f.to_string_lossy().into_owned()));
            let prepared = pch::prepare(
                &emscripten.compile.program,
                &flags,
                &settings.pch_headers,
                &work_dir.join("pch"),
                timeout,
            )
            .await;
            // A bad header list must not stop patching: build without the PCH.
            prepared.map_err(|e| tracing::warn!("no precompiled header: {e}")).ok()
        };

        let fingerprint = blake3::hash(
            format!(
                "{:?}\n{}\n{:?}\n{}",
                tools,
                emscripten.fingerprint,
                settings.include_dirs,
                settings.pch_headers.join("\n")
            )
            .as_bytes(),
        )
        .to_hex()
        .to_string();
        Ok(SideModuleBuilder {
            emscripten,
            tools,
            include_flags,
            pch,
            cache,
            cpp_dir,
            tmp_dir,
            fingerprint,
            timeout,
            max_module_bytes: crate::config::Settings::default().app.max_module_bytes,
        })
    }

    /// Larger modules fail the build (the pages refuse them anyway).
    pub fn with_max_module_bytes(mut self, limit: usize) -> Self {
        self.max_module_bytes = limit;
        self
    }

    /// Which tools this builder calls.
    /// Which tools build patches, and their versions, in one line for people.
    pub fn describe_toolchain(&self) -> String {
        let clang = &self.emscripten.compile.program;
        match self.tools {
            Tools::Direct => format!(
                "{} and {} directly ({})",
                clang.display(),
                self.emscripten.link.program.display(),
                self.emscripten.versions
            ),
            Tools::Emcc => format!("{} ({})", self.emscripten.emcc.display(), self.emscripten.versions),
        }
    }

    pub fn tools(&self) -> Tools {
        self.tools
    }

    /// The precompiled header in use, if any.
    pub fn pch(&self) -> Option<&Path> {
        self.pch.as_deref()
    }

    fn cache_key(&self, key: FormKey) -> String {
        let mut h = blake3::Hasher::new();
        h.update(&key.0);
        h.update(self.fingerprint.as_bytes());
        h.finalize().to_hex()[..32].to_string()
    }

    async fn build_module(&self, form: &CompiledForm) -> Result<SideModule, BuildError> {
        let id = form.patch_id;
        let cpp_path = self.cpp_dir.join(format!("patch_{id}.cpp"));
        std::fs::write(&cpp_path, &form.cpp).map_err(|e| BuildError::io(format!("write {}", cpp_path.display()), e))?;
        let wasm_path = self.tmp_dir.join(format!("patch_{id}.wasm"));
        let result = self.compile_and_link(&cpp_path, &wasm_path).await;
        let bytes = result.and_then(|()| {
            std::fs::read(&wasm_path).map_err(|e| BuildError::io(format!("read {}", wasm_path.display()), e))
        });
        let _ = std::fs::remove_file(&wasm_path);
        let bytes = bytes?;
        if bytes.len() > self.max_module_bytes {
            return Err(BuildError::TooLarge { bytes: bytes.len(), limit: self.max_module_bytes });
        }
        Ok(SideModule {
            patch_id: id,
            bytes: Arc::from(bytes),
            entry_symbol: id.entry_symbol(),
            var: form.var.clone(),
            kind: form.kind.clone(),
            cpp_path,
            cached: false,
        })
    }

    async fn compile_and_link(&self, cpp: &Path, wasm: &Path) -> Result<(), BuildError> {
        let mut extra = self.include_flags.clone();
        if let Some(pch) = &self.pch {
            extra.extend(["-include-pch".into(), pch.into()]);
        }
        let compile_failed =
            |stderr: &str| BuildError::Compile { diagnostics: first_errors(stderr), cpp_path: cpp.to_path_buf() };
        match self.tools {
            Tools::Emcc => {
                let mut args: Vec<OsString> = SIDE_MODULE_FLAGS.iter().map(OsString::from).collect();
                args.extend(extra);
                args.extend([cpp.into(), "-o".into(), wasm.into()]);
                let out = run_tool(&self.emscripten.emcc, &args, true, self.timeout).await?;
                // emcc's own link errors also land here; they name the symbol, which is enough.
                if !out.success {
                    return Err(compile_failed(&out.stderr));
                }
            }
            Tools::Direct => {
                let object = wasm.with_extension("o");
                let compile = &self.emscripten.compile;
                let out = run_tool(&compile.program, &compile.args(&extra, cpp, &object), false, self.timeout).await?;
                if !out.success {
                    return Err(compile_failed(&out.stderr));
                }
                let link = &self.emscripten.link;
                let out = run_tool(&link.program, &link.args(&[], &object, wasm), false, self.timeout).await;
                let _ = std::fs::remove_file(&object);
                let out = out?;
                if !out.success {
                    return Err(BuildError::Link(toolchain::tail(&out.stderr, 20)));
                }
            }
        }
        Ok(())
    }
}

/// The compiler's first errors, with their notes, without the tail of follow-on noise.
fn first_errors(stderr: &str) -> String {
    const MAX_ERRORS: usize = 3;
    const MAX_LINES: usize = 40;
    let mut errors = 0;
    let mut kept = Vec::new();
    for line in stderr.lines() {
        if line.contains("error:") {
            errors += 1;
            if errors > MAX_ERRORS {
                break;
            }
        }
        if kept.len() == MAX_LINES {
            break;
        }
        kept.push(line);
    }
    if let Some(summary) = stderr.lines().find(|l| l.contains("errors generated") || l.contains("error generated")) {
        if !kept.contains(&summary) {
            kept.push(summary);
        }
    }
    kept.join("\n").trim().to_string()
}

impl From<BuildError> for StageFailure {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::Compile { ref cpp_path, .. } => {
                let message = format!("{e}\n(generated C++: {})", cpp_path.display());
                StageFailure::new(message).with_detail(cpp_path.clone())
            }
            e => StageFailure::new(e.to_string()),
        }
    }
}

#[async_trait]
impl Build for SideModuleBuilder {
    async fn cached(&self, key: FormKey) -> Option<SideModule> {
        self.cache.as_ref()?.get(&self.cache_key(key))
    }

    async fn build(&self, key: FormKey, form: &CompiledForm) -> Result<SideModule, StageFailure> {
        let module = self.build_module(form).await.map_err(|e| {
            let failure = StageFailure::from(e);
            StageFailure { message: format!("{} (patch {}): {}", form.var, form.patch_id, failure.message), ..failure }
        })?;
        if let Some(cache) = &self.cache {
            cache.put(&self.cache_key(key), &module);
        }
        Ok(module)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_errors_keeps_three_and_the_summary() {
        let stderr = (1..=6)
            .map(|i| format!("p.cpp:{i}:1: error: bad {i}\n  x\n  ^"))
            .chain(["6 errors generated.".to_string()])
            .collect::<Vec<_>>()
            .join("\n");
        let text = first_errors(&stderr);
        assert!(text.contains("bad 1") && text.contains("bad 3") && !text.contains("bad 4"), "{text}");
        assert!(text.ends_with("6 errors generated."), "{text}");
    }
}
