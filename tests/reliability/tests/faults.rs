//! Faults, one per test, each through the real sidecar binary with the demo workspace: jank
//! killed mid-compile and restarted, the toolchain crashing, hanging or missing, an
//! unwritable cache directory, a page closed while it loads, the sidecar killed while it
//! broadcasts and restarted, the editor going away without `shutdown`. After each fault the
//! next good patch must go through.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reliability::figures::record;
use reliability::workspace::{
    demo_workspace, free_port, running_demo, values, wait_color, wait_until, Jank, Running, Sidecar, WAIT,
};
use serde_json::{json, Value};

fn survived(fault: &str) {
    record(&format!("faults survived: 1 ({fault})"));
}

fn assert_ok(report: &Value) {
    assert_eq!(report["ok"], true, "{report}");
}

fn assert_failed_at(report: &Value, stage: &str) -> String {
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["error"]["stage"], stage, "{report}");
    let message = report["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(!message.is_empty(), "a failure without a reason: {report}");
    message
}

#[tokio::test]
async fn jank_killed_mid_compile_then_restarted_on_the_same_port_file() {
    let Running { dir, jank, mut sidecar, browser, page } =
        running_demo("fault-jank", json!({"app": {"port": 0}})).await;

    // A jank that takes 5 s per compile, killed once it has the compile request.
    jank.kill();
    let mut slow = Jank::start(&dir, &["--delay-ms", "5000"]);
    sidecar.set_defn("color", "clicks", "\"gold\"").await;
    let id = sidecar.send_patch("color").await;
    slow.compile_received().await;
    slow.kill();
    let report = sidecar.client.response(id).await.expect("a report for the patch whose compile was cut");
    let message = assert_failed_at(&report["result"], "compile");
    assert_eq!(values_color(&page).await, "tomato", "the page keeps the last good code");

    // jank comes back (a new port in the same .nrepl-port): the sidecar reconnects.
    let _jank = Jank::start(&dir, &[]);
    assert_ok(&sidecar.patch_color("lime").await);
    wait_color(&page, "lime").await;
    browser.close().await;
    survived(&format!("jank's nREPL killed mid-compile ({message}), restarted; next patch ok"));
}

async fn values_color(page: &reliability::cdp::Page) -> Value {
    reliability::workspace::values(page).await["color"].clone()
}

/// emscripten as installed, behind an `emcc` that crashes while `crash` exists next to it and
/// hangs while `hang` does.
/// The journal's entries as a sidecar starting now would read them: from the slot of the
/// highest generation that reads whole (see `deliver/journal.rs`).
fn journal_entries(dir: &Path) -> Option<Value> {
    ["journal-0.json", "journal-1.json"]
        .iter()
        .filter_map(|slot| serde_json::from_slice::<Value>(&std::fs::read(dir.join(slot)).ok()?).ok())
        .max_by_key(|written| written["generation"].as_u64())
        .map(|written| written["entries"].clone())
}

fn flaky_emscripten(dir: &Path) -> PathBuf {
    let root = dir.join("flaky-emscripten");
    std::fs::create_dir_all(&root).unwrap();
    let emcc = root.join("emcc");
    std::fs::write(
        &emcc,
        "#!/bin/sh\ndir=$(dirname \"$0\")\n\
         if [ -e \"$dir/crash\" ]; then echo 'Stack dump:' >&2; kill -SEGV $$; fi\n\
         if [ -e \"$dir/hang\" ]; then exec sleep 60; fi\n\
         exec /usr/bin/emcc \"$@\"\n",
    )
    .unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&emcc).status().unwrap();
    root
}

fn toolchain_options(root: &Path) -> Value {
    json!({"app": {"port": 0}, "build": {"toolchain": "emcc", "emscriptenRoot": root, "timeoutMs": 5000}})
}

