//! The bench's editor: a small LSP client that starts `jank-hotpatch lsp` as a child process
//! and talks to it over stdin/stdout exactly as Emacs or VS Code would (Content-Length
//! framing, `workspace/configuration` and `window/workDoneProgress/create` answered).
//!
//! Owns: the sidecar process, JSON-RPC framing, request ids, and the notifications the bench
//! waits for (`jank/serverStatus`, `jank/patchStatus`). Must not know about scenarios.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot, watch};

use super::BenchError;

/// One JSON-RPC message with its `Content-Length` header.
pub fn frame(message: &Value) -> Vec<u8> {
    let body = message.to_string();
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// Reads one framed message; `None` at the end of the stream.
pub async fn read_frame<R: AsyncBufRead + Unpin>(input: &mut R) -> std::io::Result<Option<Value>> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut length = None;
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line).await? == 0 {
            return match length {
                None => Ok(None),
                Some(_) => Err(invalid("the stream ended inside a header".into())),
            };
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                let n =
                    value.trim().parse::<usize>().map_err(|e| invalid(format!("bad Content-Length `{value}`: {e}")))?;
                length = Some(n);
            }
        }
    }
    let length = length.ok_or_else(|| invalid("a message without Content-Length".into()))?;
    let mut body = vec![0; length];
    input.read_exact(&mut body).await?;
    serde_json::from_slice(&body).map(Some).map_err(|e| invalid(format!("a message that is not JSON: {e}")))
}

async fn write_frame<W: AsyncWrite + Unpin>(output: &mut W, message: &Value) -> std::io::Result<()> {
    output.write_all(&frame(message)).await?;
    output.flush().await
}

