//! The nREPL server: bencode over TCP (the codec of `jank_hotpatch::nrepl`), sessions, and
//! the ops with the reply shapes of the jank fork's server (pfeodrippe/jank branch `nrepl`,
//! `compiler+runtime/include/cpp/jank/nrepl_server/`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jank_hotpatch::nrepl::{FrameDecoder, Message, Value, DEFAULT_MAX_MESSAGE_BYTES};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};

use crate::analyze::{Analyzer, Expr};
use crate::codegen;
use crate::mode::{Mode, Upstream};
use crate::reader::read_all;
use crate::runtime::{eval_string, Env, JankError};

#[derive(Clone, Debug)]
pub struct Options {
    /// Artificial delay before each `wasm-compile-patch` answer.
    pub delay: Duration,
    /// Which jank to play.
    pub mode: Mode,
    /// Which upstream nREPL server `Mode::Upstream` plays.
    pub upstream: Upstream,
}

pub struct Server {
    options: Options,
    env: Mutex<Env>,
    /// Session id -> its current namespace.
    sessions: Mutex<HashMap<String, String>>,
    /// jank's own patch counter, used only when a request has no `patch-id`.
    patch_counter: AtomicU64,
}

type Writer = Arc<tokio::sync::Mutex<OwnedWriteHalf>>;

