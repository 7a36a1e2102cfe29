//! jank-hotpatch: hot-patch jank code into WebAssembly pages that are already running.
//!
//! The modules follow the pipeline (see ARCHITECTURE.md):
//! `reader` -> `compile` (through `nrepl`) -> `build` -> `deliver`, orchestrated by
//! `pipeline`, configured by `config`, and driven by editors through `lsp`.

pub mod bench;
pub mod build;
pub mod compile;
pub mod config;
pub mod deliver;
pub mod demo;
pub mod lsp;
pub mod nrepl;
pub mod nrepl_server;
pub mod pipeline;
pub mod reader;
pub mod watch;
