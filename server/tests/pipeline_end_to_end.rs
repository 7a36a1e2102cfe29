//! The whole loop through the real `jank-hotpatch lsp` binary: the demo workspace, the
//! stand-in jank (`tests/jank-standin`, a stand-in for jank's nREPL server), the real
//! emscripten toolchain, and the demo page in real headless Chromium, once per shape of jank
//! the stand-in plays (`--mode contract|fork|upstream`), each asserting what a user sees with
//! it. Needs `cargo build -p jank-standin` first (the test scripts do it).

mod support;

use serde_json::{json, Value};
use support::demo::{at_position, change, line_of, start_lsp, WAIT};
use support::workspace::prepare_demo;
use test_support::cdp::{Browser, Page};
use test_support::lsp_client::LspClient;
use test_support::standin::Standin;

fn patch_form(uri: &str, line: u32, character: u32) -> Value {
    at_position("jank.hotPatchForm", uri, line, character)
}

async fn color(page: &Page) -> Value {
    page.eval("window.demoApp.values && window.demoApp.values.color").await
}

/// The first diagnostic published with something in it.
async fn first_diagnostic(client: &mut LspClient) -> Value {
    let published = client
        .wait_for(
            |m| {
                m["method"] == "textDocument/publishDiagnostics"
                    && m["params"]["diagnostics"].as_array().is_some_and(|d| !d.is_empty())
            },
            WAIT,
        )
        .await
        .expect("a diagnostic");
    published["params"]["diagnostics"][0].clone()
}

/// jank as the design asks (the stand-in's default): every step works.
#[tokio::test]
async fn edit_patch_and_see_the_page_change_keeping_its_state() {
    edit_patch_and_see(Mode::Contract).await;
}

/// The jank fork as it is: the demo's own forms go through (they call only `clojure.core`); an
/// expression calling the file's function, and a compile error, are told on the whole form.
#[tokio::test]
async fn with_the_fork_the_demo_patches_and_namespace_calls_are_explained() {
    edit_patch_and_see(Mode::Fork).await;
}

/// Upstream jank: one clear message naming the missing op; the page keeps what it had.
#[tokio::test]
async fn with_upstream_jank_a_patch_names_the_missing_op() {
    edit_patch_and_see(Mode::Upstream).await;
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Contract,
    Fork,
    Upstream,
}

