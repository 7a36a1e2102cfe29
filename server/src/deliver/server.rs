//! The HTTP routes on the app's one port: static files, the embedded client, the WebSocket.
//!
//! Owns: the request guards (Host, token, Origin), the security and caching headers, each
//! page's connection loop (welcome, journal replay, queued patches out, hello and acks in,
//! limits), and the token-protected status (`/_jank/status?token=`: the pages connected now
//! and what each runs, for `jank-hotpatch doctor`).
//! Must not decide what is sent to whom (`hub.rs`) nor read the journal's files.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::hub::{Hub, PageAck, Registration, ToPage};
use super::protocol::{ClientMessage, ProtocolError, ServerMessage, MAX_CLIENT_MESSAGE_BYTES};
use super::static_files::{self, PathRefused};

/// The client, by concern (see `client/`), wrapped so that it leaks no globals besides
/// `window.jankHotpatch`.
const CLIENT_JS: &str = concat!(
    "(function () {\n'use strict';\n",
    include_str!("client/env.js"),
    include_str!("client/output.js"),
    include_str!("client/hud.js"),
    include_str!("client/runtime.js"),
    include_str!("client/errors.js"),
    include_str!("client/loader.js"),
    include_str!("client/hooks.js"),
    include_str!("client/socket.js"),
    include_str!("client/main.js"),
    "})();\n"
);
const HUD_CSS: &str = include_str!("client/hud.css");

pub const CLIENT_PATH: &str = "/_jank/client.js";
pub const SOCKET_PATH: &str = "/_jank/ws";
pub const STATUS_PATH: &str = "/_jank/status";

