//! The compile stage (`JankCompiler`) against the stand-in jank (`tests/jank-standin`, a real
//! process speaking jank's nREPL protocol) in each of its modes (the contract, the fork as it
//! is, upstream jank), against Debian's real Clojure nREPL server (no op), plus a scripted fake
//! server for replies the stand-in never gives. Needs `cargo build -p jank-standin` first (the
//! test scripts do it).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use jank_hotpatch::compile::JankCompiler;
use jank_hotpatch::config::NreplSettings;
use jank_hotpatch::nrepl::{Client, ClientOptions, FrameDecoder, Message, Value};
use jank_hotpatch::reader::{FormKind, Namespace, NsDecl};
use jank_hotpatch::stages::{
    Compile, CompileRequest, FormSource, LineCol, PatchId, PatchKind, SourceContext, StageFailure, VarName,
};
use test_support::log_lines::LogLines;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The stand-in jank, killed when dropped, with its log to wait on.
struct StandIn {
    child: Child,
    port: u16,
    log: LogLines,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn standin_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/jank-standin");
    assert!(path.exists(), "{} is missing: run `cargo build -p jank-standin` first", path.display());
    path
}

/// The three shapes of real jank the stand-in plays (`--mode`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Contract,
    Fork,
    Upstream,
}

const MODES: [Mode; 3] = [Mode::Contract, Mode::Fork, Mode::Upstream];

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Contract => "contract",
            Mode::Fork => "fork",
            Mode::Upstream => "upstream",
        }
    }
}

/// What every compile against a jank without the op answers.
fn assert_missing_op(failure: &StageFailure) {
    assert!(failure.message.starts_with("jank's nREPL server has no `wasm-compile-patch` op"), "{failure:?}");
    assert!(failure.message.contains("pfeodrippe/jank branch `nrepl`"), "{failure:?}");
    assert_eq!(failure.location, None, "on the whole form");
}

/// What a user of the fork sees when a form needs the file's namespace.
fn assert_analysed_in_user(failure: &StageFailure, symbol: &str) {
    assert!(failure.message.contains(&format!("Unable to resolve symbol '{symbol}'.")), "{failure:?}");
    assert!(failure.message.contains("jank analysed this form in namespace `user`, not in `demo.core`"), "{failure:?}");
    assert!(failure.message.contains("must bind `*ns*`") && failure.message.contains("wasm_compile_patch.hpp"));
    assert!(failure.message.ends_with("(jank gave no position)"), "{failure:?}");
    assert_eq!(failure.location, None, "on the whole form, never 0:0");
}

impl StandIn {
    /// Starts the stand-in in `mode` in `dir`, where it writes `.nrepl-port`.
    fn start_as(dir: &Path, mode: Mode, args: &[&str]) -> StandIn {
        let mut all = vec!["--mode", mode.name()];
        all.extend_from_slice(args);
        StandIn::start(dir, &all)
    }

    /// Starts the stand-in in `dir`, where it writes `.nrepl-port`, and returns once it
    /// listens (it logs so after writing the file).
    fn start(dir: &Path, args: &[&str]) -> StandIn {
        let mut child = Command::new(standin_binary())
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start jank-standin");
        let stderr = child.stderr.take().expect("the stand-in's piped stderr");
        let log = LogLines::read_until_ready(stderr, "jank stand-in listening", Duration::from_secs(10));
        let port_file = dir.join(".nrepl-port");
        let port = std::fs::read_to_string(&port_file).ok().and_then(|s| s.trim().parse().ok());
        match (log, port) {
            (Some(log), Some(port)) => StandIn { child, port, log },
            _ => panic!("the stand-in did not listen and write {}", port_file.display()),
        }
    }

    async fn client(&self) -> Client {
        Client::connect(&format!("127.0.0.1:{}", self.port), ClientOptions::default()).await.unwrap()
    }
}

fn workspace(name: &str) -> PathBuf {
    // Under /tmp, not the repo: the "no jank running" case needs no `.nrepl-port` above it.
    let dir = std::env::temp_dir().join(format!("jank-hotpatch-compile-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src/demo")).unwrap();
    dir
}

const NS_FORM: &str = "(ns demo.core\n  (:require [clojure.set :as set]))";

