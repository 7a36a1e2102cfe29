//! Which jank the stand-in plays (`--mode`), and the replies that differ between them.
//!
//! - `contract`: what the sidecar's design asks of jank: `wasm-compile-patch` analyses in the
//!   requested namespace, its errors carry `line`/`column`, `describe` lists it.
//! - `fork`: pfeodrippe/jank branch `nrepl` as it is (`nrepl_server/ops/wasm_compile_patch.hpp`):
//!   the op analyses in `user` whatever `ns` says, its errors carry no position, `patch-id`
//!   counts only as a decimal string, `describe` does not list it, unknown ops are
//!   `{err unknown-op, status [unsupported done]}`.
//! - `upstream`: jank-lang/jank's nREPL server (`src/jank/jank/nrepl/server/`): no op at all,
//!   UUID sessions that keep no namespace, ops clone, close, describe, eval, load-file, lookup,
//!   completions; as of August 2026 or September 2026 (`--upstream-version`, [`Upstream`]).

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

/// Which of upstream's nREPL servers `upstream` plays (`--upstream-version`).
///
/// - `2026-08` (main of 2026-08-19, the newest source we can read): `eval` errors put the
///   message in `value` (`{value (str *e), status [done eval-error]}`), no `ex`; blank `out` and
///   `err` always sent; `completions` lists the public vars of the `ns` namespace only.
/// - `2026-09` (pull requests #989 and #998, known from their descriptions and one later
///   version of `handler/eval.jank`): `out`/`err` only when not blank; an error is
///   `{err (str *e)}` then `{ex (str *e), status [done eval-error]}`, no `value`, and `*e` is
///   always an `exception_info`, printed as jank prints one (`#error {:cause "..." ...}`);
///   `completions` also lists the vars the namespace refers (`clojure.core` too) and the
///   special forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upstream {
    August2026,
    September2026,
}

impl Upstream {
    pub const NAMES: &'static str = "2026-08, 2026-09";

    pub fn parse(name: &str) -> Option<Upstream> {
        match name {
            "2026-08" => Some(Upstream::August2026),
            "2026-09" => Some(Upstream::September2026),
            _ => None,
        }
    }
}
