//! `jank-hotpatch watch`: hot-patch on file save without any editor, like `shadow-cljs
//! watch`. File events from `notify`, debounced; the same pipeline and change detection as
//! `jank.hotPatchFile`. Prints one line per patch run, and one per distinct error the pages
//! report while its code runs (when it appears, and when it stops, with its count).
//!
//! Must not know about LSP; it is a front end of the pipeline like `lsp`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::config::Settings;
use crate::pipeline::{self, jank_paths, DiskFiles, FileSnapshot, PatchReport, Pipeline, Selection};
use crate::stages::{RuntimeError, RuntimeErrors, RUNTIME_FOLLOW_EVERY};

/// Quiet time after the last file event before patching a file whose writer has not said it
/// is done (no close after writing, as on systems without inotify): editors write files in
/// bursts.
const DEBOUNCE: Duration = Duration::from_millis(30);

/// A change to a jank file, and whether its writer is done with it: closed after writing, or
/// renamed into place (an editor's atomic save). Such a file is read at once, not after
/// [`DEBOUNCE`].
struct FileEvent {
    path: PathBuf,
    complete: bool,
}

impl FileEvent {
    fn of(event: notify::Event) -> Vec<FileEvent> {
        use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
        use notify::EventKind;
        let complete = match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
            EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => true,
            EventKind::Create(_) | EventKind::Modify(_) => false,
            _ => return Vec::new(),
        };
        // A rename's event names the old path first: the file to read is the last.
        let paths = match event.kind {
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => event.paths.last().cloned().into_iter().collect(),
            _ => event.paths,
        };
        paths.into_iter().filter(|p| is_jank(p)).map(|path| FileEvent { path, complete }).collect()
    }
}

/// The files of one burst of events: waits until every file written is complete, or until no
/// event came for [`DEBOUNCE`]. `None` when the watcher stopped.
async fn next_burst(rx: &mut mpsc::UnboundedReceiver<FileEvent>) -> Option<BTreeSet<PathBuf>> {
    let mut changed = BTreeSet::new();
    let mut writing = BTreeSet::new();
    let note = |event: FileEvent, changed: &mut BTreeSet<PathBuf>, writing: &mut BTreeSet<PathBuf>| {
        if event.complete {
            writing.remove(&event.path);
        } else {
            writing.insert(event.path.clone());
        }
        changed.insert(event.path);
    };
    note(rx.recv().await?, &mut changed, &mut writing);
    loop {
        while let Ok(event) = rx.try_recv() {
            note(event, &mut changed, &mut writing);
        }
        if writing.is_empty() {
            return Some(changed);
        }
        match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
            Ok(Some(event)) => note(event, &mut changed, &mut writing),
            Ok(None) => return None,
            Err(_) => return Some(changed),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot watch {path}: {source}")]
    Watch { path: String, source: notify::Error },
    #[error("the file watcher stopped")]
    Stopped,
}

/// Loads settings from `workspace`, starts the pipeline, patches every .jank file once,
/// then patches each file again whenever it is saved.
pub async fn run(workspace: &Path, paths: &[PathBuf]) -> Result<(), WatchError> {
    let workspace = workspace.canonicalize().unwrap_or_else(|_| workspace.to_path_buf());
    let (mut settings, problems) = Settings::load(&workspace);
    for problem in problems {
        eprintln!("jank-hotpatch: {problem}");
    }
    settings.resolve_paths(&workspace);
    let started = crate::app::start(&settings, &workspace).await;
    for warning in &started.warnings {
        eprintln!("jank-hotpatch: {warning}");
    }
    let roots: Vec<PathBuf> = if paths.is_empty() { vec![workspace.clone()] } else { paths.to_vec() };
    started.pipeline.set_workspace(Arc::new(DiskFiles::new(roots.clone())));
    if let Some(errors) = started.runtime_errors {
        tokio::spawn(follow_runtime_errors(errors, |line| println!("{line}")));
    }
    watch_files(&started.pipeline, &roots, |line| println!("{line}")).await
}

/// Prints one line per distinct runtime error of the pages when it appears, and one when it
/// stops (a patch loaded in its page, or the page went away) with how often it was thrown.
pub async fn follow_runtime_errors(mut errors: tokio::sync::watch::Receiver<RuntimeErrors>, print: impl Fn(String)) {
    let mut shown = HashMap::new();
    while errors.changed().await.is_ok() {
        let now = errors.borrow_and_update().clone();
        for line in runtime_lines(&mut shown, &now) {
            print(line);
        }
        tokio::time::sleep(RUNTIME_FOLLOW_EVERY).await;
    }
}

fn runtime_lines(shown: &mut HashMap<(u64, String), RuntimeError>, now: &[RuntimeError]) -> Vec<String> {
    let mut lines: Vec<String> = now
        .iter()
        .filter(|e| !shown.contains_key(&(e.page, e.key.clone())))
        .map(|e| format!("✗ runtime: {}", e.summary()))
        .collect();
    let current: HashMap<(u64, String), RuntimeError> =
        now.iter().map(|e| ((e.page, e.key.clone()), e.clone())).collect();
    for (_, gone) in shown.iter().filter(|(id, _)| !current.contains_key(*id)) {
        lines.push(format!("✓ runtime: stopped: {}", gone.summary()));
    }
    *shown = current;
    lines
}

/// Patches every .jank file under `roots` once, then each file again when it changes,
/// calling `print` with one line per run. Returns only if the watcher fails.
pub async fn watch_files(
    pipeline: &Arc<Pipeline>,
    roots: &[PathBuf],
    print: impl Fn(String),
) -> Result<(), WatchError> {
    let (tx, mut rx) = mpsc::unbounded_channel::<FileEvent>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            for file in FileEvent::of(event) {
                let _ = tx.send(file);
            }
        }
    })
    .map_err(|source| WatchError::Watch { path: "(watcher)".into(), source })?;
    for root in roots {
        watcher
            .watch(root, RecursiveMode::Recursive)
            .map_err(|source| WatchError::Watch { path: root.display().to_string(), source })?;
    }
    for file in jank_paths(roots) {
        patch_file(pipeline, &file, &print).await;
    }
    loop {
        let Some(changed) = next_burst(&mut rx).await else { return Err(WatchError::Stopped) };
        for file in changed {
            patch_file(pipeline, &file, &print).await;
        }
    }
}