/// A request for `form` (which must occur in `file`), in a file declaring `demo.core`.
fn request(dir: &Path, file: &str, form: &str, kind: FormKind, patch_id: u64) -> CompileRequest {
    let start = file.find(form).expect("the form is in the file");
    let ns_start = file.find("(ns ").expect("an ns form");
    let ns_end = ns_start + file[ns_start..].find("))").map_or(file[ns_start..].find(')').unwrap() + 1, |i| i + 2);
    let before = &file[..start];
    let line = before.matches('\n').count() as u32;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..].chars().count() as u32;
    let normalized = file[ns_start..ns_end].split_whitespace().collect::<Vec<_>>().join(" ");
    CompileRequest {
        patch_id: PatchId(patch_id),
        source: SourceContext {
            path: dir.join("src/demo/core.jank"),
            text: Arc::from(file),
            namespace: Namespace::Declared(NsDecl {
                name: "demo.core".into(),
                docstring: None,
                requires: Vec::new(),
                range: ns_start..ns_end,
                normalized,
            }),
        },
        form: FormSource {
            text: form.to_string(),
            kind,
            name: None,
            range: start..start + form.len(),
            start: LineCol { line, column },
        },
    }
}

fn defn() -> FormKind {
    FormKind::Def("defn".into())
}

fn compiler(dir: &Path) -> JankCompiler {
    JankCompiler::new(NreplSettings { endpoint: None, timeout_ms: 10_000 }, dir.to_path_buf())
}

const GGG_CPP: &str = r#"// Auto-generated WASM hot-reload patch
// Patch ID: 7

#include <stdint.h>

extern "C" {

// Import runtime helpers from main module
extern void *jank_box_integer(int64_t value);
extern int64_t jank_unbox_integer(void *obj);
extern void *jank_box_double(double value);
extern double jank_unbox_double(void *obj);
extern void *jank_make_string(const char *str);
extern void *jank_call_var(const char *ns, const char *name, int argc, void **args);
extern void *jank_deref_var(const char *ns, const char *name);
extern void *jank_make_keyword(const char *ns, const char *name);
extern void *jank_make_symbol(const char *ns, const char *name);
extern void *jank_make_vector(int argc, void **elements);
extern void *jank_make_set(int argc, void **elements);
extern void *jank_make_list(int argc, void **elements);
extern void *jank_make_map(int argc, void **elements);
extern void *jank_println(int argc, void **args);
extern void *jank_nil_value();
extern int jank_truthy(void *obj);
extern void *jank_make_fn_wrapper(void *fn_ptr, int arity);

// Patch symbol metadata
struct patch_symbol {
  const char *qualified_name;
  const char *signature;
  void *fn_ptr;
};

__attribute__((visibility("default")))
void *jank_demo_core_ggg_7(void *v) {
  void *tmp_0 = jank_box_integer(49);
  void *tmp_2[] = { tmp_0, v };
  void *tmp_1 = jank_call_var("clojure.core", "+", 2, tmp_2);
  return tmp_1;
}

// Patch metadata export - UNIQUE NAME with patch ID 7
__attribute__((visibility("default")))
patch_symbol *jank_patch_symbols_7(int *count) {
  static patch_symbol symbols[] = {
    { "demo.core/ggg", "1", (void *)jank_demo_core_ggg_7 }
  };
  *count = 1;
  return symbols;
}

}
"#;

#[tokio::test]
async fn a_defn_compiles_to_the_forks_cpp() {
    for mode in MODES {
        let dir = workspace(&format!("golden-{}", mode.name()));
        let _jank = StandIn::start_as(&dir, mode, &[]);
        let file = format!("{NS_FORM}\n\n(defn ggg [v] (+ 49 v))\n");
        let compiled = compiler(&dir).compile(&request(&dir, &file, "(defn ggg [v] (+ 49 v))", defn(), 7)).await;
        if mode == Mode::Upstream {
            assert_missing_op(&compiled.unwrap_err());
            continue;
        }
        // Only `clojure.core` in it: the fork compiles it as well as the contract.
        let compiled = compiled.unwrap();
        assert_eq!(compiled.cpp, GGG_CPP, "{mode:?}");
        assert_eq!(compiled.var, VarName::new("demo.core", "ggg"));
        assert_eq!(compiled.kind, PatchKind::Definition);
        assert_eq!(compiled.patch_id, PatchId(7));
    }
}

/// The emitted C++ is valid for emscripten's clang (nested fn, if, let, strings, keywords):
/// the fork's code generator translates `let` and `if` (`gen_let`, `gen_if`).
#[tokio::test]
async fn the_cpp_compiles_with_emscriptens_clang() {
    for mode in [Mode::Contract, Mode::Fork] {
        the_cpp_compiles_with_emscriptens_clang_in(mode).await;
    }
}

