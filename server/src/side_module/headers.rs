//! The headers under `build.includeDirs` as they are now, for the build cache's key: a form
//! whose text did not change builds to another module when a header it includes did.
//!
//! Owns: walking the include dirs and stamping what it finds. Must not know about the cache's
//! files or the toolchains.
//!
//! Each file counts by its path, size and modification time, as make and ninja count them;
//! one modified less than [`RACY`] ago counts by its bytes too, since a write within the
//! clock's granularity (a few ms on Linux) can leave the time as it was (git's "racily clean"
//! entries).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Files modified this recently are read, not only stat'ed.
const RACY: Duration = Duration::from_secs(2);

/// The stamp of every file under `dirs` (recursively, following links); unreadable entries
/// count by their path alone.
pub(crate) fn stamp(dirs: &[PathBuf]) -> blake3::Hash {
    let mut files = Vec::new();
    for dir in dirs {
        collect(dir, MAX_DEPTH, &mut files);
    }
    files.sort();
    let now = SystemTime::now();
    let mut h = blake3::Hasher::new();
    for path in &files {
        h.update(path.as_os_str().as_encoded_bytes());
        h.update(&[0]);
        let Ok(meta) = std::fs::metadata(path) else { continue };
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let since_epoch = modified.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        h.update(&meta.len().to_le_bytes());
        h.update(&since_epoch.as_nanos().to_le_bytes());
        if now.duration_since(modified).map_or(true, |age| age < RACY) {
            if let Ok(bytes) = std::fs::read(path) {
                h.update(blake3::hash(&bytes).as_bytes());
            }
        }
    }
    h.finalize()
}

/// How deep the walk goes: a link to a dir above it would otherwise never end.
const MAX_DEPTH: usize = 16;

fn collect(dir: &Path, depth: usize, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                if depth > 0 {
                    collect(&path, depth - 1, files)
                }
            }
            _ => files.push(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_rewritten_at_once_to_the_same_size_changes_the_stamp() {
        let dir = crate::test_dir::TestDir::new("headers");
        std::fs::create_dir_all(dir.join("nested")).unwrap();
        std::fs::write(dir.join("nested/value.h"), "#define V 41\n").unwrap();
        let dirs = [dir.to_path_buf()];
        let first = stamp(&dirs);
        assert_eq!(stamp(&dirs), first, "nothing changed");
        // Within the clock's granularity: the time may stay, the bytes do not.
        std::fs::write(dir.join("nested/value.h"), "#define V 42\n").unwrap();
        let second = stamp(&dirs);
        assert_ne!(second, first);
        std::fs::write(dir.join("other.h"), "").unwrap();
        assert_ne!(stamp(&dirs), second, "a new header");
        assert_eq!(stamp(&[]), stamp(&[dir.join("missing")]), "missing dirs hold nothing");
    }
}