async fn patch_file(pipeline: &Pipeline, path: &Path, print: &impl Fn(String)) {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            print(format!("{}: cannot read: {e}", path.display()));
            return;
        }
    };
    let doc = FileSnapshot { path: path.to_path_buf(), text: text.into() };
    let report = pipeline.run(&doc, Selection::ChangedForms, &()).await;
    print(line(path, &doc.text, &report));
    // What the code printed in the page, under its run's line.
    for printed in &report.output {
        print(format!("  │ {printed}"));
    }
}

/// One line per run: the report's summary, with a mark, the file (and the place of a
/// failure), and the stage times of a patch.
pub fn line(path: &Path, text: &str, report: &PatchReport) -> String {
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let s = &report.stages;
    let value = report.value.as_ref().map(|v| format!(" => {v}")).unwrap_or_default();
    let warnings: String = report.warnings.iter().map(|w| format!("\n  ⚠ {w}")).collect();
    if report.error.is_some() {
        let place = report
            .problems
            .first()
            .map(|p| {
                let at = p.location.unwrap_or_else(|| pipeline::line_col(text, p.range.start));
                format!("{file}:{}:{}", at.line + 1, at.column + 1)
            })
            .unwrap_or(file);
        format!("✗ {place}: {}{warnings}", report.summary())
    } else if report.forms.is_empty() {
        format!("· {file}: {}{warnings}", report.summary())
    } else {
        format!(
            "✓ {file}: {} (compile {:.0}, build {:.0}, deliver {:.0}, load {:.1}){value}{warnings}",
            report.summary(),
            s.compile_ms,
            s.build_ms,
            s.deliver_ms,
            s.load_ms,
        )
    }
}

fn is_jank(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "jank")
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, DataChange, ModifyKind, RenameMode};
    use notify::{Event, EventKind};

    fn event(kind: EventKind, paths: &[&str]) -> Vec<FileEvent> {
        let mut event = Event::new(kind);
        for path in paths {
            event = event.add_path(PathBuf::from(path));
        }
        FileEvent::of(event)
    }

    fn written() -> EventKind {
        EventKind::Modify(ModifyKind::Data(DataChange::Any))
    }

    fn closed() -> EventKind {
        EventKind::Access(AccessKind::Close(AccessMode::Write))
    }

    async fn burst(events: Vec<FileEvent>) -> (Vec<PathBuf>, Duration) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for e in events {
            tx.send(e).unwrap();
        }
        let started = tokio::time::Instant::now();
        let files = next_burst(&mut rx).await.unwrap();
        drop(tx);
        (files.into_iter().collect(), started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn a_file_closed_after_writing_is_read_at_once() {
        let events = event(written(), &["/w/a.jank"]).into_iter().chain(event(closed(), &["/w/a.jank"])).collect();
        assert_eq!(burst(events).await, (vec![PathBuf::from("/w/a.jank")], Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn a_file_renamed_into_place_is_read_at_once() {
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        let events = event(rename, &["/w/.a.jank.tmp", "/w/a.jank"]);
        assert_eq!(burst(events).await, (vec![PathBuf::from("/w/a.jank")], Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_never_closed_waits_for_quiet() {
        let events = event(written(), &["/w/a.jank"]).into_iter().chain(event(closed(), &["/w/b.jank"])).collect();
        let files = vec![PathBuf::from("/w/a.jank"), PathBuf::from("/w/b.jank")];
        assert_eq!(burst(events).await, (files, DEBOUNCE));
    }

    #[test]
    fn only_jank_files_count() {
        assert!(event(written(), &["/w/.jank-hotpatch/journal/journal-0.json"]).is_empty());
        assert!(event(EventKind::Access(AccessKind::Close(AccessMode::Read)), &["/w/a.jank"]).is_empty());
    }
}
