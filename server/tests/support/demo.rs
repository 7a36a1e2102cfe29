//! A demo workspace (`workspace`) driven as an editor would: the real `jank-hotpatch lsp`
//! binary, the app's URL for the page, commands at a place in a file, and edits.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use test_support::cdp::{Browser, Page};
use test_support::lsp_client::LspClient;

use test_support::standin::Standin;

use super::workspace::prepare_demo;

pub const WAIT: Duration = Duration::from_secs(30);

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

/// A fresh demo workspace with the stand-in jank serving it, the LSP server on it, one page
/// connected, and the demo file open in the "editor" (not patched yet).
pub struct OpenDemo {
    pub client: LspClient,
    pub page: Page,
    pub jank: Standin,
    pub uri: String,
    pub text: String,
    pub url: String,
}

pub async fn open_demo(name: &str, browser: &std::sync::Arc<Browser>) -> OpenDemo {
    let dir = prepare_demo(name);
    let jank = Standin::start(&dir, &["--mode", "contract"]);
    let (mut client, url) = start_lsp(&dir).await;
    let page = browser.open(&url).await;
    page.wait_for("window.jankHotpatch && window.jankHotpatch.connected", WAIT).await;
    let path = dir.join("src/demo/core.jank");
    let uri = format!("file://{}", path.display());
    let text = std::fs::read_to_string(&path).unwrap();
    client.open(&uri, &text).await;
    OpenDemo { client, page, jank, uri, text, url }
}
