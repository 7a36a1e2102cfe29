//! The sidecar's nREPL endpoint driven by a real nREPL client (the `nrepl` library's own
//! `nrepl.core` client on Debian's clojure + libnrepl-clojure, scripted by
//! tests/nrepl/client.clj), in front of a real nREPL server standing in for jank's (Debian's
//! nREPL: forwarding and sessions), over a pipeline with stand-in stages that answer like a
//! page would, and raw sockets for input no real client sends.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jank_hotpatch::config::NreplServerSettings;
use jank_hotpatch::front::nrepl_endpoint::{self, NreplEndpoint, PORT_FILE};
use jank_hotpatch::nrepl::{Client, ClientOptions, FrameDecoder, Locator, Message, Value as Bencode};
use jank_hotpatch::pipeline::{Backends, PatchIds, Pipeline};
use jank_hotpatch::stages::*;
use serde_json::Value;
use test_support::standin::Standin;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::Notify;

mod support;
use support::app::repo;

const CLASSPATH: &str = "/usr/share/java/clojure.jar:/usr/share/java/nrepl.jar";

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nrepl-endpoint").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Told when a `slow` form starts compiling.
static SLOW_STARTED: Notify = Notify::const_new();
/// Lets the `slow` forms finish.
static SLOW_RELEASED: Notify = Notify::const_new();
/// Every form compiled, with the path of its document, so that a test can say what reached
/// the pipeline (tests run in parallel: each looks at its own workspace's paths only).
static COMPILED: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

/// The forms compiled from documents under `dir`, and their paths.
fn compiled_under(dir: &Path) -> Vec<(PathBuf, String)> {
    COMPILED.lock().unwrap().iter().filter(|(path, _)| path.starts_with(dir)).cloned().collect()
}

/// Compiles any form; a form containing `nope` fails at its third column, one containing
/// `slow` waits for [`SLOW_RELEASED`].
struct StandInCompile;

#[async_trait]
impl Compile for StandInCompile {
    async fn compile(&self, request: &CompileRequest) -> Result<CompiledForm, StageFailure> {
        COMPILED.lock().unwrap().push((request.source.path.clone(), request.form.text.clone()));
        if request.form.text.contains("slow") {
            let released = SLOW_RELEASED.notified();
            SLOW_STARTED.notify_one();
            released.await;
        }
        if request.form.text.contains("nope") {
            let at = LineCol { line: request.form.start.line, column: request.form.start.column + 2 };
            return Err(StageFailure::new("Unable to resolve symbol: nope").at(at));
        }
        let ns = request.source.namespace.name().unwrap_or("?").to_string();
        let (name, kind) = match &request.form.name {
            Some(name) => (name.clone(), PatchKind::Definition),
            None => (format!("__expr_{}", request.patch_id), PatchKind::Expression),
        };
        Ok(CompiledForm {
            patch_id: request.patch_id,
            cpp: format!("{ns} {}", request.form.text),
            var: VarName::new(ns, name),
            kind,
            warnings: Vec::new(),
        })
    }

    async fn mirror(&self, _: &CompileRequest) -> Result<(), StageFailure> {
        Ok(())
    }
}

struct StandInBuild;

#[async_trait]
impl Build for StandInBuild {
    async fn cached(&self, _: FormKey) -> Option<SideModule> {
        None
    }

    async fn build_together(&self, forms: &[(FormKey, &CompiledForm)]) -> Vec<Result<SideModule, StageFailure>> {
        let module = |form: &CompiledForm| SideModule {
            patch_id: form.patch_id,
            module: form.patch_id.into(),
            bytes: form.cpp.as_bytes().into(),
            entry_symbol: form.patch_id.entry_symbol(),
            var: form.var.clone(),
            kind: form.kind.clone(),
            cpp_path: PathBuf::from("patch.cpp"),
            cached: false,
        };
        forms.iter().map(|(_, form)| Ok(module(form))).collect()
    }
}

/// One page that answers every expression with `page: <ns> <form>`.
struct StandInPage;

#[async_trait]
impl Deliver for StandInPage {
    async fn deliver_batch(&self, patches: Vec<Patch>, _: &LoadHooks) -> Result<Delivery, StageFailure> {
        let values: Vec<_> = patches
            .iter()
            .filter(|p| p.module.kind == PatchKind::Expression)
            .map(|p| (p.module.patch_id, format!("page: {}", String::from_utf8_lossy(&p.module.bytes))))
            .collect();
        let value = values.first().map(|(_, v)| v.clone());
        // A definition named `unjournaled` stands for a patch the journal could not keep.
        let warnings = patches
            .iter()
            .filter(|p| p.module.var.name == "unjournaled")
            .map(|_| "the patch journal could not be saved (disk full)".to_string())
            .collect();
        Ok(Delivery { pages: 1, applied: 1, value, values, warnings, ..Delivery::default() })
    }

    async fn undo(&self, vars: &[VarName], _: &LoadHooks) -> Result<Delivery, StageFailure> {
        let versions = vars.iter().map(|v| VarVersion { var: v.clone(), version: 1 }).collect();
        Ok(Delivery { pages: 1, applied: 1, versions, ..Delivery::default() })
    }
}

fn stand_in_pipeline(cache_dir: &Path) -> Arc<Pipeline> {
    let backends = Backends {
        compile: Ok(Arc::new(StandInCompile)),
        build: Ok(Arc::new(StandInBuild)),
        check: None,
        deliver: Ok(Arc::new(StandInPage)),
    };
    Arc::new(Pipeline::new(backends, PatchIds::open(cache_dir)))
}

async fn endpoint(workspace: &Path, jank: Option<&str>) -> NreplEndpoint {
    let _ = tracing_subscriber::fmt().with_env_filter("jank_hotpatch=info").with_test_writer().try_init();
    let settings = NreplServerSettings { enabled: true, port: 0 };
    let jank = Arc::new(Locator::new(jank.map(str::to_string), workspace));
    let cache_dir = workspace.join(jank_hotpatch::config::CACHE_DIR);
    nrepl_endpoint::start(stand_in_pipeline(&cache_dir), &settings, jank, workspace, &cache_dir, None)
        .await
        .expect("the nREPL endpoint starts")
}

/// Runs tests/nrepl/client.clj with `script` against `port`; one JSON value per step.
async fn clojure_client(dir: &Path, port: u16, script: &str) -> Vec<Value> {
    let path = dir.join("script.edn");
    std::fs::write(&path, script).unwrap();
    let output = Command::new("java")
        .args(["-cp", CLASSPATH, "clojure.main"])
        .arg(repo().join("tests/nrepl/client.clj"))
        .arg(port.to_string())
        .arg(&path)
        .output()
        .await
        .expect("java runs (apt-get install clojure libnrepl-clojure)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the client failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn responses(steps: &[Value], step: usize) -> &[Value] {
    steps[step]["responses"].as_array().map(Vec::as_slice).unwrap_or_else(|| panic!("step {step}: {}", steps[step]))
}

/// Every `key` of `replies`.
fn all<'a>(replies: &'a [Value], key: &str) -> Vec<&'a str> {
    replies.iter().filter_map(|r| r[key].as_str()).collect()
}

