//! Bad input, generated with a fixed seed: the reader on arbitrary text, the bencode decoder
//! on arbitrary bytes, the LSP server (the real binary) on malformed JSON-RPC, the page
//! WebSocket on garbage and on clients without the token or from another origin, the HTTP
//! server on paths that try to leave its root. Expected everywhere: no panic, no crash, a
//! clear error, nothing outside the root served, nothing sent to or counted from a client
//! that did not authenticate.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use jank_hotpatch::config::{AppSettings, Settings};
use jank_hotpatch::deliver::protocol::{decode_patch, MAX_CLIENT_MESSAGE_BYTES};
use jank_hotpatch::deliver::{AppServer, SOCKET_PATH};
use jank_hotpatch::nrepl::{FrameDecoder, Message, Value as Bencode};
use jank_hotpatch::stages::{Deliver, Patch, PatchId, PatchKind, PatchOrigin, SideModule, VarName};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use reliability::figures::record;
use reliability::lsp_client::temp_workspace;
use reliability::workspace::Sidecar;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as Ws;

const CASES: u32 = 10_000;

/// The same 10,000 cases on every run.
fn runner() -> TestRunner {
    let config =
        Config { cases: CASES, failure_persistence: None, rng_algorithm: RngAlgorithm::ChaCha, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]))
}

/// `count` values of `strategy` from the fixed seed (for targets driven asynchronously).
fn generate<S: Strategy>(strategy: S, count: u32) -> Vec<S::Value> {
    let mut runner = runner();
    (0..count).map(|_| strategy.new_tree(&mut runner).expect("a value").current()).collect()
}

// ---------------------------------------------------------------------------------------
// The reader

/// Text that looks like jank often enough to reach deep into the reader.
fn jankish_text() -> impl Strategy<Value = String> {
    let token = select(vec![
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "#{",
        "#(",
        "#_",
        "#?",
        "#?@",
        "#\"",
        "#'",
        "#=",
        "#!",
        "^",
        "^:",
        "'",
        "`",
        "~",
        "~@",
        "@",
        "\"",
        "\\",
        "\\n",
        "\\u",
        "\\newline",
        ";",
        " ",
        "\n",
        "\r",
        "\t",
        ",",
        ":",
        "::",
        "ns",
        "defn",
        "def",
        "defonce",
        "comment",
        "fn",
        "let",
        "x",
        "demo.core",
        "(:require",
        "[clojure.set :as set]",
        ":refer",
        ":all",
        "1",
        "-1",
        "1.5e",
        "0x",
        "1/0",
        "é",
        "😀",
        "\u{0}",
        "\u{feff}",
        "\u{2028}",
    ]);
    prop_oneof![any::<String>(), vec(token, 0..60).prop_map(|t| t.concat()), "(ns [a-z.]{0,9}) .{0,80}"]
}

#[test]
fn the_reader_survives_arbitrary_text() {
    let tried = AtomicUsize::new(0);
    let result = runner().run(&jankish_text(), |text| {
        tried.fetch_add(1, Ordering::Relaxed);
        let file = jank_hotpatch::reader::parse(&text);
        // Every range the reader reports must cut the text at character boundaries.
        let ranges = file.forms.iter().map(|f| &f.range).chain(file.errors.iter().map(|e| &e.range));
        for range in ranges {
            prop_assert!(range.start <= range.end && range.end <= text.len(), "{range:?} outside {} bytes", text.len());
            prop_assert!(
                text.is_char_boundary(range.start) && text.is_char_boundary(range.end),
                "{range:?} splits a character"
            );
        }
        for form in &file.forms {
            let _ = file.form_at(form.range.start);
            let _ = form.normalized(&text);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("the reader failed on generated text: {e}");
    }
    record(&format!("inputs tried: reader {} texts, 0 panics", tried.into_inner()));
}

// ---------------------------------------------------------------------------------------
// The bencode decoder

fn bencode_value() -> BoxedStrategy<Bencode> {
    let leaf = prop_oneof![any::<i64>().prop_map(Bencode::Int), ".{0,12}".prop_map(Bencode::Str)];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Bencode::List),
            btree_map("[a-z-]{0,8}", inner, 0..5).prop_map(Bencode::Dict),
        ]
    })
    .boxed()
}