async fn the_cpp_compiles_with_emscriptens_clang_in(mode: Mode) {
    let dir = workspace(&format!("clang-{}", mode.name()));
    let _jank = StandIn::start_as(&dir, mode, &[]);
    let form = "(defn label [n]\n  (let [k :big\n        f (fn [x] (str \"<\" x \"\\\">\"))]\n    (if (> n 2.5) (str f k) (count #{n 1}))))";
    let file = format!("{NS_FORM}\n\n{form}\n");
    let compiled = compiler(&dir).compile(&request(&dir, &file, form, defn(), 8)).await.unwrap();
    assert!(compiled.cpp.contains("void *jank_anon_8_0(void *x)"), "{}", compiled.cpp);
    assert!(compiled.cpp.contains("jank_make_set(2, tmp_"), "{}", compiled.cpp);
    let cpp_path = dir.join("label.cpp");
    std::fs::write(&cpp_path, &compiled.cpp).unwrap();
    let output = Command::new("clang++-14")
        .args(["-target", "wasm32-unknown-emscripten", "--sysroot=/usr/share/emscripten/cache/sysroot"])
        .args(["-fPIC", "-fvisibility=hidden", "-D_LIBCPP_ABI_VERSION=2", "-DEMSCRIPTEN", "-fsyntax-only", "-Werror"])
        .arg(&cpp_path)
        .output()
        .expect("clang++-14 (apt-get install clang-14, or emscripten)");
    assert!(
        output.status.success(),
        "clang++ rejected:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        compiled.cpp
    );
}

#[tokio::test]
async fn patch_ids_are_the_sidecars_and_non_functions_fail() {
    for mode in [Mode::Contract, Mode::Fork] {
        let dir = workspace(&format!("ids-{}", mode.name()));
        let _jank = StandIn::start_as(&dir, mode, &[]);
        let jank = compiler(&dir);
        let file = format!("{NS_FORM}\n(defn ggg [v] (+ 49 v))\n(def answer 42)\n");
        let big = 123_456_789_012;
        let compiled = jank.compile(&request(&dir, &file, "(defn ggg [v] (+ 49 v))", defn(), big)).await.unwrap();
        assert!(compiled.cpp.contains("jank_patch_symbols_123456789012(int *count)"));
        assert!(compiled.cpp.contains("void *jank_demo_core_ggg_123456789012(void *v)"));

        // The fork's quirk: a def of a non-function "succeeds" with `// ERROR:` as the C++,
        // which never reaches the toolchain.
        let failure =
            jank.compile(&request(&dir, &file, "(def answer 42)", FormKind::Def("def".into()), 9)).await.unwrap_err();
        assert_eq!(failure.message, "jank: def value is not a function", "{mode:?}");
        assert_eq!(failure.location, None, "on the whole form");
    }
}

/// What the fork's code generator turns into nil (an all-literal set, which jank folds into
/// one constant it has no translation for; `recur`; a call of a local) is refused, never
/// patched in.
#[tokio::test]
async fn untranslated_parts_are_refused() {
    let cases = [
        ("(defn f [x] (count #{1 2}))", "unsupported literal"),
        ("(defn up [n] (loop [i 0] (if (< i n) (recur (inc i)) i)))", "unsupported expr"),
        ("(defn g [x] (let [h (fn [y] y)] (h x)))", "TODO: call non-var"),
    ];
    for mode in [Mode::Contract, Mode::Fork] {
        let dir = workspace(&format!("untranslated-{}", mode.name()));
        let _jank = StandIn::start_as(&dir, mode, &[]);
        let jank = compiler(&dir);
        for (id, (form, marker)) in (4..).zip(cases) {
            let file = format!("{NS_FORM}\n{form}\n");
            let failure = jank.compile(&request(&dir, &file, form, defn(), id)).await.unwrap_err();
            assert!(failure.message.contains(&format!("compiled it to nil (`// {marker}`")), "{failure:?}");
            assert_eq!(failure.location, None);
        }
    }
}

/// The fork interns a def in `user` while analysing it there: a recursive function would call
/// `user/fact`, and once `ggg` was compiled, a call of it resolves to `user/ggg`; the page has
/// neither. Refused, with the reason.
#[tokio::test]
async fn calls_into_user_show_where_jank_analysed() {
    for mode in [Mode::Contract, Mode::Fork] {
        let dir = workspace(&format!("recursive-{}", mode.name()));
        let _jank = StandIn::start_as(&dir, mode, &[]);
        let jank = compiler(&dir);
        let (fact, ggg, twice) = (
            "(defn fact [n] (if (< n 2) 1 (* n (fact (- n 1)))))",
            "(defn ggg [v] (+ 49 v))",
            "(defn twice [x] (ggg x))",
        );
        let file = format!("{NS_FORM}\n{fact}\n{ggg}\n{twice}\n");
        let recursive = jank.compile(&request(&dir, &file, fact, defn(), 6)).await;
        jank.compile(&request(&dir, &file, ggg, defn(), 7)).await.unwrap();
        let caller = jank.compile(&request(&dir, &file, twice, defn(), 8)).await;
        match mode {
            Mode::Fork => {
                for (failure, var) in [(recursive.unwrap_err(), "user/fact"), (caller.unwrap_err(), "user/ggg")] {
                    let calls = format!("the generated C++ calls `{var}`, not a var of `demo.core`");
                    assert!(failure.message.contains(&calls), "{failure:?}");
                    assert!(failure.message.contains("namespace `user`, not in `demo.core`"), "{failure:?}");
                    assert_eq!(failure.location, None);
                }
            }
            _ => {
                assert!(recursive.unwrap().cpp.contains("jank_call_var(\"demo.core\", \"fact\", 1, tmp_"));
                assert!(caller.unwrap().cpp.contains("jank_call_var(\"demo.core\", \"ggg\", 1, tmp_"));
            }
        }
    }
}

