//! The content-addressed module cache: `<cache_dir>/modules/<key>.<module>.json` (patch id,
//! var, kind, entry symbol, C++ path) for each form, and `<module>.wasm` once for each module,
//! which the forms of a save built together share. Re-patching a form to a version built
//! before returns the old module (old bytes, old patch id) without compiling anything.
//!
//! Owns: `<cache_dir>/modules/`, its size bound (a shared module counts once) and
//! least-recently-used eviction (a module goes with the last entry that names it). The index
//! of entries lives in memory (read from the directory's names once); a hit only reads the two
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
    var: VarName,
    kind: PatchKind,
    entry_symbol: String,
    cpp_path: PathBuf,
}

struct Entry {
    module: ModuleId,
    /// The JSON's size (its module counts in `Index::modules`).
    bytes: u64,
    last_used: SystemTime,
}

/// What the directory holds: the entries, and each module's size and how many entries name it.
#[derive(Default)]
struct Index {
    entries: HashMap<String, Entry>,
    modules: HashMap<ModuleId, (u64, usize)>,
}

impl Index {
    /// Adds an entry for a key that has none.
    fn insert(&mut self, key: String, entry: Entry, module_bytes: u64) {
        self.modules.entry(entry.module).or_insert((module_bytes, 0)).1 += 1;
        self.entries.insert(key, entry);
    }

    /// One entry fewer names `module`; true when none does now.
    fn release(&mut self, module: ModuleId) -> bool {
        let Some((_, refs)) = self.modules.get_mut(&module) else { return false };
        *refs = refs.saturating_sub(1);
        let unused = *refs == 0;
        if unused {
            self.modules.remove(&module);
        }
        unused
    }

    fn total(&self) -> u64 {
        self.entries.values().map(|e| e.bytes).sum::<u64>() + self.modules.values().map(|m| m.0).sum::<u64>()
    }
}

pub(crate) struct ModuleCache {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
    /// Entries given to the keeper and not on disk yet.
    unwritten: Mutex<HashMap<String, SideModule>>,
    /// A failed write is logged once; later ones are silent (the build goes on uncached).
    warned: AtomicBool,
}

