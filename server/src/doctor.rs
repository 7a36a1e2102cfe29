//! `jank-hotpatch doctor`: checks a user's setup, one line per check and the fix when it
//! fails, as `flutter doctor` does: settings, jank's nREPL server and what it can do, a probe
//! compile in a scratch namespace, the toolchain and a probe build, the main module, the app
//! root, and the pages connected now.
//!
//! Owns: the checks and their wording. Each check runs the stage's own code (the compile stage
//! for the probe, the build stage's toolchain discovery, the check stage's reading of the main
//! module, the app server's status endpoint), so what it says is what a patch will meet. Must
//! not change anything but a scratch namespace in jank and `<cacheDir>/doctor`.
//!
//! Like `app`, it names the concrete stages (tidy.rs allows the two): it must say which stage
//! fails on a user's setup, which the pipeline's traits would hide.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::APP_URL_FILE;
use crate::check::ExportCheck;
use crate::compile::capabilities::Capabilities;
use crate::compile::{JankCompiler, COMPILE_OP};
use crate::config::Settings;
use crate::deliver::{PageStatus, CLIENT_PATH, STATUS_PATH};
use crate::main_module::{required_exports, CApi, CLIENT_OPTIONAL, RUNTIME_METHODS};
use crate::nrepl::{ClientOptions, Connection};
use crate::reader::{self, FormKind};
use crate::side_module::SideModuleBuilder;
use crate::stages::{Build, Compile, CompileRequest, CompiledForm, FormKey, FormSource, PatchId, SourceContext};

/// The scratch namespace the probes are compiled in (loaded into the user's jank).
const PROBE_NS: &str = "jank-hotpatch.doctor-probe";
/// The probe forms, as in a file: the first two are loaded into jank (`load-file`), then the
/// last three are compiled one by one.
const PROBE_FILE: &str = "(ns jank-hotpatch.doctor-probe)\n\n(defn probe-one [] 1)\n\n(defn probe-call [] (probe-one))\n\n(defn probe-broken []\n  (no-such-function-anywhere 1))\n";
/// How much of [`PROBE_FILE`] jank loads: a broken form would fail the load itself.
const PROBE_LOADED: usize = 55;
const HTTP_TIMEOUT: Duration = Duration::from_secs(3);
/// For `jank repl --help`, which prints before jank loads anything.
const HELP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Patches go through, with a limit the user should know of.
    Warn,
    /// No patch can go through until this is fixed.
    Fail,
}

#[derive(Clone, Debug)]
pub struct Finding {
    pub verdict: Verdict,
    pub check: &'static str,
    pub what: String,
    pub fix: Option<String>,
}

#[derive(Debug, Default)]
pub struct Diagnosis {
    pub findings: Vec<Finding>,
}

impl Diagnosis {
    fn add(&mut self, verdict: Verdict, check: &'static str, what: impl Into<String>, fix: Option<String>) {
        self.findings.push(Finding { verdict, check, what: what.into(), fix });
    }

    fn ok(&mut self, check: &'static str, what: impl Into<String>) {
        self.add(Verdict::Ok, check, what, None);
    }

    /// True when nothing stops a patch from going through.
    pub fn can_patch(&self) -> bool {
        self.findings.iter().all(|f| f.verdict != Verdict::Fail)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let mark = match f.verdict {
                Verdict::Ok => "[✓]",
                Verdict::Warn => "[!]",
                Verdict::Fail => "[✗]",
            };
            out.push_str(&format!("{mark} {}: {}\n", f.check, f.what));
            if let Some(fix) = &f.fix {
                out.push_str(&format!("    fix: {fix}\n"));
            }
        }
        let failed = self.findings.iter().filter(|f| f.verdict == Verdict::Fail).count();
        let warned = self.findings.iter().filter(|f| f.verdict == Verdict::Warn).count();
        if failed == 0 {
            out.push_str(&format!("A patch can go through ({warned} warning(s)).\n"));
        } else {
            out.push_str(&format!("{failed} problem(s) stop every patch; {warned} warning(s).\n"));
        }
        out
    }
}