/// Seed problems 1 and 2: without the namespace loaded, jank resolves `set/union` in `user`
/// and fails (or names the patch `user/...`); the compiler loads the file first. The fork
/// analyses in `user` even then: the user is told so, and what jank must change.
#[tokio::test]
async fn the_namespace_is_loaded_before_the_first_compile() {
    let dir = workspace("load");
    let jank = StandIn::start(&dir, &[]);
    let form = "(defn f [x] (set/union x #{x}))";

    let raw = jank.client().await;
    let session = raw.clone_session(None).await.unwrap();
    let compile = |ns: Option<&str>| {
        Message::op("wasm-compile-patch")
            .with("session", session.as_str())
            .with("code", form)
            .with_opt("ns", ns)
            .with("patch-id", "1")
    };
    let seed_way = raw.request(compile(Some("demo.core"))).await.unwrap();
    assert_eq!(seed_way.error_message().as_deref(), Some("Unable to resolve symbol 'set/union'."));
    let no_ns = raw
        .request(Message::op("wasm-compile-patch").with("code", "(defn g [] 1)").with("patch-id", "2"))
        .await
        .unwrap();
    assert_eq!(no_ns.get_str("ns-name"), Some("user"), "{no_ns}");

    let file = format!("{NS_FORM}\n\n{form}\n");
    let compiled = compiler(&dir).compile(&request(&dir, &file, form, defn(), 3)).await.unwrap();
    assert!(compiled.cpp.contains("jank_call_var(\"clojure.set\", \"union\", 2, tmp_"), "{}", compiled.cpp);
    assert_eq!(compiled.var, VarName::new("demo.core", "f"));

    for mode in [Mode::Fork, Mode::Upstream] {
        let dir = workspace(&format!("load-{}", mode.name()));
        let _jank = StandIn::start_as(&dir, mode, &[]);
        let failure = compiler(&dir).compile(&request(&dir, &file, form, defn(), 3)).await.unwrap_err();
        match mode {
            Mode::Fork => assert_analysed_in_user(&failure, "set/union"),
            _ => assert_missing_op(&failure),
        }
    }
}

#[tokio::test]
async fn a_file_without_ns_or_an_ns_form_is_refused() {
    let dir = workspace("no-ns");
    let file = format!("{NS_FORM}\n(defn ggg [v] v)\n");
    let mut missing = request(&dir, &file, "(defn ggg [v] v)", defn(), 1);
    missing.source.namespace = Namespace::Missing;
    let failure = compiler(&dir).compile(&missing).await.unwrap_err();
    assert!(failure.message.contains("no (ns ...) form"), "{failure:?}");
    let ns = request(&dir, &file, NS_FORM, FormKind::Ns, 2);
    let failure = compiler(&dir).compile(&ns).await.unwrap_err();
    assert!(failure.message.contains("ns forms are not patched"), "{failure:?}");
}

