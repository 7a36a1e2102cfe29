//! The app server without a browser: pages played by tokio-tungstenite clients that speak
//! the wire protocol (or break it), raw HTTP requests for the static files, and the journal
//! on disk across restarts.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use jank_hotpatch::deliver::protocol::{decode_patch, PatchHeader};
use jank_hotpatch::deliver::AppServer;
use jank_hotpatch::stages::{
    Deliver, Delivery, Patch, PatchId, PatchKind, PatchOrigin, SideModule, StageFailure, VarName,
};
use serde_json::{json, Value};
use support::app::{app_settings, scratch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Module bytes the fake pages never load: only their size and identity matter here.
fn patch(id: u64, name: &str, kind: PatchKind) -> Patch {
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    bytes.extend(id.to_le_bytes());
    Patch {
        module: SideModule {
            patch_id: PatchId(id),
            module: PatchId(id).into(),
            bytes: bytes.into(),
            entry_symbol: PatchId(id).entry_symbol(),
            var: VarName::new("demo.core", name),
            kind,
            cpp_path: PathBuf::new(),
            cached: false,
        },
        origin: PatchOrigin { file: "src/demo/core.jank".into(), line: 7, form: format!("(defn {name} [] {id})") },
    }
}

async fn server(name: &str) -> (AppServer, PathBuf) {
    let dir = scratch(name);
    let root = dir.join("app");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("index.html"),
        "<!doctype html><html><head><title>t</title></head><body>app</body></html>",
    )
    .unwrap();
    std::fs::write(dir.join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("link.txt")).unwrap();
    let server = AppServer::start(&app_settings(Some(root)), &dir.join("journal")).await.unwrap();
    (server.with_ack_timeout(Duration::from_secs(3)), dir)
}

async fn connect(server: &AppServer, token: &str, origin: Option<&str>) -> Result<Socket, String> {
    let url = format!("ws://127.0.0.1:{}/_jank/ws?token={token}", server.port());
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(format!("HTTP {}", response.status())),
        Err(e) => Err(e.to_string()),
    }
}

/// A well-behaved page: connected with the right token and Origin, welcome read.
async fn page(server: &AppServer) -> (Socket, Value) {
    let origin = format!("http://127.0.0.1:{}", server.port());
    let mut socket = connect(server, server.token(), Some(&origin)).await.unwrap();
    let welcome = next_text(&mut socket).await;
    (socket, welcome)
}

fn deliver_in_background(server: &Arc<AppServer>, patches: Vec<Patch>) -> JoinHandle<Result<Delivery, StageFailure>> {
    let server = server.clone();
    tokio::spawn(async move { server.deliver(patches).await })
}

async fn next_message(socket: &mut Socket) -> Option<Message> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a message within 5 s") {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) => return Some(message),
            _ => return None,
        }
    }
}

async fn next_text(socket: &mut Socket) -> Value {
    let message = next_message(socket).await;
    let Some(Message::Text(text)) = message else { panic!("expected a text frame, got {message:?}") };
    serde_json::from_str(&text).unwrap()
}

async fn next_patch(socket: &mut Socket) -> (PatchHeader, Vec<u8>) {
    match next_message(socket).await {
        Some(Message::Binary(frame)) => {
            let (header, bytes) = decode_patch(&frame).expect("a patch frame");
            (header, bytes.to_vec())
        }
        other => panic!("expected a patch frame, got {other:?}"),
    }
}

async fn ack(socket: &mut Socket, header: &PatchHeader, result: Value) {
    let mut result = result;
    result["id"] = json!(header.id);
    let message = json!({"op": "ack", "batch": header.batch, "results": [result]});
    socket.send(Message::text(message.to_string())).await.unwrap();
}

/// Until the server closes the socket (true) or 5 s pass (false).
async fn closed(socket: &mut Socket) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) =
            tokio::time::timeout(Duration::from_millis(200), socket.next()).await
        {
            return true;
        }
    }
    false
}

