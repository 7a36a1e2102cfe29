//! An nREPL client (bencode over TCP): sessions, ops, replies gathered until `done`.
//!
//! Owns: the bencode codec ([`codec`], the only user of `bendy`), connections and the
//! reader task that matches replies to requests by `id` ([`client`]), request timeouts and
//! the reply size limit, reconnecting ([`connection`]), finding the server ([`Locator`]: the
//! setting, else `.nrepl-port`), one way for everything that talks to it.
//! Knows nothing about jank, patches or LSP: `compile` gives it meaning.

pub mod client;
pub mod codec;
pub mod connection;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

pub use client::{Client, ClientOptions, Describe, Eval, LoadFile, Pending, Response};
pub use codec::{FrameDecoder, Message, Value, DEFAULT_MAX_MESSAGE_BYTES};
pub use connection::{Connection, Link};

/// The file an nREPL server writes its port to, in the directory it was started in.
pub const PORT_FILE: &str = ".nrepl-port";

#[derive(Clone, Debug, thiserror::Error)]
pub enum NreplError {
    #[error("no {PORT_FILE} found walking up from {}: is `jank repl` running in your project? (or set `nrepl.endpoint`)", start.display())]
    NoPortFile { start: PathBuf },
    #[error("cannot connect to the nREPL server at {addr}{from}: {reason}; is `jank repl` running?", from = from.as_ref().map(|p| format!(" (port from {})", p.display())).unwrap_or_default())]
    Refused { addr: String, from: Option<PathBuf>, reason: String },
    #[error("the nREPL server at {addr} closed the connection{why}; the next request reconnects", why = reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Closed { addr: String, reason: Option<String> },
    #[error("no complete reply to `{op}` within {} ms; is the server busy or stuck? (raise `nrepl.timeoutMs` for slow evaluations)", after.as_millis())]
    Timeout { op: String, after: Duration },
    #[error("the nREPL server sent something that is not an nREPL message: {0}")]
    Protocol(String),
    #[error("an nREPL message is larger than the {limit}-byte limit; the connection was dropped")]
    TooLarge { limit: usize },
}

/// Where jank's nREPL server is, found one way for everything that talks to it (the compile
/// stage, the nREPL endpoint's forwarding), so that a patch and the lookups that follow it go
/// to the same server: the `nrepl.endpoint` setting; else the nearest `.nrepl-port` walking up
/// from the file at hand (an app in a subfolder has its own); else the server found last;
/// else the one walking up from the workspace root.
pub struct Locator {
    /// `host:port` from settings.
    endpoint: Option<String>,
    workspace: PathBuf,
    last: Mutex<Option<Located>>,
}

/// A server's address, and the port file it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub addr: String,
    pub port_file: Option<PathBuf>,
}

impl Locator {
    pub fn new(endpoint: Option<String>, workspace: &Path) -> Self {
        Locator { endpoint, workspace: workspace.to_path_buf(), last: Mutex::new(None) }
    }

    /// The server for `near` (a file or directory), or for the work at hand when there is none.
    pub fn locate(&self, near: Option<&Path>) -> Result<Located, NreplError> {
        if let Some(endpoint) = &self.endpoint {
            let (host, port) = crate::config::parse_endpoint(endpoint).ok_or_else(|| NreplError::Refused {
                addr: endpoint.clone(),
                from: None,
                reason: "not host:port".into(),
            })?;
            let host = if host.contains(':') { format!("[{host}]") } else { host };
            return Ok(Located { addr: format!("{host}:{port}"), port_file: None });
        }
        let found = |start: &Path| {
            find_port_file(start)
                .map(|(path, port)| Located { addr: format!("127.0.0.1:{port}"), port_file: Some(path) })
        };
        let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let located = near
            .and_then(found)
            .or_else(|| last.clone())
            .or_else(|| found(&self.workspace))
            .ok_or_else(|| NreplError::NoPortFile { start: near.unwrap_or(&self.workspace).to_path_buf() })?;
        *last = Some(located.clone());
        Ok(located)
    }
}

/// The nearest `.nrepl-port` in `start` (a file or a directory) or one of its ancestors, and
/// the port it holds. An unreadable or malformed file is skipped as if it were absent.
pub fn find_port_file(start: &Path) -> Option<(PathBuf, u16)> {
    let first = if start.is_dir() { Some(start) } else { start.parent() };
    first?.ancestors().find_map(|dir| {
        let path = dir.join(PORT_FILE);
        let port = std::fs::read_to_string(&path).ok()?.trim().parse().ok()?;
        Some((path, port))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_file_found_walking_up() {
        let root = crate::test_dir::TestDir::new("nrepl-port-test");
        let deep = root.join("src/demo");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(find_port_file(&deep.join("core.jank")), None);
        std::fs::write(root.join(PORT_FILE), "4321\n").unwrap();
        assert_eq!(find_port_file(&deep.join("core.jank")), Some((root.join(PORT_FILE), 4321)));
        std::fs::write(root.join("src").join(PORT_FILE), "garbage").unwrap();
        assert_eq!(find_port_file(&deep), Some((root.join(PORT_FILE), 4321)));
    }

    #[test]
    fn one_locator_finds_the_app_s_jank_for_its_files_and_keeps_to_it() {
        let root = crate::test_dir::TestDir::new("nrepl-locate-test");
        std::fs::create_dir_all(root.join("app/src")).unwrap();
        std::fs::write(root.join(PORT_FILE), "1111").unwrap();
        std::fs::write(root.join("app").join(PORT_FILE), "2222").unwrap();
        let at = |l: Result<Located, NreplError>| l.unwrap().addr;
        let locator = Locator::new(None, &root);
        assert_eq!(at(locator.locate(Some(&root.join("app/src/core.jank")))), "127.0.0.1:2222");
        assert_eq!(at(locator.locate(None)), "127.0.0.1:2222", "the one found last");
        assert_eq!(at(Locator::new(None, &root).locate(None)), "127.0.0.1:1111", "nothing found yet: the root's");
        let set = Locator::new(Some("[::1]:7".into()), &root);
        assert_eq!(at(set.locate(Some(&root.join("app/src/core.jank")))), "[::1]:7", "the setting wins");
    }
}
