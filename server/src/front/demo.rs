//! `jank-hotpatch demo`: the whole loop for a new user in one command. Writes a demo
//! workspace (an app page, its jank source, the stand-in runtime main module), builds the main
//! module, starts the stand-in jank and the pipeline, prints the app's URL and patches the
//! demo's jank file on every save.
//!
//! A front end like `lsp` and `watch`: it only assembles the stages through `app::start`.
//! With `--jank-nrepl` and `--app` it drives a real jank and a real jank main module instead.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::process::{Child, Command};

use crate::config::{Settings, CONFIG_FILE};
use crate::main_module::build_main_module;

/// The stand-in runtime main module's sources (demo/runtime), written into the workspace.
const RUNTIME: &[(&str, &str)] = &[
    ("runtime.hpp", include_str!("../../../demo/runtime/runtime.hpp")),
    ("object.cpp", include_str!("../../../demo/runtime/object.cpp")),
    ("core.cpp", include_str!("../../../demo/runtime/core.cpp")),
    ("api.cpp", include_str!("../../../demo/runtime/api.cpp")),
];

/// The demo app's static files (demo/app).
const APP: &[(&str, &str)] = &[
    ("index.html", include_str!("../../../demo/app/index.html")),
    ("demo.js", include_str!("../../../demo/app/demo.js")),
    ("demo.css", include_str!("../../../demo/app/demo.css")),
];

const CORE_JANK: &str = include_str!("../../../demo/src/demo/core.jank");
const CORE_JANK_PATH: &str = "src/demo/core.jank";