#[tokio::test]
async fn expressions_are_wrapped_and_errors_land_where_jank_says() {
    let file = format!("{NS_FORM}\n\n(defn ggg [v] (+ 49 v))\n\n(ggg 1)\n");
    let broken =
        format!("{NS_FORM}\n\n(defn ggg [v] (+ 49 v))\n\n  (+ 1 nope)\n(defn h [x]\n  (+ x undefined-thing))\n");
    for mode in [Mode::Fork, Mode::Upstream] {
        let dir = workspace(&format!("expr-{}", mode.name()));
        let _jank = StandIn::start_as(&dir, mode, &[]);
        let jank = compiler(&dir);
        let failure = jank.compile(&request(&dir, &file, "(ggg 1)", FormKind::Expression, 11)).await.unwrap_err();
        if mode == Mode::Upstream {
            assert_missing_op(&failure);
            continue;
        }
        // A call of the file's own function: `ggg` is not a var of `user`.
        assert_analysed_in_user(&failure, "ggg");
        // The fork's errors carry no position: on the whole form, saying so.
        let failure = jank.compile(&request(&dir, &broken, "(+ 1 nope)", FormKind::Expression, 12)).await.unwrap_err();
        assert_analysed_in_user(&failure, "nope");
    }

    let dir = workspace("expr");
    let _jank = StandIn::start(&dir, &[]);
    let jank = compiler(&dir);
    let compiled = jank.compile(&request(&dir, &file, "(ggg 1)", FormKind::Expression, 11)).await.unwrap();
    assert_eq!(compiled.kind, PatchKind::Expression);
    assert_eq!(compiled.var, VarName::new("demo.core", "__jank_hotpatch_eval_11"));
    assert!(compiled.cpp.contains("void *jank_demo_core___jank_hotpatch_eval_11_11() {"), "{}", compiled.cpp);
    assert!(compiled.cpp.contains("jank_call_var(\"demo.core\", \"ggg\", 1, tmp_2)"), "{}", compiled.cpp);

    // The namespace is loaded now: these errors come from the compile op, relative to the form.
    let failure = jank.compile(&request(&dir, &broken, "(+ 1 nope)", FormKind::Expression, 12)).await.unwrap_err();
    assert_eq!(failure.message, "jank: Unable to resolve symbol 'nope'.");
    assert_eq!(failure.location, Some(LineCol { line: 5, column: 7 }), "first line: the wrapper is not counted");
    let form = "(defn h [x]\n  (+ x undefined-thing))";
    let failure = jank.compile(&request(&dir, &broken, form, defn(), 13)).await.unwrap_err();
    assert_eq!(failure.location, Some(LineCol { line: 7, column: 7 }), "{failure:?}");
}

#[tokio::test]
async fn a_file_jank_cannot_load_fails_at_jank_position() {
    for mode in MODES {
        let dir = workspace(&format!("load-fail-{}", mode.name()));
        let _jank = StandIn::start_as(&dir, mode, &[]);
        let file = "(ns demo.core\n  (:require [no.such.lib :as x]))\n(defn ggg [v] v)\n";
        let failure = compiler(&dir).compile(&request(&dir, file, "(defn ggg [v] v)", defn(), 1)).await.unwrap_err();
        if mode == Mode::Upstream {
            // Asked first, before the file is loaded.
            assert_missing_op(&failure);
            continue;
        }
        assert!(failure.message.contains("Unable to find module 'no.such.lib'"), "{failure:?}");
        // The fork's `eval` and `load-file` errors carry jank's position (its op's do not).
        assert_eq!(failure.location, Some(LineCol { line: 0, column: 0 }), "{mode:?}");
    }
}

#[tokio::test]
async fn mirror_defines_the_var_on_the_jank_side() {
    for mode in [Mode::Contract, Mode::Fork] {
        mirror_defines_the_var_on_the_jank_side_in(mode).await;
    }
}

async fn mirror_defines_the_var_on_the_jank_side_in(mode: Mode) {
    let dir = workspace(&format!("mirror-{}", mode.name()));
    let jank = StandIn::start_as(&dir, mode, &[]);
    let compiler = compiler(&dir);
    let before = format!("{NS_FORM}\n(defn ggg [v] (+ 49 v))\n");
    compiler.compile(&request(&dir, &before, "(defn ggg [v] (+ 49 v))", defn(), 1)).await.unwrap();
    let after = format!("{before}(defn twice [x] (* 2 (ggg x)))\n");
    let twice = request(&dir, &after, "(defn twice [x] (* 2 (ggg x)))", defn(), 2);
    compiler.mirror(&twice).await.unwrap();

    let raw = jank.client().await;
    let session = raw.clone_session(None).await.unwrap();
    let eval = jank_hotpatch::nrepl::Eval { code: "(twice 1)", ns: Some("demo.core"), ..Default::default() };
    assert_eq!(raw.eval(&session, &eval).await.unwrap().value(), Some("100"));

    let bad = request(&dir, &format!("{after}(defn oops [] (missing))\n"), "(defn oops [] (missing))", defn(), 3);
    let failure = compiler.mirror(&bad).await.unwrap_err();
    assert!(failure.message.contains("Unable to resolve symbol 'missing'"), "{failure:?}");
    assert_eq!(failure.location, Some(LineCol { line: 4, column: 15 }));
}

