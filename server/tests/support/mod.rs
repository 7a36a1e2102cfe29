//! Shared by the deliver tests and benchmark: fork-shaped side modules, the stand-in main
//! module and the demo app served from a scratch root (`app`), Debian's Clojure nREPL server
//! (`clojure`), and a demo workspace with the stand-in jank in it (`workspace`). The DevTools
//! and LSP clients are in the `test-support` crate.
#![allow(dead_code)] // each test binary uses a different part

pub mod app;
pub mod clojure;
pub mod workspace;
