//! The LSP server: the only module that knows LSP and JSON-RPC.
//!
//! Owns: the documents editors have open (ropes, UTF-16 positions), the `jank.*` commands,
//! patch on save, diagnostics (and the pages' runtime errors as diagnostics of their own),
//! `$/progress`, and the `jank/patchStatus` and `jank/serverStatus` notifications. Converts between LSP and the pipeline's plain types
//! (`from_proto` in `documents`, `to_proto`); the pipeline and the stages never see LSP.

mod documents;
pub mod ext;
mod framing;
mod runtime;
mod server;
mod to_proto;

pub use documents::Document;
pub use server::{serve, LspOptions};
