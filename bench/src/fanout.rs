//! The sidecar's own fan-out, apart from the pages: the delivery stage (`AppServer`, the one
//! the sidecar runs) in this process, N pages that are plain WebSocket clients acking every
//! patch on receipt (no renderer, no load), and the time `deliver` takes to hand a patch to
//! all N and collect their acks. Beside the N-pages scenario, it tells what of that row is
//! ours and what is N Chromium renderers sharing this machine's cores.
//!
//! Owns: the fake pages. Must not start processes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use jank_hotpatch::config::Settings;
use jank_hotpatch::deliver::protocol::decode_patch;
use jank_hotpatch::deliver::{AppServer, SOCKET_PATH};
use jank_hotpatch::stages::{Deliver, Patch, PatchId, PatchKind, PatchOrigin, SideModule, VarName};
use serde_json::json;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use super::stats::Summary;
use super::BenchError;

/// Ids of the fan-out's patches: they never reach a real page.
const ID_BASE: u64 = 1_900_000_000;

/// `warmup` unmeasured then `iterations` measured deliveries of a `module_bytes`-byte module
/// to `pages` acking clients, summarised in ms.
pub async fn measure(
    warmup: usize,
    pages: usize,
    iterations: usize,
    module_bytes: usize,
    scratch: &std::path::Path,
) -> Result<Summary, BenchError> {
    let mut settings = Settings::default().app;
    settings.port = 0;
    let server = AppServer::start(&settings, &scratch.join("fanout-journal"))
        .await
        .map_err(|e| BenchError::Missing(format!("the delivery stage cannot start: {e}")))?;
    let mut clients = JoinSet::new();
    for _ in 0..pages {
        let mut request = format!("ws://127.0.0.1:{}{SOCKET_PATH}?token={}", server.port(), server.token())
            .into_client_request()
            .map_err(|e| BenchError::Cdp(format!("a fan-out page's request: {e}")))?;
        let origin = format!("http://127.0.0.1:{}", server.port());
        let origin = HeaderValue::from_str(&origin).map_err(|e| BenchError::Cdp(format!("origin {origin}: {e}")))?;
        request.headers_mut().insert("Origin", origin);
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| BenchError::Cdp(format!("a fan-out page cannot connect: {e}")))?;
        clients.spawn(ack_everything(socket));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.page_count() < pages {
        if Instant::now() > deadline {
            return Err(BenchError::Timeout(format!("{pages} fan-out pages to connect (10 s)")));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let bytes: Arc<[u8]> = Arc::from(vec![0u8; module_bytes]);
    let mut times = Vec::with_capacity(iterations);
    for i in 0..(warmup + iterations) as u64 {
        let id = PatchId(ID_BASE + i);
        let module = SideModule {
            patch_id: id,
            module: id.into(),
            bytes: bytes.clone(),
            entry_symbol: id.entry_symbol(),
            var: VarName::new("demo.core", "bench-fanout"),
            kind: PatchKind::Definition,
            cpp_path: scratch.join("fanout.cpp"),
            cached: false,
        };
        let origin = PatchOrigin { file: "fanout.jank".into(), line: 1, form: "(defn bench-fanout [] 0)".into() };
        let started = Instant::now();
        let delivery =
            server.deliver(vec![Patch { module, origin }]).await.map_err(|e| BenchError::NotApplied(e.to_string()))?;
        if i >= warmup as u64 {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        if delivery.applied != pages || !delivery.failures.is_empty() {
            return Err(BenchError::NotApplied(format!(
                "fan-out: {} of {pages} pages acked patch {id}: {:?}",
                delivery.applied, delivery.failures
            )));
        }
    }
    server.stop().await;
    clients.abort_all();
    Ok(Summary::of(&times))
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A page that acks every patch frame at once, as loaded in 0 ms.
async fn ack_everything(mut socket: Socket) {
    while let Some(Ok(message)) = socket.next().await {
        let Message::Binary(frame) = message else { continue };
        let Some((header, _)) = decode_patch(&frame) else { continue };
        let ack =
            json!({"op": "ack", "batch": header.batch, "results": [{"id": header.id, "ok": true, "load_ms": 0.0}]});
        if socket.send(Message::text(ack.to_string())).await.is_err() {
            break;
        }
    }
}
