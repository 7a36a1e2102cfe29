//! The page against main modules shaped like a real jank app's, in real headless Chromium: the
//! stand-in runtime (demo/runtime) linked with the flags `jank-hotpatch link-flags` prints,
//! once as the jank fork's main module as it is (`-DJANK_STANDIN_FORK_API`: no
//! `jank_to_code_string`, no `jank_hot_reload_last_error`, a registry that returns 0 having
//! bound nothing) with a global `Module`, once as an ES6/MODULARIZE module handed to the client
//! with `jankHotpatch.attach`, and once linked as the fork's bundle script links an app, with
//! the printed flags passed one by one as its `--em-flag`s.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use jank_hotpatch::deliver::AppServer;
use jank_hotpatch::stages::{Deliver, PatchKind};
use serde_json::json;
use support::app::{app_settings, int, repo, runtime_sources, scratch, Defn, Modules};
use support::bundle::{self, Bundle};
use test_support::cdp::{Browser, Page};

const WAIT: Duration = Duration::from_secs(20);

/// How the stand-in runtime is linked.
struct Link {
    c_api: &'static str,
    /// Plays the fork's main module (see demo/runtime/api.cpp).
    fork: bool,
    /// `-sMODULARIZE=1 -sEXPORT_ES6=1`, as the fork's bundle script builds.
    es6: bool,
}

