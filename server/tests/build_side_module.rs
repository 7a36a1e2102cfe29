//! The build and check stages with the real emscripten toolchain and node: fork-shaped
//! patches (tests/fixtures/build/) built on both paths, loaded into the stand-in main module
//! (demo/runtime/), undo, compiler errors, missing imports, the cache, and broken toolchains
//! (fake scripts standing in for a hanging, crashing or missing emscripten).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use jank_hotpatch::build::{build_main_module, MainModule, SideModuleBuilder, Tools};
use jank_hotpatch::check::{export_list, ExportCheck};
use jank_hotpatch::config::{BuildSettings, Settings, Toolchain};
use jank_hotpatch::reader::Namespace;
use jank_hotpatch::stages::{Build, Check, CompiledForm, FormKey, PatchId, PatchKind, SideModule, VarName};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/build")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn settings(toolchain: Toolchain) -> BuildSettings {
    BuildSettings { toolchain, ..Settings::default().build }
}

/// A fixture as the compile stage would hand it over.
fn form(file: &str, id: u64) -> CompiledForm {
    CompiledForm {
        patch_id: PatchId(id),
        cpp: std::fs::read_to_string(fixtures().join(file)).unwrap(),
        var: VarName::new("demo.core", "ggg"),
        kind: PatchKind::Definition,
    }
}

fn key(text: &str) -> FormKey {
    FormKey::of(text, &Namespace::Missing)
}

/// The stand-in main module, linked once per test run (later runs reuse it).
async fn main_module() -> &'static MainModule {
    static MAIN: OnceCell<MainModule> = OnceCell::const_new();
    MAIN.get_or_init(|| async {
        let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/runtime");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-main-module");
        build_main_module(&sources, &out, &[]).await.unwrap()
    })
    .await
}

/// Loads each module in turn into a fresh main module under node, calling demo.core/ggg
/// with `arg` after each load; returns [{rc, error, value}].
fn run_in_node(main: &MainModule, dir: &Path, steps: &[(&SideModule, &str, bool)], arg: i64) -> Vec<Value> {
    let steps: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, (module, symbol, async_load))| {
            let wasm = dir.join(format!("step_{i}.wasm"));
            std::fs::write(&wasm, &module.bytes).unwrap();
            json!({"wasm": wasm, "symbol": symbol, "ns": "demo.core", "name": "ggg", "arg": arg, "async": async_load})
        })
        .collect();
    let steps_file = dir.join("steps.json");
    std::fs::write(&steps_file, serde_json::to_vec(&steps).unwrap()).unwrap();
    let out = Command::new("node")
        .arg("--no-experimental-fetch")
        .arg(fixtures().join("load_patches.cjs"))
        .arg(&main.js)
        .arg(&steps_file)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "node failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str::<Vec<Value>>(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test]
async fn both_toolchains_build_modules_that_load_and_rebind() {
    let main = main_module().await;
    let check = ExportCheck::from_main_module(&main.wasm).unwrap();
    for (toolchain, tools) in [(Toolchain::Clang, Tools::Direct), (Toolchain::Emcc, Tools::Emcc)] {
        let dir = scratch(&format!("toolchain-{tools:?}"));
        let builder = SideModuleBuilder::new(&settings(toolchain), &dir).await.unwrap();
        assert_eq!(builder.tools(), tools);
        let module = builder.build(key("v1"), &form("ggg_7.cpp", 7)).await.unwrap();
        assert_eq!(module.entry_symbol, "jank_patch_symbols_7");
        assert!(!module.cached);
        check.check(&module).unwrap();
        let results = run_in_node(main, &dir, &[(&module, "jank_patch_symbols_7", false)], 1);
        assert_eq!(results[0]["rc"], 0, "{tools:?}: {results:?}");
        assert_eq!(results[0]["value"], "50", "{tools:?}: (+ 49 1)");
    }
}

#[tokio::test]
async fn auto_picks_the_direct_tools() {
    let dir = scratch("auto");
    let builder = SideModuleBuilder::new(&settings(Toolchain::Auto), &dir).await.unwrap();
    assert_eq!(builder.tools(), Tools::Direct);
}

