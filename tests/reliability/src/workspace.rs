//! The demo workspace (`jank-hotpatch demo --prepare`), the stand-in jank serving it, and the
//! sidecar (`jank-hotpatch lsp`) driven by an editor-like client: edit a form, patch it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

use crate::figures::target_dir;
use test_support::cdp::Page;
use test_support::lsp_client::{self, LspClient};

/// How long the tests wait for anything that should happen (a page, a report).
pub const WAIT: Duration = Duration::from_secs(30);

/// A binary of the workspace build (`cargo test --workspace` builds them first).
pub fn binary(name: &str) -> PathBuf {
    let path = target_dir().join("debug").join(name);
    assert!(path.is_file(), "{} is missing: run `cargo build --workspace` first", path.display());
    path
}

/// A fresh copy of the demo workspace. `demo --prepare` links the main module (seconds), so
/// it runs once per test binary and every test gets a copy.
pub fn demo_workspace(name: &str) -> PathBuf {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        let dir = lsp_client::temp_workspace("reliability-template");
        let status = Command::new(lsp_client::binary())
            .args(["demo", "--prepare"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run jank-hotpatch demo --prepare");
        assert!(status.success(), "jank-hotpatch demo --prepare failed");
        let _ = std::fs::remove_dir_all(dir.join(".jank-hotpatch"));
        dir
    });
    let dir = lsp_client::temp_workspace(name);
    let status = Command::new("cp").arg("-a").arg(format!("{}/.", template.display())).arg(&dir).status().expect("cp");
    assert!(status.success());
    dir
}

/// The stand-in jank, killed when dropped (`Jank::start(dir, args)`; `kill` as a crash would).
pub use test_support::standin::Standin as Jank;

/// A free loopback port (bound, then released), for settings that must stay the same across
/// sidecar restarts.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// The sidecar with `src/demo/core.jank` open, as an editor drives it.
pub struct Sidecar {
    pub client: LspClient,
    pub app_url: Option<String>,
    pub uri: String,
    pub text: String,
    version: i32,
}

impl Sidecar {
    /// Starts `jank-hotpatch lsp` in `dir` with `options` (initializationOptions), waits for
    /// its first status and opens the demo file. Its log is dropped unless `RELIABILITY_LOG`
    /// is set (bad-input tests make it log thousands of warnings).
    pub async fn start(dir: &Path, options: Value) -> Sidecar {
        let mut sidecar = Sidecar::start_plain(dir, options).await;
        sidecar.open_demo(dir).await;
        sidecar
    }

    async fn open_demo(&mut self, dir: &Path) {
        let path = dir.join("src/demo/core.jank");
        self.uri = format!("file://{}", path.display());
        self.text = std::fs::read_to_string(&path).expect("the demo's core.jank");
        self.client.open(&self.uri, &self.text).await;
    }

    /// Like [`Sidecar::start`], with the sidecar's log written to `log`.
    pub async fn start_logged(dir: &Path, options: Value, log: &Path) -> Sidecar {
        let file = std::fs::File::create(log).expect("create the sidecar's log");
        let mut sidecar = Sidecar::start_with(dir, options, Stdio::from(file)).await;
        sidecar.open_demo(dir).await;
        sidecar
    }

    /// Starts the sidecar in any workspace, with no document open.
    pub async fn start_plain(dir: &Path, options: Value) -> Sidecar {
        let stderr = if std::env::var_os("RELIABILITY_LOG").is_some() { Stdio::inherit() } else { Stdio::null() };
        Sidecar::start_with(dir, options, stderr).await
    }

    async fn start_with(dir: &Path, options: Value, stderr: Stdio) -> Sidecar {
        let mut client = LspClient::start_with(dir, stderr);
        client.configuration = options.clone();
        let init = client.initialize(dir, options).await;
        assert!(init.get("error").is_none(), "{init}");
        let status = client
            .wait_for(|m| m["method"] == "jank/serverStatus" && m["params"]["appUrl"].is_string(), WAIT)
            .await
            .expect("a jank/serverStatus with the app URL");
        let app_url = status["params"]["appUrl"].as_str().map(str::to_string);
        Sidecar { client, app_url, uri: String::new(), text: String::new(), version: 1 }
    }

    pub fn app_url(&self) -> &str {
        self.app_url.as_deref().expect("the sidecar serves the app (a status with appUrl)")
    }