/// A macro as jank has it: the op refuses a `defmacro` (its analysis is a `do`, not a `def`);
/// evaluating it (the mirror) defines it; a caller compiled after expands it with its current
/// definition. The fork resolves the macro in `user` like any symbol: only `ns/name` works.
#[tokio::test]
async fn macros_are_defined_by_evaluation_and_expanded_in_their_callers() {
    for mode in MODES {
        let dir = workspace(&format!("macro-{}", mode.name()));
        let jank = StandIn::start_as(&dir, mode, &[]);
        let compiler = compiler(&dir);
        let (v1, v2) = ("(defmacro twice [x] (list '* 2 x))", "(defmacro twice [x] (list '* 7 x))");
        let (caller, qualified) = ("(defn f [] (twice 5))", "(defn g [] (demo.core/twice 5))");
        let file = |m: &str| {
            format!(
                "{NS_FORM}
{m}
{caller}
{qualified}
"
            )
        };
        let defmacro = || FormKind::Def("defmacro".into());
        let compiled = compiler.compile(&request(&dir, &file(v1), v1, defmacro(), 1)).await;
        if mode == Mode::Upstream {
            assert_missing_op(&compiled.unwrap_err());
            // Upstream's eval has defmacro: the macro works there.
            compiler.mirror(&request(&dir, &file(v2), v2, defmacro(), 2)).await.unwrap();
            let raw = jank.client().await;
            let session = raw.clone_session(None).await.unwrap();
            let eval = jank_hotpatch::nrepl::Eval { code: "(twice 5)", ns: Some("demo.core"), ..Default::default() };
            assert_eq!(raw.eval(&session, &eval).await.unwrap().value(), Some("35"));
            continue;
        }
        let failure = compiled.unwrap_err();
        assert!(
            failure.message.contains("No def expression found in code. Patches must be (def ...) forms."),
            "{failure:?}"
        );
        let expands = |cpp: &str, factor: i64| {
            cpp.contains(&format!("jank_box_integer({factor});"))
                && cpp.contains("jank_call_var(\"clojure.core\", \"*\", 2")
        };
        // The file was loaded before the compile: the macro is v1 on the jank side.
        let g = compiler.compile(&request(&dir, &file(v1), qualified, defn(), 3)).await.unwrap();
        assert!(expands(&g.cpp, 2), "{mode:?}: {}", g.cpp);
        compiler.mirror(&request(&dir, &file(v2), v2, defmacro(), 4)).await.unwrap();
        let g = compiler.compile(&request(&dir, &file(v2), qualified, defn(), 5)).await.unwrap();
        assert!(expands(&g.cpp, 7), "{mode:?}: {}", g.cpp);
        let f = compiler.compile(&request(&dir, &file(v2), caller, defn(), 6)).await;
        match mode {
            // The op's compile of the defmacro above interned `twice` in `user` (jank interns
            // a def's var while analysing): the call resolves to that var, not the macro.
            Mode::Fork => {
                let failure = f.unwrap_err();
                assert!(failure.message.contains("calls `user/twice`, not a var of `demo.core`"), "{failure:?}");
            }
            _ => assert!(expands(&f.unwrap().cpp, 7)),
        }
    }
}

#[tokio::test]
async fn upstream_jank_without_the_op_gets_one_clear_diagnostic() {
    let dir = workspace("no-op");
    let _jank = StandIn::start_as(&dir, Mode::Upstream, &[]);
    let jank = compiler(&dir);
    let file = format!("{NS_FORM}\n(defn ggg [v] v)\n(defn oops [] (missing))\n");
    for id in [1, 2] {
        assert_missing_op(&jank.compile(&request(&dir, &file, "(defn ggg [v] v)", defn(), id)).await.unwrap_err());
    }
    // Upstream's eval error: the message is in `value`, its `err` is blank.
    let failure = jank.mirror(&request(&dir, &file, "(defn oops [] (missing))", defn(), 3)).await.unwrap_err();
    let path = dir.join("src/demo/core.jank");
    assert_eq!(
        failure.message,
        format!(
            "jank could not load {} (namespace demo.core): Unable to resolve symbol 'missing'. (jank gave no position)",
            path.display()
        )
    );
    assert_eq!(failure.location, None);
}

/// Debian's real Clojure nREPL server (no op), found through `.nrepl-port` as a new user's
/// would be: the one message names the op, not a namespace or a raw status list.
#[tokio::test]
async fn a_real_nrepl_server_without_the_op_gets_the_op_missing_message() {
    let dir = workspace("clojure");
    let (mut child, _) = support::clojure::start_clojure_nrepl(&dir);
    let file = format!("{NS_FORM}\n(defn ggg [v] (+ 49 v))\n");
    let failure = compiler(&dir).compile(&request(&dir, &file, "(defn ggg [v] (+ 49 v))", defn(), 1)).await;
    let _ = child.kill();
    let _ = child.wait();
    let failure = failure.unwrap_err();
    assert_missing_op(&failure);
    assert!(failure.message.contains(" is clojure, java, nrepl"), "names what describe reported: {failure:?}");
    assert!(!failure.message.contains("status") && !failure.message.contains("namespace"), "{failure:?}");
}

