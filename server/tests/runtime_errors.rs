//! Errors thrown while patched code runs in the page (issue 24), end to end: the real
//! `jank-hotpatch lsp` binary, the stand-in jank, the real toolchain, the demo app in real
//! headless Chromium with the stand-in runtime built with the fork's `-fexceptions -frtti`.
//! Needs `cargo build -p jank-standin` first (the test scripts do it).

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::demo::{at_position, change, line_of, open_demo, OpenDemo, WAIT};
use test_support::standin::Standin;
use test_support::cdp::{rss_kib, Browser, Page};
use test_support::lsp_client::LspClient;

const RUNTIME: &str = "jank-hotpatch (runtime)";

struct Demo {
    client: LspClient,
    uri: String,
    text: String,
    version: i32,
    page: Page,
    _jank: Standin,
}

impl Demo {
    /// The demo workspace, the LSP server, one page, and the demo file open and patched once.
    async fn start(name: &str, browser: &std::sync::Arc<Browser>) -> Demo {
        let OpenDemo { client, page, jank, uri, text, .. } = open_demo(name, browser).await;
        let mut demo = Demo { client, uri: uri.clone(), text, version: 1, page, _jank: jank };
        let report = demo.command(json!({"command": "jank.hotPatchFile", "arguments": [{"uri": uri}]})).await;
        assert_eq!(report["ok"], true, "{report}");
        demo.page.wait_for("window.demoApp.values && window.demoApp.values.speed === 3", WAIT).await;
        demo
    }

    async fn command(&mut self, params: Value) -> Value {
        self.client.request("workspace/executeCommand", params).await["result"].clone()
    }

    /// Replaces `from` with `to` and patches that form.
    async fn patch(&mut self, from: &str, to: &str) -> Value {
        assert!(self.text.contains(from), "{from}");
        self.text = self.text.replacen(from, to, 1);
        self.version += 1;
        change(&mut self.client, &self.uri, self.version, &self.text).await;
        let line = line_of(&self.text, to.lines().next().unwrap());
        let report = self.command(at_position("jank.hotPatchForm", &self.uri, line, 2)).await;
        assert_eq!(report["ok"], true, "{report}");
        report
    }

    /// The next diagnostics of the demo file that `pred` accepts.
    async fn diagnostics(&mut self, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let uri = self.uri.clone();
        let found = self
            .client
            .wait_for(
                |m| {
                    m["method"] == "textDocument/publishDiagnostics"
                        && m["params"]["uri"] == uri.as_str()
                        && pred(m["params"]["diagnostics"].as_array().map(Vec::as_slice).unwrap_or_default())
                },
                WAIT,
            )
            .await
            .expect("diagnostics");
        found["params"]["diagnostics"].as_array().cloned().unwrap_or_default()
    }

    async fn status_with(&mut self, runtime_errors: u64) -> Value {
        self.client
            .wait_for(|m| m["method"] == "jank/serverStatus" && m["params"]["runtimeErrors"] == runtime_errors, WAIT)
            .await
            .unwrap_or_else(|| panic!("a status with {runtime_errors} runtime errors"))
    }

    async fn hud(&self) -> String {
        let text = self.page.eval("(document.getElementById('jank-hotpatch-hud') || {}).textContent || ''").await;
        text.as_str().unwrap_or_default().to_string()
    }
}

fn runtime(diagnostics: &[Value]) -> Vec<&Value> {
    diagnostics.iter().filter(|d| d["source"] == RUNTIME).collect()
}

