//! The compile stage: jank -> C++ through jank's own compiler over nREPL.
//!
//! Owns: loading a file's namespace on the jank side, the `wasm-compile-patch` op, wrapping
//! expressions, mapping jank's errors back into the file. Must not generate code itself
//! (seed problem 3) nor know about LSP, toolchains or pages.
