//! A form that fails before it reaches the page (here at compile) shows in the page's HUD,
//! with file, line, column, message and the form, as shadow-cljs and figwheel show compiler
//! errors, and the next good patch of that form clears it. Through the real `jank-hotpatch
//! lsp` binary, the stand-in jank, the real toolchain and real headless Chromium.

mod support;

use std::time::Duration;

use serde_json::json;
use support::demo::{open_demo, OpenDemo};
use test_support::cdp::{Browser, Page};
use test_support::lsp_client::LspClient;

const WAIT: Duration = Duration::from_secs(30);
const HUD: &str = "document.getElementById('jank-hotpatch-hud')";

async fn save(client: &mut LspClient, uri: &str, version: i32, text: &str) -> serde_json::Value {
    client.notifications.clear();
    let change = json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]});
    client.notify("textDocument/didChange", change).await;
    client.notify("textDocument/didSave", json!({"textDocument": {"uri": uri}})).await;
    client.wait_notification("jank/patchStatus").await["params"].clone()
}

async fn hud_text(page: &Page) -> String {
    let text = page.wait_for(&format!("{HUD} && {HUD}.textContent"), WAIT).await;
    text.as_str().unwrap_or_default().to_string()
}

async fn radius(page: &Page) -> serde_json::Value {
    page.eval("window.demoApp.values && window.demoApp.values.radius").await
}

#[tokio::test]
async fn a_form_that_fails_to_compile_shows_in_the_hud_until_its_next_good_patch() {
    let browser = Browser::launch().await;
    let OpenDemo { mut client, page, jank: _jank, uri, text: good, url } = open_demo("page-hud", &browser).await;
    let path = std::path::PathBuf::from(uri.trim_start_matches("file://"));
    let report = save(&mut client, &uri, 1, &good).await;
    assert_eq!(report["ok"], true, "{report}");
    page.wait_for("window.demoApp.values && window.demoApp.values.radius === 18", WAIT).await;

    // Break radius and save: the editor hears of it, and so does the page.
    let broken = good.replace("(defn radius [] 18)", "(defn radius [] (nope 18))");
    let report = save(&mut client, &uri, 2, &broken).await;
    assert_eq!((report["ok"].clone(), report["error"]["stage"].clone()), (json!(false), json!("compile")), "{report}");
    let line = broken.lines().position(|l| l.contains("(nope 18)")).unwrap() + 1;
    let column = broken.lines().nth(line - 1).unwrap().find("nope").unwrap() + 1;
    let hud = hud_text(&page).await;
    for expected in [
        "demo.core/radius (compile)".to_string(),
        "nope".to_string(),
        format!("{}:{line}:{column}", path.display()),
        "(defn radius [] (nope 18))".to_string(),
    ] {
        assert!(hud.contains(&expected), "the HUD lacks `{expected}`: {hud}");
    }
    assert_eq!(radius(&page).await, 18, "the page keeps the last good code");

    // A page opened now sees the failure too.
    let late = browser.open(&url).await;
    late.wait_for("window.demoApp.values && window.demoApp.values.radius === 18", WAIT).await;
    assert!(hud_text(&late).await.contains("demo.core/radius (compile)"));

    // Undo the edit and save: nothing to patch (the pages run that code), and the HUD clears.
    let report = save(&mut client, &uri, 3, &good).await;
    assert_eq!(report["message"], "nothing changed since the last patch", "{report}");
    for page in [&page, &late] {
        page.wait_for(&format!("!{HUD}"), WAIT).await;
    }

    // Break it again, then fix it with new code: the patch loads and clears the HUD.
    let report = save(&mut client, &uri, 4, &broken).await;
    assert_eq!(report["error"]["stage"], "compile", "{report}");
    assert!(hud_text(&page).await.contains("demo.core/radius (compile)"));
    let fixed = good.replace("(defn radius [] 18)", "(defn radius [] 24)");
    let report = save(&mut client, &uri, 5, &fixed).await;
    assert_eq!(report["ok"], true, "{report}");
    page.wait_for(&format!("window.demoApp.values.radius === 24 && !{HUD}"), WAIT).await;
    late.wait_for(&format!("window.demoApp.values.radius === 24 && !{HUD}"), WAIT).await;

    browser.close().await;
    assert!(client.shutdown_and_exit().await.success());
}
