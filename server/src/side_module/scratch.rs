//! Where a build's passing files go: the object clang writes and lld reads, the module lld
//! writes and the builder reads back, all removed within the build. On Linux that is a private
//! directory in `/dev/shm` (memory): a patch creates and deletes several files, and on a disk
//! file system each costs the kernel an inode allocation (on ext4 without a journal, a scan
//! past every inode deleted in the last seconds: about a fifth of the build service's time
//! per patch, measured). Elsewhere, or when `/dev/shm` cannot be used, it is `<cache>/tmp`.
//!
//! Owns: choosing, creating and removing that directory (and the ones of sidecars that were
//! killed before removing theirs). Must not hold what outlives a build: the generated C++
//! that diagnostics point at and the cache stay in the cache directory.

use std::path::{Path, PathBuf};

/// Memory-backed and present on every Linux system.
const MEMORY_ROOT: &str = "/dev/shm";
/// `<prefix><pid>-<random>`: the pid tells whose it is when that process is gone.
const PREFIX: &str = "jank-hotpatch-build-";

/// The scratch directory of one builder.
#[derive(Debug)]
pub(crate) struct Scratch {
    path: PathBuf,
    /// Ours alone (in memory): removed with the builder.
    private: bool,
}

impl Scratch {
    /// A private directory in memory, else `fallback` (created if need be).
    pub(crate) fn new(fallback: PathBuf) -> std::io::Result<Scratch> {
        if let Some(path) = in_memory(Path::new(MEMORY_ROOT)) {
            return Ok(Scratch { path, private: true });
        }
        std::fs::create_dir_all(&fallback)?;
        Ok(Scratch { path: fallback, private: false })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.private {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A new directory only this user can enter, under `root`, if `root` is a directory.
fn in_memory(root: &Path) -> Option<PathBuf> {
    if !root.is_dir() {
        return None;
    }
    remove_abandoned(root);
    let path = root.join(format!("{PREFIX}{}-{:016x}", std::process::id(), rand::random::<u64>()));
    let mut builder = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(&path) {
        Ok(()) => Some(path),
        Err(e) => {
            tracing::debug!("cannot create {} ({e}); build files go to the cache directory", path.display());
            None
        }
    }
}

/// Removes the scratch directories of processes that no longer run (a sidecar killed before
/// its builder was dropped). Other users' directories cannot be removed and are left alone.
fn remove_abandoned(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix(PREFIX)).and_then(|rest| rest.split('-').next());
        if let Some(pid) = pid.filter(|pid| pid.parse::<u32>().is_ok()) {
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_directory_is_made_and_removed_with_its_builder_and_abandoned_ones_go() {
        let root = crate::test_dir::TestDir::new("scratch-test");
        // No process has pid u32::MAX: a killed sidecar's directory.
        let abandoned = root.join(format!("{PREFIX}{}-0000000000000000", u32::MAX));
        std::fs::create_dir_all(abandoned.join("inside")).unwrap();
        let alive = root.join(format!("{PREFIX}{}-0000000000000001", std::process::id()));
        std::fs::create_dir_all(&alive).unwrap();

        let path = in_memory(&root).unwrap();
        assert!(!abandoned.exists(), "a dead process's directory is removed");
        assert!(alive.exists(), "a running process's directory stays");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700);
        drop(Scratch { path: path.clone(), private: true });
        assert!(!path.exists());

        assert_eq!(in_memory(&root.join("missing")), None);
        let scratch = Scratch::new(root.join("fallback")).unwrap();
        assert!(scratch.path().is_dir());
        drop(scratch);
    }
}
