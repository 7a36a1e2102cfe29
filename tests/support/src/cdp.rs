//! A tiny Chrome DevTools Protocol client: launches /usr/bin/chromium headless with a fresh
//! profile, opens pages as targets (flat sessions), evaluates JavaScript, takes screenshots.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::chromium::{CHROMIUM, FLAGS as CHROMIUM_FLAGS};
use futures::stream::{SplitSink, StreamExt};
use futures::SinkExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

pub struct Browser {
    child: Child,
    sink: tokio::sync::Mutex<Sink>,
    pending: Pending,
    next_id: AtomicU64,
    profile: PathBuf,
    /// Its process group (the browser's pid), kept after the browser itself has exited.
    group: Option<i32>,
}

impl Browser {
    pub async fn launch() -> Arc<Browser> {
        Browser::try_launch().await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Browser::launch`] that reports instead of panicking (for the benchmark, which must
    /// stop its other processes and say why).
    pub async fn try_launch() -> Result<Arc<Browser>, String> {
        static N: AtomicU64 = AtomicU64::new(0);
        let profile = std::env::temp_dir().join(format!(
            "jh-chromium-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).map_err(|e| format!("cannot create {}: {e}", profile.display()))?;
        let mut child = Command::new(CHROMIUM)
            .args(CHROMIUM_FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            // Its own temporary dirs (the process singleton's) go with the profile.
            .env("TMPDIR", &profile)
            // A group of its own: its helpers are stopped with it (see `Drop`).
            .process_group(0)
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {CHROMIUM} (apt-get install chromium): {e}"))?;
        let stderr = child.stderr.take().ok_or("chromium's stderr is not piped")?;
        let mut lines = BufReader::new(stderr).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("ws://") {
                    return Some(line[at..].trim().to_string());
                }
            }
            None
        })
        .await
        .map_err(|_| "chromium did not print its DevTools URL within 30 s".to_string())?
        .ok_or("chromium exited without a DevTools URL")?;
        // Keep draining stderr, or chromium blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .map_err(|e| format!("cannot connect to chromium's DevTools at {url}: {e}"))?;
        let (sink, mut stream) = socket.split();
        let pending: Pending = Arc::default();
        let routes = pending.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Ok(text) = message.to_text() else { continue };
                let Ok(reply) = serde_json::from_str::<Value>(text) else { continue };
                let Some(id) = reply["id"].as_u64() else { continue };
                if let Some(tx) = lock(&routes).remove(&id) {
                    let _ = tx.send(match reply.get("error") {
                        Some(e) => Err(e.to_string()),
                        None => Ok(reply["result"].clone()),
                    });
                }
            }
            // Callers waiting now see their senders dropped: the connection is gone.
            lock(&routes).clear();
        });
        let group = child.id().and_then(|pid| i32::try_from(pid).ok());
        Ok(Arc::new(Browser {
            child,
            sink: tokio::sync::Mutex::new(sink),
            pending,
            next_id: AtomicU64::new(1),
            group,
            profile,
        }))
    }

    pub async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.sink.lock().await.send(Message::text(message.to_string())).await.map_err(|e| e.to_string())?;
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .map_err(|_| format!("{method}: no answer within 30 s"))?
            .map_err(|_| "DevTools connection closed".to_string())?
    }

    /// A new tab showing `url`.
    pub async fn open(self: &Arc<Self>, url: &str) -> Page {
        self.try_open(url).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Browser::open`] that reports instead of panicking.
    pub async fn try_open(self: &Arc<Self>, url: &str) -> Result<Page, String> {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank", "newWindow": true})).await?;
        let target = target["targetId"].as_str().ok_or(format!("Target.createTarget gave no target: {target}"))?;
        let attached = self.call(None, "Target.attachToTarget", json!({"targetId": target, "flatten": true})).await?;
        let session =
            attached["sessionId"].as_str().ok_or(format!("Target.attachToTarget gave no session: {attached}"))?;
        let page = Page { browser: self.clone(), session: session.to_string(), target: target.to_string() };
        page.call("Page.navigate", json!({"url": url})).await?;
        Ok(page)
    }