/// Bytes: random, bencode-shaped garbage, real messages cut or corrupted, deep nesting.
fn nrepl_bytes() -> impl Strategy<Value = Vec<u8>> {
    let shaped = vec(
        select(vec![
            "d",
            "l",
            "e",
            "i",
            "i-",
            "0",
            "9",
            ":",
            "1:",
            "3:abc",
            "4:code",
            "-",
            "i99999999999999999999e",
            "1000000:",
        ]),
        0..40,
    )
    .prop_map(|t| t.concat().into_bytes());
    let message =
        btree_map("[a-z-]{1,8}", bencode_value(), 0..6).prop_map(|m| Message(m).encode().unwrap_or_default()).boxed();
    let corrupted = (message.clone(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(mut bytes, at, byte)| {
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        bytes
    });
    let cut =
        (message, any::<prop::sample::Index>()).prop_map(|(bytes, at)| bytes[..at.index(bytes.len() + 1)].to_vec());
    let deep = (1usize..20_000, select(vec![b'l', b'd'])).prop_map(|(n, b)| vec![b; n]);
    prop_oneof![4 => vec(any::<u8>(), 0..200), 4 => shaped, 4 => corrupted, 4 => cut, 1 => deep]
}

#[test]
fn the_bencode_decoder_survives_arbitrary_bytes() {
    const LIMIT: usize = 4096;
    let tried = AtomicUsize::new(0);
    let result = runner().run(&(nrepl_bytes(), 1usize..64), |(bytes, chunk)| {
        tried.fetch_add(1, Ordering::Relaxed);
        let whole = Message::decode(&bytes);
        let mut decoder = FrameDecoder::new(LIMIT);
        let mut framed = Vec::new();
        for piece in bytes.chunks(chunk) {
            decoder.extend(piece);
            loop {
                match decoder.next_message() {
                    Ok(Some(message)) => framed.push(message),
                    Ok(None) => break,
                    // The stream cannot be trusted any more: the connection is dropped here.
                    Err(e) => {
                        prop_assert!(!e.to_string().is_empty());
                        return Ok(());
                    }
                }
            }
            prop_assert!(
                decoder.pending_bytes() <= LIMIT + chunk,
                "{} bytes held past the limit",
                decoder.pending_bytes()
            );
        }
        // A complete valid message read whole is read the same in pieces.
        if let (Ok(message), true) = (&whole, bytes.len() <= LIMIT && decoder.pending_bytes() == 0) {
            if message.encode().ok().as_deref() == Some(&bytes[..]) {
                prop_assert_eq!(framed.len(), 1);
                prop_assert_eq!(&framed[0], message);
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("the bencode decoder failed on generated bytes: {e}");
    }
    record(&format!("inputs tried: nREPL bencode decoder {} byte strings, 0 panics", tried.into_inner()));
}

// ---------------------------------------------------------------------------------------
// The LSP server, over stdio

fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,16}".prop_map(Value::from),
        select(vec![
            "file:///nope.jank",
            "file:///",
            "not a uri",
            "",
            "jank.hotPatchForm",
            "jank.hotPatchFile",
            "untitled:x"
        ])
        .prop_map(Value::from),
    ];
    let key = prop_oneof![
        "[a-zA-Z]{0,6}",
        select(vec![
            "uri",
            "textDocument",
            "position",
            "line",
            "character",
            "text",
            "version",
            "contentChanges",
            "command",
            "arguments",
            "settings",
            "range",
            "start",
            "end",
            "languageId",
            "id",
            "jankHotpatch",
            "rootUri",
            "capabilities",
        ])
        .prop_map(str::to_string),
    ];
    leaf.prop_recursive(4, 40, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key.clone(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// One body sent to the server: JSON-RPC with bad ids, methods and params, and things that
/// are not JSON-RPC or not JSON at all. `shutdown` and `exit` are left out: they end a
/// server legitimately.
fn lsp_body(open_uri: String) -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        select(vec![
            "initialize",
            "initialized",
            "textDocument/didOpen",
            "textDocument/didChange",
            "textDocument/didSave",
            "textDocument/didClose",
            "workspace/executeCommand",
            "workspace/didChangeConfiguration",
            "jank/status",
            "textDocument/hover",
            "$/cancelRequest",
            "$/setTrace",
            "window/workDoneProgress/cancel",
            "textDocument/formatting",
        ])
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        json_value(),
    ];
    let id = prop_oneof![
        3 => (1i64..1_000_000_000).prop_map(Value::from),
        1 => Just(Value::Null),
        1 => "[a-z0-9]{0,8}".prop_map(Value::from),
        1 => json_value(),
    ];
    let position = (any::<i64>(), any::<i64>()).prop_map(|(l, c)| json!({"line": l % 100, "character": c}));
    let command = (
        select(vec!["jank.hotPatchForm", "jank.hotPatchFile", "jank.nope"]),
        position,
        prop_oneof![Just(Value::from(open_uri.clone())), json_value()],
    )
        .prop_map(
            |(command, position, uri)| json!({"command": command, "arguments": [{"uri": uri, "position": position}]}),
        );
    let change = (".{0,200}", any::<i64>()).prop_map(move |(text, version)| {
        json!({"textDocument": {"uri": open_uri, "version": version}, "contentChanges": [{"text": text}]})
    });
    let params = prop_oneof![4 => json_value(), 1 => command, 1 => change];
    let message =
        (prop::option::of(id), method, prop::option::of(params), select(vec![json!("2.0"), json!("1.0"), Value::Null]))
            .prop_map(|(id, method, params, version)| {
                let mut m = serde_json::Map::new();
                if !version.is_null() {
                    m.insert("jsonrpc".into(), version);
                }
                if let Some(id) = id {
                    m.insert("id".into(), id);
                }
                m.insert("method".into(), method);
                if let Some(params) = params {
                    m.insert("params".into(), params);
                }
                Value::Object(m).to_string().into_bytes()
            })
            .boxed();
    let cut =
        (message.clone(), any::<prop::sample::Index>()).prop_map(|(body, at)| body[..at.index(body.len())].to_vec());
    let huge = (1usize..3, ".{1,4}").prop_map(|(mb, unit)| {
        let text = unit.repeat(mb * 1024 * 1024 / unit.len().max(1));
        json!({"jsonrpc": "2.0", "method": "textDocument/hover", "id": 1, "params": {"text": text}})
            .to_string()
            .into_bytes()
    });
    prop_oneof![
        200 => message,
        30 => json_value().prop_map(|v| v.to_string().into_bytes()),
        30 => cut,
        30 => vec(any::<u8>(), 0..100),
        1 => huge,
    ]
}

/// Requests (messages with a usable id and a method) must be answered; returns their ids.
fn request_id(body: &[u8]) -> Option<Value> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let id = value.get("id")?;
    let usable = id.is_string() || id.as_i64().is_some();
    (usable && value.get("method").is_some_and(Value::is_string)).then(|| id.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lsp_server_survives_malformed_json_rpc() {
    let dir = temp_workspace("reliability-lsp-fuzz");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let file = dir.join("src/fuzz.jank");
    std::fs::write(&file, "(ns fuzz)\n(defn f [] 1)\n").unwrap();
    let uri = format!("file://{}", file.display());
    let mut sidecar = Sidecar::start_plain(&dir, json!({"app": {"port": 0}, "patchOnSave": false})).await;
    sidecar.client.open(&uri, "(ns fuzz)\n(defn f [] 1)\n").await;

    let bodies = generate(lsp_body(uri.clone()), CASES);
    let (mut requests, mut answered, mut huge) = (0usize, 0usize, 0usize);
    for (n, batch) in bodies.chunks(100).enumerate() {
        let mut expected = HashSet::new();
        for body in batch {
            huge += usize::from(body.len() > 1024 * 1024);
            if let Some(id) = request_id(body) {
                expected.insert(id.to_string());
            }
            sidecar.client.send_raw(body).await;
        }
        let batch_requests = expected.len();
        requests += batch_requests;
        // A request of our own after the batch; then every answer to the batch must be in.
        let probe = sidecar.client.request("jank/status", Value::Null).await;
        assert!(probe.get("result").is_some(), "batch {n}: the server stopped answering: {probe}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            sidecar.client.notifications.retain(|m| {
                let response = m.get("method").is_none();
                !(response && m.get("id").is_some_and(|id| expected.remove(&id.to_string())))
            });
            if expected.is_empty() || tokio::time::Instant::now() > deadline {
                break;
            }
            let _ = sidecar
                .client
                .wait_for(
                    |m| m.get("method").is_none() && m.get("id").is_some_and(|id| expected.contains(&id.to_string())),
                    Duration::from_secs(1),
                )
                .await
                .map(|m| {
                    expected.remove(&m["id"].to_string());
                });
        }
        assert!(expected.is_empty(), "batch {n}: requests without an answer: {expected:?}");
        answered += batch_requests;
        sidecar.client.notifications.clear();
    }

    // Framing faults: a bad length, no length, and a message over the 64 MB limit (skipped).
    sidecar.client.send_bytes(b"Content-Length: lots\r\n\r\n").await;
    sidecar.client.send_bytes(b"X-Nothing: 1\r\n\r\n").await;
    let oversized = 64 * 1024 * 1024 + 1;
    sidecar.client.send_bytes(format!("Content-Length: {oversized}\r\n\r\n").as_bytes()).await;
    let chunk = vec![b' '; 1024 * 1024];
    for _ in 0..64 {
        sidecar.client.send_bytes(&chunk).await;
    }
    sidecar.client.send_bytes(b" ").await;
    let refused = sidecar
        .client
        .wait_for(|m| m["error"]["message"].as_str().is_some_and(|s| s.contains("limit")), Duration::from_secs(30))
        .await
        .expect("the oversized message is refused with a reason");
    assert_eq!(refused["error"]["code"], -32700, "{refused}");

    // Still serving: a normal request gets its normal answer, and the document still patches
    // (to a compile failure here: no jank runs in this workspace).
    let status = sidecar.client.request("jank/status", Value::Null).await;
    assert!(status["result"]["health"].is_string(), "{status}");
    sidecar.client.open(&uri, "(ns fuzz)\n(defn f [] 2)\n").await;
    let report = sidecar
        .client
        .request("workspace/executeCommand", json!({"command": "jank.hotPatchForm", "arguments": [{"uri": uri, "position": {"line": 1, "character": 1}}]}))
        .await;
    assert_eq!(report["result"]["ok"], false, "{report}");
    assert!(report["result"]["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{report}");
    assert!(sidecar.client.shutdown_and_exit().await.success(), "the server exits cleanly after the fuzzing");
    record(&format!(
        "inputs tried: LSP server {} JSON-RPC messages ({huge} over 1 MB, {requests} requests, {answered} answered) + 3 framing faults, one process, 0 crashes",
        bodies.len()
    ));
}

// ---------------------------------------------------------------------------------------
// The page WebSocket and the HTTP server, in process

fn app_root() -> (PathBuf, String) {
    let dir = temp_workspace("reliability-root");
    let root = dir.join("app");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("index.html"), "<html><head></head><body>index</body></html>").unwrap();
    std::fs::write(root.join("sub/a.js"), "// a").unwrap();
    let secret = format!("SECRET-{:x}", std::process::id() as u64 * 7919 + 17);
    std::fs::write(dir.join("secret.txt"), &secret).unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&dir, root.join("out")).unwrap();
    (root, secret)
}