impl Server {
    pub fn new(options: Options) -> Arc<Server> {
        Arc::new(Server {
            options,
            env: Mutex::new(Env::default()),
            sessions: Mutex::default(),
            patch_counter: AtomicU64::new(0),
        })
    }

    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    tracing::info!(%peer, "client connected");
                    tokio::spawn(self.clone().connection(stream, peer.to_string()));
                }
                Err(e) => tracing::warn!("accept failed: {e}"),
            }
        }
    }

    async fn connection(self: Arc<Self>, stream: TcpStream, peer: String) {
        let _ = stream.set_nodelay(true);
        let (mut read, write) = stream.into_split();
        let writer: Writer = Arc::new(tokio::sync::Mutex::new(write));
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_MESSAGE_BYTES);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match read.read(&mut chunk).await {
                Ok(0) => break tracing::info!(%peer, "client disconnected"),
                Ok(n) => n,
                Err(e) => break tracing::info!(%peer, "client connection failed: {e}"),
            };
            decoder.extend(&chunk[..n]);
            loop {
                match decoder.next_message() {
                    Ok(Some(request)) => {
                        // Each request on its own task, so `interrupt` is answered during a
                        // slow compile.
                        tokio::spawn(self.clone().answer(request, writer.clone()));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(%peer, "dropping the client: {e}");
                        return;
                    }
                }
            }
        }
    }

    async fn answer(self: Arc<Self>, request: Message, writer: Writer) {
        let replies = self.handle(&request).await;
        let mut writer = writer.lock().await;
        for mut reply in replies {
            if let Some(id) = request.id() {
                reply.insert("id", id);
            }
            if let Some(session) = request.get_str("session").filter(|_| reply.get("session").is_none()) {
                reply.insert("session", session);
            }
            let written = match reply.encode() {
                Ok(bytes) => writer.write_all(&bytes).await,
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            if let Err(e) = written {
                tracing::info!("cannot answer: {e}");
                return;
            }
        }
    }

    async fn handle(&self, request: &Message) -> Vec<Message> {
        let op = request.get_str("op").unwrap_or_default();
        tracing::debug!(op, "request");
        let mode = self.options.mode;
        if !mode.answers(op) {
            return vec![unknown_op(mode)];
        }
        match op {
            "clone" => {
                let id = session_id();
                lock(&self.sessions).insert(id.clone(), "user".into());
                vec![Message::new().with("new-session", id).with("status", statuses(&["done"]))]
            }
            "describe" => vec![self.describe()],
            "close" => {
                if let Some(session) = request.get_str("session") {
                    lock(&self.sessions).remove(session);
                }
                vec![done()]
            }
            "interrupt" => vec![done()],
            "eval" => match request.get_str("code").filter(|c| !c.is_empty()) {
                Some(code) if mode == Mode::Upstream => self.upstream_eval(request, code),
                Some(code) => self.eval(request, code, request.get_str("file"), true),
                None => vec![unsupported("missing-code")],
            },
            "load-file" => match request.get_str("file").filter(|c| !c.is_empty()) {
                Some(contents) if mode == Mode::Upstream => self.upstream_eval(request, contents),
                Some(contents) => {
                    let path = request.get_str("file-path").or(request.get_str("file-name"));
                    let mut replies = self.eval(request, contents, path, false);
                    for reply in &mut replies {
                        reply.0.remove("ns");
                    }
                    replies
                }
                None => vec![unsupported("missing-file")],
            },
            "wasm-compile-patch" => {
                if !self.options.delay.is_zero() {
                    // Fault tests wait for this line to act while the compile is in flight.
                    tracing::info!(delay_ms = self.options.delay.as_millis(), "wasm-compile-patch received");
                    tokio::time::sleep(self.options.delay).await;
                }
                self.compile_patch(request)
            }
            // Upstream's symbol lookups: forwarded by the sidecar's nREPL endpoint as they are.
            "lookup" => vec![Message::new().with("info", Message::new()).with("status", statuses(&["done"]))],
            "completions" => vec![self.completions(request)],
            _ => vec![unknown_op(mode)],
        }
    }

    fn describe(&self) -> Message {
        let mode = self.options.mode;
        let ops = mode.described_ops().iter().fold(Message::new(), |m, op| m.with(op, Message::new()));
        let versions = Message::new().with(
            "jank-standin",
            Message::new()
                .with("version-string", env!("CARGO_PKG_VERSION"))
                .with("mode", mode.to_string())
                .with("stands-in-for", mode.stands_in_for()),
        );
        Message::new().with("ops", ops).with("versions", versions).with("status", statuses(&["done"]))
    }

    /// The session's namespace, or `user` for a request without a known session. Upstream's
    /// sessions keep no namespace.
    fn session_ns(&self, request: &Message) -> String {
        if self.options.mode == Mode::Upstream {
            return "user".into();
        }
        let sessions = lock(&self.sessions);
        request.get_str("session").and_then(|s| sessions.get(s)).cloned().unwrap_or_else(|| "user".into())
    }

    /// `eval` (and `load-file`, which is `eval` of the file): an unknown `ns` silently means
    /// the session's namespace, as in jank.
    fn eval(&self, request: &Message, code: &str, file: Option<&str>, with_hints: bool) -> Vec<Message> {
        let mut env = lock(&self.env);
        let ns = request
            .get_str("ns")
            .filter(|ns| env.namespaces.contains_key(*ns))
            .map(str::to_string)
            .unwrap_or_else(|| self.session_ns(request));
        let evaluated = eval_string(&mut env, code, &ns);
        drop(env);
        if let Some(session) = request.get_str("session") {
            lock(&self.sessions).insert(session.to_string(), evaluated.ns.clone());
        }
        let mut replies = Vec::new();
        if !evaluated.out.is_empty() {
            replies.push(Message::new().with("out", evaluated.out));
        }
        match evaluated.result {
            Ok(value) => {
                replies.push(Message::new().with("ns", evaluated.ns).with("value", value.pr_str()));
                replies.push(done());
            }
            Err(error) => {
                let hint = |key| if with_hints { request.get_int(key).filter(|&n| n > 0) } else { None };
                replies.extend(eval_error(&error, file, hint("line"), hint("column")));
            }
        }
        replies
    }

    /// Upstream's `eval` and `load-file` (`mode::Upstream` for the two versions): captured
    /// `{out}` and `{err}` (stderr, blank here), then `{value, ns}` and `{status [done]}`. An
    /// error has no position: in August `{value <the message>, status [done, eval-error]}`; in
    /// September `{err (str *e)}`, `{ex (str *e), status [done, eval-error]}`.
    fn upstream_eval(&self, request: &Message, code: &str) -> Vec<Message> {
        let mut env = lock(&self.env);
        let ns = request.get_str("ns").filter(|ns| env.namespaces.contains_key(*ns)).unwrap_or("user").to_string();
        let evaluated = eval_string(&mut env, code, &ns);
        drop(env);
        let september = self.options.upstream == Upstream::September2026;
        // August sends both always; September only what is not blank.
        let mut replies: Vec<Message> = [("out", evaluated.out.as_str()), ("err", "")]
            .into_iter()
            .filter(|(_, text)| !(september && text.trim().is_empty()))
            .map(|(key, text)| Message::new().with(key, text))
            .collect();
        match evaluated.result {
            Ok(value) => {
                replies.push(Message::new().with("value", value.pr_str()).with("ns", evaluated.ns));
                replies.push(done());
            }
            Err(error) if september => {
                let printed = exception_info(&error.message);
                replies.push(Message::new().with("err", printed.as_str()));
                replies.push(Message::new().with("ex", printed).with("status", statuses(&["done", "eval-error"])));
            }
            Err(error) => replies
                .push(Message::new().with("value", error.message).with("status", statuses(&["done", "eval-error"]))),
        }
        replies
    }

    /// Upstream's `completions`: `{completions [{candidate, ns, type}], status [done]}` for the
    /// vars of `ns` whose name starts with `prefix`, or `{status [done, namespace-not-found]}`.
    /// August lists the namespace's own vars; September also what it refers (`clojure.core`
    /// included) and the special forms.
    fn completions(&self, request: &Message) -> Message {
        let env = lock(&self.env);
        let prefix = request.get_str("prefix").unwrap_or_default();
        let Some(ns) = request.get_str("ns").and_then(|name| env.namespaces.get(name).map(|ns| (name, ns))) else {
            return Message::new().with("status", statuses(&["done", "namespace-not-found"]));
        };
        let (name, namespace) = ns;
        let candidate = |ns: &str, var: &str, kind: &str| {
            Value::Dict(Message::new().with("candidate", var).with("ns", ns).with("type", kind).0)
        };
        let kind = |ns: &str, var: &str| {
            let is_macro = env.namespaces.get(ns).is_some_and(|n| n.macros.contains(var));
            if is_macro {
                "macro"
            } else {
                "function"
            }
        };
        let mut found: Vec<Value> = namespace
            .vars
            .keys()
            .filter(|v| v.starts_with(prefix))
            .map(|v| candidate(name, v, kind(name, v)))
            .collect();
        if self.options.upstream == Upstream::September2026 {
            let core = env
                .namespaces
                .get(crate::runtime::CORE)
                .map(|core| core.vars.keys().map(|v| (crate::runtime::CORE, v)));
            let referred = namespace.refers.iter().map(|(var, ns)| (ns.as_str(), var));
            for (ns, var) in referred.chain(core.into_iter().flatten()).filter(|(_, v)| v.starts_with(prefix)) {
                found.push(candidate(ns, var, kind(ns, var)));
            }
            let specials = SPECIAL_FORMS.iter().filter(|s| s.starts_with(prefix));
            found.extend(
                specials.map(|s| Value::Dict(Message::new().with("candidate", *s).with("type", "special-form").0)),
            );
        }
        Message::new().with("completions", Value::List(found)).with("status", statuses(&["done"]))
    }

    fn compile_patch(&self, request: &Message) -> Vec<Message> {
        let mode = self.options.mode;
        let Some(code) = request.get_str("code").filter(|c| !c.is_empty()) else {
            return vec![unsupported("missing-code")];
        };
        // Only a string counts (a bencode integer is not one, and the counter is used).
        let patch_id = match request.get_str("patch-id").filter(|p| !p.is_empty()) {
            None => self.patch_counter.fetch_add(1, Ordering::Relaxed),
            Some(text) => match stoul(text) {
                Some(id) => id,
                None => return failed(mode, "stoul", None),
            },
        };
        let session_ns = self.session_ns(request);
        let ns_param = request.get_str("ns").filter(|ns| !ns.is_empty());
        let mut env = lock(&self.env);
        let analysis_ns = match mode {
            // The fork does not bind `*ns*` around the analysis: symbols resolve in the
            // server thread's namespace, `user`, whatever `ns` says.
            Mode::Fork => "user".to_string(),
            // The contract: the requested namespace when jank has it, else (like jank's silent
            // fallback) the session's.
            Mode::Contract | Mode::Upstream => {
                ns_param.filter(|ns| env.namespaces.contains_key(*ns)).unwrap_or(&session_ns).to_string()
            }
        };
        let nodes = match read_all(code) {
            Ok(nodes) => nodes,
            Err(e) => return failed(mode, &e.message, Some(e.pos)),
        };
        let mut exprs = Vec::new();
        for node in &nodes {
            match (Analyzer { env: &mut env, ns: analysis_ns.clone() }).analyze(node) {
                Ok(expr) => exprs.push(expr),
                Err(e) => return failed(mode, &e.message, e.pos),
            }
        }
        drop(env);
        if exprs.is_empty() {
            return vec![error_done("No expressions found in code")];
        }
        let Some((def_ns, name, value)) = exprs.iter().find_map(|e| match e {
            Expr::Def { ns, name, value, .. } => Some((ns, name, value)),
            _ => None,
        }) else {
            return vec![error_done("No def expression found in code. Patches must be (def ...) forms.")];
        };
        // The fork names the patch after `ns`, else the def's namespace, else the session's.
        let ns = match (mode, ns_param) {
            (_, Some(ns)) => ns.to_string(),
            (Mode::Fork, None) => def_ns.clone(),
            (_, None) => session_ns,
        };
        let cpp = codegen::generate(&ns, name, value.as_deref(), patch_id);
        vec![
            Message::new()
                .with("cpp-code", cpp)
                .with("var-name", name.as_str())
                .with("ns-name", ns)
                .with("patch-id", patch_id.to_string()),
            done(),
        ]
    }
}

