//! Debian's real Clojure nREPL server (`apt-get install clojure libnrepl-clojure`): a real
//! nREPL server, without jank's `wasm-compile-patch` op.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts it in `dir`, where it writes `.nrepl-port`, and waits (up to 60 s: it takes seconds
/// to start) for its port.
pub fn start_clojure_nrepl(dir: &Path) -> (Child, u16) {
    let mut child = Command::new("java")
        .args(["-cp", "/usr/share/java/clojure.jar:/usr/share/java/nrepl.jar", "clojure.main", "-m", "nrepl.cmdline"])
        .args(["--bind", "127.0.0.1", "--port", "0"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("java (apt-get install clojure libnrepl-clojure)");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let port = std::fs::read_to_string(dir.join(".nrepl-port")).ok().and_then(|s| s.trim().parse().ok());
        if let Some(port) = port {
            return (child, port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("nREPL did not write {}/.nrepl-port within 60 s", dir.display());
}
