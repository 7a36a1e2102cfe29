//! Building the main module the pages run (the stand-in runtime in `demo/runtime/`, or any
//! C++ sources laid out the same way) as the classic emscripten build the browser client
//! expects: `app.js` + `app.wasm`, `-sMAIN_MODULE=2` with an explicit export list.
//!
//! Owns: linking it, with the contract's settings, exports and post-js ([`super`]; the browser
//! contract in demo/runtime/README.md), through the side-module stage's emcc discovery. Skips
//! the link when the outputs are newer than every input and the export list is the same, so a
//! second start is instant. Must not know about patches or pages.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{required_exports, settings, write_post_js, CApi};
use crate::side_module::{find_emcc, run_tool, tail, BuildError};

#[derive(Debug, thiserror::Error)]
pub enum MainModuleError {
    #[error("cannot {what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("linking the main module failed:\n{0}")]
    Link(String),
    #[error(transparent)]
    Toolchain(#[from] BuildError),
}

impl MainModuleError {
    fn io(what: String, source: std::io::Error) -> Self {
        MainModuleError::Io { what, source }
    }
}

/// The built main module.
#[derive(Clone, Debug)]
pub struct MainModule {
    pub js: PathBuf,
    pub wasm: PathBuf,
    /// False when the outputs were up to date and nothing ran.
    pub linked: bool,
}

const COMPILE_FLAGS: [&str; 2] = ["-std=c++17", "-O2"];

/// A link takes ~4 s; this only guards against a hung emcc.
const LINK_TIMEOUT: Duration = Duration::from_secs(300);

/// Builds `out_dir/app.js` + `app.wasm` from every `.cpp` in `sources_dir`, exporting what
/// `jank-hotpatch link-flags --c-api full` exports. `exports` are more `EXPORTED_FUNCTIONS`
/// entries (`_name`, as [`crate::check::export_list`] writes them).
pub async fn build_main_module(
    sources_dir: &Path,
    out_dir: &Path,
    exports: &[String],
) -> Result<MainModule, MainModuleError> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(sources_dir)
        .map_err(|e| MainModuleError::io(format!("read {}", sources_dir.display()), e))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "cpp"))
        .collect();
    sources.sort();
    if sources.is_empty() {
        return Err(MainModuleError::io(
            format!("find C++ sources in {}", sources_dir.display()),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no .cpp files"),
        ));
    }
    let post_js = out_dir.join("app.post.js");
    let js = out_dir.join("app.js");
    let wasm = out_dir.join("app.wasm");
    let export_file = out_dir.join("app.exports.json");

    let mut all_exports: Vec<String> = required_exports(CApi::Full).iter().map(|n| format!("_{n}")).collect();
    all_exports.extend(exports.iter().cloned());
    all_exports.sort();
    all_exports.dedup();
    let export_json =
        serde_json::to_string(&all_exports).map_err(|e| MainModuleError::io("encode exports".into(), e.into()))?;

    if is_up_to_date(sources_dir, &[&js, &wasm], &export_file, &export_json) {
        return Ok(MainModule { js, wasm, linked: false });
    }
    std::fs::create_dir_all(out_dir).map_err(|e| MainModuleError::io(format!("create {}", out_dir.display()), e))?;
    std::fs::write(&export_file, &export_json)
        .map_err(|e| MainModuleError::io(format!("write {}", export_file.display()), e))?;

    write_post_js(&post_js).map_err(|e| MainModuleError::io(format!("write {}", post_js.display()), e))?;
    let emcc = find_emcc(None)?;
    let mut args: Vec<OsString> = COMPILE_FLAGS.iter().map(OsString::from).collect();
    args.extend(settings().into_iter().map(OsString::from));
    let mut exported = OsString::from("-sEXPORTED_FUNCTIONS=@");
    exported.push(&export_file);
    args.push(exported);
    args.extend(["--post-js".into(), post_js.into()]);
    args.extend(sources.iter().map(OsString::from));
    args.extend(["-o".into(), js.clone().into()]);
    let out = run_tool(&emcc, &args, true, LINK_TIMEOUT).await?;
    if !out.success {
        // The next start must retry, not trust half-written outputs.
        let _ = std::fs::remove_file(&export_file);
        return Err(MainModuleError::Link(tail(&out.stderr, 30)));
    }
    Ok(MainModule { js, wasm, linked: true })
}

/// Outputs newer than every file in the sources dir, built with the same exports.
fn is_up_to_date(sources_dir: &Path, outputs: &[&Path], export_file: &Path, export_json: &str) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if std::fs::read_to_string(export_file).ok().as_deref() != Some(export_json) {
        return false;
    }
    let Some(oldest_output) = outputs.iter().map(|p| modified(p)).collect::<Option<Vec<SystemTime>>>() else {
        return false;
    };
    let Some(oldest_output) = oldest_output.into_iter().min() else { return false };
    let Ok(entries) = std::fs::read_dir(sources_dir) else { return false };
    entries.flatten().all(|entry| modified(&entry.path()).is_some_and(|m| m <= oldest_output))
}
