//! The `jank-hotpatch` binary: the command line in front of the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "jank-hotpatch",
    version,
    about = "Hot-patch jank code into WebAssembly pages that are already running"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Speak LSP on stdin/stdout (what editors start).
    Lsp {
        /// Also listen as an nREPL server for CIDER, Calva and Conjure on this port (0: any
        /// free port; written to .jank-hotpatch/nrepl-port, or cacheDir's). Same as `nreplServer.enabled`.
        #[arg(long, value_name = "PORT")]
        nrepl_port: Option<u16>,
    },
    /// Hot-patch on file save without an editor: watch .jank files and patch what changed.
    Watch {
        /// Files or directories to watch (default: the workspace).
        paths: Vec<PathBuf>,
        /// The workspace root, where jank-hotpatch.toml and .jank-hotpatch/ live.
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
    },
    /// The demo: a small app whose behaviour comes from jank functions, hot-patched on save.
    Demo {
        /// The demo workspace (created if missing; your edits to its jank file are kept).
        #[arg(long, default_value = "jank-hotpatch-demo")]
        dir: PathBuf,
        /// Only write the demo workspace into DIR and build its main module, then exit.
        #[arg(long, value_name = "DIR", conflicts_with = "dir")]
        prepare: Option<PathBuf>,
        /// `host:port` of a real jank nREPL server (the jank build with the
        /// `wasm-compile-patch` op) instead of the stand-in.
        #[arg(long, value_name = "HOST:PORT")]
        jank_nrepl: Option<String>,
        /// A directory with a real jank app (page + emscripten main module) to serve instead
        /// of the demo's stand-in runtime.
        #[arg(long, value_name = "DIR")]
        app: Option<PathBuf>,
        /// Port of the app server (default 7888, or the next free one).
        #[arg(long)]
        port: Option<u16>,
        /// Also listen as an nREPL server for CIDER, Calva and Conjure on this port (0: any).
        #[arg(long, value_name = "PORT")]
        nrepl_port: Option<u16>,
    },
    /// Print the EXPORTED_FUNCTIONS list (JSON) that a `-sMAIN_MODULE=2` main module needs so
    /// that these side modules link against it.
    Exports {
        /// The main module `.wasm` (its own exports are kept in the list).
        #[arg(long)]
        main: PathBuf,
        /// Side modules (`.wasm`) the main module must serve.
        side_modules: Vec<PathBuf>,
    },
    /// Print the emcc flags a jank app's final link needs for its page to accept patches.
    LinkFlags {
        /// The app's jank C API: `fork` (no jank_to_code_string, no jank_hot_reload_last_error)
        /// or `full` (exports those too).
        #[arg(long, default_value = "fork", value_parser = ["fork", "full"])]
        c_api: String,
        /// The app has no `main` function (emcc refuses to export one that does not exist).
        #[arg(long)]
        no_main: bool,
        /// Write the client's post-js (what the code prints, for ES6 builds; patches above the
        /// browser's synchronous-compile limit) to FILE and link it.
        #[arg(long, value_name = "FILE")]
        post_js: Option<PathBuf>,
        /// The app's current main module `.wasm`, to add what SIDE_MODULES import.
        #[arg(long, requires = "side_modules")]
        main: Option<PathBuf>,
        /// Built patches (`.wasm`, e.g. one the check stage refused) whose imports to export.
        #[arg(requires = "main")]
        side_modules: Vec<PathBuf>,
        /// Also export the app's function NAME (`_name`, e.g. `_jank_export_greet` for a
        /// `^:export` fn): these flags' EXPORTED_FUNCTIONS replaces the bundle script's.
        #[arg(long = "export", value_name = "NAME", value_parser = export_name)]
        exports: Vec<String>,
    },
    /// Check this setup: jank, the toolchain, the main module, the page; exit 0 only when a
    /// patch can go through.
    Doctor {
        /// The workspace root, where jank-hotpatch.toml and .jank-hotpatch/ live.
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
    },
}

/// An `EXPORTED_FUNCTIONS` entry: `_` and a C identifier (safe unquoted in a shell).
fn export_name(name: &str) -> Result<String, String> {
    let ident = name.strip_prefix('_').unwrap_or_default();
    let valid = ident.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && ident.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(name.to_string())
    } else {
        Err(format!("{name:?} is not `_` followed by a C function name (e.g. `_jank_export_greet`)"))
    }
}

type EditorInput = Box<dyn tokio::io::AsyncRead + Unpin + Send>;
type EditorOutput = Box<dyn tokio::io::AsyncWrite + Unpin + Send>;

/// Standard input and output, read and written on the runtime's own event loop when they are
/// pipes or sockets (as editors start a server: Emacs gives pipes, VS Code's Node sockets):
/// tokio's `stdin()`/`stdout()` hand every read and write to a thread of their own, which cost
/// a patch's answer ~1–2 ms on the editor's clock in the benchmark. Anything else (a file, a
/// terminal) keeps tokio's. Must run inside the runtime.
fn editor_pipes() -> (EditorInput, EditorOutput) {
    use tokio::net::unix::pipe;
    let input = editor_end(
        0,
        |fd| Ok(Box::new(pipe::Receiver::from_owned_fd(fd)?) as EditorInput),
        |socket| Box::new(socket) as EditorInput,
        || Box::new(tokio::io::stdin()),
    );
    let output = editor_end(
        1,
        |fd| Ok(Box::new(pipe::Sender::from_owned_fd(fd)?) as EditorOutput),
        |socket| Box::new(socket) as EditorOutput,
        || Box::new(tokio::io::stdout()),
    );
    (input, output)
}