fn statuses(replies: &[Value]) -> Vec<&str> {
    replies.iter().filter_map(|r| r["status"].as_array()).flatten().filter_map(Value::as_str).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn eval_patches_each_form_and_answers_like_nrepl() {
    let dir = scratch("eval");
    std::fs::create_dir_all(dir.join("src/demo")).unwrap();
    std::fs::write(
        dir.join("src/demo/core.jank"),
        "(ns demo.core\n  (:require [clojure.string :as str]))\n\n(defn greet [n] n)\n",
    )
    .unwrap();
    let server = endpoint(&dir, None).await;
    assert_eq!(server.port_file(), dir.join(jank_hotpatch::config::CACHE_DIR).join(PORT_FILE));
    assert_eq!(std::fs::read_to_string(server.port_file()).unwrap(), server.port().to_string());
    let steps = clojure_client(
        &dir,
        server.port(),
        r#"[[:connect :a] [:clone :a :s1]
            [:send :a {:op "eval" :session :s1 :ns "demo.core" :code "(defn greet [n] (str \"hi \" n))"}]
            [:send :a {:op "eval" :session :s1 :ns "demo.core" :code "(greet 1)\n(+ 1 2)"}]
            [:send :a {:op "eval" :session :s1 :code "(ns other.place) (+ 2 2)"}]
            [:send :a {:op "eval" :session :s1 :code "(+ 3 3)"}]
            [:send :a {:op "eval" :session :s1 :code "\n  (nope 1)" :line 10 :column 5 :file "src/demo/core.jank"}]
            [:connect :b] [:clone :b :s2]
            [:send :b {:op "eval" :session :s2 :code "(+ 4 4)"}]
            [:send :a {:op "eval" :session :s1 :code "(defn greet [n] (str \"hey \" n))" :file "src/demo/core.jank" :line 4 :column 1}]
            [:seen :b]
            [:send :a {:op "describe"}]
            [:send :a {:op "completions" :session :s1 :prefix "gr"}]
            [:send :a {:op "ls-sessions"}]
            [:send :a {:op "close" :session :s1}]
            [:send :a {:op "eval" :session :s1 :code "1"}]
            [:send :b {:op "load-file" :session :s2 :file-path "src/demo/more.jank"
                       :file "(ns demo.more)\n(defn one [] 1)\n(one)"}]
            [:send :b {:op "load-file" :session :s2 :file-path "src/demo/more.jank"
                       :file "(ns demo.more)\n(defn one [] 1)\n(one)"}]
            [:send :b {:op "load-file" :session :s2 :file-path "src/demo/more.jank"
                       :file "(ns demo.more)\n(defn one [] (nope))\n(one)"}]]"#,
    )
    .await;

    let define = responses(&steps, 2);
    assert_eq!(all(define, "value"), ["#'demo.core/greet"], "{define:?}");
    assert_eq!(all(define, "ns"), ["demo.core", "demo.core"], "on the value and on done");
    assert_eq!(define.last().unwrap()["status"], serde_json::json!(["done"]), "done comes alone, last");
    let s1 = steps[1]["responses"][0]["new-session"].as_str().unwrap();
    assert!(define.iter().all(|r| r["session"] == s1 && r["id"].is_string()), "{define:?}");

    // Two forms: two values, each computed by the page, in the namespace with its requires.
    let values = responses(&steps, 3);
    assert_eq!(all(values, "value"), ["page: demo.core (greet 1)", "page: demo.core (+ 1 2)"], "{values:?}");

    // An ns form switches the session's namespace, for this eval and the next ones.
    assert_eq!(all(responses(&steps, 4), "value"), ["nil", "page: other.place (+ 2 2)"]);
    assert_eq!(all(responses(&steps, 4), "ns"), ["other.place", "other.place", "other.place"]);
    assert_eq!(all(responses(&steps, 5), "ns"), ["other.place", "other.place"]);

    // A compile error: jank's message at the client's line and column, nREPL's error shape.
    let failed = responses(&steps, 6);
    let err = all(failed, "err").concat();
    assert!(err.contains("Unable to resolve symbol: nope at line 11, column 5"), "{failed:?}");
    assert!(err.contains("src/demo/core.jank"), "{err}");
    assert_eq!(statuses(failed), ["eval-error", "done"], "{failed:?}");
    assert_eq!(all(failed, "ex"), ["class jank.hotpatch.CompileError"]);
    assert_eq!(all(failed, "ns"), ["demo.core", "demo.core"], "the file's, on the error and on done: {failed:?}");
    assert_eq!(all(failed, "root-ex"), ["class jank.hotpatch.CompileError"]);
    assert!(all(failed, "value").is_empty());

    // Another client's session starts in `user` and never sees the first one's replies.
    assert_eq!(all(responses(&steps, 9), "ns"), ["user", "user"]);
    assert_eq!(all(responses(&steps, 9), "value"), ["page: user (+ 4 4)"]);
    let seen_by_b = responses(&steps, 11);
    assert!(seen_by_b.iter().all(|r| r["session"] != s1), "{seen_by_b:?}");
    assert!(!seen_by_b.is_empty());

    // Evaluated where the saved file has it: a definition in the file's namespace.
    assert_eq!(all(responses(&steps, 10), "value"), ["#'demo.core/greet"]);

    let describe = responses(&steps, 12);
    assert_eq!(describe[0]["versions"]["jank-hotpatch"]["version-string"], env!("CARGO_PKG_VERSION"));
    assert!(describe[0]["ops"]["eval"].is_object() && describe[0]["ops"]["load-file"].is_object());

    // No jank to forward to: said so, as an error reply.
    let completions = responses(&steps, 13);
    assert!(all(completions, "err").concat().contains("not reachable"), "{completions:?}");
    assert_eq!(statuses(completions), ["error", "done"]);

    let listed = &responses(&steps, 14)[0]["sessions"];
    assert!(listed.as_array().unwrap().iter().any(|s| s == s1), "{listed}");
    assert_eq!(statuses(responses(&steps, 15)), ["done", "session-closed"]);
    assert_eq!(statuses(responses(&steps, 16)), ["error", "unknown-session", "done"]);

    // load-file patches what changed in the file and answers with the last form's value.
    let loaded = responses(&steps, 17);
    assert_eq!(all(loaded, "value"), ["page: demo.more (one)"], "{loaded:?}");
    assert_eq!(all(loaded, "ns"), ["user", "user"], "load-file leaves the session's namespace alone");
    // Loaded again unchanged: the definition is skipped, the expression evaluated again.
    let again = responses(&steps, 18);
    assert_eq!(all(again, "value"), ["page: demo.more (one)"], "{again:?}");
    assert!(all(again, "err").is_empty(), "{again:?}");
    let broken = responses(&steps, 19);
    assert!(all(broken, "err").concat().contains("nope at line 2, column 3"), "{broken:?}");
    assert_eq!(statuses(broken), ["eval-error", "done"]);

    let port_file = server.port_file().to_path_buf();
    drop(server);
    assert!(!port_file.exists(), "the port file goes with the server");
}

