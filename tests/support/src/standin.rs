//! The stand-in jank (`tests/jank-standin`) started for a test, a benchmark or the reliability
//! suite: one way to start it in a workspace and wait for the `.nrepl-port` it writes once its
//! nREPL server listens, with its log to wait on (`compile_received`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::log_lines::LogLines;

/// The file jank's nREPL server writes its port to, in the directory it runs in (the sidecar's
/// `nrepl::PORT_FILE`; `server/tests/tidy.rs` checks that they agree).
pub const PORT_FILE: &str = ".nrepl-port";

/// How long the stand-in may take to listen (it starts in milliseconds; a loaded machine
/// running several test binaries is the reason for the margin).
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The stand-in the workspace build left in `target/debug`.
pub fn binary() -> PathBuf {
    crate::lsp_client::built_binary("jank-standin")
}

/// A running stand-in and the port it listens on; killed when dropped.
pub struct Standin {
    child: Child,
    pub port: u16,
    /// Its log, when started by [`Standin::start`].
    log: Option<LogLines>,
}

impl Standin {
    /// Starts `target/debug/jank-standin` in `dir` with `args` and returns once it listens (it
    /// logs so after writing `.nrepl-port`); panics when it does not.
    pub fn start(dir: &Path, args: &[&str]) -> Standin {
        let port_file = dir.join(PORT_FILE);
        let _ = std::fs::remove_file(&port_file);
        let mut child = Command::new(binary())
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary().display()));
        let stderr = child.stderr.take().expect("the stand-in's piped stderr");
        let log = LogLines::read_until_ready(stderr, "jank stand-in listening", START_TIMEOUT);
        let port = std::fs::read_to_string(&port_file).ok().and_then(|s| s.trim().parse().ok());
        let mut standin = Standin { child, port: 0, log: None };
        match (log, port) {
            (Some(log), Some(port)) => {
                standin.port = port;
                standin.log = Some(log);
                standin
            }
            _ => panic!("the stand-in did not listen and write {} within {START_TIMEOUT:?}", port_file.display()),
        }
    }

    /// Waits until the stand-in has received a `wasm-compile-patch` (it logs so only when
    /// started with `--delay-ms`, before the delay): a compile is in flight.
    pub async fn compile_received(&mut self) {
        let log = self.log.as_mut().expect("a stand-in started with `Standin::start` (which reads its log)");
        log.wait_for("wasm-compile-patch received", START_TIMEOUT).await.expect("the stand-in received a compile");
    }

    /// Starts `program` in `dir` with `args` and waits for the port it writes to `dir`'s
    /// `.nrepl-port` (a stale one is removed first, so that a restart is seen).
    pub fn spawn(program: &Path, dir: &Path, args: &[&str], stderr: Stdio) -> Result<Standin, String> {
        let port_file = dir.join(PORT_FILE);
        let _ = std::fs::remove_file(&port_file);
        let child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let mut standin = Standin { child, port: 0, log: None };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(port) = std::fs::read_to_string(&port_file).ok().and_then(|s| s.trim().parse().ok()) {
                standin.port = port;
                return Ok(standin);
            }
            if let Ok(Some(status)) = standin.child.try_wait() {
                return Err(format!("{} exited ({status}) before writing {}", program.display(), port_file.display()));
            }
            if Instant::now() > deadline {
                return Err(format!("{} wrote no {} within {START_TIMEOUT:?}", program.display(), port_file.display()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `127.0.0.1:<port>`, as `nrepl.endpoint` takes it.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGKILL, as a crash would.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        self.stop();
    }
}
