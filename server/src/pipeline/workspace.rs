//! The workspace's jank files, as the pipeline reads them to find the forms that use a macro
//! (`dependents.rs`).
//!
//! Owns: the [`WorkspaceFiles`] port and its implementation on disk ([`DiskFiles`]: every
//! `.jank` file under the front end's roots, with the text of the editor's open buffers in
//! place of the saved one where a front end has them). A file is read again only when its
//! modification time or size changed since it was last read, so that a run costs a directory
//! walk and a `stat` per file, and a file changed behind the sidecar's back (a `git checkout`,
//! another editor) is still seen. Knows no editor protocol: a front end hands its buffers over
//! as plain paths and text ([`OpenBuffers`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::{lock, FileSnapshot};

/// Where the pipeline finds the workspace's jank files.
pub trait WorkspaceFiles: Send + Sync {
    /// Every jank file of the workspace with its current text.
    fn jank_files(&self) -> Vec<FileSnapshot>;
}

/// An editor's open buffers: path and current text of each open `.jank` file.
pub trait OpenBuffers: Send + Sync {
    fn open_jank_files(&self) -> Vec<FileSnapshot>;
}

/// Directories never looked into (besides hidden ones): build output and dependencies.
const SKIPPED_DIRS: [&str; 3] = ["target", "node_modules", "out"];

/// Files read at most, so that a root opened at `/` cannot stall a patch.
const MAX_FILES: usize = 5_000;

/// Deeper directories than this are not looked into.
const MAX_DEPTH: usize = 32;

/// The `.jank` files under some roots, read from disk; an editor's open buffers win.
pub struct DiskFiles {
    roots: Vec<PathBuf>,
    buffers: Option<Arc<dyn OpenBuffers>>,
    /// Each file's text as last read, with the modification time and size it had then.
    read: Mutex<HashMap<PathBuf, (Stamp, Arc<str>)>>,
}

/// What says a file may have changed without reading it.
type Stamp = (SystemTime, u64);

impl DiskFiles {
    pub fn new(roots: Vec<PathBuf>) -> Self {
        DiskFiles { roots, buffers: None, read: Mutex::new(HashMap::new()) }
    }

    /// The editor's buffers' text replaces what is saved (an unsaved edit of a macro's user
    /// is what the editor shows, and what the next save would patch).
    pub fn with_buffers(mut self, buffers: Arc<dyn OpenBuffers>) -> Self {
        self.buffers = Some(buffers);
        self
    }
}

impl WorkspaceFiles for DiskFiles {
    fn jank_files(&self) -> Vec<FileSnapshot> {
        let paths = jank_paths(&self.roots);
        let mut files: BTreeMap<PathBuf, FileSnapshot> = BTreeMap::new();
        let mut read = lock(&self.read);
        let mut now = HashMap::with_capacity(paths.len());
        for path in paths {
            match text(&path, &read) {
                Ok((stamp, text)) => {
                    now.insert(path.clone(), (stamp, text.clone()));
                    files.insert(path.clone(), FileSnapshot { path, text });
                }
                Err(e) => tracing::debug!("cannot read {}: {e}", path.display()),
            }
        }
        *read = now;
        drop(read);
        for doc in self.buffers.iter().flat_map(|b| b.open_jank_files()) {
            files.insert(doc.path.clone(), doc);
        }
        files.into_values().collect()
    }
}

/// The file's text, read again only when its stamp differs from the one `known` has.
fn text(path: &Path, known: &HashMap<PathBuf, (Stamp, Arc<str>)>) -> std::io::Result<(Stamp, Arc<str>)> {
    let meta = std::fs::metadata(path)?;
    let stamp = (meta.modified()?, meta.len());
    match known.get(path) {
        Some((known, text)) if *known == stamp => Ok((stamp, text.clone())),
        _ => Ok((stamp, std::fs::read_to_string(path)?.into())),
    }
}

/// Every `.jank` file under `roots` (a root may be a file), sorted, hidden directories and
/// those of [`SKIPPED_DIRS`] left out.
pub fn jank_paths(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for root in roots {
        if root.is_file() {
            if root.extension().is_some_and(|e| e == "jank") {
                paths.push(root.clone());
            }
        } else {
            collect(root, 0, &mut paths);
        }
    }
    paths.sort();
    paths.dedup();
    paths
}

fn collect(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > MAX_DEPTH || out.len() >= MAX_FILES {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_ref()) {
                collect(&path, depth + 1, out);
            }
        } else if kind.is_file() && name.ends_with(".jank") && out.len() < MAX_FILES {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Buffers(Vec<FileSnapshot>);

    impl OpenBuffers for Buffers {
        fn open_jank_files(&self) -> Vec<FileSnapshot> {
            self.0.clone()
        }
    }

    #[test]
    fn jank_files_under_the_roots_with_open_buffers_in_place_of_the_saved_text() {
        let root = crate::test_dir::TestDir::new("workspace");
        for dir in ["src/a", "target/debug", ".git", "node_modules/x"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("src/a/one.jank"), "(ns a.one)").unwrap();
        std::fs::write(root.join("src/a/two.jank"), "(ns a.two)").unwrap();
        std::fs::write(root.join("src/a/notes.md"), "no").unwrap();
        std::fs::write(root.join("target/debug/built.jank"), "(ns no)").unwrap();
        std::fs::write(root.join(".git/x.jank"), "(ns no)").unwrap();
        std::fs::write(root.join("node_modules/x/y.jank"), "(ns no)").unwrap();
        let open = FileSnapshot { path: root.join("src/a/two.jank"), text: "(ns a.two) ;; unsaved".into() };
        let files = DiskFiles::new(vec![root.to_path_buf()]).with_buffers(Arc::new(Buffers(vec![open]))).jank_files();
        let found: Vec<(String, &str)> =
            files.iter().map(|d| (d.path.strip_prefix(&root).unwrap().display().to_string(), &*d.text)).collect();
        assert_eq!(
            found,
            [("src/a/one.jank".to_string(), "(ns a.one)"), ("src/a/two.jank".to_string(), "(ns a.two) ;; unsaved")]
        );
    }
}
