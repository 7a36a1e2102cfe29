//! The generated C++ kept for diagnostics: `<cache_dir>/cpp/patch_<id>.cpp`, the file a compile
//! error names and the editor opens (the check stage keeps a refused module beside it,
//! `patch_<id>.wasm`). Bounded to the newest [`KEPT_PATCHES`] patches: patch ids only grow, so
//! the oldest go first, else a long session would leave a file behind for every patch.
//!
//! Owns: `<cache_dir>/cpp/`. Must not compile, nor know the module cache.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::stages::PatchId;

/// How many patches' C++ stay on disk.
pub(crate) const KEPT_PATCHES: usize = 1000;

pub(crate) struct KeptCpp {
    dir: PathBuf,
    limit: usize,
    /// The patch ids with a file here, oldest first.
    kept: Mutex<VecDeque<u64>>,
}

impl KeptCpp {
    /// The directory (created), with the files earlier sidecars kept.
    pub(crate) fn open(dir: PathBuf, limit: usize) -> std::io::Result<KeptCpp> {
        std::fs::create_dir_all(&dir)?;
        let mut ids: Vec<u64> =
            std::fs::read_dir(&dir)?.flatten().filter_map(|entry| patch_id(&entry.path())).collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(KeptCpp { dir, limit, kept: Mutex::new(ids.into()) })
    }

    /// Where patch `id`'s C++ is kept.
    pub(crate) fn path(&self, id: PatchId) -> PathBuf {
        self.dir.join(format!("patch_{id}.cpp"))
    }

    /// Writes patch `id`'s C++, then removes the oldest patches' files beyond the bound.
    pub(crate) fn keep(&self, id: PatchId, text: &str) {
        let path = self.path(id);
        if let Err(e) = std::fs::write(&path, text) {
            tracing::warn!("cannot keep the generated C++ at {}: {e}", path.display());
            return;
        }
        let Ok(mut kept) = self.kept.lock() else { return };
        // Kept again when a save is built a second time (after its PCH was precompiled again):
        // the bound counts patches, not writes.
        if kept.contains(&id.0) {
            return;
        }
        kept.push_back(id.0);
        while kept.len() > self.limit {
            let Some(oldest) = kept.pop_front() else { break };
            let cpp = self.path(PatchId(oldest));
            let _ = std::fs::remove_file(&cpp);
            let _ = std::fs::remove_file(cpp.with_extension("wasm"));
        }
    }
}

/// `patch_<id>.cpp` or `patch_<id>.wasm` -> id.
fn patch_id(path: &Path) -> Option<u64> {
    let stem = path.file_stem()?.to_str()?;
    stem.strip_prefix("patch_")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_patches_stay_and_the_oldest_go_with_their_refused_modules() {
        let dir = crate::test_dir::TestDir::new("kept");
        // An earlier sidecar's files, and what is not ours.
        for id in [5u64, 3, 4] {
            std::fs::write(dir.join(format!("patch_{id}.cpp")), "old").unwrap();
        }
        std::fs::write(dir.join("patch_3.wasm"), "refused").unwrap();
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();

        let kept = KeptCpp::open(dir.to_path_buf(), 3).unwrap();
        kept.keep(PatchId(6), "six");
        kept.keep(PatchId(6), "six again");
        kept.keep(PatchId(7), "seven");
        let mut names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names, ["notes.txt", "patch_5.cpp", "patch_6.cpp", "patch_7.cpp"]);
        assert_eq!(std::fs::read_to_string(kept.path(PatchId(7))).unwrap(), "seven");
        assert_eq!(std::fs::read_to_string(kept.path(PatchId(6))).unwrap(), "six again", "kept twice, counted once");
    }
}