#[tokio::test]
async fn a_function_called_every_frame_that_divides_by_zero_is_reported_on_its_form_counted_and_cleared_by_the_fix() {
    let browser = Browser::launch().await;
    let mut demo = Demo::start("rt-frame", &browser).await;

    demo.patch("(defn radius [] 18)", "(defn radius [] (/ 1 0))").await;
    let diagnostics = demo.diagnostics(|d| d.iter().any(|d| d["source"] == RUNTIME)).await;
    let found = runtime(&diagnostics);
    assert_eq!(found.len(), 1, "{diagnostics:?}");
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.starts_with("demo.core/radius: divide by zero (thrown "), "{message}");
    assert!(message.contains("in the animation frame"), "{message}");
    let line = line_of(&demo.text, "(defn radius");
    assert_eq!(found[0]["range"]["start"]["line"], line, "on the form");
    demo.status_with(1).await;

    // The page's HUD: the var, the message, file:line and the count.
    demo.page
        .wait_for("/×\\d+/.test((document.getElementById('jank-hotpatch-hud') || {}).textContent || '')", WAIT)
        .await;
    let hud = demo.hud().await;
    assert!(hud.contains("jank code failed in this page") && hud.contains("demo.core/radius"), "{hud}");
    assert!(hud.contains("divide by zero") && hud.contains(&format!("core.jank:{}", line + 1)), "{hud}");

    // Ten seconds of errors, every frame: counted in the page, a bounded number of messages.
    demo.client.request("jank/status", json!(null)).await;
    demo.client.notifications.clear();
    let (errors0, reports0) = counts(&demo.page).await;
    let sidecar = demo.client.pid().expect("the sidecar runs");
    let started = Instant::now();
    let (cpu0, rss0) = (cpu_ms(sidecar), rss_kib(sidecar));
    demo.page
        .wait_for(&format!("window.jankHotpatch.runtimeErrors >= {}", errors0 + 300), Duration::from_secs(60))
        .await;
    let (cpu1, rss1) = (cpu_ms(sidecar), rss_kib(sidecar));
    demo.page
        .wait_for(&format!("window.jankHotpatch.runtimeErrors >= {}", errors0 + 600), Duration::from_secs(60))
        .await;
    let elapsed = started.elapsed();
    let (cpu2, rss2) = (cpu_ms(sidecar), rss_kib(sidecar));
    println!(
        "sidecar while the page throws: CPU {} ms in the first half, {} ms in the second; RSS {rss0} -> {rss1} -> {rss2} KiB",
        cpu1 - cpu0,
        cpu2 - cpu1
    );
    let (errors1, reports1) = counts(&demo.page).await;
    // Everything the sidecar sent before the answer to this request is queued by then.
    demo.client.request("jank/status", json!(null)).await;
    let to_editor = demo
        .client
        .notifications
        .iter()
        .filter(|m| {
            let method = m["method"].as_str().unwrap_or_default();
            method == "textDocument/publishDiagnostics"
                || (method == "window/logMessage"
                    && m["params"]["message"].as_str().unwrap_or_default().contains(RUNTIME))
                || method == "jank/serverStatus"
        })
        .count();
    let errors = errors1 - errors0;
    let reports = reports1 - reports0;
    let ticks = (elapsed.as_millis() / 250) as u64 + 2;
    println!(
        "{errors} errors thrown in {:.1} s: {reports} reports from the page, {to_editor} messages to the editor (bound {})",
        elapsed.as_secs_f64(),
        3 * ticks
    );
    assert!(reports <= ticks, "the page throttles: {reports} reports for {ticks} ticks");
    assert!((to_editor as u64) <= 3 * ticks, "the sidecar bounds: {to_editor}");
    let counted = demo.diagnostics(|d| !runtime(d).is_empty()).await;
    let message = runtime(&counted)[0]["message"].as_str().unwrap().to_string();
    assert!(!message.contains("thrown once"), "the count grows: {message}");

    // The fix: the diagnostic and the HUD clear, the animation runs again.
    demo.patch("(defn radius [] (/ 1 0))", "(defn radius [] 18)").await;
    demo.diagnostics(|d| runtime(d).is_empty()).await;
    demo.status_with(0).await;
    let frames = demo.page.eval("window.demoApp.frames").await.as_u64().unwrap();
    demo.page.wait_for(&format!("window.demoApp.frames > {}", frames + 10), WAIT).await;
    demo.page.wait_for("!document.getElementById('jank-hotpatch-hud')", WAIT).await;

    browser.close().await;
}

/// CPU time (user + system) a process has used, in ms, from /proc (clock ticks of 10 ms).
fn cpu_ms(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces), from the state (field 3) on.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) * 10
}

async fn counts(page: &Page) -> (u64, u64) {
    let v = page.eval("[window.jankHotpatch.runtimeErrors, window.jankHotpatch.runtimeReports]").await;
    (v[0].as_u64().unwrap(), v[1].as_u64().unwrap())
}