/// What an editor answers to a request from the server.
fn answer(request: &Value, settings: &Value) -> Value {
    let id = request["id"].clone();
    match request["method"].as_str().unwrap_or_default() {
        "workspace/configuration" => {
            let items = request["params"]["items"].as_array().map_or(1, Vec::len);
            json!({"jsonrpc": "2.0", "id": id, "result": vec![settings.clone(); items]})
        }
        "window/workDoneProgress/create" | "client/registerCapability" | "window/showMessageRequest" => {
            json!({"jsonrpc": "2.0", "id": id, "result": null})
        }
        other => json!({"jsonrpc": "2.0", "id": id,
                        "error": {"code": -32601, "message": format!("the bench does not handle {other}")}}),
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// The sidecar, driven as an editor drives it.
pub struct Editor {
    child: Child,
    stdin: Arc<tokio::sync::Mutex<ChildStdin>>,
    pending: Pending,
    next_id: AtomicU64,
    status: watch::Receiver<Value>,
    reports: mpsc::UnboundedReceiver<Value>,
    /// `window/showMessage` texts, for error messages.
    messages: Arc<Mutex<Vec<String>>>,
    log: PathBuf,
}

impl Editor {
    /// Starts `exe lsp` in `workspace` (stderr to `log`), and initializes it with `settings`
    /// as initializationOptions and as the answer to `workspace/configuration`.
    pub async fn start(exe: &Path, workspace: &Path, settings: Value, log: &Path) -> Result<Editor, BenchError> {
        let log_file =
            std::fs::File::create(log).map_err(|e| BenchError::io(format!("create {}", log.display()), e))?;
        let mut child = Command::new(exe)
            .arg("lsp")
            .current_dir(workspace)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::Spawn { what: format!("{} lsp", exe.display()), source: e })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(BenchError::Sidecar("the sidecar's stdin/stdout are not piped".into()));
        };
        let stdin = Arc::new(tokio::sync::Mutex::new(stdin));
        let pending: Pending = Arc::default();
        let (status_tx, status) = watch::channel(Value::Null);
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let reader = Reader {
            stdin: stdin.clone(),
            pending: pending.clone(),
            status: status_tx,
            reports: reports_tx,
            messages: messages.clone(),
            settings: settings.clone(),
        };
        tokio::spawn(reader.run(BufReader::new(stdout)));
        let editor = Editor {
            child,
            stdin,
            pending,
            next_id: AtomicU64::new(1),
            status,
            reports,
            messages,
            log: log.to_path_buf(),
        };

        let root = file_uri(workspace);
        let params = json!({
            "processId": std::process::id(),
            "rootUri": root,
            "workspaceFolders": [{"uri": root, "name": "bench"}],
            "initializationOptions": settings,
            "capabilities": {
                "workspace": {"configuration": true},
                "window": {"workDoneProgress": true},
                "textDocument": {"synchronization": {"didSave": true}},
            },
        });
        editor.request("initialize", params, Duration::from_secs(30)).await?;
        editor.notify("initialized", json!({})).await?;
        Ok(editor)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn notify(&self, method: &str, params: Value) -> Result<(), BenchError> {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params})).await
    }

    /// Sends a request and waits for its result; a JSON-RPC error is an error.
    pub async fn request(&self, method: &str, params: Value, timeout: Duration) -> Result<Value, BenchError> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await?;
        let response = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => return Err(self.gone(method)),
            Err(_) => {
                lock(&self.pending).remove(&id);
                return Err(BenchError::Timeout(format!("the sidecar's answer to {method} ({} s)", timeout.as_secs())));
            }
        };
        match response.get("error") {
            Some(error) => Err(BenchError::Sidecar(format!("{method} failed: {error}"))),
            None => Ok(response["result"].clone()),
        }
    }

    /// Waits until the latest `jank/serverStatus` satisfies `ready`; returns it.
    pub async fn wait_status(
        &mut self,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&Value) -> bool,
    ) -> Result<Value, BenchError> {
        let waited =
            tokio::time::timeout(timeout, self.status.wait_for(|s| ready(s))).await.map(|r| r.map(|s| s.clone()));
        match waited {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(_)) => Err(self.gone("jank/serverStatus")),
            Err(_) => Err(BenchError::Timeout(format!(
                "{what} ({} s); last jank/serverStatus: {}",
                timeout.as_secs(),
                *self.status.borrow()
            ))),
        }
    }

    /// Forgets `jank/patchStatus` notifications already received (the commands' own).
    pub fn drain_reports(&mut self) {
        while self.reports.try_recv().is_ok() {}
    }

    /// The next `jank/patchStatus` notification's params.
    pub async fn next_report(&mut self, timeout: Duration) -> Result<Value, BenchError> {
        match tokio::time::timeout(timeout, self.reports.recv()).await {
            Ok(Some(report)) => Ok(report),
            Ok(None) => Err(self.gone("jank/patchStatus")),
            Err(_) => Err(BenchError::Timeout(format!("a jank/patchStatus notification ({} s)", timeout.as_secs()))),
        }
    }

    /// `shutdown` + `exit`, then the process is killed if it has not gone within a second.
    pub async fn stop(mut self) {
        let _ = self.request("shutdown", Value::Null, Duration::from_secs(5)).await;
        let _ = self.notify("exit", Value::Null).await;
        if tokio::time::timeout(Duration::from_secs(1), self.child.wait()).await.is_err() {
            let _ = self.child.start_kill();
        }
    }

    async fn send(&self, message: &Value) -> Result<(), BenchError> {
        let mut stdin = self.stdin.lock().await;
        write_frame(&mut *stdin, message).await.map_err(|_| self.gone("a message"))
    }

    /// The sidecar went away: say so, with what it said last.
    fn gone(&self, waiting_for: &str) -> BenchError {
        let shown = lock(&self.messages).join(" | ");
        BenchError::Sidecar(format!(
            "the sidecar closed its connection while the bench waited for {waiting_for}; messages: [{shown}]; its log: {}",
            self.log.display()
        ))
    }
}

/// Reads the sidecar's output: routes responses, answers requests, keeps notifications.
struct Reader {
    stdin: Arc<tokio::sync::Mutex<ChildStdin>>,
    pending: Pending,
    status: watch::Sender<Value>,
    reports: mpsc::UnboundedSender<Value>,
    messages: Arc<Mutex<Vec<String>>>,
    settings: Value,
}

