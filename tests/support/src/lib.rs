//! What the server's integration tests, the reliability suite and the benchmark share, so that
//! each client exists once: an LSP client driving the real `jank-hotpatch lsp` binary
//! (`lsp_client`), a Chrome DevTools Protocol client driving real headless Chromium (`cdp`,
//! with the one list of flags in `chromium`), a child's log read line by line (`log_lines`),
//! percentiles for measurements (`stats`), and the stand-in jank started in a workspace
//! (`standin`).
//!
//! Must not depend on the `jank-hotpatch` crate: it talks to the sidecar only as an editor or a
//! browser would.

pub mod cdp;
pub mod chromium;
pub mod log_lines;
pub mod lsp_client;
pub mod standin;
pub mod stats;