#[tokio::test]
async fn the_toolchain_crashing_then_working_again() {
    let dir = demo_workspace("fault-crash");
    let _jank = Jank::start(&dir, &[]);
    let root = flaky_emscripten(&dir);
    let mut sidecar = Sidecar::start(&dir, toolchain_options(&root)).await;
    std::fs::write(root.join("crash"), "").unwrap();
    let report = sidecar.patch_color("gold").await;
    let message = assert_failed_at(&report, "build");
    assert!(message.contains("signal 11") || message.contains("crash"), "{message}");
    std::fs::remove_file(root.join("crash")).unwrap();
    let report = sidecar.patch_color("lime").await;
    assert_ok(&report);
    assert!(report["stages"]["buildMs"].as_f64().unwrap_or(0.0) > 0.0, "{report}");
    survived("the toolchain crashed (SIGSEGV); next patch ok");
}

#[tokio::test]
async fn the_toolchain_hanging_is_stopped_at_the_timeout() {
    let dir = demo_workspace("fault-hang");
    let _jank = Jank::start(&dir, &[]);
    let root = flaky_emscripten(&dir);
    let mut sidecar = Sidecar::start(&dir, toolchain_options(&root)).await;
    std::fs::write(root.join("hang"), "").unwrap();
    let report = sidecar.patch_color("gold").await;
    let message = assert_failed_at(&report, "build");
    assert!(message.contains("5000 ms"), "the message names the timeout: {message}");
    std::fs::remove_file(root.join("hang")).unwrap();
    assert_ok(&sidecar.patch_color("lime").await);
    survived("the toolchain hung (stopped at build.timeoutMs); next patch ok");
}

#[tokio::test]
async fn a_missing_toolchain_then_configured() {
    let dir = demo_workspace("fault-missing");
    let _jank = Jank::start(&dir, &[]);
    let empty = dir.join("no-emscripten");
    std::fs::create_dir_all(&empty).unwrap();
    let mut sidecar = Sidecar::start(&dir, toolchain_options(&empty)).await;
    let report = sidecar.patch_color("gold").await;
    let message = assert_failed_at(&report, "build");
    assert!(message.contains("emcc"), "the message says what is missing: {message}");

    // The user points the setting at an emscripten: the sidecar restarts its stages.
    let root = flaky_emscripten(&dir);
    sidecar.client.configuration = json!({"build": {"emscriptenRoot": root}});
    sidecar.client.notify("workspace/didChangeConfiguration", json!({"settings": null})).await;
    sidecar
        .client
        .wait_for(|m| m["method"] == "jank/serverStatus" && m["params"]["health"] == "ok", WAIT)
        .await
        .expect("a healthy status once emscripten is found");
    assert_ok(&sidecar.patch_color("lime").await);
    survived("the toolchain was missing, then configured; next patch ok");
}

#[tokio::test]
async fn an_unwritable_cache_dir_does_not_stop_patches() {
    // Tests run as root, where chmod stops no write: a directory under a regular file can
    // never be created, by anyone.
    let blocker = std::env::temp_dir().join(format!("jh-not-a-dir-{}", std::process::id()));
    std::fs::write(&blocker, "").unwrap();
    let options = json!({"app": {"port": 0}, "cacheDir": blocker.join("cache")});
    let Running { jank: _jank, mut sidecar, browser, page, .. } = running_demo("fault-cache", options).await;
    assert_ok(&sidecar.patch_color("gold").await);
    wait_color(&page, "gold").await;
    browser.close().await;
    std::fs::remove_file(&blocker).unwrap();
    survived("the cache dir cannot be written (cacheDir under a regular file); patches ok");
}

/// Wraps the page's WebSocket so that, once `window.__holdPatches` is set, a patch frame
/// (binary) is counted in `window.__patchFramesHeld` and handed to the client only 60 s later:
/// the page has the frame and has not loaded it.
const HOLD_PATCH_FRAMES: &str = r#"
window.__patchFramesHeld = 0;
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  set onmessage(handler) {
    super.onmessage = (event) => {
      if (window.__holdPatches && typeof event.data !== 'string') {
        window.__patchFramesHeld += 1;
        setTimeout(() => handler(event), 60000);
      } else {
        handler(event);
      }
    };
  }
};
"#;

