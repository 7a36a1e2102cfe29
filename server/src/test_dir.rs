//! Unit tests' scratch directories: one fresh directory per test under the system's temp dir,
//! removed when the test ends, also when it fails. Test code only.

use std::path::{Path, PathBuf};

pub(crate) struct TestDir(PathBuf);

impl TestDir {
    /// An empty `jank-hotpatch-test-<name>-<pid>`: what an earlier run left there is removed.
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("jank-hotpatch-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        TestDir(dir)
    }
}

impl std::ops::Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TestDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
