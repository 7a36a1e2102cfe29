//! The running system a bench drives: a demo workspace prepared by `jank-hotpatch demo
//! --prepare`, the stand-in jank started in it, the sidecar (`jank-hotpatch lsp`) with the
//! workspace's jank file open, and headless Chromium pages on the app's URL.
//!
//! Owns: those processes and the scratch directory (all stopped and removed on drop, also
//! after an error), the text of the open document, and the checks that a patch report is
//! complete and that every page runs the patched code.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_support::cdp::{Browser, Page};
use test_support::lsp_client::{file_uri, LspClient};
use test_support::standin::Standin;
use tokio::process::Command;

use super::stats::{Sample, STAGES, STEPS};
use super::BenchError;

/// The demo's namespace and file (see `jank-hotpatch demo`).
pub const NS: &str = "demo.core";
pub const SOURCE: &str = "src/demo/core.jank";

/// Forms the benchmark patches, appended to the demo's file, one per scenario so that no
/// scenario sees another's patches.
pub const SMALL_FORM: &str = "bench-small";
pub const CACHE_FORM: &str = "bench-cache";
pub const SOAK_FORM: &str = "bench-soak";
pub const SAVED_FORM: &str = "bench-saved";
pub const SAVE_FORMS: [&str; 5] = ["bench-save-1", "bench-save-2", "bench-save-3", "bench-save-4", "bench-save-5"];

/// The macro scenario's definitions: each uses the macro, spread over a few files as an app's
/// namespaces would be.
pub const MACRO_USERS: usize = 20;
const MACRO_USER_FILES: usize = 4;
const MACRO_SOURCE: &str = "src/demo/bench_macro.jank";

const PATCH_TIMEOUT: Duration = Duration::from_secs(60);

/// The macro the scenario changes: its users return `factor` times their number.
fn macro_text(factor: i64) -> String {
    format!("(ns demo.bench-macro)\n\n(defmacro bench-scaled [x]\n  (list '* {factor} x))\n")
}

/// The namespace and file of the users' file `file` (from 1).
fn users_ns(file: usize) -> (String, String) {
    (format!("demo.bench-users-{file}"), format!("src/demo/bench_users_{file}.jank"))
}

/// The definitions of the users' file `file`: `bench-user-<n>` returns `(m/bench-scaled n)`.
fn users_text(file: usize) -> String {
    let per_file = MACRO_USERS / MACRO_USER_FILES;
    let mut text = format!("(ns {} (:require [demo.bench-macro :as m]))\n\n", users_ns(file).0);
    for n in (file - 1) * per_file + 1..=file * per_file {
        text.push_str(&format!("(defn bench-user-{n} [] (m/bench-scaled {n}))\n"));
    }
    text
}

/// The macro scenario's editor state: the macro's document, once its files are written, opened
/// and patched.
pub struct MacroDocument {
    uri: String,
    version: i32,
}

