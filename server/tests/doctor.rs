//! `jank-hotpatch doctor`, the real binary, on a demo workspace: against the stand-in jank in
//! each of its modes (contract, fork, upstream), with no jank running, and with a main module
//! that lacks what patches need; with the LSP sidecar running and a page open in real headless
//! Chromium, it reports the page and what its main module has.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::bundle::{self, Bundle};
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
    assert!(lines.iter().any(|l| l.contains("or delete the stale")), "{lines:?}");
}

/// With no jank answering, the fix is the command that starts the server of the jank on
/// `PATH`, told by its `jank repl --help` (scripts printing what each branch's command line
/// prints there), or every branch's command when there is no `jank`.
#[test]
fn with_no_jank_running_it_names_the_command_of_the_jank_on_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = prepare_demo("doctor-which-jank");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fix_with = |help: Option<&str>| {
        let jank = bin.join("jank");
        let _ = std::fs::remove_file(&jank);
        if let Some(help) = help {
            std::fs::write(&jank, format!("#!/bin/sh\ncat <<'EOF'\n{help}\nEOF\nexit 1\n")).unwrap();
            std::fs::set_permissions(&jank, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let out = Command::new(env!("CARGO_BIN_EXE_jank-hotpatch"))
            .args(["doctor", "--workspace"])
            .arg(&dir)
            .env("PATH", path)
            .output()
            .expect("run jank-hotpatch doctor");
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let at = lines.iter().position(|l| l.starts_with("[✗] jank's nREPL")).expect("the jank line");
        lines[at + 1].to_string()
    };
    // The fork's branches nrepl-2 and nrepl-3 (CLI11): `repl` has `--server`.
    let cli11 = "Start up a terminal REPL and optional server.\nUsage: jank repl [OPTIONS] [module]\n  --server    Start an nREPL server.";
    let fix = fix_with(Some(cli11));
    assert!(fix.contains("with `jank repl --server`") && !fix.contains("run-main"), "{fix}");
    // The fork's branch nrepl: upstream's command line, `repl --help` prints the global help.
    let nrepl = "COMMANDS\n  repl    Start up a terminal REPL and optional server.\n  run-main    Load and execute -main.\nOPTIONS\n  --ios-compile-server <port>";
    let fix = fix_with(Some(nrepl));
    assert!(fix.contains("with `jank run-main jank.nrepl-server.core`") && fix.contains("port 5555"), "{fix}");
    assert!(!fix.contains("with `jank repl --server`"), "{fix}");
    // Upstream jank.
    let upstream =
        "COMMANDS\n  repl    Start up a terminal REPL and optional server.\n  run-main    Load and execute -main.";
    let fix = fix_with(Some(upstream));
    assert!(fix.contains("is not the jank fork") && fix.contains("has no `wasm-compile-patch` op"), "{fix}");
    // No jank at all: both of the fork's commands.
    let fix = fix_with(None);
    assert!(
        fix.contains("no `jank` on PATH")
            && fix.contains("`jank repl --server`")
            && fix.contains("`jank run-main jank.nrepl-server.core`"),
        "{fix}"
    );
}

/// A main module linked by the jank fork's bundle script without our flags: with
/// `INCREMENTAL_LINK=1` it is a MAIN_MODULE exporting everything, and doctor names each flag it
/// still lacks; without, it is no MAIN_MODULE at all. (emscripten 3.1.6 puts FS on a
/// MAIN_MODULE's `Module` whatever the flags say, so FS is not among them here.)
#[test]
fn a_main_module_from_the_forks_bundle_script_without_our_flags_names_each_flag_it_lacks() {
    let dir = prepare_demo("doctor-bundle");
    let _jank = Standin::start(&dir, &["--mode", "fork"]);
    let app = dir.join("bundled");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(dir.join("jank-hotpatch.toml"), "[app]\nroot = \"app\"\nmainModule = \"bundled/app.wasm\"\n")
        .unwrap();

    bundle::link(&app, &Bundle { em_flags: &[], incremental: true });
    let (code, lines) = doctor(&dir);
    assert_eq!(code, 1, "{}", lines.join("\n"));
    let refused = line(&lines, "[✗]", "main module");
    assert!(!refused.contains("does not export"), "EXPORT_ALL exports the helpers: {refused}");
    assert!(refused.contains("is linked without -sWASM_BIGINT=1"), "{refused}");
    assert!(refused.contains("-sSTACK_OVERFLOW_CHECK=2 (what -sASSERTIONS=2 turns on)"), "{refused}");
    assert!(refused.contains("does not put lengthBytesUTF8 on Module (-sEXPORTED_RUNTIME_METHODS)"), "{refused}");
    assert_eq!(failures(&lines).len(), 1, "only the main module: {lines:?}");

    bundle::link(&app, &Bundle { em_flags: &[], incremental: false });
    let (code, lines) = doctor(&dir);
    assert_eq!(code, 1);
    assert!(line(&lines, "[✗]", "main module").contains("is not linked with -sMAIN_MODULE"), "{lines:?}");
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
