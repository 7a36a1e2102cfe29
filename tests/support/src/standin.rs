//! The stand-in jank (`tests/jank-standin`) started for a test, a benchmark or the reliability
//! suite: one way to start it in a workspace and wait for the `.nrepl-port` it writes once its
//! nREPL server listens.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
}

impl Standin {
    /// Starts `target/debug/jank-standin` in `dir` with `args` (its stderr dropped); panics when
    /// it does not listen.
    pub fn start(dir: &Path, args: &[&str]) -> Standin {
        Standin::spawn(&binary(), dir, args, Stdio::null()).unwrap_or_else(|why| panic!("{why}"))
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
        let mut standin = Standin { child, port: 0 };
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
