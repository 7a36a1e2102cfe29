//! The journal: the latest definition patch of each var, in the order they were applied,
//! replayed to every page that connects later so that all pages converge on the editor's
//! latest code (problem 6 in ARCHITECTURE.md); and each var's earlier versions, which undo
//! goes back to.
//!
//! Owns: the entries, the history, and their copy on disk: each module once, in a module file
//! `<dir>/module-<n>.wasm`, and the entries and history, numbered by generation, written in
//! turn to `<dir>/journal-0.json` and `<dir>/journal-1.json` in place. The newer one that reads
//! whole is the journal: a crash while writing one leaves the other, one save older. Each entry
//! names its module's file, length and BLAKE3 hash; a module file no longer named by the newest
//! generation is written over by the next new module. In place and reused, so that a save
//! allocates and frees no file and no block: creating or truncating a file cost 0.5–0.9 ms a
//! file on this project's disk (ext4 with `discard`) against 0.07 ms for a write over an
//! existing one, and a patch is saved while its pages load it. The older generation may name
//! a file written over since: its hash says so, and that entry is left out.
//! A journal that cannot be read is logged and ignored: losing it costs a replay, never the
//! sidecar. Expression patches are never journaled. Must not touch sockets.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::stages::{ModuleId, Patch, PatchId, PatchKind, PatchOrigin, VarName};

/// Written in turn: generation `g` goes to `SLOTS[g % 2]`.
const SLOTS: [&str; 2] = ["journal-0.json", "journal-1.json"];
/// What journals written before the slots hold: read when no slot can be, removed by the first save.
const LEGACY_INDEX: &str = "index.json";
const LEGACY_HISTORY: &str = "history.json";
/// Earlier versions kept per var for undo; older ones are forgotten.
pub const HISTORY_PER_VAR: usize = 32;

/// One journaled patch, shared: every save takes a snapshot of the whole journal under the
/// hub's lock, and a long session's journal holds thousands (32 versions per var), so a copy
/// is a reference count, not the strings.
#[derive(Clone, Debug)]
pub struct Entry(Arc<JournaledPatch>);

impl Entry {
    pub fn new(patch: JournaledPatch) -> Entry {
        Entry(Arc::new(patch))
    }
}

impl std::ops::Deref for Entry {
    type Target = JournaledPatch;
    fn deref(&self) -> &JournaledPatch {
        &self.0
    }
}

#[derive(Debug)]
pub struct JournaledPatch {
    pub id: PatchId,
    /// The side module holding the patch (shared by the forms of one save).
    pub module: ModuleId,
    pub entry_symbol: String,
    pub var: VarName,
    pub origin: PatchOrigin,
    pub bytes: Arc<[u8]>,
}

#[derive(Serialize, Deserialize)]
struct IndexEntry {
    id: PatchId,
    /// Absent in journals written before forms were built together: the patch's own module.
    #[serde(default)]
    module: Option<ModuleId>,
    /// Absent in journals written before module files were reused: `<dir>/<module>.wasm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stored: Option<Stored>,
    entry_symbol: String,
    var: VarName,
    origin: PatchOrigin,
}

/// Where a module's bytes are: the first `len` bytes of `module-<file>.wasm`, whose BLAKE3
/// hash is `blake3`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stored {
    file: u32,
    len: usize,
    blake3: String,
}

impl Stored {
    fn of(file: u32, bytes: &[u8]) -> Stored {
        Stored { file, len: bytes.len(), blake3: blake3::hash(bytes).to_hex().to_string() }
    }

    /// The module's bytes, if the file still holds them.
    fn read(&self, dir: &Path) -> std::io::Result<Option<Vec<u8>>> {
        let mut bytes = std::fs::read(module_file(dir, self.file))?;
        if bytes.len() < self.len {
            return Ok(None);
        }
        bytes.truncate(self.len);
        Ok((blake3::hash(&bytes).to_hex().as_str() == self.blake3).then_some(bytes))
    }
}

