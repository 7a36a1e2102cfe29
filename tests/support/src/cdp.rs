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
}

impl Browser {
    pub async fn launch() -> Arc<Browser> {
        static N: AtomicU64 = AtomicU64::new(0);
        let profile = std::env::temp_dir().join(format!(
            "jh-chromium-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        let mut child = Command::new(CHROMIUM)
            .args(CHROMIUM_FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium starts (apt-get install chromium)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("ws://") {
                    return line[at..].trim().to_string();
                }
            }
            panic!("chromium exited without a DevTools URL");
        })
        .await
        .expect("chromium prints its DevTools URL within 30 s");
        // Keep draining stderr, or chromium blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let (socket, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("DevTools socket");
        let (sink, mut stream) = socket.split();
        let pending: Pending = Arc::default();
        let routes = pending.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Ok(text) = message.to_text() else { continue };
                let Ok(reply) = serde_json::from_str::<Value>(text) else { continue };
                let Some(id) = reply["id"].as_u64() else { continue };
                if let Some(tx) = routes.lock().unwrap().remove(&id) {
                    let _ = tx.send(match reply.get("error") {
                        Some(e) => Err(e.to_string()),
                        None => Ok(reply["result"].clone()),
                    });
                }
            }
        });
        Arc::new(Browser { child, sink: tokio::sync::Mutex::new(sink), pending, next_id: AtomicU64::new(1), profile })
    }

    pub async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
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
        let target =
            self.call(None, "Target.createTarget", json!({"url": "about:blank", "newWindow": true})).await.unwrap();
        let target = target["targetId"].as_str().unwrap().to_string();
        let attached =
            self.call(None, "Target.attachToTarget", json!({"targetId": target, "flatten": true})).await.unwrap();
        let page = Page { browser: self.clone(), session: attached["sessionId"].as_str().unwrap().to_string(), target };
        page.navigate(url).await;
        page
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
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
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
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            stack.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
    }
    total
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
