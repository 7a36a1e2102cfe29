//! Shared by the deliver tests and benchmark: fork-shaped side modules, the stand-in main
//! module and the demo app served from a scratch root (`app`); the demo workspace with the
//! stand-in jank and the LSP server (`demo`). The DevTools and LSP clients are in the
//! `test-support` crate.
#![allow(dead_code)] // each test binary uses a different part

pub mod app;
pub mod demo;
