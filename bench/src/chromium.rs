//! Real pages: one headless Chromium process per page, opened on the app's URL, with a Chrome
//! DevTools Protocol connection to read the page's state and memory.
//!
//! Owns: the Chromium processes and their throw-away profiles (killed and removed on drop).
//! Must not know about the sidecar or patches beyond the page's `window.jankHotpatch`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{SplitSink, StreamExt};
use futures::SinkExt;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use test_support::chromium::{CHROMIUM, FLAGS};

use super::BenchError;

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// One page in its own Chromium.
pub struct Page {
    browser: Browser,
    cdp: Cdp,
    session: String,
}

impl Page {
    /// Starts Chromium on `url` with a fresh profile under `scratch`.
    pub async fn open(url: &str, scratch: &Path) -> Result<Page, BenchError> {
        if !Path::new(CHROMIUM).exists() {
            return Err(BenchError::Missing(format!("chromium not found at {CHROMIUM}: apt-get install chromium")));
        }
        static PROFILES: AtomicU64 = AtomicU64::new(0);
        let profile = scratch.join(format!("chromium-{}", PROFILES.fetch_add(1, Ordering::SeqCst)));
        std::fs::create_dir_all(&profile).map_err(|e| BenchError::io(format!("create {}", profile.display()), e))?;
        let child = Command::new(CHROMIUM)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::Spawn { what: CHROMIUM.into(), source: e })?;
        // From here on, an error drops `browser`, which kills Chromium.
        let mut browser = Browser { child, profile };
        let cdp = Cdp::connect(&browser.devtools_endpoint().await?).await?;
        let targets = cdp.call(None, "Target.getTargets", json!({})).await?;
        let target = targets["targetInfos"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["targetId"].as_str())
            .ok_or_else(|| BenchError::Cdp(format!("chromium shows no page: {targets}")))?
            .to_string();
        let attached = cdp.call(None, "Target.attachToTarget", json!({"targetId": target, "flatten": true})).await?;
        let session = attached["sessionId"]
            .as_str()
            .ok_or_else(|| BenchError::Cdp(format!("Target.attachToTarget gave no session: {attached}")))?
            .to_string();
        Ok(Page { browser, cdp, session })
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    pub async fn eval(&self, expression: &str) -> Result<Value, BenchError> {
        let params = json!({"expression": expression, "returnByValue": true, "awaitPromise": true});
        let reply = self.cdp.call(Some(&self.session), "Runtime.evaluate", params).await?;
        if let Some(exception) = reply.get("exceptionDetails") {
            return Err(BenchError::Cdp(format!("`{expression}` threw: {exception}")));
        }
        Ok(reply["result"]["value"].clone())
    }

    /// Proportional resident memory of this Chromium's processes, in KiB.
    pub fn pss_kib(&self) -> u64 {
        self.browser.child.id().map_or(0, super::memory::tree_pss_kib)
    }
}

/// The Chromium process and its throw-away profile.
struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Browser {
    /// The browser's DevTools WebSocket, from the `DevToolsActivePort` file Chromium writes
    /// into its profile once it listens.
    async fn devtools_endpoint(&mut self) -> Result<String, BenchError> {
        let port_file = self.profile.join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&port_file).unwrap_or_default();
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return Ok(format!("ws://127.0.0.1:{}{}", port.trim(), path.trim()));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(BenchError::Cdp(format!("chromium exited ({status}) before opening its DevTools port")));
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout(format!("chromium's {} (30 s)", port_file.display())));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A DevTools connection: requests by id, flat sessions for pages.
struct Cdp {
    sink: tokio::sync::Mutex<Sink>,
    pending: Pending,
    next_id: AtomicU64,
}

impl Cdp {
    async fn connect(endpoint: &str) -> Result<Cdp, BenchError> {
        let (socket, _) = tokio_tungstenite::connect_async(endpoint)
            .await
            .map_err(|e| BenchError::Cdp(format!("cannot connect to {endpoint}: {e}")))?;
        let (sink, mut stream) = socket.split();
        let pending = Pending::default();
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
            lock(&routes).clear();
        });
        Ok(Cdp { sink: tokio::sync::Mutex::new(sink), pending, next_id: AtomicU64::new(1) })
    }

    async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, BenchError> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.sink
            .lock()
            .await
            .send(Message::text(message.to_string()))
            .await
            .map_err(|e| BenchError::Cdp(format!("{method}: {e}")))?;
        match tokio::time::timeout(CALL_TIMEOUT, rx).await {
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(e))) => Err(BenchError::Cdp(format!("{method}: {e}"))),
            Ok(Err(_)) => Err(BenchError::Cdp(format!("{method}: chromium closed the DevTools connection"))),
            Err(_) => Err(BenchError::Timeout(format!("chromium's answer to {method} (30 s)"))),
        }
    }
}

/// A poisoned lock only means a task panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
