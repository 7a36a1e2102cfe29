//! The real `jank-hotpatch lsp` binary over stdio: lifecycle, documents, commands and bad
//! input. No jank is running here (but for the stand-in of the progress test, slow on purpose),
//! so patches stop at the compile stage with a clear error;
//! the full loop is tested in `pipeline_end_to_end.rs`.

use std::time::Duration;

use serde_json::{json, Value};
use test_support::lsp_client::{temp_workspace, LspClient};
use test_support::standin::Standin;

const SOURCE: &str =
    "(ns demo.core)\n\n(defn greet [n] (str \"héllo \" n))\n\n(comment\n  (greet \"🎉\")\n  (+ 1 2))\n";

async fn started(name: &str) -> (LspClient, std::path::PathBuf, String) {
    let ws = temp_workspace(name);
    // No .nrepl-port anywhere up the tree: point at a closed port so the error is stable.
    std::fs::write(ws.join("jank-hotpatch.toml"), "[nrepl]\nendpoint = \"127.0.0.1:9\"\n[app]\nport = 0\n").unwrap();
    let mut client = LspClient::start(&ws);
    let init = client.initialize(&ws, json!({})).await;
    let caps = &init["result"]["capabilities"];
    assert_eq!(caps["textDocumentSync"]["change"], 2, "incremental sync: {init}");
    assert_eq!(caps["textDocumentSync"]["save"]["includeText"], false);
    assert_eq!(
        caps["executeCommandProvider"]["commands"],
        json!(["jank.hotPatchForm", "jank.hotPatchFile", "jank.undoPatch"])
    );
    let uri = format!("file://{}/src/demo/core.jank", ws.display());
    (client, ws, uri)
}

fn form_command(uri: &str, line: u32, character: u32) -> Value {
    json!({"command": "jank.hotPatchForm", "arguments": [{"uri": uri, "position": {"line": line, "character": character}}]})
}

#[tokio::test]
async fn lifecycle_documents_and_commands() {
    let (mut client, _ws, uri) = started("lifecycle").await;
    client.open(&uri, SOURCE).await;
    // Incremental edits with non-ASCII text before the edit point on the same line.
    for (line, ch, text) in [(2, 26, "!"), (2, 27, "?"), (5, 10, "✨")] {
        client
            .notify(
                "textDocument/didChange",
                json!({"textDocument": {"uri": uri, "version": 2},
                       "contentChanges": [{"range": {"start": {"line": line, "character": ch}, "end": {"line": line, "character": ch}}, "text": text}]}),
            )
            .await;
    }
    // The form at a position: the defn.
    let response = client.request("workspace/executeCommand", form_command(&uri, 2, 8)).await;
    let report = &response["result"];
    assert_eq!(report["ok"], false, "{response}");
    assert_eq!(report["uri"], uri);
    assert_eq!(report["forms"][0]["name"], "greet", "{report}");
    assert_eq!(report["forms"][0]["ns"], "demo.core");
    assert_eq!(report["forms"][0]["range"]["start"], json!({"line": 2, "character": 0}));
    assert_eq!(report["error"]["stage"], "compile", "{report}");
    for key in ["readMs", "compileMs", "buildMs", "checkMs", "deliverMs", "loadMs"] {
        assert!(report["stages"][key].is_number(), "{key} in {report}");
    }
    // The failure is a diagnostic on the form, and the report is pushed as a notification.
    let status = client.wait_notification("jank/patchStatus").await;
    assert_eq!(status["params"]["forms"][0]["name"], "greet");
    let diagnostics = client
        .wait_for(
            |m| {
                m["method"] == "textDocument/publishDiagnostics"
                    && m["params"]["diagnostics"].as_array().is_some_and(|d| !d.is_empty())
            },
            Duration::from_secs(10),
        )
        .await
        .expect("diagnostics for the failed patch");
    assert_eq!(diagnostics["params"]["diagnostics"][0]["source"], "jank-hotpatch");
    assert_eq!(diagnostics["params"]["diagnostics"][0]["range"]["start"]["line"], 2);

    // Inside (comment ...): the body form at the cursor, not the comment. Line 5 is
    // `  (greet "✨🎉")`, an expression.
    let response = client.request("workspace/executeCommand", form_command(&uri, 5, 4)).await;
    let report = &response["result"];
    assert_eq!(report["forms"][0]["range"]["start"], json!({"line": 5, "character": 2}), "{report}");
    assert_eq!(report["forms"][0]["range"]["end"]["line"], 5, "{report}");

    // Patch on save goes through the same pipeline.
    client.notify("textDocument/didSave", json!({"textDocument": {"uri": uri}})).await;
    let status = client.wait_notification("jank/patchStatus").await;
    assert_eq!(status["params"]["uri"], uri);
    assert_eq!(status["params"]["ok"], false);

    let exit = client.shutdown_and_exit().await;
    assert!(exit.success());
}