    /// The browser process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn close(mut self: Arc<Self>) {
        let _ = self.call(None, "Browser.close", json!({})).await;
        if let Some(browser) = Arc::get_mut(&mut self) {
            let _ = tokio::time::timeout(Duration::from_secs(5), browser.child.wait()).await;
        }
    }

    /// The renderer and browser processes' resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let Some(pid) = self.child.id() else { return 0 };
        process_tree_rss_kib(pid)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium and its helpers write into its profile until they are gone (a helper that
        // outlived the browser wrote its cache index into the removed profile): stop the whole
        // group, wait for it (briefly), then remove the profile.
        let group = self.group;
        if let Some(group) = group {
            // SAFETY: kill reads no memory; the group is the one this browser was started in.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.child.start_kill();
        let deadline = Instant::now() + Duration::from_secs(2);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: as above; signal 0 only asks whether a process of the group is left.
        while group.is_some_and(|group| unsafe { libc::kill(-group, 0) } == 0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for _ in 0..5 {
            if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub struct Page {
    browser: Arc<Browser>,
    session: String,
    target: String,
}

impl Page {
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        self.browser.call(Some(&self.session), method, params).await
    }

    /// The Chromium this page runs in.
    pub fn browser(&self) -> &Arc<Browser> {
        &self.browser
    }

    pub async fn navigate(&self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await.unwrap();
    }

    /// Runs `source` in every document this page loads from now on, before the page's own
    /// scripts. (Chromium ignores the script until the Page domain is enabled.)
    pub async fn add_script_on_new_document(&self, source: &str) {
        self.call("Page.enable", json!({})).await.unwrap();
        self.call("Page.addScriptToEvaluateOnNewDocument", json!({"source": source})).await.unwrap();
    }

    pub async fn reload(&self) {
        self.call("Page.reload", json!({"ignoreCache": true})).await.unwrap();
    }

    /// The value of `expression` (promises awaited); JS exceptions are errors.
    pub async fn try_eval(&self, expression: &str) -> Result<Value, String> {
        let reply = self
            .call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true, "awaitPromise": true}))
            .await?;
        if let Some(exception) = reply.get("exceptionDetails") {
            return Err(exception.to_string());
        }
        Ok(reply["result"]["value"].clone())
    }

    pub async fn eval(&self, expression: &str) -> Value {
        self.try_eval(expression).await.unwrap_or_else(|e| panic!("{expression}: {e}"))
    }

    /// Polls `expression` until it is truthy; returns its value.
    pub async fn wait_for(&self, expression: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.try_eval(expression).await.unwrap_or(Value::Null);
            if !matches!(value, Value::Null | Value::Bool(false)) && value != json!(0) && value != json!("") {
                return value;
            }
            if Instant::now() > deadline {
                let debug = self.try_eval("JSON.stringify(window.jankHotpatch)").await;
                panic!("timed out waiting for `{expression}`; jankHotpatch = {debug:?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn screenshot(&self, path: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"})).await.unwrap();
        let png = base64_decode(shot["data"].as_str().unwrap());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    pub async fn close(self) {
        let _ = self.browser.call(None, "Target.closeTarget", json!({"targetId": self.target})).await;
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else { continue };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Resident memory of `pid` and all its descendants (Linux /proc), in KiB.
pub fn process_tree_rss_kib(pid: u32) -> u64 {
    let mut total = 0;
    let mut stack = vec![pid];
    while let Some(pid) = stack.pop() {
        total += rss_kib(pid);
        stack.extend(children(pid));
    }
    total
}

/// Resident memory of `pid` (VmRSS), in KiB; 0 when the process is gone.
pub fn rss_kib(pid: u32) -> u64 {
    proc_kib(pid, "status", "VmRSS:").unwrap_or(0)
}

/// Proportional resident memory (Pss: shared pages divided among their sharers) of `pid` and
/// all its descendants, in KiB; `None` when `pid` is gone. Chromium's processes share most of
/// their pages, so their RSS summed would count those many times.
pub fn tree_pss_kib(pid: u32) -> Option<u64> {
    let mut total = proc_kib(pid, "smaps_rollup", "Pss:")?;
    let mut stack = children(pid);
    while let Some(child) = stack.pop() {
        // A child that exits meanwhile no longer holds memory.
        total += proc_kib(child, "smaps_rollup", "Pss:").unwrap_or(0);
        stack.extend(children(child));
    }
    Some(total)
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|text| text.split_whitespace().filter_map(|c| c.parse().ok()).collect())
        .unwrap_or_default()
}

/// A `<field> <n> kB` line of `/proc/<pid>/<file>`; `None` when the process is gone.
pub fn proc_kib(pid: u32, file: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    field_kib(&text, field)
}

fn field_kib(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A poisoned lock only means a task panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_memory_fields_from_proc() {
        assert_eq!(field_kib("Name:\tx\nVmPeak:\t 9 kB\nVmRSS:\t   12345 kB\n", "VmRSS:"), Some(12345));
        assert_eq!(field_kib("Name:\tx\n", "VmRSS:"), None);
        assert!(rss_kib(std::process::id()) > 0, "this test's own process has memory");
        assert!(tree_pss_kib(std::process::id()).is_some_and(|kib| kib > 0));
        assert_eq!(proc_kib(u32::MAX, "status", "VmRSS:"), None, "a process that does not exist");
        assert_eq!(tree_pss_kib(u32::MAX), None);
    }
}
