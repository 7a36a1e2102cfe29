//! A demo workspace (`jank-hotpatch demo --prepare`); the stand-in jank to run in it is
//! `test_support::standin`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

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