/// A string as an EDN literal, for client scripts.
fn edn(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

/// A workspace with one namespace whose file ends in an expression, as in the demo.
fn editor_workspace(name: &str) -> (PathBuf, PathBuf, &'static str) {
    let dir = scratch(name);
    std::fs::create_dir_all(dir.join("src/demo")).unwrap();
    let text = "(ns demo.core\n  (:require [clojure.string :as str]))\n\n(defn speed [] 4)\n\n(+ (speed) 38)\n";
    let file = dir.join("src/demo/core.jank");
    std::fs::write(&file, text).unwrap();
    (dir, file, text)
}

/// What an editor's request must never get: an error (it would show it), or a reply that ends
/// an evaluation without `ns` (CIDER's prompt would read `nil>`).
fn assert_quiet(replies: &[Value], what: &str) {
    assert!(all(replies, "err").is_empty() && !statuses(replies).contains(&"eval-error"), "{what}: {replies:?}");
    let done = replies.iter().find(|r| r["status"].to_string().contains("done")).unwrap();
    assert!(done["ns"].is_string(), "{what}: `done` without ns: {replies:?}");
}

/// CIDER's REPL eval parameters (`cider--repl-request-plist` at fill-column 70), as EDN.
const CIDER_REPL_PARAMS: &str = r#":nrepl.middleware.print/stream? "1" :nrepl.middleware.print/print "cider.nrepl.pprint/pprint"
    :nrepl.middleware.print/quota 1048576 :nrepl.middleware.print/buffer-size 4096
    :nrepl.middleware.print/options {"right-margin" 70} :content-type "true""#;
/// CIDER's source-buffer eval and load-file parameters (`cider--nrepl-pr-request-plist`; nil is `le`).
const CIDER_PR_PARAMS: &str = r#":nrepl.middleware.print/print "cider.nrepl.pprint/pr" :nrepl.middleware.print/stream? []
    :nrepl.middleware.print/quota 1048576"#;
/// CIDER's `cider-repl-init-code`, as EDN.
const CIDER_INIT: &str = r#""(when-let [requires (resolve 'clojure.main/repl-requires)]\n  (clojure.core/apply clojure.core/require @requires))""#;

/// CIDER's connect, as client script steps 1 to 4 (`:s` its session, `:t` its tooling session):
/// clone, clone, describe, then its start-up code with the REPL buffer's name as `file`.
fn cider_connect(port: u16) -> String {
    let buffer = edn(&format!("*cider-repl ~/demo:127.0.0.1:{port}(clj)*"));
    format!(
        r#"[:clone :cider :s {{:client-name "CIDER" :client-version "2.0.1" :id "1"}}]
           [:clone :cider :t {{:client-name "CIDER" :client-version "2.0.1" :id "2"}}]
           [:send :cider {{:op "describe" :session :s :id "3"}}]
           [:send :cider {{:op "eval" :code {CIDER_INIT} :file {buffer} :line 9 :column 1 {CIDER_REPL_PARAMS}
                          :inhibit-cider-middleware "true" :session :s :id "4"}}]"#
    )
}

/// CIDER 2.0.1 without cider-nrepl (`cider-connect-clj`), message for message as its sources
/// build them (nrepl-client.el, cider-repl.el, cider-eval.el, cider-compilation.el; keys in
/// the order CIDER's bencode writes them: sorted): connect, `C-M-x` on a defn, `C-x C-e` on
/// an expression, an eval at the REPL prompt, an error there and CIDER's follow-ups, then
/// `C-c C-k` on the file.
#[tokio::test(flavor = "multi_thread")]
async fn cider_connects_quietly_and_evaluates_like_clojure() {
    let (dir, file, text) = editor_workspace("cider");
    let server = endpoint(&dir, None).await;
    let buffer = edn(&format!("*cider-repl ~/demo:127.0.0.1:{}(clj)*", server.port()));
    let (repl, pr) = (CIDER_REPL_PARAMS, CIDER_PR_PARAMS);
    let ns_form = "(ns demo.core\n  (:require [clojure.string :as str]))";
    let file_path = edn(&file.display().to_string());
    let steps = clojure_client(
        &dir,
        server.port(),
        &format!(
            r#"[[:connect :cider] {connect}
                [:send :cider {{:op "eval" :code {ns_form} :session :s :id "5"}}]
                [:send :cider {{:op "eval" :code "(defn speed [] 4)" :ns "demo.core" :file {file_path} :line 4 :column 1
                               :content-type "true" {pr} :session :s :id "6"}}]
                [:send :cider {{:op "eval" :code "(+ (speed) 38)" :ns "demo.core" :file {file_path} :line 6 :column 1
                               :content-type "true" {pr} :session :s :id "7"}}]
                [:send :cider {{:op "eval" :code "(+ 40 2)" :ns "user" :file {buffer} :line 10 :column 7 {repl}
                               :session :s :id "8"}}]
                [:send :cider {{:op "eval" :code "(nope 1)" :ns "user" :file {buffer} :line 11 :column 7 {repl}
                               :session :s :id "9"}}]
                [:send :cider {{:op "eval" :code "(require 'clojure.stacktrace)" :session :t :id "10"}}]
                [:send :cider {{:op "eval" :code "(clojure.stacktrace/print-cause-trace *e)" :session :s :id "11"}}]
                [:send :cider {{:op "eval" :code "(println (ex-data *e))" :session :s :id "12"}}]
                [:send :cider {{:op "load-file" :file {contents} :file-path {file_path} :file-name "core.jank" {pr}
                               :session :s :id "13"}}]
                [:send :cider {{:op "eval" :code "(in-ns 'demo.core)" :session :t :id "14"}}]
                [:send :cider {{:op "eval" :code "(+ (speed) 1)" :ns "demo.core" :file {buffer} :line 12 :column 12 {repl}
                               :session :s :id "15"}}]]"#,
            connect = cider_connect(server.port()),
            ns_form = edn(ns_form),
            contents = edn(text),
        ),
    )
    .await;

    // Connecting: the start-up code is answered, with the session's namespace, and nothing is
    // shown; the buffer name in `file` is a label, never a path to load.
    let started = responses(&steps, 4);
    assert_quiet(started, "start-up code");
    assert_eq!(all(started, "value"), ["nil"], "{started:?}");
    assert_eq!(all(started, "ns"), ["user", "user"]);
    assert!(started.iter().all(|r| r["id"] == "4"));

    // The ns form switches the session; the defn and the expression go to the page.
    assert_eq!(all(responses(&steps, 5), "value"), ["nil"]);
    assert_eq!(all(responses(&steps, 6), "value"), ["#'demo.core/speed"]);
    assert_eq!(all(responses(&steps, 7), "value"), ["page: demo.core (+ (speed) 38)"]);
    assert_eq!(all(responses(&steps, 8), "value"), ["page: user (+ 40 2)"]);
    for step in [5, 6, 7, 8] {
        assert_quiet(responses(&steps, step), &format!("step {step}"));
    }

    // An error at the prompt: the message, then `ns` on the error and on done.
    let failed = responses(&steps, 9);
    assert!(all(failed, "err").concat().contains("Unable to resolve symbol: nope"), "{failed:?}");
    assert_eq!(statuses(failed), ["eval-error", "done"]);
    assert_eq!(all(failed, "ns"), ["user", "user"], "{failed:?}");
    // CIDER's follow-ups: answered, nothing printed, so no error buffer pops up.
    for step in [10, 11, 12] {
        let replies = responses(&steps, step);
        assert_quiet(replies, &format!("step {step}"));
        assert_eq!(all(replies, "value"), ["nil"], "step {step}: {replies:?}");
        assert!(all(replies, "out").is_empty(), "step {step}: {replies:?}");
    }

    // C-c C-k after C-x C-e: the unchanged defn is skipped, the expression evaluated again.
    let loaded = responses(&steps, 13);
    assert_quiet(loaded, "load-file");
    assert_eq!(all(loaded, "value"), ["page: demo.core (+ (speed) 38)"], "{loaded:?}");

    // `C-c M-n n` (cider-repl-set-ns): the prompt follows the reply's `ns`.
    let switched = responses(&steps, 14);
    assert_quiet(switched, "in-ns");
    assert_eq!(all(switched, "ns"), ["demo.core", "demo.core"]);
    assert_eq!(all(responses(&steps, 15), "value"), ["page: demo.core (+ (speed) 1)"]);

    // What reached the pipeline: code, never tooling, never the REPL buffer's name.
    let compiled = compiled_under(&dir);
    let forms: Vec<&str> = compiled.iter().map(|(_, form)| form.as_str()).collect();
    let expected = ["(defn speed [] 4)", "(+ (speed) 38)", "(+ 40 2)", "(nope 1)", "(+ (speed) 38)", "(+ (speed) 1)"];
    assert_eq!(forms, expected);
    assert!(compiled.iter().all(|(path, _)| !path.to_string_lossy().contains("cider-repl")), "{compiled:?}");
}

/// A bencode value written in the order given: Calva's encoder writes a dictionary's keys in
/// insertion order (and `true` as `i1e`), which the nrepl.core client, sorting them, cannot.
enum Ordered<'a> {
    Str(&'a str),
    Int(i64),
    Dict(Vec<(&'a str, Ordered<'a>)>),
}

impl Ordered<'_> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Ordered::Str(s) => out.extend(format!("{}:{s}", s.len()).as_bytes()),
            Ordered::Int(i) => out.extend(format!("i{i}e").as_bytes()),
            Ordered::Dict(pairs) => {
                out.push(b'd');
                for (key, value) in pairs {
                    Ordered::Str(key).encode(out);
                    value.encode(out);
                }
                out.push(b'e');
            }
        }
    }
}

/// A client that writes its requests as raw bytes.
struct RawClient {
    stream: TcpStream,
    decoder: FrameDecoder,
    /// Messages read while waiting for another id's replies (an `err` pushed to the session
    /// can arrive before the eval that caused it is `done`), for `wait_for`.
    others: Vec<Value>,
}

impl RawClient {
    /// Sends `request` and returns the replies to `id` up to its `done`, as JSON (as the
    /// nrepl.core client's are, for the same checks).
    async fn exchange(&mut self, request: Ordered<'_>, id: &str) -> Vec<Value> {
        let mut bytes = Vec::new();
        request.encode(&mut bytes);
        self.stream.write_all(&bytes).await.unwrap();
        let mut replies = Vec::new();
        let mut buffer = vec![0; 64 * 1024];
        loop {
            while let Some(reply) = self.decoder.next_message().unwrap() {
                if reply.id() != Some(id) {
                    self.others.push(json(&Bencode::Dict(reply.0)));
                    continue;
                }
                let done = reply.has_status("done");
                replies.push(json(&Bencode::Dict(reply.0)));
                if done {
                    return replies;
                }
            }
            let n =
                tokio::time::timeout(Duration::from_secs(30), self.stream.read(&mut buffer)).await.unwrap().unwrap();
            assert!(n > 0, "closed while waiting for {id}: {replies:?}");
            self.decoder.extend(&buffer[..n]);
        }
    }
}

