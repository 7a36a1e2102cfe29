//! An nREPL client (bencode over TCP): sessions, ops, replies gathered until `done`.
//!
//! Owns: the bencode codec ([`codec`], the only user of `bendy`), connections and the
//! reader task that matches replies to requests by `id` ([`client`]), request timeouts and
//! the reply size limit, reconnecting ([`connection`]), `.nrepl-port` discovery.
//! Knows nothing about jank, patches or LSP: `compile` gives it meaning.

pub mod client;
pub mod codec;
pub mod connection;

use std::path::{Path, PathBuf};
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
        let root = std::env::temp_dir().join(format!("nrepl-port-test-{}", std::process::id()));
        let deep = root.join("src/demo");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(find_port_file(&deep.join("core.jank")), None);
        std::fs::write(root.join(PORT_FILE), "4321\n").unwrap();
        assert_eq!(find_port_file(&deep.join("core.jank")), Some((root.join(PORT_FILE), 4321)));
        std::fs::write(root.join("src").join(PORT_FILE), "garbage").unwrap();
        assert_eq!(find_port_file(&deep), Some((root.join(PORT_FILE), 4321)));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