/// A page that has not taken a frame for this long is dropped: it is not reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// What every request handler shares.
pub struct App {
    pub hub: Arc<Hub>,
    /// Canonical; `None` serves no files (the client and socket still work).
    pub root: Option<PathBuf>,
    pub token: String,
    /// `host:port` values a request may name in `Host`; `http://` + these are the origins
    /// a WebSocket may come from.
    pub hosts: Vec<String>,
    pub session: String,
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(CLIENT_PATH, get(|| async { asset("text/javascript; charset=utf-8", CLIENT_JS) }))
        .route("/_jank/hud.css", get(|| async { asset("text/css; charset=utf-8", HUD_CSS) }))
        .route(SOCKET_PATH, get(socket))
        .route(STATUS_PATH, get(status))
        .fallback(get(static_file))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

fn asset(content_type: &'static str, text: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

/// Refuses requests for another host name (DNS rebinding), and gives every answer the
/// headers for cross-origin isolation (precise `performance.now()`) and no caching.
async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !app.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        tracing::warn!("refused a request for host `{host}`: the app server answers only {:?}", app.hosts);
        return (StatusCode::MISDIRECTED_REQUEST, "unknown host\n").into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-embedder-policy", "require-corp"),
        ("cross-origin-resource-policy", "same-origin"),
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn static_file(State(app): State<Arc<App>>, RawQuery(query): RawQuery, uri: Uri) -> Response {
    let Some(root) = &app.root else {
        return (StatusCode::NOT_FOUND, "no app.root is configured\n").into_response();
    };
    let file = match static_files::resolve(root, uri.path()) {
        Ok(file) => file,
        Err(PathRefused::Malformed) => return (StatusCode::BAD_REQUEST, "bad path\n").into_response(),
        Err(PathRefused::NotFound) => return (StatusCode::NOT_FOUND, "not found\n").into_response(),
    };
    let bytes = match tokio::fs::read(&file).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!("cannot read {}: {e}", file.display());
            return (StatusCode::NOT_FOUND, "not found\n").into_response();
        }
    };
    let content_type = static_files::content_type(&file);
    let body = match String::from_utf8(bytes) {
        Ok(html) if content_type.starts_with("text/html") && token_matches(&app, query.as_deref()) => {
            Body::from(static_files::inject_token(&html, &app.token))
        }
        Ok(text) => Body::from(text),
        Err(e) => Body::from(e.into_bytes()),
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn token_matches(app: &App, query: Option<&str>) -> bool {
    let given = query.unwrap_or("").split('&').find_map(|pair| pair.strip_prefix("token=")).unwrap_or("");
    // Constant time: the comparison must not tell how much of a guess was right.
    given.len() == app.token.len() && given.bytes().zip(app.token.bytes()).fold(0, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The pages connected now, what each runs, and the forms failing before them. The token
/// keeps it to whoever can read the sidecar's token file.
async fn status(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    if !token_matches(&app, query.as_deref()) {
        return (StatusCode::FORBIDDEN, "missing or wrong token\n").into_response();
    }
    let body = serde_json::json!({
        "session": app.session,
        "journal": app.hub.journal_len(),
        "pages": app.hub.pages(),
        "failing": app.hub.failing(),
    });
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Why a WebSocket is refused, or `None` to accept it.
fn refusal(app: &App, headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    match origin {
        None => return Some("no Origin header (only pages served by this server may connect)".into()),
        Some(origin) if !app.hosts.iter().any(|h| origin.eq_ignore_ascii_case(&format!("http://{h}"))) => {
            return Some(format!("Origin `{origin}` is not this server's"));
        }
        Some(_) => {}
    }
    (!token_matches(app, query))
        .then(|| "missing or wrong token (open the page with the URL the sidecar printed)".into())
}

async fn socket(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Some(reason) = refusal(&app, &headers, query.as_deref()) {
        tracing::warn!("refused a page connection from {peer}: {reason}");
        return (StatusCode::FORBIDDEN, format!("{reason}\n")).into_response();
    }
    upgrade
        .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .on_failed_upgrade(move |e| tracing::warn!("page connection from {peer} failed to upgrade: {e}"))
        .on_upgrade(move |socket| async move {
            let registration = app.hub.register(peer.to_string());
            let id = registration.id;
            let reason = serve_page(&app, socket, registration).await;
            app.hub.drop_page(id, &reason);
        })
}

/// A page's connection until it ends; returns why it ended.
async fn serve_page(app: &App, mut socket: WebSocket, registration: Registration) -> String {
    let Registration { id, mut queue, replay, failing } = registration;
    let welcome = ServerMessage::Welcome { session: app.session.clone(), journal: replay.len() }.to_json();
    if let Err(reason) = send(&mut socket, Message::Text(welcome.into())).await {
        return reason;
    }
    let replay = replay.into_iter().map(Message::Binary).chain(failing.map(|text| Message::Text(text.into())));
    for message in replay {
        if let Err(reason) = send(&mut socket, message).await {
            return reason;
        }
    }
    loop {
        tokio::select! {
            outgoing = queue.recv() => match outgoing {
                Some(outgoing) => {
                    let message = match outgoing {
                        ToPage::Patch(frame) => Message::Binary(frame),
                        ToPage::Text(text) => Message::Text(text.into()),
                    };
                    if let Err(reason) = send(&mut socket, message).await {
                        return reason;
                    }
                }
                None => {
                    let _ = socket.send(Message::Close(None)).await;
                    return "the server closed the connection".into();
                }
            },
            message = socket.recv() => match message {
                None | Some(Ok(Message::Close(_))) => return "it closed the connection".into(),
                Some(Err(e)) => return format!("its connection failed: {e}"),
                Some(Ok(Message::Text(text))) => match ClientMessage::parse(&text) {
                    Ok(ClientMessage::Ack { batch, results, hooks, handled_ms }) => {
                        app.hub.ack(id, batch, PageAck { results, hooks, handled_ms })
                    }
                    Ok(ClientMessage::Hello { api }) => app.hub.hello(id, api),
                    Ok(ClientMessage::RuntimeError(report)) => app.hub.runtime_error(id, report),
                    Ok(ClientMessage::RuntimeClear { keys }) => app.hub.runtime_clear(id, &keys),
                    Err(e) => return format!("it broke the protocol: {e}"),
                },
                Some(Ok(Message::Binary(_))) => return format!("it broke the protocol: {}", ProtocolError::Binary),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            },
        }
    }
}

async fn send(socket: &mut WebSocket, message: Message) -> Result<(), String> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("sending to it failed: {e}")),
        Err(_) => Err(format!("it took no data for {} s (not reading its socket)", SEND_TIMEOUT.as_secs())),
    }
}