impl RawClient {
    /// The first message from the server that `pred` accepts, whatever its id (or none).
    async fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(at) = self.others.iter().position(&pred) {
            return self.others.remove(at);
        }
        let mut buffer = vec![0; 64 * 1024];
        loop {
            while let Some(message) = self.decoder.next_message().unwrap() {
                let message = json(&Bencode::Dict(message.0));
                if pred(&message) {
                    return message;
                }
            }
            let n =
                tokio::time::timeout(Duration::from_secs(30), self.stream.read(&mut buffer)).await.unwrap().unwrap();
            assert!(n > 0, "closed while waiting");
            self.decoder.extend(&buffer[..n]);
        }
    }
}

/// Code evaluated over nREPL that then throws in the page (issue 24): the session that
/// evaluated last gets one `err` message naming the var, the form and jank's message.
#[tokio::test(flavor = "multi_thread")]
async fn the_session_that_patched_last_hears_of_the_errors_its_code_throws_in_the_page() {
    let (jank, dir, started) = demo_app("page-runtime-error", "contract").await;
    let url = started.app_url.clone().unwrap_or_else(|| panic!("no app server: {:?}", started.warnings));
    let nrepl = NreplServerSettings { enabled: true, port: 0 };
    let errors = started.runtime_errors.clone();
    let cache_dir = dir.join(jank_hotpatch::config::CACHE_DIR);
    let server =
        nrepl_endpoint::start(started.pipeline.clone(), &nrepl, started.jank.clone(), &dir, &cache_dir, errors)
            .await
            .unwrap();
    let browser = test_support::cdp::Browser::launch().await;
    let page = browser.open(&url).await;
    page.wait_for("window.jankHotpatch && window.jankHotpatch.connected", Duration::from_secs(20)).await;

    let mut client = RawClient { stream: raw(server.port()).await, decoder: FrameDecoder::new(1 << 20), others: Vec::new() };
    let cloned =
        client.exchange(Ordered::Dict(vec![("op", Ordered::Str("clone")), ("id", Ordered::Str("1"))]), "1").await;
    let session = cloned[0]["new-session"].as_str().unwrap().to_string();
    let file = dir.join("src/demo/core.jank").display().to_string();
    let eval = |code, id| {
        Ordered::Dict(vec![
            ("op", Ordered::Str("eval")),
            ("session", Ordered::Str(&session)),
            ("ns", Ordered::Str("demo.core")),
            ("file", Ordered::Str(&file)),
            ("line", Ordered::Int(10)),
            ("code", Ordered::Str(code)),
            ("id", Ordered::Str(id)),
        ])
    };
    let code = "(defn speed [] 3)\n(defn radius [] 18)\n(defn color [clicks] \"gold\")\n(defn label [clicks] \"x\")";
    client.exchange(eval(code, "2"), "2").await;
    page.wait_for("window.demoApp.values && window.demoApp.values.color === 'gold'", Duration::from_secs(20)).await;
    client.exchange(eval("(defn radius [] (/ 1 0))", "3"), "3").await;
    let told = client.wait_for(|m| m["err"].as_str().is_some_and(|e| e.contains("threw in page"))).await;
    assert_eq!(told["session"], session.as_str(), "{told}");
    let err = told["err"].as_str().unwrap();
    assert!(err.starts_with("demo.core/radius (") && err.contains("divide by zero"), "{err}");
    assert!(err.contains("in the animation frame"), "{err}");

    browser.close().await;
    jank.kill();
}

fn json(value: &Bencode) -> Value {
    match value {
        Bencode::Int(i) => Value::from(*i),
        Bencode::Str(s) => Value::from(s.as_str()),
        Bencode::List(items) => Value::Array(items.iter().map(json).collect()),
        Bencode::Dict(dict) => Value::Object(dict.iter().map(|(k, v)| (k.clone(), json(v))).collect()),
    }
}

/// Calva 2.0.480 (src/nrepl/index.ts, connector.ts, evaluate.ts; default settings), byte for
/// byte in its key order: connect (`*ns*` before any session, clone, describe, the onConnect
/// code from its REPL window), an eval at the REPL window, then a form of a file (the file's
/// `ns` form first, as Calva sends it when the REPL window is in another namespace).
#[tokio::test(flavor = "multi_thread")]
async fn calva_connects_quietly_and_evaluates_like_clojure() {
    use Ordered::{Dict, Int, Str};
    let (dir, file, _) = editor_workspace("calva");
    std::fs::create_dir_all(dir.join(".calva")).unwrap();
    let repl_window = dir.join(".calva/repl.calva-repl");
    std::fs::write(&repl_window, "; This is the Calva REPL Window.\n\nclj꞉user꞉> \n(+ 40 2)\n").unwrap();
    let (repl_window, file) = (repl_window.display().to_string(), file.display().to_string());
    let server = endpoint(&dir, None).await;
    let mut calva = RawClient { stream: raw(server.port()).await, decoder: FrameDecoder::new(1 << 20), others: Vec::new() };
    let printer = || {
        [
            ("nrepl.middleware.print/options", Dict(vec![("right-margin", Int(120)), ("length", Int(50))])),
            ("nrepl.middleware.print/print", Str("cider.nrepl.pprint/pprint")),
        ]
    };
    let ns = calva.exchange(Dict(vec![("op", Str("eval")), ("code", Str("*ns*")), ("id", Str("1"))]), "1").await;
    assert_quiet(&ns, "*ns*");
    assert_eq!(all(&ns, "ns"), ["user", "user"], "{ns:?}");
    let cloned = calva.exchange(Dict(vec![("op", Str("clone")), ("id", Str("2"))]), "2").await;
    let session = cloned[0]["new-session"].as_str().unwrap().to_string();
    let describe =
        Dict(vec![("op", Str("describe")), ("id", Str("3")), ("verbose", Int(1)), ("session", Str(&session))]);
    assert!(calva.exchange(describe, "3").await[0]["ops"]["eval"].is_object());

    let eval = |id, ns, code, file, line, column, printed: bool| {
        let mut pairs = vec![
            ("id", Str(id)),
            ("op", Str("eval")),
            ("ns", Str(ns)),
            ("session", Str(&session)),
            ("code", Str(code)),
        ];
        if printed {
            pairs.extend(printer());
        }
        pairs.extend([
            ("file", Str(file)),
            ("line", Int(line)),
            ("column", Int(column)),
            ("pprint", Int(printed as i64)),
        ]);
        Dict(pairs)
    };
    let on_connect = "(when-let [requires (resolve 'clojure.main/repl-requires)]\n                        (clojure.core/apply clojure.core/require @requires))";
    let started = calva.exchange(eval("4", "user", on_connect, &repl_window, 3, 12, true), "4").await;
    assert_quiet(&started, "onConnect code");
    assert_eq!(all(&started, "value"), ["nil"]);

    // At the REPL window (a file of the workspace, but a transcript, not a source).
    let at_prompt = calva.exchange(eval("5", "user", "(+ 40 2)", &repl_window, 4, 1, true), "5").await;
    assert_quiet(&at_prompt, "REPL window");
    assert_eq!(all(&at_prompt, "value"), ["page: user (+ 40 2)"], "{at_prompt:?}");

    let ns_form = "(ns demo.core\n  (:require [clojure.string :as str]))";
    let switched = calva.exchange(eval("6", "user", ns_form, &repl_window, 5, 1, false), "6").await;
    assert_quiet(&switched, "ns form");
    assert_eq!(all(&switched, "ns"), ["demo.core", "demo.core"]);
    let defined = calva.exchange(eval("7", "demo.core", "(defn speed [] 4)", &file, 4, 1, true), "7").await;
    assert_quiet(&defined, "defn");
    assert_eq!(all(&defined, "value"), ["#'demo.core/speed"]);
    let value = calva.exchange(eval("8", "demo.core", "(+ (speed) 38)", &file, 6, 1, true), "8").await;
    assert_eq!(all(&value, "value"), ["page: demo.core (+ (speed) 38)"]);

    let forms: Vec<String> = compiled_under(&dir).into_iter().map(|(_, form)| form).collect();
    assert_eq!(forms, ["(+ 40 2)", "(defn speed [] 4)", "(+ (speed) 38)"]);
}

