//! The compile stage (`JankCompiler`) against the stand-in jank (`tests/jank-standin`, a real
//! process speaking jank's nREPL protocol) in each of its modes (the contract, the fork as it
//! is, upstream jank), against Debian's real Clojure nREPL server (no op), plus a scripted fake
//! server for replies the stand-in never gives. Needs `cargo build -p jank-standin` first (the
//! test scripts do it).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use jank_hotpatch::compile::JankCompiler;
use jank_hotpatch::config::NreplSettings;
use jank_hotpatch::nrepl::{Client, ClientOptions, FrameDecoder, Message, Value};
use jank_hotpatch::reader::{FormKind, Namespace, NsDecl};
use jank_hotpatch::stages::{
    Compile, CompileRequest, FormSource, LineCol, PatchId, PatchKind, SourceContext, StageFailure, VarName,
};
use test_support::standin::Standin;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Starts the stand-in in `mode` in `dir`, where it writes `.nrepl-port`.
fn start_as(dir: &Path, mode: Mode, args: &[&str]) -> Standin {
    let mut all = vec!["--mode", mode.name()];
    all.extend_from_slice(args);
    Standin::start(dir, &all)
}

async fn client_of(jank: &Standin) -> Client {
    Client::connect(&jank.endpoint(), ClientOptions::default()).await.unwrap()
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

/// The fork's C++ for `(defn ggg [v] (+ 49 v))` as patch 7 (the build tests build the same
/// file).
const GGG_CPP: &str = include_str!("fixtures/build/ggg_7.cpp");

/// The helpers the fork's C++ declares are the ones the main-module contract has a patchable
/// main module export: one list, `main_module::PATCH_HELPERS`.
#[test]
fn the_forks_prelude_imports_the_contracts_patch_helpers() {
    let declared: Vec<&str> = GGG_CPP
        .lines()
        .filter_map(|l| l.strip_prefix("extern ").filter(|decl| decl.contains('(')))
        .filter_map(|decl| decl.split('(').next()?.rsplit(['*', ' ']).next())
        .collect();
    assert_eq!(declared, jank_hotpatch::main_module::PATCH_HELPERS);
}

#[tokio::test]
async fn a_defn_compiles_to_the_forks_cpp() {
    for mode in MODES {
        let dir = workspace(&format!("golden-{}", mode.name()));
        let _jank = start_as(&dir, mode, &[]);
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
    let _jank = start_as(&dir, mode, &[]);
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
        let _jank = start_as(&dir, mode, &[]);
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

/// What the fork's code generator turns into nil (an all-literal vector or set, which jank
/// folds into one constant it has no translation for; `recur`; a call of a local) is refused,
/// never patched in, with what to write instead.
#[tokio::test]
async fn untranslated_parts_are_refused() {
    let cases = [
        ("(defn f [x] (count #{1 2}))", "unsupported literal", "`(hash-set 1 2)`"),
        ("(defn radius [] (nth [18 30] 0))", "unsupported literal", "build it with a call instead, `(vector 18 30)`"),
        ("(defn up [n] (loop [i 0] (if (< i n) (recur (inc i)) i)))", "unsupported expr", "`loop`/`recur`"),
        ("(defn g [x] (let [h (fn [y] y)] (h x)))", "TODO: call non-var", "not a local one"),
    ];
    for mode in [Mode::Contract, Mode::Fork] {
        let dir = workspace(&format!("untranslated-{}", mode.name()));
        let _jank = start_as(&dir, mode, &[]);
        let jank = compiler(&dir);
        for (id, (form, marker, instead)) in (4..).zip(cases) {
            let file = format!("{NS_FORM}\n{form}\n");
            let failure = jank.compile(&request(&dir, &file, form, defn(), id)).await.unwrap_err();
            assert!(failure.message.contains(&format!("compiled it to nil (`// {marker}`")), "{failure:?}");
            assert!(failure.message.contains(instead), "{failure:?}");
            assert_eq!(failure.location, None);
        }
    }
}

/// The edges of the fork's code generator (docs/real-jank.md): the stand-in emits the fork's
/// C++ for each, which clang rejects with errors about generated names (shown for two), and
/// the sidecar refuses each before the toolchain with a message on the form that names the
/// construct and what to write instead.
#[tokio::test]
async fn the_code_generators_edges_are_refused_on_the_form() {
    let dir = workspace("edges-fork");
    let jank = start_as(&dir, Mode::Fork, &[]);
    let compiler = compiler(&dir);
    // (form, the start of the message, the text the diagnostic starts at)
    let cases = [
        ("(defn adder [x]\n  (fn [y] (+ x y)))", "jank's op cannot compile a closure over `x`", Some("x y)))")),
        (
            "(defn twice [x] (let [x (inc x)] x))",
            "jank's op cannot compile `x` bound twice in one scope",
            Some("x (inc"),
        ),
        ("(defn again [] (let [a 1 a 2] a))", "jank's op cannot compile `a` bound twice", Some("a 2]")),
        ("(defn five [a b c d e] a)", "jank's op cannot patch `five`: it takes 5 parameters", Some("five")),
        ("(defn wide [] (fn [a b c d] a))", "jank's op cannot compile a `fn` of 4 parameters", Some("fn [a")),
        (
            "(defn many [] (str 1 2 3 4 5 6))",
            "jank's op cannot compile a call of `clojure.core/str` with 6 arguments",
            Some("str"),
        ),
        ("(defn outer [] (fn [] (fn [] 1)))", "jank's op cannot compile a `fn` inside another `fn`", Some("fn [] 1")),
        ("(defn ->point [x] x)", "jank's op cannot compile the name `->point`", Some("->point")),
        ("(defn cls [new] new)", "jank's op cannot compile the name `new`: `new` is a C++ keyword", Some("new]")),
    ];
    let mut file = format!("{NS_FORM}\n");
    for (form, ..) in &cases {
        file.push_str(&format!("\n{form}\n"));
    }
    for (id, (form, message, at)) in (20..).zip(cases) {
        let request = request(&dir, &file, form, defn(), id);
        let failure = compiler.compile(&request).await.unwrap_err();
        assert!(failure.message.starts_with(message), "{form}: {failure:?}");
        assert!(!failure.message.contains("tmp_") && !failure.message.contains("jank_anon"), "{failure:?}");
        let expected = at.map(|at| {
            let offset = request.form.range.start + form.find(at).unwrap();
            let before = &file[..offset];
            LineCol {
                line: before.matches('\n').count() as u32,
                column: (offset - before.rfind('\n').unwrap() - 1) as u32,
            }
        });
        assert_eq!(failure.location, expected, "{form}: {}", failure.message);
    }

    // What clang would have said instead: the stand-in's C++ is the fork's.
    let client = client_of(&jank).await;
    for (form, clang_says) in [
        ("(defn adder [x] (fn [y] (+ x y)))", "use of undeclared identifier 'x'"),
        ("(defn twice [x] (let [x (inc x)] x))", "redefinition of 'x'"),
    ] {
        let reply = client
            .request(Message::op("wasm-compile-patch").with("code", form).with("ns", "demo.core").with("patch-id", "3"))
            .await
            .unwrap();
        let cpp = reply.get_str("cpp-code").unwrap();
        let cpp_path = dir.join("edge.cpp");
        std::fs::write(&cpp_path, cpp).unwrap();
        let output = Command::new("clang++-14")
            .args(["-target", "wasm32-unknown-emscripten", "--sysroot=/usr/share/emscripten/cache/sysroot"])
            .args(["-fsyntax-only", "-DEMSCRIPTEN"])
            .arg(&cpp_path)
            .output()
            .expect("clang++-14");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(clang_says), "{form}:\n{stderr}\n{cpp}");
    }
}

/// `true` compiles to the integer 1 and `false` to nil in the fork: the form is patched, with
/// a warning on the form that says what it costs.
#[tokio::test]
async fn booleans_compile_with_a_warning_on_the_form() {
    let dir = workspace("booleans-fork");
    let _jank = start_as(&dir, Mode::Fork, &[]);
    let compiler = compiler(&dir);
    let form = "(defn yes? [x]\n  (= x true))";
    let file = format!("{NS_FORM}\n\n{form}\n\n(defn plain [x] (inc x))\n");
    let compiled = compiler.compile(&request(&dir, &file, form, defn(), 40)).await.unwrap();
    assert!(compiled.cpp.contains("jank_box_integer(1); // true"), "{}", compiled.cpp);
    let [warning] = compiled.warnings.as_slice() else { panic!("one warning: {:?}", compiled.warnings) };
    assert!(warning.message.starts_with("jank's op compiles `true` to the integer 1:"), "{warning:?}");
    assert!(warning.message.contains("(= x true)"), "{warning:?}");
    let line = file[..file.find("true))").unwrap()].matches('\n').count() as u32;
    assert_eq!(warning.location, Some(LineCol { line, column: 7 }));
    let plain = compiler.compile(&request(&dir, &file, "(defn plain [x] (inc x))", defn(), 41)).await.unwrap();
    assert!(plain.warnings.is_empty());
}

/// The fork interns a def in `user` while analysing it there: a recursive function would call
/// `user/fact`, and once `ggg` was compiled, a call of it resolves to `user/ggg`; the page has
/// neither. Refused, with the reason.
#[tokio::test]
async fn calls_into_user_show_where_jank_analysed() {
    for mode in [Mode::Contract, Mode::Fork] {
        let dir = workspace(&format!("recursive-{}", mode.name()));
        let _jank = start_as(&dir, mode, &[]);
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
    let jank = Standin::start(&dir, &[]);
    let form = "(defn f [x] (set/union x #{x}))";

    let raw = client_of(&jank).await;
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
        let _jank = start_as(&dir, mode, &[]);
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
        let _jank = start_as(&dir, mode, &[]);
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
    let _jank = Standin::start(&dir, &[]);
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
        let _jank = start_as(&dir, mode, &[]);
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
    let jank = start_as(&dir, mode, &[]);
    let compiler = compiler(&dir);
    let before = format!("{NS_FORM}\n(defn ggg [v] (+ 49 v))\n");
    compiler.compile(&request(&dir, &before, "(defn ggg [v] (+ 49 v))", defn(), 1)).await.unwrap();
    let after = format!("{before}(defn twice [x] (* 2 (ggg x)))\n");
    let twice = request(&dir, &after, "(defn twice [x] (* 2 (ggg x)))", defn(), 2);
    compiler.mirror(&twice).await.unwrap();

    let raw = client_of(&jank).await;
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
        let jank = start_as(&dir, mode, &[]);
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
            let raw = client_of(&jank).await;
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
    let _jank = start_as(&dir, Mode::Upstream, &[]);
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
    let mut slow = Standin::start(&dir, &["--delay-ms", "3000"]);
    let jank = Arc::new(compiler(&dir));
    let form = "(defn f [x] (set/union x #{x}))";
    let file = format!("{NS_FORM}\n{form}\n");
    let req = request(&dir, &file, form, defn(), 1);
    let pending = tokio::spawn({
        let (jank, req) = (jank.clone(), req.clone());
        async move { jank.compile(&req).await }
    });
    // Killed once it has the compile request (it logs so before the delay).
    slow.compile_received().await;
    drop(slow);
    let failure: StageFailure = pending.await.unwrap().unwrap_err();
    assert!(failure.message.contains("closed the connection"), "{failure:?}");

    // A new jank (new port, empty environment): the compiler reconnects and loads again.
    let _fresh = Standin::start(&dir, &[]);
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
    let jank = Standin::start(&dir, &[]);
    let mut rogue = tokio::net::TcpStream::connect(("127.0.0.1", jank.port)).await.unwrap();
    rogue.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), rogue.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0))), "the stand-in closes a connection that sends garbage: {read:?}");

    let client = client_of(&jank).await;
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

