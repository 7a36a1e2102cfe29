//! Shared by the deliver tests and benchmark: a small Chrome DevTools Protocol client driving
//! real headless Chromium (`cdp`), and fork-shaped side modules, the stand-in main module and
//! the demo app served from a scratch root (`app`), and Debian's Clojure nREPL server
//! (`clojure`).
#![allow(dead_code)] // each test binary uses a different part

pub mod app;
pub mod cdp;
pub mod clojure;
