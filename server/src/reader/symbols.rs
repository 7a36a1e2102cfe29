//! The symbols a form mentions: what the pipeline matches against macro names to find the
//! forms that use a macro, and (with their places) what the compile stage points its
//! diagnostics at.
//!
//! Owns: listing symbol tokens outside strings, comments, character literals and `#_` discards.
//! Knows nothing of namespaces or what a symbol resolves to: that is the caller's.

use std::ops::Range;

use super::forms::{kept_tokens, text_of};
use super::lexer::{Atom, Tok};

/// Every symbol token of `text` (one form's source), in order, repeats included. Quoted
/// symbols count too (`'x`): the reader cannot tell code from data without expanding macros.
pub fn symbols(text: &str) -> Vec<&str> {
    kept_tokens(text).filter(|t| t.tok == Tok::Atom(Atom::Symbol)).map(|t| text_of(text, t)).collect()
}

/// A symbol token of a form, with its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolToken<'a> {
    pub text: &'a str,
    /// Byte range in the text it was read from.
    pub range: Range<usize>,
    /// Directly inside `[...]` (a parameter vector, `let` bindings, or a vector's element).
    pub in_vector: bool,
}

/// Every symbol token of `text`, in order, with its place (as [`symbols`] lists them).
pub fn symbol_tokens(text: &str) -> Vec<SymbolToken<'_>> {
    let mut closers = Vec::new();
    let mut found = Vec::new();
    for token in kept_tokens(text) {
        match token.tok {
            Tok::Open(close) => closers.push(close),
            Tok::Close(_) => {
                closers.pop();
            }
            Tok::Atom(Atom::Symbol) => found.push(SymbolToken {
                text: text_of(text, token),
                range: token.start..token.end,
                in_vector: closers.last() == Some(&b']'),
            }),
            _ => {}
        }
    }
    found
}