#[tokio::test]
async fn a_page_closed_while_it_loads() {
    let Running { jank: _jank, mut sidecar, browser, page: stays, .. } =
        running_demo("fault-page", json!({"app": {"port": 0}})).await;

    // A second page connects, receives the patch frame, and is closed before it loads it.
    let leaving = browser.open("about:blank").await;
    leaving.add_script_on_new_document(HOLD_PATCH_FRAMES).await;
    leaving.navigate(sidecar.app_url()).await;
    leaving.wait_for("window.jankHotpatch && window.jankHotpatch.connected", WAIT).await;
    assert_eq!(leaving.eval("typeof window.__patchFramesHeld").await, "number", "the frame holder is in place");
    wait_color(&leaving, "tomato").await;
    leaving.eval("window.__holdPatches = true").await;
    sidecar.set_defn("color", "clicks", "\"gold\"").await;
    let id = sidecar.send_patch("color").await;
    leaving.wait_for("window.__patchFramesHeld >= 1", WAIT).await;
    let held = leaving.eval("window.__patchFramesHeld").await;
    let loaded_there = leaving.eval("window.demoApp.values.color").await;
    leaving.close().await;
    let report = sidecar.client.response(id).await.expect("a report although a page left");
    assert_ok(&report["result"]);
    wait_color(&stays, "gold").await;

    assert_ok(&sidecar.patch_color("lime").await);
    wait_color(&stays, "lime").await;
    browser.close().await;
    assert_eq!(loaded_there, "tomato", "the leaving page had not loaded the patch when it closed");
    record(&format!(
        "faults: a page closed with {held} patch frame(s) received and not loaded (its color still {loaded_there}); the report came back ok ({} page(s) were connected when the patch went out)",
        report["result"]["pages"]
    ));
    survived("a page closed while loading a patch; next patch ok");
}

#[tokio::test]
async fn the_sidecar_killed_mid_broadcast_and_restarted() {
    let options = json!({"app": {"port": free_port()}});
    let Running { dir, jank: _jank, mut sidecar, browser, page } = running_demo("fault-sidecar", options.clone()).await;
    let url = sidecar.app_url().to_string();

    // The page stops answering (paused in the debugger), so the sidecar is certainly still
    // broadcasting (waiting for its ack) when it is killed. It is killed once the journal on
    // disk has the patch: the sidecar saves it only after the patch went out to the pages.
    let journal = dir.join(".jank-hotpatch/journal");
    let journaled = journal_entries(&journal).expect("the journal of the first patches");
    page.call("Debugger.enable", json!({})).await.unwrap();
    page.call("Debugger.pause", json!({})).await.unwrap();
    sidecar.set_defn("color", "clicks", "\"gold\"").await;
    let _ = sidecar.send_patch("color").await;
    wait_until("the journal on disk has the patch", || journal_entries(&journal).is_some_and(|now| now != journaled))
        .await;
    sidecar.client.child.start_kill().unwrap();
    let _ = sidecar.client.child.wait().await;
    drop(sidecar);
    page.call("Debugger.resume", json!({})).await.unwrap();
    page.call("Debugger.disable", json!({})).await.unwrap();

    // A new sidecar on the same workspace: same port, same token, the persisted journal.
    let mut sidecar = Sidecar::start(&dir, options).await;
    assert_eq!(sidecar.app_url(), url, "the restarted sidecar serves the same URL");
    page.wait_for("window.jankHotpatch.connected && window.jankHotpatch.connections >= 2", WAIT).await;
    wait_color(&page, "gold").await;
    let late = browser.open(&url).await;
    wait_color(&late, "gold").await;

    assert_ok(&sidecar.patch_color("lime").await);
    wait_color(&page, "lime").await;
    wait_color(&late, "lime").await;
    browser.close().await;
    survived("the sidecar killed (SIGKILL) mid-broadcast, restarted; pages caught up from the journal; next patch ok");
}

