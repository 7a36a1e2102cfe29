//! A small LSP client for tests and the benchmark: starts the real `jank-hotpatch lsp` binary
//! and speaks JSON-RPC with Content-Length framing over its stdin/stdout, as an editor does.
//! The `try_` calls report instead of panicking, for callers that must clean up and say why.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

pub struct LspClient {
    pub child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: i64,
    /// Notifications and server requests received while waiting for something else.
    pub notifications: VecDeque<Value>,
    /// The answer given to `workspace/configuration`.
    pub configuration: Value,
}

impl LspClient {
    /// Starts the binary with `cwd` as working directory (stderr is inherited for debugging).
    pub fn start(cwd: &Path) -> LspClient {
        LspClient::start_with(cwd, Stdio::inherit())
    }

    /// Starts the binary with its stderr (its log, level `warn`) going to `stderr`.
    pub fn start_with(cwd: &Path, stderr: Stdio) -> LspClient {
        LspClient::launch(&binary(), cwd, stderr).expect("start jank-hotpatch lsp")
    }

    /// Starts `program lsp` in `cwd` with its stderr going to `stderr`; an error instead of a
    /// panic (for the benchmark, which runs whichever build it was given).
    pub fn launch(program: &Path, cwd: &Path, stderr: Stdio) -> std::io::Result<LspClient> {
        let mut child = Command::new(program)
            .arg("lsp")
            .current_dir(cwd)
            .env("JANK_HOTPATCH_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("the server's stdin/stdout are not piped"));
        };
        let stdout = BufReader::new(stdout);
        Ok(LspClient { child, stdin, stdout, next_id: 1, notifications: VecDeque::new(), configuration: Value::Null })
    }

    pub async fn send_raw(&mut self, body: &[u8]) {
        self.try_send_raw(body).await.unwrap();
    }

    /// Writes bytes as they are, without framing (to test the framing itself).
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    pub async fn notify(&mut self, method: &str, params: Value) {
        let msg = json!({"jsonrpc": "2.0", "method": method, "params": params});
        self.send_raw(msg.to_string().as_bytes()).await;
    }

