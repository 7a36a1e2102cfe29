//! The sidecar's own nREPL server, in front of jank's (as shadow-cljs's sits in front of its
//! build), so that CIDER, Calva and Conjure hot-patch the page with their usual keys.
//!
//! Owns: listening (loopback, its own port, written to `<cacheDir>/nrepl-port`), client
//! connections and their limits, our sessions and their namespaces, `eval` and `load-file`
//! through the pipeline (`eval`), the editors' evaluations about the REPL itself, answered
//! here (`tooling`), forwarding every other op to jank's nREPL with session
//! and message ids mapped (`upstream`), and an `err` message to the session that evaluated last
//! for each new error its code throws in a page. Must not touch the pipeline's internals (it only calls
//! `Pipeline::run`, and `Pipeline::undo` for the `jank-hotpatch/undo` op in `undo`), LSP, or
//! `.nrepl-port` (jank's file: read, never written).

mod connection;
mod eval;
mod message;
mod session;
mod tooling;
mod undo;
mod upstream;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::NreplServerSettings;
use crate::nrepl::Locator;
use crate::pipeline::Pipeline;
use crate::stages::{RuntimeErrors, RUNTIME_FOLLOW_EVERY};

/// Where the server's port is written, in the cache directory (`cacheDir`), like everything
/// the sidecar writes (`.nrepl-port` is jank's).
pub const PORT_FILE: &str = "nrepl-port";

/// The largest message a client may send; a larger one closes its connection.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum NreplServerError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}; pick another nreplServer.port or 0 for any free port")]
    Bind { port: u16, source: std::io::Error },
    #[error("cannot write the port file {path}: {source}")]
    PortFile { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("message larger than the {limit} byte limit")]
    TooLarge { limit: usize },
    #[error("not bencode: {0}")]
    Malformed(String),
    #[error("a message must be a bencode dictionary, got {0}")]
    NotADict(&'static str),
    #[error(
        "jank's nREPL server is not reachable ({0}): start jank (`jank repl` writes .nrepl-port) or set nrepl.endpoint"
    )]
    JankUnreachable(String),
    #[error("jank's nREPL server: {0}")]
    Jank(String),
}

/// A running nREPL endpoint. Dropping it stops listening, closes every client connection and
/// removes the port file.
pub struct NreplEndpoint {
    port: u16,
    port_file: PathBuf,
    shutdown: watch::Sender<bool>,
}

impl NreplEndpoint {
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn port_file(&self) -> &Path {
        &self.port_file
    }
}

impl Drop for NreplEndpoint {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        // Only our own port: another sidecar may have taken the file over since.
        if std::fs::read_to_string(&self.port_file).is_ok_and(|p| p.trim() == self.port.to_string()) {
            let _ = std::fs::remove_file(&self.port_file);
        }
    }
}

/// Starts listening on 127.0.0.1 at `settings.port` (0: any free port) and writes the port to
/// `<cache_dir>/nrepl-port` (`cache_dir` is the `cacheDir` setting's directory). `jank` finds
/// jank's nREPL server as the compile stage does (`app::Started::jank`), so that what is
/// forwarded goes where the patches go. `runtime_errors`: the pages' runtime errors, each new
/// one told to the session that evaluated last.
pub async fn start(
    pipeline: Arc<Pipeline>,
    settings: &NreplServerSettings,
    jank: Arc<Locator>,
    workspace: &Path,
    cache_dir: &Path,
    runtime_errors: Option<watch::Receiver<RuntimeErrors>>,
) -> Result<NreplEndpoint, NreplServerError> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, settings.port)))
        .await
        .map_err(|source| NreplServerError::Bind { port: settings.port, source })?;
    let port = listener.local_addr()?.port();
    let port_file = cache_dir.join(PORT_FILE);
    std::fs::create_dir_all(cache_dir)
        .and_then(|()| std::fs::write(&port_file, port.to_string()))
        .map_err(|source| NreplServerError::PortFile { path: port_file.clone(), source })?;
    let (shutdown, stopped) = watch::channel(false);
    let shared = Arc::new(connection::Shared {
        evaluator: eval::Evaluator::new(pipeline.clone(), workspace, cache_dir),
        undo: undo::Undo::new(pipeline, workspace),
        sessions: session::Sessions::default(),
        upstream: upstream::Upstream::new(jank, workspace),
        last_patcher: std::sync::Mutex::new(None),
    });
    if let Some(errors) = runtime_errors {
        tokio::spawn(tell_runtime_errors(errors, shared.clone(), stopped.clone()));
    }
    tokio::spawn(accept(listener, shared, stopped));
    tracing::info!("nREPL server on 127.0.0.1:{port} (port in {})", port_file.display());
    Ok(NreplEndpoint { port, port_file, shutdown })
}

async fn accept(listener: TcpListener, shared: Arc<connection::Shared>, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!("nREPL client {peer} connected");
                    tokio::spawn(connection::serve(stream, peer, shared.clone(), stopped.clone()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: wait instead of spinning.
                    tracing::warn!("nREPL server: cannot accept a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            _ = stopped.changed() => return,
        }
    }
}

/// One `err` message per new runtime error (not per count) to the session that evaluated last.
async fn tell_runtime_errors(
    mut errors: watch::Receiver<RuntimeErrors>,
    shared: Arc<connection::Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut told = std::collections::HashSet::new();
    loop {
        tokio::select! {
            changed = errors.changed() => if changed.is_err() { return },
            _ = stopped.changed() => return,
        }
        let now = errors.borrow_and_update().clone();
        let current: std::collections::HashSet<(u64, String)> = now.iter().map(|e| (e.page, e.key.clone())).collect();
        for error in now.iter().filter(|e| !told.contains(&(e.page, e.key.clone()))) {
            shared.tell_last_patcher(format!("{}\n", error.summary()));
        }
        told = current;
        tokio::time::sleep(RUNTIME_FOLLOW_EVERY).await;
    }
}

/// A poisoned lock only means another task panicked; the data is still usable.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