#[tokio::test]
async fn undo_loads_the_older_version_again_and_it_runs() {
    let main = main_module().await;
    let dir = scratch("undo");
    let builder = SideModuleBuilder::new(&settings(Toolchain::Clang), &dir).await.unwrap();
    let a = builder.build(key("(+ 49 v)"), &form("ggg_7.cpp", 7)).await.unwrap();
    let b = builder.build(key("(+ 50 v)"), &form("ggg_8.cpp", 8)).await.unwrap();
    // Back to A's text: the cache returns A's module (same bytes, old id), no build.
    let a_again = builder.cached(key("(+ 49 v)")).await.expect("A is cached");
    assert!(a_again.cached);
    assert_eq!(a_again.patch_id, PatchId(7));
    assert_eq!(&*a_again.bytes, &*a.bytes);
    let results = run_in_node(
        main,
        &dir,
        &[
            (&a, "jank_patch_symbols_7", false),
            (&b, "jank_patch_symbols_8", true),
            (&a_again, "jank_patch_symbols_7", false),
        ],
        1,
    );
    let values: Vec<&Value> = results.iter().map(|r| &r["value"]).collect();
    assert_eq!(values, [&json!("50"), &json!("51"), &json!("50")], "{results:?}");
    assert!(results.iter().all(|r| r["rc"] == 0), "{results:?}");
}

#[tokio::test]
async fn missing_entry_symbol_fails_with_the_reason() {
    let main = main_module().await;
    let dir = scratch("missing-entry");
    let builder = SideModuleBuilder::new(&settings(Toolchain::Clang), &dir).await.unwrap();
    let module = builder.build(key("x"), &form("ggg_7.cpp", 7)).await.unwrap();
    let results = run_in_node(main, &dir, &[(&module, "jank_patch_symbols_99", false)], 1);
    assert_eq!(results[0]["rc"], -1);
    let error = results[0]["error"].as_str().unwrap();
    assert!(error.contains("jank_patch_symbols_99") && error.contains("not found"), "{error}");
}

#[tokio::test]
async fn compiler_errors_carry_the_text_and_the_cpp_file() {
    let dir = scratch("compile-error");
    let builder = SideModuleBuilder::new(&settings(Toolchain::Clang), &dir).await.unwrap();
    let failure = builder.build(key("broken"), &form("broken_10.cpp", 10)).await.unwrap_err();
    assert!(failure.message.contains("undefined_local") && failure.message.contains("error"), "{}", failure.message);
    assert!(failure.message.contains("demo.core/ggg"), "{}", failure.message);
    let cpp = failure.detail_path.expect("the generated C++ is kept");
    assert_eq!(cpp, dir.join("cpp/patch_10.cpp"));
    assert!(std::fs::read_to_string(&cpp).unwrap().contains("undefined_local"));
    assert!(failure.message.contains("patch_10.cpp:"), "the diagnostic points into the kept file");
}

#[tokio::test]
async fn missing_imports_fail_the_check_by_name_and_go_into_the_export_list() {
    let main = main_module().await;
    let dir = scratch("missing-imports");
    let builder = SideModuleBuilder::new(&settings(Toolchain::Clang), &dir).await.unwrap();
    let module = builder.build(key("m"), &form("missing_11.cpp", 11)).await.unwrap();
    let check = ExportCheck::from_main_module(&main.wasm).unwrap();
    assert_eq!(check.missing(&module.bytes).unwrap(), ["jank_make_char", "jank_make_regex"]);
    let failure = check.check(&module).unwrap_err();
    assert!(failure.message.contains("jank_make_char, jank_make_regex"), "{}", failure.message);
    // It names the command that prints the flags, with the refused module kept for it.
    let kept = module.cpp_path.with_extension("wasm");
    let command = format!("`jank-hotpatch link-flags --main {} {}`", main.wasm.display(), kept.display());
    assert!(failure.message.contains(&command), "{}", failure.message);
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_jank-hotpatch"))
        .args(["link-flags", "--main"])
        .arg(&main.wasm)
        .arg(&kept)
        .output()
        .unwrap();
    let flags = String::from_utf8(printed.stdout).unwrap();
    let exported = flags.split_whitespace().find_map(|f| f.strip_prefix("-sEXPORTED_FUNCTIONS=")).unwrap();
    for name in ["_jank_make_char", "_jank_make_regex", "_jank_hot_reload_load_patch", "_main"] {
        assert!(exported.split(',').any(|n| n == name), "{name} not in {exported}");
    }

    let wasm = dir.join("missing.wasm");
    std::fs::write(&wasm, &module.bytes).unwrap();
    let list = export_list(&main.wasm, &[wasm]).unwrap();
    for name in ["_jank_make_char", "_jank_make_regex", "_jank_make_vector"] {
        assert!(list.contains(&name.to_string()), "{list:?}");
    }
    assert!(!list.iter().any(|n| n.contains("memory") || n.contains("__memory_base")), "{list:?}");
}