async fn edit_patch_and_see(mode: Mode) {
    let name = format!("{mode:?}").to_lowercase();
    let dir = prepare_demo(&format!("e2e-{name}"));
    let _jank = Standin::start(&dir, &["--mode", &name]);
    let (mut client, url) = start_lsp(&dir).await;
    assert_eq!(std::fs::read_to_string(dir.join(".jank-hotpatch/app-url")).unwrap().trim(), url);

    let browser = Browser::launch().await;
    let page = browser.open(&url).await;
    page.wait_for("window.jankHotpatch && window.jankHotpatch.connected", WAIT).await;

    let path = dir.join("src/demo/core.jank");
    let uri = format!("file://{}", path.display());
    let mut text = std::fs::read_to_string(&path).unwrap();
    client.open(&uri, &text).await;

    // The first save of the file patches every form: the page comes alive.
    let report = client
        .request("workspace/executeCommand", json!({"command": "jank.hotPatchFile", "arguments": [{"uri": uri}]}))
        .await;
    let report = &report["result"];
    if mode == Mode::Upstream {
        // Not covered with upstream jank (nothing compiles): the page changing, state kept,
        // values, diagnostics at jank's position, and a save that changed nothing.
        assert_eq!(report["ok"], false, "{report}");
        assert_eq!(report["error"]["stage"], "compile");
        let message = report["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("jank's nREPL server has no `wasm-compile-patch` op"), "{report}");
        let diagnostic = first_diagnostic(&mut client).await;
        assert_eq!(diagnostic["message"], message, "{diagnostic}");
        assert_eq!(page.eval("window.demoApp.values && window.demoApp.values.color").await, Value::Null);
        browser.close().await;
        assert!(client.shutdown_and_exit().await.success());
        return;
    }
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["pages"], 1, "{report}");
    assert!(report["forms"].as_array().unwrap().len() >= 4, "{report}");
    page.wait_for("window.demoApp.values && window.demoApp.values.color === 'tomato'", WAIT).await;

    // Some state in the page, then a patch of one form: the state survives.
    page.eval("document.getElementById('clicker').click(); document.getElementById('clicker').click()").await;
    page.wait_for("window.demoApp.values.label === 'clicked 2 times'", WAIT).await;
    text = text.replace("\"tomato\"", "\"gold\"");
    change(&mut client, &uri, 2, &text).await;
    let line = line_of(&text, "\"gold\"");
    let report = client.request("workspace/executeCommand", patch_form(&uri, line, 5)).await;
    let report = &report["result"];
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["forms"][0]["name"], "color");
    assert_eq!(report["pages"], 1);
    assert!(report["totalMs"].as_f64().unwrap() > 0.0);
    assert!(report["stages"]["loadMs"].as_f64().unwrap() > 0.0, "{report}");
    page.wait_for("window.demoApp.values.color === 'gold'", WAIT).await;
    assert_eq!(page.eval("window.demoApp.state.clicks").await, 2, "state survived the patch");

    // An expression inside (comment ...): its value comes back from the page.
    text.push_str("\n(comment\n  (+ 40 (speed) -1))\n");
    change(&mut client, &uri, 3, &text).await;
    let line = line_of(&text, "(+ 40");
    let report = client.request("workspace/executeCommand", patch_form(&uri, line, 4)).await;
    if mode == Mode::Fork {
        // The fork analysed `(defn speed ...)` in `user` and interned `user/speed` there: the
        // call compiles to `user/speed`, which the page does not have.
        let message = report["result"]["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("the generated C++ calls `user/speed`, not a var of `demo.core`"), "{report}");
        assert!(message.contains("jank analysed this form in namespace `user`, not in `demo.core`"), "{report}");
        let diagnostic = first_diagnostic(&mut client).await;
        assert_eq!(diagnostic["range"]["start"], json!({"line": line, "character": 2}), "the whole form");
        assert_eq!(diagnostic["range"]["end"], json!({"line": line, "character": 19}), "the whole form");
        text = text.replace("(+ 40 (speed) -1)", "(+ 40 3 -1)");
        change(&mut client, &uri, 3, &text).await;
        let report = client.request("workspace/executeCommand", patch_form(&uri, line, 4)).await;
        assert_eq!(report["result"]["value"], "42", "{report}");
    } else {
        assert_eq!(report["result"]["value"], "42", "{report}");
    }

    // A compile error: a diagnostic at jank's line, and the page keeps the last good code.
    let broken = text.replace("(defn speed [] 3)", "(defn speed [] (nope 3))");
    client.notifications.clear();
    change(&mut client, &uri, 4, &broken).await;
    let line = line_of(&broken, "(nope 3)");
    let report = client.request("workspace/executeCommand", patch_form(&uri, line, 2)).await;
    let report = &report["result"];
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["error"]["stage"], "compile");
    assert!(report["error"]["message"].as_str().unwrap().contains("nope"), "{report}");
    let diagnostic = first_diagnostic(&mut client).await;
    assert_eq!(diagnostic["range"]["start"]["line"], line, "{diagnostic}");
    assert_eq!(diagnostic["code"], "compile");
    let column = broken.lines().nth(line as usize).unwrap().find("nope").unwrap();
    if mode == Mode::Fork {
        // No position from the fork: the whole form, and the message says so.
        assert_eq!(diagnostic["range"]["start"]["character"], 0, "{diagnostic}");
        assert!(diagnostic["message"].as_str().unwrap().ends_with("(jank gave no position)"), "{diagnostic}");
    } else {
        assert_eq!(diagnostic["range"]["start"]["character"], column, "at jank's position: {diagnostic}");
    }
    assert_eq!(page.eval("window.demoApp.values.speed").await, 3, "the page keeps the last good code");

    // Fixing it clears the diagnostic.
    change(&mut client, &uri, 5, &text).await;
    let report = client.request("workspace/executeCommand", patch_form(&uri, line, 2)).await;
    assert_eq!(report["result"]["ok"], true, "{report}");
    client
        .wait_for(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["diagnostics"] == json!([]), WAIT)
        .await
        .expect("diagnostics cleared");
    assert_eq!(color(&page).await, "gold");

    if mode == Mode::Fork {
        // The fork's code generator at its edges: a closure is refused, on the captured name,
        // with what to write instead; `true` (the integer 1 there) patches with a warning.
        text.push_str("\n(defn adder [x]\n  (fn [y] (+ x y)))\n");
        client.notifications.clear();
        change(&mut client, &uri, 6, &text).await;
        let line = line_of(&text, "(fn [y]");
        let report = client.request("workspace/executeCommand", patch_form(&uri, line, 2)).await;
        let message = report["result"]["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("jank's op cannot compile a closure over `x`"), "{report}");
        let diagnostic = first_diagnostic(&mut client).await;
        assert_eq!(diagnostic["severity"], 1, "{diagnostic}");
        assert_eq!(diagnostic["range"]["start"], json!({"line": line, "character": 13}), "at `x`: {diagnostic}");
        text = text.replace("(fn [y] (+ x y))", "(= x true)");
        client.notifications.clear();
        change(&mut client, &uri, 7, &text).await;
        let report = client.request("workspace/executeCommand", patch_form(&uri, line, 2)).await;
        assert_eq!(report["result"]["ok"], true, "{report}");
        let warned = client
            .wait_for(
                |m| {
                    m["method"] == "textDocument/publishDiagnostics"
                        && m["params"]["diagnostics"].as_array().is_some_and(|d| d.iter().any(|d| d["severity"] == 2))
                },
                WAIT,
            )
            .await
            .expect("a warning");
        let warning = &warned["params"]["diagnostics"][0];
        assert!(warning["message"].as_str().unwrap().starts_with("jank's op compiles `true` to the integer 1"));
        assert_eq!(warning["range"]["start"], json!({"line": line, "character": 7}), "at `true`: {warning}");
    }

    // A save that changed nothing patches nothing, and says so.
    client.notifications.clear();
    client.notify("textDocument/didSave", json!({"textDocument": {"uri": uri}})).await;
    let saved = client.wait_notification("jank/patchStatus").await;
    let saved = &saved["params"];
    assert_eq!(saved["ok"], true, "{saved}");
    assert_eq!(saved["forms"], json!([]), "{saved}");
    assert_eq!(saved["message"], "nothing changed since the last patch");

    browser.close().await;
    assert!(client.shutdown_and_exit().await.success());
}
