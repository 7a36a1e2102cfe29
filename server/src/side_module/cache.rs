//! The content-addressed module cache: `<cache_dir>/modules/<key>.wasm` plus `<key>.json`
//! (patch id, module id, var, kind, entry symbol, C++ path). Re-patching a form to a version built
//! before returns the old module (old bytes, old patch id) without compiling anything.
//!
//! Owns: `<cache_dir>/modules/`, its size bound and least-recently-used eviction. The index
//! of entries lives in memory (read from the directory once); a hit only reads the two
//! files and touches the JSON's mtime, which is the access time the next start reads. A new
//! entry is written on the keeper's thread (`keep.rs`) and served from memory until then.
//! Must not know about toolchains.

use std::collections::HashMap;
use std::fs::{File, FileTimes};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::keep::Keeper;
use crate::stages::{ModuleId, PatchId, PatchKind, SideModule, VarName};

#[derive(Serialize, Deserialize)]
struct Metadata {
    patch_id: PatchId,
    /// Absent in entries written before forms were built together: the patch's own module.
    #[serde(default)]
    module: Option<ModuleId>,
    var: VarName,
    kind: PatchKind,
    entry_symbol: String,
    cpp_path: PathBuf,
}

struct Entry {
    bytes: u64,
    last_used: SystemTime,
}

pub(crate) struct ModuleCache {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<HashMap<String, Entry>>,
    /// Entries given to the keeper and not on disk yet.
    unwritten: Mutex<HashMap<String, SideModule>>,
    /// A failed write is logged once; later ones are silent (the build goes on uncached).
    warned: AtomicBool,
}

impl ModuleCache {
    /// Opens (creating) the cache directory; `None` when it cannot be written, which is
    /// logged: builds then go on without caching.
    pub fn open(dir: PathBuf, max_bytes: u64) -> Option<Self> {
        if let Err(e) = writable(&dir) {
            tracing::warn!("build cache {} is not writable ({e}); building without a cache", dir.display());
            return None;
        }
        let mut index = HashMap::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let (Some(key), Ok(meta)) = (path.file_stem().map(|s| s.to_string_lossy().into_owned()), entry.metadata())
            else {
                continue;
            };
            let wasm_bytes = std::fs::metadata(path.with_extension("wasm")).map(|m| m.len()).unwrap_or(0);
            let last_used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            index.insert(key, Entry { bytes: meta.len() + wasm_bytes, last_used });
        }
        Some(ModuleCache {
            dir,
            max_bytes,
            index: Mutex::new(index),
            unwritten: Mutex::new(HashMap::new()),
            warned: AtomicBool::new(false),
        })
    }

    pub fn get(&self, key: &str) -> Option<SideModule> {
        if let Some(module) = self.unwritten.lock().ok()?.get(key) {
            return Some(SideModule { cached: true, ..module.clone() });
        }
        let json = self.dir.join(format!("{key}.json"));
        {
            let mut index = self.index.lock().ok()?;
            let entry = index.get_mut(key)?;
            entry.last_used = SystemTime::now();
        }
        let loaded = std::fs::read(&json)
            .ok()
            .and_then(|text| serde_json::from_slice::<Metadata>(&text).ok())
            .zip(std::fs::read(json.with_extension("wasm")).ok());
        let Some((meta, bytes)) = loaded else {
            // Removed or damaged behind our back: forget it, the form is simply rebuilt.
            if let Ok(mut index) = self.index.lock() {
                index.remove(key);
            }
            return None;
        };
        // The access time for the next start; losing it only makes eviction less exact.
        let _ = File::options()
            .write(true)
            .open(&json)
            .and_then(|f| f.set_times(FileTimes::new().set_modified(SystemTime::now())));
        Some(SideModule {
            patch_id: meta.patch_id,
            module: meta.module.unwrap_or(meta.patch_id.into()),
            bytes: Arc::from(bytes),
            entry_symbol: meta.entry_symbol,
            var: meta.var,
            kind: meta.kind,
            cpp_path: meta.cpp_path,
            cached: true,
        })
    }

    /// Serves `module` for `key` from now on; writes it on `keeper`'s thread.
    pub fn put(self: &Arc<Self>, keeper: &Keeper, key: String, module: SideModule) {
        if let Ok(mut unwritten) = self.unwritten.lock() {
            unwritten.insert(key.clone(), module.clone());
        }
        let cache = self.clone();
        keeper.later(move || {
            if let Err(e) = cache.write(&key, &module) {
                if !cache.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "cannot write the build cache {} ({e}); building without caching",
                        cache.dir.display()
                    );
                }
            }
            if let Ok(mut unwritten) = cache.unwritten.lock() {
                unwritten.remove(&key);
            }
        });
    }

    fn write(&self, key: &str, module: &SideModule) -> std::io::Result<()> {
        let meta = Metadata {
            patch_id: module.patch_id,
            module: Some(module.module),
            var: module.var.clone(),
            kind: module.kind.clone(),
            entry_symbol: module.entry_symbol.clone(),
            cpp_path: module.cpp_path.clone(),
        };
        let json = serde_json::to_vec(&meta).map_err(std::io::Error::other)?;
        // The wasm first and the JSON last, each renamed into place: an entry is complete
        // exactly when its JSON exists.
        let wasm_path = self.dir.join(format!("{key}.wasm"));
        write_atomically(&wasm_path, &module.bytes)?;
        write_atomically(&wasm_path.with_extension("json"), &json)?;
        let mut index = self.index.lock().map_err(|_| std::io::Error::other("cache index poisoned"))?;
        index.insert(
            key.to_string(),
            Entry { bytes: (json.len() + module.bytes.len()) as u64, last_used: SystemTime::now() },
        );
        self.evict(&mut index, key);
        Ok(())
    }

    /// Least recently used first, until the cache fits (never the entry just written).
    fn evict(&self, index: &mut HashMap<String, Entry>, keep: &str) {
        let mut total: u64 = index.values().map(|e| e.bytes).sum();
        if total <= self.max_bytes {
            return;
        }
        let mut by_age: Vec<(SystemTime, String)> =
            index.iter().filter(|(k, _)| k.as_str() != keep).map(|(k, e)| (e.last_used, k.clone())).collect();
        by_age.sort();
        for (_, key) in by_age {
            if total <= self.max_bytes {
                break;
            }
            let _ = std::fs::remove_file(self.dir.join(format!("{key}.json")));
            let _ = std::fs::remove_file(self.dir.join(format!("{key}.wasm")));
            if let Some(entry) = index.remove(&key) {
                total -= entry.bytes;
            }
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let partial = path.with_extension(format!("part{}", std::process::id()));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })
}

/// Creates `dir` and proves a file can be written there.
pub(crate) fn writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}