#[tokio::test]
async fn the_editor_going_away_without_shutdown_frees_the_ports() {
    let dir = demo_workspace("fault-editor");
    let _jank = Jank::start(&dir, &[]);
    let port = free_port();
    let options = json!({"app": {"port": port}});
    let sidecar = Sidecar::start(&dir, options.clone()).await;
    assert!(sidecar.app_url().contains(&format!(":{port}/")));
    let mut child = sidecar.client.close_stdin();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the sidecar exits when its editor goes away")
        .expect("its exit status");
    assert!(status.success(), "{status}");
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the app port is free again");

    let mut sidecar = Sidecar::start(&dir, options).await;
    assert!(sidecar.app_url().contains(&format!(":{port}/")), "the next sidecar gets the same port");
    assert_ok(&sidecar.patch_color("lime").await);
    survived("the editor disconnected without shutdown (sidecar exited, port freed); next patch ok");
}

#[tokio::test]
async fn jank_restarted_without_the_namespace_loads_it_again_by_itself() {
    let Running { dir, jank, mut sidecar, browser, page } =
        running_demo("fault-jank-restart", json!({"app": {"port": 0}})).await;
    // A fresh jank knows nothing of demo.core: a form that calls a var of the namespace
    // resolves only if the sidecar loads the file into it again.
    jank.kill();
    let _jank = Jank::start(&dir, &[]);
    sidecar.set_defn("radius", "", "(+ (speed) 10)").await;
    let report = sidecar.patch("radius").await;
    assert_ok(&report);
    page.wait_for("window.demoApp.values && window.demoApp.values.radius === 13", WAIT).await;

    assert_ok(&sidecar.patch_color("lime").await);
    wait_color(&page, "lime").await;
    browser.close().await;
    survived("jank restarted with nothing loaded; the next patch loaded the namespace again by itself; next patch ok");
}

#[tokio::test]
async fn the_journal_directory_removed_or_unwritable_while_running() {
    let Running { dir, jank: _jank, mut sidecar, browser, page } =
        running_demo("fault-journal", json!({"app": {"port": 0}})).await;
    let journal = dir.join(".jank-hotpatch/journal");
    assert!(journal.is_dir(), "the journal is on disk after the first patches");

    // Removed: the next save writes it again.
    std::fs::remove_dir_all(&journal).expect("remove the journal");
    let report = sidecar.patch_color("gold").await;
    assert_ok(&report);
    assert!(report.get("warnings").is_none(), "{report}");
    wait_color(&page, "gold").await;
    assert!(journal.is_dir(), "the journal is written again");

    // Unwritable (a file where the directory should be; chmod does not stop root): the page
    // gets the patch and the report says what is lost.
    std::fs::remove_dir_all(&journal).unwrap();
    std::fs::write(&journal, "not a directory").unwrap();
    let report = sidecar.patch_color("orange").await;
    assert_ok(&report);
    wait_color(&page, "orange").await;
    let warnings = report["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{report}");
    assert!(warnings[0].as_str().unwrap_or_default().contains("journal could not be saved"), "{report}");
    assert!(report["summary"].as_str().unwrap_or_default().contains("warning"), "{report}");
    let status = sidecar
        .client
        .wait_for(
            |m| {
                m["method"] == "window/showMessage"
                    && m["params"]["message"].as_str().unwrap_or_default().contains("journal")
            },
            WAIT,
        )
        .await;
    assert!(status.is_some(), "the editor is told");

    std::fs::remove_file(&journal).unwrap();
    let report = sidecar.patch_color("lime").await;
    assert_ok(&report);
    assert!(report.get("warnings").is_none(), "{report}");
    wait_color(&page, "lime").await;
    browser.close().await;
    record(&format!("faults: journal unwritable: the patch applied with {} warning in its report", warnings.len()));
    survived("the journal directory removed, then unwritable, while running; next patch ok");
}