#[tokio::test]
async fn an_error_in_a_click_handler_is_attributed_to_its_form_and_one_of_the_app_s_own_code_to_none() {
    let browser = Browser::launch().await;
    let mut demo = Demo::start("rt-click", &browser).await;

    // Fine until the first click; then the click handler calls it, and jank's runtime throws a
    // C++ exception (`std::runtime_error`), whose message the page reads.
    demo.patch("(if (< clicks 5) \"tomato\" \"steelblue\")", "(if (< clicks 1) \"tomato\" (str (+ clicks \"x\")))")
        .await;
    demo.page.eval("document.getElementById('clicker').click()").await;
    let diagnostics = demo.diagnostics(|d| !runtime(d).is_empty()).await;
    let found = runtime(&diagnostics);
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.starts_with("demo.core/color: not a number: \"x\" (thrown "), "{message}");
    assert!(message.contains("in the click handler"), "the first place it was caught: {message}");
    assert_eq!(found[0]["range"]["start"]["line"], line_of(&demo.text, "(defn color"));

    // The app's own JavaScript: reported as such, on no form, naming the last patch.
    demo.page.eval("setTimeout(() => { window.demoApp.noSuchThing.call(); }, 0)").await;
    let logged = demo
        .client
        .wait_for(
            |m| {
                m["method"] == "window/logMessage"
                    && m["params"]["message"].as_str().unwrap_or_default().contains("the app's own code threw")
            },
            WAIT,
        )
        .await
        .expect("the app's error logged");
    let line = logged["params"]["message"].as_str().unwrap();
    assert!(line.contains("not jank code; after patching demo.core/color"), "{line}");
    assert!(line.contains("in an uncaught error"), "{line}");
    demo.status_with(2).await;

    browser.close().await;
}

/// The README's demo section, as a user reads it: `jank-hotpatch demo`, a save that breaks a
/// form at run time, then the fix, in the terminal.
#[tokio::test]
async fn the_demo_prints_one_line_when_a_form_starts_throwing_and_one_when_it_stops() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = test_support::lsp_client::temp_workspace("rt-demo");
    let mut demo = tokio::process::Command::new(env!("CARGO_BIN_EXE_jank-hotpatch"))
        .args(["demo", "--port", "0", "--dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("jank-hotpatch demo starts");
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let url = next_line(&mut lines, "Open").await.trim_start().trim_start_matches("Open").trim().to_string();
    next_line(&mut lines, "✓ core.jank:").await;
    let browser = Browser::launch().await;
    let page = browser.open(&url).await;
    page.wait_for("window.demoApp && window.demoApp.values && window.demoApp.values.speed === 3", WAIT).await;

    let file = dir.join("src/demo/core.jank");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("(defn radius [] 18)", "(defn radius [] (/ 1 0))")).unwrap();
    next_line(&mut lines, "✓ core.jank:").await;
    let failing = next_line(&mut lines, "✗ runtime:").await;
    let line = line_of(&text, "(defn radius") + 1;
    assert!(failing.starts_with("✗ runtime: demo.core/radius ("), "{failing}");
    assert!(
        failing.contains(&format!("core.jank:{line}) threw in page 1 (once, in the animation frame): divide by zero")),
        "{failing}"
    );
    std::fs::write(&file, &text).unwrap();
    next_line(&mut lines, "✓ core.jank:").await;
    let stopped = next_line(&mut lines, "✓ runtime: stopped:").await;
    assert!(stopped.starts_with("✓ runtime: stopped: demo.core/radius ("), "{stopped}");
    page.wait_for("window.demoApp.frames > 0 && window.demoApp.values !== null", WAIT).await;

    browser.close().await;
    // Ctrl-C, as a user stops it: the demo stops its stand-in jank too.
    let pid = demo.id().expect("the demo runs").to_string();
    let _ = std::process::Command::new("kill").args(["-INT", &pid]).status();
    let _ = tokio::time::timeout(Duration::from_secs(10), demo.wait()).await;
}

/// The next line the demo prints that starts with `prefix` (after its indentation).
async fn next_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    prefix: &str,
) -> String {
    loop {
        let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line()).await;
        let line = line.expect("the demo prints").unwrap().expect("the demo runs");
        if line.trim_start().starts_with(prefix) {
            return line;
        }
    }
}