#[tokio::test]
async fn jank_killed_mid_compile_then_restarted() {
    let dir = workspace("restart");
    let mut slow = StandIn::start(&dir, &["--delay-ms", "3000"]);
    let jank = Arc::new(compiler(&dir));
    let form = "(defn f [x] (set/union x #{x}))";
    let file = format!("{NS_FORM}\n{form}\n");
    let req = request(&dir, &file, form, defn(), 1);
    let pending = tokio::spawn({
        let (jank, req) = (jank.clone(), req.clone());
        async move { jank.compile(&req).await }
    });
    // Killed once it has the compile request (it logs so before the delay).
    slow.log.wait_for("wasm-compile-patch received", Duration::from_secs(30)).await.expect("the compile request");
    drop(slow);
    let failure: StageFailure = pending.await.unwrap().unwrap_err();
    assert!(failure.message.contains("closed the connection"), "{failure:?}");

    // A new jank (new port, empty environment): the compiler reconnects and loads again.
    let _fresh = StandIn::start(&dir, &[]);
    let compiled = jank.compile(&request(&dir, &file, form, defn(), 2)).await.unwrap();
    assert!(compiled.cpp.contains("jank_patch_symbols_2"));
}

#[tokio::test]
async fn no_jank_running_says_where_it_looked() {
    let dir = workspace("absent");
    let file = format!("{NS_FORM}\n(defn ggg [v] v)\n");
    let req = request(&dir, &file, "(defn ggg [v] v)", defn(), 1);
    let failure = compiler(&dir).compile(&req).await.unwrap_err();
    assert!(failure.message.contains("no .nrepl-port found walking up from"), "{failure:?}");
    assert!(failure.message.contains(&dir.join("src/demo/core.jank").display().to_string()), "{failure:?}");

    // A stale port file: nobody listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(dir.join(".nrepl-port"), port.to_string()).unwrap();
    let failure = compiler(&dir).compile(&req).await.unwrap_err();
    assert!(failure.message.contains("is `jank repl` running?"), "{failure:?}");
    assert!(failure.message.contains(".nrepl-port"), "{failure:?}");
}

/// A server that answers `wasm-compile-patch` with one scripted reply (and everything else
/// with a plain `done`), for answers the stand-in never gives.
async fn scripted_jank(reply: Message) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut decoder = FrameDecoder::new(1 << 20);
        let mut chunk = [0u8; 4096];
        while let Ok(n) = stream.read(&mut chunk).await {
            if n == 0 {
                return;
            }
            decoder.extend(&chunk[..n]);
            while let Ok(Some(request)) = decoder.next_message() {
                let id = request.id().unwrap_or_default().to_string();
                let done = Value::List(vec![Value::from("done")]);
                let answer = match request.get_str("op") {
                    Some("clone") => Message::new().with("new-session", "s1"),
                    Some("wasm-compile-patch") => reply.clone(),
                    _ => Message::new(),
                };
                let answer = answer.with("id", id.as_str()).with("status", done);
                stream.write_all(&answer.encode().unwrap()).await.unwrap();
            }
        }
    });
    addr
}

#[tokio::test]
async fn replies_for_another_namespace_or_patch_are_refused() {
    let dir = workspace("scripted");
    let file = format!("{NS_FORM}\n(defn ggg [v] v)\n");
    let req = request(&dir, &file, "(defn ggg [v] v)", defn(), 5);
    let reply = |ns: &str, id: &str| {
        Message::new().with("cpp-code", "// C++").with("var-name", "ggg").with("ns-name", ns).with("patch-id", id)
    };
    for (answer, expected) in [
        (reply("user", "5"), "jank compiled the form into namespace `user`, but the file declares `demo.core`"),
        (reply("demo.core", "0"), "jank answered with patch id 0 to a request for patch 5"),
    ] {
        let endpoint = scripted_jank(answer).await;
        let jank = JankCompiler::new(NreplSettings { endpoint: Some(endpoint), timeout_ms: 5_000 }, dir.clone());
        let failure = jank.compile(&req).await.unwrap_err();
        assert_eq!(failure.message, expected);
    }
}

