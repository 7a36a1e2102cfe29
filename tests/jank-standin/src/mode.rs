//! Which jank the stand-in plays (`--mode`), and the replies that differ between them.
//!
//! - `contract`: what the sidecar's design asks of jank: `wasm-compile-patch` analyses in the
//!   requested namespace, its errors carry `line`/`column`, `describe` lists it.
//! - `fork`: pfeodrippe/jank branch `nrepl` as it is (`nrepl_server/ops/wasm_compile_patch.hpp`):
//!   the op analyses in `user` whatever `ns` says, its errors carry no position, `patch-id`
//!   counts only as a decimal string, `describe` does not list it, unknown ops are
//!   `{err unknown-op, status [unsupported done]}`.
//! - `upstream`: jank-lang/jank's nREPL server (`src/jank/jank/nrepl/server/`): no op at all,
//!   `eval` errors with the message in `value`, blank `out`/`err` always sent, UUID sessions
//!   that keep no namespace, ops clone, close, describe, eval, load-file, lookup, completions.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Contract,
    Fork,
    Upstream,
}

impl Mode {
    pub const NAMES: &'static str = "contract, fork, upstream";

    pub fn parse(name: &str) -> Option<Mode> {
        match name {
            "contract" => Some(Mode::Contract),
            "fork" => Some(Mode::Fork),
            "upstream" => Some(Mode::Upstream),
            _ => None,
        }
    }

    /// The ops this jank answers, as its `describe` lists them.
    pub fn described_ops(self) -> &'static [&'static str] {
        match self {
            Mode::Contract => &["clone", "close", "describe", "eval", "interrupt", "load-file", "wasm-compile-patch"],
            // The fork answers the op but leaves it out of `describe`.
            Mode::Fork => &["clone", "close", "describe", "eval", "interrupt", "load-file"],
            Mode::Upstream => &["clone", "close", "completions", "describe", "eval", "load-file", "lookup"],
        }
    }

    /// Whether the op is answered at all (the fork answers it without listing it).
    pub fn answers(self, op: &str) -> bool {
        self.described_ops().contains(&op) || (self == Mode::Fork && op == "wasm-compile-patch")
    }

    /// What `describe` says this server is.
    pub fn stands_in_for(self) -> &'static str {
        match self {
            Mode::Contract => "jank with the wasm-compile-patch op as jank-hotpatch's design asks (the contract)",
            Mode::Fork => "jank's nREPL server as in pfeodrippe/jank branch nrepl (the fork)",
            Mode::Upstream => "jank's nREPL server as in jank-lang/jank main (upstream, no wasm op)",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Contract => "contract",
            Mode::Fork => "fork",
            Mode::Upstream => "upstream",
        })
    }
}
