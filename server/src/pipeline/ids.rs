//! Patch ids that are never reused, across restarts of jank, of the sidecar and of the
//! machine's clock: emscripten keeps the first definition of each symbol name a page ever
//! loaded, and pages outlive both processes (problem 4 in ARCHITECTURE.md).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::stages::PatchId;

/// Ids reserved on disk at a time, so that allocating one rarely touches the disk.
const RESERVE: u64 = 1_000;

/// Hands out [`PatchId`]s. The next id is above both the highest id reserved by any earlier
/// run (persisted in `patch-ids`) and the current time in microseconds, so that even a lost
/// cache directory does not bring back old ids on the same page.
pub struct PatchIds {
    next: AtomicU64,
    reserved_until: Mutex<u64>,
    file: Option<PathBuf>,
}

impl PatchIds {
    /// Ids persisted under `cache_dir`; if it cannot be written, ids still come from the clock.
    pub fn open(cache_dir: &Path) -> Self {
        let file = cache_dir.join("patch-ids");
        let persisted = std::fs::read_to_string(&file).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
        let start = persisted.max(clock_floor());
        let ids = PatchIds { next: AtomicU64::new(start), reserved_until: Mutex::new(start), file: Some(file) };
        ids.reserve(start);
        ids
    }

    /// Ids that live only in memory, for the pipeline's unit tests.
    #[cfg(test)]
    pub(crate) fn in_memory() -> Self {
        let start = clock_floor();
        PatchIds { next: AtomicU64::new(start), reserved_until: Mutex::new(u64::MAX), file: None }
    }

    pub fn next(&self) -> PatchId {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let needs_reserve = match self.reserved_until.lock() {
            Ok(until) => id >= *until,
            Err(_) => false,
        };
        if needs_reserve {
            self.reserve(id);
        }
        PatchId(id)
    }

    fn reserve(&self, from: u64) {
        let Some(file) = &self.file else { return };
        let until = from + RESERVE;
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = file.with_extension("tmp");
        let written = std::fs::write(&tmp, until.to_string()).and_then(|()| std::fs::rename(&tmp, file));
        if let Err(e) = written {
            tracing::warn!("cannot persist patch ids in {}: {e}; ids still come from the clock", file.display());
        }
        if let Ok(mut reserved) = self.reserved_until.lock() {
            *reserved = until;
        }
    }
}

fn clock_floor() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_grow_across_restarts_even_with_a_slow_clock() {
        let dir = crate::test_dir::TestDir::new("ids");
        let first = PatchIds::open(&dir);
        let a = first.next();
        for _ in 0..(RESERVE + 5) {
            first.next();
        }
        let last = first.next();
        drop(first);
        // Pretend the clock went backwards: the persisted reservation still wins.
        std::fs::write(dir.join("patch-ids"), (last.0 + 10_000_000_000_000).to_string()).unwrap();
        let second = PatchIds::open(&dir);
        let b = second.next();
        assert!(b > last && last > a, "{a} {last} {b}");
        assert_eq!(b.0, last.0 + 10_000_000_000_000);
    }
}
