//! The resident build: a client for `build-service/`, one long-lived process that keeps clang
//! and lld loaded and builds a side module without starting clang++ or wasm-ld per patch.
//!
//! Owns: finding the service binary, learning clang's `-cc1` arguments once (`clang++ -###` of
//! the clang toolchain's exact compile command), the framed protocol, timeouts, killing
//! and restarting the service after a crash, a hang or a bad reply, and which link mode to ask
//! for (in the service's own process until its self-test fails or such a link kills it). Must
//! not know about patches, the cache or the PCH: it gets paths and the clang toolchain's
//! command lines. A failure here is never a build failure: the caller builds with the clang
//! toolchain.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::Mutex;

use super::toolchain::{kill_group, run_tool, split_words, tail, Recipe};

/// The service's own limit on a request (`build-service/src/main.cpp`).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// A reply carries at most 1 MiB of compiler or linker messages and a few short fields.
const MAX_REPLY_BYTES: usize = 2 << 20;
/// The binary's name, next to `jank-hotpatch` in an installation.
const BINARY_NAME: &str = "jank-build-service";
/// The service's link modes (`configure`): lld in its own process, or in a child per link.
const IN_PROCESS: &str = "in-process";
const FORKED: &str = "forked";

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("the build service is not available: {0}")]
    NotBuilt(String),
    #[error("cannot start the build service {path}: {source}")]
    Start { path: PathBuf, source: std::io::Error },
    #[error("cannot learn clang's -cc1 arguments from `clang++ -###`: {0}")]
    Cc1(String),
    #[error("the build service refused its configuration: {0}")]
    Refused(String),
    #[error("the build service did not answer within {ms} ms (build.timeoutMs) and was killed")]
    Timeout { ms: u64 },
    #[error("the build service is gone ({0})")]
    Gone(String),
    #[error("the build service answered something unexpected: {0}")]
    Protocol(String),
    #[error("the build service is off after an earlier failure")]
    Disabled,
    #[error("the build service is being restarted after a failure")]
    Down,
    #[error("the build service died linking in its own process ({0}); it links in a forked child from now on")]
    LinkCrashed(String),
}

/// What a compile or link request to the build service came to. Their failures are the patch's, not the service's.
#[derive(Debug)]
pub(crate) enum RequestOutcome {
    /// With the service's own time for the work, in microseconds.
    Done { us: u64 },
    /// clang's or lld's messages.
    Failed(String),
}

/// Counters of one service client, for tests, the benchmark and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResidentStats {
    /// The running service's process id.
    pub pid: Option<u32>,
    /// Requests the service answered (compiles and links, done or failed with the patch's own errors).
    pub requests: u64,
    /// Requests the service failed (crash, hang, bad reply): built with the clang toolchain.
    pub failures: u64,
    /// Times the service was started.
    pub starts: u64,
    /// Time the service spent compiling and linking the modules it built, in microseconds.
    pub compile_us: u64,
    pub link_us: u64,
    /// Whether the running service links in its own process (else in a child forked per link).
    pub links_in_process: bool,
}

/// Where [`service_binary`] found the service, for `doctor` and the logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceSource {
    /// The `build.serviceBinary` setting.
    Setting,
    /// `jank-build-service` in the directory of the running `jank-hotpatch` (the release
    /// archive, the VS Code extension's bundle).
    BesideExecutable,
    /// `<prefix>/libexec/jank-hotpatch/jank-build-service` for `<prefix>/bin/jank-hotpatch`
    /// (`scripts/install.sh`).
    Libexec,
    /// Where this crate's build put it (`cargo build`, `cargo install`).
    Build,
}

impl std::fmt::Display for ServiceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ServiceSource::Setting => "build.serviceBinary",
            ServiceSource::BesideExecutable => "next to jank-hotpatch",
            ServiceSource::Libexec => "in the installation's libexec/jank-hotpatch",
            ServiceSource::Build => "where cargo built it",
        })
    }
}

/// The service binary to run, and which rule found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceBinary {
    pub path: PathBuf,
    pub source: ServiceSource,
}