impl ModuleCache {
    /// Opens (creating) the cache directory; `None` when it cannot be written, which is
    /// logged: builds then go on without caching. Files of the layout before (a module per
    /// entry, `<key>.wasm` beside `<key>.json`) are removed.
    pub fn open(dir: PathBuf, max_bytes: u64) -> Option<Self> {
        if let Err(e) = writable(&dir) {
            tracing::warn!("build cache {} is not writable ({e}); building without a cache", dir.display());
            return None;
        }
        let mut index = Index::default();
        let mut module_bytes = HashMap::new();
        let mut entries = Vec::new();
        for file in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = file.path();
            let Ok(meta) = file.metadata() else { continue };
            match parse_name(&path) {
                Some(Name::Module(module)) => {
                    module_bytes.insert(module, meta.len());
                }
                Some(Name::Entry(key, module)) => {
                    let last_used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    entries.push((key, Entry { module, bytes: meta.len(), last_used }));
                }
                None if is_cache_file(&path) => {
                    let _ = std::fs::remove_file(&path);
                }
                None => {}
            }
        }
        for (key, entry) in entries {
            match module_bytes.get(&entry.module) {
                Some(&bytes) => index.insert(key, entry, bytes),
                // Its module is gone: the form is rebuilt when it is asked for.
                None => {
                    let _ = std::fs::remove_file(entry_file(&dir, &key, entry.module));
                }
            }
        }
        for module in module_bytes.keys().filter(|module| !index.modules.contains_key(module)) {
            let _ = std::fs::remove_file(module_file(&dir, *module));
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
        let module = {
            let mut index = self.index.lock().ok()?;
            let entry = index.entries.get_mut(key)?;
            entry.last_used = SystemTime::now();
            entry.module
        };
        let json = self.entry_path(key, module);
        let loaded = std::fs::read(&json)
            .ok()
            .and_then(|text| serde_json::from_slice::<Metadata>(&text).ok())
            .zip(std::fs::read(self.module_path(module)).ok());
        let Some((meta, bytes)) = loaded else {
            // Removed or damaged behind our back: forget it, the form is simply rebuilt.
            if let Ok(mut index) = self.index.lock() {
                if let Some(entry) = index.entries.remove(key) {
                    index.release(entry.module);
                }
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
            module,
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
            var: module.var.clone(),
            kind: module.kind.clone(),
            entry_symbol: module.entry_symbol.clone(),
            cpp_path: module.cpp_path.clone(),
        };
        let json = serde_json::to_vec(&meta).map_err(std::io::Error::other)?;
        let poisoned = || std::io::Error::other("cache index poisoned");
        // The files are written without the index's lock: a lookup on the sidecar's thread
        // takes it, and must not wait for the disk (a file created here took 1–3 ms). This
        // thread is the only writer, and `key` is served from `unwritten` until this returns.
        let (old, old_unused, module_written) = {
            let mut index = self.index.lock().map_err(|_| poisoned())?;
            let old = index.entries.remove(key);
            let old_unused = old.as_ref().is_some_and(|old| index.release(old.module));
            (old, old_unused, index.modules.contains_key(&module.module))
        };
        if let Some(old) = old.filter(|old| old.module != module.module) {
            let _ = std::fs::remove_file(self.entry_path(key, old.module));
            if old_unused {
                let _ = std::fs::remove_file(self.module_path(old.module));
            }
        }
        // The module first and the entry last, each renamed into place: an entry is complete
        // exactly when its JSON exists. The forms of one module write it once.
        if !module_written {
            write_atomically(&self.module_path(module.module), &module.bytes)?;
        }
        write_atomically(&self.entry_path(key, module.module), &json)?;
        let entry = Entry { module: module.module, bytes: json.len() as u64, last_used: SystemTime::now() };
        let mut index = self.index.lock().map_err(|_| poisoned())?;
        index.insert(key.to_string(), entry, module.bytes.len() as u64);
        self.evict(&mut index, key);
        Ok(())
    }

    /// Least recently used first, until the cache fits (never the entry just written).
    fn evict(&self, index: &mut Index, keep: &str) {
        let mut total = index.total();
        if total <= self.max_bytes {
            return;
        }
        let mut by_age: Vec<(SystemTime, String)> =
            index.entries.iter().filter(|(k, _)| k.as_str() != keep).map(|(k, e)| (e.last_used, k.clone())).collect();
        by_age.sort();
        for (_, key) in by_age {
            if total <= self.max_bytes {
                break;
            }
            let Some(entry) = index.entries.remove(&key) else { continue };
            let _ = std::fs::remove_file(self.entry_path(&key, entry.module));
            total -= entry.bytes;
            let module_bytes = index.modules.get(&entry.module).map_or(0, |m| m.0);
            if index.release(entry.module) {
                let _ = std::fs::remove_file(self.module_path(entry.module));
                total -= module_bytes;
            }
        }
    }

    fn entry_path(&self, key: &str, module: ModuleId) -> PathBuf {
        entry_file(&self.dir, key, module)
    }

    fn module_path(&self, module: ModuleId) -> PathBuf {
        module_file(&self.dir, module)
    }
}

fn entry_file(dir: &Path, key: &str, module: ModuleId) -> PathBuf {
    dir.join(format!("{key}.{module}.json"))
}

fn module_file(dir: &Path, module: ModuleId) -> PathBuf {
    dir.join(format!("{module}.wasm"))
}

enum Name {
    Entry(String, ModuleId),
    Module(ModuleId),
}

/// What a file of the cache directory is, by its name; `None` for anything else.
fn parse_name(path: &Path) -> Option<Name> {
    let name = path.file_name()?.to_str()?;
    if let Some(stem) = name.strip_suffix(".wasm") {
        return module_id(stem).map(Name::Module);
    }
    let (key, module) = name.strip_suffix(".json")?.split_once('.')?;
    let hex = key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then_some(())?;
    module_id(module).map(|module| Name::Entry(key.to_string(), module))
}

/// A module id as the cache writes it (a key of the layout before can be all digits).
fn module_id(text: &str) -> Option<ModuleId> {
    let id: u64 = text.parse().ok()?;
    (id.to_string() == text).then_some(ModuleId(id))
}

/// A `.wasm` or `.json` file the cache wrote (in this layout or the one before).
fn is_cache_file(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "wasm" || x == "json")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TestDir;