/// A directory removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, BenchError> {
        let dir = std::env::temp_dir().join(format!("jank-hotpatch-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| BenchError::io(format!("create {}", dir.display()), e))?;
        Ok(Scratch(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the bench appends to the demo's jank file: its forms follow.
const APPENDED: &str = "\n\n;; Patched by `jank-hotpatch-bench`.\n";

/// The one document the bench edits: the demo's jank file plus one-function forms.
pub struct BenchDocument {
    uri: String,
    base: String,
    forms: Vec<(String, i64)>,
    version: i32,
}

impl BenchDocument {
    /// The demo's jank file in the workspace `dir`, without the forms a bench appended.
    pub fn read(dir: &Path) -> Result<BenchDocument, BenchError> {
        let path = dir.join(SOURCE);
        let text = std::fs::read_to_string(&path).map_err(|e| BenchError::io(format!("read {}", path.display()), e))?;
        let base = text.split(APPENDED).next().unwrap_or_default().to_string();
        Ok(BenchDocument { uri: file_uri(&path), base, forms: Vec::new(), version: 1 })
    }

    pub fn text(&self) -> String {
        let mut text = self.base.trim_end().to_string();
        text.push_str(APPENDED);
        for (name, value) in &self.forms {
            text.push_str(&format!("(defn {name} [] {value})\n"));
        }
        text
    }

    /// Where to put the cursor for `jank.hotPatchForm` on `name`: inside its form.
    fn position(&self, name: &str) -> Option<Value> {
        let text = self.text();
        let at = text.find(&format!("(defn {name} ["))?;
        let line = text[..at].matches('\n').count();
        Some(json!({"line": line, "character": 2}))
    }

    pub fn set(&mut self, name: &str, value: i64) {
        match self.forms.iter_mut().find(|(n, _)| n == name) {
            Some(form) => form.1 = value,
            None => self.forms.push((name.to_string(), value)),
        }
    }
}

pub struct Rig {
    workspace: PathBuf,
    editor: LspClient,
    /// The sidecar's log, named in errors.
    log: PathBuf,
    /// One Chromium per page: N pages are N renderers.
    pages: Vec<Page>,
    app_url: String,
    document: BenchDocument,
    next_value: i64,
    macro_doc: Option<MacroDocument>,
    _standin: Standin,
    // Last: removed after every process in it has been told to stop.
    scratch: Scratch,
}

impl Rig {
    /// Prepares the workspace, starts the stand-in jank (found beside `exe`) and the sidecar
    /// (`exe lsp`), opens `pages` pages.
    pub async fn start(exe: &Path, pages: usize) -> Result<Rig, BenchError> {
        let scratch = Scratch::new()?;
        let workspace = scratch.path().join("workspace");
        prepare(exe, &workspace).await?;
        let standin = start_standin(exe, &workspace, &scratch.path().join("jank-standin.log")).await?;

        // Port 0: never collide with a demo or editor session already serving on 7888.
        let settings = json!({"app": {"port": 0}});
        let log = scratch.path().join("sidecar.log");
        let log_file =
            std::fs::File::create(&log).map_err(|e| BenchError::io(format!("create {}", log.display()), e))?;
        let mut editor = LspClient::launch(exe, &workspace, Stdio::from(log_file))
            .map_err(|e| BenchError::Spawn { what: format!("{} lsp", exe.display()), source: e })?;
        editor.configuration = settings.clone();
        let sidecar = |e: String| BenchError::Sidecar(format!("{e}; its log: {}", log.display()));
        editor.try_initialize(&workspace, settings, Duration::from_secs(30)).await.map_err(sidecar)?;
        let status = editor
            .wait_latest("jank/serverStatus", |s| s["params"]["appUrl"].is_string(), Duration::from_secs(60))
            .await;
        let app_url = match status.as_ref().and_then(|s| s["params"]["appUrl"].as_str()) {
            Some(url) => url.to_string(),
            None => std::fs::read_to_string(
                workspace.join(jank_hotpatch::config::CACHE_DIR).join(jank_hotpatch::app::APP_URL_FILE),
            )
            .map(|s| s.trim().to_string())
            .map_err(|_| sidecar("no app URL in jank/serverStatus within 60 s".into()))?,
        };

        let mut document = BenchDocument::read(&workspace)?;
        for name in [SMALL_FORM, CACHE_FORM, SOAK_FORM, SAVED_FORM].into_iter().chain(SAVE_FORMS) {
            document.set(name, 0);
        }
        let open =
            json!({"textDocument": {"uri": document.uri, "languageId": "jank", "version": 1, "text": document.text()}});
        editor.try_notify("textDocument/didOpen", open).await.map_err(sidecar)?;

        let mut rig = Rig {
            workspace,
            editor,
            log,
            pages: Vec::new(),
            app_url,
            document,
            next_value: 1,
            macro_doc: None,
            _standin: standin,
            scratch,
        };
        rig.open_pages(pages).await?;
        Ok(rig)
    }

    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    pub fn pages(&self) -> &[Page] {
        &self.pages
    }

    pub fn sidecar_pid(&self) -> Option<u32> {
        self.editor.pid()
    }

    /// The sidecar's failure, with where its log is.
    fn sidecar_error(&self, what: String) -> BenchError {
        BenchError::Sidecar(format!("{what}; its log: {}", self.log.display()))
    }

    /// Opens pages, each in its own Chromium, until `total` are open and the sidecar counts
    /// them all.
    pub async fn open_pages(&mut self, total: usize) -> Result<(), BenchError> {
        let missing = total.saturating_sub(self.pages.len());
        let url = self.app_url.clone();
        let opening = (0..missing).map(|_| async {
            let browser = Browser::try_launch().await?;
            browser.try_open(&url).await
        });
        let opened = futures::future::try_join_all(opening).await.map_err(BenchError::Cdp)?;
        self.pages.extend(opened);
        self.wait_pages(total).await
    }

    /// Closes pages (and their Chromium) until `total` are left and the sidecar counts only
    /// those.
    pub async fn close_pages(&mut self, total: usize) -> Result<(), BenchError> {
        self.pages.truncate(total);
        self.wait_pages(total).await
    }

    async fn wait_pages(&mut self, n: usize) -> Result<(), BenchError> {
        let status = self
            .editor
            .wait_latest(
                "jank/serverStatus",
                |s| s["params"]["pages"].as_u64() == Some(n as u64),
                Duration::from_secs(60),
            )
            .await;
        match status {
            Some(_) => Ok(()),
            None => Err(BenchError::Timeout(format!("{n} page(s) connected (jank/serverStatus pages = {n}, 60 s)"))),
        }
    }

    /// Forgets what the editor queued while waiting (progress, reports, logs), keeping the
    /// server status: thousands of patches must not pile up in the bench.
    fn forget_notifications(&mut self) {
        self.editor.notifications.retain(|m| m["method"] == "jank/serverStatus");
    }

    /// A value no form had before in this run, so no cache can hide a build.
    pub fn fresh_value(&mut self) -> i64 {
        self.next_value += 1;
        self.next_value
    }

    /// The value the form `name` returns in the document now.
    pub fn current_value(&self, name: &str) -> i64 {
        self.document.forms.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v)
    }

    /// Edits the form `name` to return `value` (a whole-text `didChange`, as an editor may send).
    pub async fn set(&mut self, name: &str, value: i64) -> Result<(), BenchError> {
        self.set_all(&[(name, value)]).await
    }

    pub async fn set_all(&mut self, forms: &[(&str, i64)]) -> Result<(), BenchError> {
        for (name, value) in forms {
            self.document.set(name, *value);
        }
        self.document.version += 1;
        let params = json!({
            "textDocument": {"uri": self.document.uri, "version": self.document.version},
            "contentChanges": [{"text": self.document.text()}],
        });
        self.editor.try_notify("textDocument/didChange", params).await.map_err(|e| self.sidecar_error(e))
    }

    /// `jank.hotPatchForm` on `name`; the report and the editor's clock in ms.
    pub async fn patch_form(&mut self, name: &str) -> Result<(Value, f64), BenchError> {
        self.command_at("jank.hotPatchForm", name).await
    }

    /// `jank.undoPatch` on `name`; the report and the editor's clock in ms.
    pub async fn undo_form(&mut self, name: &str) -> Result<(Value, f64), BenchError> {
        self.command_at("jank.undoPatch", name).await
    }

    async fn command_at(&mut self, command: &str, name: &str) -> Result<(Value, f64), BenchError> {
        let position = self
            .document
            .position(name)
            .ok_or_else(|| BenchError::Sidecar(format!("the bench's document has no form {name}")))?;
        let args = json!({"command": command, "arguments": [{"uri": self.document.uri, "position": position}]});
        let started = Instant::now();
        let report = self.editor.try_request("workspace/executeCommand", args, PATCH_TIMEOUT).await;
        let clock = ms(started);
        self.forget_notifications();
        Ok((report.map_err(|e| self.sidecar_error(e))?, clock))
    }

    /// `jank.hotPatchFile` on `uri`; the report and the editor's clock in ms.
    async fn patch_file(&mut self, uri: &str) -> Result<(Value, f64), BenchError> {
        let args = json!({"command": "jank.hotPatchFile", "arguments": [{"uri": uri}]});
        let started = Instant::now();
        let report = self.editor.try_request("workspace/executeCommand", args, PATCH_TIMEOUT).await;
        let clock = ms(started);
        self.forget_notifications();
        Ok((report.map_err(|e| self.sidecar_error(e))?, clock))
    }

    /// Writes, opens and patches the macro and its users' files (once): the pages then run
    /// every user, and jank has the macro.
    pub async fn macro_files(&mut self) -> Result<&mut MacroDocument, BenchError> {
        if self.macro_doc.is_none() {
            let mut files = vec![(MACRO_SOURCE.to_string(), macro_text(1))];
            files.extend((1..=MACRO_USER_FILES).map(|file| (users_ns(file).1, users_text(file))));
            for (source, text) in &files {
                let path = self.workspace.join(source);
                std::fs::write(&path, text).map_err(|e| BenchError::io(format!("write {}", path.display()), e))?;
                let uri = file_uri(&path);
                let open = json!({"textDocument": {"uri": uri, "languageId": "jank", "version": 1, "text": text}});
                self.editor.try_notify("textDocument/didOpen", open).await.map_err(|e| self.sidecar_error(e))?;
                let (report, _) = self.patch_file(&uri).await?;
                if report["ok"] != json!(true) {
                    return Err(BenchError::NotApplied(format!("the first patch of {source}: {report}")));
                }
            }
            self.macro_doc = Some(MacroDocument { uri: file_uri(&self.workspace.join(MACRO_SOURCE)), version: 1 });
        }
        self.macro_doc.as_mut().ok_or_else(|| BenchError::Sidecar("the macro's document is gone".into()))
    }

    /// Changes the macro to multiply by `factor` (`didChange`) and patches its file, which
    /// re-patches its [`MACRO_USERS`] users; the report and the editor's clock in ms.
    pub async fn change_macro(&mut self, factor: i64) -> Result<(Value, f64), BenchError> {
        let doc = self.macro_files().await?;
        doc.version += 1;
        let uri = doc.uri.clone();
        let params = json!({
            "textDocument": {"uri": uri, "version": doc.version},
            "contentChanges": [{"text": macro_text(factor)}],
        });
        self.editor.try_notify("textDocument/didChange", params).await.map_err(|e| self.sidecar_error(e))?;
        self.patch_file(&uri).await
    }

    /// The number of side modules the first page loaded so far.
    pub async fn modules_loaded(&self) -> Result<i64, BenchError> {
        let page = self.pages.first().ok_or_else(|| BenchError::Cdp("no page is open".into()))?;
        let modules = page.try_eval("window.jankHotpatch.modules").await.map_err(BenchError::Cdp)?;
        modules.as_i64().ok_or_else(|| BenchError::Cdp(format!("the page counts no modules: {modules}")))
    }

    /// What is wrong with the macro's users on the pages, if anything: each must return
    /// `factor` times its number.
    pub async fn check_macro_users(&self, factor: i64) -> Result<(), BenchError> {
        let per_file = MACRO_USERS / MACRO_USER_FILES;
        for n in 1..=MACRO_USERS {
            let ns = users_ns((n - 1) / per_file + 1).0;
            self.check_var(&ns, &format!("bench-user-{n}"), factor * n as i64).await?;
        }
        Ok(())
    }

    /// `didSave`, then the `jank/patchStatus` it causes; the report and the editor's clock.
    pub async fn save(&mut self) -> Result<(Value, f64), BenchError> {
        self.forget_notifications();
        let started = Instant::now();
        let params = json!({"textDocument": {"uri": self.document.uri}});
        self.editor.try_notify("textDocument/didSave", params).await.map_err(|e| self.sidecar_error(e))?;
        let report = self.editor.wait_for(|m| m["method"] == "jank/patchStatus", PATCH_TIMEOUT).await;
        let clock = ms(started);
        self.forget_notifications();
        match report {
            Some(report) => Ok((report["params"].clone(), clock)),
            None => Err(self.sidecar_error(format!(
                "no jank/patchStatus within {} s of didSave, or the sidecar closed its output",
                PATCH_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Writes the document to its file and sends `didSave`, as an editor saving it; the report,
    /// and the time from just before the write until the last page saw the new code, on the
    /// wall clock the bench and the pages share (the page's own timestamp of its
    /// `jank-hotpatch:after-load` event).
    pub async fn save_to_page(&mut self) -> Result<(Value, f64), BenchError> {
        reset_landed(&self.pages).await?;
        self.forget_notifications();
        let path = self.workspace.join(SOURCE);
        let written_at = wall_ms();
        std::fs::write(&path, self.document.text())
            .map_err(|e| BenchError::io(format!("write {}", path.display()), e))?;
        let params = json!({"textDocument": {"uri": self.document.uri}});
        self.editor.try_notify("textDocument/didSave", params).await.map_err(|e| self.sidecar_error(e))?;
        let report = self.editor.wait_for(|m| m["method"] == "jank/patchStatus", PATCH_TIMEOUT).await;
        self.forget_notifications();
        let report = report.map(|r| r["params"].clone()).ok_or_else(|| {
            self.sidecar_error(format!("no jank/patchStatus within {} s of didSave", PATCH_TIMEOUT.as_secs()))
        })?;
        // The page fires the event right after it acks, before the sidecar's report.
        let landed = landed(&self.pages, written_at, &format!(": {report}")).await?;
        Ok((report, landed - written_at))
    }

    /// What is wrong on the pages, if anything: each page must run `name` returning `value`
    /// and show no load error.
    pub async fn check_pages(&self, name: &str, value: i64) -> Result<(), BenchError> {
        self.check_var(NS, name, value).await
    }

    async fn check_var(&self, ns: &str, name: &str, value: i64) -> Result<(), BenchError> {
        for (i, page) in self.pages.iter().enumerate() {
            check_page(page, i, ns, name, value).await?;
        }
        Ok(())
    }

    /// Pauses (`false`) or resumes every page's frame loop: the demo draws on every
    /// `requestAnimationFrame`; paused, the callback it asks for next is held until resumed.
    pub async fn set_drawing(&self, drawing: bool) -> Result<(), BenchError> {
        for (i, page) in self.pages.iter().enumerate() {
            let held = page
                .try_eval(&drawing_js(drawing))
                .await
                .map_err(|e| BenchError::Cdp(format!("page {}: {e}", i + 1)))?;
            if held["drawing"].as_bool() != Some(drawing) {
                return Err(BenchError::Cdp(format!("page {}: the frame loop did not follow: {held}", i + 1)));
            }
        }
        Ok(())
    }

    /// Stops the sidecar politely; the rest goes on drop.
    pub async fn stop(self) {
        let Rig { editor, pages, _standin, scratch, .. } = self;
        drop(pages);
        editor.stop().await;
        drop(_standin);
        drop(scratch);
    }
}

/// The patch report's timings with the editor's clock; an error when a number is missing.
pub fn sample_of(report: &Value, clock: f64) -> Result<Sample, BenchError> {
    let number = |value: &Value, what: &str| {
        value
            .as_f64()
            .ok_or_else(|| BenchError::Sidecar(format!("the patch report has no number for {what}: {report}")))
    };
    let mut stages = [None; 6];
    for (i, stage) in STAGES.iter().enumerate() {
        let key = format!("{stage}Ms");
        stages[i] = Some(number(&report["stages"][&key], &key)?);
    }
    let mut steps = [0.0; 5];
    for (i, step) in STEPS.iter().enumerate() {
        let key = format!("{step}Ms");
        steps[i] = number(&report["steps"][&key], &key)?;
    }
    Ok(Sample { stages, clock, sidecar: Some(number(&report["totalMs"], "totalMs")?), steps: Some(steps) })
}

/// Why a report is not a complete patch of `forms` forms into `pages` pages, if it is not.
pub fn report_problem(report: &Value, forms: usize, pages: usize) -> Option<String> {
    if report["ok"] != json!(true) {
        let error = &report["error"];
        let why = match error["stage"].as_str() {
            Some(stage) => format!("{stage} failed: {}", error["message"].as_str().unwrap_or_default()),
            None => report["message"].as_str().unwrap_or("no error given").to_string(),
        };
        return Some(format!("patch not ok: {why}"));
    }
    let patched = report["forms"].as_array().map_or(0, Vec::len);
    if patched != forms {
        return Some(format!("patched {patched} form(s), expected {forms}: {}", report["message"]));
    }
    match report["pages"].as_u64() {
        Some(reached) if reached as usize == pages => None,
        Some(reached) => Some(format!("reached {reached} of {pages} pages")),
        None => Some(format!("the report does not say how many pages it reached: {report}")),
    }
}

/// What is wrong on page `i` (from 0), if anything: it must run `ns/name` returning `value` and
/// show no load error.
pub async fn check_page(page: &Page, i: usize, ns: &str, name: &str, value: i64) -> Result<(), BenchError> {
    let state =
        page.try_eval(&read_var_js(ns, name)).await.map_err(|e| BenchError::Cdp(format!("page {}: {e}", i + 1)))?;
    if state["value"].as_i64() != Some(value) || !state["lastError"].is_null() {
        return Err(BenchError::NotApplied(format!(
            "page {} runs {ns}/{name} = {} (expected {value}); page state {state}",
            i + 1,
            state["value"]
        )));
    }
    Ok(())
}

/// Reads `<ns>/<name>`'s value through jank's C API in the page, and the client's state.
fn read_var_js(ns: &str, name: &str) -> String {
    format!(
        "(() => {{
  const M = window.Module, s = window.jankHotpatch || {{}};
  if (!M || !M.calledRun) return {{ value: null, lastError: 'the runtime is not ready' }};
  const c = (t) => {{ const n = M.lengthBytesUTF8(t) + 1, p = M._malloc(n); M.stringToUTF8(t, p, n); return p; }};
  const f = M._jank_deref(M._jank_var_intern_c(c('{ns}'), c('{name}')));
  const value = f && M._jank_truthy(f) ? Number(M._jank_to_integer(M._jank_call0(f))) : null;
  return {{ value, lastError: s.lastError || null, applied: (s.applied || []).length, connected: !!s.connected }};
}})()"
    )
}

/// Forgets each page's last `jank-hotpatch:after-load` time, listening for the next one.
pub async fn reset_landed(pages: &[Page]) -> Result<(), BenchError> {
    for page in pages {
        page.try_eval(LANDED_RESET_JS).await.map_err(BenchError::Cdp)?;
    }
    Ok(())
}

/// The last page's timestamp of the new code (its `jank-hotpatch:after-load` event, set by
/// [`reset_landed`]'s listener), on the wall clock; at least `since`. `context` follows the
/// error of a page that saw none.
pub async fn landed(pages: &[Page], since: f64, context: &str) -> Result<f64, BenchError> {
    let mut landed = since;
    for (i, page) in pages.iter().enumerate() {
        let at = page.try_eval("window.__benchLanded").await.map_err(BenchError::Cdp)?;
        let at = at.as_f64().ok_or_else(|| {
            BenchError::NotApplied(format!("page {} saw no jank-hotpatch:after-load event{context}", i + 1))
        })?;
        landed = landed.max(at);
    }
    Ok(landed)
}

/// Listens (once) for the client's `jank-hotpatch:after-load` event, keeping its wall-clock
/// time in ms, and forgets the last one.
const LANDED_RESET_JS: &str = "(() => {
  if (!window.__benchLandedListener) {
    window.__benchLandedListener = true;
    window.addEventListener('jank-hotpatch:after-load', () => {
      window.__benchLanded = performance.timeOrigin + performance.now();
    });
  }
  window.__benchLanded = null;
  return true;
})()";

/// Now on the wall clock, in ms since the Unix epoch (what a page's `performance.timeOrigin`
/// counts from).
pub fn wall_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Wraps the page's `requestAnimationFrame` once, so that a frame callback asked for while
/// paused is held (and the loop stops) until drawing resumes.
fn drawing_js(drawing: bool) -> String {
    format!(
        "(() => {{
  const w = window;
  if (!w.__benchFrames) {{
    const original = w.requestAnimationFrame.bind(w);
    const frames = {{ paused: false, held: [], original }};
    w.requestAnimationFrame = (f) => frames.paused ? (frames.held.push(f), 0) : original(f);
    w.__benchFrames = frames;
  }}
  const frames = w.__benchFrames;
  frames.paused = !{drawing};
  if ({drawing}) frames.held.splice(0).forEach((f) => frames.original(f));
  return {{ drawing: !frames.paused }};
}})()"
    )
}

