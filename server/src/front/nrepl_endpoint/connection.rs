//! One client connection: requests read with a size limit, dispatched by op (eval and
//! load-file to the pipeline, sessions here, everything else to jank), replies queued to a
//! writer task. A client that sends garbage or does not read its replies is told why (when it
//! can still be told) and dropped; nothing it does reaches the other clients.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Notify};

use super::eval::{EvalEvent, EvalInput, Evaluator, LoadInput};
use super::message::MessageReader;
use super::session::{Session, Sessions};
use super::undo::{self, Undo};
use super::upstream::Upstream;
use super::{NreplServerError, MAX_MESSAGE_BYTES};
use crate::nrepl::{Message, Value};

/// Replies queued for one client before it counts as not reading them.
const OUTBOX_CAPACITY: usize = 1024;
/// How long one write may wait for the client to make room.
const WRITE_STALL: Duration = Duration::from_secs(10);
/// The ops this server answers itself, added to jank's in `describe`.
const OWN_OPS: [&str; 8] = ["clone", "close", "describe", "eval", "interrupt", "load-file", "ls-sessions", undo::OP];

/// What every connection shares.
pub struct Shared {
    pub evaluator: Evaluator,
    pub sessions: Sessions,
    pub upstream: Upstream,
    pub undo: Undo,
    /// The session that evaluated last (eval, load-file: what patches the page), and where its
    /// connection's replies go: it hears of the errors its code throws in the page.
    pub last_patcher: std::sync::Mutex<Option<(String, Outbox)>>,
}

impl Shared {
    /// Sends `text` as an `err` message to the session that evaluated last, if any.
    pub fn tell_last_patcher(&self, text: String) {
        if let Some((session, outbox)) = super::lock(&self.last_patcher).as_ref() {
            outbox.send(Message::new().with("session", session.as_str()).with("err", text));
        }
    }
}

/// What goes to the nREPL client, in order.
enum ToClient {
    Reply(Message),
    /// Flush what is queued, then close.
    Close,
}

/// Where a request's replies go. Never blocks: a full queue means the client does not read,
/// and the connection is closed.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<ToClient>,
    stuck: Arc<Notify>,
}

impl Outbox {
    fn send(&self, reply: Message) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(ToClient::Reply(reply)) {
            self.stuck.notify_one();
        }
    }
}

pub async fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
    let stuck = Arc::new(Notify::new());
    let mut writer = tokio::spawn(write_replies(write, rx, stuck.clone()));
    let outbox = Outbox { tx, stuck: stuck.clone() };
    let mut requests = MessageReader::new(read, MAX_MESSAGE_BYTES);
    let reason = loop {
        tokio::select! {
            next = requests.next() => match next {
                Ok(Some(request)) => handle(request, &shared, &outbox),
                Ok(None) => break None,
                Err(NreplServerError::Io(e)) => break Some(format!("reading failed: {e}")),
                Err(e) => {
                    outbox.send(Message::new().with("err", format!("{e}; closing the connection\n")).with("status", statuses(&["error", "done"])));
                    break Some(e.to_string());
                }
            },
            _ = stuck.notified() => break Some(format!("it does not read its replies (more than {OUTBOX_CAPACITY} queued, or none taken for {} s)", WRITE_STALL.as_secs())),
            _ = stopped.changed() => break None,
        }
    };
    match &reason {
        Some(reason) => tracing::warn!("nREPL client {peer}: {reason}; closing the connection"),
        None => tracing::debug!("nREPL client {peer} disconnected"),
    }
    let _ = outbox.tx.try_send(ToClient::Close);
    if tokio::time::timeout(Duration::from_secs(1), &mut writer).await.is_err() {
        writer.abort();
    }
}

async fn write_replies(mut write: OwnedWriteHalf, mut rx: mpsc::Receiver<ToClient>, stuck: Arc<Notify>) {
    while let Some(ToClient::Reply(reply)) = rx.recv().await {
        let bytes = match reply.encode() {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!("nREPL server: cannot encode a reply: {e}");
                continue;
            }
        };
        match tokio::time::timeout(WRITE_STALL, write.write_all(&bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break,
            Err(_) => {
                stuck.notify_one();
                break;
            }
        }
    }
    let _ = write.shutdown().await;
}