/// Conjure 4.60 (fnl/conjure/client/clojure/nrepl/: server.fnl, action.fnl; default settings)
/// over the nrepl.core client (Conjure's key order is its Lua table's, so any order is as
/// real): connect (describe, ls-sessions, clone, its session-type probe, its preamble, a
/// require of the buffer's namespace), then a form of the file (`(ns ...)` first, once per
/// namespace), then `load-file`.
#[tokio::test(flavor = "multi_thread")]
async fn conjure_connects_quietly_and_evaluates_like_clojure() {
    let (dir, file, text) = editor_workspace("conjure");
    let server = endpoint(&dir, None).await;
    let print = r#":nrepl.middleware.print/print "cider.nrepl.pprint/pprint"
                   :nrepl.middleware.print/options {"associative" 1 "level" 50 "length" 500 "right-margin" 72}"#;
    // The shape of Conjure's preamble (res/client/clojure/preamble.cljc): its first two and last
    // forms, JVM helpers in `conjure.internal` between them.
    let preamble = "(create-ns 'conjure.internal)\n(intern 'conjure.internal 'initial-ns (symbol (str *ns*)))\n\n\
                    (ns conjure.internal\n  (:require [clojure.pprint :as pp]))\n\n(defonce queue! (atom (list)))\n\n\
                    (in-ns initial-ns)\n";
    let probe = "#?(:clj 'clj :cljs 'cljs :cljr 'cljr :default 'unknown)";
    let steps = clojure_client(
        &dir,
        server.port(),
        &format!(
            r#"[[:connect :conjure]
                [:send :conjure {{:op "describe"}}]
                [:send :conjure {{:op "ls-sessions"}}]
                [:clone :conjure :s {{:client-name "Conjure"}}]
                [:send :conjure {{:op "eval" :code {probe} :session :s}}]
                [:send :conjure {{:op "eval" :code {preamble} :session :s}}]
                [:send :conjure {{:op "eval" :code "(require 'demo.core)" :session :s {print}}}]
                [:send :conjure {{:op "eval" :code "(ns demo.core)" :session :s {print}}}]
                [:send :conjure {{:op "eval" :ns "demo.core" :code "(defn speed [] 4)" :file {file} :line 4 :column 1
                                  :session :s {print}}}]
                [:send :conjure {{:op "eval" :ns "demo.core" :code "(+ (speed) 38)" :file {file} :line 6 :column 1
                                  :session :s {print}}}]
                [:send :conjure {{:op "load-file" :file {contents} :file-name "core.jank" :file-path {file}
                                  :session :s {print}}}]]"#,
            probe = edn(probe),
            preamble = edn(preamble),
            file = edn(&file.display().to_string()),
            contents = edn(text),
        ),
    )
    .await;
    assert!(responses(&steps, 1)[0]["ops"]["eval"].is_object());
    assert_eq!(responses(&steps, 2)[0]["sessions"], serde_json::json!([]));
    // jank's reader has the :jank feature, so jank's answer is the :default branch.
    assert_eq!(all(responses(&steps, 4), "value"), ["unknown"]);
    for (step, value, ns) in [
        (5, "nil", "user"),
        (6, "nil", "user"),
        (7, "nil", "demo.core"),
        (8, "#'demo.core/speed", "demo.core"),
        (9, "page: demo.core (+ (speed) 38)", "demo.core"),
        (10, "page: demo.core (+ (speed) 38)", "demo.core"),
    ] {
        let replies = responses(&steps, step);
        assert_quiet(replies, &format!("step {step}"));
        assert_eq!(all(replies, "value"), [value], "step {step}: {replies:?}");
        assert_eq!(all(replies, "ns").last(), Some(&ns), "step {step}: {replies:?}");
    }
    let forms: Vec<String> = compiled_under(&dir).into_iter().map(|(_, form)| form).collect();
    assert_eq!(forms, ["(defn speed [] 4)", "(+ (speed) 38)", "(+ (speed) 38)"]);
}

/// Debian's nREPL server, standing in for jank's nREPL here.
struct NreplServer {
    child: Child,
    port: u16,
}

impl NreplServer {
    async fn start(dir: &Path) -> NreplServer {
        let child = Command::new("java")
            .args(["-cp", CLASSPATH, "clojure.main", "-m", "nrepl.cmdline", "--bind", "127.0.0.1", "--port", "0"])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("java runs");
        NreplServer { child, port: port_written(dir).await }
    }
}

/// The port an nREPL server wrote to `dir/.nrepl-port`, once it has.
async fn port_written(dir: &Path) -> u16 {
    let port_file = dir.join(test_support::standin::PORT_FILE);
    for _ in 0..300 {
        if let Some(port) = std::fs::read_to_string(&port_file).ok().and_then(|p| p.trim().parse().ok()) {
            return port;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no port in {} after 30 s", port_file.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn other_ops_are_forwarded_to_jank_unchanged() {
    let dir = scratch("forward");
    let mut jank = NreplServer::start(&dir).await;
    let server = endpoint(&dir, None).await;
    let steps = clojure_client(
        &dir,
        server.port(),
        &format!(
            r#"[[:connect :side] [:clone :side :s1]
                [:send :side {{:op "completions" :session :s1 :prefix "map-i" :ns "clojure.core"}}]
                [:connect :jank {port}] [:clone :jank :j1]
                [:send :jank {{:op "completions" :session :j1 :prefix "map-i" :ns "clojure.core"}}]
                [:send :side {{:op "lookup" :session :s1 :sym "map" :ns "clojure.core"}}]
                [:send :side {{:op "no-such-op" :session :s1}}]
                [:send :side {{:op "describe"}}]
                [:send :side {{:op "ls-sessions"}}]]"#,
            port = jank.port
        ),
    )
    .await;
    let s1 = responses(&steps, 1)[0]["new-session"].as_str().unwrap();
    let strip = |replies: &[Value]| -> Vec<Value> {
        replies
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.as_object_mut().unwrap().retain(|k, _| k != "id" && k != "session");
                r
            })
            .collect()
    };
    let via_sidecar = responses(&steps, 2);
    assert_eq!(strip(via_sidecar), strip(responses(&steps, 5)), "the same reply as jank's own");
    assert!(via_sidecar.iter().all(|r| r["session"] == s1), "our session id, not jank's: {via_sidecar:?}");
    assert!(via_sidecar[0]["completions"].to_string().contains("map-indexed"));
    assert!(responses(&steps, 6)[0].to_string().contains("arglists"), "{:?}", responses(&steps, 6));
    assert_eq!(statuses(responses(&steps, 7)), ["done", "unknown-op", "error"], "jank's own unknown-op, unchanged");
    let describe = &responses(&steps, 8)[0];
    assert!(
        describe["versions"]["nrepl"].is_object() && describe["versions"]["jank-hotpatch"].is_object(),
        "{describe}"
    );
    assert!(describe["ops"]["completions"].is_object() && describe["ops"]["ls-sessions"].is_object());
    let sessions = responses(&steps, 9)[0]["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions, [s1], "our sessions only");
    let _ = jank.child.kill().await;
}

