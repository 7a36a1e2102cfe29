//! The build and check stages with the real emscripten toolchain and node: fork-shaped
//! patches (tests/fixtures/build/) built on both paths, loaded into the stand-in main module
//! (demo/runtime/), undo, compiler errors, missing imports, the cache, broken toolchains
//! (fake scripts standing in for a hanging, crashing or missing emscripten), and the resident
//! build (build-service/): its bytes against the clang toolchain's, its protocol, and
//! falling back when its service is killed, hangs or is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use jank_hotpatch::check::{export_list, ExportCheck};
use jank_hotpatch::config::{BuildSettings, Settings, Toolchain};
use jank_hotpatch::main_module::{build_main_module, MainModule};
use jank_hotpatch::reader::Namespace;
use jank_hotpatch::side_module::{service_binary, SideModuleBuilder, Tools, MAX_REQUEST_BYTES};
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
        warnings: Vec::new(),
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

/// Loads each module in turn into a fresh main module under node (once per module id, as a
/// page does), calling demo.core/ggg with `arg` after each load; returns [{rc, error, value}].
fn run_in_node(main: &MainModule, dir: &Path, steps: &[(&SideModule, &str, bool)], arg: i64) -> Vec<Value> {
    let steps: Vec<Value> = steps
        .iter()
        .map(|(module, symbol, async_load)| {
            let wasm = dir.join(format!("module_{}.wasm", module.module));
            if !wasm.exists() {
                std::fs::write(&wasm, &module.bytes).unwrap();
            }
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
    for (toolchain, tools) in [(Toolchain::Clang, Tools::Clang), (Toolchain::Emcc, Tools::Emcc)] {
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
        // The page names a runtime error's var from the stack: the function names stay.
        let names = function_names(&module.bytes);
        assert!(names.iter().any(|n| n == "jank_demo_core_ggg_7"), "{tools:?}: {names:?}");
    }
}

/// The names in a module's name section (the resident build's bytes are the process
/// toolchain's, checked below, so they keep them too).
fn function_names(bytes: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let Ok(wasmparser::Payload::CustomSection(section)) = payload else { continue };
        let wasmparser::KnownCustom::Name(reader) = section.as_known() else { continue };
        for name in reader.into_iter().flatten() {
            if let wasmparser::Name::Function(map) = name {
                names.extend(map.into_iter().flatten().map(|naming| naming.name.to_string()));
            }
        }
    }
    names
}

#[tokio::test]
async fn auto_picks_the_resident_build() {
    let dir = scratch("auto");
    let builder = SideModuleBuilder::new(&settings(Toolchain::Auto), &dir).await.unwrap();
    assert_eq!(builder.tools(), Tools::Resident, "setup.sh installs the libraries the service is built with");
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
    assert!(results[0]["thrown"].is_string(), "calling the var that nothing bound throws, as jank does: {results:?}");
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
    // clang read a scratch copy; the diagnostic names the kept file, whose lines it gives.
    let at = format!("{}:", cpp.display());
    assert!(failure.message.contains(&at), "the diagnostic points into the kept file: {}", failure.message);
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
    assert!(hit.cached);

    // Written after the build, on the builder's own thread; a restart reads it from disk.
    builder.flush();
    assert!(dir.join("cpp/patch_7.cpp").exists(), "the generated C++ is kept");
    let restarted = SideModuleBuilder::new(&settings(Toolchain::Clang), &dir).await.unwrap();
    assert!(restarted.cached(key("a")).await.is_some(), "the cache is on disk");

    // A bound of 0 MB keeps only the entry just written.
    let tiny =
        SideModuleBuilder::new(&BuildSettings { cache_max_mb: 0, ..settings(Toolchain::Clang) }, &dir).await.unwrap();
    tiny.build(key("b"), &form("ggg_8.cpp", 8)).await.unwrap();
    tiny.flush();
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

/// `file`'s patch with id `id` (its symbols renamed) and `edit` applied to its code.
fn numbered(file: &str, id: u64, edit: (&str, &str)) -> CompiledForm {
    let original = form(file, 0);
    let old_id = file.trim_end_matches(".cpp").rsplit('_').next().unwrap();
    let cpp = original
        .cpp
        .replace(&format!("ggg_{old_id}("), &format!("ggg_{id}("))
        .replace(&format!("ggg_{old_id} }}"), &format!("ggg_{id} }}"))
        .replace(&format!("symbols_{old_id}("), &format!("symbols_{id}("))
        .replace(edit.0, edit.1);
    assert!(cpp.contains(&format!("jank_patch_symbols_{id}(")) && cpp.contains(edit.1), "{cpp}");
    CompiledForm { patch_id: PatchId(id), cpp, ..original }
}

/// Builds `count` patches (and a failing one every 10th) in one resident service, linked in
/// its own process, and the first, second, hundredth and thousandth also with the clang
/// toolchain: the bytes must be the same.
async fn builds_both_ways(
    name: &str,
    file: &str,
    edit: impl Fn(u64) -> (String, String),
    pch: &[&str],
    count: u64,
) -> Vec<SideModule> {
    let with =
        |toolchain| BuildSettings { pch_headers: pch.iter().map(|h| h.to_string()).collect(), ..settings(toolchain) };
    let resident =
        SideModuleBuilder::new(&with(Toolchain::Resident), &scratch(&format!("{name}-resident"))).await.unwrap();
    let process = SideModuleBuilder::new(&with(Toolchain::Clang), &scratch(&format!("{name}-process"))).await.unwrap();
    assert_eq!((resident.tools(), process.tools()), (Tools::Resident, Tools::Clang));
    assert!(resident.resident_stats().unwrap().links_in_process, "its self-test passes");
    let mut compared = Vec::new();
    let mut failed = 0;
    for n in 1..=count {
        let (from, to) = edit(n);
        let form = numbered(file, 10_000 + n, (&from, &to));
        let module = resident.build(key(&form.cpp), &form).await.unwrap();
        if [1, 2, 100, 1000].contains(&n) {
            let reference = process.build(key(&form.cpp), &form).await.unwrap();
            assert!(
                module.bytes == reference.bytes,
                "build {n}: {} bytes resident, {} bytes clang toolchain, not the same",
                module.bytes.len(),
                reference.bytes.len()
            );
            compared.push(module);
        }
        if n % 10 == 0 {
            let broken = numbered("broken_10.cpp", 20_000 + n, ("undefined_local", "undefined_local"));
            assert!(resident.build(key(&broken.cpp), &broken).await.is_err());
            failed += 1;
        }
    }
    let stats = resident.resident_stats().expect("the service runs");
    // A build is a compile and a link request, asked at once (a form that does not compile
    // fails its link too, on its missing object).
    let requests = 2 * (count + failed);
    assert_eq!((stats.starts, stats.failures, stats.requests), (1, 0, requests), "one service did it all: {stats:?}");
    assert!(stats.links_in_process, "{stats:?}");
    compared
}

#[tokio::test]
async fn resident_builds_the_process_toolchains_bytes_and_they_run() {
    let edit = |n: u64| ("jank_box_integer(49)".to_string(), format!("jank_box_integer({n})"));
    let modules = builds_both_ways("same-bytes", "ggg_7.cpp", edit, &[], 100).await;
    let main = main_module().await;
    let dir = scratch("same-bytes-run");
    let symbols: Vec<String> = modules.iter().map(|m| m.entry_symbol.clone()).collect();
    let steps: Vec<(&SideModule, &str, bool)> =
        modules.iter().zip(&symbols).map(|(m, s)| (m, s.as_str(), false)).collect();
    let results = run_in_node(main, &dir, &steps, 1);
    let values: Vec<&Value> = results.iter().map(|r| &r["value"]).collect();
    assert_eq!(values, [&json!("2"), &json!("3"), &json!("101")], "(+ n 1) for builds 1, 2, 100: {results:?}");
}

#[tokio::test]
async fn resident_with_the_pch_builds_the_process_toolchains_bytes_and_they_run() {
    let edit = |n: u64| ("\"cd\"".to_string(), format!("\"cd{n}\""));
    let modules = builds_both_ways("same-bytes-pch", "strings_9.cpp", edit, &["<string>", "<vector>"], 100).await;
    let dir = scratch("same-bytes-pch-run");
    let wasm: Vec<PathBuf> = modules
        .iter()
        .map(|m| {
            let path = dir.join(format!("{}.wasm", m.patch_id.0));
            std::fs::write(&path, &m.bytes).unwrap();
            path
        })
        .collect();
    let exports = export_list(&main_module().await.wasm, &wasm).unwrap();
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/runtime");
    let main = build_main_module(&sources, &dir.join("main"), &exports).await.unwrap();
    let symbols: Vec<String> = modules.iter().map(|m| m.entry_symbol.clone()).collect();
    let steps: Vec<(&SideModule, &str, bool)> =
        modules.iter().zip(&symbols).map(|(m, s)| (m, s.as_str(), false)).collect();
    let results = run_in_node(&main, &dir, &steps, 1);
    let values: Vec<&Value> = results.iter().map(|r| &r["value"]).collect();
    assert_eq!(values, [&json!("6"), &json!("6"), &json!("8")], "len(ab cd<n>) + 1: {results:?}");
}

/// A thousand links in the service's own process: the thousandth is still the process
/// toolchain's module, with and without the PCH.
#[tokio::test]
async fn a_thousand_in_process_links_write_the_process_toolchains_bytes() {
    let edit = |n: u64| ("jank_box_integer(49)".to_string(), format!("jank_box_integer({n})"));
    let modules = builds_both_ways("thousand", "ggg_7.cpp", edit, &[], 1000).await;
    assert_eq!(modules.len(), 4, "compared at builds 1, 2, 100 and 1000");
    let edit = |n: u64| ("\"cd\"".to_string(), format!("\"cd{n}\""));
    let modules = builds_both_ways("thousand-pch", "strings_9.cpp", edit, &["<string>", "<vector>"], 1000).await;
    assert_eq!(modules.len(), 4);
}

/// Nothing one resident compile read serves the next one stale: a header the patch includes
/// from `build.includeDirs` (outside the PCH, so free to change while the service runs) is
/// read again after it changes, to the same size and to another size. The process
/// toolchain reads it fresh, so the same bytes mean the service did too.
#[tokio::test]
async fn a_header_changed_between_two_resident_compiles_is_read_again() {
    let include = scratch("changed-header-include");
    let with = |toolchain| BuildSettings { include_dirs: vec![include.clone()], ..settings(toolchain) };
    let resident =
        SideModuleBuilder::new(&with(Toolchain::Resident), &scratch("changed-header-resident")).await.unwrap();
    let process = SideModuleBuilder::new(&with(Toolchain::Clang), &scratch("changed-header-process")).await.unwrap();
    assert_eq!((resident.tools(), process.tools()), (Tools::Resident, Tools::Clang));
    let mut modules = Vec::new();
    // 41 -> 42: same size (a stale size would still read the new bytes); -> 4242: longer.
    for (n, value) in [(1, "41"), (2, "42"), (3, "4242")] {
        std::fs::write(include.join("value.h"), format!("#define HEADER_VALUE {value}\n")).unwrap();
        let mut form = numbered("ggg_7.cpp", 30_000 + n, ("jank_box_integer(49)", "jank_box_integer(HEADER_VALUE)"));
        form.cpp = format!("#include \"value.h\"\n{}", form.cpp);
        let module = resident.build(key(&form.cpp), &form).await.unwrap();
        let reference = process.build(key(&form.cpp), &form).await.unwrap();
        assert!(module.bytes == reference.bytes, "build {n} (HEADER_VALUE {value}): not the process toolchain's bytes");
        modules.push(module);
    }
    assert_eq!(
        resident.resident_stats().map(|s| (s.starts, s.failures)),
        Some((1, 0)),
        "one service compiled all three"
    );
    let main = main_module().await;
    let symbols: Vec<String> = modules.iter().map(|m| m.entry_symbol.clone()).collect();
    let steps: Vec<(&SideModule, &str, bool)> =
        modules.iter().zip(&symbols).map(|(m, s)| (m, s.as_str(), false)).collect();
    let results = run_in_node(main, &scratch("changed-header-run"), &steps, 1);
    let values: Vec<&Value> = results.iter().map(|r| &r["value"]).collect();
    assert_eq!(values, [&json!("42"), &json!("43"), &json!("4243")], "(+ HEADER_VALUE 1) each time: {results:?}");
}

/// The cache key counts the headers under `build.includeDirs`: the same form built after its
/// header changed is a miss and builds the new value, and each version hits afterwards.
#[tokio::test]
async fn a_changed_header_under_the_include_dirs_is_a_cache_miss() {
    let include = scratch("cached-header-include");
    let settings = BuildSettings { include_dirs: vec![include.clone()], ..settings(Toolchain::Resident) };
    let builder = SideModuleBuilder::new(&settings, &scratch("cached-header")).await.unwrap();
    // The jank form's text, which is what the key is made of, stays the same.
    let form_key = key("(def value (+ HEADER_VALUE 1))");
    let mut modules = Vec::new();
    for (n, value) in [(1, "41"), (2, "42")] {
        std::fs::write(include.join("value.h"), format!("#define HEADER_VALUE {value}\n")).unwrap();
        assert!(builder.cached(form_key).await.is_none(), "HEADER_VALUE {value}: not built yet");
        let mut form = numbered("ggg_7.cpp", 31_000 + n, ("jank_box_integer(49)", "jank_box_integer(HEADER_VALUE)"));
        form.cpp = format!("#include \"value.h\"\n{}", form.cpp);
        modules.push(builder.build(form_key, &form).await.unwrap());
        let hit = builder.cached(form_key).await.expect("built with this header: a hit");
        assert_eq!(hit.patch_id, form.patch_id);
    }
    let main = main_module().await;
    let steps: Vec<(&SideModule, &str, bool)> = modules.iter().map(|m| (m, m.entry_symbol.as_str(), false)).collect();
    let results = run_in_node(main, &scratch("cached-header-run"), &steps, 1);
    let values: Vec<&Value> = results.iter().map(|r| &r["value"]).collect();
    assert_eq!(values, [&json!("42"), &json!("43")], "(+ HEADER_VALUE 1) each time: {results:?}");
}

/// A header of one's own in `build.pchHeaders`, changed after the PCH was built: clang refuses
/// the PCH, so it is precompiled again, the build service restarted with it, and the patch
/// builds with the new header.
#[tokio::test]
async fn a_pch_header_changed_during_a_session_is_precompiled_again() {
    let include = scratch("stale-pch-include");
    std::fs::write(include.join("value.h"), "#define HEADER_VALUE 41\n").unwrap();
    let settings = BuildSettings {
        include_dirs: vec![include.clone()],
        pch_headers: vec!["<stdint.h>".into(), "\"value.h\"".into()],
        ..settings(Toolchain::Resident)
    };
    let builder = SideModuleBuilder::new(&settings, &scratch("stale-pch")).await.unwrap();
    assert!(builder.pch().is_some(), "a PCH of value.h");
    let form = |id| numbered("ggg_7.cpp", id, ("jank_box_integer(49)", "jank_box_integer(HEADER_VALUE)"));
    let first = builder.build(key("first"), &form(32_001)).await.unwrap();
    std::fs::write(include.join("value.h"), "#define HEADER_VALUE 4242\n").unwrap();
    let second = builder.build(key("second"), &form(32_002)).await.unwrap();
    assert_eq!(builder.resident_stats().map(|s| s.starts), Some(2), "the service was restarted with the new PCH");
    // Two builds refused at once: one precompiles, the other builds with its PCH.
    std::fs::write(include.join("value.h"), "#define HEADER_VALUE 7\n").unwrap();
    let (third, fourth) = (form(32_003), form(32_004));
    let (third, fourth) = tokio::join!(builder.build(key("third"), &third), builder.build(key("fourth"), &fourth));
    let (third, fourth) = (third.unwrap(), fourth.unwrap());
    assert_eq!(builder.resident_stats().map(|s| s.starts), Some(3), "precompiled again once for both");
    let steps = [&first, &second, &third, &fourth].map(|module| (module, module.entry_symbol.as_str(), false));
    let results = run_in_node(main_module().await, &scratch("stale-pch-run"), &steps, 1);
    let values: Vec<&Value> = results.iter().map(|r| &r["value"]).collect();
    assert_eq!(
        values,
        [&json!("42"), &json!("4243"), &json!("8"), &json!("8")],
        "(+ HEADER_VALUE 1) each time: {results:?}"
    );
}

/// The service binary behind a script that sets its test hook (`build-service/README.md`).
fn service_with_test_hook(dir: &Path, hook: &str) -> PathBuf {
    let real = service_binary(None).expect("scripts/setup.sh installs what the service is built with");
    let script = dir.join(format!("service-{hook}"));
    std::fs::write(
        &script,
        format!("#!/bin/sh\nJANK_BUILD_SERVICE_TEST={hook} exec '{}' \"$@\"\n", real.path.display()),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&script).status().unwrap();
    script
}

/// A resident builder whose service runs with the test hook `hook`, and the process toolchain's
/// beside it to compare bytes with.
async fn hooked_and_process(name: &str, hook: &str) -> (SideModuleBuilder, SideModuleBuilder) {
    let dir = scratch(name);
    let service_binary = Some(service_with_test_hook(&dir, hook));
    let resident = SideModuleBuilder::new(
        &BuildSettings { service_binary, ..settings(Toolchain::Resident) },
        &dir.join("resident"),
    )
    .await
    .unwrap();
    let process = SideModuleBuilder::new(&settings(Toolchain::Clang), &dir.join("process")).await.unwrap();
    assert_eq!(resident.tools(), Tools::Resident);
    (resident, process)
}

/// A service whose self-test fails links in a forked child: it says so once, and still builds
/// the process toolchain's bytes, here and after a restart.
#[tokio::test]
async fn a_service_whose_self_test_fails_patches_through_forked_links() {
    let (logs, _guard) = Logs::capture();
    let (resident, process) = hooked_and_process("self-test-fails", "fail-self-test").await;
    let stats = resident.resident_stats().unwrap();
    assert!(!stats.links_in_process && stats.pid.is_some(), "{stats:?}");
    let warned = logs.lines_with("links in a forked child");
    assert!(warned.len() == 1 && warned[0].contains("fail-self-test"), "{warned:?}");

    for id in [7, 8] {
        let form = form(&format!("ggg_{id}.cpp"), id);
        let module = resident.build(key(&id.to_string()), &form).await.unwrap();
        assert!(module.bytes == process.build(key(&id.to_string()), &form).await.unwrap().bytes);
    }
    // A restarted service is asked for forked links: no second self-test, no second warning.
    let pid = resident.resident_stats().and_then(|s| s.pid).unwrap();
    assert!(Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
    resident.build(key("after kill"), &form("ggg_7.cpp", 9)).await.expect("built with the process toolchain");
    restarted(&resident, pid).await;
    resident.build(key("restarted"), &form("ggg_8.cpp", 10)).await.unwrap();
    let stats = resident.resident_stats().unwrap();
    assert_eq!((stats.starts, stats.failures, stats.links_in_process), (2, 1, false), "{stats:?}");
    assert_eq!(logs.lines_with("links in a forked child").len(), 1, "logged once");
}

/// A service that dies linking in its own process: that patch is built by the process
/// toolchain, and the restarted service links in a forked child, said once.
#[tokio::test]
async fn a_crash_in_an_in_process_link_falls_back_to_forked_links() {
    let (logs, _guard) = Logs::capture();
    let (resident, process) = hooked_and_process("in-process-crash", "crash-in-process-link").await;
    let stats = resident.resident_stats().unwrap();
    assert!(stats.links_in_process, "the self-test passes: {stats:?}");
    let pid = stats.pid.expect("running");

    let form7 = form("ggg_7.cpp", 7);
    let module = resident.build(key("7"), &form7).await.expect("built with the process toolchain");
    assert!(module.bytes == process.build(key("7"), &form7).await.unwrap().bytes);
    let warned = logs.lines_with("died linking in its own process");
    assert!(warned.len() == 1 && warned[0].contains("forked child"), "{warned:?}");

    restarted(&resident, pid).await;
    let form8 = form("ggg_8.cpp", 8);
    let module = resident.build(key("8"), &form8).await.unwrap();
    assert!(module.bytes == process.build(key("8"), &form8).await.unwrap().bytes);
    let stats = resident.resident_stats().unwrap();
    assert_eq!((stats.starts, stats.failures, stats.links_in_process), (2, 1, false), "{stats:?}");
    assert_eq!(logs.lines_with("resident build").len(), 1, "one reason, logged once");
}

#[tokio::test]
async fn resident_compile_errors_read_exactly_as_the_process_toolchains() {
    let dir = scratch("resident-compile-error");
    let resident = SideModuleBuilder::new(&settings(Toolchain::Resident), &dir).await.unwrap();
    let process = SideModuleBuilder::new(&settings(Toolchain::Clang), &dir).await.unwrap();
    assert_eq!(resident.tools(), Tools::Resident);
    let broken = form("broken_10.cpp", 10);
    let from_service = resident.build(key("broken"), &broken).await.unwrap_err();
    let from_process = process.build(key("broken"), &broken).await.unwrap_err();
    assert!(
        from_service.message.contains("patch_10.cpp:") && from_service.message.contains("error generated"),
        "{}",
        from_service.message
    );
    assert_eq!(from_service.message, from_process.message);
    assert_eq!(from_service.detail_path, from_process.detail_path);
}

/// Five forms built together: one module (a translation unit per core, one link), the same bytes from
/// the service and the clang toolchain, each form's entry bound from the one loaded module; a
/// form that does not compile fails alone and the others still share a module.
#[tokio::test]
async fn a_save_s_forms_build_into_one_module_that_binds_each_of_them() {
    let main = main_module().await;
    let dir = scratch("together");
    let resident = SideModuleBuilder::new(&settings(Toolchain::Resident), &dir.join("resident")).await.unwrap();
    let process = SideModuleBuilder::new(&settings(Toolchain::Clang), &dir.join("process")).await.unwrap();
    let emcc = SideModuleBuilder::new(&settings(Toolchain::Emcc), &dir.join("emcc")).await.unwrap();
    let forms: Vec<CompiledForm> = (1..=5u64)
        .map(|n| numbered("ggg_7.cpp", 300 + n, ("jank_box_integer(49)", &format!("jank_box_integer({})", n * 100))))
        .collect();
    let keyed: Vec<(FormKey, &CompiledForm)> = forms.iter().map(|f| (key(&f.cpp), f)).collect();
    let mut built = Vec::new();
    let before = resident.resident_stats().unwrap().requests;
    for builder in [&resident, &process, &emcc] {
        let modules: Vec<SideModule> =
            builder.build_together(&keyed).await.into_iter().collect::<Result<_, _>>().expect("all five build");
        assert!(modules.iter().all(|m| m.module == modules[0].module && m.bytes == modules[0].bytes), "one module");
        assert_eq!(modules[0].module, PatchId(301).into());
        let ids: Vec<u64> = modules.iter().map(|m| m.patch_id.0).collect();
        assert_eq!(ids, [301, 302, 303, 304, 305]);
        built.push(modules);
    }
    assert!(built[0][0].bytes == built[1][0].bytes, "the service and the clang toolchain write the same module");
    let requests = resident.resident_stats().unwrap().requests - before;
    assert_eq!(requests, 2, "the five compiled (a translation unit per core, in one request), then linked");
    assert!(resident.resident_stats().unwrap().links_in_process, "linked in the service's own process");
    // Built together, each form's own C++ is kept after the build.
    resident.flush();
    for (module, form) in built[0].iter().zip(&forms) {
        assert_eq!(std::fs::read_to_string(&module.cpp_path).unwrap(), form.cpp, "{}", module.cpp_path.display());
    }
    for (name, modules) in [("resident", &built[0]), ("emcc", &built[2])] {
        let steps: Vec<(&SideModule, &str, bool)> =
            modules.iter().map(|m| (m, m.entry_symbol.as_str(), false)).collect();
        let results = run_in_node(main, &scratch(&format!("together-run-{name}")), &steps, 1);
        let values: Vec<&Value> = results.iter().map(|r| &r["value"]).collect();
        assert_eq!(values, [&json!("101"), &json!("201"), &json!("301"), &json!("401"), &json!("501")], "{results:?}");
    }

    let a = numbered("ggg_7.cpp", 321, ("jank_box_integer(49)", "jank_box_integer(7)"));
    let broken = numbered("broken_10.cpp", 322, ("undefined_local", "undefined_local"));
    let b = numbered("ggg_7.cpp", 323, ("jank_box_integer(49)", "jank_box_integer(8)"));
    // Objects that cannot be linked together (both define jank_patch_symbols_330): each is
    // linked alone.
    let first = numbered("ggg_7.cpp", 330, ("jank_box_integer(49)", "jank_box_integer(1)"));
    let clash = CompiledForm { patch_id: PatchId(331), ..first.clone() };
    let results = resident.build_together(&[(key("first"), &first), (key("clash"), &clash)]).await;
    let modules: Vec<_> = results.iter().map(|r| r.as_ref().map(|m| m.module).expect("each links alone")).collect();
    assert_eq!(modules, [PatchId(330).into(), PatchId(331).into()]);

    // The three together do not compile; then clang compiles each form's
    // object: the rest still shares one module. emcc compiles and links in one command: when
    // it fails, each form is built alone. The service's links asked with the compiles fail on
    // the missing objects: the patch's failures, not the service's, which keeps running.
    let service = resident.resident_stats().unwrap();
    for (builder, modules) in [(&resident, [321, 321]), (&emcc, [321, 323])] {
        let results = builder.build_together(&[(key("a"), &a), (key("broken"), &broken), (key("b"), &b)]).await;
        let failure = results[1].as_ref().expect_err("the broken form fails");
        let kept = failure.detail_path.clone().expect("the broken form's C++ is kept");
        assert!(kept.ends_with("cpp/patch_322.cpp") && kept.exists(), "{}", kept.display());
        let at = format!("{}:", kept.display());
        assert!(failure.message.contains(&at) && failure.message.contains("error"), "{}", failure.message);
        let (a, b) = (results[0].as_ref().expect("a builds"), results[2].as_ref().expect("b builds"));
        assert_eq!([a.module, b.module], modules.map(|id| PatchId(id).into()));
    }
    let after = resident.resident_stats().unwrap();
    assert_eq!((after.pid, after.failures, after.starts), (service.pid, service.failures, service.starts));
    assert_eq!(
        after.requests,
        service.requests + 5,
        "compile and link of the forms together, then of each form, then the link of the two that compiled"
    );
}

/// Log lines written while the guard lives (this thread: tokio tests run on one).
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn lines_with(&self, text: &str) -> Vec<String> {
        let all = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        all.lines().filter(|l| l.contains(text)).map(str::to_string).collect()
    }
}

/// Waits for the service to run again under a new process id.
async fn restarted(builder: &SideModuleBuilder, old_pid: u32) -> u32 {
    for _ in 0..200 {
        if let Some(pid) = builder.resident_stats().and_then(|s| s.pid).filter(|&p| p != old_pid) {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the service was not restarted: {:?}", builder.resident_stats());
}

#[tokio::test]
async fn a_killed_service_falls_back_then_is_restarted() {
    let (logs, _guard) = Logs::capture();
    let dir = scratch("resident-killed");
    let builder = SideModuleBuilder::new(&settings(Toolchain::Resident), &dir).await.unwrap();
    let first = builder.build(key("1"), &form("ggg_7.cpp", 7)).await.unwrap();
    let pid = builder.resident_stats().and_then(|s| s.pid).expect("running");
    assert!(Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());

    let fallback = builder.build(key("2"), &form("ggg_7.cpp", 7)).await.expect("built with the clang toolchain");
    assert!(fallback.bytes == first.bytes);
    assert_eq!(builder.resident_stats().unwrap().failures, 1);
    let warned = logs.lines_with("resident build failed");
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("signal: 9"), "{warned:?}");

    restarted(&builder, pid).await;
    let before = builder.resident_stats().unwrap().requests;
    builder.build(key("3"), &form("ggg_8.cpp", 8)).await.unwrap();
    let stats = builder.resident_stats().unwrap();
    assert_eq!(
        (stats.starts, stats.requests - before, stats.failures),
        (2, 2, 1),
        "the restarted service built it: {stats:?}"
    );
    assert_eq!(logs.lines_with("resident build").len(), 1, "one reason, logged once");
}

#[tokio::test]
async fn a_hanging_service_is_killed_at_the_timeout_and_the_patch_still_builds() {
    let (logs, _guard) = Logs::capture();
    let dir = scratch("resident-hang");
    let hang_settings = BuildSettings { timeout_ms: 3000, ..settings(Toolchain::Resident) };
    let builder = SideModuleBuilder::new(&hang_settings, &dir).await.unwrap();
    let pid = builder.resident_stats().and_then(|s| s.pid).expect("running");
    assert!(Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap().success());

    let started = Instant::now();
    builder.build(key("1"), &form("ggg_7.cpp", 7)).await.expect("built with the clang toolchain");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the stopped service was killed and reaped");
    let warned = logs.lines_with("resident build failed");
    assert!(warned.len() == 1 && warned[0].contains("3000 ms"), "{warned:?}");

    restarted(&builder, pid).await;
    let before = builder.resident_stats().unwrap().requests;
    builder.build(key("2"), &form("ggg_8.cpp", 8)).await.unwrap();
    let stats = builder.resident_stats().unwrap();
    assert_eq!((stats.starts, stats.requests - before, stats.failures), (2, 2, 1), "{stats:?}");
}

#[tokio::test]
async fn a_missing_service_binary_falls_back_with_one_logged_reason() {
    let (logs, _guard) = Logs::capture();
    let dir = scratch("resident-missing");
    let missing = dir.join("no-such-service");
    let missing_settings = BuildSettings { service_binary: Some(missing.clone()), ..settings(Toolchain::Resident) };
    let builder = SideModuleBuilder::new(&missing_settings, &dir).await.unwrap();
    assert_eq!(builder.tools(), Tools::Clang);
    assert!(builder.resident_stats().is_none());
    for id in [7, 8] {
        let module = builder.build(key(&id.to_string()), &form(&format!("ggg_{id}.cpp"), id)).await.unwrap();
        assert!(!module.bytes.is_empty());
    }
    let reasons = logs.lines_with("no-such-service");
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("does not exist") && reasons[0].contains("clang++ + wasm-ld"), "{reasons:?}");
}

/// The service's protocol, driven by hand: bad requests get an error and it keeps serving.
#[test]
fn the_service_answers_bad_requests_with_errors_and_keeps_serving() {
    use std::io::{Read, Write};
    let binary = service_binary(None).expect("scripts/setup.sh installs what the service is built with").path;
    let mut service =
        Command::new(binary).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut stdin = service.stdin.take().unwrap();
    let mut stdout = service.stdout.take().unwrap();
    let mut send = |body: &[u8]| -> Vec<String> {
        stdin.write_all(&(body.len() as u32).to_le_bytes()).unwrap();
        stdin.write_all(body).unwrap();
        stdin.flush().unwrap();
        let mut size = [0u8; 4];
        stdout.read_exact(&mut size).unwrap();
        let mut reply = vec![0u8; u32::from_le_bytes(size) as usize];
        stdout.read_exact(&mut reply).unwrap();
        reply.split(|b| *b == 0).map(|f| String::from_utf8_lossy(f).into_owned()).collect()
    };
    let fields = |fields: &[&str]| fields.join("\0").into_bytes();

    let dir = scratch("service-protocol");
    let source = dir.join("answer.c");
    std::fs::write(&source, "int answer(void) { return 42; }\n").unwrap();
    let other = dir.join("question.c");
    std::fs::write(&other, "int question(void) { return 6 * 9; }\n").unwrap();
    let (object, other_object, wasm) = (dir.join("answer.o"), dir.join("question.o"), dir.join("answer.wasm"));
    let compile = ["compile", source.to_str().unwrap(), object.to_str().unwrap()];
    let compile_both = [&compile[..], &[other.to_str().unwrap(), other_object.to_str().unwrap()]].concat();
    let link = ["link", wasm.to_str().unwrap(), object.to_str().unwrap(), other_object.to_str().unwrap()];
    let cc1 = ["-triple", "wasm32-unknown-emscripten", "-emit-obj", "-mrelocation-model", "pic", "-pic-level", "2"];
    let cc1_rest = ["-main-file-name", "{input-name}", "-O0", "-o", "{output}", "-x", "c", "{input}"];
    let linker = ["wasm-ld", "--experimental-pic", "-shared", "--export-all", "-o", "{output}", "{input}"];
    let count = (cc1.len() + cc1_rest.len()).to_string();
    let configure: Vec<&str> = ["configure", "in-process", "clang", count.as_str()]
        .iter()
        .chain(&cc1)
        .chain(&cc1_rest)
        .chain(&linker)
        .copied()
        .collect();

    let oversized = vec![b'x'; MAX_REQUEST_BYTES + 1];
    let reply = send(&oversized);
    assert!(reply[0] == "error" && reply[1].contains("above the limit"), "{reply:?}");
    let reply = send(&fields(&compile));
    assert!(reply[0] == "error" && reply[1].contains("before configure"), "{reply:?}");
    let reply = send(&fields(&link));
    assert!(reply[0] == "error" && reply[1].contains("before configure"), "{reply:?}");
    let reply = send(&fields(&["hello", "there"]));
    assert!(reply[0] == "error" && reply[1].contains("unknown request `hello`"), "{reply:?}");
    let reply = send(&fields(&["configure", "in-process", "clang", "99", "-O0"]));
    assert!(reply[0] == "error" && reply[1].contains("bad cc1 argument count"), "{reply:?}");
    let reply = send(&fields(&["configure", "sometimes", "clang", "0", "wasm-ld"]));
    assert!(reply[0] == "error" && reply[1].contains("bad link mode `sometimes`"), "{reply:?}");

    // Its self-test links a fixture in process and compares it with a forked link: it passes.
    assert_eq!(send(&fields(&configure)), ["ok", "in-process"]);
    let reply = send(&fields(&compile[..2]));
    assert!(reply[0] == "error" && reply[1].contains("pairs of paths"), "{reply:?}");
    let reply = send(&fields(&link[..2]));
    assert!(reply[0] == "error" && reply[1].contains("at least one object"), "{reply:?}");
    // Both at once, a pair of fields for each.
    let reply = send(&fields(&compile_both));
    assert!(reply.len() == 4 && reply[0] == "ok" && reply[2] == "ok", "{reply:?}");
    assert!(reply[1].parse::<u64>().is_ok() && reply[3].parse::<u64>().is_ok(), "{reply:?}");
    let reply = send(&fields(&link));
    assert!(reply[0] == "ok" && reply[1].parse::<u64>().is_ok(), "{reply:?}");
    let exports: Vec<String> = wasmparser::Parser::new(0)
        .parse_all(&std::fs::read(&wasm).unwrap())
        .filter_map(|payload| match payload.unwrap() {
            wasmparser::Payload::ExportSection(reader) => {
                Some(reader.into_iter().map(|e| e.unwrap().name.to_string()).collect::<Vec<_>>())
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        exports.contains(&"answer".to_string()) && exports.contains(&"question".to_string()),
        "one module of both objects: {exports:?}"
    );

    std::fs::write(&source, "int answer(void) { return missing; }\n").unwrap();
    let reply = send(&fields(&compile_both));
    assert!(
        reply[0] == "compile" && reply[1].contains("answer.c:1:27: error: use of undeclared identifier 'missing'"),
        "{reply:?}"
    );
    assert_eq!(reply[2], "ok", "the other one compiles: {reply:?}");
    drop(stdin);
    assert!(service.wait().unwrap().success(), "it ends when the sidecar closes its stdin");
}