    /// Replaces the body of `(defn name ...)` (a top-level form on its own lines in the demo
    /// file) with `body` and sends the new text.
    pub async fn set_defn(&mut self, name: &str, params: &str, body: &str) {
        let head = format!("(defn {name} [");
        let start = self.text.find(&head).unwrap_or_else(|| panic!("no (defn {name} in the demo"));
        let end = self.text[start..].find("\n\n").map_or(self.text.len(), |e| start + e);
        self.text.replace_range(start..end, &format!("(defn {name} [{params}]\n  {body})"));
        self.version += 1;
        let change = json!({"textDocument": {"uri": self.uri, "version": self.version}, "contentChanges": [{"text": self.text}]});
        self.client.notify("textDocument/didChange", change).await;
    }

    /// The `jank.hotPatchForm` command for the form `(defn name ...)`.
    pub fn patch_command(&self, name: &str) -> Value {
        let line = self.text.lines().position(|l| l.starts_with(&format!("(defn {name} "))).expect("the defn's line");
        json!({"command": "jank.hotPatchForm", "arguments": [{"uri": self.uri, "position": {"line": line, "character": 1}}]})
    }

    /// Patches `(defn name ...)` and returns the report (the command's result).
    pub async fn patch(&mut self, name: &str) -> Value {
        let command = self.patch_command(name);
        let response = self.client.request("workspace/executeCommand", command).await;
        assert!(response.get("error").is_none(), "{response}");
        response["result"].clone()
    }

    /// Sends the patch of `(defn name ...)` without waiting; returns the request id.
    pub async fn send_patch(&mut self, name: &str) -> i64 {
        let command = self.patch_command(name);
        self.client.send_request("workspace/executeCommand", command).await
    }

    /// Patches every form of the file (what the first save does).
    pub async fn patch_file(&mut self) -> Value {
        let command = json!({"command": "jank.hotPatchFile", "arguments": [{"uri": self.uri}]});
        let response = self.client.request("workspace/executeCommand", command).await;
        assert!(response.get("error").is_none(), "{response}");
        response["result"].clone()
    }

    /// Sets `(defn color [clicks] "<value>")` and patches it; returns the report.
    pub async fn patch_color(&mut self, value: &str) -> Value {
        self.set_defn("color", "clicks", &format!("\"{value}\"")).await;
        self.patch("color").await
    }
}

/// What the page's jank functions return now (`window.demoApp.values`), read by calling them
/// through the main module, so that it does not depend on the page's animation frames.
pub const VALUES_JS: &str = r#"(() => {
  const M = window.Module;
  if (!M || !M.calledRun || !M._jank_var_intern_c) return null;
  const str = (s) => { const n = M.lengthBytesUTF8(s) + 1; const p = M._malloc(n); M.stringToUTF8(s, p, n); return p; };
  const fn = (name) => { const f = M._jank_deref(M._jank_var_intern_c(str('demo.core'), str(name))); return f && M._jank_truthy(f) ? f : 0; };
  if (!['speed', 'radius', 'color', 'label'].every(fn)) return null;
  return {
    speed: Number(M._jank_to_integer(M._jank_call0(fn('speed')))),
    radius: Number(M._jank_to_integer(M._jank_call0(fn('radius')))),
    color: M.UTF8ToString(M._jank_to_string(M._jank_call1(fn('color'), M._jank_integer_create(0n)))),
    label: M.UTF8ToString(M._jank_to_string(M._jank_call1(fn('label'), M._jank_integer_create(0n)))),
  };
})()"#;

/// The page's current values (see [`VALUES_JS`]), `Null` while it runs no jank code.
pub async fn values(page: &Page) -> Value {
    page.try_eval(VALUES_JS).await.unwrap_or(Value::Null)
}

/// Waits until the page's `color` is `expected`; panics with what it has otherwise.
pub async fn wait_color(page: &Page, expected: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let now = values(page).await;
        if now["color"] == expected {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the page never showed color {expected:?}; it has {now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `done` holds, for a state only a file shows (nothing announces it); panics
/// naming `what` after [`WAIT`].
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "waited {WAIT:?} for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The demo running: stand-in jank, the sidecar, and one page showing the first patch of the
/// whole file (`color` is "tomato").
pub struct Running {
    pub dir: PathBuf,
    pub jank: Jank,
    pub sidecar: Sidecar,
    pub browser: std::sync::Arc<test_support::cdp::Browser>,
    pub page: Page,
}

/// Starts [`Running`] in a fresh copy of the demo workspace, the sidecar with `options`.
pub async fn running_demo(name: &str, options: Value) -> Running {
    let dir = demo_workspace(name);
    let jank = Jank::start(&dir, &[]);
    let mut sidecar = Sidecar::start(&dir, options).await;
    let browser = test_support::cdp::Browser::launch().await;
    let page = browser.open(sidecar.app_url()).await;
    let report = sidecar.patch_file().await;
    assert_eq!(report["ok"], true, "{report}");
    wait_color(&page, "tomato").await;
    Running { dir, jank, sidecar, browser, page }
}