/// A patch using libc++ needs ~100 more exports from a MAIN_MODULE=2 main module: the export
/// list computed from it makes a main module it loads into.
#[tokio::test]
async fn pch_builds_a_libcxx_patch_that_loads_into_a_main_module_with_its_export_list() {
    let main = main_module().await;
    let dir = scratch("pch");
    let pch_settings =
        BuildSettings { pch_headers: vec!["<string>".into(), "<vector>".into()], ..settings(Toolchain::Clang) };
    let builder = SideModuleBuilder::new(&pch_settings, &dir).await.unwrap();
    let pch = builder.pch().expect("a PCH").to_path_buf();
    let module = builder.build(key("s"), &form("strings_9.cpp", 9)).await.unwrap();
    assert!(!ExportCheck::from_main_module(&main.wasm).unwrap().missing(&module.bytes).unwrap().is_empty());

    // Same headers and flags: the PCH is reused. A newer header file: it is rebuilt.
    let built = std::fs::metadata(&pch).unwrap().modified().unwrap();
    let again = SideModuleBuilder::new(&pch_settings, &dir).await.unwrap();
    assert_eq!(std::fs::metadata(again.pch().unwrap()).unwrap().modified().unwrap(), built);
    let header = pch.with_extension("hpp");
    let later = std::fs::File::options().write(true).open(&header).unwrap();
    later.set_modified(built + Duration::from_secs(5)).unwrap();
    let rebuilt = SideModuleBuilder::new(&pch_settings, &dir).await.unwrap();
    assert!(std::fs::metadata(rebuilt.pch().unwrap()).unwrap().modified().unwrap() > built);

    let wasm = dir.join("strings.wasm");
    std::fs::write(&wasm, &module.bytes).unwrap();
    let exports = export_list(&main.wasm, &[wasm]).unwrap();
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/runtime");
    let bigger = build_main_module(&sources, &dir.join("main"), &exports).await.unwrap();
    ExportCheck::from_main_module(&bigger.wasm).unwrap().check(&module).unwrap();
    let results = run_in_node(&bigger, &dir, &[(&module, "jank_patch_symbols_9", false)], 1);
    assert_eq!(results[0]["value"], "5", "4 chars + 1: {results:?}");
}

#[tokio::test]
async fn cache_survives_restarts_and_evicts_beyond_its_bound() {
    let dir = scratch("cache");
    let builder = SideModuleBuilder::new(&settings(Toolchain::Clang), &dir).await.unwrap();
    assert!(builder.cached(key("a")).await.is_none());
    builder.build(key("a"), &form("ggg_7.cpp", 7)).await.unwrap();
    let started = Instant::now();
    let hit = builder.cached(key("a")).await.expect("hit");
    eprintln!("cache hit took {:?}", started.elapsed());
    assert_eq!(hit.patch_id, PatchId(7));

    let restarted = SideModuleBuilder::new(&settings(Toolchain::Clang), &dir).await.unwrap();
    assert!(restarted.cached(key("a")).await.is_some(), "the cache is on disk");

    // A bound of 0 MB keeps only the entry just written.
    let tiny =
        SideModuleBuilder::new(&BuildSettings { cache_max_mb: 0, ..settings(Toolchain::Clang) }, &dir).await.unwrap();
    tiny.build(key("b"), &form("ggg_8.cpp", 8)).await.unwrap();
    assert!(tiny.cached(key("a")).await.is_none(), "a was evicted");
    assert!(tiny.cached(key("b")).await.is_some());
}

