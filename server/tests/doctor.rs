//! `jank-hotpatch doctor`, the real binary, on a demo workspace: against the stand-in jank in
//! each of its modes (contract, fork, upstream), with no jank running, and with a main module
//! that lacks what patches need; with the LSP sidecar running and a page open in real headless
//! Chromium, it reports the page and what its main module has.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::demo::start_lsp;
use support::workspace::prepare_demo;
use test_support::cdp::Browser;
use test_support::standin::Standin;

const WAIT: Duration = Duration::from_secs(30);

/// Exit code and the printed lines.
fn doctor(dir: &Path) -> (i32, Vec<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_jank-hotpatch"))
        .args(["doctor", "--workspace"])
        .arg(dir)
        .output()
        .expect("run jank-hotpatch doctor");
    let text = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap_or(-1), text.lines().map(str::to_string).collect())
}

/// The line of `check` with its mark, e.g. `[✓] namespace: ...`.
fn line<'a>(lines: &'a [String], mark: &str, check: &str) -> &'a str {
    let prefix = format!("{mark} {check}: ");
    lines
        .iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{}", lines.join("\n")))
}

fn failures(lines: &[String]) -> Vec<&String> {
    lines.iter().filter(|l| l.starts_with("[✗]")).collect()
}

#[test]
fn with_the_contract_every_check_passes() {
    let dir = prepare_demo("doctor-contract");
    let _jank = Standin::start(&dir, &["--mode", "contract"]);
    let (code, lines) = doctor(&dir);
    assert_eq!(code, 0, "{}", lines.join("\n"));
    assert!(failures(&lines).is_empty(), "{lines:?}");
    line(&lines, "[✓]", "jank's nREPL");
    assert!(line(&lines, "[✓]", "compile op").contains("listed in describe"));
    line(&lines, "[✓]", "namespace");
    line(&lines, "[✓]", "error positions");
    assert!(line(&lines, "[✓]", "toolchain").contains("emscripten 3."), "{lines:?}");
    line(&lines, "[✓]", "probe build");
    assert!(line(&lines, "[✓]", "main module").contains("a MAIN_MODULE exporting all"));
    line(&lines, "[✓]", "probe check");
    assert!(line(&lines, "[✓]", "app root").contains("/_jank/client.js"));
    assert_eq!(lines.last().unwrap(), "A patch can go through (1 warning(s)).", "no sidecar yet: {lines:?}");
}

#[test]
fn with_the_fork_patches_go_through_and_its_limits_are_named() {
    let dir = prepare_demo("doctor-fork");
    let _jank = Standin::start(&dir, &["--mode", "fork"]);
    let (code, lines) = doctor(&dir);
    assert_eq!(code, 0, "{}", lines.join("\n"));
    assert!(line(&lines, "[✓]", "compile op").contains("not listed in describe"));
    assert!(line(&lines, "[!]", "namespace").contains("analysed this form in namespace `user`"), "{lines:?}");
    assert!(line(&lines, "[!]", "error positions").contains("no line or column"), "{lines:?}");
    line(&lines, "[✓]", "probe build");
    line(&lines, "[✓]", "probe check");
}

#[test]
fn with_upstream_jank_the_missing_op_stops_every_patch() {
    let dir = prepare_demo("doctor-upstream");
    let _jank = Standin::start(&dir, &["--mode", "upstream"]);
    let (code, lines) = doctor(&dir);
    assert_eq!(code, 1, "{}", lines.join("\n"));
    assert_eq!(line(&lines, "[✗]", "compile op"), "[✗] compile op: jank has no `wasm-compile-patch` op");
    let fix = lines.iter().position(|l| l.starts_with("[✗] compile op")).map(|i| &lines[i + 1]).unwrap();
    assert!(fix.contains("pfeodrippe/jank, branch `nrepl`"), "{fix}");
    assert_eq!(failures(&lines).len(), 1, "{lines:?}");
}

#[test]
fn with_no_jank_running_it_says_how_to_start_it() {
    let dir = prepare_demo("doctor-no-jank");
    let (code, lines) = doctor(&dir);
    assert_eq!(code, 1, "{}", lines.join("\n"));
    assert!(line(&lines, "[✗]", "jank's nREPL").contains("no .nrepl-port found"), "{lines:?}");
    // A port file left by a jank that is gone: the address does not answer.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(dir.join(".nrepl-port"), unused.to_string()).unwrap();
    let (code, lines) = doctor(&dir);
    assert_eq!(code, 1);
    assert!(line(&lines, "[✗]", "jank's nREPL").contains(&format!("127.0.0.1:{unused} does not answer")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("fix: start `jank repl` again, or delete the stale")), "{lines:?}");
}