/// Dispatches one request; anything that waits runs in its own task.
fn handle(request: Message, shared: &Arc<Shared>, outbox: &Outbox) {
    let session = match request.get_str("session") {
        Some(id) => match shared.sessions.get(id) {
            Some(session) => Some(session),
            None => {
                outbox.send(base(&request).with("status", statuses(&["error", "unknown-session", "done"])));
                return;
            }
        },
        None => None,
    };
    let (shared, outbox) = (shared.clone(), outbox.clone());
    match request.get_str("op").unwrap_or_default() {
        "eval" | "load-file" => {
            evaluate(request, session.unwrap_or_else(|| shared.sessions.ephemeral()), shared, outbox)
        }
        "clone" => {
            tokio::spawn(async move {
                let new = shared.sessions.clone_from(session.as_deref()).await;
                outbox.send(base(&request).with("new-session", new.id.as_str()).with("status", statuses(&["done"])));
            });
        }
        "close" => {
            let Some(session) = session.and_then(|s| shared.sessions.close(&s.id)) else {
                outbox.send(base(&request).with("status", statuses(&["error", "unknown-session", "done"])));
                return;
            };
            outbox.send(base(&request).with("status", statuses(&["done", "session-closed"])));
            tokio::spawn(async move { shared.upstream.close(&session).await });
        }
        "ls-sessions" => {
            let ids = shared.sessions.ids().into_iter().map(Value::from).collect::<Vec<_>>();
            outbox.send(base(&request).with("sessions", ids).with("status", statuses(&["done"])));
        }
        "interrupt" => interrupt(&request, session.as_deref(), &outbox),
        undo::OP => {
            tokio::spawn(async move { outbox.send(shared.undo.run(&request, base(&request)).await) });
        }
        "" => outbox.send(
            base(&request)
                .with("err", "a request needs an `op`\n")
                .with("status", statuses(&["error", "unknown-op", "done"])),
        ),
        op => {
            let describe = op == "describe";
            tokio::spawn(async move {
                match shared.upstream.forward(&request, session.as_deref()).await {
                    Ok(replies) => {
                        // Our ops and version go where jank put its own (or, failing that, on `done`).
                        let has_ops = replies.iter().any(|r| r.get("ops").is_some());
                        for reply in replies {
                            let ours =
                                describe && (reply.get("ops").is_some() || (!has_ops && reply.has_status("done")));
                            outbox.send(if ours { describe_ours(reply) } else { reply });
                        }
                    }
                    Err(e) if describe => {
                        tracing::debug!("describe without jank: {e}");
                        outbox.send(describe_ours(base(&request).with("status", statuses(&["done"]))));
                    }
                    Err(e) => outbox.send(
                        base(&request).with("err", format!("{e}\n")).with("status", statuses(&["error", "done"])),
                    ),
                }
            });
        }
    }
}

/// Runs `eval` or `load-file` in `session`, after any evaluation already running there.
fn evaluate(request: Message, session: Arc<Session>, shared: Arc<Shared>, outbox: Outbox) {
    let id = request.id().unwrap_or_default().to_string();
    let reply = base(&request).with("session", session.id.as_str());
    *super::lock(&shared.last_patcher) = Some((session.id.clone(), outbox.clone()));
    let task_session = session.clone();
    let task = tokio::spawn(async move {
        let session = task_session;
        let mut emit = |event: EvalEvent| replies(&reply, event).into_iter().for_each(|r| outbox.send(r));
        let mut ns = session.ns.lock().await;
        let ended_in = if request.get_str("op") == Some("eval") {
            let input = EvalInput {
                code: request.get_str("code").unwrap_or_default().to_string(),
                ns: request.get_str("ns").map(str::to_string),
                file: request.get_str("file").map(str::to_string),
                line: request.get_int("line").and_then(|l| u32::try_from(l).ok()),
                column: request.get_int("column").and_then(|c| u32::try_from(c).ok()),
            };
            shared.evaluator.eval(&input, &mut ns, &mut emit).await
        } else {
            let input = LoadInput {
                contents: request.get_str("file").unwrap_or_default().to_string(),
                path: request.get_str("file-path").or(request.get_str("file-name")).map(str::to_string),
            };
            shared.evaluator.load_file(&input, &ns, &mut emit).await
        };
        drop(ns);
        session.finished(request.id().unwrap_or_default());
        // `ns` on the reply that ends every evaluation, failed ones too: CIDER's prompt shows it.
        outbox.send(reply.with("ns", ended_in).with("status", statuses(&["done"])));
    });
    session.started(&id, task.abort_handle());
}

fn interrupt(request: &Message, session: Option<&Session>, outbox: &Outbox) {
    let stopped = session.map(|s| s.interrupt(request.get_str("interrupt-id"))).unwrap_or_default();
    for id in &stopped {
        let interrupted = Message::new().with("id", id.as_str()).with_opt("session", session.map(|s| s.id.as_str()));
        outbox.send(interrupted.clone().with("status", statuses(&["interrupted"])));
        outbox.send(interrupted.with("status", statuses(&["done"])));
    }
    let status: &[&str] = if stopped.is_empty() { &["done", "session-idle"] } else { &["done"] };
    outbox.send(base(request).with("status", statuses(status)));
}

/// The nREPL messages for one evaluation event.
fn replies(reply: &Message, event: EvalEvent) -> Vec<Message> {
    match event {
        EvalEvent::Value { value, ns } => vec![reply.clone().with("value", value).with("ns", ns)],
        EvalEvent::Warning(text) => vec![reply.clone().with("err", text)],
        EvalEvent::Output(text) => vec![reply.clone().with("out", text)],
        EvalEvent::Failure { err, ex, ns } => vec![
            reply.clone().with("err", err),
            reply
                .clone()
                .with("ex", ex.as_str())
                .with("root-ex", ex)
                .with("ns", ns)
                .with("status", statuses(&["eval-error"])),
        ],
    }
}

/// jank's `describe` reply (or an empty one) with our version and ops added.
fn describe_ours(mut reply: Message) -> Message {
    let mut ops = reply.get_dict("ops").cloned().unwrap_or_default();
    for op in OWN_OPS {
        ops.entry(op.to_string()).or_insert_with(|| Value::Dict(Default::default()));
    }
    let mut versions = reply.get_dict("versions").cloned().unwrap_or_default();
    versions.insert("jank-hotpatch".into(), Message::new().with("version-string", env!("CARGO_PKG_VERSION")).into());
    reply.insert("ops", Value::Dict(ops));
    reply.insert("versions", Value::Dict(versions));
    reply
}

/// A reply to `request`: its `id` and `session` echoed.
fn base(request: &Message) -> Message {
    Message::new().with_opt("id", request.get("id").cloned()).with_opt("session", request.get("session").cloned())
}

fn statuses(status: &[&str]) -> Value {
    Value::List(status.iter().map(|s| Value::from(*s)).collect())
}
