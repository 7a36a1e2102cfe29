//! A child process's log (its stderr) read line by line, so that a test waits for the line
//! that proves a state (the stand-in jank listens, it received a compile request) instead of
//! sleeping or polling a file.

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use tokio::sync::mpsc;

/// The lines a child has logged and nobody has waited for yet.
pub struct LogLines {
    lines: mpsc::UnboundedReceiver<String>,
}

impl LogLines {
    /// Reads `log` to its end on a thread (always, so the child never blocks on a full pipe)
    /// and returns once a line containing `ready` was read. `None` when the child's log ended
    /// or `timeout` passed first. Blocking: called where the child is started.
    pub fn read_until_ready(log: impl Read + Send + 'static, ready: &str, timeout: Duration) -> Option<LogLines> {
        let (tx, lines) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let ready = ready.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(log).lines().map_while(Result::ok) {
                if line.contains(&ready) {
                    let _ = ready_tx.send(());
                }
                let _ = tx.send(line);
            }
        });
        ready_rx.recv_timeout(timeout).ok()?;
        Some(LogLines { lines })
    }

    /// Waits up to `timeout` for a line containing `needle` logged since the last wait, and
    /// returns it; `None` when the log ended or the time ran out first.
    pub async fn wait_for(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let found = async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        };
        tokio::time::timeout(timeout, found).await.ok().flatten()
    }
}
