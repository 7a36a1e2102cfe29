//! `jank-hotpatch watch` measured the way JavaScript tools publish theirs (Vite, Turbopack:
//! file written -> the new code running in the page), beside the LSP `didSave` row
//! (`save-page`): from just before the bench writes the file to the page's own timestamp of
//! the client's `jank-hotpatch:after-load` event.
//!
//! Owns: a second sidecar, `watch`, in a copy of the rig's workspace (so the two sidecars never
//! share a cache, patch ids or a journal), its own stand-in jank and its own pages, all stopped
//! on drop. Must not touch the rig's sidecar, editor or pages.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use test_support::cdp::Browser;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

use super::rig::{self, wall_ms, BenchDocument, Rig, SOURCE};
use super::stats::{Sample, ScenarioResult};
use super::BenchError;

/// The form this row patches: its own, so no other row sees its values.
const WATCHED_FORM: &str = "bench-watched";

/// The longest wait for `watch`: its line about one save, a page connecting to it.
const WATCH_TIMEOUT: Duration = Duration::from_secs(60);

/// `warmup` unmeasured then `iterations` measured saves of one form, each checked in every page.
pub async fn measure(
    exe: &Path,
    rig: &Rig,
    warmup: usize,
    iterations: usize,
    pages: usize,
) -> Result<ScenarioResult, BenchError> {
    let dir = rig.scratch().join("watch-workspace");
    copy_workspace(rig.workspace(), &dir)?;
    // Any free port: never the rig's, nor a demo's on the default one.
    let settings = dir.join(jank_hotpatch::config::CONFIG_FILE);
    let text =
        std::fs::read_to_string(&settings).map_err(|e| BenchError::io(format!("read {}", settings.display()), e))?;
    std::fs::write(&settings, text.replacen("[app]\n", "[app]\nport = 0\n", 1))
        .map_err(|e| BenchError::io(format!("write {}", settings.display()), e))?;
    let mut document = BenchDocument::read(&dir)?;
    document.set(WATCHED_FORM, 0);
    write(&dir, &document)?;
    let _standin = rig::start_standin(exe, &dir, &rig.scratch().join("watch-standin.log")).await?;
    let log = rig.scratch().join("watch.log");
    let log_file = std::fs::File::create(&log).map_err(|e| BenchError::io(format!("create {}", log.display()), e))?;
    let mut child = Command::new(exe)
        .arg("watch")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BenchError::Spawn { what: format!("{} watch", exe.display()), source: e })?;
    let stdout = child.stdout.take().ok_or_else(|| BenchError::Gone("`watch` has no stdout".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let watch_error =
        |what: String| BenchError::Sidecar(format!("`jank-hotpatch watch`: {what}; its log: {}", log.display()));
    // `watch` patches every file once when it starts: its app URL is written by then.
    patch_line(&mut lines).await.map_err(watch_error)?;
    let url_file = dir.join(jank_hotpatch::config::CACHE_DIR).join(jank_hotpatch::app::APP_URL_FILE);
    let url =
        std::fs::read_to_string(&url_file).map_err(|e| BenchError::io(format!("read {}", url_file.display()), e))?;
    let mut open = Vec::new();
    for _ in 0..pages {
        let browser = Browser::try_launch().await.map_err(BenchError::Cdp)?;
        let page = browser.try_open(url.trim()).await.map_err(BenchError::Cdp)?;
        tokio::time::timeout(WATCH_TIMEOUT, page.try_eval(CONNECTED_JS))
            .await
            .map_err(|_| BenchError::Timeout(format!("watch's page connected ({} s)", WATCH_TIMEOUT.as_secs())))?
            .map_err(BenchError::Cdp)?;
        open.push(page);
    }
    let mut samples = Vec::new();
    for i in 0..warmup + iterations {
        let value = 1_000_000 + i as i64;
        document.set(WATCHED_FORM, value);
        rig::reset_landed(&open).await?;
        let written_at = wall_ms();
        write(&dir, &document)?;
        patch_line(&mut lines).await.map_err(watch_error)?;
        let landed = rig::landed(&open, written_at, " (under `watch`)").await?;
        for (n, page) in open.iter().enumerate() {
            rig::check_page(page, n, rig::NS, WATCHED_FORM, value).await?;
        }
        if i >= warmup {
            samples.push(Sample { stages: [None; 6], clock: landed - written_at, sidecar: None, steps: None });
        }
    }
    Ok(ScenarioResult::from_samples("save-watch", "one small form saved, `watch`, page's clock", &samples).with_note(
        "`jank-hotpatch watch` in its own copy of the workspace, with its own stand-in and pages (the other rows' pages \
         stop drawing meanwhile, so one demo page draws, as in the didSave row): from just before the file is written to \
         the moment the page saw the new code (its jank-hotpatch:after-load event), on the wall clock both share; \
         includes how watch learns of the write (the file's close)",
    ))
}

/// Resolves once the page's client is connected to its sidecar.
const CONNECTED_JS: &str = "new Promise((resolve) => {
  const connected = () => window.jankHotpatch && window.jankHotpatch.connected;
  if (connected()) return resolve(true);
  const poll = setInterval(() => { if (connected()) { clearInterval(poll); resolve(true); } }, 5);
})";

/// Reads `watch`'s output up to its next line about a patch; a failed patch is an error.
async fn patch_line(lines: &mut Lines<BufReader<ChildStdout>>) -> Result<(), String> {
    loop {
        let line = tokio::time::timeout(WATCH_TIMEOUT, lines.next_line())
            .await
            .map_err(|_| format!("no line within {} s", WATCH_TIMEOUT.as_secs()))?
            .map_err(|e| format!("reading its output: {e}"))?
            .ok_or("it exited")?;
        match line.chars().next() {
            Some('✓') => return Ok(()),
            Some('✗') => return Err(format!("the patch failed: {line}")),
            // What the code printed, or a run with nothing new to patch.
            _ => continue,
        }
    }
}

fn write(dir: &Path, document: &BenchDocument) -> Result<(), BenchError> {
    let path = dir.join(SOURCE);
    std::fs::write(&path, document.text()).map_err(|e| BenchError::io(format!("write {}", path.display()), e))
}

/// The workspace's own files (settings, app, sources), not what its sidecar or jank wrote
/// (hidden files and directories: the cache, `.nrepl-port`).
fn copy_workspace(from: &Path, to: &Path) -> Result<(), BenchError> {
    std::fs::create_dir_all(to).map_err(|e| BenchError::io(format!("create {}", to.display()), e))?;
    let entries = std::fs::read_dir(from).map_err(|e| BenchError::io(format!("list {}", from.display()), e))?;
    for entry in entries.flatten() {
        let (source, name) = (entry.path(), entry.file_name());
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let target = to.join(&name);
        if source.is_dir() {
            copy_workspace(&source, &target)?;
        } else {
            std::fs::copy(&source, &target).map_err(|e| BenchError::io(format!("copy {}", source.display()), e))?;
        }
    }
    Ok(())
}
