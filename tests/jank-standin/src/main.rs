//! STAND-IN FOR JANK: not jank. A small nREPL server that speaks jank's protocol (and the
//! `wasm-compile-patch` op of the jank fork the seed used) for tests and the demo.
fn main() {}