#[tokio::test]
async fn bad_input_gets_an_error_and_the_server_keeps_serving() {
    let (mut client, ws, uri) = started("badinput").await;
    client.open(&uri, SOURCE).await;

    // Malformed JSON-RPC: a parse error reply, then business as usual.
    client.send_raw(b"{this is not json").await;
    let reply =
        client.wait_for(|m| m.get("error").is_some(), Duration::from_secs(10)).await.expect("parse error reply");
    assert_eq!(reply["error"]["code"], -32700, "{reply}");

    let cases = [
        (json!({"command": "jank.nope", "arguments": [{}]}), "unknown command"),
        (json!({"command": "jank.hotPatchForm", "arguments": []}), "needs one argument"),
        (json!({"command": "jank.hotPatchForm", "arguments": [{"uri": 42}]}), "bad arguments"),
        (
            json!({"command": "jank.hotPatchForm", "arguments": [{"uri": uri, "position": {"line": "x", "character": 0}}]}),
            "bad arguments",
        ),
        (form_command(&uri, 999, 0), "past the end"),
        (form_command("file:///never/opened.jank", 0, 0), "is not open"),
        (json!({"command": "jank.undoPatch", "arguments": [{"uri": uri, "line": 3}]}), "unknown field `line`"),
        // Every command refuses fields it does not know, e.g. another casing of its own.
        (
            json!({"command": "jank.hotPatchForm", "arguments": [{"uri": uri, "position": {"line": 2, "character": 8}, "force": true}]}),
            "unknown field `force`",
        ),
        (json!({"command": "jank.hotPatchFile", "arguments": [{"uri": uri, "text_document": uri}]}), "unknown field `text_document`"),
        (json!({"command": "jank.undoPatch", "arguments": [{"uri": uri, "Position": {"line": 2, "character": 8}}]}), "unknown field `Position`"),
        (
            json!({"command": "jank.undoPatch", "arguments": [{"uri": "file:///never/opened.jank", "position": {"line": 0, "character": 0}}]}),
            "is not open",
        ),
    ];
    for (params, expected) in cases {
        let response = client.request("workspace/executeCommand", params.clone()).await;
        assert_eq!(response["error"]["code"], -32602, "{params} -> {response}");
        let message = response["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{params}: `{message}` should say `{expected}`");
    }

    // A file that is not jank.
    let txt = format!("file://{}/notes.txt", ws.display());
    client.open(&txt, "just (some text\n").await;
    let response = client.request("workspace/executeCommand", form_command(&txt, 0, 6)).await;
    assert!(response["error"]["message"].as_str().unwrap_or_default().contains("not a jank file"), "{response}");

    // A change for a document never opened: a warning, not a crash.
    client
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": "file:///ghost.jank", "version": 2}, "contentChanges": [{"text": "x"}]}),
        )
        .await;
    let warning = client.wait_notification("window/showMessage").await;
    assert!(warning["params"]["message"].as_str().unwrap_or_default().contains("never opened"), "{warning}");

    // Unbalanced input: a diagnostic at the unmatched delimiter.
    let broken = format!("file://{}/broken.jank", ws.display());
    client.open(&broken, "(ns x)\n(defn f [a]\n  (+ a 1)\n").await;
    let diags = client
        .wait_for(
            |m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == broken.as_str(),
            Duration::from_secs(10),
        )
        .await
        .expect("diagnostics for the unbalanced file");
    let first = &diags["params"]["diagnostics"][0];
    assert_eq!(first["range"]["start"], json!({"line": 1, "character": 0}), "{diags}");

    // A 5 MB file: opened, read and answered.
    let big_uri = format!("file://{}/big.jank", ws.display());
    let mut big = String::from("(ns big.core)\n");
    let mut i = 0;
    while big.len() < 5 * 1024 * 1024 {
        big.push_str(&format!("(defn f{i} [x] (+ x {i}))\n"));
        i += 1;
    }
    client.open(&big_uri, &big).await;
    let response = client.request("workspace/executeCommand", form_command(&big_uri, 1000, 3)).await;
    assert_eq!(
        response["result"]["forms"][0]["name"],
        "f999",
        "{}",
        response.to_string().chars().take(400).collect::<String>()
    );

    // Still serving.
    let response = client.request("workspace/executeCommand", form_command(&uri, 2, 1)).await;
    assert_eq!(response["result"]["forms"][0]["name"], "greet");
    assert!(client.shutdown_and_exit().await.success());
}

