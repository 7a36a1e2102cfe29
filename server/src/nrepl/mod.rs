//! An nREPL client (bencode over TCP): sessions, ops, replies gathered until `done`.
//!
//! Owns: the bencode codec, connections, request ids, timeouts, `.nrepl-port` discovery.
//! Knows nothing about jank, patches or LSP: `compile` gives it meaning.