/// Where the service binary is: `configured` (build.serviceBinary), else next to the running
/// executable, else in `../libexec/jank-hotpatch/` from it, else where this crate's build put
/// it. The first two make an unpacked or installed copy independent of the build tree.
pub fn service_binary(configured: Option<&Path>) -> Result<ServiceBinary, ServiceError> {
    if let Some(path) = configured {
        return if path.is_file() {
            Ok(ServiceBinary { path: path.to_path_buf(), source: ServiceSource::Setting })
        } else {
            Err(ServiceError::NotBuilt(format!("{} does not exist (build.serviceBinary)", path.display())))
        };
    }
    let bin_dir = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.to_path_buf()));
    let beside = bin_dir.as_ref().map(|dir| (dir.join(BINARY_NAME), ServiceSource::BesideExecutable));
    let libexec = bin_dir
        .as_ref()
        .and_then(|dir| dir.parent())
        .map(|prefix| (prefix.join("libexec/jank-hotpatch").join(BINARY_NAME), ServiceSource::Libexec));
    let built = option_env!("JANK_BUILD_SERVICE").map(|p| (PathBuf::from(p), ServiceSource::Build));
    beside.into_iter().chain(libexec).chain(built).find(|(path, _)| path.is_file()).map(|(path, source)| ServiceBinary { path, source }).ok_or_else(
        || {
            ServiceError::NotBuilt(
                option_env!("JANK_BUILD_SERVICE_MISSING")
                    .map(|reason| format!("it was not built ({reason})"))
                    .unwrap_or_else(|| {
                        format!("no {BINARY_NAME} next to jank-hotpatch, in ../libexec/jank-hotpatch or where the build put it")
                    }),
            )
        },
    )
}

enum State {
    Running(Box<Service>),
    /// Stopped after a failure; the restart task starts it again.
    Down,
    /// Could not be (re)started: the clang toolchain builds from now on.
    Disabled,
}

struct Service {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

/// One build service, started once and kept; requests take turns.
pub(crate) struct ResidentBuild {
    program: ServiceBinary,
    /// The `configure` request's fields after the link mode, sent to every (re)started service.
    configure: Vec<OsString>,
    /// Whether to ask the next service to link in its own process: until its self-test fails
    /// or an in-process link kills it, then never again.
    ask_in_process: AtomicBool,
    /// Whether the running service links in its own process.
    in_process: AtomicBool,
    timeout: Duration,
    state: Mutex<State>,
    pid: AtomicU32,
    requests: AtomicU64,
    failures: AtomicU64,
    starts: AtomicU64,
    compile_us: AtomicU64,
    link_us: AtomicU64,
}

impl ResidentBuild {
    /// Learns the `-cc1` arguments of `compile` (with `extra` flags, e.g. the PCH) and starts
    /// the service with them and `link`'s command line. `work_dir` holds the `-###` probe.
    pub async fn start(
        program: ServiceBinary,
        compile: &Recipe,
        extra: &[OsString],
        link: &Recipe,
        work_dir: &Path,
        timeout: Duration,
    ) -> Result<Self, ServiceError> {
        let (clang, cc1) = learn_cc1(compile, extra, work_dir, timeout).await?;
        let mut configure: Vec<OsString> = vec![clang.into(), cc1.len().to_string().into()];
        configure.extend(cc1.into_iter().map(OsString::from));
        configure.push(link.program.clone().into());
        configure.extend(link.args(&[], Path::new("{input}"), Path::new("{output}")));
        let size = payload(&configure).len() + "configure in-process ".len();
        if size > MAX_REQUEST_BYTES {
            return Err(ServiceError::Cc1(format!("the arguments take {size} bytes")));
        }
        let resident = ResidentBuild {
            program,
            configure,
            ask_in_process: AtomicBool::new(true),
            in_process: AtomicBool::new(false),
            timeout,
            state: Mutex::new(State::Down),
            pid: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            starts: AtomicU64::new(0),
            compile_us: AtomicU64::new(0),
            link_us: AtomicU64::new(0),
        };
        let service = resident.spawn().await?;
        *resident.state.lock().await = State::Running(Box::new(service));
        Ok(resident)
    }

    /// The service binary this client runs, and which rule found it.
    pub fn binary(&self) -> &ServiceBinary {
        &self.program
    }

    pub fn stats(&self) -> ResidentStats {
        let pid = self.pid.load(Ordering::Relaxed);
        ResidentStats {
            pid: (pid != 0).then_some(pid),
            requests: self.requests.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            starts: self.starts.load(Ordering::Relaxed),
            compile_us: self.compile_us.load(Ordering::Relaxed),
            link_us: self.link_us.load(Ordering::Relaxed),
            links_in_process: pid != 0 && self.in_process.load(Ordering::Relaxed),
        }
    }