/// Upstream jank's `completions` as of August 2026 (the namespace's own vars) and of
/// September 2026 (also what it refers, `clojure.core` included, and the special forms): the
/// endpoint forwards each as jank answers it.
#[tokio::test(flavor = "multi_thread")]
async fn upstreams_completions_of_august_and_of_september_are_forwarded_as_jank_answers() {
    let standin = repo().join("target/debug/jank-standin");
    assert!(standin.exists(), "{} is missing: run `cargo build -p jank-standin` first", standin.display());
    for version in ["2026-08", "2026-09"] {
        let dir = scratch(&format!("completions-{version}"));
        let _jank = Command::new(&standin)
            .args(["--mode", "upstream", "--upstream-version", version])
            .current_dir(&dir)
            .kill_on_drop(true)
            .spawn()
            .expect("jank-standin starts");
        let jank_port = port_written(&dir).await;
        let server = endpoint(&dir, None).await;
        let via_sidecar =
            Client::connect(&format!("127.0.0.1:{}", server.port()), ClientOptions::default()).await.unwrap();
        let direct = Client::connect(&format!("127.0.0.1:{jank_port}"), ClientOptions::default()).await.unwrap();
        let ask = || Message::op("completions").with("ns", "user").with("prefix", "l");
        let forwarded = via_sidecar.request(ask()).await.unwrap();
        let own = direct.request(ask()).await.unwrap();
        let without_id = |m: &Message| {
            let mut m = m.clone();
            m.0.remove("id");
            m
        };
        let (forwarded_replies, own_replies): (Vec<Message>, Vec<Message>) =
            (forwarded.messages.iter().map(without_id).collect(), own.messages.iter().map(without_id).collect());
        assert_eq!(forwarded_replies, own_replies, "{version}");
        let candidates: Vec<String> = match forwarded.messages[0].get("completions") {
            Some(Bencode::List(items)) => items
                .iter()
                .filter_map(|c| match c {
                    Bencode::Dict(d) => d.get("candidate").and_then(|v| v.as_str()).map(str::to_string),
                    _ => None,
                })
                .collect(),
            other => panic!("{version}: no completions: {other:?}"),
        };
        if version == "2026-08" {
            assert!(candidates.is_empty(), "`user` defines nothing: {candidates:?}");
        } else {
            for expected in ["list", "let*", "loop*"] {
                assert!(candidates.iter().any(|c| c == expected), "{version}: {expected} in {candidates:?}");
            }
        }
    }
}

async fn raw(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).await.unwrap()
}

/// Everything the server sends until it closes the connection (or `limit` passes).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let closed = tokio::time::timeout(limit, stream.read_to_end(&mut got)).await.is_ok();
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

/// A Rust nREPL client (the sidecar's own) with a new session.
async fn client_with_session(port: u16) -> (Client, String) {
    let client = Client::connect(&format!("127.0.0.1:{port}"), ClientOptions::default()).await.unwrap();
    let session = client.clone_session(None).await.expect("the server answers `clone`");
    (client, session)
}