/// Runs every check for `workspace`.
pub async fn diagnose(workspace: &Path) -> Diagnosis {
    let mut d = Diagnosis::default();
    d.ok("sidecar", sidecar());
    let (mut settings, problems) = Settings::load(workspace);
    settings.resolve_paths(workspace);
    if problems.is_empty() {
        d.ok("settings", settings_source(workspace));
    }
    for problem in problems {
        let verdict = if problem.is_warning() { Verdict::Warn } else { Verdict::Fail };
        d.add(verdict, "settings", problem.to_string(), Some("edit jank-hotpatch.toml (README, Settings)".into()));
    }
    let scratch = settings.cache_dir(workspace).join("doctor");

    let cpp = jank(&mut d, &settings, workspace, &scratch).await;
    let module = toolchain(&mut d, &settings, &scratch, cpp).await;
    main_module(&mut d, &settings, module.as_deref());
    app_root(&mut d, &settings);
    pages(&mut d, &settings.cache_dir(workspace)).await;
    d
}

/// Which sidecar runs these checks: editors may run a bundled one and the shell another.
fn sidecar() -> String {
    let version = concat!("jank-hotpatch ", env!("CARGO_PKG_VERSION"));
    match std::env::current_exe() {
        Ok(exe) => format!("{version} at {}", exe.display()),
        Err(e) => format!("{version} (where: {e})"),
    }
}

fn settings_source(workspace: &Path) -> String {
    let file = workspace.join(crate::config::CONFIG_FILE);
    if file.is_file() {
        format!("{} read, no problems", file.display())
    } else {
        format!("defaults (no {} in {})", crate::config::CONFIG_FILE, workspace.display())
    }
}

/// jank's nREPL server, what it can do, and the probe compiles. Returns probe-one's C++.
async fn jank(d: &mut Diagnosis, settings: &Settings, workspace: &Path, scratch: &Path) -> Option<CompiledForm> {
    let compiler = JankCompiler::new(settings.nrepl.clone(), workspace.to_path_buf());
    let (addr, from) = match compiler.endpoint(workspace) {
        Ok(endpoint) => endpoint,
        Err(e) => {
            let fix = format!("{}, or set nrepl.endpoint", start_jank(workspace).await);
            d.add(Verdict::Fail, "jank's nREPL", e.to_string(), Some(fix));
            return None;
        }
    };
    let options =
        ClientOptions { timeout: Duration::from_millis(settings.nrepl.timeout_ms), ..ClientOptions::default() };
    let link = match Connection::new(options).link(&addr).await {
        Ok(link) => link,
        Err(e) => {
            let start = start_jank(workspace).await;
            let fix = match &from {
                Some(path) => format!("{start}, or delete the stale {}", path.display()),
                None => format!("{start}, or fix nrepl.endpoint"),
            };
            d.add(Verdict::Fail, "jank's nREPL", format!("{addr} does not answer: {e}"), Some(fix));
            return None;
        }
    };
    let place = from.map(|p| format!(" (port from {})", p.display())).unwrap_or_default();
    d.ok("jank's nREPL", format!("{addr}{place} is alive"));

    let jank = match Capabilities::ask(&link).await {
        Ok(jank) => jank,
        Err(e) => {
            d.add(Verdict::Fail, "describe", e.to_string(), Some("is this jank's nREPL server?".into()));
            return None;
        }
    };
    let versions: Vec<String> =
        jank.describe.versions.iter().map(|(k, v)| format!("{k} {}", version_text(v))).collect();
    let versions = if versions.is_empty() { "no versions".to_string() } else { versions.join(", ") };
    let ops: Vec<&str> = jank.describe.ops.iter().map(String::as_str).collect();
    d.ok("describe", format!("{versions}; ops: {}", ops.join(" ")));
    if !jank.has_op {
        let fix = "run the jank build that has it (pfeodrippe/jank, branch `nrepl`); upstream jank has no wasm target yet (docs/real-jank.md)";
        d.add(Verdict::Fail, "compile op", format!("jank has no `{COMPILE_OP}` op"), Some(fix.into()));
        return None;
    }
    let listed =
        if jank.describe.has_op(COMPILE_OP) { "listed in describe" } else { "answers, not listed in describe" };
    d.ok("compile op", format!("`{COMPILE_OP}` {listed}"));
    probes(d, &compiler, scratch).await
}