    /// Links `objects` into the side module `wasm`. A service that dies or hangs linking in its
    /// own process is asked to link in a forked child from its restart on.
    pub async fn link(&self, objects: &[&Path], wasm: &Path) -> Result<RequestOutcome, ServiceError> {
        let in_process = self.in_process.load(Ordering::Relaxed);
        let [linked] = self.requests([link_request(objects, wasm)]).await;
        self.count_link(in_process, linked)
    }

    /// Compiles each `(cpp, object)` pair (several at once in the service: one outcome per
    /// pair), then links every object into `wasm`. Both requests are sent at once: the service
    /// links as soon as it has compiled, without a round trip to the sidecar between them. The
    /// link fails when a compile did (its object is missing).
    pub async fn compile_and_link(
        &self,
        jobs: &[(&Path, &Path)],
        wasm: &Path,
    ) -> (Result<Vec<RequestOutcome>, ServiceError>, Result<RequestOutcome, ServiceError>) {
        let in_process = self.in_process.load(Ordering::Relaxed);
        let objects: Vec<&Path> = jobs.iter().map(|&(_, object)| object).collect();
        let [compiled, linked] = self.requests([compile_request(jobs), link_request(&objects, wasm)]).await;
        (self.count_compiles(compiled), self.count_link(in_process, linked))
    }

    /// The compiles' outcomes, their service time added to the counters.
    fn count_compiles(&self, compiled: Result<Reply, ServiceError>) -> Result<Vec<RequestOutcome>, ServiceError> {
        let outcomes = compiled?;
        for outcome in &outcomes {
            if let RequestOutcome::Done { us } = outcome {
                self.compile_us.fetch_add(*us, Ordering::Relaxed);
            }
        }
        Ok(outcomes)
    }

    /// The link's outcome, its service time added to the counters; a service that died or hung
    /// linking in its own process (`in_process`) is asked for forked links from its restart on.
    fn count_link(
        &self,
        in_process: bool,
        linked: Result<Reply, ServiceError>,
    ) -> Result<RequestOutcome, ServiceError> {
        let outcome = match linked.map(|mut reply| reply.pop()) {
            Err(e @ (ServiceError::Gone(_) | ServiceError::Timeout { .. })) if in_process => {
                self.ask_in_process.store(false, Ordering::Relaxed);
                return Err(ServiceError::LinkCrashed(e.to_string()));
            }
            Err(e) => return Err(e),
            Ok(None) => return Err(ServiceError::Protocol("an empty link reply".into())),
            Ok(Some(outcome)) => outcome,
        };
        if let RequestOutcome::Done { us } = outcome {
            self.link_us.fetch_add(us, Ordering::Relaxed);
        }
        Ok(outcome)
    }