#[tokio::test]
async fn saves_in_the_middle_of_a_running_patch_of_the_same_form_never_land_out_of_order() {
    const SAVES: usize = 100;
    let dir = demo_workspace("fault-saves");
    // Every compile takes 30 ms, so each save of a burst arrives while earlier ones are in
    // flight.
    let _jank = Jank::start(&dir, &["--delay-ms", "30"]);
    let mut sidecar = Sidecar::start(&dir, json!({"app": {"port": 0}})).await;
    assert_ok(&sidecar.patch_file().await);
    let browser = reliability::cdp::Browser::launch().await;
    let page = browser.open(sidecar.app_url()).await;
    wait_color(&page, "tomato").await;
    // The page notes every color it runs, in order, whenever a patch lands.
    page.eval(
        "window.__colors = []; setInterval(() => { const v = window.demoApp.values; \
         if (v && window.__colors[window.__colors.length - 1] !== v.color) window.__colors.push(v.color); }, 1)",
    )
    .await;

    let mut ids = Vec::new();
    let mut answers = std::collections::HashMap::new();
    for i in 0..SAVES {
        sidecar.set_defn("color", "clicks", &format!("\"save-{i}\"")).await;
        ids.push(sidecar.send_patch("color").await);
        // Every tenth save, the burst's newest is waited for, so that versions land between
        // the bursts and their order in the page can be checked.
        if i % 10 == 9 {
            let last = *ids.last().unwrap();
            answers.insert(last, sidecar.client.response(last).await.expect("every save is answered"));
        }
    }
    let mut delivered = 0;
    for id in &ids {
        let response = match answers.remove(id) {
            Some(response) => response,
            None => sidecar.client.response(*id).await.expect("every save is answered"),
        };
        let report = &response["result"];
        assert!(report["ok"] == true || report["superseded"] == true, "{report}");
        delivered += usize::from(report["superseded"] != true);
    }
    wait_color(&page, &format!("save-{}", SAVES - 1)).await;
    // The sampler runs on its own timer: the newest color is in its list once it has run since.
    page.wait_for(&format!("window.__colors.includes('save-{}')", SAVES - 1), WAIT).await;
    let seen: Vec<usize> = page
        .eval("window.__colors")
        .await
        .as_array()
        .expect("the colors the page ran")
        .iter()
        .filter_map(|c| c.as_str()?.strip_prefix("save-")?.parse().ok())
        .collect();
    let out_of_order = seen.windows(2).filter(|w| w[1] < w[0]).count();
    assert_eq!(out_of_order, 0, "an older version landed after a newer one: {seen:?}");
    assert_eq!(seen.last(), Some(&(SAVES - 1)), "the newest lands last: {seen:?}");
    assert!(seen.len() > 1, "versions landed between the bursts, so their order could be seen: {seen:?}");

    assert_ok(&sidecar.patch_color("lime").await);
    wait_color(&page, "lime").await;
    browser.close().await;
    record(&format!(
        "faults: {SAVES} saves of one form during running patches: {delivered} delivered, {} superseded, the page ran {} versions, {out_of_order} out of order",
        SAVES - delivered,
        seen.len()
    ));
    survived("100 saves in the middle of running patches of the same form; newest landed last; next patch ok");
}

#[tokio::test]
async fn a_page_that_stops_reading_its_socket_is_dropped_and_the_others_go_on() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let dir = demo_workspace("fault-deaf-page");
    let _jank = Jank::start(&dir, &[]);
    let log = dir.join("sidecar.log");
    let mut sidecar = Sidecar::start_logged(&dir, json!({"app": {"port": 0}}), &log).await;
    assert_ok(&sidecar.patch_file().await);
    let browser = reliability::cdp::Browser::launch().await;
    let page = browser.open(sidecar.app_url()).await;
    wait_color(&page, "tomato").await;

    // A page that connects properly, reads its welcome, and then never reads again.
    let url = sidecar.app_url().to_string();
    let origin = url.split("/?").next().unwrap().to_string();
    let token = url.split("token=").nth(1).unwrap().to_string();
    let mut request =
        format!("{}/_jank/ws?token={token}", origin.replace("http://", "ws://")).into_client_request().unwrap();
    request.headers_mut().insert("Origin", origin.parse().unwrap());
    let (mut deaf, _) = tokio_tungstenite::connect_async(request).await.expect("the deaf page connects");
    let _welcome = deaf.next().await;

    let report = sidecar.patch_color("gold").await;
    assert_ok(&report);
    wait_color(&page, "gold").await;
    let pages_with_deaf = report["pages"].as_u64().unwrap_or_default();
    let warning = report["warnings"][0].as_str().unwrap_or_default().to_string();
    assert!(warning.contains("did not answer") && warning.contains("dropped"), "{report}");
    let report = sidecar.patch_color("lime").await;
    assert_ok(&report);
    wait_color(&page, "lime").await;
    let pages_after = report["pages"].as_u64().unwrap_or_default();
    assert_eq!((pages_with_deaf, pages_after), (2, 1), "the deaf page was counted, then dropped");
    // The sidecar logs the drop before the report that says so goes out.
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    let reason = logged.lines().find(|l| l.contains("dropped")).map(str::to_string);
    assert!(reason.is_some(), "the drop is logged with its reason in {}:\n{logged}", log.display());
    drop(deaf);
    browser.close().await;
    record(&format!(
        "faults: a page that stopped reading was dropped ({}); the other page applied every patch",
        reason.unwrap_or_default().trim()
    ));
    survived("a page that stops reading its socket is dropped with a reason; the others go on; next patch ok");
}

