//! One TCP connection to an nREPL server. Requests get unique ids; one reader task decodes
//! the stream and hands each reply to the request with that id, gathering streamed replies
//! until one carries `done`. Replies for ids nobody waits for any more (a request that timed
//! out, the second `done` nREPL sends after `namespace-not-found`) are dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::codec::{FrameDecoder, Message, Value, DEFAULT_MAX_MESSAGE_BYTES};
use super::NreplError;

/// Statuses that mean a request failed.
const ERROR_STATUSES: [&str; 5] = ["error", "eval-error", "namespace-not-found", "unknown-op", "unsupported"];

#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// How long a request may take until its `done`; also bounds connecting.
    pub timeout: Duration,
    /// Largest message accepted from the server; a larger one drops the connection.
    pub max_message_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions { timeout: Duration::from_secs(30), max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES }
    }
}

/// A connected client; clones share the connection.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    addr: String,
    options: ClientOptions,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    shared: Arc<Mutex<Shared>>,
    next_id: AtomicU64,
    reader: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[derive(Default)]
struct Shared {
    waiting: HashMap<String, Waiting>,
    /// Why the connection is gone, once it is.
    closed: Option<NreplError>,
}

struct Waiting {
    replies: Vec<Message>,
    done: oneshot::Sender<Result<Vec<Message>, NreplError>>,
}

/// A request sent and not yet answered.
pub struct Pending {
    client: Client,
    id: String,
    op: String,
    done: oneshot::Receiver<Result<Vec<Message>, NreplError>>,
}

/// Every reply to one request, in order, the last one carrying `done`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Response {
    pub messages: Vec<Message>,
}

/// What `describe` says about the server.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Describe {
    pub ops: BTreeSet<String>,
    pub versions: BTreeMap<String, Value>,
}

/// An `eval` request.
#[derive(Clone, Debug, Default)]
pub struct Eval<'a> {
    pub code: &'a str,
    pub ns: Option<&'a str>,
    pub file: Option<&'a str>,
    /// 1-based, where `code` starts in `file`.
    pub line: Option<u32>,
    pub column: Option<u32>,
}

/// A `load-file` request.
#[derive(Clone, Debug, Default)]
pub struct LoadFile<'a> {
    pub contents: &'a str,
    pub path: Option<&'a str>,
    pub name: Option<&'a str>,
    pub ns: Option<&'a str>,
}

impl Client {
    /// Connects to `addr` (`host:port`).
    pub async fn connect(addr: &str, options: ClientOptions) -> Result<Client, NreplError> {
        let refused = |reason: String| NreplError::Refused { addr: addr.to_string(), from: None, reason };
        let stream = tokio::time::timeout(options.timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| refused(format!("no answer within {} ms", options.timeout.as_millis())))?
            .map_err(|e| refused(e.to_string()))?;
        // Requests are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let reader = tokio::spawn(read_replies(read, addr.to_string(), options.max_message_bytes, shared.clone()));
        Ok(Client {
            inner: Arc::new(Inner {
                addr: addr.to_string(),
                options,
                writer: tokio::sync::Mutex::new(write),
                shared,
                next_id: AtomicU64::new(1),
                reader,
            }),
        })
    }

    pub fn addr(&self) -> &str {
        &self.inner.addr
    }

    /// True once the server went away or broke the protocol: make a new client.
    pub fn is_closed(&self) -> bool {
        lock(&self.inner.shared).closed.is_some()
    }