async fn still_serves(port: u16) {
    let (client, session) = client_with_session(port).await;
    let sessions = client.request(Message::op("ls-sessions")).await.unwrap();
    assert!(sessions.messages[0].get_list("sessions").unwrap().contains(&Bencode::from(session)));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_answered_or_dropped_and_the_server_keeps_serving() {
    let dir = scratch("bad-input");
    let server = endpoint(&dir, None).await;
    let port = server.port();

    let mut garbage = raw(port).await;
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let (reply, closed) = read_until_closed(&mut garbage, Duration::from_secs(5)).await;
    assert!(closed && reply.contains("not bencode") && reply.contains("closing the connection"), "{reply}");

    let mut huge = raw(port).await;
    huge.write_all(format!("d4:code{}:", 17 * 1024 * 1024).as_bytes()).await.unwrap();
    let (reply, closed) = read_until_closed(&mut huge, Duration::from_secs(5)).await;
    assert!(closed && reply.contains("larger than the 16777216 byte limit"), "{reply}");

    let mut not_a_dict = raw(port).await;
    not_a_dict.write_all(b"li1ei2ee").await.unwrap();
    let (reply, closed) = read_until_closed(&mut not_a_dict, Duration::from_secs(5)).await;
    assert!(closed && reply.contains("must be a bencode dictionary"), "{reply}");

    // Unsorted keys (older CIDER) and a missing op.
    let mut sloppy = raw(port).await;
    sloppy.write_all(b"d2:op11:ls-sessions2:id1:7ed2:id1:8e").await.unwrap();
    let mut got = vec![0; 4096];
    let mut text = String::new();
    while !text.contains("unknown-op") {
        let n = tokio::time::timeout(Duration::from_secs(5), sloppy.read(&mut got)).await.unwrap().unwrap();
        assert!(n > 0, "closed early: {text}");
        text.push_str(&String::from_utf8_lossy(&got[..n]));
    }
    assert!(text.contains("2:id1:7") && text.contains("8:sessions"), "{text}");
    assert!(text.contains("needs an `op`"), "{text}");

    // A client that sends and never reads: dropped once its replies pile up.
    let mut deaf = raw(port).await;
    let request = Message::op("ls-sessions").with("id", "x".repeat(2000)).encode().unwrap();
    let flood: Vec<u8> = request.iter().copied().cycle().take(request.len() * 20_000).collect();
    let written = tokio::time::timeout(Duration::from_secs(60), deaf.write_all(&flood)).await;
    assert!(!matches!(written, Ok(Ok(()))), "the server kept taking requests from a client that never reads");
    still_serves(port).await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_leaving_mid_eval_does_not_disturb_the_others() {
    let dir = scratch("leaving");
    let server = endpoint(&dir, None).await;
    let port = server.port();
    let mut leaving = raw(port).await;
    leaving.write_all(&Message::op("eval").with("id", "1").with("code", "(slow 1)").encode().unwrap()).await.unwrap();
    SLOW_STARTED.notified().await;
    drop(leaving);
    // Answered while the other client's eval is still stuck (else this times out).
    let (client, session) = client_with_session(port).await;
    let request = Message::op("eval").with("session", session.as_str()).with("code", "(+ 1 2)");
    let response = client.request(request).await.unwrap();
    assert_eq!(response.value(), Some("page: user (+ 1 2)"), "{response}");
    SLOW_RELEASED.notify_waiters();
    let interrupted =
        client.start(Message::op("eval").with("session", session.as_str()).with("code", "(slow 2)")).await.unwrap();
    let interrupt = client
        .request(Message::op("interrupt").with("session", session.as_str()).with("interrupt-id", interrupted.id()))
        .await
        .unwrap();
    assert_eq!(interrupt.statuses(), ["done"], "{interrupt}");
    let stopped = interrupted.wait().await.unwrap();
    assert!(stopped.has_status("interrupted"), "{stopped}");
    still_serves(port).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loss_that_does_not_fail_the_eval_is_told_in_err() {
    let dir = scratch("warned");
    let server = endpoint(&dir, None).await;
    let (client, session) = client_with_session(server.port()).await;
    let eval =
        |code: &str| Message::op("eval").with("session", session.as_str()).with("ns", "demo.core").with("code", code);
    let response = client.request(eval("(defn unjournaled [] 1)")).await.unwrap();
    assert_eq!(response.value(), Some("#'demo.core/unjournaled"), "{response}");
    let err: String = response.messages.iter().filter_map(|m| m.get_str("err")).collect();
    assert!(err.contains("jank-hotpatch: the patch journal could not be saved"), "{response}");
    assert!(!response.has_status("eval-error"), "the evaluation itself went through: {response}");
    let quiet = client.request(eval("(defn kept [] 2)")).await.unwrap();
    assert!(quiet.messages.iter().all(|m| m.get_str("err").is_none_or(str::is_empty)), "{quiet}");
}

/// A definition evaluated where it stands in its file is compiled in the file's namespace,
/// whatever namespace the client names: its printed var says so (`VarName::defined_by`, the
/// pipeline's rule), as does the same form evaluated without its file in that namespace.
#[tokio::test(flavor = "multi_thread")]
async fn a_definition_prints_the_var_the_pipeline_defines() {
    let (dir, file, _) = editor_workspace("defined-var");
    let server = endpoint(&dir, None).await;
    let (client, session) = client_with_session(server.port()).await;
    let eval = |code: &str| Message::op("eval").with("session", session.as_str()).with("ns", "user").with("code", code);
    let in_file =
        eval("(defn speed [] 4)").with("file", file.display().to_string()).with("line", 4_i64).with("column", 1_i64);
    let response = client.request(in_file).await.unwrap();
    assert_eq!(response.value(), Some("#'demo.core/speed"), "{response}");
    let response = client.request(eval("(defn speed [] 4)")).await.unwrap();
    assert_eq!(response.value(), Some("#'user/speed"), "{response}");
}

/// The demo workspace (`demo --prepare`), the stand-in jank, the real pipeline, the demo page
/// in headless Chromium, and CIDER's usual requests from the real nREPL client.
#[tokio::test(flavor = "multi_thread")]
async fn eval_from_an_nrepl_client_patches_the_page_and_returns_its_values() {
    eval_from_an_nrepl_client("contract").await;
}

/// The same with the jank fork as it is: the defs go through; the expression calling one of
/// them is refused, the reply naming the namespace jank analysed it in.
#[tokio::test(flavor = "multi_thread")]
async fn eval_from_an_nrepl_client_with_the_fork() {
    eval_from_an_nrepl_client("fork").await;
}

/// The same with upstream jank: every eval answers that the op is missing.
#[tokio::test(flavor = "multi_thread")]
async fn eval_from_an_nrepl_client_with_upstream_jank() {
    eval_from_an_nrepl_client("upstream").await;
}

/// `mode`: the stand-in's `--mode`.
/// The demo workspace with the stand-in jank in `mode` serving it, and the app started on it
/// (any free port).
async fn demo_app(name: &str, mode: &str) -> (Standin, PathBuf, jank_hotpatch::app::Started) {
    let dir = scratch(name);
    jank_hotpatch::front::demo::prepare(&dir).await.expect("the demo workspace builds");
    let jank = Standin::start(&dir, &["--mode", mode]);
    let (mut settings, _) = jank_hotpatch::config::Settings::load(&dir);
    settings.app.port = 0;
    settings.resolve_paths(&dir);
    let started = jank_hotpatch::app::start(&settings, &dir).await;
    (jank, dir, started)
}

async fn eval_from_an_nrepl_client(mode: &str) {
    let (jank, dir, started) = demo_app(&format!("page-{mode}"), mode).await;
    let url = started.app_url.clone().unwrap_or_else(|| panic!("no app server: {:?}", started.warnings));
    let cache_dir = dir.join(jank_hotpatch::config::CACHE_DIR);
    let settings = NreplServerSettings { enabled: true, port: 0 };
    let server =
        nrepl_endpoint::start(started.pipeline.clone(), &settings, started.jank.clone(), &dir, &cache_dir, None)
            .await
            .unwrap();
    let browser = test_support::cdp::Browser::launch().await;
    let page = browser.open(&url).await;
    page.wait_for("window.jankHotpatch && window.jankHotpatch.connected", Duration::from_secs(20)).await;

    // The file ends in an expression, as the issue's user had it.
    let file = dir.join("src/demo/core.jank");
    let text = std::fs::read_to_string(&file).unwrap() + "\n\n(+ (speed) 38)\n";
    std::fs::write(&file, &text).unwrap();
    let last_line = text.lines().count();

    let steps = clojure_client(
        &dir,
        server.port(),
        &format!(
            r#"[[:connect :cider] {connect}
                [:send :cider {{:op "eval" :session :s :ns "demo.core" :file "src/demo/core.jank" :line 7 :column 1
                               :code "(defn speed [] 4)\n(defn radius [] 18)\n(defn color [clicks] \"gold\")\n(defn label [clicks] (str \"nREPL \" clicks))"}}]
                [:send :cider {{:op "eval" :code "(+ (speed) 38)" :ns "demo.core" :file {file_path} :line {last_line} :column 1
                               :content-type "true" {pr} :session :s :id "6"}}]
                [:send :cider {{:op "eval" :session :s :ns "demo.core" :file "src/demo/core.jank" :line 20 :column 1
                               :code "(defn color [clicks]\n  (nope clicks))"}}]
                [:send :cider {{:op "eval" :code "(require 'clojure.stacktrace)" :session :t :id "8"}}]
                [:send :cider {{:op "eval" :code "(clojure.stacktrace/print-cause-trace *e)" :session :s :id "9"}}]
                [:send :cider {{:op "eval" :code "(+ 40 2)" :ns "user" :file {buffer} :line 10 :column 7 {repl}
                               :session :s :id "10"}}]]"#,
            connect = cider_connect(server.port()),
            file_path = edn(&file.display().to_string()),
            buffer = edn(&format!("*cider-repl ~/demo:127.0.0.1:{}(clj)*", server.port())),
            pr = CIDER_PR_PARAMS,
            repl = CIDER_REPL_PARAMS,
        ),
    )
    .await;
    // Connecting shows nothing: the start-up code never reached jank (which would have been
    // asked to load a file named after the REPL buffer, and failed).
    let started = responses(&steps, 4);
    assert_quiet(started, "start-up code");
    assert_eq!(all(started, "value"), ["nil"]);
    if mode == "upstream" {
        // Not covered with upstream jank (no op, so nothing reaches a page): values from the
        // page, errors at a place, load-file, undo, page output and load hooks.
        for step in 5..=7 {
            let err = all(responses(&steps, step), "err").concat();
            assert!(err.contains("has no `wasm-compile-patch` op"), "step {step}: {err}");
        }
        browser.close().await;
        jank.kill();
        return;
    }

    let defined = responses(&steps, 5);
    assert_eq!(
        all(defined, "value"),
        ["#'demo.core/speed", "#'demo.core/radius", "#'demo.core/color", "#'demo.core/label"],
        "{defined:?}"
    );
    page.wait_for("window.demoApp.values && window.demoApp.values.color === 'gold'", Duration::from_secs(10)).await;
    assert_eq!(page.eval("document.getElementById('label').textContent").await, "nREPL 0");

    let value = responses(&steps, 6);
    if mode == "fork" {
        let err = all(value, "err").concat();
        assert!(err.contains("the generated C++ calls `user/speed`"), "{value:?}");
        assert!(err.contains("jank analysed this form in namespace `user`, not in `demo.core`"), "{value:?}");
    } else {
        assert_eq!(all(value, "value"), ["42"], "computed in the page: {value:?}");
    }
    assert_eq!(all(value, "ns"), ["demo.core", "demo.core"]);

    let failed = responses(&steps, 7);
    let err = all(failed, "err").concat();
    // The fork gives no position: the reply points at the form's first line.
    let line = if mode == "fork" { "at line 20" } else { "at line 21" };
    assert!(err.contains("nope") && err.contains(line), "{failed:?}");
    assert_eq!(statuses(failed), ["eval-error", "done"]);
    assert_eq!(all(failed, "ns"), ["demo.core", "demo.core"], "{failed:?}");
    assert_eq!(page.eval("window.demoApp.values.color").await, "gold", "the last good code keeps running");
    for step in [8, 9] {
        assert_quiet(responses(&steps, step), &format!("CIDER's follow-up, step {step}"));
    }
    assert_eq!(all(responses(&steps, 10), "value"), ["42"], "at the REPL prompt: {:?}", responses(&steps, 10));
    if mode == "fork" {
        // The file's last form calls `speed`, which the fork cannot resolve (shown above).
        // Not covered with the fork: load-file (C-c C-k), undo, page output as `out`, and the
        // load hooks of a C-M-x eval.
        browser.close().await;
        jank.kill();
        return;
    }

    // C-c C-k (twice): the saved file's definitions differ from the page's (speed 3, not 4):
    // patched; its last form, evaluated by C-x C-e before, is evaluated again and is the
    // reply's value.
    let load = format!(
        r#"[:send :cider {{:op "load-file" :file {contents} :file-path {file_path} :file-name "core.jank" {pr}
                         :session :s}}]"#,
        contents = edn(&text),
        file_path = edn(&file.display().to_string()),
        pr = CIDER_PR_PARAMS,
    );
    let steps =
        clojure_client(&dir, server.port(), &format!("[[:connect :cider] [:clone :cider :s] {load} {load}]")).await;
    let loaded = responses(&steps, 2);
    assert_quiet(loaded, "load-file");
    assert_eq!(all(loaded, "value"), ["41"], "{loaded:?}");
    page.wait_for("window.demoApp.values.color === 'tomato'", Duration::from_secs(10)).await;
    let again = responses(&steps, 3);
    assert_quiet(again, "load-file again");
    assert_eq!(all(again, "value"), ["41"], "{again:?}");

    // Undo (the file's speed was 3 since the load): 9 (version 3) back to 3 (version 2), then
    // to 4 (version 1, the first eval), and no further.
    let undo = r#"[:send :cider {:op "jank-hotpatch/undo" :session :s :file "src/demo/core.jank" :line 7 :column 2}]"#;
    let steps = clojure_client(
        &dir,
        server.port(),
        &format!(
            r#"[[:connect :cider] [:clone :cider :s]
                [:send :cider {{:op "eval" :session :s :ns "demo.core" :code "(defn speed [] 9)"}}]
                {undo} {undo} {undo}
                [:send :cider {{:op "describe"}}]
                [:send :cider {{:op "eval" :session :s :ns "demo.core" :code "(do (println \"from\" \"the page\") (speed))"}}]
                [:send :cider {{:op "eval" :code "(defn label [clicks]\n  (str \"C-M-x \" clicks))" :ns "demo.core"
                               :file {file_path} :line {label_line} :column 1 {pr} :session :s :id "9"}}]]"#,
            file_path = edn(&file.display().to_string()),
            label_line = text.lines().position(|l| l.starts_with("(defn label")).unwrap_or_default() + 1,
            pr = CIDER_PR_PARAMS,
        ),
    )
    .await;
    // The script ran to its end: the page shows the last undo's version.
    assert_eq!(all(responses(&steps, 2), "value"), ["#'demo.core/speed"]);
    for (step, version) in [(3, 2), (4, 1)] {
        let undone = responses(&steps, step);
        assert_eq!(statuses(undone), ["done"], "{undone:?}");
        let summary = all(undone, "summary").concat();
        assert!(summary.starts_with(&format!("undid demo.core/speed → version {version}")), "{undone:?}");
        let versions = serde_json::json!([{"var": "demo.core/speed", "version": version}]);
        assert_eq!(undone[0]["versions"], versions, "{undone:?}");
    }
    page.wait_for("window.demoApp.values.speed === 4", Duration::from_secs(10)).await;
    let nothing_before = responses(&steps, 5);
    assert_eq!(statuses(nothing_before), ["error", "done"], "{nothing_before:?}");
    assert!(all(nothing_before, "err").concat().contains("no earlier version"), "{nothing_before:?}");
    // nrepl.core keywordizes the keys of `ops`, and the client prints a keyword by its name.
    assert!(responses(&steps, 6)[0]["ops"]["undo"].is_object(), "{:?}", responses(&steps, 6));

    // What the code prints in the page comes back as `out`, before the value.
    let printed = responses(&steps, 7);
    assert_eq!(all(printed, "out"), ["from the page\n"], "{printed:?}");
    assert_eq!(all(printed, "value"), ["4"], "{printed:?}");

    // CIDER's C-M-x on a changed definition (not the saved file's text): the namespace's
    // after-load hook runs in the page, and what it prints comes back as `out` on this eval.
    let defined = responses(&steps, 8);
    assert_eq!(all(defined, "value"), ["#'demo.core/label"], "{defined:?}");
    assert_eq!(all(defined, "out"), ["demo.core reloaded\n"], "{defined:?}");
    page.wait_for("document.getElementById('label').textContent === 'C-M-x 0'", Duration::from_secs(10)).await;

    browser.close().await;
    jank.kill();
}