    /// Sends the requests in one write and reads their replies in order: the service goes from
    /// one to the next without waiting for the sidecar. On an error (no reply, or one that makes
    /// no sense) the service is stopped until [`ResidentBuild::restart`] starts it again; that
    /// request gets the error, the ones after it and requests meanwhile [`ServiceError::Down`].
    async fn requests<const N: usize>(&self, batch: [Request; N]) -> [Result<Reply, ServiceError>; N] {
        let mut state = self.state.lock().await;
        let mut replies: [Result<Reply, ServiceError>; N] = std::array::from_fn(|_| Err(ServiceError::Down));
        let service = match &mut *state {
            State::Running(service) => service,
            State::Down => return replies,
            State::Disabled => return std::array::from_fn(|_| Err(ServiceError::Disabled)),
        };
        let frames: Vec<u8> = batch.iter().flat_map(|request| frame(&payload(&request.fields))).collect();
        let mut failure = self.send(service, &frames).await.err();
        let mut failed = false;
        for (request, reply) in batch.iter().zip(replies.iter_mut()) {
            let answer = match failure.take() {
                Some(e) => Err(e),
                None => self.receive(service).await.and_then(|fields| request.verb.parse(&fields)),
            };
            match answer {
                Ok(outcomes) => {
                    self.requests.fetch_add(1, Ordering::Relaxed);
                    *reply = Ok(outcomes);
                }
                Err(e) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    *reply = Err(e);
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            if let State::Running(service) = std::mem::replace(&mut *state, State::Down) {
                self.stop(*service).await;
            }
        }
        replies
    }

    /// Stops the running service and starts another, which opens the files it was started with
    /// (the PCH) again. A disabled service stays off.
    pub async fn recycle(&self) {
        let mut state = self.state.lock().await;
        if matches!(*state, State::Disabled) {
            return;
        }
        if let State::Running(service) = std::mem::replace(&mut *state, State::Down) {
            self.stop(*service).await;
        }
        drop(state);
        self.restart().await;
    }

    /// Starts a stopped service again. A service that cannot start is turned off, and why is
    /// logged (once: later builds go straight to the clang toolchain).
    pub async fn restart(&self) {
        let mut state = self.state.lock().await;
        if !matches!(*state, State::Down) {
            return;
        }
        match self.spawn().await {
            Ok(service) => *state = State::Running(Box::new(service)),
            Err(e) => {
                tracing::warn!("resident build turned off, building with clang++ + wasm-ld from now on: {e}");
                *state = State::Disabled;
            }
        }
    }

    async fn spawn(&self) -> Result<Service, ServiceError> {
        let mut child = tokio::process::Command::new(&self.program.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            // Its own process group, so a hang kills its linker child too.
            .process_group(0)
            .spawn()
            .map_err(|source| ServiceError::Start { path: self.program.path.clone(), source })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(ServiceError::Gone("no pipes to it".into()));
        };
        self.starts.fetch_add(1, Ordering::Relaxed);
        self.pid.store(child.id().unwrap_or(0), Ordering::Relaxed);
        let mut service = Service { child, stdin, stdout };
        let asked = if self.ask_in_process.load(Ordering::Relaxed) { IN_PROCESS } else { FORKED };
        let mut configure: Vec<OsString> = vec!["configure".into(), asked.into()];
        configure.extend(self.configure.iter().cloned());
        let reply = match self.exchange(&mut service, &configure).await {
            Ok(reply) => reply,
            Err(e) => {
                self.stop(service).await;
                return Err(e);
            }
        };
        match &reply[..] {
            [ok, mode, why @ ..] if ok == "ok" && (mode == IN_PROCESS || mode == FORKED) => {
                if let ([why], IN_PROCESS) = (why, asked) {
                    // Its self-test failed: every later service is asked for forked links.
                    tracing::warn!("the build service links in a forked child (slower): {why}");
                    self.ask_in_process.store(false, Ordering::Relaxed);
                }
                self.in_process.store(mode == IN_PROCESS, Ordering::Relaxed);
                Ok(service)
            }
            [ok, ..] if ok == "ok" => {
                self.stop(service).await;
                Err(ServiceError::Protocol(format!("a configure reply of {}", reply.join(" | "))))
            }
            _ => {
                self.stop(service).await;
                Err(ServiceError::Refused(reply.get(1).cloned().unwrap_or_default()))
            }
        }
    }

    /// Kills the service and its linker child, and reaps it.
    async fn stop(&self, mut service: Service) {
        if let Some(pid) = service.child.id() {
            kill_group(pid);
        }
        let _ = service.child.kill().await;
        self.pid.store(0, Ordering::Relaxed);
    }

    /// Sends one request and reads its reply.
    async fn exchange(&self, service: &mut Service, fields: &[OsString]) -> Result<Vec<String>, ServiceError> {
        self.send(service, &frame(&payload(fields))).await?;
        self.receive(service).await
    }

    /// Writes framed requests, within the timeout.
    async fn send(&self, service: &mut Service, frames: &[u8]) -> Result<(), ServiceError> {
        let write = async {
            service.stdin.write_all(frames).await?;
            service.stdin.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Err(_) => Err(ServiceError::Timeout { ms: self.timeout.as_millis() as u64 }),
            Ok(Err(io)) => Err(gone(service, io).await),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Reads one reply's fields, within the timeout.
    async fn receive(&self, service: &mut Service) -> Result<Vec<String>, ServiceError> {
        let read = async {
            let mut header = [0u8; 4];
            service.stdout.read_exact(&mut header).await?;
            let size = u32::from_le_bytes(header) as usize;
            if size > MAX_REPLY_BYTES {
                return Ok(Err(ServiceError::Protocol(format!("a reply of {size} bytes"))));
            }
            let mut body = vec![0u8; size];
            service.stdout.read_exact(&mut body).await?;
            Ok::<_, std::io::Error>(Ok(body))
        };
        match tokio::time::timeout(self.timeout, read).await {
            Err(_) => Err(ServiceError::Timeout { ms: self.timeout.as_millis() as u64 }),
            Ok(Err(io)) => Err(gone(service, io).await),
            Ok(Ok(body)) => Ok(body?.split(|b| *b == 0).map(|f| String::from_utf8_lossy(f).into_owned()).collect()),
        }
    }
}

/// A broken pipe or a short read: the service died. Its exit status says how.
async fn gone(service: &mut Service, io: std::io::Error) -> ServiceError {
    let status = tokio::time::timeout(Duration::from_secs(1), service.child.wait()).await;
    ServiceError::Gone(match status {
        Ok(Ok(status)) => status.to_string(),
        _ => io.to_string(),
    })
}

/// One request of a batch, and how to read its reply.
struct Request {
    fields: Vec<OsString>,
    verb: Verb,
}

/// What a request asks, for reading its reply.
enum Verb {
    /// Compiles of this many pairs: an outcome each.
    Compile(usize),
    /// One link: one outcome.
    Link,
}

impl Verb {
    fn parse(&self, reply: &[String]) -> Result<Reply, ServiceError> {
        match self {
            Verb::Compile(jobs) => parse_compile_reply(reply, *jobs),
            Verb::Link => parse_reply(reply, "link").map(|outcome| vec![outcome]),
        }
    }
}

/// The outcomes of one request.
type Reply = Vec<RequestOutcome>;

fn compile_request(jobs: &[(&Path, &Path)]) -> Request {
    let mut fields: Vec<OsString> = vec!["compile".into()];
    fields.extend(jobs.iter().flat_map(|(cpp, object)| [OsString::from(cpp), OsString::from(object)]));
    Request { fields, verb: Verb::Compile(jobs.len()) }
}

fn link_request(objects: &[&Path], wasm: &Path) -> Request {
    let mut fields: Vec<OsString> = vec!["link".into(), wasm.into()];
    fields.extend(objects.iter().map(OsString::from));
    Request { fields, verb: Verb::Link }
}

/// A request as the service reads it: its length (u32, little-endian), then the request.
fn frame(request: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(4 + request.len());
    frame.extend_from_slice(&(request.len() as u32).to_le_bytes());
    frame.extend_from_slice(request);
    frame
}

/// Fields joined by NUL: the service's request format.
fn payload(fields: &[OsString]) -> Vec<u8> {
    fields.iter().map(|f| f.as_bytes()).collect::<Vec<_>>().join(&0u8)
}

/// A reply to a `link` request (or one pair of a `compile` reply): `ok` and the time, or the
/// tool's messages under the request's own verb.
fn parse_reply(reply: &[String], failed_kind: &str) -> Result<RequestOutcome, ServiceError> {
    match reply {
        [ok, us] if ok == "ok" => {
            us.parse().map(|us| RequestOutcome::Done { us }).map_err(|_| ServiceError::Protocol(format!("time `{us}`")))
        }
        [kind, messages] if kind == failed_kind => Ok(RequestOutcome::Failed(messages.clone())),
        [kind, message] if kind == "error" => Err(ServiceError::Protocol(message.clone())),
        other => Err(ServiceError::Protocol(tail(&other.join(" | "), 3))),
    }
}

/// A reply to a `compile` request of `jobs` pairs: a pair of fields per job.
fn parse_compile_reply(reply: &[String], jobs: usize) -> Result<Vec<RequestOutcome>, ServiceError> {
    if reply.len() != 2 * jobs {
        return parse_reply(reply, "compile")
            .and_then(|_| Err(ServiceError::Protocol(format!("{} fields for {jobs} compiles", reply.len()))));
    }
    reply.chunks(2).map(|pair| parse_reply(pair, "compile")).collect()
}

/// The clang path and `-cc1` arguments the driver would run for `compile` (plus `extra`), with
/// the probe's paths turned into the service's `{input}`, `{output}` and `{input-name}`.
async fn learn_cc1(
    compile: &Recipe,
    extra: &[OsString],
    work_dir: &Path,
    timeout: Duration,
) -> Result<(String, Vec<String>), ServiceError> {
    let input = work_dir.join(format!("resident-probe-{}.cpp", std::process::id()));
    let output = input.with_extension("o");
    std::fs::write(&input, "").map_err(|e| ServiceError::Cc1(format!("write {}: {e}", input.display())))?;
    let mut args = compile.args(extra, &input, &output);
    args.push("-###".into());
    let out = run_tool(&compile.program, &args, false, timeout).await;
    let _ = std::fs::remove_file(&input);
    let out = out.map_err(|e| ServiceError::Cc1(e.to_string()))?;
    if !out.success {
        return Err(ServiceError::Cc1(tail(&out.stderr, 10)));
    }
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("\"-cc1\""))
        .ok_or_else(|| ServiceError::Cc1(format!("no -cc1 line in:\n{}", tail(&out.stderr, 10))))?;
    cc1_template(&split_words(line), &input, &output)
}

fn cc1_template(words: &[String], input: &Path, output: &Path) -> Result<(String, Vec<String>), ServiceError> {
    let (clang, rest) = words.split_first().ok_or_else(|| ServiceError::Cc1("an empty -cc1 line".into()))?;
    let Some(("-cc1", args)) = rest.split_first().map(|(first, args)| (first.as_str(), args)) else {
        return Err(ServiceError::Cc1(format!("`-cc1` does not follow {clang}")));
    };
    let (input, output) = (input.to_string_lossy(), output.to_string_lossy());
    let mut template = Vec::with_capacity(args.len());
    for arg in args {
        let value = match arg.as_str() {
            a if a == input => "{input}".to_string(),
            a if a == output => "{output}".to_string(),
            _ if template.last().is_some_and(|prev: &String| prev == "-main-file-name") => "{input-name}".to_string(),
            a => a.to_string(),
        };
        template.push(value);
    }
    for marker in ["{input}", "{output}", "{input-name}"] {
        if !template.iter().any(|a| a == marker) {
            return Err(ServiceError::Cc1(format!("no {marker} place in the -cc1 arguments")));
        }
    }
    Ok((clang.clone(), template))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cc1_template_marks_the_request_paths() {
        let words: Vec<String> =
            ["/c/clang", "-cc1", "-main-file-name", "p.cpp", "-disable-free", "-o", "/w/p.o", "-x", "c++", "/w/p.cpp"]
                .map(String::from)
                .to_vec();
        let (clang, args) = cc1_template(&words, Path::new("/w/p.cpp"), Path::new("/w/p.o")).unwrap();
        assert_eq!(clang, "/c/clang");
        assert_eq!(
            args,
            ["-main-file-name", "{input-name}", "-disable-free", "-o", "{output}", "-x", "c++", "{input}"]
        );
        assert!(cc1_template(&words[..2], Path::new("/w/p.cpp"), Path::new("/w/p.o")).is_err());
    }

    #[test]
    fn replies_are_told_apart() {
        let fields = |fields: &[&str]| fields.iter().map(|f| f.to_string()).collect::<Vec<_>>();
        let reply = |f: &[&str], kind| parse_reply(&fields(f), kind);
        assert!(matches!(reply(&["ok", "7000"], "link"), Ok(RequestOutcome::Done { us: 7000 })));
        assert!(matches!(reply(&["ok", "soon"], "link"), Err(ServiceError::Protocol(_))));
        assert!(matches!(reply(&["link", "wasm-ld: error: y"], "link"), Ok(RequestOutcome::Failed(_))));
        assert!(matches!(reply(&["compile", "wasm-ld: error: y"], "link"), Err(ServiceError::Protocol(_))));
        assert!(matches!(reply(&["error", "link before configure"], "link"), Err(ServiceError::Protocol(_))));
        assert!(matches!(reply(&["ok"], "link"), Err(ServiceError::Protocol(_))));

        let compiled = parse_compile_reply(&fields(&["ok", "7000", "compile", "p.cpp:1:1: error: x"]), 2).unwrap();
        assert!(
            matches!(compiled[..], [RequestOutcome::Done { us: 7000 }, RequestOutcome::Failed(ref t)] if t.contains("x"))
        );
        let error = parse_compile_reply(&fields(&["error", "compile before configure"]), 2);
        assert!(matches!(error, Err(ServiceError::Protocol(m)) if m.contains("before configure")));
        assert!(matches!(parse_compile_reply(&fields(&["ok", "1"]), 2), Err(ServiceError::Protocol(_))));
    }

    #[test]
    fn payload_joins_with_nul() {
        assert_eq!(payload(&["build".into(), "/a b".into()]), b"build\0/a b");
    }
}
