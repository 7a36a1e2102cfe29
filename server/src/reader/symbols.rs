//! The symbols a form mentions: what the pipeline matches against macro names to find the
//! forms that use a macro.
//!
//! Owns: listing symbol tokens outside strings, comments, character literals and `#_` discards.
//! Knows nothing of namespaces or what a symbol resolves to: that is the caller's.

use super::forms::{kept_tokens, text_of};
use super::lexer::{Atom, Tok};

/// Every symbol token of `text` (one form's source), in order, repeats included. Quoted
/// symbols count too (`'x`): the reader cannot tell code from data without expanding macros.
pub fn symbols(text: &str) -> Vec<&str> {
    kept_tokens(text).filter(|t| t.tok == Tok::Atom(Atom::Symbol)).map(|t| text_of(text, t)).collect()
}