/// The stand-in jank in `dir`, in `mode`, once it wrote its `.nrepl-port` there.
async fn standin_in(dir: &Path, mode: &str) -> Child {
    let standin = repo().join("target/debug/jank-standin");
    assert!(standin.exists(), "{} is missing: run `cargo build -p jank-standin` first", standin.display());
    let _ = std::fs::remove_file(dir.join(".nrepl-port"));
    let child = Command::new(&standin)
        .args(["--mode", mode])
        .current_dir(dir)
        .kill_on_drop(true)
        .spawn()
        .expect("jank-standin starts");
    port_written(dir).await;
    child
}

/// Issue 28, point 4: a workspace whose app lives in a subfolder with its own `.nrepl-port`
/// (and another jank at the root, as a leftover or another project would be): the patch and
/// what CIDER asks jank afterwards go to the same jank, the app's.
#[tokio::test(flavor = "multi_thread")]
async fn in_a_nested_project_patches_and_lookups_go_to_the_same_jank() {
    let ws = scratch("nested");
    let app = ws.join("app");
    std::fs::create_dir_all(app.join("src/app")).unwrap();
    std::fs::write(app.join("src/app/core.jank"), "(ns app.core)\n\n(defn f [] 1)\n").unwrap();
    let _root_jank = standin_in(&ws, "fork").await;
    let _app_jank = standin_in(&app, "contract").await;
    let (mut settings, _) = jank_hotpatch::config::Settings::load(&ws);
    settings.app.port = 0;
    settings.resolve_paths(&ws);
    let started = jank_hotpatch::app::start(&settings, &ws).await;
    let server = nrepl_endpoint::start(
        started.pipeline.clone(),
        &NreplServerSettings { enabled: true, port: 0 },
        started.jank.clone(),
        &ws,
        &settings.cache_dir(&ws),
        None,
    )
    .await
    .unwrap();
    let (client, session) = client_with_session(server.port()).await;
    let eval = Message::op("eval")
        .with("session", session.as_str())
        .with("ns", "app.core")
        .with("file", "app/src/app/core.jank")
        .with("line", 3)
        .with("column", 1)
        .with("code", "(defn f [] 2)");
    let patched = client.request(eval).await.unwrap();
    assert_eq!(patched.value(), Some("#'app.core/f"), "{patched}");
    // What CIDER asks jank (describe, completions, lookups) is forwarded: to the jank that
    // compiled the patch.
    let described = client.request(Message::op("describe").with("session", session.as_str())).await.unwrap();
    let mode = described.messages.iter().find_map(|m| match m.get("versions") {
        Some(Bencode::Dict(versions)) => match versions.get("jank-standin") {
            Some(Bencode::Dict(standin)) => standin.get("mode").and_then(Bencode::as_str).map(str::to_string),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(mode.as_deref(), Some("contract"), "{described}");
}

/// Issue 28, point 5: with `cacheDir` set, everything the sidecar and the demo write goes
/// there (the demo's runtime, patch ids, the app's URL, the journal), and code evaluated
/// without a file is said to come from there; nothing goes to `.jank-hotpatch`.
#[tokio::test(flavor = "multi_thread")]
async fn with_cache_dir_set_everything_written_goes_there() {
    let dir = scratch("cache-dir");
    std::fs::write(
        dir.join("jank-hotpatch.toml"),
        "cacheDir = \"build/jh\"\n\n[app]\nroot = \"app\"\nmainModule = \"app/app.wasm\"\n",
    )
    .unwrap();
    jank_hotpatch::front::demo::prepare(&dir).await.expect("the demo workspace builds");
    let _jank = standin_in(&dir, "contract").await;
    let (mut settings, problems) = jank_hotpatch::config::Settings::load(&dir);
    assert!(problems.is_empty(), "{problems:?}");
    settings.app.port = 0;
    settings.resolve_paths(&dir);
    let cache = dir.join("build/jh");
    assert_eq!(settings.cache_dir(&dir), cache);
    let started = jank_hotpatch::app::start(&settings, &dir).await;
    assert!(started.warnings.is_empty(), "{:?}", started.warnings);
    let server = nrepl_endpoint::start(
        started.pipeline.clone(),
        &NreplServerSettings { enabled: true, port: 0 },
        started.jank.clone(),
        &dir,
        &cache,
        None,
    )
    .await
    .unwrap();
    let (client, session) = client_with_session(server.port()).await;
    let eval =
        Message::op("eval").with("session", session.as_str()).with("ns", "scratch.notes").with("code", "(defn f [] 8)");
    let patched = client.request(eval).await.unwrap();
    assert_eq!(patched.value(), Some("#'scratch.notes/f"), "{patched}");
    // The journal's first save goes to its second slot (generation 1).
    for written in ["runtime/api.cpp", "patch-ids", "app-url", "journal/journal-1.json", PORT_FILE] {
        assert!(cache.join(written).exists(), "{written} is not in {}", cache.display());
    }
    assert_eq!(std::fs::read_to_string(cache.join(PORT_FILE)).unwrap(), server.port().to_string());
    let index = std::fs::read_to_string(cache.join("journal/journal-1.json")).unwrap();
    assert!(index.contains(&cache.join("nrepl/scratch.notes.jank").display().to_string()), "{index}");
    assert!(!dir.join(jank_hotpatch::config::CACHE_DIR).exists(), "nothing in the default cache directory");
}
