//! The nREPL client against a real nREPL server (Clojure + nREPL 1.0 from Debian's `clojure`
//! and `libnrepl-clojure` packages), and against tiny scripted TCP servers for the failures a
//! real server does not produce on demand (dropped connection, garbage, huge or endless
//! replies).

mod support;

use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use jank_hotpatch::nrepl::{Client, ClientOptions, Eval, FrameDecoder, LoadFile, Message, NreplError, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The real nREPL server, killed when dropped.
struct RealServer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_real_server() -> RealServer {
    let dir = std::env::temp_dir().join(format!("jank-hotpatch-nrepl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (child, port) = support::clojure::start_clojure_nrepl(&dir);
    RealServer { child, dir, port }
}

/// One real server for every case (it takes seconds to start).
#[tokio::test]
async fn against_a_real_nrepl_server() {
    let server = start_real_server();
    let client = Client::connect(&format!("127.0.0.1:{}", server.port), ClientOptions::default()).await.unwrap();

    let session = client.clone_session(None).await.unwrap();
    assert!(!session.is_empty());
    let describe = client.describe().await.unwrap();
    assert!(describe.has_op("eval") && describe.has_op("load-file") && describe.has_op("interrupt"));
    assert!(!describe.has_op("wasm-compile-patch"));
    assert!(describe.versions.contains_key("nrepl"), "{:?}", describe.versions);

    // Streamed output, then the value, then done.
    let eval = Eval { code: "(println \"hi\") (print \"there\") (+ 1 2)", ..Default::default() };
    let response = client.eval(&session, &eval).await.unwrap();
    assert_eq!(response.out(), "hi\nthere");
    assert_eq!(response.value(), Some("3"));
    assert_eq!(response.ns(), Some("user"));
    assert!(!response.is_error());
    assert!(response.messages.len() >= 3, "{response}");

    let response = client.eval(&session, &Eval { code: "(/ 1 0)", ..Default::default() }).await.unwrap();
    assert!(response.is_error());
    assert!(response.has_status("eval-error"));
    assert!(response.ex().is_some_and(|ex| ex.contains("ArithmeticException")), "{response}");
    assert!(response.get_str("root-ex").is_some());
    assert!(response.err().contains("Divide by zero"), "{response}");

    // nREPL answers [namespace-not-found, done, error] and then another `done`: the extra one
    // must not be taken as the answer to the next request.
    let response =
        client.eval(&session, &Eval { code: "1", ns: Some("no.such.ns"), ..Default::default() }).await.unwrap();
    assert!(response.has_status("namespace-not-found") && response.is_error(), "{response}");
    for n in 0..3 {
        let code = format!("(+ {n} 40)");
        let response = client.eval(&session, &Eval { code: &code, ..Default::default() }).await.unwrap();
        assert_eq!(response.value(), Some((40 + n).to_string().as_str()));
    }

    // load-file with a path: the namespace and its vars exist afterwards.
    let load = LoadFile {
        contents: "(ns demo.loaded)\n(defn f [] (* 6 7))\n",
        path: Some("demo/loaded.clj"),
        name: Some("loaded.clj"),
        ns: None,
    };
    assert!(!client.load_file(&session, &load).await.unwrap().is_error());
    let eval =
        Eval { code: "(f)", ns: Some("demo.loaded"), file: Some("demo/loaded.clj"), line: Some(3), column: Some(1) };
    assert_eq!(client.eval(&session, &eval).await.unwrap().value(), Some("42"));

    // Interrupting a long evaluation.
    let started = Instant::now();
    let pending =
        client.start(Eval { code: "(Thread/sleep 10000)", ..Default::default() }.message(&session)).await.unwrap();
    // Asked until the server has the evaluation running (before that it answers `session-idle`).
    let interrupt = loop {
        let answer = client.interrupt(&session, pending.id()).await.unwrap();
        if !answer.has_status("session-idle") {
            break answer;
        }
    };
    assert!(!interrupt.is_error(), "{interrupt}");
    let response = pending.wait().await.unwrap();
    assert!(response.has_status("interrupted"), "{response}");
    assert!(started.elapsed() < Duration::from_secs(8));

    // Requests in flight at once (in two sessions: one session evaluates in order) are told
    // apart by id, though the second is answered first.
    let other = client.clone_session(None).await.unwrap();
    let (slow, fast) = (
        Eval { code: "(do (Thread/sleep 300) :slow)", ..Default::default() },
        Eval { code: ":fast", ..Default::default() },
    );
    let (a, b) = tokio::join!(client.eval(&session, &slow), client.eval(&other, &fast));
    assert_eq!((a.unwrap().value(), b.unwrap().value()), (Some(":slow"), Some(":fast")));

    let closed = client.close_session(&session).await.unwrap();
    assert!(closed.has_status("session-closed"), "{closed}");
    drop(server);
}

/// Accepts one connection; for each request, writes what `script` returns, then closes the
/// connection if it says so.
async fn scripted(script: fn(&Message) -> (Vec<u8>, bool)) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut decoder = FrameDecoder::new(1 << 20);
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            decoder.extend(&chunk[..n]);
            while let Ok(Some(request)) = decoder.next_message() {
                let (bytes, close) = script(&request);
                stream.write_all(&bytes).await.unwrap();
                if close {
                    return;
                }
            }
        }
    });
    addr
}