    /// Sends `message` with a fresh `id`; await the reply with [`Pending::wait`].
    pub async fn start(&self, mut message: Message) -> Result<Pending, NreplError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let op = message.get_str("op").unwrap_or("?").to_string();
        message.insert("id", id.as_str());
        let bytes = message.encode()?;
        let (done_tx, done) = oneshot::channel();
        {
            let mut shared = lock(&self.inner.shared);
            if let Some(why) = &shared.closed {
                return Err(NreplError::Closed { addr: self.inner.addr.clone(), reason: Some(why.to_string()) });
            }
            shared.waiting.insert(id.clone(), Waiting { replies: Vec::new(), done: done_tx });
        }
        let written = {
            let mut writer = self.inner.writer.lock().await;
            match writer.write_all(&bytes).await {
                Ok(()) => writer.flush().await,
                Err(e) => Err(e),
            }
        };
        if let Err(e) = written {
            let error = NreplError::Closed { addr: self.inner.addr.clone(), reason: Some(e.to_string()) };
            close(&self.inner.shared, error.clone());
            return Err(error);
        }
        Ok(Pending { client: self.clone(), id, op, done })
    }

    /// Sends `message` and waits for its `done`.
    pub async fn request(&self, message: Message) -> Result<Response, NreplError> {
        self.start(message).await?.wait().await
    }

    /// A new session; `None` clones a fresh one.
    pub async fn clone_session(&self, parent: Option<&str>) -> Result<String, NreplError> {
        let response = self.request(Message::op("clone").with_opt("session", parent)).await?;
        response
            .get_str("new-session")
            .map(str::to_string)
            .ok_or_else(|| NreplError::Protocol(format!("`clone` answered without `new-session`: {response}")))
    }

    pub async fn describe(&self) -> Result<Describe, NreplError> {
        let response = self.request(Message::op("describe")).await?;
        let dict = |key: &str| response.messages.iter().find_map(|m| m.get_dict(key)).cloned().unwrap_or_default();
        Ok(Describe { ops: dict("ops").into_keys().collect(), versions: dict("versions") })
    }

    pub async fn eval(&self, session: &str, eval: &Eval<'_>) -> Result<Response, NreplError> {
        self.request(eval.message(session)).await
    }

    pub async fn load_file(&self, session: &str, load: &LoadFile<'_>) -> Result<Response, NreplError> {
        self.request(load.message(session)).await
    }

    /// Asks the server to interrupt the request `id` (see [`Pending::id`]) running in `session`.
    pub async fn interrupt(&self, session: &str, id: &str) -> Result<Response, NreplError> {
        self.request(Message::op("interrupt").with("session", session).with("interrupt-id", id)).await
    }

    pub async fn close_session(&self, session: &str) -> Result<Response, NreplError> {
        self.request(Message::op("close").with("session", session)).await
    }
}

impl Pending {
    /// The request's `id`, e.g. to interrupt it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// All replies up to `done`, or why they will not come.
    pub async fn wait(self) -> Result<Response, NreplError> {
        let timeout = self.client.inner.options.timeout;
        match tokio::time::timeout(timeout, self.done).await {
            Ok(Ok(result)) => result.map(|messages| Response { messages }),
            Ok(Err(_)) => Err(NreplError::Closed { addr: self.client.inner.addr.clone(), reason: None }),
            Err(_) => {
                lock(&self.client.inner.shared).waiting.remove(&self.id);
                Err(NreplError::Timeout { op: self.op, after: timeout })
            }
        }
    }
}