/// jank's special forms, as September's `completions` lists them.
const SPECIAL_FORMS: &[&str] =
    &["def", "fn*", "let*", "loop*", "letfn*", "do", "if", "quote", "var", "throw", "try", "recur", "case*", "cpp/new"];

/// `(str *e)` of September's `exception_info` for a message, printed the way jank prints one
/// (`exception_info::to_code_string`), with an empty trace: the stand-in has none.
fn exception_info(message: &str) -> String {
    let message = message.replace('\\', "\\\\").replace('"', "\\\"");
    format!("#error {{\n :cause \"{message}\"\n :data {{}}\n :via\n [{{:type :exception-info, :message \"{message}\"}}]\n :trace\n []}}")
}

/// The fork's eval error: `{ex, root-ex, status [eval-error]}`, `{err, line, column, ...,
/// status [error]}`, `{status [done, error]}`. Positions are moved by the request's `line` and
/// `column` hints the way the fork's `apply_source_hints` does.
fn eval_error(error: &JankError, file: Option<&str>, line_hint: Option<i64>, column_hint: Option<i64>) -> Vec<Message> {
    let kind = error.kind();
    let pos = error.pos.map(|pos| {
        let line = i64::from(pos.line) + line_hint.map_or(0, |h| h - 1);
        let column = i64::from(pos.column) + if pos.line == 1 { column_hint.map_or(0, |h| h - 1) } else { 0 };
        (line, column)
    });
    let mut location = file.unwrap_or_default().to_string();
    if let Some((line, column)) = pos {
        location = if location.is_empty() { format!("{line}:{column}") } else { format!("{location}:{line}:{column}") };
    }
    let err = if location.is_empty() || pos.is_none() {
        error.message.clone()
    } else {
        format!("{} at ({location}).\n{}", error.phase_text(), error.message)
    };
    let mut detail = Message::new().with("err", err).with("exception-type", kind).with("status", statuses(&["error"]));
    if let Some((line, column)) = pos {
        detail = detail.with("line", line.to_string()).with("column", column.to_string()).with_opt("file", file);
    }
    vec![
        Message::new().with("ex", kind).with("root-ex", kind).with("status", statuses(&["eval-error"])),
        detail,
        Message::new().with("status", statuses(&["done", "error"])),
    ]
}

