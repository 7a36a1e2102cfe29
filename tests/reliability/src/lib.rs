//! Reliability and security suite for jank-hotpatch: bad input (`tests/bad_input.rs`), faults
//! (`tests/faults.rs`) and load (`tests/load.rs`), against the real binaries, the stand-in
//! jank, the real toolchain and headless Chromium.
//!
//! This library holds what the test files share: the figures every test reports, the demo
//! workspace and the processes around it. The LSP client and the DevTools client are the
//! server's own test helpers, included by path so that there is one copy of each.

pub mod figures;
pub mod workspace;

#[path = "../../../server/tests/support/cdp.rs"]
pub mod cdp;
#[path = "../../../server/tests/lsp_client/mod.rs"]
pub mod lsp_client;