/// How to start jank's nREPL server for `workspace`: the command of the jank on `PATH`, told
/// by what its `jank repl --help` lists (the fork's branches differ, docs/real-jank.md), or
/// each branch's when no `jank` is there.
async fn start_jank(workspace: &Path) -> String {
    let root = workspace.display();
    let fork_nrepl = "`jank run-main jank.nrepl-server.core` (the fork's branch `nrepl`, which has no `repl --server`; port 5555 on every interface)";
    let fork_server = "`jank repl --server` (the fork's branches `nrepl-2`, `nrepl-3`; port 5555)";
    let Some(jank) = on_path("jank") else {
        return format!(
            "no `jank` on PATH: build pfeodrippe/jank and start its nREPL server in {root} (it writes .nrepl-port there) with {fork_server} or {fork_nrepl}"
        );
    };
    let help = tokio::process::Command::new(&jank)
        .args(["repl", "--help"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let text = match tokio::time::timeout(HELP_TIMEOUT, help).await {
        Ok(Ok(out)) => format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        _ => String::new(),
    };
    let jank = jank.display();
    // The fork's older command line (CLI11) lists `--server` in its `repl` help; its `nrepl`
    // head (upstream's command line since 2026-01-01) prints the global help, with the fork's
    // own `--ios-compile-server`.
    if text.contains("--server") {
        format!("start {jank} in {root} with {fork_server}; it writes .nrepl-port there")
    } else if text.contains("--ios-compile-server") {
        format!("start {jank} in {root} with {fork_nrepl}; it writes .nrepl-port there")
    } else {
        format!(
            "{jank} is not the jank fork (its `repl --help` lists neither `--server` nor `--ios-compile-server`): `jank repl` starts upstream's nREPL server, which has no `{COMPILE_OP}` op; build pfeodrippe/jank and start it in {root} with {fork_server} or {fork_nrepl}"
        )
    }
}

/// The executable `name` in a directory of `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| {
        std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

fn version_text(value: &crate::nrepl::Value) -> String {
    match value {
        crate::nrepl::Value::Dict(map) => map
            .get("version-string")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("{} keys", map.len())),
        other => other.as_str().map(str::to_string).unwrap_or_else(|| format!("{other:?}")),
    }
}

/// Compiles the probe file's forms in the scratch namespace: one that needs nothing, one
/// that calls a var of its own namespace (is `ns` respected?), one with an error (where?).
async fn probes(d: &mut Diagnosis, compiler: &JankCompiler, scratch: &Path) -> Option<CompiledForm> {
    let [one, call, broken] = probe_requests(d, scratch)?;
    let compiled = probe_compile(d, compiler, &one).await?;
    probe_namespace(d, compiler, &call).await;
    probe_error_positions(d, compiler, &broken).await;
    Some(compiled)
}

/// The probe file written where jank can load it, and its three forms as compile requests:
/// `probe-one`, `probe-call` and `probe-broken`.
fn probe_requests(d: &mut Diagnosis, scratch: &Path) -> Option<[CompileRequest; 3]> {
    if let Err(e) = std::fs::create_dir_all(scratch) {
        d.add(Verdict::Fail, "probe compile", format!("cannot create {}: {e}", scratch.display()), None);
        return None;
    }
    let path = scratch.join("doctor_probe.jank");
    let loaded = &PROBE_FILE[..PROBE_LOADED];
    if let Err(e) = std::fs::write(&path, loaded) {
        d.add(Verdict::Fail, "probe compile", format!("cannot write {}: {e}", path.display()), None);
        return None;
    }
    let file = reader::parse(PROBE_FILE);
    let source = SourceContext { path: path.clone(), text: loaded.into(), namespace: file.namespace.clone() };
    let request = |name: &str| {
        let form = file.forms.iter().find(|f| f.name.as_deref() == Some(name))?;
        Some(CompileRequest {
            patch_id: probe_id(),
            source: source.clone(),
            form: FormSource {
                text: PROBE_FILE[form.range.clone()].to_string(),
                kind: FormKind::Def("defn".into()),
                name: form.name.clone(),
                range: form.range.clone(),
                start: crate::pipeline::line_col(PROBE_FILE, form.range.start),
            },
        })
    };
    let (Some(one), Some(call), Some(broken)) = (request("probe-one"), request("probe-call"), request("probe-broken"))
    else {
        d.add(Verdict::Fail, "probe compile", "the probe file does not read", None);
        return None;
    };
    Some([one, call, broken])
}

/// `(defn probe-one [] 1)` compiles: its C++, for the toolchain's probe build.
async fn probe_compile(d: &mut Diagnosis, compiler: &JankCompiler, one: &CompileRequest) -> Option<CompiledForm> {
    let started = Instant::now();
    let compiled = match compiler.compile(one).await {
        Ok(compiled) => compiled,
        Err(e) => {
            let fix = "read jank's message; `jank-hotpatch doctor` loads the namespace with load-file first";
            d.add(
                Verdict::Fail,
                "probe compile",
                format!("(defn probe-one [] 1) in {PROBE_NS}: {e}"),
                Some(fix.into()),
            );
            return None;
        }
    };
    d.ok(
        "probe compile",
        format!(
            "(defn probe-one [] 1) in {PROBE_NS}: {} bytes of C++ in {} ms",
            compiled.cpp.len(),
            started.elapsed().as_millis()
        ),
    );
    Some(compiled)
}

/// A call to a var of the probe's own namespace resolves (the op analyses in that namespace).
async fn probe_namespace(d: &mut Diagnosis, compiler: &JankCompiler, call: &CompileRequest) {
    match compiler.compile(call).await {
        Ok(_) => d.ok("namespace", "the op analyses in the namespace it is given: a call to a var of the same namespace resolves"),
        Err(e) => d.add(
            Verdict::Warn,
            "namespace",
            format!("a call to a var of the same namespace does not compile: {}", excerpt(&e.message)),
            Some("forms that call their own namespace's vars fail until jank's op binds *ns* as its eval does (docs/real-jank.md)".into()),
        ),
    }
}

/// jank's errors carry a line and column.
async fn probe_error_positions(d: &mut Diagnosis, compiler: &JankCompiler, broken: &CompileRequest) {
    match compiler.compile(broken).await {
        Err(e) if e.location.is_some() => d.ok("error positions", "jank's errors carry line and column"),
        Err(e) => d.add(
            Verdict::Warn,
            "error positions",
            format!(
                "jank's error carries no line or column ({}): diagnostics cover the whole form",
                excerpt(&e.message)
            ),
            Some("the jank change: line and column in the op's errors (docs/real-jank.md)".into()),
        ),
        Ok(_) => d.add(
            Verdict::Warn,
            "error positions",
            "a call to a function that exists nowhere compiled without an error: errors show only when the page loads",
            None,
        ),
    }
}

/// The start of a long message from jank, on one line.
fn excerpt(message: &str) -> String {
    const MAX_CHARS: usize = 140;
    let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(MAX_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// Unique like the pipeline's ids (never below the clock in µs), never journaled or sent.
fn probe_id() -> PatchId {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default();
    PatchId(micros)
}

/// The toolchain, and the probe's C++ built into a side module with it.
async fn toolchain(
    d: &mut Diagnosis,
    settings: &Settings,
    scratch: &Path,
    cpp: Option<CompiledForm>,
) -> Option<Vec<u8>> {
    let builder = match SideModuleBuilder::new(&settings.build, &scratch.join("build")).await {
        Ok(builder) => builder,
        Err(e) => {
            d.add(Verdict::Fail, "toolchain", e.to_string(), Some(crate::side_module::INSTALL_HINT.into()));
            return None;
        }
    };
    d.ok("toolchain", builder.describe_toolchain());
    let cpp = cpp?;
    let started = Instant::now();
    match builder.build(FormKey::of(&cpp.cpp, &reader::parse(PROBE_FILE).namespace), &cpp).await {
        Ok(module) => {
            d.ok(
                "probe build",
                format!("side module of {} bytes in {} ms", module.bytes.len(), started.elapsed().as_millis()),
            );
            Some(module.bytes.to_vec())
        }
        Err(e) => {
            d.add(Verdict::Fail, "probe build", e.to_string(), Some("check build.* settings and the C++ above".into()));
            None
        }
    }
}

/// The main module: there, a MAIN_MODULE, exporting what patches and the client need.
fn main_module(d: &mut Diagnosis, settings: &Settings, probe: Option<&[u8]>) {
    let relink = "relink your app with the flags `jank-hotpatch link-flags` prints";
    let Some(path) = &settings.app.main_module else {
        d.add(
            Verdict::Warn,
            "main module",
            "app.mainModule is not set: patches are not checked against it before they are sent",
            Some("set app.mainModule to your app's .wasm".into()),
        );
        return;
    };
    let check = match ExportCheck::from_main_module(path) {
        Ok(check) => check,
        Err(e) => {
            d.add(Verdict::Fail, "main module", e.to_string(), Some("build your app, or fix app.mainModule".into()));
            return;
        }
    };
    if !check.is_main_module() {
        let what = format!("{} is not linked with -sMAIN_MODULE: it cannot load patches", path.display());
        d.add(Verdict::Fail, "main module", what, Some(relink.into()));
        return;
    }
    // Each flag it was linked without, by name: the jank fork's bundle script links without
    // them unless they are passed (`--em-flag`, docs/real-jank.md).
    let mut lacks = Vec::new();
    let missing = check.not_exported(&required_exports(CApi::Fork));
    if !missing.is_empty() {
        lacks.push(format!("does not export {} (-sEXPORTED_FUNCTIONS)", missing.join(", ")));
    }
    if check.splits_64_bit_integers() {
        lacks.push("is linked without -sWASM_BIGINT=1: it exports its 64-bit integer functions split (`orig$...`), and a patch importing jank_box_integer fails to load with `LinkError: imported function does not match the expected type`".to_string());
    }
    if check.sets_side_module_stack_limits() {
        lacks.push("is linked with -sSTACK_OVERFLOW_CHECK=2 (what -sASSERTIONS=2 turns on): its dynamic linker calls `__set_stack_limits` on every patch, which patches do not have, so none loads; link with -sSTACK_OVERFLOW_CHECK=1".to_string());
    }
    if let Some(methods) = check.runtime_methods_missing(&RUNTIME_METHODS).filter(|m| !m.is_empty()) {
        lacks.push(format!(
            "its JavaScript does not put {} on Module (-sEXPORTED_RUNTIME_METHODS): the page's client needs them (FS to write each patch)",
            methods.join(", ")
        ));
    }
    if !lacks.is_empty() {
        let what = format!("{} {}", path.display(), lacks.join("; "));
        d.add(Verdict::Fail, "main module", what, Some(relink.into()));
        return;
    }
    let optional = check.not_exported(&CLIENT_OPTIONAL);
    if optional.is_empty() {
        d.ok("main module", format!("{}: a MAIN_MODULE exporting all a patch and the client need", path.display()));
    } else {
        d.add(
            Verdict::Warn,
            "main module",
            format!(
                "{} lacks {} (as the jank fork's does): the page prints values with jank_to_string and load failures come without the registry's reason",
                path.display(),
                optional.join(", ")
            ),
            Some("if your jank has them, link with `jank-hotpatch link-flags --c-api full`".into()),
        );
    }
    match probe.map(|bytes| check.missing(bytes)) {
        Some(Ok(missing)) if !missing.is_empty() => d.add(
            Verdict::Fail,
            "probe check",
            format!("the probe patch imports what {} does not export: {}", path.display(), missing.join(", ")),
            Some(relink.into()),
        ),
        Some(Ok(_)) => d.ok("probe check", "the probe patch links against the main module"),
        Some(Err(e)) => d.add(Verdict::Fail, "probe check", e.to_string(), None),
        None => {}
    }
}

/// The app root has a page that loads the client.
fn app_root(d: &mut Diagnosis, settings: &Settings) {
    let Some(root) = &settings.app.root else {
        d.add(
            Verdict::Fail,
            "app root",
            "app.root is not set: the sidecar serves no page, and only pages it serves can take patches",
            Some("set app.root to the directory with your page and main module".into()),
        );
        return;
    };
    let index = root.join("index.html");
    match std::fs::read_to_string(&index) {
        Ok(html) if html.contains(CLIENT_PATH) => d.ok("app root", format!("{} loads {CLIENT_PATH}", index.display())),
        Ok(_) => d.add(
            Verdict::Fail,
            "app root",
            format!("{} does not load the client", index.display()),
            Some(format!("add <script src=\"{CLIENT_PATH}\"></script> to its <head>")),
        ),
        Err(e) => d.add(
            Verdict::Fail,
            "app root",
            format!("cannot read {}: {e}", index.display()),
            Some("set app.root to the directory with your index.html".into()),
        ),
    }
}

/// The pages connected to a running sidecar now, from its status endpoint.
async fn pages(d: &mut Diagnosis, cache_dir: &Path) {
    let Some(app) = find_app(d, cache_dir).await else { return };
    check_app_page(d, &app.authority).await;
    let Some(pages) = page_statuses(d, &app) else { return };
    if pages.is_empty() {
        d.add(
            Verdict::Warn,
            "pages",
            format!("none connected to {} now", app.authority),
            Some(format!("open {}", app.url)),
        );
    }
    for page in pages {
        check_page(d, page);
    }
}

/// The app server the last sidecar here wrote down, and its status.
struct App {
    url: String,
    authority: String,
    status: String,
}

/// The app server from `<cacheDir>/app-url`, if it answers the status request.
async fn find_app(d: &mut Diagnosis, cache_dir: &Path) -> Option<App> {
    let url_file: PathBuf = cache_dir.join(APP_URL_FILE);
    let start = "start the sidecar (your editor's jank-hotpatch, or `jank-hotpatch watch`) and open its URL";
    let Ok(url) = std::fs::read_to_string(&url_file) else {
        d.add(
            Verdict::Warn,
            "pages",
            format!("no sidecar has served the app here yet (no {})", url_file.display()),
            Some(start.into()),
        );
        return None;
    };
    let url = url.trim();
    let Some((authority, token)) = url.strip_prefix("http://").and_then(|rest| rest.split_once("/?token=")) else {
        d.add(Verdict::Warn, "pages", format!("{} holds no app URL: {url}", url_file.display()), None);
        return None;
    };
    let status = match get(authority, &format!("{STATUS_PATH}?token={token}")).await {
        Ok((200, body)) => body,
        Ok((code, _)) => {
            d.add(
                Verdict::Warn,
                "pages",
                format!("the app server at {authority} answered {code} to the status request"),
                Some(start.into()),
            );
            return None;
        }
        Err(e) => {
            d.add(Verdict::Warn, "pages", format!("no sidecar answers at {authority} ({e})"), Some(start.into()));
            return None;
        }
    };
    Some(App { url: url.to_string(), authority: authority.to_string(), status })
}

/// The app server's `/` serves a page with the client.
async fn check_app_page(d: &mut Diagnosis, authority: &str) {
    match get(authority, "/").await {
        Ok((200, page)) if page.contains(CLIENT_PATH) => {
            d.ok("app server", format!("http://{authority}/ serves the page with {CLIENT_PATH}"))
        }
        Ok((code, _)) => d.add(
            Verdict::Fail,
            "app server",
            format!("http://{authority}/ answered {code} without the client"),
            Some(format!("add <script src=\"{CLIENT_PATH}\"></script> to the page")),
        ),
        Err(e) => d.add(Verdict::Warn, "app server", format!("http://{authority}/: {e}"), None),
    }
}

/// The connected pages in the app server's status.
fn page_statuses(d: &mut Diagnosis, app: &App) -> Option<Vec<PageStatus>> {
    let pages = serde_json::from_str::<serde_json::Value>(&app.status)
        .ok()
        .and_then(|v| serde_json::from_value(v["pages"].clone()).ok());
    if pages.is_none() {
        let message = format!("the status at {} is not what this version reads", app.authority);
        d.add(Verdict::Warn, "pages", message, None);
    }
    pages
}

/// One page: started, and with the C API patches need.
fn check_page(d: &mut Diagnosis, page: PageStatus) {
    let Some(api) = page.api else {
        d.add(
            Verdict::Warn,
            "page",
            format!("page {} ({}): its main module has not started", page.id, page.peer),
            None,
        );
        return;
    };
    let hash = api.main_module_sha256.as_deref().map(|h| &h[..h.len().min(12)]).unwrap_or("unknown");
    let what = format!("page {} ({}): {} Module, main module sha256 {hash}", page.id, page.peer, api.module);
    let required: Vec<&String> =
        api.missing.iter().filter(|m| !CLIENT_OPTIONAL.iter().any(|o| m.as_str() == format!("_{o}"))).collect();
    if api.missing.is_empty() {
        d.ok("page", format!("{what}, the whole C API"));
    } else if required.is_empty() {
        d.add(Verdict::Warn, "page", format!("{what}, falls back without {}", api.missing.join(", ")), None);
    } else {
        let lacks = required.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        d.add(
            Verdict::Warn,
            "page",
            format!("{what}, lacks {lacks}: it cannot load patches"),
            Some("relink the app with `jank-hotpatch link-flags`".into()),
        );
    }
}

/// A plain HTTP/1.1 GET on loopback: (status code, body).
async fn get(authority: &str, path: &str) -> Result<(u16, String), String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await.map_err(|e| e.to_string())?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
        let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("no HTTP status")?;
        Ok((code, body.to_string()))
    };
    tokio::time::timeout(HTTP_TIMEOUT, exchange).await.map_err(|_| "no answer within 3 s".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jank_loads_the_ns_form_and_probe_one_only() {
        assert!(PROBE_FILE[..PROBE_LOADED].trim_end().ends_with("(defn probe-one [] 1)"));
        assert_eq!(reader::parse(&PROBE_FILE[..PROBE_LOADED]).forms.len(), 2);
    }
}
