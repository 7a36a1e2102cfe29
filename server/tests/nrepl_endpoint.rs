//! The sidecar's nREPL endpoint driven by a real nREPL client (the `nrepl` library's own
//! `nrepl.core` client on Debian's clojure + libnrepl-clojure, scripted by
//! tests/nrepl/client.clj), in front of a real nREPL server standing in for jank's (Debian's
//! nREPL: forwarding and sessions), over a pipeline with stand-in stages that answer like a
//! page would, and raw sockets for input no real client sends.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jank_hotpatch::config::NreplServerSettings;
use jank_hotpatch::nrepl::{Client, ClientOptions, Message, Value as Bencode};
use jank_hotpatch::front::nrepl_endpoint::{self, NreplEndpoint, PORT_FILE};
use jank_hotpatch::stages::*;
use jank_hotpatch::pipeline::{Backends, PatchIds, Pipeline};
use serde_json::Value;
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

/// Compiles any form; a form containing `nope` fails at its third column, one containing
/// `slow` waits for [`SLOW_RELEASED`].
struct StandInCompile;

#[async_trait]
impl Compile for StandInCompile {
    async fn compile(&self, request: &CompileRequest) -> Result<CompiledForm, StageFailure> {
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

    async fn build(&self, _: FormKey, form: &CompiledForm) -> Result<SideModule, StageFailure> {
        Ok(SideModule {
            patch_id: form.patch_id,
            bytes: form.cpp.as_bytes().into(),
            entry_symbol: form.patch_id.entry_symbol(),
            var: form.var.clone(),
            kind: form.kind.clone(),
            cpp_path: PathBuf::from("patch.cpp"),
            cached: false,
        })
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
        Ok(Delivery { browsers: 1, applied: 1, value, values, ..Delivery::default() })
    }

    async fn undo(&self, vars: &[VarName], _: &LoadHooks) -> Result<Delivery, StageFailure> {
        let versions = vars.iter().map(|v| VarVersion { var: v.clone(), version: 1 }).collect();
        Ok(Delivery { browsers: 1, applied: 1, versions, ..Delivery::default() })
    }
}

fn stand_in_pipeline() -> Arc<Pipeline> {
    let backends = Backends {
        compile: Ok(Arc::new(StandInCompile)),
        build: Ok(Arc::new(StandInBuild)),
        check: None,
        deliver: Ok(Arc::new(StandInPage)),
    };
    Arc::new(Pipeline::new(backends, PatchIds::in_memory()))
}

async fn endpoint(workspace: &Path, jank: Option<&str>) -> NreplEndpoint {
    let _ = tracing_subscriber::fmt().with_env_filter("jank_hotpatch=info").with_test_writer().try_init();
    let settings = NreplServerSettings { enabled: true, port: 0 };
    nrepl_endpoint::start(stand_in_pipeline(), &settings, jank, workspace).await.expect("the nREPL endpoint starts")
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
    assert_eq!(std::fs::read_to_string(dir.join(PORT_FILE)).unwrap(), server.port().to_string());
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
    assert_eq!(all(define, "ns"), ["demo.core"]);
    assert_eq!(define.last().unwrap()["status"], serde_json::json!(["done"]), "done comes alone, last");
    let s1 = steps[1]["responses"][0]["new-session"].as_str().unwrap();
    assert!(define.iter().all(|r| r["session"] == s1 && r["id"].is_string()), "{define:?}");

    // Two forms: two values, each computed by the page, in the namespace with its requires.
    let values = responses(&steps, 3);
    assert_eq!(all(values, "value"), ["page: demo.core (greet 1)", "page: demo.core (+ 1 2)"], "{values:?}");

    // An ns form switches the session's namespace, for this eval and the next ones.
    assert_eq!(all(responses(&steps, 4), "value"), ["nil", "page: other.place (+ 2 2)"]);
    assert_eq!(all(responses(&steps, 4), "ns"), ["other.place", "other.place"]);
    assert_eq!(all(responses(&steps, 5), "ns"), ["other.place"]);

    // A compile error: jank's message at the client's line and column, nREPL's error shape.
    let failed = responses(&steps, 6);
    let err = all(failed, "err").concat();
    assert!(err.contains("Unable to resolve symbol: nope at line 11, column 5"), "{failed:?}");
    assert!(err.contains("src/demo/core.jank"), "{err}");
    assert_eq!(statuses(failed), ["eval-error", "done"], "{failed:?}");
    assert_eq!(all(failed, "ex"), ["class jank.hotpatch.CompileError"]);
    assert_eq!(all(failed, "root-ex"), ["class jank.hotpatch.CompileError"]);
    assert!(all(failed, "value").is_empty());

    // Another client's session starts in `user` and never sees the first one's replies.
    assert_eq!(all(responses(&steps, 9), "ns"), ["user"]);
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

    // load-file patches what changed in the file and answers with a value per form.
    let loaded = responses(&steps, 17);
    assert_eq!(all(loaded, "value"), ["#'demo.more/one", "page: demo.more (one)"], "{loaded:?}");
    assert_eq!(all(loaded, "ns"), ["user", "user"], "load-file leaves the session's namespace alone");
    let again = responses(&steps, 18);
    assert!(all(again, "value").is_empty() && all(again, "err").concat().contains("nothing changed"), "{again:?}");
    let broken = responses(&steps, 19);
    assert!(all(broken, "err").concat().contains("nope at line 2, column 3"), "{broken:?}");
    assert_eq!(statuses(broken), ["eval-error", "done"]);

    let port_file = server.port_file().to_path_buf();
    drop(server);
    assert!(!port_file.exists(), "the port file goes with the server");
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
    let port_file = dir.join(".nrepl-port");
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

/// The demo workspace (`demo --prepare`), the stand-in jank, the real pipeline, the demo page
/// in headless Chromium, and CIDER's usual requests from the real nREPL client.
#[tokio::test(flavor = "multi_thread")]
async fn eval_from_an_nrepl_client_patches_the_page_and_returns_its_values() {
    let standin = repo().join("target/debug/jank-standin");
    assert!(standin.exists(), "{} is missing: run `cargo build -p jank-standin` first", standin.display());
    let dir = scratch("page");
    jank_hotpatch::front::demo::prepare(&dir).await.expect("the demo workspace builds");
    let mut jank = Command::new(&standin).current_dir(&dir).kill_on_drop(true).spawn().expect("jank-standin starts");
    port_written(&dir).await;
    let (mut settings, _) = jank_hotpatch::config::Settings::load(&dir);
    settings.app.port = 0;
    settings.resolve_paths(&dir);
    let started = jank_hotpatch::app::start(&settings, &dir).await;
    let url = started.app_url.clone().unwrap_or_else(|| panic!("no app server: {:?}", started.warnings));
    let settings = NreplServerSettings { enabled: true, port: 0 };
    let server = nrepl_endpoint::start(started.pipeline.clone(), &settings, None, &dir).await.unwrap();
    let browser = test_support::cdp::Browser::launch().await;
    let page = browser.open(&url).await;
    page.wait_for("window.jankHotpatch && window.jankHotpatch.connected", Duration::from_secs(20)).await;

    let steps = clojure_client(
        &dir,
        server.port(),
        r#"[[:connect :cider] [:clone :cider :s]
            [:send :cider {:op "eval" :session :s :ns "demo.core" :file "src/demo/core.jank" :line 7 :column 1
                           :code "(defn speed [] 4)\n(defn radius [] 18)\n(defn color [clicks] \"gold\")\n(defn label [clicks] (str \"nREPL \" clicks))"}]
            [:send :cider {:op "eval" :session :s :ns "demo.core" :code "(+ (speed) 38)"}]
            [:send :cider {:op "eval" :session :s :ns "demo.core" :file "src/demo/core.jank" :line 20 :column 1
                           :code "(defn color [clicks]\n  (nope clicks))"}]
            [:send :cider {:op "eval" :session :s :ns "demo.core" :code "(defn speed [] 9)"}]
            [:send :cider {:op "jank-hotpatch/undo" :session :s :file "src/demo/core.jank" :line 7 :column 2}]
            [:send :cider {:op "jank-hotpatch/undo" :session :s :file "src/demo/core.jank" :line 7 :column 2}]
            [:send :cider {:op "describe"}]
            [:send :cider {:op "eval" :session :s :ns "demo.core" :code "(do (println \"from\" \"the page\") (speed))"}]]"#,
    )
    .await;
    let defined = responses(&steps, 2);
    assert_eq!(
        all(defined, "value"),
        ["#'demo.core/speed", "#'demo.core/radius", "#'demo.core/color", "#'demo.core/label"],
        "{defined:?}"
    );
    page.wait_for("window.demoApp.values && window.demoApp.values.color === 'gold'", Duration::from_secs(10)).await;
    assert_eq!(page.eval("document.getElementById('label').textContent").await, "nREPL 0");

    let value = responses(&steps, 3);
    assert_eq!(all(value, "value"), ["42"], "computed in the page: {value:?}");
    assert_eq!(all(value, "ns"), ["demo.core"]);

    let failed = responses(&steps, 4);
    let err = all(failed, "err").concat();
    assert!(err.contains("nope") && err.contains("at line 21"), "{failed:?}");
    assert_eq!(statuses(failed), ["eval-error", "done"]);
    assert_eq!(page.eval("window.demoApp.values.color").await, "gold", "the last good code keeps running");

    // Undo: speed goes back from version 2 (9) to version 1 (4), and no further.
    assert_eq!(all(responses(&steps, 5), "value"), ["#'demo.core/speed"]);
    let undone = responses(&steps, 6);
    assert_eq!(statuses(undone), ["done"], "{undone:?}");
    assert!(all(undone, "summary").concat().starts_with("undid demo.core/speed → version 1"), "{undone:?}");
    assert_eq!(undone[0]["versions"], serde_json::json!([{"var": "demo.core/speed", "version": 1}]), "{undone:?}");
    page.wait_for("window.demoApp.values.speed === 4", Duration::from_secs(10)).await;
    let nothing_before = responses(&steps, 7);
    assert_eq!(statuses(nothing_before), ["error", "done"], "{nothing_before:?}");
    assert!(all(nothing_before, "err").concat().contains("no earlier version"), "{nothing_before:?}");
    // nrepl.core keywordizes the keys of `ops`, and the client prints a keyword by its name.
    assert!(responses(&steps, 8)[0]["ops"]["undo"].is_object(), "{:?}", responses(&steps, 8));

    // What the code prints in the page comes back as `out`, before the value.
    let printed = responses(&steps, 9);
    assert_eq!(all(printed, "out"), ["from the page\n"], "{printed:?}");
    assert_eq!(all(printed, "value"), ["4"], "{printed:?}");

    browser.close().await;
    let _ = jank.kill().await;
}