/// The stand-in's own protocol behaviour: jank's reply shapes, and a client sending garbage
/// loses its connection while the server keeps serving others.
#[tokio::test]
async fn the_standin_speaks_janks_protocol_and_survives_garbage() {
    let dir = workspace("protocol");
    let jank = StandIn::start(&dir, &[]);
    let mut rogue = tokio::net::TcpStream::connect(("127.0.0.1", jank.port)).await.unwrap();
    rogue.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), rogue.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0))), "the stand-in closes a connection that sends garbage: {read:?}");

    let client = jank.client().await;
    let session = client.clone_session(None).await.unwrap();
    let describe = client.describe().await.unwrap();
    assert!(describe.has_op("wasm-compile-patch") && describe.versions.contains_key("jank-standin"));
    let unknown = client.request(Message::op("no-such-op")).await.unwrap();
    assert_eq!(unknown.statuses(), ["error", "unknown-op", "done"]);

    // Like jank, an unknown namespace silently becomes `user`.
    let eval = jank_hotpatch::nrepl::Eval {
        code: "(println \"hi\") [1 :k \"s\" nil]",
        ns: Some("no.such.ns"),
        ..Default::default()
    };
    let response = client.eval(&session, &eval).await.unwrap();
    assert_eq!(
        (response.out().as_str(), response.value(), response.ns()),
        ("hi\n", Some("[1 :k \"s\" nil]"), Some("user"))
    );
    assert_eq!(response.messages.last().map(|m| m.statuses().collect::<Vec<_>>()), Some(vec!["done"]));

    let response =
        client.eval(&session, &jank_hotpatch::nrepl::Eval { code: "(/ 1 0)", ..Default::default() }).await.unwrap();
    assert!(response.has_status("eval-error") && response.err().contains("Divide by zero"), "{response}");
    let missing = client.request(Message::op("wasm-compile-patch").with("session", session.as_str())).await.unwrap();
    assert_eq!((missing.statuses(), missing.err()), (vec!["unsupported", "done"], "missing-code".to_string()));
}

/// The fork's and upstream's reply shapes as `recipes.md` ("jank itself") records them.
#[tokio::test]
async fn each_mode_answers_with_its_janks_shapes() {
    let statuses = |r: &jank_hotpatch::nrepl::Response| r.statuses().into_iter().map(String::from).collect::<Vec<_>>();
    for mode in MODES {
        let dir = workspace(&format!("shapes-{}", mode.name()));
        let jank = StandIn::start_as(&dir, mode, &[]);
        let client = jank.client().await;
        let session = client.clone_session(None).await.unwrap();
        assert_eq!(session.len(), 36, "a UUID: {session}");
        assert_eq!(session.matches('-').count(), 4, "a UUID: {session}");
        let describe = client.describe().await.unwrap();
        assert_eq!(describe.has_op("wasm-compile-patch"), mode == Mode::Contract, "{mode:?}");
        let unknown = client.request(Message::op("no-such-op")).await.unwrap();
        let op = |code: &str| Message::op("wasm-compile-patch").with("session", session.as_str()).with("code", code);
        let code = "(defn g [] 1)";
        let by_number = client.request(op(code).with("ns", "a.b").with("patch-id", 5)).await.unwrap();
        let nope = client.request(op("(defn h [] (nope))").with("ns", "a.b")).await.unwrap();
        let eval = jank_hotpatch::nrepl::Eval { code: "(nope)", ..Default::default() };
        let eval_error = client.eval(&session, &eval).await.unwrap();
        match mode {
            Mode::Upstream => {
                assert!(!describe.has_op("interrupt") && describe.has_op("lookup") && describe.has_op("completions"));
                assert_eq!(statuses(&unknown), ["error", "unknown-op", "done"]);
                assert_eq!(statuses(&by_number), ["error", "unknown-op", "done"]);
                let fields: Vec<Vec<&str>> =
                    eval_error.messages.iter().map(|m| m.0.keys().map(String::as_str).collect()).collect();
                assert_eq!(
                    fields,
                    [
                        vec!["id", "out", "session"],
                        vec!["err", "id", "session"],
                        vec!["id", "session", "status", "value"]
                    ]
                );
                assert_eq!(eval_error.err(), "");
                assert_eq!(statuses(&eval_error), ["done", "eval-error"]);
                assert_eq!(eval_error.error_message().as_deref(), Some("Unable to resolve symbol 'nope'."));
            }
            Mode::Fork | Mode::Contract => {
                assert!(describe.has_op("interrupt"));
                // A bencode integer is not a decimal string: ignored, jank's own counter is used.
                assert_eq!(by_number.get_str("patch-id"), Some("0"), "{by_number}");
                assert_eq!(by_number.get_str("ns-name"), Some("a.b"));
                assert_eq!(nope.err().trim(), "Unable to resolve symbol 'nope'.");
                assert_eq!(statuses(&nope), ["error", "done"]);
                let positioned = nope.messages.iter().any(|m| m.get("line").is_some());
                assert_eq!(positioned, mode == Mode::Contract, "only the contract gives a position: {nope}");
                assert!(eval_error.err().contains("at (1:2)") && eval_error.ex().is_some(), "{eval_error}");
                let expected =
                    if mode == Mode::Fork { vec!["unsupported", "done"] } else { vec!["error", "unknown-op", "done"] };
                assert_eq!(statuses(&unknown), expected, "{mode:?}");
            }
        }
    }
}
