//! jank-hotpatch: hot-patch jank code into WebAssembly pages that are already running.
//!
//! The modules follow the loop (see ARCHITECTURE.md): `reader` -> `compile` (jank, through
//! the `nrepl` client) -> `side_module` (the build stage) -> `check` -> `deliver`, under the
//! contracts of `stages` and, between the sidecar and the page's main module, of
//! `main_module`; orchestrated by `pipeline`, configured by `config`, assembled by `app`
//! (the composition root) and driven by the `front` ends (LSP, the nREPL endpoint, watch,
//! demo) and `doctor`.

pub mod app;
pub mod check;
pub mod compile;
pub mod config;
pub mod deliver;
pub mod doctor;
pub mod front;
pub mod main_module;
pub mod nrepl;
pub mod pipeline;
pub mod reader;
pub mod side_module;
pub mod stages;

#[cfg(test)]
pub(crate) mod test_dir;