/// The op's answer to a jank error: `{err, status [error]}` then `{status [done, error]}`.
/// The fork sends only the message; the contract adds the `line` and `column` of jank's error
/// (relative to the code received), as the fork's `eval` errors carry them.
fn failed(mode: Mode, message: &str, pos: Option<crate::reader::Pos>) -> Vec<Message> {
    let mut reply = Message::new().with("err", message).with("status", statuses(&["error"]));
    if let Some(pos) = pos.filter(|_| mode == Mode::Contract) {
        reply = reply.with("line", pos.line.to_string()).with("column", pos.column.to_string());
    }
    vec![reply, Message::new().with("status", statuses(&["done", "error"]))]
}

/// `std::stoul` as the fork calls it: leading blanks, digits, anything after them ignored;
/// `None` where it throws (no digits, out of range).
fn stoul(text: &str) -> Option<u64> {
    let text = text.trim_start();
    let digits = text.find(|c: char| !c.is_ascii_digit()).map_or(text, |end| &text[..end]);
    digits.parse().ok()
}

/// A random version 4 UUID, the shape of jank's session ids.
fn session_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let half = || {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
        );
        hasher.finish()
    };
    let bits = (u128::from(half()) << 64 | u128::from(half())) & !(0xf000u128 << 64) | (0x4000u128 << 64);
    let bits = bits & !(0xc000u128 << 48) | (0x8000u128 << 48);
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The answer to an op this jank does not have.
fn unknown_op(mode: Mode) -> Message {
    match mode {
        Mode::Fork => unsupported("unknown-op"),
        Mode::Contract | Mode::Upstream => Message::new().with("status", statuses(&["error", "unknown-op", "done"])),
    }
}

fn error_done(message: &str) -> Message {
    Message::new().with("err", message).with("status", statuses(&["error", "done"]))
}

fn unsupported(reason: &str) -> Message {
    Message::new().with("err", reason).with("status", statuses(&["unsupported", "done"]))
}

fn done() -> Message {
    Message::new().with("status", statuses(&["done"]))
}

fn statuses(names: &[&str]) -> Value {
    Value::List(names.iter().map(|s| Value::from(*s)).collect())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic in one request must not take the whole server down with a poisoned lock.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