/// Standard input (`fd` 0) or output (1) as `pipe` or `socket` makes it, by what the fd is;
/// tokio's own (`stdio`) for anything else, or when that fails (logged).
fn editor_end<T>(
    fd: std::os::fd::RawFd,
    pipe: impl FnOnce(std::os::fd::OwnedFd) -> std::io::Result<T>,
    socket: impl FnOnce(tokio::net::UnixStream) -> T,
    stdio: impl Fn() -> T,
) -> T {
    use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
    use std::os::unix::fs::FileTypeExt;
    // SAFETY: fds 0 and 1 are open for the process's life, and nothing else in LSP mode uses
    // them (logs go to stderr; children get their own pipes or /dev/null). The fd is owned
    // only once it is known to be a pipe or a socket.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let file_type = borrowed.try_clone_to_owned().map(std::fs::File::from).and_then(|f| f.metadata());
    let made = match file_type.map(|m| m.file_type()) {
        Ok(t) if t.is_fifo() => pipe(unsafe { OwnedFd::from_raw_fd(fd) }),
        Ok(t) if t.is_socket() => {
            let unix = std::os::unix::net::UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
            unix.set_nonblocking(true).and_then(|()| tokio::net::UnixStream::from_std(unix)).map(socket)
        }
        _ => return stdio(),
    };
    made.unwrap_or_else(|e| {
        tracing::warn!("fd {fd}: {e}; using tokio's standard input/output");
        stdio()
    })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Editors keep the sidecar's stderr as a log; in a terminal, the per-patch lines are the
    // news and routine logs would drown them.
    init_logging(if matches!(cli.command, Command::Lsp { .. }) { "info" } else { "warn" });
    // One thread: a patch hands its work from task to task (editor, pipeline, nREPL, build
    // service, page, journal), and on a multi-threaded runtime each hand-off could wake another
    // worker first (a futex wake, up to a millisecond on a busy VM). Measured in one bench run
    // each way (2 cores, 40 patches per row, two rounds): one form 10.7/11.3 ms against
    // 11.4/12.0 ms, a macro change re-patching 20 forms 27.0/28.1 against 31.8/32.5 ms. What
    // can block for long (the workspace scan, journal saves, the build's kept files, hashing
    // the main module after a rebuild) runs on threads of its own.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    let mut healthy = true;
    let result = runtime.block_on(async {
        match cli.command {
            Command::Lsp { nrepl_port } => {
                let options = jank_hotpatch::front::lsp::LspOptions { nrepl_port };
                let (input, output) = editor_pipes();
                jank_hotpatch::front::lsp::serve(input, output, options).await;
                Ok(())
            }
            Command::Watch { paths, workspace } => {
                jank_hotpatch::front::watch::run(&workspace, &paths).await.map_err(Into::into)
            }
            Command::Demo { prepare: Some(dir), .. } => {
                jank_hotpatch::front::demo::prepare(&dir).await?;
                println!("{}", dir.display());
                Ok(())
            }
            Command::Demo { dir, prepare: None, jank_nrepl, app, port, nrepl_port } => {
                let options = jank_hotpatch::front::demo::DemoOptions { dir, jank_nrepl, app, port, nrepl_port };
                jank_hotpatch::front::demo::run(options).await.map_err(Into::into)
            }
            Command::Exports { main, side_modules } => {
                let list = jank_hotpatch::check::export_list(&main, &side_modules)?;
                println!("{}", serde_json::to_string(&list)?);
                Ok(())
            }
            Command::LinkFlags { c_api, no_main, post_js, main, side_modules, exports } => {
                use jank_hotpatch::main_module::{link_flags, CApi, LinkOptions};
                let c_api = if c_api == "full" { CApi::Full } else { CApi::Fork };
                let options =
                    LinkOptions { c_api, main_function: !no_main, post_js, main_module: main, side_modules, exports };
                println!("{}", link_flags(&options)?.join(" "));
                Ok(())
            }
            Command::Doctor { workspace } => {
                let diagnosis = jank_hotpatch::doctor::diagnose(&workspace).await;
                print!("{}", diagnosis.render());
                healthy = diagnosis.can_patch();
                Ok(())
            }
        }
    });
    // Blocking reads of a closed stdin must not keep the process (and its ports) alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    if !healthy {
        std::process::exit(1);
    }
    result
}

/// Logs go to stderr: stdout is the LSP channel. `JANK_HOTPATCH_LOG` (or `RUST_LOG`) filters.
fn init_logging(default: &str) {
    let filter = std::env::var("JANK_HOTPATCH_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.to_string());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}