/// The connected pages as the sidecar's token-protected status endpoint lists them.
async fn status_pages(app_url: &str) -> Vec<Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (base, token) = app_url.split_once("/?token=").expect("the app URL carries its token");
    let host = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect to the app server");
    let request = format!("GET /_jank/status?token={token} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let status: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("status JSON ({e}): {response}"));
    status["pages"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_app_rebuilt_while_pages_are_open() {
    let Running { dir, jank: _jank, mut sidecar, browser, page } =
        running_demo("fault-rebuilt", json!({"app": {"port": 0}})).await;
    let url = sidecar.app_url().to_string();
    // The page has said which build it runs: it sends its hello once its main module runs,
    // and a patch it acks after that, on the same socket, proves the sidecar read the hello.
    page.wait_for("window.jankHotpatch.mainModule && window.jankHotpatch.mainModule.sha256", WAIT).await;
    let report = sidecar.patch_color("gold").await;
    assert_ok(&report);
    assert_eq!(report["pages"], 1, "{report}");
    let pages = status_pages(&url).await;
    let said = pages.first().and_then(|p| p["api"]["main_module_sha256"].as_str()).unwrap_or_default().to_string();
    assert_eq!(said.len(), 64, "the page reported its main module's sha256: {pages:?}");

    // A rebuild: the same exports, other bytes (a custom section appended, as a new build's
    // debug info or build id would change them).
    let main_module = dir.join("app/app.wasm");
    let mut bytes = std::fs::read(&main_module).unwrap();
    let name = b"jank-hotpatch-rebuild";
    bytes.extend_from_slice(&[0, (1 + name.len() + 4) as u8, name.len() as u8]);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(b"v2!!");
    std::fs::write(&main_module, &bytes).unwrap();

    let report = sidecar.patch_color("orange").await;
    assert_ok(&report);
    let warning = report["warnings"][0].as_str().unwrap_or_default().to_string();
    assert!(warning.contains("runs an older build of the app") && warning.contains(&said[..12]), "{report}");
    assert_eq!(report["pages"], 0, "the patch was not sent to the page running the old build: {report}");
    page.wait_for(
        "(document.getElementById('jank-hotpatch-hud') || {}).textContent?.includes('older build of the app')",
        WAIT,
    )
    .await;
    assert_eq!(values(&page).await["color"], "gold", "the page keeps the code it can run");

    // Reloaded, the page runs the new build, catches up from the journal, and patches go on.
    page.reload().await;
    wait_color(&page, "orange").await;
    let report = sidecar.patch_color("lime").await;
    assert_ok(&report);
    assert!(report.get("warnings").is_none(), "{report}");
    assert_eq!(report["pages"], 1, "{report}");
    wait_color(&page, "lime").await;
    browser.close().await;
    record(&format!("faults: app rebuilt with a page open: the patch was held back from it ({warning}); after a reload it caught up"));
    survived("the app rebuilt while a page was open: told to reload, no patch sent to it; after reloading it caught up; next patch ok");
}