async fn app_server(root: Option<&Path>, journal: &Path) -> AppServer {
    let settings = AppSettings { root: root.map(Path::to_path_buf), port: 0, ..Settings::default().app };
    AppServer::start(&settings, journal).await.expect("the app server starts")
}

fn ws_request(
    server: &AppServer,
    token: &str,
    origin: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let url = format!("ws://127.0.0.1:{}{SOCKET_PATH}?token={token}", server.port());
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    request
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &AppServer, token: &str, origin: Option<&str>) -> Result<Socket, String> {
    let config = WebSocketConfig::default().max_message_size(Some(1 << 26)).max_frame_size(Some(1 << 26));
    tokio_tungstenite::connect_async_with_config(ws_request(server, token, origin), Some(config), true)
        .await
        .map(|(socket, _)| socket)
        .map_err(|e| e.to_string())
}

/// Connects as the page would and reads the welcome.
async fn page(server: &AppServer) -> Socket {
    let origin = format!("http://127.0.0.1:{}", server.port());
    let mut socket = connect(server, server.token(), Some(&origin)).await.expect("the page connects");
    let welcome = socket.next().await.expect("a welcome").expect("a frame");
    assert!(welcome.to_text().unwrap().contains("welcome"), "{welcome:?}");
    socket
}

/// What a client sends after connecting properly.
fn ws_frames() -> impl Strategy<Value = Ws> {
    let ack = (any::<u64>(), vec((any::<u64>(), any::<bool>(), any::<f64>(), prop::option::of(".{0,10}")), 0..4)).prop_map(|(batch, results)| {
        let results: Vec<Value> = results
            .into_iter()
            .map(|(id, ok, load_ms, value)| json!({"id": id, "ok": ok, "load_ms": if load_ms.is_finite() { json!(load_ms) } else { json!("NaN") }, "value": value}))
            .collect();
        json!({"op": "ack", "batch": batch, "results": results}).to_string()
    });
    prop_oneof![
        4 => ack.prop_map(Ws::text),
        3 => json_value().prop_map(|v| Ws::text(v.to_string())),
        2 => ".{0,64}".prop_map(Ws::text),
        2 => vec(any::<u8>(), 0..64).prop_map(Ws::binary),
        1 => (MAX_CLIENT_MESSAGE_BYTES + 1..MAX_CLIENT_MESSAGE_BYTES * 3).prop_map(|n| Ws::text("a".repeat(n))),
        1 => vec(any::<u8>(), 0..16).prop_map(|b| Ws::Ping(b.into())),
    ]
}