/// Upstream's eval errors as of August 2026 (the message in `value`) and of September 2026
/// (`err` and `ex`, both the printed exception, no `value`): the client reads the message out
/// of each, and the compile stage gives the same one diagnostic with either.
#[tokio::test]
async fn upstreams_august_and_september_errors_read_alike() {
    let keys = |r: &jank_hotpatch::nrepl::Response| -> Vec<Vec<String>> {
        r.messages.iter().map(|m| m.0.keys().filter(|k| *k != "id" && *k != "session").cloned().collect()).collect()
    };
    for version in ["2026-08", "2026-09"] {
        let dir = workspace(&format!("upstream-{version}"));
        let jank = start_as(&dir, Mode::Upstream, &["--upstream-version", version]);
        let client = client_of(&jank).await;
        let session = client.clone_session(None).await.unwrap();
        let eval = |code| jank_hotpatch::nrepl::Eval { code, ..Default::default() };
        let failed = client.eval(&session, &eval("(nope)")).await.unwrap();
        let ok = client.eval(&session, &eval("(+ 1 2)")).await.unwrap();
        assert_eq!(failed.error_message().as_deref(), Some("Unable to resolve symbol 'nope'."), "{version}: {failed}");
        assert_eq!(ok.value(), Some("3"));
        if version == "2026-08" {
            assert_eq!(keys(&failed), [vec!["out"], vec!["err"], vec!["status", "value"]]);
            assert_eq!(keys(&ok), [vec!["out"], vec!["err"], vec!["ns", "value"], vec!["status"]]);
        } else {
            assert_eq!(keys(&failed), [vec!["err"], vec!["ex", "status"]], "no blank out or err, no value");
            assert!(failed.ex().unwrap().starts_with("#error {\n :cause \"Unable to resolve symbol 'nope'.\""));
            assert_eq!(keys(&ok), [vec!["ns", "value"], vec!["status"]]);
        }
        let file = format!("{NS_FORM}\n(defn ggg [v] (+ 49 v))\n");
        let failure =
            compiler(&dir).compile(&request(&dir, &file, "(defn ggg [v] (+ 49 v))", defn(), 7)).await.unwrap_err();
        assert_missing_op(&failure);
    }
}

/// The fork's and upstream's reply shapes as `docs/real-jank.md` records them.
#[tokio::test]
async fn each_mode_answers_with_its_janks_shapes() {
    let statuses = |r: &jank_hotpatch::nrepl::Response| r.statuses().into_iter().map(String::from).collect::<Vec<_>>();
    for mode in MODES {
        let dir = workspace(&format!("shapes-{}", mode.name()));
        let jank = start_as(&dir, mode, &[]);
        let client = client_of(&jank).await;
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
