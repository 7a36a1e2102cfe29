//! The demo workspace driven as an editor would: `jank-hotpatch demo --prepare`, the stand-in
//! jank (`tests/jank-standin`, a stand-in for jank's nREPL server; `cargo build -p
//! jank-standin` first), the real `jank-hotpatch lsp` binary and its URL for the page.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use test_support::lsp_client::{temp_workspace, LspClient};

pub const WAIT: Duration = Duration::from_secs(30);

pub fn prepare_demo(name: &str) -> PathBuf {
    let dir = temp_workspace(name);
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_jank-hotpatch"))
        .args(["demo", "--prepare"])
        .arg(&dir)
        .stdout(Stdio::null())
        .status()
        .expect("run jank-hotpatch demo --prepare");
    assert!(status.success());
    dir
}

/// The stand-in jank, started in `dir` (it writes `.nrepl-port` there), killed on drop.
pub struct Standin(std::process::Child);

impl Standin {
    pub fn start(dir: &Path) -> Standin {
        let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/jank-standin");
        assert!(binary.exists(), "{} is missing: run `cargo build -p jank-standin` first", binary.display());
        let child = std::process::Command::new(binary)
            .current_dir(dir)
            .stderr(Stdio::null())
            .spawn()
            .expect("start jank-standin");
        for _ in 0..100 {
            if dir.join(".nrepl-port").exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Standin(child)
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

/// Starts the LSP server on `dir` and returns it with the app's URL (from `jank/serverStatus`).
pub async fn start_lsp(dir: &Path) -> (LspClient, String) {
    let mut client = LspClient::start(dir);
    client.initialize(dir, json!({"app": {"port": 0}})).await;
    let status = client
        .wait_for(|m| m["method"] == "jank/serverStatus" && m["params"]["appUrl"].is_string(), WAIT)
        .await
        .expect("a server status with the app URL");
    let url = status["params"]["appUrl"].as_str().unwrap_or_default().to_string();
    (client, url)
}

/// `{"command", "arguments": [{"uri", "position"}]}` for `workspace/executeCommand`.
pub fn at_position(command: &str, uri: &str, line: u32, character: u32) -> Value {
    json!({"command": command, "arguments": [{"uri": uri, "position": {"line": line, "character": character}}]})
}

pub fn line_of(text: &str, needle: &str) -> u32 {
    text.lines().position(|l| l.contains(needle)).expect(needle) as u32
}

pub async fn change(client: &mut LspClient, uri: &str, version: i32, text: &str) {
    client
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
        )
        .await;
}