/// `jank-hotpatch demo --prepare DIR`: the demo workspace with its built main module.
async fn prepare(exe: &Path, dir: &Path) -> Result<(), BenchError> {
    let output =
        Command::new(exe).args(["demo", "--prepare"]).arg(dir).stdin(Stdio::null()).kill_on_drop(true).output();
    let output = tokio::time::timeout(Duration::from_secs(300), output)
        .await
        .map_err(|_| BenchError::Timeout("`jank-hotpatch demo --prepare` (300 s)".into()))?
        .map_err(|e| BenchError::Spawn { what: format!("{} demo --prepare", exe.display()), source: e })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(BenchError::Prepare { status: output.status.to_string(), stderr: tail.join("\n") });
    }
    Ok(())
}

/// The stand-in jank (`jank-standin` beside this executable), started in `dir`, where it
/// writes `.nrepl-port`; its log in `log`.
pub async fn start_standin(exe: &Path, dir: &Path, log: &Path) -> Result<Standin, BenchError> {
    let program = exe.with_file_name("jank-standin");
    if !program.exists() {
        let profile = if cfg!(debug_assertions) { "" } else { " --release" };
        return Err(BenchError::Missing(format!(
            "the stand-in jank is not at {}: build it with `cargo build{profile} -p jank-standin`",
            program.display()
        )));
    }
    let log_file = std::fs::File::create(log).map_err(|e| BenchError::io(format!("create {}", log.display()), e))?;
    let (dir, log) = (dir.to_path_buf(), log.to_path_buf());
    // The wait for its port is a blocking poll: off the runtime's threads.
    tokio::task::spawn_blocking(move || Standin::spawn(&program, &dir, &[], Stdio::from(log_file)))
        .await
        .map_err(|e| BenchError::Missing(format!("the stand-in jank's start: {e}")))?
        .map_err(|why| BenchError::Missing(format!("{why}; its log: {}", log.display())))
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> BenchDocument {
        let mut doc = BenchDocument {
            uri: "file:///w/core.jank".into(),
            base: "(ns demo.core)\n\n(defn speed [] 3)\n\n".into(),
            forms: Vec::new(),
            version: 1,
        };
        doc.set("bench-a", 0);
        doc.set("bench-b", 0);
        doc
    }

    #[test]
    fn the_document_holds_one_line_per_bench_form() {
        let mut doc = document();
        doc.set("bench-b", 42);
        let text = doc.text();
        assert!(text.starts_with("(ns demo.core)\n\n(defn speed [] 3)\n\n;; Patched"), "{text}");
        assert!(text.ends_with("(defn bench-a [] 0)\n(defn bench-b [] 42)\n"), "{text}");
        assert_eq!(doc.position("bench-a"), Some(json!({"line": 5, "character": 2})));
        assert_eq!(doc.position("bench-b"), Some(json!({"line": 6, "character": 2})));
        assert_eq!(doc.position("speed-x"), None);
    }

    #[test]
    fn reports_are_checked_for_ok_forms_and_pages() {
        let good = json!({"ok": true, "forms": [{"name": "a"}], "pages": 2,
                          "stages": {"readMs": 0.1, "compileMs": 2, "buildMs": 40, "checkMs": 0.2, "deliverMs": 3, "loadMs": 0.7},
                          "steps": {"waitMs": 0.1, "sendMs": 0.2, "socketMs": 1.0, "clientMs": 0.5, "journalMs": 0.3},
                          "totalMs": 47});
        assert_eq!(report_problem(&good, 1, 2), None);
        assert_eq!(report_problem(&good, 1, 3).as_deref(), Some("reached 2 of 3 pages"));
        assert!(report_problem(&good, 5, 2).unwrap().starts_with("patched 1 form(s), expected 5"));
        let failed = json!({"ok": false, "error": {"stage": "build", "message": "boom"}});
        assert_eq!(report_problem(&failed, 1, 1).as_deref(), Some("patch not ok: build failed: boom"));
        let sample = sample_of(&good, 48.5).unwrap();
        assert_eq!(sample.stages, [Some(0.1), Some(2.0), Some(40.0), Some(0.2), Some(3.0), Some(0.7)]);
        assert_eq!((sample.sidecar, sample.clock), (Some(47.0), 48.5));
        assert_eq!(sample.steps, Some([0.1, 0.2, 1.0, 0.5, 0.3]));
        let mut partial = good.clone();
        partial["stages"].as_object_mut().unwrap().remove("loadMs");
        let error = sample_of(&partial, 1.0).unwrap_err().to_string();
        assert!(error.contains("no number for loadMs"), "a missing number is an error, never 0: {error}");
    }
}