/// Links demo/runtime into `<dir>/app.js` (or `app.mjs`) + `app.wasm` with the printed flags.
fn link_standin(dir: &Path, link: &Link) -> PathBuf {
    let post_js = dir.join("post.js");
    let printed = Command::new(env!("CARGO_BIN_EXE_jank-hotpatch"))
        .args(["link-flags", "--c-api", link.c_api, "--no-main", "--post-js"])
        .arg(&post_js)
        .output()
        .expect("run jank-hotpatch link-flags");
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let flags = String::from_utf8(printed.stdout).unwrap();
    assert!(flags.contains("-sMAIN_MODULE=2") && flags.contains("_jank_hot_reload_load_patch"), "{flags}");

    let sources = runtime_sources();
    let output = dir.join(if link.es6 { "app.mjs" } else { "app.js" });
    let mut emcc = Command::new("emcc");
    emcc.env("EMSDK_PYTHON", "/usr/bin/python3").env("NODE_PATH", "/usr/share/nodejs");
    // The fork's bundle compiles and links with -fexceptions -frtti, as the demo's main module does.
    emcc.args(jank_hotpatch::main_module::MAIN_MODULE_FLAGS).args(flags.split_whitespace());
    if link.fork {
        emcc.arg("-DJANK_STANDIN_FORK_API");
    }
    if link.es6 {
        emcc.args(["-sMODULARIZE=1", "-sEXPORT_ES6=1"]);
    }
    let linked = emcc.args(&sources).arg("-o").arg(&output).output().expect("run emcc");
    assert!(linked.status.success(), "emcc: {}", String::from_utf8_lossy(&linked.stderr));
    dir.join("app.wasm")
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("run sha256sum");
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// What the page's client found, once it has said hello.
async fn page_api(page: &Page) -> serde_json::Value {
    page.wait_for("window.jankHotpatch.connected && window.jankHotpatch.mainModule && window.jankHotpatch.api", WAIT)
        .await;
    page.eval("window.jankHotpatch.api").await
}

/// The sidecar's record of the one page, once its hello arrived.
async fn server_api(server: &AppServer) -> jank_hotpatch::deliver::PageApi {
    for _ in 0..200 {
        if let Some(api) = server.pages().first().and_then(|p| p.api.clone()) {
            return api;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no hello from the page: {:?}", server.pages());
}

async fn hud_text(page: &Page) -> String {
    let js = "document.getElementById('jank-hotpatch-hud') && document.getElementById('jank-hotpatch-hud').textContent";
    page.wait_for(js, WAIT).await.as_str().unwrap_or_default().to_string()
}

/// A page of `root` whose module `script` imports an ES6 main module and hands it to the
/// client, served and open, once the client attached the module built into `wasm`.
struct Es6Page {
    server: AppServer,
    modules: Modules,
    browser: std::sync::Arc<Browser>,
    page: Page,
    /// What the client found.
    api: serde_json::Value,
}

async fn open_es6_page(name: &str, root: &Path, wasm: &Path, script: &str) -> Es6Page {
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><script src=\"/_jank/client.js\"></script></head>\n<body><script type=\"module\">\n{script}\n</script></body></html>\n"
    );
    std::fs::write(root.join("index.html"), html).unwrap();
    let journal = root.parent().unwrap().join("journal");
    let server = AppServer::start(&app_settings(Some(root.to_path_buf())), &journal).await.unwrap();
    let modules = Modules::new(name).await;
    let browser = Browser::launch().await;
    let page = browser.open(&server.url()).await;
    let api = page_api(&page).await;
    assert_eq!(api["module"], "attached");
    assert_eq!(server_api(&server).await.main_module_sha256.as_deref(), Some(sha256(wasm).as_str()));
    Es6Page { server, modules, browser, page, api }
}

#[tokio::test]
async fn the_forks_main_module_with_the_printed_flags_falls_back_and_catches_a_silent_registry() {
    let dir = scratch("fork-api");
    let root = dir.join("app");
    std::fs::create_dir_all(&root).unwrap();
    let wasm = link_standin(&root, &Link { c_api: "fork", fork: true, es6: false });
    for entry in std::fs::read_dir(repo().join("demo/app")).unwrap().flatten() {
        std::fs::copy(entry.path(), root.join(entry.file_name())).unwrap();
    }
    let server = AppServer::start(&app_settings(Some(root)), &dir.join("journal")).await.unwrap();
    let modules = Modules::new("fork-api").await;
    let browser = Browser::launch().await;
    let page = browser.open(&server.url()).await;

    // The hello: a global Module lacking the fork's two functions, and the build's hash.
    let api = page_api(&page).await;
    assert_eq!(api["module"], "global");
    assert_eq!(api["missing"], json!(["_jank_to_code_string", "_jank_hot_reload_last_error"]), "{api}");
    let told = server_api(&server).await;
    assert_eq!(told.missing, vec!["_jank_to_code_string", "_jank_hot_reload_last_error"]);
    assert_eq!(told.main_module_sha256.as_deref(), Some(sha256(&wasm).as_str()));
    assert!(told.main_module_url.as_deref().is_some_and(|u| u.ends_with("/app.wasm")), "{told:?}");

    // Patches load and run.
    let delivery = server.deliver(modules.demo_core(100, 3, ("tomato", "steelblue"), "n=").await).await.unwrap();
    assert_eq!((delivery.pages, delivery.applied), (1, 1), "{:?}", delivery.failures);
    page.wait_for("window.demoApp.values && window.demoApp.values.color === 'tomato'", WAIT).await;

    // Values are printed with jank_to_string: a string comes back without quotes.
    let expression = modules.expression(104, "return jank_make_string(\"hi\");".into()).await;
    let delivery = server.deliver(vec![expression]).await.unwrap();
    assert_eq!(delivery.value.as_deref(), Some("hi"), "{:?}", delivery.failures);

    // An entry the fork's registry skips: it returns 0 and binds nothing; the page notices.
    let skipped = modules.build(105, &Defn::new("speed", &[], int(50)), "9", PatchKind::Definition).await;
    let delivery = server.deliver(vec![skipped]).await.unwrap();
    assert_eq!((delivery.pages, delivery.applied), (1, 0));
    let failure = &delivery.failures[0];
    assert!(failure.contains("returned 0 but demo.core/speed does not hold the new function"), "{failure}");
    assert!(failure.contains("gave no reason"), "{failure}");
    let hud = hud_text(&page).await;
    assert!(hud.contains("demo.core/speed (load)") && hud.contains("the registry bound nothing"), "{hud}");
    assert_eq!(page.eval("window.demoApp.values.speed").await, 3, "the old speed still runs");

    // The next good patch of speed clears it.
    let delivery = server.deliver(vec![modules.defn(106, Defn::new("speed", &[], int(5))).await]).await.unwrap();
    assert_eq!(delivery.applied, 1, "{:?}", delivery.failures);
    page.wait_for("window.demoApp.values.speed === 5 && !document.getElementById('jank-hotpatch-hud')", WAIT).await;
    browser.close().await;
}

#[tokio::test]
async fn an_es6_modularized_main_module_attached_by_the_app_takes_patches() {
    let dir = scratch("es6-api");
    let root = dir.join("app");
    std::fs::create_dir_all(&root).unwrap();
    let wasm = link_standin(&root, &Link { c_api: "full", fork: false, es6: true });
    let script = "import createModule from './app.mjs';\nwindow.jankHotpatch.attach(createModule());";
    let Es6Page { server, modules, browser, page, api } = open_es6_page("es6-api", &root, &wasm, script).await;
    assert_eq!(api["missing"], json!([]), "{api}");
    assert_eq!(page.eval("typeof window.Module").await, "undefined", "no global Module");

    let delivery = server.deliver(vec![modules.defn(200, Defn::new("speed", &[], int(7))).await]).await.unwrap();
    assert_eq!((delivery.pages, delivery.applied), (1, 1), "{:?}", delivery.failures);
    let call = "return jank_call_var(\"demo.core\", \"speed\", 0, (void **)0);";
    let delivery = server.deliver(vec![modules.expression(201, call.into()).await]).await.unwrap();
    assert_eq!(delivery.value.as_deref(), Some("7"), "{:?}", delivery.failures);
    // With jank_to_code_string, a string prints as code.
    let delivery =
        server.deliver(vec![modules.expression(202, "return jank_make_string(\"hi\");".into()).await]).await.unwrap();
    assert_eq!(delivery.value.as_deref(), Some("\"hi\""), "{:?}", delivery.failures);
    // What the code prints comes back, though the app's Module is out of the client's reach:
    // the post-js hands it over.
    let print = "void *line[] = { jank_make_string(\"printed by an ES6 build\") };\n  return jank_call_var(\"clojure.core\", \"println\", 1, line);";
    let delivery = server.deliver(vec![modules.expression(203, print.into()).await]).await.unwrap();
    assert_eq!(delivery.output, ["printed by an ES6 build"], "{:?}", delivery.failures);
    browser.close().await;
}

/// The command docs/real-jank.md gives a user of the fork: the bundle script's own link (its
/// flags, `-fexceptions -frtti`, MODULARIZE + EXPORT_ES6, development mode) with each flag
/// `jank-hotpatch link-flags --export ...` prints passed as one `--em-flag`, after the script's
/// flags. The main module loads and runs patches in Chromium, keeps the app's `main` and its
/// `^:export` function (our EXPORTED_FUNCTIONS replaces the script's), and gives the client FS.
#[tokio::test]
async fn the_forks_bundle_script_with_the_printed_flags_as_em_flags_takes_patches() {
    let dir = scratch("bundle-script");
    let root = dir.join("app");
    std::fs::create_dir_all(&root).unwrap();
    let printed = Command::new(env!("CARGO_BIN_EXE_jank-hotpatch"))
        .args(["link-flags", "--export", "_jank_export_greet", "--post-js"])
        .arg(root.join("post.js"))
        .output()
        .expect("run jank-hotpatch link-flags");
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let em_flags: Vec<String> =
        String::from_utf8(printed.stdout).unwrap().split_whitespace().map(String::from).collect();
    assert!(em_flags.iter().any(|f| f.starts_with("-sEXPORTED_FUNCTIONS=") && f.contains("_jank_export_greet,")));
    let wasm = bundle::link(&root, &Bundle { em_flags: &em_flags, incremental: false });
    // The app keeps its module (`window.app`) and what it prints to stderr (`window.errs`).
    let script = "import createModule from './app.js';\nwindow.errs = [];\nconst started = createModule({ printErr: (line) => window.errs.push(line) });\nstarted.then((app) => (window.app = app));\nwindow.jankHotpatch.attach(started);";
    let Es6Page { server, modules, browser, page, api } = open_es6_page("bundle-script", &root, &wasm, script).await;
    assert_eq!(
        api["missing"],
        json!(["_jank_to_code_string", "_jank_hot_reload_last_error"]),
        "the fork's C API: {api}"
    );
    let exports = "['_main', '_jank_export_greet', 'FS'].map(n => typeof window.app[n])";
    assert_eq!(page.eval(exports).await, json!(["function", "function", "object"]));

    let delivery = server.deliver(vec![modules.defn(300, Defn::new("speed", &[], int(7))).await]).await.unwrap();
    assert_eq!(
        (delivery.pages, delivery.applied),
        (1, 1),
        "{:?} {}",
        delivery.failures,
        page.eval("window.errs").await
    );
    let call = "return jank_call_var(\"demo.core\", \"speed\", 0, (void **)0);";
    let delivery = server.deliver(vec![modules.expression(301, call.into()).await]).await.unwrap();
    assert_eq!(delivery.value.as_deref(), Some("7"), "{:?}", delivery.failures);
    browser.close().await;
}