impl Reader {
    async fn run(self, mut stdout: BufReader<tokio::process::ChildStdout>) {
        loop {
            let message = match read_frame(&mut stdout).await {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("bench: unreadable message from the sidecar: {e}");
                    break;
                }
            };
            match (message.get("method").and_then(Value::as_str), message.get("id")) {
                (Some(_), Some(_)) => {
                    let reply = answer(&message, &self.settings);
                    let _ = write_frame(&mut *self.stdin.lock().await, &reply).await;
                }
                (Some(method), None) => self.notification(method, &message["params"]),
                (None, Some(id)) => {
                    let waiter = id.as_u64().and_then(|id| lock(&self.pending).remove(&id));
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(message);
                    }
                }
                (None, None) => tracing::warn!(
                    "bench: a message from the sidecar that is neither request, response nor notification: {message}"
                ),
            }
        }
        // Waiters see their senders dropped: the sidecar is gone.
        lock(&self.pending).clear();
    }

    fn notification(&self, method: &str, params: &Value) {
        match method {
            "jank/serverStatus" => {
                self.status.send_replace(params.clone());
            }
            "jank/patchStatus" => {
                let _ = self.reports.send(params.clone());
            }
            "window/showMessage" | "window/logMessage" => {
                let text = params["message"].as_str().unwrap_or_default().to_string();
                tracing::debug!("sidecar: {text}");
                let mut messages = lock(&self.messages);
                if messages.len() < 20 {
                    messages.push(text);
                }
            }
            _ => {}
        }
    }
}

/// `file://` URI of an absolute path (percent-encoding what a path may contain that a URI
/// may not).
pub fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => uri.push(byte as char),
            other => uri.push_str(&format!("%{other:02X}")),
        }
    }
    uri
}

/// A poisoned lock only means a task panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_through_a_pipe() {
        let (mut a, b) = tokio::io::duplex(1 << 16);
        let messages = [
            json!({"jsonrpc": "2.0", "id": 1, "result": {"text": "héllo 🎉"}}),
            json!({"jsonrpc": "2.0", "method": "x"}),
        ];
        for m in &messages {
            write_frame(&mut a, m).await.unwrap();
        }
        drop(a);
        let mut reader = BufReader::new(b);
        for m in &messages {
            assert_eq!(read_frame(&mut reader).await.unwrap().as_ref(), Some(m));
        }
        assert_eq!(read_frame(&mut reader).await.unwrap(), None);
    }

    #[tokio::test]
    async fn length_counts_bytes_and_other_headers_are_ignored() {
        let body = r#"{"s":"é"}"#;
        let text = format!(
            "Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut reader = BufReader::new(text.as_bytes());
        assert_eq!(read_frame(&mut reader).await.unwrap(), Some(json!({"s": "é"})));
        assert!(frame(&json!({"s": "é"})).starts_with(b"Content-Length: 10\r\n\r\n"));
    }

    #[tokio::test]
    async fn broken_frames_are_errors() {
        let mut no_length = BufReader::new(&b"X: 1\r\n\r\n{}"[..]);
        assert!(read_frame(&mut no_length).await.is_err());
        let mut truncated = BufReader::new(&b"Content-Length: 10\r\n\r\n{}"[..]);
        assert!(read_frame(&mut truncated).await.is_err());
    }

    #[test]
    fn answers_configuration_progress_and_unknown_requests() {
        let settings = json!({"app": {"port": 0}});
        let config =
            answer(&json!({"id": 3, "method": "workspace/configuration", "params": {"items": [{}, {}]}}), &settings);
        assert_eq!(config["result"], json!([settings, settings]));
        assert_eq!(config["id"], 3);
        let progress = answer(&json!({"id": "p", "method": "window/workDoneProgress/create"}), &settings);
        assert_eq!(progress, json!({"jsonrpc": "2.0", "id": "p", "result": null}));
        let unknown = answer(&json!({"id": 4, "method": "workspace/applyEdit"}), &settings);
        assert_eq!(unknown["error"]["code"], -32601);
    }

    #[test]
    fn file_uris_escape_what_uris_cannot_hold() {
        assert_eq!(file_uri(Path::new("/tmp/a b/ç.jank")), "file:///tmp/a%20b/%C3%A7.jank");
    }
}