    /// Sends a request and waits for its response (the whole response object).
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params).await;
        self.response(id).await.unwrap_or_else(|| panic!("no response to {method}"))
    }

    /// Sends a request and waits up to `timeout` for its result; a JSON-RPC error, no answer
    /// in time or a closed connection is an `Err` saying which.
    pub async fn try_request(&mut self, method: &str, params: Value, timeout: Duration) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.try_send_raw(msg.to_string().as_bytes())
            .await
            .map_err(|e| format!("cannot send {method}: the server's stdin is closed ({e})"))?;
        let response =
            self.wait_for(|m| m.get("id") == Some(&json!(id)) && m.get("method").is_none(), timeout).await.ok_or_else(
                || format!("no answer to {method} within {} s, or the server closed its output", timeout.as_secs()),
            )?;
        match response.get("error") {
            Some(error) => Err(format!("{method} failed: {error}")),
            None => Ok(response["result"].clone()),
        }
    }

    /// [`LspClient::notify`] that reports a closed stdin instead of panicking.
    pub async fn try_notify(&mut self, method: &str, params: Value) -> Result<(), String> {
        let msg = json!({"jsonrpc": "2.0", "method": method, "params": params});
        self.try_send_raw(msg.to_string().as_bytes())
            .await
            .map_err(|e| format!("cannot send {method}: the server's stdin is closed ({e})"))
    }

    async fn try_send_raw(&mut self, body: &[u8]) -> std::io::Result<()> {
        let header = format!("Content-Length: {}\r\n\r\n", body.len());
        self.stdin.write_all(header.as_bytes()).await?;
        self.stdin.write_all(body).await?;
        self.stdin.flush().await
    }

    /// The newest `method` notification that satisfies `ready`: queued ones are consumed (the
    /// newest decides), then new ones are read until one does, for up to `timeout`. `None`
    /// when none did.
    pub async fn wait_latest(
        &mut self,
        method: &str,
        ready: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Option<Value> {
        let queued: Vec<Value> = self.notifications.iter().filter(|m| m["method"] == method).cloned().collect();
        self.notifications.retain(|m| m["method"] != method);
        if let Some(latest) = queued.into_iter().last().filter(|m| ready(m)) {
            return Some(latest);
        }
        self.wait_for(|m| m["method"] == method && ready(m), timeout).await
    }

    /// Sends a request without waiting; returns its id.
    pub async fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_raw(msg.to_string().as_bytes()).await;
        id
    }

    /// The response to request `id` (within 60 s), or None.
    pub async fn response(&mut self, id: i64) -> Option<Value> {
        self.wait_for(|m| m.get("id") == Some(&json!(id)) && m.get("method").is_none(), Duration::from_secs(60)).await
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Reads messages until one matches (answering server requests on the way); others are
    /// queued in `notifications`. A queued match is returned first.
    pub async fn wait_for(&mut self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Option<Value> {
        if let Some(i) = self.notifications.iter().position(&pred) {
            return self.notifications.remove(i);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.read()).await.ok()??;
            if msg.get("method").is_some() && msg.get("id").is_some() {
                self.answer_server_request(&msg).await;
            }
            if pred(&msg) {
                return Some(msg);
            }
            self.notifications.push_back(msg);
        }
    }

    pub async fn wait_notification(&mut self, method: &str) -> Value {
        self.wait_for(|m| m["method"] == method, Duration::from_secs(60))
            .await
            .unwrap_or_else(|| panic!("no {method} notification"))
    }

    async fn answer_server_request(&mut self, msg: &Value) {
        let result = match msg["method"].as_str() {
            Some("workspace/configuration") => {
                let items = msg["params"]["items"].as_array().map_or(1, Vec::len);
                Value::Array(vec![self.configuration.clone(); items])
            }
            _ => Value::Null,
        };
        let reply = json!({"jsonrpc": "2.0", "id": msg["id"], "result": result});
        // A server that closed its stdin is seen by the next read.
        let _ = self.try_send_raw(reply.to_string().as_bytes()).await;
    }

    /// One framed message, or None when the server closed its stdout.
    pub async fn read(&mut self) -> Option<Value> {
        let mut length = None;
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                length = v.parse::<usize>().ok();
            }
        }
        let mut body = vec![0; length?];
        self.stdout.read_exact(&mut body).await.ok()?;
        serde_json::from_slice(&body).ok()
    }

    pub async fn initialize(&mut self, root: &Path, options: Value) -> Value {
        let response = self.request("initialize", initialize_params(root, options)).await;
        self.notify("initialized", json!({})).await;
        response
    }

    /// [`LspClient::initialize`] that reports instead of panicking; also declares `didSave`
    /// support, as an editor that saves does. Gives the `initialize` result.
    pub async fn try_initialize(&mut self, root: &Path, options: Value, timeout: Duration) -> Result<Value, String> {
        let mut params = initialize_params(root, options);
        params["capabilities"]["textDocument"] = json!({"synchronization": {"didSave": true}});
        let result = self.try_request("initialize", params, timeout).await?;
        self.try_notify("initialized", json!({})).await?;
        Ok(result)
    }

    /// `shutdown` + `exit`, then the process is killed if it has not gone within a second;
    /// never panics (for the benchmark's clean-up, also after an error).
    pub async fn stop(mut self) {
        let _ = self.try_request("shutdown", Value::Null, Duration::from_secs(5)).await;
        let _ = self.try_notify("exit", Value::Null).await;
        if tokio::time::timeout(Duration::from_secs(1), self.child.wait()).await.is_err() {
            let _ = self.child.start_kill();
        }
    }

    pub async fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "jank", "version": 1, "text": text}}),
        )
        .await;
    }

    /// Closes the server's stdin as a crashed editor would, and hands back the process.
    pub fn close_stdin(self) -> Child {
        drop(self.stdin);
        self.child
    }

    pub async fn shutdown_and_exit(mut self) -> std::process::ExitStatus {
        let response = self.request("shutdown", Value::Null).await;
        assert!(response.get("error").is_none(), "{response}");
        self.notify("exit", Value::Null).await;
        tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.expect("server exits").unwrap()
    }
}

fn initialize_params(root: &Path, options: Value) -> Value {
    let uri = file_uri(root);
    json!({
        "processId": null,
        "rootUri": uri,
        "workspaceFolders": [{"uri": uri, "name": "ws"}],
        "initializationOptions": options,
        "capabilities": {"window": {"workDoneProgress": true}, "workspace": {"configuration": true}},
    })
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

/// The `jank-hotpatch` binary the workspace build left in `target/debug` (`cargo test` builds
/// it for the server's integration tests; other crates need `cargo build --workspace` first).
pub fn binary() -> PathBuf {
    built_binary("jank-hotpatch")
}

/// A binary of the workspace in `target/debug`.
pub fn built_binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        manifest
            .ancestors()
            .map(|dir| dir.join("target"))
            .find(|t| t.is_dir())
            .unwrap_or_else(|| manifest.join("target"))
    });
    let path = target.join("debug").join(name);
    assert!(path.is_file(), "{} is missing: run `cargo build --workspace` first", path.display());
    path
}

/// A fresh temporary workspace directory.
pub fn temp_workspace(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("jh-{name}-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_percent_encode_what_a_uri_may_not_hold() {
        assert_eq!(file_uri(Path::new("/tmp/a b/ü.jank")), "file:///tmp/a%20b/%C3%BC.jank");
        assert_eq!(file_uri(Path::new("/w/src/demo/core.jank")), "file:///w/src/demo/core.jank");
    }
}
