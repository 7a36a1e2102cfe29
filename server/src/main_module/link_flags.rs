//! `jank-hotpatch link-flags`: the emcc flags a jank app's final link needs for its page to
//! accept patches, from the contract in [`super`], plus what the app's own patches import
//! (read from their wasm by [`crate::check::export_list`]).
//!
//! Owns: the options of `link-flags` and turning them into flags. Must not know about pages
//! or patches' C++.

use std::path::PathBuf;

use super::{required_exports, settings, write_post_js, CApi};
use crate::check::{export_list, CheckError};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::main_module::{CLIENT_FUNCTIONS, CLIENT_OPTIONAL, PATCH_HELPERS, REGISTRY};

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
