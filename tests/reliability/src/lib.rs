//! Reliability and security suite for jank-hotpatch: bad input (`tests/bad_input.rs`), faults
//! (`tests/faults.rs`) and load (`tests/load.rs`), against the real binaries, the stand-in
//! jank, the real toolchain and headless Chromium.
//!
//! This library holds what the test files share: the figures every test reports, the demo
//! workspace and the processes around it. The LSP client and the DevTools client come from
//! the `test-support` crate, shared with the server's tests and the benchmark.

pub mod figures;
pub mod workspace;

pub use test_support::{cdp, lsp_client};