const CONFIG: &str = "# The demo workspace: the app's static files and the main module patches link against.
[app]
root = \"app\"
mainModule = \"app/app.wasm\"
";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("cannot build the demo's main module: {0}")]
    MainModule(#[from] crate::main_module::MainModuleError),
    #[error("cannot start the stand-in jank ({path}): {source}; build it with `cargo build -p jank-standin`")]
    StandIn { path: String, source: std::io::Error },
    #[error("the stand-in jank did not write {0} within 10 s")]
    StandInSilent(String),
    #[error("the app server did not start: {0}")]
    NoAppServer(String),
    #[error(transparent)]
    Watch(#[from] crate::front::watch::WatchError),
    #[error(transparent)]
    NreplEndpoint(#[from] crate::front::nrepl_endpoint::NreplServerError),
}

pub struct DemoOptions {
    /// The demo workspace (created if missing; your edits to its jank file are kept).
    pub dir: PathBuf,
    /// `host:port` of a real jank nREPL server (the jank fork with `wasm-compile-patch`)
    /// instead of starting the stand-in.
    pub jank_nrepl: Option<String>,
    /// A directory with a real jank app (page + emscripten main module `.js`/`.wasm`) to
    /// serve instead of the stand-in runtime.
    pub app: Option<PathBuf>,
    pub port: Option<u16>,
    /// Also listen as an nREPL server (for CIDER, Calva, Conjure) on this port (0: any).
    pub nrepl_port: Option<u16>,
}

/// Writes the demo workspace into `dir` (its settings and jank file only when missing: your
/// edits are kept) and builds its main module; the stand-in runtime's sources go to the cache
/// directory the settings name.
pub async fn prepare(dir: &Path) -> Result<(), DemoError> {
    let config = dir.join(CONFIG_FILE);
    if !config.exists() {
        write_if_changed(&config, CONFIG)?;
    }
    let runtime_dir = cache_dir(dir).join("runtime");
    for (name, text) in RUNTIME {
        write_if_changed(&runtime_dir.join(name), text)?;
    }
    for (name, text) in APP {
        write_if_changed(&dir.join("app").join(name), text)?;
    }
    let core = dir.join(CORE_JANK_PATH);
    if !core.exists() {
        write_if_changed(&core, CORE_JANK)?;
    }
    build_main_module(&runtime_dir, &dir.join("app"), &[]).await?;
    Ok(())
}

/// The cache directory the demo workspace's settings name.
fn cache_dir(dir: &Path) -> PathBuf {
    let (mut settings, _) = Settings::load(dir);
    settings.resolve_paths(dir);
    settings.cache_dir(dir)
}

/// The interactive demo: runs until interrupted.
pub async fn run(options: DemoOptions) -> Result<(), DemoError> {
    let dir = &options.dir;
    std::fs::create_dir_all(dir).map_err(|source| DemoError::Write { path: dir.display().to_string(), source })?;
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
    let progress = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    progress.enable_steady_tick(Duration::from_millis(120));

    progress.set_message("building the demo app and its main module (the first time takes ~10 s)");
    prepare(&dir).await?;

    let mut settings = Settings::default();
    for problem in settings.apply_file(&dir.join(crate::config::CONFIG_FILE)) {
        progress.println(format!("jank-hotpatch: {problem}"));
    }
    if let Some(app) = &options.app {
        settings.app.root = Some(app.clone());
        settings.app.main_module = Some(app.join("app.wasm")).filter(|p| p.exists());
    }
    if let Some(port) = options.port {
        settings.app.port = port;
    }
    settings.resolve_paths(&dir);

    let _jank: Option<Child> = match &options.jank_nrepl {
        Some(endpoint) => {
            settings.nrepl.endpoint = Some(endpoint.clone());
            None
        }
        None => {
            progress.set_message("starting the stand-in jank");
            Some(start_standin(&dir, &settings.cache_dir(&dir)).await?)
        }
    };

    progress.set_message("starting the sidecar");
    let started = crate::app::start(&settings, &dir).await;
    for warning in &started.warnings {
        progress.println(format!("jank-hotpatch: {warning}"));
    }
    let url = started.app_url.clone().ok_or_else(|| DemoError::NoAppServer(started.warnings.join("; ")))?;
    let endpoint = match options.nrepl_port {
        Some(port) => {
            settings.nrepl_server.port = port;
            let jank = started.jank.clone();
            Some(
                crate::front::nrepl_endpoint::start(
                    started.pipeline.clone(),
                    &settings.nrepl_server,
                    jank,
                    &dir,
                    &settings.cache_dir(&dir),
                    started.runtime_errors.clone(),
                )
                .await?,
            )
        }
        None => None,
    };
    progress.finish_and_clear();
    println!("\n  jank-hotpatch demo is running.\n");
    println!("  Open      {url}");
    println!("  Edit      {}", dir.join(CORE_JANK_PATH).display());
    println!("  and save: the page changes in place and keeps its state. Ctrl-C stops.");
    if let Some(endpoint) = &endpoint {
        println!("  nREPL     127.0.0.1:{} (CIDER, Calva, Conjure: evaluate forms into the page)", endpoint.port());
    }
    println!();

    let roots = [dir.join("src")];
    if let Some(errors) = started.runtime_errors {
        tokio::spawn(crate::front::watch::follow_runtime_errors(errors, |line| println!("{line}")));
    }
    tokio::select! {
        result = crate::front::watch::watch_files(&started.pipeline, &roots, |line| println!("{line}")) => result?,
        _ = tokio::signal::ctrl_c() => println!("stopping"),
    }
    Ok(())
}

/// Starts `jank-standin` (found beside this executable, or on PATH) in `dir`, where it
/// writes `.nrepl-port`; its log goes to `cache_dir`.
async fn start_standin(dir: &Path, cache_dir: &Path) -> Result<Child, DemoError> {
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|d| d.join("jank-standin")));
    let program = beside.filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from("jank-standin"));
    let port_file = dir.join(crate::nrepl::PORT_FILE);
    let _ = std::fs::remove_file(&port_file);
    // Its log would interleave with the patch lines: keep it in a file.
    let log_path = cache_dir.join("jank-standin.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|source| DemoError::Write { path: log_path.display().to_string(), source })?;
    let child = Command::new(&program)
        .arg("--port-file")
        .arg(&port_file)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| DemoError::StandIn { path: program.display().to_string(), source })?;
    for _ in 0..200 {
        if std::fs::read_to_string(&port_file).is_ok_and(|s| !s.trim().is_empty()) {
            return Ok(child);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(DemoError::StandInSilent(port_file.display().to_string()))
}

/// Writes a file only when its content differs, so that up-to-date checks based on
/// modification times (the main module's link) stay valid.
fn write_if_changed(path: &Path, text: &str) -> Result<(), DemoError> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    let err = |source| DemoError::Write { path: path.display().to_string(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    std::fs::write(path, text).map_err(err)
}