/// Whether the server closes the connection within a short while (what it must do to a
/// client that broke the protocol); frames it sends before closing are ignored.
async fn closed_by_server(socket: &mut Socket) -> bool {
    let waited = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Ws::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    });
    waited.await.unwrap_or(false)
}

/// Whether the connection stays open: the server answers a ping.
async fn still_open(socket: &mut Socket) -> bool {
    if socket.send(Ws::Ping(b"alive".to_vec().into())).await.is_err() {
        return false;
    }
    let waited = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Ws::Pong(p))) if &p[..] == b"alive" => return true,
                None | Some(Err(_)) | Some(Ok(Ws::Close(_))) => return false,
                Some(Ok(_)) => {}
            }
        }
    });
    waited.await.unwrap_or(false)
}

/// A patch whose bytes the test's own pages read (no browser loads it here).
fn patch(id: u64) -> Patch {
    let module = SideModule {
        patch_id: PatchId(id),
        module: PatchId(id).into(),
        bytes: format!("\0asm-patch-{id}").into_bytes().into(),
        entry_symbol: PatchId(id).entry_symbol(),
        var: VarName::new("demo.core", "speed"),
        kind: PatchKind::Definition,
        cpp_path: PathBuf::new(),
        cached: false,
    };
    Patch {
        module,
        origin: PatchOrigin { file: "src/demo/core.jank".into(), line: 3, form: format!("(defn speed [] {id})") },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_socket_drops_garbage_and_keeps_serving() {
    let journal = temp_workspace("reliability-ws-journal");
    let server = Arc::new(app_server(None, &journal).await);
    let frames = generate(ws_frames(), CASES);
    let (mut dropped, mut kept, mut oversized) = (0usize, 0usize, 0usize);
    let mut socket = page(&server).await;
    for frame in &frames {
        let valid_ack =
            matches!(frame, Ws::Text(t) if jank_hotpatch::deliver::protocol::ClientMessage::parse(t).is_ok());
        let is_ping = matches!(frame, Ws::Ping(_));
        oversized += usize::from(frame.len() > MAX_CLIENT_MESSAGE_BYTES);
        if socket.send(frame.clone()).await.is_err() {
            socket = page(&server).await;
            continue;
        }
        if valid_ack || is_ping {
            // A well-formed ack (for a batch nobody waits for) or a ping: the page stays.
            assert!(still_open(&mut socket).await, "a valid message dropped the page: {frame:?}");
            kept += 1;
        } else {
            assert!(
                closed_by_server(&mut socket).await,
                "the server kept a page that sent {:?}",
                frame.to_text().map(|t| t.chars().take(80).collect::<String>())
            );
            dropped += 1;
            socket = page(&server).await;
        }
    }
    // Still serving: a page gets a patch and its ack counts.
    let delivery = tokio::spawn({
        let server = server.clone();
        async move { server.deliver(vec![patch(1)]).await }
    });
    let frame = socket.next().await.expect("a patch frame").expect("a frame");
    let data = frame.into_data();
    let (header, bytes) = decode_patch(&data).expect("a patch frame");
    assert_eq!(bytes, b"\0asm-patch-1");
    let ack = json!({"op": "ack", "batch": header.batch, "results": [{"id": 1, "ok": true, "load_ms": 0.1}]});
    socket.send(Ws::text(ack.to_string())).await.unwrap();
    let delivery = delivery.await.unwrap().expect("delivered");
    assert_eq!((delivery.pages, delivery.applied), (1, 1), "{delivery:?}");
    record(&format!(
        "inputs tried: page WebSocket {} frames ({dropped} dropped the page with a reason, {kept} valid kept it, {oversized} oversized), 0 crashes",
        frames.len()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_clients_get_no_patch_and_their_acks_do_not_count() {
    let journal = temp_workspace("reliability-auth-journal");
    let server = Arc::new(app_server(None, &journal).await.with_ack_timeout(Duration::from_secs(2)));
    let port = server.port();
    let own = format!("http://127.0.0.1:{port}");
    let wrong_token = "0".repeat(32);
    let token = server.token().to_string();
    let near_token = format!("{}{}", &token[..31], if token.ends_with('0') { "1" } else { "0" });
    let attempts: Vec<(&str, String, Option<String>)> = vec![
        ("wrong token", wrong_token.clone(), Some(own.clone())),
        ("token one digit off", near_token, Some(own.clone())),
        ("no token", String::new(), Some(own.clone())),
        ("token with a suffix", format!("{token}x"), Some(own.clone())),
        ("foreign Origin", token.clone(), Some("http://evil.example".into())),
        ("another port's Origin", token.clone(), Some(format!("http://127.0.0.1:{}", port.wrapping_add(1)))),
        ("Origin null", token.clone(), Some("null".into())),
        ("no Origin", token.clone(), None),
    ];
    // Per kind of attempt: connections refused with a 403, let in, and forged acks sent.
    let counts: Arc<Vec<[AtomicUsize; 3]>> = Arc::new(attempts.iter().map(|_| Default::default()).collect());
    let received = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    // Attackers keep trying while patches go out; one that got in would forge acks.
    let mut attackers = Vec::new();
    for (kind, (_, token, origin)) in attempts.clone().into_iter().enumerate() {
        let (server, counts, received, stop) = (server.clone(), counts.clone(), received.clone(), stop.clone());
        attackers.push(tokio::spawn(async move {
            loop {
                match connect(&server, &token, origin.as_deref()).await {
                    Err(e) => {
                        assert!(e.contains("403"), "refused without a 403: {e}");
                        counts[kind][0].fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(mut socket) => {
                        counts[kind][1].fetch_add(1, Ordering::Relaxed);
                        for batch in 0..20 {
                            let ack = json!({"op": "ack", "batch": batch, "results": [{"id": 1, "ok": true, "load_ms": 0.1}, {"id": 2, "ok": true, "load_ms": 0.1}]});
                            if socket.send(Ws::text(ack.to_string())).await.is_ok() {
                                counts[kind][2].fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_millis(100), socket.next()).await {
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                // The attack's pace (a reconnect every 5 ms), not a wait for anything.
                tokio::select! {
                    () = stop.notified() => return,
                    () = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
            }
        }));
    }
    // The real page: silent for patch 1 (only a forged ack could make it count), acks patch 2.
    let mut socket = page(&server).await;
    let delivery = server.deliver(vec![patch(1)]).await.expect("delivered");
    let forged_counted = delivery.applied;
    assert_eq!(
        (delivery.pages, delivery.applied),
        (1, 0),
        "an ack from an unauthenticated client counted: {delivery:?}"
    );
    let frame = socket.next().await.unwrap().unwrap();
    assert_eq!(decode_patch(&frame.into_data()).unwrap().0.id, PatchId(1));
    let delivery = tokio::spawn({
        let server = server.clone();
        async move { server.deliver(vec![patch(2)]).await }
    });
    let frame = socket.next().await.unwrap().unwrap();
    let (header, _) = decode_patch(&frame.into_data()).unwrap();
    socket
        .send(Ws::text(
            json!({"op": "ack", "batch": header.batch, "results": [{"id": 2, "ok": true, "load_ms": 0.1}]}).to_string(),
        ))
        .await
        .unwrap();
    let delivery = delivery.await.unwrap().expect("delivered");
    assert_eq!((delivery.pages, delivery.applied), (1, 1), "{delivery:?}");

    stop.notify_waiters();
    for attacker in attackers {
        attacker.abort();
        let _ = attacker.await;
    }
    let mut per_kind = Vec::new();
    let (mut tried_all, mut refused_all, mut forged_all) = (0, 0, 0);
    for ((kind, _, _), [refused, let_in, forged]) in attempts.iter().zip(counts.iter()) {
        let (refused, let_in, forged) =
            (refused.load(Ordering::Relaxed), let_in.load(Ordering::Relaxed), forged.load(Ordering::Relaxed));
        let tried = refused + let_in;
        assert!(tried > 0, "no `{kind}` attempt was made");
        assert_eq!(let_in, 0, "`{kind}`: {let_in} of {tried} connections were let in");
        per_kind.push(format!("{kind} {refused}/{tried}"));
        (tried_all, refused_all, forged_all) = (tried_all + tried, refused_all + refused, forged_all + forged);
    }
    let received = received.load(Ordering::Relaxed);
    assert_eq!(received, 0, "an unauthenticated client received frames");
    record(&format!(
        "unauthorized attempts refused: page WebSocket {refused_all} of {tried_all} connections ({}); {received} frames reached them, {forged_all} forged acks sent, {forged_counted} counted",
        per_kind.join(", ")
    ));
}

/// Paths that try to leave the root.
fn traversal_path() -> impl Strategy<Value = String> {
    let segment = select(vec![
        "..",
        "%2e%2e",
        "%2E%2E",
        ".%2e",
        "%2e.",
        "..%2f",
        "..%2F",
        "..%5c",
        "..%5C",
        "..\\",
        "%2f",
        "%5c",
        "/",
        "//",
        ".",
        "%2e",
        "%00",
        "%2500",
        "%252e%252e",
        "%c0%ae%c0%ae",
        "%e0%80%ae",
        "..;",
        "secret.txt",
        "link.txt",
        "out",
        "sub",
        "index.html",
        "a.js",
        "etc",
        "passwd",
        "%",
        "%zz",
        "~",
        "\u{0}",
        "..%00",
        "%ff",
    ]);
    (vec(segment, 1..8), any::<bool>())
        .prop_map(|(parts, leading)| format!("{}{}", if leading { "/" } else { "" }, parts.join("/")))
}

/// Whether a request target, read as a careless server would (one percent-decoding, `\\` as a
/// separator, a NUL ending the path, absolute paths taken as such), names something outside
/// the root: above it through `..`, through the symlinks `link.txt` and `out` that point out of
/// it, or the directory outside it by its absolute path. Independent of the server's own rule.
fn leads_outside(target: &str, outside: &str) -> bool {
    let path = target.strip_prefix("http://127.0.0.1").unwrap_or(target);
    // Without a leading `/` the target is not a path at all (HTTP's origin form needs one).
    if !path.starts_with('/') {
        return false;
    }
    let bytes = path.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    let decoded = String::from_utf8_lossy(&decoded).replace('\\', "/");
    let decoded = decoded.split('\0').next().unwrap_or_default();
    if decoded.starts_with(outside) || decoded.trim_start_matches('/').starts_with(outside.trim_start_matches('/')) {
        return true;
    }
    let mut depth: Vec<&str> = Vec::new();
    for part in decoded.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return true;
                }
            }
            name => depth.push(name),
        }
    }
    matches!(depth.first(), Some(&"link.txt") | Some(&"out"))
}

/// One raw HTTP/1.1 request: status code and the whole response.
async fn http_get(port: u16, target: &str, host: &str) -> (u16, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(target.as_bytes());
    request.extend_from_slice(format!(" HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes());
    stream.write_all(&request).await.expect("send");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let status = String::from_utf8_lossy(&response).split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_server_serves_nothing_outside_its_root() {
    let (root, secret) = app_root();
    let server = app_server(Some(&root), &root.join("../journal")).await;
    let port = server.port();
    let host = format!("127.0.0.1:{port}");
    let fixed = [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%2fsecret.txt",
        "/..%5csecret.txt",
        "/..\\secret.txt",
        "/sub/../../secret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/link.txt",
        "/out/secret.txt",
        "/out",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/index.html%00.js",
        "/secret.txt%00",
        "http://127.0.0.1/../secret.txt",
        "/%252e%252e/secret.txt",
        "/.%2e/secret.txt",
        "/sub/..%2f..%2fsecret.txt",
        &format!("/{}", root.parent().unwrap().join("secret.txt").display()),
        "/%c0%ae%c0%ae/secret.txt",
    ];
    let generated = generate(traversal_path(), CASES);
    let targets: Vec<String> = fixed.iter().map(|s| s.to_string()).chain(generated).collect();
    let served_ok = ["<html><head></head><body>index</body></html>", "// a"];
    let outside = root.parent().unwrap().display().to_string();
    // [leading outside the root, other paths] x [400, 404, 200]
    let mut counts = [[0usize; 3]; 2];
    for chunk in targets.chunks(16) {
        let answers = futures::future::join_all(chunk.iter().map(|t| http_get(port, t, &host))).await;
        for (target, (status, response)) in chunk.iter().zip(answers) {
            let text = String::from_utf8_lossy(&response);
            assert!(!text.contains(&secret), "{target:?} served the file outside the root");
            assert!(!text.contains("root:x:0"), "{target:?} served /etc/passwd");
            let leaves = leads_outside(target, &outside);
            let column = match status {
                400 => 0,
                404 => 1,
                200 => {
                    assert!(!leaves, "{target:?} leads outside the root and was served: {text}");
                    assert!(
                        served_ok.iter().any(|body| text.ends_with(body)),
                        "{target:?} served something unexpected: {text}"
                    );
                    2
                }
                other => panic!("{target:?} answered {other}: {text}"),
            };
            counts[usize::from(!leaves)][column] += 1;
        }
    }
    let [[out_400, out_404, out_served], [in_400, in_404, inside]] = counts;
    let leading_out = out_400 + out_404 + out_served;
    assert!(leading_out > 0 && in_404 + inside > 0, "both kinds of path were tried: {counts:?}");
    // A foreign Host (DNS rebinding) is refused even for a good path.
    let (foreign_host, _) = http_get(port, "/index.html", "evil.example").await;
    assert_eq!(foreign_host, 421);
    // And the server still serves its own files.
    let (status, response) = http_get(port, "/sub/a.js", &host).await;
    assert_eq!(status, 200);
    assert!(response.ends_with(b"// a"));
    record(&format!(
        "inputs tried: HTTP server {} paths: {leading_out} lead outside the root ({out_400} refused as malformed, {out_404} not found, {out_served} served); {} stay inside ({inside} served, {in_404} not found, {in_400} malformed)",
        targets.len(),
        in_400 + in_404 + inside,
    ));
    record(&format!(
        "unauthorized attempts refused: HTTP {} of {leading_out} paths leading outside the root, and {} of 1 foreign Host",
        out_400 + out_404,
        usize::from(foreign_host == 421)
    ));
}