impl Response {
    /// The first reply carrying `key`.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.messages.iter().find_map(|m| m.get_str(key))
    }

    /// The last reply carrying `key` (e.g. the last `value` of several forms).
    pub fn last_str(&self, key: &str) -> Option<&str> {
        self.messages.iter().rev().find_map(|m| m.get_str(key))
    }

    /// Every `key` of every reply, concatenated (streamed `out` and `err`).
    pub fn joined(&self, key: &str) -> String {
        self.messages.iter().filter_map(|m| m.get_str(key)).collect()
    }

    pub fn out(&self) -> String {
        self.joined("out")
    }

    pub fn err(&self) -> String {
        self.joined("err")
    }

    pub fn value(&self) -> Option<&str> {
        self.last_str("value")
    }

    pub fn ns(&self) -> Option<&str> {
        self.last_str("ns")
    }

    pub fn ex(&self) -> Option<&str> {
        self.get_str("ex")
    }

    /// The statuses of all replies, in order, without repeats.
    pub fn statuses(&self) -> Vec<&str> {
        let mut all: Vec<&str> = Vec::new();
        for status in self.messages.iter().flat_map(Message::statuses) {
            if !all.contains(&status) {
                all.push(status);
            }
        }
        all
    }

    pub fn has_status(&self, status: &str) -> bool {
        self.messages.iter().any(|m| m.has_status(status))
    }

    pub fn is_error(&self) -> bool {
        ERROR_STATUSES.iter().any(|s| self.has_status(s)) || self.ex().is_some()
    }

    /// What went wrong, in the server's words: an `eval-error` without `ex` is upstream
    /// jank's of August 2026, whose message is in `value` (its `err` is captured stderr: blank
    /// or unrelated); one whose `ex` is also sent as an `err` is upstream's since September 2026
    /// (both `(str *e)`, an exception printed `#error {:cause "..." ...}`: its cause); else `err`
    /// (the jank fork, Clojure), else `value`, else `ex`, else what the statuses mean.
    pub fn error_message(&self) -> Option<String> {
        if !self.is_error() {
            return None;
        }
        let err = self.err();
        let upstream_message = self.value().filter(|_| self.has_status("eval-error") && self.ex().is_none());
        let printed_exception = self
            .ex()
            .filter(|ex| self.has_status("eval-error") && self.messages.iter().any(|m| m.get_str("err") == Some(ex)));
        let text = if let Some(value) = upstream_message {
            value.to_string()
        } else if let Some(printed) = printed_exception {
            exception_cause(printed).unwrap_or_else(|| printed.to_string())
        } else if !err.trim().is_empty() {
            err
        } else if let Some(value) = self.value().or(self.ex()) {
            value.to_string()
        } else {
            self.status_reason().to_string()
        };
        Some(text.trim_end().to_string())
    }

    /// An error reply with no message, in words (never the raw status list).
    fn status_reason(&self) -> &'static str {
        if self.has_status("namespace-not-found") {
            "the server has no namespace of that name"
        } else if self.has_status("unknown-op") {
            "the server does not have this op"
        } else if self.has_status("unsupported") {
            "the server does not support this request"
        } else {
            "the server reported an error without a message"
        }
    }
}

/// The `:cause` of an exception printed as jank prints one (`#error {\n :cause "..." ...}`),
/// its string escapes undone.
fn exception_cause(printed: &str) -> Option<String> {
    let rest = printed.strip_prefix("#error {")?;
    let quoted = &rest[rest.find(":cause \"")? + ":cause \"".len()..];
    let mut cause = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(cause),
            '\\' => match chars.next()? {
                'n' => cause.push('\n'),
                't' => cause.push('\t'),
                other => cause.push(other),
            },
            c => cause.push(c),
        }
    }
    None
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.messages.iter().map(Message::to_string).collect();
        f.write_str(&parts.join(" "))
    }
}

impl Describe {
    pub fn has_op(&self, op: &str) -> bool {
        self.ops.contains(op)
    }
}

impl Eval<'_> {
    pub fn message(&self, session: &str) -> Message {
        Message::op("eval")
            .with("session", session)
            .with("code", self.code)
            .with_opt("ns", self.ns)
            .with_opt("file", self.file)
            .with_opt("line", self.line.map(i64::from))
            .with_opt("column", self.column.map(i64::from))
    }
}

impl LoadFile<'_> {
    pub fn message(&self, session: &str) -> Message {
        Message::op("load-file")
            .with("session", session)
            .with("file", self.contents)
            .with_opt("file-path", self.path)
            .with_opt("file-name", self.name)
            .with_opt("ns", self.ns)
    }
}

async fn read_replies(mut read: OwnedReadHalf, addr: String, max_message_bytes: usize, shared: Arc<Mutex<Shared>>) {
    let mut decoder = FrameDecoder::new(max_message_bytes);
    let mut chunk = vec![0u8; 64 * 1024];
    let error = loop {
        let n = match read.read(&mut chunk).await {
            Ok(0) => {
                let reason = (decoder.pending_bytes() > 0).then(|| "in the middle of a reply".to_string());
                break NreplError::Closed { addr: addr.clone(), reason };
            }
            Ok(n) => n,
            Err(e) => break NreplError::Closed { addr: addr.clone(), reason: Some(e.to_string()) },
        };
        decoder.extend(&chunk[..n]);
        match drain(&mut decoder, &shared) {
            Ok(()) => {}
            Err(e) => break e,
        }
    };
    tracing::debug!(%addr, %error, "nREPL connection ended");
    close(&shared, error);
}