#[tokio::test]
async fn an_unwritable_cache_dir_does_not_fail_the_build() {
    let dir = scratch("readonly");
    // A path below a file can never be created (permissions do not stop root).
    let blocker = dir.join("file");
    std::fs::write(&blocker, b"").unwrap();
    let builder = SideModuleBuilder::new(&settings(Toolchain::Clang), &blocker.join("cache")).await.unwrap();
    let module = builder.build(key("a"), &form("ggg_7.cpp", 7)).await.unwrap();
    assert!(!module.bytes.is_empty());
    assert!(builder.cached(key("a")).await.is_none());
}

/// A fake emscripten whose `emcc -v` names `clang++` and `wasm-ld` scripts in the same dir.
fn fake_emscripten(name: &str, clang_body: &str) -> PathBuf {
    let dir = scratch(name);
    let emcc = r#"#!/bin/sh
dir=$(dirname "$0"); prev=""; in=""; out=""
for a in "$@"; do
  if [ "$prev" = "-o" ]; then out="$a"; else case "$a" in *.cpp|*.o) in="$a";; esac; fi
  prev="$a"
done
case " $* " in
  *" -c "*) echo " \"$dir/clang++\" -target wasm32 -c $in -o $out" >&2 ;;
  *) echo " \"$dir/wasm-ld\" $in -o $out" >&2 ;;
esac
"#;
    for (file, body) in [("emcc", emcc), ("clang++", clang_body), ("wasm-ld", "#!/bin/sh\nexit 0\n")] {
        let path = dir.join(file);
        std::fs::write(&path, body).unwrap();
        Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    }
    dir
}

fn fake_settings(root: &Path) -> BuildSettings {
    BuildSettings { emscripten_root: Some(root.to_path_buf()), timeout_ms: 500, ..settings(Toolchain::Clang) }
}

#[tokio::test]
async fn a_hanging_compiler_is_killed_at_the_timeout() {
    let root = fake_emscripten("fake-hang", "#!/bin/sh\nexec sleep 30\n");
    let builder = SideModuleBuilder::new(&fake_settings(&root), &root.join("cache")).await.unwrap();
    let started = Instant::now();
    let failure = builder.build(key("a"), &form("ggg_7.cpp", 7)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(failure.message.contains("500 ms") && failure.message.contains("killed"), "{}", failure.message);
}

#[tokio::test]
async fn a_crashing_compiler_is_reported_with_its_signal() {
    let root = fake_emscripten("fake-crash", "#!/bin/sh\necho 'Stack dump:' >&2\nkill -SEGV $$\n");
    let builder = SideModuleBuilder::new(&fake_settings(&root), &root.join("cache")).await.unwrap();
    let failure = builder.build(key("a"), &form("ggg_7.cpp", 7)).await.unwrap_err();
    assert!(failure.message.contains("crashed (signal 11)"), "{}", failure.message);
}

#[tokio::test]
async fn a_missing_toolchain_says_what_to_install() {
    let root = scratch("fake-missing");
    let Err(e) = SideModuleBuilder::new(&fake_settings(&root), &root.join("cache")).await else {
        panic!("no emcc there")
    };
    assert!(e.to_string().contains("apt-get install emscripten"), "{e}");
}

#[tokio::test]
async fn an_oversized_module_is_refused() {
    let dir = scratch("too-large");
    let builder = SideModuleBuilder::new(&settings(Toolchain::Clang), &dir).await.unwrap().with_max_module_bytes(100);
    let failure = builder.build(key("a"), &form("ggg_7.cpp", 7)).await.unwrap_err();
    assert!(failure.message.contains("above the limit of 100"), "{}", failure.message);
}

#[tokio::test]
async fn main_module_link_is_skipped_when_up_to_date() {
    let main = main_module().await;
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/runtime");
    let out = main.js.parent().unwrap();
    let again = build_main_module(&sources, out, &[]).await.unwrap();
    assert!(!again.linked);
}
