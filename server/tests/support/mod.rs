//! Shared by the deliver tests and benchmark: fork-shaped side modules, the stand-in main
//! module and the demo app served from a scratch root (`app`), and Debian's Clojure nREPL
//! server (`clojure`). The DevTools and LSP clients are in the `test-support` crate.
#![allow(dead_code)] // each test binary uses a different part

pub mod app;
pub mod clojure;