/// One slot's content.
#[derive(Serialize, Deserialize)]
struct Written {
    generation: u64,
    entries: Vec<IndexEntry>,
    history: Vec<IndexEntry>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot {what} {path}: {source}")]
pub struct JournalError {
    what: &'static str,
    path: PathBuf,
    source: std::io::Error,
}

#[derive(Debug, Default)]
pub struct Journal {
    dir: Option<PathBuf>,
    entries: Vec<Entry>,
    /// Per var, the versions before its current entry, oldest first.
    history: Vec<Entry>,
}

/// What [`Journal::undo`] changed, to put back with [`Journal::redo`] if no page could load it.
#[derive(Clone, Debug)]
pub struct Undone {
    /// The entry the var had before the undo.
    pub replaced: Entry,
    /// The earlier version it has now.
    pub current: Entry,
}

impl Journal {
    /// Opens the journal kept in `dir`; whatever cannot be read there is logged and left out.
    pub fn open(dir: &Path) -> Self {
        let (entries, history) = match newest(dir) {
            Some((_, written)) => (read_entries(dir, written.entries), read_entries(dir, written.history)),
            None => (read_legacy(dir, LEGACY_INDEX), read_legacy(dir, LEGACY_HISTORY)),
        };
        Journal { dir: Some(dir.to_path_buf()), entries, history }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The journaled patch `id` (current or an earlier version).
    pub fn find(&self, id: PatchId) -> Option<&Entry> {
        self.entries.iter().chain(self.history.iter()).find(|e| e.id == id)
    }

    /// The var's version: how many patches of it the journal holds (0: the app's own code).
    pub fn version(&self, var: &VarName) -> u32 {
        let current = self.entries.iter().any(|e| &e.var == var);
        if !current {
            return 0;
        }
        1 + self.history.iter().filter(|e| &e.var == var).count() as u32
    }

    /// Makes the var's previous version its latest entry again; `None` when it has none.
    pub fn undo(&mut self, var: &VarName) -> Option<Undone> {
        let at = self.history.iter().rposition(|e| &e.var == var)?;
        let replaced = self.remove_var(var)?;
        let current = self.history.remove(at);
        self.entries.push(current.clone());
        Some(Undone { replaced, current })
    }

    /// Undoes [`Journal::undo`], unless the var changed again since.
    pub fn redo(&mut self, undone: Undone) {
        let var = &undone.current.var;
        if !self.entries.iter().any(|e| &e.var == var && e.id == undone.current.id) {
            return;
        }
        self.remove_var(var);
        self.history.push(undone.current);
        self.entries.push(undone.replaced);
    }

    /// Makes `patch` its var's latest entry. Returns the entry it replaces, to put back with
    /// [`Journal::restore`] if no page could load the patch. Expressions are not recorded.
    pub fn record(&mut self, patch: &Patch) -> Option<Option<Entry>> {
        if patch.module.kind == PatchKind::Expression {
            return None;
        }
        let module = &patch.module;
        let previous = self.remove_var(&module.var);
        if let Some(previous) = &previous {
            self.history.push(previous.clone());
            let versions = self.history.iter().filter(|e| e.var == module.var).count();
            if versions > HISTORY_PER_VAR {
                if let Some(oldest) = self.history.iter().position(|e| e.var == module.var) {
                    self.history.remove(oldest);
                }
            }
        }
        self.entries.push(Entry::new(JournaledPatch {
            id: module.patch_id,
            module: module.module,
            entry_symbol: module.entry_symbol.clone(),
            var: module.var.clone(),
            origin: patch.origin.clone(),
            bytes: module.bytes.clone(),
        }));
        Some(previous)
    }

    /// Undoes [`Journal::record`] of patch `id`, unless a newer patch of the var came since.
    pub fn restore(&mut self, var: &VarName, id: PatchId, previous: Option<Entry>) {
        if !self.entries.iter().any(|e| &e.var == var && e.id == id) {
            return;
        }
        self.remove_var(var);
        if let Some(previous) = previous {
            if let Some(at) = self.history.iter().rposition(|e| e.var == previous.var && e.id == previous.id) {
                self.history.remove(at);
            }
            self.entries.push(previous);
        }
    }

    fn remove_var(&mut self, var: &VarName) -> Option<Entry> {
        let at = self.entries.iter().position(|e| &e.var == var)?;
        Some(self.entries.remove(at))
    }

    /// What [`Journal::save`] needs, taken under the hub's lock and written outside it.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot { dir: self.dir.clone(), entries: self.entries.clone(), history: self.history.clone() }
    }
}

/// The journal's state at one moment, to write to disk without holding any lock.
pub struct Snapshot {
    dir: Option<PathBuf>,
    entries: Vec<Entry>,
    history: Vec<Entry>,
}

impl Snapshot {
    /// Writes the modules not on disk yet, each over a module file the newest generation on
    /// disk does not name, then the generation, if it changed. `disk` is what earlier saves
    /// left there: a save writes only what changed since (a long session's journal is not
    /// written again after each patch). The first save learns the files in use from the
    /// newest generation, and removes what journals of earlier versions left.
    pub fn save(&self, disk: &mut OnDisk) -> Result<(), JournalError> {
        let Some(dir) = &self.dir else { return Ok(()) };
        if !dir.is_dir() {
            // Removed while running: everything is written again.
            *disk = OnDisk::default();
            std::fs::create_dir_all(dir).map_err(err("create", dir))?;
        }
        if !disk.opened {
            disk.modules = in_use(dir);
        }
        let kept: HashSet<ModuleId> = self.entries.iter().chain(&self.history).map(|e| e.module).collect();
        let mut taken: HashSet<u32> = disk.modules.values().map(|stored| stored.file).collect();
        for entry in self.entries.iter().chain(&self.history) {
            if disk.modules.contains_key(&entry.module) {
                continue;
            }
            let file = (0u32..).find(|file| !taken.contains(file)).unwrap_or(u32::MAX);
            let path = module_file(dir, file);
            overwrite(&path, &entry.bytes).map_err(err("write", &path))?;
            taken.insert(file);
            disk.modules.insert(entry.module, Stored::of(file, &entry.bytes));
        }
        write_slot(dir, &self.entries, &self.history, disk)?;
        if !disk.opened {
            sweep_legacy(dir)?;
            disk.opened = true;
        }
        disk.modules.retain(|m, _| kept.contains(m));
        Ok(())
    }
}

/// The module files the newest generation in `dir` names, by module.
fn in_use(dir: &Path) -> HashMap<ModuleId, Stored> {
    let Some((_, written)) = newest(dir) else { return HashMap::new() };
    written
        .entries
        .into_iter()
        .chain(written.history)
        .filter_map(|e| Some((e.module.unwrap_or(e.id.into()), e.stored?)))
        .collect()
}

/// Removes what journals of earlier versions left: their indexes and `<module id>.wasm` files,
/// and temporary files of a save cut short.
fn sweep_legacy(dir: &Path) -> Result<(), JournalError> {
    for stale in std::fs::read_dir(dir).map_err(err("list", dir))?.flatten().map(|e| e.path()) {
        let name = stale.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let legacy_index = [LEGACY_INDEX, LEGACY_HISTORY].contains(&name);
        let legacy_module = name.strip_suffix(".wasm").is_some_and(|stem| stem.parse::<u64>().is_ok());
        if legacy_index || legacy_module || name.ends_with(".tmp") {
            let _ = std::fs::remove_file(&stale);
        }
    }
    Ok(())
}

/// What the journal's directory holds, as the saves of this sidecar left it.
#[derive(Debug, Default)]
pub struct OnDisk {
    /// The modules the newest generation names, and where each is.
    modules: HashMap<ModuleId, Stored>,
    /// Whether `modules` were learned from the directory and what older journals left removed.
    opened: bool,
    /// The last generation written (or found in the directory), once known.
    generation: Option<u64>,
    /// The patches that generation lists, entries then history (a patch id stands for its
    /// whole index entry: its module, symbol, var and origin never change).
    written: (Vec<PatchId>, Vec<PatchId>),
}

/// Writes the next generation to its slot, unless the newest one holds the same already.
fn write_slot(dir: &Path, entries: &[Entry], history: &[Entry], disk: &mut OnDisk) -> Result<(), JournalError> {
    let modules = &disk.modules;
    let listed = |entries: &[Entry]| -> Vec<IndexEntry> {
        entries
            .iter()
            .map(|e| IndexEntry {
                id: e.id,
                module: Some(e.module),
                stored: modules.get(&e.module).cloned(),
                entry_symbol: e.entry_symbol.clone(),
                var: e.var.clone(),
                origin: e.origin.clone(),
            })
            .collect()
    };
    let ids = |entries: &[Entry]| entries.iter().map(|e| e.id).collect::<Vec<_>>();
    let listing = (ids(entries), ids(history));
    if listing == disk.written {
        return Ok(());
    }
    let last = *disk.generation.get_or_insert_with(|| newest(dir).map_or(0, |(generation, _)| generation));
    let next = Written { generation: last + 1, entries: listed(entries), history: listed(history) };
    let path = dir.join(SLOTS[(next.generation % 2) as usize]);
    let json =
        serde_json::to_vec(&next).map_err(|e| JournalError { what: "encode", path: path.clone(), source: e.into() })?;
    overwrite(&path, &json).map_err(err("write", &path))?;
    disk.generation = Some(next.generation);
    disk.written = listing;
    Ok(())
}

/// The slot of the highest generation that reads whole, with that generation.
fn newest(dir: &Path) -> Option<(u64, Written)> {
    let mut newest: Option<(u64, Written)> = None;
    for path in SLOTS.map(|name| dir.join(name)) {
        let written = match std::fs::read(&path) {
            Ok(text) => match serde_json::from_slice::<Written>(&text) {
                Ok(written) => written,
                Err(e) => {
                    tracing::warn!("ignoring {} of the patch journal (unreadable: {e})", path.display());
                    continue;
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!("ignoring {} of the patch journal: {e}", path.display());
                continue;
            }
        };
        if newest.as_ref().is_none_or(|(generation, _)| written.generation > *generation) {
            newest = Some((written.generation, written));
        }
    }
    newest
}

/// The listed entries whose modules can be read; the rest is logged and left out.
fn read_entries(dir: &Path, listed: Vec<IndexEntry>) -> Vec<Entry> {
    listed.into_iter().filter_map(|e| read_entry(dir, e)).collect()
}

/// The entries a journal of an earlier version listed in `<dir>/<name>`.
fn read_legacy(dir: &Path, name: &str) -> Vec<Entry> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(text) => match serde_json::from_slice::<Vec<IndexEntry>>(&text) {
            Ok(listed) => read_entries(dir, listed),
            Err(e) => {
                tracing::warn!("ignoring the corrupt patch journal {}: {e}", path.display());
                Vec::new()
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            tracing::warn!("ignoring the patch journal {}: {e}", path.display());
            Vec::new()
        }
    }
}

fn err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> JournalError {
    let path = path.to_path_buf();
    move |source| JournalError { what, path, source }
}

fn module_file(dir: &Path, file: u32) -> PathBuf {
    dir.join(format!("module-{file}.wasm"))
}

/// Where journals of earlier versions kept a module.
fn legacy_module_path(dir: &Path, module: ModuleId) -> PathBuf {
    dir.join(format!("{module}.wasm"))
}

fn read_entry(dir: &Path, e: IndexEntry) -> Option<Entry> {
    let module = e.module.unwrap_or(e.id.into());
    let (path, read) = match &e.stored {
        Some(stored) => (module_file(dir, stored.file), stored.read(dir)),
        None => {
            let path = legacy_module_path(dir, module);
            let read = std::fs::read(&path).map(Some);
            (path, read)
        }
    };
    match read {
        Ok(Some(bytes)) if bytes.starts_with(b"\0asm") => Some(Entry::new(JournaledPatch {
            id: e.id,
            module,
            entry_symbol: e.entry_symbol,
            var: e.var,
            origin: e.origin,
            bytes: bytes.into(),
        })),
        Ok(Some(_)) => {
            tracing::warn!("journal: {} is not a wasm module; {} is left out", path.display(), e.var);
            None
        }
        Ok(None) => {
            tracing::warn!("journal: {} no longer holds the module of {}; it is left out", path.display(), e.var);
            None
        }
        Err(err) => {
            tracing::warn!("journal: cannot read {} ({err}); {} is left out", path.display(), e.var);
            None
        }
    }
}

/// Writes `bytes` over the start of `path` in one write, without truncating it first: a
/// truncation frees the file's blocks and the write allocates them again (0.4 ms of a 1 ms save
/// under strace on ext4). Shorter bytes are padded with spaces, which JSON reads as nothing
/// and a module's entry, which names its length, never reads; the file is cut only when it is
/// more than twice the bytes. One write call, which a killed sidecar cannot leave half done; a power loss can tear
/// it (as it could a truncated file), and the other slot holds the save before.
fn overwrite(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(path)?;
    let old = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    let cut = old > 2 * bytes.len();
    let mut padded = bytes.to_vec();
    if !cut {
        padded.resize(old.max(bytes.len()), b' ');
    }
    file.write_all(&padded)?;
    if cut {
        file.set_len(bytes.len() as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::test_patch as patch;

    fn ids(journal: &Journal) -> Vec<u64> {
        journal.entries().iter().map(|e| e.id.0).collect()
    }

    fn temp_dir(name: &str) -> crate::test_dir::TestDir {
        crate::test_dir::TestDir::new(&format!("journal-{name}"))
    }

    #[test]
    fn keeps_the_latest_patch_per_var_in_application_order() {
        let mut j = Journal::default();
        j.record(&patch(1, "a", PatchKind::Definition));
        j.record(&patch(2, "b", PatchKind::Definition));
        j.record(&patch(3, "a", PatchKind::Definition));
        assert_eq!(j.record(&patch(4, "e", PatchKind::Expression)).map(|_| ()), None);
        assert_eq!(ids(&j), [2, 3]);
    }

    #[test]
    fn restore_puts_back_the_previous_entry_unless_newer_came() {
        let mut j = Journal::default();
        j.record(&patch(1, "a", PatchKind::Definition));
        let previous = j.record(&patch(2, "a", PatchKind::Definition)).unwrap();
        j.restore(&VarName::new("demo.core", "a"), PatchId(2), previous);
        assert_eq!(ids(&j), [1]);
        let previous = j.record(&patch(3, "a", PatchKind::Definition)).unwrap();
        j.record(&patch(4, "a", PatchKind::Definition));
        j.restore(&VarName::new("demo.core", "a"), PatchId(3), previous);
        assert_eq!(ids(&j), [4]);
    }

    #[test]
    fn undo_goes_back_one_version_at_a_time_and_redo_puts_it_back() {
        let mut j = Journal::default();
        let a = VarName::new("demo.core", "a");
        assert_eq!(j.version(&a), 0);
        for id in [1, 2, 3] {
            j.record(&patch(id, "a", PatchKind::Definition));
        }
        j.record(&patch(4, "b", PatchKind::Definition));
        assert_eq!(j.version(&a), 3);
        let undone = j.undo(&a).unwrap();
        assert_eq!((undone.replaced.id.0, undone.current.id.0), (3, 2));
        assert_eq!(ids(&j), [4, 2], "the undone var is applied last");
        assert_eq!(j.version(&a), 2);
        j.redo(undone);
        assert_eq!(ids(&j), [4, 3]);
        assert_eq!(j.version(&a), 3);
        j.undo(&a).unwrap();
        j.undo(&a).unwrap();
        assert_eq!(ids(&j), [4, 1]);
        assert!(j.undo(&a).is_none(), "no version before the first");
        assert!(j.undo(&VarName::new("demo.core", "nope")).is_none());
    }

    #[test]
    fn history_is_bounded_per_var() {
        let mut j = Journal::default();
        for id in 0..(HISTORY_PER_VAR as u64 + 10) {
            j.record(&patch(id, "a", PatchKind::Definition));
        }
        assert_eq!(j.version(&VarName::new("demo.core", "a")), HISTORY_PER_VAR as u32 + 1);
    }

    #[test]
    fn persists_and_reopens() {
        let dir = temp_dir("persist");
        let mut j = Journal::open(&dir);
        let mut disk = OnDisk::default();
        j.record(&patch(1, "a", PatchKind::Definition));
        j.record(&patch(2, "b", PatchKind::Definition));
        j.snapshot().save(&mut disk).unwrap();
        j.record(&patch(3, "a", PatchKind::Definition));
        j.snapshot().save(&mut disk).unwrap();
        let mut back = Journal::open(&dir);
        let mut disk = OnDisk::default();
        assert_eq!(ids(&back), [2, 3]);
        assert_eq!(back.entries()[1].bytes, patch(3, "a", PatchKind::Definition).module.bytes);
        assert_eq!(module_files(&dir), 3, "earlier versions are kept for undo");
        assert_eq!(back.undo(&VarName::new("demo.core", "a")).map(|u| u.current.id.0), Some(1));
        back.snapshot().save(&mut disk).unwrap();
        back.record(&patch(4, "c", PatchKind::Definition));
        back.snapshot().save(&mut disk).unwrap();
        assert_eq!(module_files(&dir), 3, "the undone version's file is written over by the next module");
        assert_eq!(ids(&Journal::open(&dir)), [2, 1, 4]);
    }

    /// The file holding patch `id`'s module, as the newest generation names it.
    fn stored_file(dir: &Path, id: u64) -> PathBuf {
        let (_, written) = newest(dir).unwrap();
        let entry = written.entries.iter().chain(&written.history).find(|e| e.id.0 == id).unwrap();
        module_file(dir, entry.stored.as_ref().unwrap().file)
    }

    fn module_files(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("module-"))
            .count()
    }

    #[test]
    fn the_older_generation_leaves_out_a_module_written_over_since() {
        let dir = temp_dir("written-over");
        let mut j = Journal::open(&dir);
        let mut disk = OnDisk::default();
        j.record(&patch(1, "a", PatchKind::Definition));
        j.snapshot().save(&mut disk).unwrap();
        let older = std::fs::read(dir.join(SLOTS[1])).unwrap();
        // No page could load it: it leaves the journal.
        j.restore(&VarName::new("demo.core", "a"), PatchId(1), None);
        j.snapshot().save(&mut disk).unwrap();
        j.record(&patch(2, "b", PatchKind::Definition));
        j.snapshot().save(&mut disk).unwrap();
        assert_eq!(module_files(&dir), 1, "b's module took a's file, which no generation on disk named");
        // A crash that tore the newest generation, with the oldest one still naming a's file.
        std::fs::write(dir.join(SLOTS[1]), older).unwrap();
        std::fs::write(dir.join(SLOTS[0]), b"{torn").unwrap();
        assert!(Journal::open(&dir).entries().is_empty(), "a's file holds b's module now: a is left out");
    }

    #[test]
    fn a_corrupt_journal_is_ignored() {
        let dir = temp_dir("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(SLOTS[1]), b"{not json").unwrap();
        assert!(Journal::open(&dir).entries().is_empty());

        let mut j = Journal::open(&dir);
        let mut disk = OnDisk::default();
        j.record(&patch(5, "a", PatchKind::Definition));
        j.record(&patch(6, "b", PatchKind::Definition));
        j.snapshot().save(&mut disk).unwrap();
        std::fs::write(stored_file(&dir, 5), b"\0asm garbage").unwrap();
        assert_eq!(ids(&Journal::open(&dir)), [6], "a damaged module leaves only its entry out");
    }

    /// The file's identity: a write to a temporary file renamed over it changes it.
    fn inode(path: &Path) -> u64 {
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap())
    }

    /// The generation the journal in `dir` reads as.
    fn generation(dir: &Path) -> u64 {
        newest(dir).unwrap().0
    }

    #[test]
    fn a_save_writes_only_what_changed_and_everything_when_the_directory_went_away() {
        let dir = temp_dir("incremental");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("77.wasm"), b"\0asm left by an earlier session").unwrap();
        let mut j = Journal::open(&dir);
        let mut disk = OnDisk::default();
        j.record(&patch(1, "a", PatchKind::Definition));
        j.record(&patch(2, "b", PatchKind::Definition));
        j.snapshot().save(&mut disk).unwrap();
        assert!(!dir.join("77.wasm").exists(), "the first save removes modules no index names");
        assert_eq!(generation(&dir), 1);
        let module = inode(&stored_file(&dir, 1));

        j.record(&patch(3, "b", PatchKind::Definition));
        j.snapshot().save(&mut disk).unwrap();
        assert_eq!(inode(&stored_file(&dir, 1)), module, "a module on disk is not written again");
        assert_eq!(generation(&dir), 2, "b's earlier version joined the history");
        let slots = SLOTS.map(|slot| inode(&dir.join(slot)));
        j.record(&patch(4, "e", PatchKind::Expression));
        j.snapshot().save(&mut disk).unwrap();
        assert_eq!(generation(&dir), 2, "an unchanged journal is not written again");
        j.record(&patch(6, "d", PatchKind::Definition));
        j.snapshot().save(&mut disk).unwrap();
        assert_eq!(SLOTS.map(|slot| inode(&dir.join(slot))), slots, "the slots are written in place");

        std::fs::remove_dir_all(&dir).unwrap();
        j.record(&patch(5, "c", PatchKind::Definition));
        j.snapshot().save(&mut disk).unwrap();
        let back = Journal::open(&dir);
        assert_eq!(ids(&back), [1, 3, 6, 5], "a journal directory removed while running is written again whole");
        assert_eq!(back.version(&VarName::new("demo.core", "b")), 2);
    }

    #[test]
    fn a_slot_is_written_over_in_place_and_cut_only_when_much_shorter() {
        let dir = temp_dir("overwrite");
        let slot = dir.join(SLOTS[0]);
        overwrite(&slot, br#"{"a":"a long first text"}"#).unwrap();
        let first = inode(&slot);
        overwrite(&slot, br#"{"a":"shorter"}"#).unwrap();
        let text = std::fs::read(&slot).unwrap();
        assert_eq!(text.len(), br#"{"a":"a long first text"}"#.len(), "padded, not truncated");
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&text).unwrap()["a"], "shorter");
        overwrite(&slot, b"{}").unwrap();
        assert_eq!(std::fs::read(&slot).unwrap(), b"{}", "more than twice the text: cut");
        assert_eq!(inode(&slot), first, "the same file throughout");
    }

    #[test]
    fn a_slot_cut_short_by_a_crash_leaves_the_save_before_it() {
        let dir = temp_dir("torn");
        let mut j = Journal::open(&dir);
        let mut disk = OnDisk::default();
        j.record(&patch(1, "a", PatchKind::Definition));
        j.snapshot().save(&mut disk).unwrap();
        j.record(&patch(2, "b", PatchKind::Definition));
        j.snapshot().save(&mut disk).unwrap();
        let newest = dir.join(SLOTS[0]);
        let whole = std::fs::read(&newest).unwrap();
        std::fs::write(&newest, &whole[..whole.len() / 2]).unwrap();
        assert_eq!(ids(&Journal::open(&dir)), [1], "the older slot, whole, is the journal");

        // The next sidecar goes on from the generation it reads and writes over the torn slot.
        let mut again = Journal::open(&dir);
        let mut disk = OnDisk::default();
        again.record(&patch(3, "c", PatchKind::Definition));
        again.snapshot().save(&mut disk).unwrap();
        assert_eq!(generation(&dir), 2);
        assert_eq!(ids(&Journal::open(&dir)), [1, 3]);
    }

    #[test]
    fn a_journal_of_an_earlier_version_is_read_then_replaced() {
        let dir = temp_dir("legacy");
        let mut j = Journal::open(&dir);
        let mut disk = OnDisk::default();
        j.record(&patch(1, "a", PatchKind::Definition));
        j.record(&patch(2, "a", PatchKind::Definition));
        j.snapshot().save(&mut disk).unwrap();
        let mut written: Written = serde_json::from_slice(&std::fs::read(dir.join(SLOTS[1])).unwrap()).unwrap();
        for e in written.entries.iter_mut().chain(&mut written.history) {
            // Each module in a file of its own, named by its id.
            let stored = e.stored.take().unwrap();
            let module = e.module.take().unwrap();
            std::fs::write(legacy_module_path(&dir, module), stored.read(&dir).unwrap().unwrap()).unwrap();
        }
        std::fs::write(dir.join(LEGACY_INDEX), serde_json::to_vec(&written.entries).unwrap()).unwrap();
        std::fs::write(dir.join(LEGACY_HISTORY), serde_json::to_vec(&written.history).unwrap()).unwrap();
        for file in std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()) {
            if !file.ends_with(LEGACY_INDEX) && !file.ends_with(LEGACY_HISTORY) && file.extension().unwrap() != "wasm" {
                std::fs::remove_file(file).unwrap();
            }
        }
        for file in 0..2 {
            std::fs::remove_file(module_file(&dir, file)).unwrap();
        }

        let mut back = Journal::open(&dir);
        assert_eq!(ids(&back), [2]);
        assert_eq!(back.version(&VarName::new("demo.core", "a")), 2);
        back.record(&patch(3, "b", PatchKind::Definition));
        back.snapshot().save(&mut OnDisk::default()).unwrap();
        assert!(!dir.join(LEGACY_INDEX).exists() && !dir.join(LEGACY_HISTORY).exists());
        assert!(!dir.join("1.wasm").exists() && !dir.join("2.wasm").exists(), "moved into module files");
        let again = Journal::open(&dir);
        assert_eq!(ids(&again), [2, 3]);
        assert_eq!(again.find(PatchId(1)).unwrap().bytes, patch(1, "a", PatchKind::Definition).module.bytes);
    }
}
