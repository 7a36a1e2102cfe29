//! The build and check stages: C++ -> wasm side module, and its imports against the main
//! module's exports.
//!
//! Owns: toolchain discovery and flags, the precompiled header, the content-addressed build
//! cache, reading wasm import/export sections. Must not know about jank, nREPL, LSP or pages.
