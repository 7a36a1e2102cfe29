//! The deliver and load stages end to end in real headless Chromium: the demo page (demo/app)
//! on the stand-in main module (demo/runtime), side modules built by the real toolchain from
//! fork-shaped C++, the embedded client loading them in place. Screenshots of the demo before
//! and after a patch go to artifacts/ (gitignored).

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jank_hotpatch::deliver::AppServer;
use jank_hotpatch::stages::Deliver;
use serde_json::json;
use support::app::{app_root, app_settings, color_body, int, Defn, Modules};
use test_support::cdp::{Browser, Page};

const WAIT: Duration = Duration::from_secs(20);

fn artifacts() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts")
}

async fn start(name: &str) -> (AppServer, PathBuf) {
    let root = app_root(name).await;
    let journal = root.parent().unwrap().join("journal");
    (AppServer::start(&app_settings(Some(root)), &journal).await.unwrap(), journal)
}

/// The demo's values as the page last read them from jank.
async fn color(page: &Page) -> String {
    page.eval("window.demoApp.values && window.demoApp.values.color").await.as_str().unwrap_or_default().to_string()
}

async fn wait_color(page: &Page, expected: &str) {
    page.wait_for(&format!("window.demoApp.values && window.demoApp.values.color === {expected:?}"), WAIT).await;
}

#[tokio::test]
async fn patches_apply_in_place_keep_state_return_values_and_report_failures() {
    let (server, _) = start("in-place").await;
    let modules = Modules::new("in-place").await;
    let browser = Browser::launch().await;
    let page = browser.open(&server.url()).await;
    page.wait_for("window.jankHotpatch && window.jankHotpatch.connected", WAIT).await;
    assert_eq!(page.eval("document.getElementById('status').textContent").await, "waiting for jank code…");
    assert_eq!(page.eval("window.demoApp.values").await, json!(null));

    let delivery = server.deliver(modules.demo_core(100, 3, ("tomato", "steelblue"), "clicked ").await).await.unwrap();
    assert_eq!((delivery.pages, delivery.applied), (1, 1), "{:?}", delivery.failures);
    assert!(delivery.load_ms > 0.0 && delivery.load_ms < 1000.0, "load_ms {}", delivery.load_ms);
    wait_color(&page, "tomato").await;
    assert_eq!(page.eval("window.demoApp.values.label").await, "clicked 0 times");
    page.eval("for (let i = 0; i < 6; i++) document.getElementById('clicker').click()").await;
    wait_color(&page, "steelblue").await;
    assert_eq!(page.eval("window.demoApp.values.label").await, "clicked 6 times");
    page.wait_for("document.getElementById('jank-hotpatch-flash') === null", WAIT).await;
    page.screenshot(&artifacts().join("demo-before-patch.png")).await;

    // Redefine color: the page's state (clicks, ball position) carries over. The ball starts
    // at x = 40; once it has moved away, a reset would bring it back there.
    page.wait_for("Math.abs(window.demoApp.state.x - 40) > 5", WAIT).await;
    let delivery = server
        .deliver(vec![modules.defn(104, Defn::new("color", &["clicks"], color_body("gold", "mediumseagreen"))).await])
        .await
        .unwrap();
    assert_eq!(delivery.applied, 1, "{:?}", delivery.failures);
    wait_color(&page, "mediumseagreen").await;
    assert_eq!(page.eval("window.demoApp.state.clicks").await, 6, "app state survives the patch");
    let x_after = page.eval("window.demoApp.state.x").await.as_f64().unwrap();
    assert!((x_after - 40.0).abs() > 0.1, "the ball was reset to its start (x = {x_after})");
    assert_eq!(page.eval("window.jankHotpatch.current['demo.core/color']").await, 104);
    assert_eq!(
        page.eval(
            "document.getElementById('jank-hotpatch-flash').textContent.startsWith('patched demo.core/color in')"
        )
        .await,
        true
    );
    page.screenshot(&artifacts().join("demo-after-patch.png")).await;

    // An expression: its value comes back.
    let delivery = server
        .deliver(vec![modules.expression(105, "void *args[] = { jank_box_integer(6), jank_box_integer(7) };\n  return jank_call_var(\"clojure.core\", \"*\", 2, args);".into()).await])
        .await
        .unwrap();
    assert_eq!(delivery.value.as_deref(), Some("42"));

    // A patch the registry refuses: the old code keeps running and the HUD says why.
    let broken =
        modules.build(106, &Defn::new("speed", &[], int(50)), "9", jank_hotpatch::stages::PatchKind::Definition).await;
    let delivery = server.deliver(vec![broken]).await.unwrap();
    assert_eq!((delivery.pages, delivery.applied), (1, 0));
    assert!(
        delivery.failures[0].contains("demo.core/speed") && delivery.failures[0].contains("unsupported arity"),
        "{:?}",
        delivery.failures
    );
    let hud = page
        .wait_for(
            "document.getElementById('jank-hotpatch-hud') && document.getElementById('jank-hotpatch-hud').textContent",
            WAIT,
        )
        .await;
    let hud = hud.as_str().unwrap();
    assert!(
        hud.contains("demo.core/speed") && hud.contains("unsupported arity") && hud.contains("src/demo/core.jank:3"),
        "{hud}"
    );
    assert_eq!(page.eval("window.demoApp.values.speed").await, 3, "the old speed still runs");
    assert!(page.eval("window.jankHotpatch.lastError").await.as_str().unwrap().contains("unsupported arity"));
    page.screenshot(&artifacts().join("demo-failed-patch.png")).await;

    // The next good patch clears the HUD.
    server.deliver(vec![modules.defn(107, Defn::new("speed", &[], int(5))).await]).await.unwrap();
    page.wait_for("window.demoApp.values.speed === 5 && !document.getElementById('jank-hotpatch-hud')", WAIT).await;
    browser.close().await;
}

