//! The emcc flags a jank app's final link needs for its page to accept patches (`jank-hotpatch
//! link-flags`), and the names a patchable main module must export (the check stage and
//! `doctor` hold a main module against them).
//!
//! Owns: the main module's side of the browser contract: `-sMAIN_MODULE=2` with the exports
//! patches and the browser client need, 64-bit integers as BigInt, table growth, the file
//! system, the runtime methods the client calls, and the client's `--post-js`. Must not know
//! about pages or patches' C++; what real patches import beyond the fork's helpers comes from
//! their wasm ([`crate::check::export_list`]).

use std::path::{Path, PathBuf};

use super::{export_list, CheckError};

/// What every patch of the jank fork's shape imports (the `extern "C"` block of its
/// `wasm_patch_processor`).
pub const PATCH_HELPERS: [&str; 17] = [
    "jank_box_integer",
    "jank_unbox_integer",
    "jank_box_double",
    "jank_unbox_double",
    "jank_make_string",
    "jank_call_var",
    "jank_deref_var",
    "jank_make_keyword",
    "jank_make_symbol",
    "jank_make_vector",
    "jank_make_set",
    "jank_make_list",
    "jank_make_map",
    "jank_println",
    "jank_nil_value",
    "jank_truthy",
    "jank_make_fn_wrapper",
];

/// The registry entry the client loads every patch through.
pub const REGISTRY: &str = "jank_hot_reload_load_patch";

/// What the client calls besides the registry and the helpers (`jank_deref_var`): to call an
/// expression's function and print its value, and to pass C strings.
pub const CLIENT_FUNCTIONS: [&str; 4] = ["jank_call0", "jank_to_string", "malloc", "free"];

/// Used by the client when exported; the jank fork's C API has neither.
pub const CLIENT_OPTIONAL: [&str; 2] = ["jank_to_code_string", "jank_hot_reload_last_error"];

/// The runtime methods the client calls (`jankHotpatch` in `deliver/client/`).
const RUNTIME_METHODS: [&str; 6] = ["FS", "ccall", "cwrap", "UTF8ToString", "stringToUTF8", "lengthBytesUTF8"];

/// The client's post-js: emscripten's async side-module loader, for large patches.
pub const POST_JS: &str = include_str!("../deliver/client/post.js");

/// Which C API the app's jank has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CApi {
    /// The jank fork as it is: no `jank_to_code_string`, no `jank_hot_reload_last_error`.
    Fork,
    /// Also those two (the stand-in runtime; a jank that has them).
    Full,
}

/// What `link-flags` is asked for.
#[derive(Clone, Debug)]
pub struct LinkOptions {
    pub c_api: CApi,
    /// Export `main` (an app with a `main`; a library has none, and emcc refuses to export
    /// a function that does not exist).
    pub main_function: bool,
    /// Write the client's post-js here and link it.
    pub post_js: Option<PathBuf>,
    /// The built main module, to add what `side_modules` import beyond the fork's helpers.
    pub main_module: Option<PathBuf>,
    pub side_modules: Vec<PathBuf>,
}

/// The settings every patchable main module is linked with, but its export list.
pub fn settings() -> Vec<String> {
    let mut flags: Vec<String> = [
        "-sMAIN_MODULE=2",
        "-sWASM_BIGINT=1",
        "-sALLOW_TABLE_GROWTH=1",
        "-sALLOW_MEMORY_GROWTH=1",
        "-sFORCE_FILESYSTEM=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    flags.push(format!("-sEXPORTED_RUNTIME_METHODS={}", RUNTIME_METHODS.join(",")));
    flags
}

/// The names (without `_`) a main module must export for patches of the fork's shape to load
/// and for the client to work; `CApi::Full` adds the optional ones.
pub fn required_exports(c_api: CApi) -> Vec<&'static str> {
    let mut names: Vec<&str> =
        PATCH_HELPERS.iter().chain([REGISTRY].iter()).chain(CLIENT_FUNCTIONS.iter()).copied().collect();
    if c_api == CApi::Full {
        names.extend(CLIENT_OPTIONAL);
    }
    names
}

/// `EXPORTED_FUNCTIONS` entries (`_name`, sorted).
pub fn exported_functions(options: &LinkOptions) -> Result<Vec<String>, CheckError> {
    let mut names: Vec<String> = required_exports(options.c_api).iter().map(|n| format!("_{n}")).collect();
    if options.main_function {
        names.push("_main".into());
    }
    if let Some(main) = &options.main_module {
        names.extend(export_list(main, &options.side_modules)?);
    }
    names.sort();
    names.dedup();
    Ok(names)
}

#[derive(Debug, thiserror::Error)]
pub enum LinkFlagsError {
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error("cannot write the post-js to {path}: {source}")]
    PostJs { path: PathBuf, source: std::io::Error },
}

/// The flags, one per element, each safe to pass through a shell unquoted. Writes the post-js
/// when asked.
pub fn link_flags(options: &LinkOptions) -> Result<Vec<String>, LinkFlagsError> {
    let mut flags = settings();
    flags.push(format!("-sEXPORTED_FUNCTIONS={}", exported_functions(options)?.join(",")));
    if let Some(path) = &options.post_js {
        write_post_js(path).map_err(|source| LinkFlagsError::PostJs { path: path.clone(), source })?;
        flags.extend(["--post-js".to_string(), path.display().to_string()]);
    }
    Ok(flags)
}

pub(crate) fn write_post_js(path: &Path) -> std::io::Result<()> {
    std::fs::write(path, POST_JS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(c_api: CApi, main_function: bool) -> LinkOptions {
        LinkOptions { c_api, main_function, post_js: None, main_module: None, side_modules: Vec::new() }
    }

    #[test]
    fn the_fork_gets_no_function_its_c_api_lacks() {
        let fork = exported_functions(&options(CApi::Fork, true)).unwrap();
        let full = exported_functions(&options(CApi::Full, false)).unwrap();
        assert!(fork.contains(&"_main".to_string()) && !full.contains(&"_main".to_string()));
        for name in CLIENT_OPTIONAL {
            let name = format!("_{name}");
            assert!(!fork.contains(&name) && full.contains(&name), "{name}");
        }
        for name in PATCH_HELPERS.iter().chain([REGISTRY].iter()).chain(CLIENT_FUNCTIONS.iter()) {
            let name = format!("_{name}");
            assert!(fork.contains(&name) && full.contains(&name), "{name}");
        }
    }

    #[test]
    fn flags_have_no_character_a_shell_would_read() {
        let flags = link_flags(&options(CApi::Full, true)).unwrap();
        assert!(flags.iter().any(|f| f == "-sMAIN_MODULE=2") && flags.iter().any(|f| f == "-sWASM_BIGINT=1"));
        for flag in &flags {
            assert!(flag.chars().all(|c| c.is_ascii_alphanumeric() || "-_=,.".contains(c)), "{flag}");
        }
    }
}