#[tokio::test]
async fn bad_settings_are_reported_and_defaults_stay() {
    let ws = temp_workspace("settings");
    std::fs::write(ws.join("jank-hotpatch.toml"), "patchOnSave = \"sometimes\"\ncolour = 3\n[app]\nport = 0\n")
        .unwrap();
    let mut client = LspClient::start(&ws);
    client.initialize(&ws, json!({"build": {"toolchain": "gcc"}})).await;
    let mut messages = Vec::new();
    for _ in 0..3 {
        let m = client.wait_notification("window/showMessage").await;
        messages.push(m["params"]["message"].as_str().unwrap_or_default().to_string());
    }
    let all = messages.join("\n");
    assert!(all.contains("patchOnSave") && all.contains("keeping true"), "{all}");
    assert!(all.contains("unknown setting `colour`"), "{all}");
    assert!(all.contains("build.toolchain"), "{all}");
    assert!(client.shutdown_and_exit().await.success());
}

#[tokio::test]
async fn editor_gone_without_shutdown_makes_the_sidecar_exit() {
    let ws = temp_workspace("gone");
    let mut client = LspClient::start(&ws);
    client.initialize(&ws, json!({"app": {"port": 0}})).await;
    let mut child = client.close_stdin();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("sidecar exits when stdin closes")
        .expect("the sidecar's exit status");
    assert!(status.success(), "an editor that goes away is a normal end, not a crash: {status}");
}

/// Issue 28, point 6: a save whose patch cannot start (here: a file the editor never opened)
/// is told to the user with its reason, not only logged.
#[tokio::test]
async fn a_save_whose_patch_cannot_start_is_told_to_the_user() {
    let (mut client, _ws, uri) = started("save-unopened").await;
    client.notify("textDocument/didSave", json!({"textDocument": {"uri": uri}})).await;
    let shown = client
        .wait_for(|m| m["method"] == "window/showMessage", Duration::from_secs(10))
        .await
        .expect("a window/showMessage");
    let message = shown["params"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("patch on save") && message.contains("is not open"), "{shown}");
    assert!(client.shutdown_and_exit().await.success());
}

/// Progress is for patches one can watch: a patch done within 200 ms shows none (no
/// `window/workDoneProgress/create`, no `$/progress`); a slower one shows it, begun at the
/// stage it has reached and ended with its summary.
#[tokio::test]
async fn only_a_patch_that_takes_a_while_shows_progress() {
    let progress = |m: &Value| m["method"] == "window/workDoneProgress/create" || m["method"] == "$/progress";

    // Fast: no jank on the endpoint, so the patch fails at once at the compile stage.
    let (mut client, _ws, uri) = started("progress-fast").await;
    client.open(&uri, SOURCE).await;
    let response = client.request("workspace/executeCommand", form_command(&uri, 2, 8)).await;
    assert_eq!(response["result"]["error"]["stage"], "compile", "{response}");
    // A later round trip: anything the patch's progress sent is read before its answer.
    let later =
        client.request("workspace/executeCommand", json!({"command": "jank.hotPatchForm", "arguments": []})).await;
    assert!(later["error"].is_object(), "{later}");
    let seen: Vec<Value> = std::iter::from_fn(|| client.notifications.pop_front()).filter(|m| progress(m)).collect();
    assert!(seen.is_empty(), "a fast patch showed progress: {seen:?}");
    assert!(client.shutdown_and_exit().await.success());

    // Slow: jank takes 1.5 s to compile the form.
    let ws = temp_workspace("progress-slow");
    std::fs::write(ws.join("jank-hotpatch.toml"), "[app]\nport = 0\n").unwrap();
    let _jank = Standin::start(&ws, &["--delay-ms", "1500"]);
    let mut client = LspClient::start(&ws);
    client.initialize(&ws, json!({})).await;
    let uri = format!("file://{}/src/demo/core.jank", ws.display());
    client.open(&uri, SOURCE).await;
    let patch = client.send_request("workspace/executeCommand", form_command(&uri, 2, 8)).await;
    let created = client.wait_for(|m| m["method"] == "window/workDoneProgress/create", Duration::from_secs(10)).await;
    let token = created.expect("a slow patch asks to show progress")["params"]["token"].clone();
    let begin = client.wait_for(|m| m["method"] == "$/progress", Duration::from_secs(10)).await.expect("its begin");
    assert_eq!(begin["params"]["token"], token);
    assert_eq!(begin["params"]["value"]["kind"], "begin", "{begin}");
    assert_eq!(begin["params"]["value"]["title"], "jank: hot-patching core.jank", "{begin}");
    assert_eq!(begin["params"]["value"]["message"], "compile", "begun at the stage it reached: {begin}");
    let end = client
        .wait_for(|m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "end", Duration::from_secs(30))
        .await
        .expect("its end");
    assert_eq!(end["params"]["token"], token);
    assert!(client.response(patch).await.is_some());
    assert!(client.shutdown_and_exit().await.success());
}
