//! The precompiled header: the configured headers (e.g. `<string>`, `<vector>`) compiled once
//! into the cache dir with exactly the patch compile's flags (clang rejects a PCH built with
//! other flags), rebuilt when the header list, the flags or any header file it read changes.
//!
//! Owns: `<cache_dir>/pch/`. Must not know about patches or the module cache.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::toolchain::{run_tool, tail};
use super::BuildError;

/// Builds the PCH unless an up-to-date one is there (or `again`: clang refused the one there);
/// returns its path.
pub(crate) async fn prepare(
    clang: &Path,
    flags: &[String],
    headers: &[String],
    dir: &Path,
    timeout: Duration,
    again: bool,
) -> Result<PathBuf, BuildError> {
    let key = blake3::hash(format!("{}\n{}\n{}", clang.display(), flags.join(" "), headers.join("\n")).as_bytes())
        .to_hex()
        .to_string();
    let stem = dir.join(&key[..16]);
    let pch = stem.with_extension("pch");
    let deps = stem.with_extension("d");
    // Times alone can call a PCH fresh that clang refuses: a header written while it was built.
    if !again && is_fresh(&pch, &deps) {
        return Ok(pch);
    }
    std::fs::create_dir_all(dir).map_err(|e| BuildError::io(format!("create {}", dir.display()), e))?;
    let header = stem.with_extension("hpp");
    let text: String = headers.iter().map(|h| format!("#include {}\n", include_target(h))).collect();
    std::fs::write(&header, text).map_err(|e| BuildError::io(format!("write {}", header.display()), e))?;

    // Written next to the final name and renamed, so a concurrent build never reads half a PCH.
    let partial = stem.with_extension(format!("pch.{}", std::process::id()));
    let mut args: Vec<OsString> = flags.iter().map(OsString::from).collect();
    args.extend(["-x", "c++-header", "-fpch-instantiate-templates", "-MD", "-MF"].iter().map(OsString::from));
    args.extend([deps.clone().into(), header.clone().into(), "-o".into(), partial.clone().into()]);
    let out = run_tool(clang, &args, false, timeout).await?;
    if !out.success {
        let _ = std::fs::remove_file(&partial);
        return Err(BuildError::Pch(format!(
            "precompiling {} failed (check build.pchHeaders):\n{}",
            headers.join(", "),
            tail(&out.stderr, 10)
        )));
    }
    std::fs::rename(&partial, &pch).map_err(|e| BuildError::io(format!("rename {}", partial.display()), e))?;
    Ok(pch)
}

/// `<string>` and `"x.h"` as written; a bare `string` means `<string>`.
fn include_target(header: &str) -> String {
    let header = header.trim();
    if header.starts_with('<') || header.starts_with('"') {
        header.to_string()
    } else {
        format!("<{header}>")
    }
}

/// The PCH exists and no file it was built from (per its dependency file) is newer.
fn is_fresh(pch: &Path, deps: &Path) -> bool {
    let Some(built) = modified(pch) else { return false };
    let Ok(text) = std::fs::read_to_string(deps) else { return false };
    dependency_paths(&text).iter().all(|dep| modified(Path::new(dep)).is_some_and(|m| m <= built))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The prerequisites of a make-style dependency file (`target: a b \` ...).
fn dependency_paths(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    let Some((_, prerequisites)) = joined.split_once(": ") else { return Vec::new() };
    prerequisites.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_file_is_read() {
        let text = "/c/x.pch: /c/x.hpp \\\n  /usr/include/string \\\n  /usr/include/vector\n";
        assert_eq!(dependency_paths(text), vec!["/c/x.hpp", "/usr/include/string", "/usr/include/vector"]);
    }

    #[test]
    fn include_targets() {
        assert_eq!(include_target("<string>"), "<string>");
        assert_eq!(include_target("\"a.h\""), "\"a.h\"");
        assert_eq!(include_target("vector"), "<vector>");
    }
}