#[test]
fn a_main_module_without_the_exports_patches_need_is_refused_with_the_link_flags() {
    let dir = prepare_demo("doctor-exports");
    let _jank = Standin::start(&dir, &["--mode", "contract"]);
    // A MAIN_MODULE that has the registry entry and nothing else a patch calls.
    let source = dir.join("thin.c");
    std::fs::write(
        &source,
        "#include <emscripten.h>\nEMSCRIPTEN_KEEPALIVE int jank_hot_reload_load_patch(const char *p, const char *s) { return 0; }\n",
    )
    .unwrap();
    let linked = Command::new("emcc")
        .env("EMSDK_PYTHON", "/usr/bin/python3")
        .env("NODE_PATH", "/usr/share/nodejs")
        .args(["-O2", "-sMAIN_MODULE=2"])
        .arg(&source)
        .arg("-o")
        .arg(dir.join("thin.js"))
        .output()
        .expect("run emcc");
    assert!(linked.status.success(), "{}", String::from_utf8_lossy(&linked.stderr));
    std::fs::write(dir.join("jank-hotpatch.toml"), "[app]\nroot = \"app\"\nmainModule = \"thin.wasm\"\n").unwrap();

    let (code, lines) = doctor(&dir);
    assert_eq!(code, 1, "{}", lines.join("\n"));
    let refused = line(&lines, "[✗]", "main module");
    for name in ["jank_box_integer", "jank_make_fn_wrapper", "jank_call0", "jank_to_string"] {
        assert!(refused.contains(name), "{name} is not named: {refused}");
    }
    assert!(!refused.contains("jank_hot_reload_load_patch"), "it is exported: {refused}");
    assert!(lines.iter().any(|l| l.contains("fix: relink your app with the flags `jank-hotpatch link-flags` prints")));
    assert_eq!(failures(&lines).len(), 1, "only the main module: {lines:?}");

    // A plain build (no -sMAIN_MODULE) cannot load patches at all.
    let plain = Command::new("emcc")
        .env("EMSDK_PYTHON", "/usr/bin/python3")
        .env("NODE_PATH", "/usr/share/nodejs")
        .arg("-O2")
        .arg(&source)
        .arg("-o")
        .arg(dir.join("thin.js"))
        .output()
        .expect("run emcc");
    assert!(plain.status.success(), "{}", String::from_utf8_lossy(&plain.stderr));
    let (code, lines) = doctor(&dir);
    assert_eq!(code, 1);
    assert!(line(&lines, "[✗]", "main module").contains("is not linked with -sMAIN_MODULE"), "{lines:?}");
}

#[tokio::test]
async fn with_the_sidecar_running_it_lists_the_pages_and_their_main_module() {
    let dir = prepare_demo("doctor-pages");
    let _jank = Standin::start(&dir, &["--mode", "contract"]);
    let (client, url) = start_lsp(&dir).await;

    let (code, lines) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || doctor(&dir)
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{}", lines.join("\n"));
    assert!(line(&lines, "[✓]", "app server").contains("serves the page with /_jank/client.js"));
    assert!(line(&lines, "[!]", "pages").contains("none connected"), "{lines:?}");

    let browser = Browser::launch().await;
    let page = browser.open(&url).await;
    let hash = page.wait_for("window.jankHotpatch.mainModule && window.jankHotpatch.mainModule.sha256", WAIT).await;
    let hash = hash.as_str().unwrap().to_string();
    // The hello travels after the hash: give it the time a socket message takes.
    let mut lines = Vec::new();
    for _ in 0..50 {
        let dir = dir.clone();
        lines = tokio::task::spawn_blocking(move || doctor(&dir).1).await.unwrap();
        if lines.iter().any(|l| l.starts_with("[✓] page")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shown = line(&lines, "[✓]", "page");
    assert!(shown.contains(&format!("main module sha256 {}", &hash[..12])), "{shown}");
    assert!(shown.contains("global Module, ") && shown.ends_with("the whole C API"), "{shown}");
    assert!(!lines.iter().any(|l| l.starts_with("[!] pages")), "{lines:?}");
    browser.close().await;
    assert!(client.shutdown_and_exit().await.success());
}
