//! The LSP server: the only module that knows LSP and JSON-RPC.
