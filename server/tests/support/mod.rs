//! Shared by the deliver tests and benchmark: fork-shaped side modules, the stand-in main
//! module and the demo app served from a scratch root (`app`), the stand-in runtime linked as
//! the jank fork's bundle script links an app (`bundle`), Debian's Clojure nREPL server
//! (`clojure`), a demo workspace with the stand-in jank in it (`workspace`), and that
//! workspace driven through the LSP server as an editor would (`demo`). The DevTools and LSP
//! clients are in the `test-support` crate.
#![allow(dead_code)] // each test binary uses a different part

pub mod app;
pub mod bundle;
pub mod clojure;
pub mod demo;
pub mod workspace;
