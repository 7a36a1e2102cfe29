//! The headers under `build.includeDirs` as they are now, for the build cache's key: a form
//! whose text did not change builds to another module when a header it includes did.
//!
//! Owns: walking the include dirs, watching them, and stamping what it finds. Must not know
//! about the cache's files or the toolchains.
//!
//! Each file counts by its path, size and modification time, as make and ninja count them;
//! one modified less than [`RACY`] ago counts by its bytes too, since a write within the
//! clock's granularity (a few ms on Linux) can leave the time as it was (git's "racily clean"
//! entries). The dirs are walked once and then watched (inotify): a lookup walks them again
//! only after the kernel reported a change under them, so that a library's headers (boost's
//! are 15,000 files) cost a lookup one `read` of the watch, not a walk. The kernel queues the
//! event within the write itself, so a header written before the save that looks it up is
//! seen. Where the dirs cannot be watched (no inotify, too few watches, a dir missing), every
//! lookup walks them.

use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Files modified this recently are read, not only stat'ed.
const RACY: Duration = Duration::from_secs(2);

/// `build.includeDirs`, and their last stamp while a watch vouches for it.
pub(crate) struct IncludeDirs {
    dirs: Vec<PathBuf>,
    watched: Mutex<Watched>,
}

#[derive(Default)]
struct Watched {
    watch: Option<watch::Watch>,
    /// The last walk's stamp, kept only when the watch covered every dir it read.
    stamp: Option<blake3::Hash>,
    /// The reason the dirs could not be watched is logged once.
    warned: bool,
    walks: u64,
}

impl IncludeDirs {
    pub(crate) fn new(dirs: Vec<PathBuf>) -> Self {
        IncludeDirs { dirs, watched: Mutex::new(Watched::default()) }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// The stamp of every file under the dirs now (recursively, following links; unreadable
    /// entries count by their path alone). Blocks for a walk when one is needed.
    pub(crate) fn stamp(&self) -> blake3::Hash {
        let mut watched = self.watched.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Watched { watch, stamp, warned, walks } = &mut *watched;
        if let (Some(stamp), Some(watch)) = (*stamp, watch.as_mut()) {
            if watch.quiet() {
                return stamp;
            }
        }
        if watch.is_none() {
            *watch = watch::Watch::new().map_err(|e| warn_once(warned, &e)).ok();
        }
        let started = std::time::Instant::now();
        let mut files = Vec::new();
        let mut covered = watch.is_some();
        for dir in &self.dirs {
            if let Err(e) = collect(dir, MAX_DEPTH, &mut files, watch.as_mut()) {
                warn_once(warned, &e);
                covered = false;
            }
        }
        let count = files.len();
        let now = stamp_of(files);
        *stamp = covered.then_some(now);
        *walks += 1;
        tracing::debug!(
            walks = *walks,
            count,
            watched = covered,
            "walked build.includeDirs in {:?}",
            started.elapsed()
        );
        now
    }
}

#[cfg(test)]
impl IncludeDirs {
    fn walks(&self) -> u64 {
        self.watched.lock().unwrap().walks
    }
}

fn warn_once(warned: &mut bool, e: &std::io::Error) {
    if !std::mem::replace(warned, true) {
        tracing::warn!("cannot watch build.includeDirs ({e}): every build cache lookup walks them again");
    }
}

fn stamp_of(mut files: Vec<(PathBuf, Option<Metadata>)>) -> blake3::Hash {
    // By bytes: comparing paths component by component cost as much as the walk.
    files.sort_by(|a, b| a.0.as_os_str().as_encoded_bytes().cmp(b.0.as_os_str().as_encoded_bytes()));
    let now = SystemTime::now();
    // Hashed in one go: an update per field cost as much as the walk.
    let mut stamped = Vec::with_capacity(files.len() * 96);
    for (path, meta) in &files {
        stamped.extend_from_slice(path.as_os_str().as_encoded_bytes());
        stamped.push(0);
        let Some(meta) = meta else { continue };
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let since_epoch = modified.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        stamped.extend_from_slice(&meta.len().to_le_bytes());
        stamped.extend_from_slice(&since_epoch.as_nanos().to_le_bytes());
        if now.duration_since(modified).map_or(true, |age| age < RACY) {
            if let Ok(bytes) = std::fs::read(path) {
                stamped.extend_from_slice(blake3::hash(&bytes).as_bytes());
            }
        }
    }
    blake3::hash(&stamped)
}

/// How deep the walk goes: a link to a dir above it would otherwise never end.
const MAX_DEPTH: usize = 16;

/// Each file under `dir` with its metadata, one `stat` per entry, relative to the open dir:
/// emscripten's sysroot headers (817 files, 52 dirs) walk in ~1.0 ms here. Each dir is
/// watched before it is read (a change after that is an event; one before, in what is read),
/// and so is each linked file (its target may lie outside the dirs). The error: what could not
/// be watched (or `dir` read), after which the walk goes on.
fn collect(
    dir: &Path,
    depth: usize,
    files: &mut Vec<(PathBuf, Option<Metadata>)>,
    mut watch: Option<&mut watch::Watch>,
) -> std::io::Result<()> {
    let mut outcome = match watch.as_mut() {
        Some(watch) => watch.add(dir),
        None => Ok(()),
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        // Relative to the open dir (no path walk), and a link's target only for links.
        let linked = entry.file_type().is_ok_and(|kind| kind.is_symlink());
        let meta = match linked {
            true => std::fs::metadata(&path),
            false => entry.metadata(),
        };
        let walked = match meta {
            Ok(meta) if meta.is_dir() => match depth {
                0 => Ok(()),
                _ => collect(&path, depth - 1, files, watch.as_deref_mut()),
            },
            meta => {
                files.push((path.clone(), meta.ok()));
                match (linked, watch.as_mut()) {
                    (true, Some(watch)) => watch.add(&path),
                    _ => Ok(()),
                }
            }
        };
        outcome = outcome.and(walked);
    }
    outcome
}

/// The kernel's change notices for the walked dirs.
#[cfg(target_os = "linux")]
mod watch {
    use inotify::{Inotify, WatchMask};
    use std::io::ErrorKind;
    use std::path::Path;