    fn module(patch: u64, module: u64, size: usize) -> SideModule {
        SideModule {
            patch_id: PatchId(patch),
            module: ModuleId(module),
            bytes: Arc::from(vec![module as u8; size]),
            entry_symbol: format!("jank_patch_symbols_{module}"),
            var: VarName::new("demo.core", format!("f{patch}")),
            kind: PatchKind::Definition,
            cpp_path: PathBuf::from(format!("cpp/patch_{patch}.cpp")),
            cached: false,
        }
    }

    fn key(n: u64) -> String {
        format!("{n:032x}")
    }

    fn put_all(cache: &Arc<ModuleCache>, keeper: &Keeper, modules: &[(u64, SideModule)]) {
        for (n, module) in modules {
            cache.put(keeper, key(*n), module.clone());
        }
        keeper.flush();
    }

    /// The files in `dir` whose name ends in `.<extension>`.
    fn files(dir: &Path, extension: &str) -> Vec<std::fs::Metadata> {
        let files = std::fs::read_dir(dir).unwrap().flatten();
        files.filter(|f| f.path().extension().is_some_and(|x| x == extension)).map(|f| f.metadata().unwrap()).collect()
    }

    #[test]
    fn the_forms_of_one_module_share_its_file_and_a_restart_finds_them() {
        let dir = TestDir::new("cache-shared");
        let keeper = Keeper::new();
        let cache = Arc::new(ModuleCache::open(dir.to_path_buf(), u64::MAX).unwrap());
        put_all(&cache, &keeper, &[(1, module(1, 10, 1000)), (2, module(2, 10, 1000)), (3, module(3, 10, 1000))]);
        assert_eq!(
            (files(&dir, "wasm").len(), files(&dir, "json").len()),
            (1, 3),
            "one module file, an entry per form"
        );
        for reopened in [false, true] {
            let cache = match reopened {
                false => cache.clone(),
                true => Arc::new(ModuleCache::open(dir.to_path_buf(), u64::MAX).unwrap()),
            };
            for n in 1..=3 {
                let hit = cache.get(&key(n)).unwrap_or_else(|| panic!("entry {n}, reopened {reopened}"));
                assert_eq!((hit.patch_id, hit.module, hit.bytes.len()), (PatchId(n), ModuleId(10), 1000));
                assert!(hit.cached);
            }
        }
    }

    #[test]
    fn a_shared_module_counts_once_and_goes_with_its_last_entry() {
        let dir = TestDir::new("cache-evict");
        let keeper = Keeper::new();
        let shared = [(1, module(1, 10, 1000)), (2, module(2, 10, 1000)), (3, module(3, 10, 1000))];
        let cache = Arc::new(ModuleCache::open(dir.to_path_buf(), u64::MAX).unwrap());
        put_all(&cache, &keeper, &shared);
        put_all(&cache, &keeper, &[(4, module(4, 20, 1000))]);
        let total = cache.index.lock().unwrap().total();
        let json: u64 = files(&dir, "json").iter().map(|f| f.len()).sum();
        assert_eq!(total, json + 2000, "module 10 counts once");

        // Room for what is there and not one more module: module 10's entries go, oldest
        // first, and its file with the last of them.
        let cache = Arc::new(ModuleCache::open(dir.to_path_buf(), total + 100).unwrap());
        put_all(&cache, &keeper, &[(5, module(5, 30, 1000))]);
        assert!((1..=3).all(|n| cache.get(&key(n)).is_none()));
        assert!(cache.get(&key(4)).is_some() && cache.get(&key(5)).is_some());
        assert!(!dir.join("10.wasm").exists());
        assert_eq!((files(&dir, "wasm").len(), files(&dir, "json").len()), (2, 2));
    }

    #[test]
    fn opening_removes_the_layout_before_and_what_no_entry_names() {
        let dir = TestDir::new("cache-layout");
        let legacy = key(7);
        std::fs::write(dir.join(format!("{legacy}.wasm")), b"\0asm").unwrap();
        std::fs::write(dir.join(format!("{legacy}.json")), b"{}").unwrap();
        std::fs::write(dir.join("99.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.join(format!("{}.98.json", key(8))), b"{}").unwrap();
        std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
        let cache = ModuleCache::open(dir.to_path_buf(), u64::MAX).unwrap();
        assert!(cache.index.lock().unwrap().entries.is_empty());
        let left: Vec<String> =
            std::fs::read_dir(&*dir).unwrap().flatten().map(|f| f.file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(left, ["notes.txt"]);
    }
}