async fn wait_pages(server: &AppServer, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.page_count() != n {
        assert!(Instant::now() < deadline, "expected {n} pages, have {}", server.page_count());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn token_and_origin_are_required() {
    let (server, _dir) = server("auth").await;
    let port = server.port();
    let good_origin = format!("http://127.0.0.1:{port}");
    let localhost = format!("http://localhost:{port}");
    let cases = [
        ("wrong token", "0123456789abcdef0123456789abcdef", Some(good_origin.as_str())),
        ("no token", "", Some(good_origin.as_str())),
        ("foreign origin", server.token(), Some("http://evil.example")),
        ("other port", server.token(), Some("http://127.0.0.1:1")),
        ("no origin", server.token(), None),
    ];
    for (what, token, origin) in cases {
        assert_eq!(connect(&server, token, origin).await.err().as_deref(), Some("HTTP 403 Forbidden"), "{what}");
    }
    assert_eq!(server.page_count(), 0, "no refused client counts as a page");
    let delivery = server.deliver(vec![patch(1, "a", PatchKind::Definition)]).await.unwrap();
    assert_eq!(delivery.pages, 0, "refused clients get no patch");

    let mut socket = connect(&server, server.token(), Some(&localhost)).await.unwrap();
    let welcome = next_text(&mut socket).await;
    assert_eq!(welcome["op"], "welcome");
    assert_eq!(welcome["journal"], 1);
    server.stop().await;
}

#[tokio::test]
async fn a_patch_goes_out_and_the_ack_comes_back() {
    let (server, _dir) = server("ack").await;
    let server = Arc::new(server);
    let (mut socket, _) = page(&server).await;
    let sending = deliver_in_background(
        &server,
        vec![patch(7, "speed", PatchKind::Definition), patch(8, "__expr_8", PatchKind::Expression)],
    );
    let (first, bytes) = next_patch(&mut socket).await;
    assert_eq!((first.id, first.index, first.count, first.replay), (PatchId(7), 0, 2, false));
    assert_eq!(first.entry, "jank_patch_symbols_7");
    assert_eq!(first.origin.line, 7);
    assert_eq!(bytes, &*patch(7, "speed", PatchKind::Definition).module.bytes);
    let (second, _) = next_patch(&mut socket).await;
    assert_eq!(second.kind, PatchKind::Expression);
    let results =
        json!([{"id": 7, "ok": true, "load_ms": 0.75}, {"id": 8, "ok": true, "load_ms": 0.25, "value": "42"}]);
    socket
        .send(Message::text(json!({"op": "ack", "batch": first.batch, "results": results}).to_string()))
        .await
        .unwrap();
    let delivery = sending.await.unwrap().unwrap();
    assert_eq!((delivery.pages, delivery.applied), (1, 1));
    assert_eq!(delivery.value.as_deref(), Some("42"));
    assert_eq!(delivery.load_ms, 1.0, "the page's own load times, summed over the batch");
    assert!(delivery.failures.is_empty(), "{:?}", delivery.failures);
}

#[tokio::test]
async fn a_load_error_names_the_form_and_is_not_journaled() {
    let (server, _dir) = server("load-error").await;
    let server = Arc::new(server);
    let (mut socket, _) = page(&server).await;
    let sending = deliver_in_background(&server, vec![patch(3, "speed", PatchKind::Definition)]);
    let (header, _) = next_patch(&mut socket).await;
    ack(&mut socket, &header, json!({"ok": false, "load_ms": 0.1, "error": "unsupported arity `9`"})).await;
    let delivery = sending.await.unwrap().unwrap();
    assert_eq!((delivery.pages, delivery.applied), (1, 0));
    let failure = delivery.failures.join("\n");
    assert!(failure.contains("demo.core/speed") && failure.contains("(defn speed [] 3)"), "{failure}");
    assert!(failure.contains("src/demo/core.jank:7") && failure.contains("unsupported arity"), "{failure}");
    let (_late, welcome) = page(&server).await;
    assert_eq!(welcome["journal"], 0, "a patch no page could load is not replayed");
}

#[tokio::test]
async fn late_pages_get_the_journal_and_expressions_are_not_kept() {
    let (server, _dir) = server("journal").await;
    for p in [
        patch(1, "a", PatchKind::Definition),
        patch(2, "b", PatchKind::Definition),
        patch(3, "a", PatchKind::Definition),
    ] {
        let delivery = server.deliver(vec![p]).await.unwrap();
        assert_eq!((delivery.pages, delivery.applied), (0, 0), "no pages: fine");
    }
    server.deliver(vec![patch(4, "__expr_4", PatchKind::Expression)]).await.unwrap();
    let (mut socket, welcome) = page(&server).await;
    assert_eq!(welcome["journal"], 2);
    let (b, _) = next_patch(&mut socket).await;
    let (a, _) = next_patch(&mut socket).await;
    assert_eq!((b.id, a.id), (PatchId(2), PatchId(3)), "latest per var, in order of application");
    assert!(b.replay && a.replay && b.batch == a.batch && a.count == 2);
}

#[tokio::test]
async fn the_journal_and_token_survive_a_restart() {
    let (server, dir) = server("restart").await;
    let token = server.token().to_string();
    server.deliver(vec![patch(11, "a", PatchKind::Definition)]).await.unwrap();
    server.stop().await;

    let again = AppServer::start(&app_settings(Some(dir.join("app"))), &dir.join("journal")).await.unwrap();
    assert_eq!(again.token(), token, "pages that outlive the sidecar can reconnect");
    let (mut socket, welcome) = page(&again).await;
    assert_eq!(welcome["journal"], 1);
    assert_eq!(next_patch(&mut socket).await.0.id, PatchId(11));
    again.stop().await;

    for slot in ["journal-0.json", "journal-1.json"] {
        std::fs::write(dir.join("journal").join(slot), "{\"broken\"").unwrap();
    }
    let corrupt = AppServer::start(&app_settings(Some(dir.join("app"))), &dir.join("journal")).await.unwrap();
    assert_eq!(page(&corrupt).await.1["journal"], 0, "a corrupt journal is ignored, not fatal");
}

#[tokio::test]
async fn pages_that_break_the_protocol_are_dropped_and_others_keep_going() {
    let (server, _dir) = server("garbage").await;
    let big = "x".repeat(70 * 1024);
    let bad: [Message; 4] = [
        Message::text("not json"),
        Message::text(r#"{"op":"reload-everything"}"#),
        Message::binary(vec![1, 2, 3]),
        Message::text(big),
    ];
    for message in bad {
        let (mut socket, _) = page(&server).await;
        wait_pages(&server, 1).await;
        socket.send(message).await.unwrap();
        assert!(closed(&mut socket).await, "the server hangs up");
        wait_pages(&server, 0).await;
    }
    let (mut socket, _) = page(&server).await;
    let server = Arc::new(server);
    let sending = deliver_in_background(&server, vec![patch(5, "a", PatchKind::Definition)]);
    let (header, _) = next_patch(&mut socket).await;
    ack(&mut socket, &header, json!({"ok": true, "load_ms": 0.5})).await;
    assert_eq!(sending.await.unwrap().unwrap().applied, 1);
}

#[tokio::test]
async fn a_page_that_closes_mid_load_is_not_waited_for() {
    let (server, _dir) = server("mid-load").await;
    let server = Arc::new(server.with_ack_timeout(Duration::from_secs(30)));
    let (mut leaving, _) = page(&server).await;
    let (mut staying, _) = page(&server).await;
    let started = Instant::now();
    let sending = deliver_in_background(&server, vec![patch(9, "a", PatchKind::Definition)]);
    next_patch(&mut leaving).await;
    leaving.close(None).await.unwrap();
    let (header, _) = next_patch(&mut staying).await;
    ack(&mut staying, &header, json!({"ok": true, "load_ms": 0.5})).await;
    let delivery = sending.await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!((delivery.pages, delivery.applied), (2, 1));
}

#[tokio::test]
async fn a_silent_page_beside_one_that_applied_is_dropped_with_a_warning() {
    let (server, _dir) = server("silent-beside").await;
    let server = Arc::new(server.with_ack_timeout(Duration::from_millis(500)));
    let (_silent, _) = page(&server).await;
    let (mut answering, _) = page(&server).await;
    let sending = deliver_in_background(&server, vec![patch(7, "a", PatchKind::Definition)]);
    let (header, _) = next_patch(&mut answering).await;
    ack(&mut answering, &header, json!({"ok": true, "load_ms": 0.5})).await;
    let delivery = sending.await.unwrap().unwrap();
    assert_eq!((delivery.pages, delivery.applied), (2, 1));
    assert!(delivery.failures.is_empty(), "{:?}", delivery.failures);
    assert_eq!(delivery.warnings.len(), 1, "{:?}", delivery.warnings);
    assert!(delivery.warnings[0].contains("did not answer within 500 ms and was dropped"), "{:?}", delivery.warnings);
    wait_pages(&server, 1).await;
}

#[tokio::test]
async fn silent_pages_time_out_and_slow_readers_are_dropped() {
    let (server, _dir) = server("slow").await;
    let server = server.with_ack_timeout(Duration::from_millis(300));
    let (_silent, _) = page(&server).await;
    let delivery = server.deliver(vec![patch(1, "a", PatchKind::Definition)]).await.unwrap();
    assert_eq!((delivery.pages, delivery.applied), (1, 0));
    assert!(delivery.failures[0].contains("did not answer within 300 ms"), "{:?}", delivery.failures);

    // A batch bigger than the page's send queue, to a page that reads nothing.
    let flood: Vec<Patch> = (100..2_100).map(|id| patch(id, &format!("f{id}"), PatchKind::Definition)).collect();
    let delivery = server.deliver(flood).await.unwrap();
    assert_eq!(delivery.pages, 0, "the page that cannot keep up is dropped, not waited for");
    wait_pages(&server, 0).await;
}

#[tokio::test]
async fn modules_above_the_limit_are_refused() {
    let dir = scratch("limit");
    let settings = jank_hotpatch::config::AppSettings { max_module_bytes: 8, ..app_settings(None) };
    let server = AppServer::start(&settings, &dir).await.unwrap();
    let failure = server.deliver(vec![patch(1, "a", PatchKind::Definition)]).await.unwrap_err();
    assert!(failure.message.contains("app.maxModuleBytes"), "{}", failure.message);
}

#[tokio::test]
async fn a_taken_port_moves_to_the_next() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = scratch("port");
    let settings = jank_hotpatch::config::AppSettings { port, ..app_settings(None) };
    let server = AppServer::start(&settings, &dir).await.unwrap();
    assert!(server.port() > port && server.port() <= port + 20, "{} after {port}", server.port());
    assert!(server.url().contains(&format!(":{}/?token={}", server.port(), server.token())));
}

/// One raw HTTP/1.1 request, so that nothing normalizes the path on the way.
async fn http(port: u16, path: &str, host: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[tokio::test]
async fn static_files_stay_inside_the_root() {
    let (server, _dir) = server("static").await;
    let port = server.port();
    let host = format!("127.0.0.1:{port}");
    for attack in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/..%2fsecret.txt",
        "/..%5csecret.txt",
        "/..\\secret.txt",
        "//secret.txt",
        "/link.txt",
        "/index.html%00.txt",
        "/%2fetc%2fpasswd",
        "/..%252fsecret.txt",
    ] {
        let (status, _, body) = http(port, attack, &host).await;
        assert!(status == 400 || status == 404, "{attack}: {status}");
        assert!(!body.contains("top secret") && !body.contains("root:"), "{attack} leaked: {body}");
    }
    let (status, head, body) = http(port, "/", &host).await;
    assert_eq!(status, 200);
    for header in [
        "cross-origin-opener-policy: same-origin",
        "cross-origin-embedder-policy: require-corp",
        "cache-control: no-cache",
    ] {
        assert!(head.contains(header), "{header} missing in {head}");
    }
    assert!(!body.contains(server.token()), "no token without ?token=");
    let (_, _, body) = http(port, &format!("/?token={}", server.token()), &host).await;
    assert!(
        body.contains(&format!(r#"<head><meta name="jank-hotpatch-token" content="{}">"#, server.token())),
        "{body}"
    );
    let (_, _, body) = http(port, "/?token=0123456789abcdef0123456789abcdef", &host).await;
    assert!(!body.contains("jank-hotpatch-token"));
    let (status, head, body) = http(port, "/_jank/client.js", &format!("localhost:{port}")).await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/javascript") && body.contains("window.jankHotpatch"));
    assert_eq!(http(port, "/", "evil.example").await.0, 421, "DNS rebinding: unknown Host refused");
}

#[tokio::test]
async fn hellos_and_failing_forms_reach_the_status_and_the_pages() {
    let (server, _) = server("hello-failures").await;
    let host = format!("127.0.0.1:{}", server.port());
    let (status, _, _) = http(server.port(), "/_jank/status?token=wrong", &host).await;
    assert_eq!(status, 403, "the status needs the token");

    // A page says what its main module has; the status shows it.
    let (mut first, _) = page(&server).await;
    let api = json!({"module": "attached", "missing": ["_jank_to_code_string"], "main_module_url": "http://x/app.wasm", "main_module_sha256": "ab12"});
    first.send(Message::text(json!({"op": "hello", "api": api}).to_string())).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.pages().first().and_then(|p| p.api.clone()).is_none() {
        assert!(Instant::now() < deadline, "no hello recorded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _, body) = http(server.port(), &format!("/_jank/status?token={}", server.token()), &host).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["pages"][0]["api"], api, "{body}");

    // A form that failed before the pages: every page hears of it, and a late page too.
    let failure = jank_hotpatch::stages::FormFailure {
        key: "demo.core/radius".into(),
        stage: jank_hotpatch::stages::Stage::Compile,
        message: "Unable to resolve symbol 'nope'".into(),
        file: "src/demo/core.jank".into(),
        line: 9,
        column: 17,
        form: "(defn radius [] (nope 18))".into(),
    };
    server.show_failures(vec![failure], vec!["demo.core/speed".into()]).await;
    let told = next_text(&mut first).await;
    assert_eq!(told["op"], "failures");
    assert_eq!(told["failed"][0]["key"], "demo.core/radius");
    assert_eq!((told["failed"][0]["line"].clone(), told["failed"][0]["column"].clone()), (json!(9), json!(17)));
    assert_eq!(told["fine"], json!([]), "speed was not failing: nothing to clear");
    let (mut late, _) = page(&server).await;
    assert_eq!(next_text(&mut late).await["failed"][0]["key"], "demo.core/radius");

    // Fine again: both pages are told, and the status no longer lists it.
    server.show_failures(Vec::new(), vec!["demo.core/radius".into()]).await;
    for socket in [&mut first, &mut late] {
        let told = next_text(socket).await;
        assert_eq!((told["failed"].clone(), told["fine"].clone()), (json!([]), json!(["demo.core/radius"])));
    }
    let (_, _, body) = http(server.port(), &format!("/_jank/status?token={}", server.token()), &host).await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["failing"], json!([]));
}