    pub(super) struct Watch {
        inotify: Inotify,
        buffer: Vec<u8>,
    }

    impl Watch {
        pub(super) fn new() -> std::io::Result<Watch> {
            Ok(Watch { inotify: Inotify::init()?, buffer: vec![0; 4096] })
        }

        /// Watches `path` (a dir: the files in it; a file: itself). Again for a path watched
        /// already is the same watch.
        pub(super) fn add(&mut self, path: &Path) -> std::io::Result<()> {
            let mask = WatchMask::MODIFY
                | WatchMask::ATTRIB
                | WatchMask::CREATE
                | WatchMask::DELETE
                | WatchMask::MOVE
                | WatchMask::DELETE_SELF
                | WatchMask::MOVE_SELF;
            match self.inotify.watches().add(path, mask) {
                Ok(_) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
            }
        }

        /// True when nothing changed since the last call (every notice is read: any one of
        /// them, or an overflow of the queue, means a walk).
        pub(super) fn quiet(&mut self) -> bool {
            let mut quiet = true;
            loop {
                match self.inotify.read_events(&mut self.buffer) {
                    Ok(_) => quiet = false,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return quiet,
                    Err(_) => return false,
                }
            }
        }
    }
}

/// Without inotify, every lookup walks the dirs.
#[cfg(not(target_os = "linux"))]
mod watch {
    use std::path::Path;

    pub(super) struct Watch;

    impl Watch {
        pub(super) fn new() -> std::io::Result<Watch> {
            Err(std::io::ErrorKind::Unsupported.into())
        }

        pub(super) fn add(&mut self, _: &Path) -> std::io::Result<()> {
            Ok(())
        }

        pub(super) fn quiet(&mut self) -> bool {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walked(dirs: &[PathBuf]) -> blake3::Hash {
        let mut files = Vec::new();
        for dir in dirs {
            let _ = collect(dir, MAX_DEPTH, &mut files, None);
        }
        stamp_of(files)
    }

    /// Every change the watch must notice, each checked against a fresh walk of the dirs.
    #[test]
    fn a_header_changed_in_any_way_changes_the_stamp_and_the_walk_agrees() {
        let dir = crate::test_dir::TestDir::new("headers");
        let outside = crate::test_dir::TestDir::new("headers-outside");
        std::fs::create_dir_all(dir.join("nested")).unwrap();
        std::fs::write(dir.join("nested/value.h"), "#define V 41\n").unwrap();
        std::fs::write(outside.join("linked.h"), "#define L 1\n").unwrap();
        std::os::unix::fs::symlink(outside.join("linked.h"), dir.join("linked.h")).unwrap();
        let dirs = vec![dir.to_path_buf()];
        let headers = IncludeDirs::new(dirs.clone());
        let mut seen = vec![headers.stamp()];
        assert_eq!(seen[0], walked(&dirs));
        assert_eq!(headers.stamp(), seen[0], "nothing changed");
        assert_eq!(headers.walks(), 1, "the watch answered");
        // An empty dir holds no header (the stamp stays), but the one written in it next counts.
        let changes: [(&str, &dyn Fn()); 6] = [
            // Within the clock's granularity: the time may stay, the bytes do not.
            ("rewritten at once, same size", &|| std::fs::write(dir.join("nested/value.h"), "#define V 42\n").unwrap()),
            ("a new header", &|| std::fs::write(dir.join("other.h"), "").unwrap()),
            ("a new dir", &|| std::fs::create_dir(dir.join("fresh")).unwrap()),
            ("a header in the new dir", &|| std::fs::write(dir.join("fresh/new.h"), "").unwrap()),
            ("a linked header's target", &|| std::fs::write(outside.join("linked.h"), "#define L 2\n").unwrap()),
            ("a header removed", &|| std::fs::remove_file(dir.join("other.h")).unwrap()),
        ];
        for (change, make) in changes {
            make();
            let now = headers.stamp();
            let empty_dir = change == "a new dir";
            assert_eq!(seen.contains(&now), empty_dir, "{change}: the stamp changed or stayed");
            assert_eq!(now, walked(&dirs), "{change}: the watched stamp is not the walk's");
            assert_eq!(headers.stamp(), now, "{change}: nothing changed since");
            assert_eq!(headers.walks(), seen.len() as u64 + 1, "{change}: one walk for it");
            seen.push(now);
        }
    }

    #[test]
    fn dirs_that_cannot_be_watched_are_walked_at_every_lookup() {
        let dir = crate::test_dir::TestDir::new("headers-missing");
        let missing = dir.join("missing");
        let headers = IncludeDirs::new(vec![missing.clone()]);
        assert_eq!(headers.stamp(), walked(&[]), "a missing dir holds nothing");
        assert_eq!(headers.stamp(), walked(&[]));
        assert_eq!(headers.walks(), 2, "no watch: walked again");
        // Created later: no watch covered it, so the next lookup walks and finds it.
        std::fs::create_dir(&missing).unwrap();
        std::fs::write(missing.join("value.h"), "").unwrap();
        assert_ne!(headers.stamp(), walked(&[]));
        assert_eq!(headers.stamp(), walked(&[missing]));
    }
}