fn drain(decoder: &mut FrameDecoder, shared: &Mutex<Shared>) -> Result<(), NreplError> {
    while let Some(message) = decoder.next_message()? {
        let mut shared = lock(shared);
        let Some(id) = message.id().map(str::to_string) else {
            tracing::debug!(%message, "nREPL message without id ignored");
            continue;
        };
        let Some(waiting) = shared.waiting.get_mut(&id) else {
            tracing::debug!(%message, "nREPL reply to a finished request ignored");
            continue;
        };
        let done = message.has_status("done");
        waiting.replies.push(message);
        if done {
            if let Some(waiting) = shared.waiting.remove(&id) {
                let _ = waiting.done.send(Ok(waiting.replies));
            }
        }
    }
    Ok(())
}

/// Marks the connection gone and fails every request still waiting with `error`.
fn close(shared: &Mutex<Shared>, error: NreplError) {
    let mut shared = lock(shared);
    for (_, waiting) in shared.waiting.drain() {
        let _ = waiting.done.send(Err(error.clone()));
    }
    shared.closed.get_or_insert(error);
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // A panic while holding this lock cannot leave the map half-updated in a way that
    // matters (each update is one insert or remove), so a poisoned lock is still usable.
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(messages: &[&[(&str, Value)]]) -> Response {
        let message = |fields: &&[(&str, Value)]| {
            fields.iter().fold(Message::new(), |m, (key, value)| m.with(key, value.clone()))
        };
        Response { messages: messages.iter().map(message).collect() }
    }

    fn statuses(names: &[&str]) -> Value {
        Value::List(names.iter().map(|s| Value::from(*s)).collect())
    }

    #[test]
    fn error_messages_in_the_servers_words() {
        // Upstream jank: blank or unrelated `err`, the message in `value`.
        let upstream = response(&[
            &[("out", Value::from(""))],
            &[("err", Value::from("warning: unrelated\n"))],
            &[("value", Value::from("Unable to resolve symbol 'x'.")), ("status", statuses(&["done", "eval-error"]))],
        ]);
        assert_eq!(upstream.error_message().as_deref(), Some("Unable to resolve symbol 'x'."));
        // The fork: `ex` first, the message in `err`.
        let fork = response(&[
            &[("ex", Value::from("analyze/unresolved-symbol")), ("status", statuses(&["eval-error"]))],
            &[("err", Value::from("Unable to resolve symbol 'x'.\n")), ("status", statuses(&["error"]))],
        ]);
        assert_eq!(fork.error_message().as_deref(), Some("Unable to resolve symbol 'x'."));
        // Upstream since September 2026: stderr, then `(str *e)` as `err` and as `ex`.
        let printed = "#error {\n :cause \"Unable to resolve symbol 'x'.\"\n :data {}\n :via\n []\n :trace\n []}";
        let september = response(&[
            &[("err", Value::from("warning: unrelated\n"))],
            &[("err", Value::from(printed))],
            &[("ex", Value::from(printed)), ("status", statuses(&["done", "eval-error"]))],
        ]);
        assert_eq!(september.error_message().as_deref(), Some("Unable to resolve symbol 'x'."));
        let quoted = printed.replace("'x'.", "\\\"x\\\"");
        let september = response(&[
            &[("err", Value::from(quoted.as_str()))],
            &[("ex", Value::from(quoted.as_str())), ("status", statuses(&["done", "eval-error"]))],
        ]);
        assert_eq!(september.error_message().as_deref(), Some("Unable to resolve symbol \"x\""));
        // Statuses only: words, never the raw list.
        let no_ns = response(&[&[("status", statuses(&["namespace-not-found", "done", "error"]))]]);
        assert_eq!(no_ns.error_message().as_deref(), Some("the server has no namespace of that name"));
        let unknown = response(&[&[("status", statuses(&["error", "unknown-op", "done"]))]]);
        assert_eq!(unknown.error_message().as_deref(), Some("the server does not have this op"));
        assert_eq!(response(&[&[("status", statuses(&["done"]))]]).error_message(), None);
    }
}
