//! The front ends: the ways people drive the pipeline. Each assembles the stages through
//! [`crate::app::start`] and shows [`crate::pipeline::PatchReport`]s in its own terms.
//!
//! Owns: `lsp` (editors; the only module that knows LSP types), `nrepl_endpoint` (CIDER, Calva
//! and Conjure), `watch` (save without an editor) and `demo`. Must not name concrete stages:
//! that is `app`'s job.

pub mod demo;
pub mod lsp;
pub mod nrepl_endpoint;
pub mod watch;
