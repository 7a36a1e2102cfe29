//! A demo workspace (`jank-hotpatch demo --prepare`) and the stand-in jank running in it, in
//! the mode the test asks for (`tests/jank-standin`; needs `cargo build -p jank-standin`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use test_support::lsp_client::temp_workspace;

/// A fresh demo workspace: the app, its main module linked, the jank file.
pub fn prepare_demo(name: &str) -> PathBuf {
    let dir = temp_workspace(name);
    let status = Command::new(env!("CARGO_BIN_EXE_jank-hotpatch"))
        .args(["demo", "--prepare"])
        .arg(&dir)
        .stdout(Stdio::null())
        .status()
        .expect("run jank-hotpatch demo --prepare");
    assert!(status.success());
    dir
}

/// The stand-in jank serving `dir` (it writes `.nrepl-port` there); stopped on drop.
pub struct Standin(Child);

impl Standin {
    pub fn start(dir: &Path, mode: &str) -> Standin {
        let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/jank-standin");
        assert!(binary.exists(), "{} is missing: run `cargo build -p jank-standin` first", binary.display());
        let _ = std::fs::remove_file(dir.join(".nrepl-port"));
        let child = Command::new(binary)
            .args(["--mode", mode])
            .current_dir(dir)
            .stderr(Stdio::null())
            .spawn()
            .expect("start jank-standin");
        for _ in 0..100 {
            if dir.join(".nrepl-port").exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Standin(child)
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