fn reply(request: &Message, fields: Message) -> Vec<u8> {
    let mut reply = fields.with("id", request.id().unwrap_or_default());
    if reply.get("status").is_none() {
        reply.insert("status", Value::List(vec![Value::from("done")]));
    }
    reply.encode().unwrap()
}

fn options(timeout_ms: u64, max: usize) -> ClientOptions {
    ClientOptions { timeout: Duration::from_millis(timeout_ms), max_message_bytes: max }
}

#[tokio::test]
async fn a_connection_dropped_mid_reply_fails_the_request_and_the_next() {
    let addr = scripted(|request| {
        let whole = reply(request, Message::new().with("value", "a value that never arrives in full"));
        (whole[..whole.len() / 2].to_vec(), true)
    })
    .await;
    let client = Client::connect(&addr, ClientOptions::default()).await.unwrap();
    let error = client.request(Message::op("eval").with("code", "1")).await.unwrap_err();
    assert!(matches!(&error, NreplError::Closed { reason: Some(r), .. } if r.contains("middle of a reply")), "{error}");
    assert!(error.to_string().contains("the next request reconnects"));
    assert!(client.is_closed());
    let error = client.request(Message::op("describe")).await.unwrap_err();
    assert!(matches!(error, NreplError::Closed { .. }), "{error}");
}

#[tokio::test]
async fn garbage_from_the_server_is_a_protocol_error() {
    let addr = scripted(|_| (b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(), false)).await;
    let client = Client::connect(&addr, ClientOptions::default()).await.unwrap();
    let error = client.request(Message::op("describe")).await.unwrap_err();
    assert!(matches!(&error, NreplError::Protocol(text) if text.contains("HTTP/1.1")), "{error}");
    assert!(client.is_closed());
}

#[tokio::test]
async fn a_reply_over_the_size_limit_drops_the_connection() {
    let addr = scripted(|request| (reply(request, Message::new().with("cpp-code", "x".repeat(10_000))), false)).await;
    let client = Client::connect(&addr, options(5_000, 4_096)).await.unwrap();
    let error = client.request(Message::op("wasm-compile-patch")).await.unwrap_err();
    assert!(matches!(error, NreplError::TooLarge { limit: 4_096 }), "{error}");

    // Under the limit, the same reply arrives whole, however the bytes are split.
    let addr = scripted(|request| (reply(request, Message::new().with("cpp-code", "x".repeat(10_000))), false)).await;
    let client = Client::connect(&addr, options(5_000, 1 << 20)).await.unwrap();
    let response = client.request(Message::op("wasm-compile-patch")).await.unwrap();
    assert_eq!(response.get_str("cpp-code").map(str::len), Some(10_000));
}

#[tokio::test]
async fn a_reply_that_never_finishes_times_out() {
    // Streams a value but never `done`.
    let addr = scripted(|request| {
        let partial = Message::new().with("id", request.id().unwrap_or_default()).with("out", "working...");
        (partial.encode().unwrap(), false)
    })
    .await;
    let client = Client::connect(&addr, options(300, 1 << 20)).await.unwrap();
    let started = Instant::now();
    let error = client.request(Message::op("eval").with("code", "(loop [] (recur))")).await.unwrap_err();
    assert!(matches!(&error, NreplError::Timeout { op, .. } if op == "eval"), "{error}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(!client.is_closed(), "a slow server is not a dead one");
}

#[tokio::test]
async fn nobody_listening_is_refused_with_advice() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let Err(error) = Client::connect(&format!("127.0.0.1:{port}"), ClientOptions::default()).await else {
        panic!("connected to a closed port");
    };
    assert!(matches!(error, NreplError::Refused { .. }));
    assert!(error.to_string().contains("is `jank repl` running?"), "{error}");
}