#[tokio::test]
async fn late_and_many_pages_converge_on_the_latest_code() {
    let (server, _) = start("converge").await;
    let modules = Modules::new("converge").await;
    let delivery = server.deliver(modules.demo_core(200, 2, ("tomato", "steelblue"), "n=").await).await.unwrap();
    assert_eq!(delivery.pages, 0, "no pages yet: the journal keeps the patches");
    server
        .deliver(vec![modules.defn(204, Defn::new("color", &["clicks"], color_body("orchid", "navy"))).await])
        .await
        .unwrap();

    let browser = Browser::launch().await;
    let first = browser.open(&server.url()).await;
    let second = browser.open(&server.url()).await;
    for page in [&first, &second] {
        wait_color(page, "orchid").await;
        assert_eq!(
            page.eval("window.jankHotpatch.applied.length").await,
            4,
            "one load per var: the journal holds the latest"
        );
    }
    let delivery = server
        .deliver(vec![modules.defn(205, Defn::new("color", &["clicks"], color_body("khaki", "navy"))).await])
        .await
        .unwrap();
    assert_eq!((delivery.pages, delivery.applied), (2, 2), "{:?}", delivery.failures);
    for page in [&first, &second] {
        wait_color(page, "khaki").await;
    }
    // A reload starts a fresh main module: it gets everything again from the journal.
    first.reload().await;
    wait_color(&first, "khaki").await;

    // Without the token the page is served but never connects, and gets nothing. Shown by
    // events that come after its attempt: a socket it opens the same way is closed by the
    // server, and the next patch reaches the two other pages only.
    let stranger = browser.open(&server.origin_url()).await;
    let refused = stranger
        .eval(
            "new Promise((resolve) => { \
               const ws = new WebSocket('ws://' + location.host + '/_jank/ws?token='); \
               ws.onopen = () => resolve('opened'); ws.onclose = () => resolve('refused'); })",
        )
        .await;
    assert_eq!(refused, "refused");
    let delivery = server
        .deliver(vec![modules.defn(206, Defn::new("color", &["clicks"], color_body("lime", "navy"))).await])
        .await
        .unwrap();
    assert_eq!((delivery.pages, delivery.applied), (2, 2), "{:?}", delivery.failures);
    assert_eq!(stranger.eval("window.jankHotpatch.connected").await, false);
    assert_eq!(color(&stranger).await, "");
    assert_eq!(server.page_count(), 2);
    browser.close().await;
}

#[tokio::test]
async fn pages_reconnect_after_a_restart_and_catch_up() {
    let (server, journal) = start("restart").await;
    let modules = Modules::new("restart").await;
    let root = app_root("restart-root").await;
    let browser = Browser::launch().await;
    let page = browser.open(&server.url()).await;
    server.deliver(modules.demo_core(300, 3, ("tomato", "steelblue"), "clicked ").await).await.unwrap();
    wait_color(&page, "tomato").await;
    page.eval("document.getElementById('clicker').click()").await;

    let port = server.port();
    server.stop().await;
    page.wait_for("!window.jankHotpatch.connected", WAIT).await;
    // While the sidecar is away the editor moves on; the new sidecar journals the patch.
    let settings = jank_hotpatch::config::AppSettings { port, ..app_settings(Some(root)) };
    let server = Arc::new(AppServer::start(&settings, &journal).await.unwrap());
    assert_eq!(server.port(), port);
    server
        .deliver(vec![modules.defn(304, Defn::new("color", &["clicks"], color_body("plum", "navy"))).await])
        .await
        .unwrap();

    wait_color(&page, "plum").await;
    assert_eq!(page.eval("window.jankHotpatch.connections").await, 2);
    assert_eq!(page.eval("window.demoApp.state.clicks").await, 1, "no reload: the page kept its state");
    assert_eq!(
        page.eval("window.jankHotpatch.applied").await,
        json!([300, 301, 302, 303, 304]),
        "patches the page had are skipped on replay"
    );
    browser.close().await;
}
