//! The symbols a form mentions: what the pipeline matches against macro names to find the
//! forms that use a macro.
//!
//! Owns: listing symbol tokens outside strings, comments, character literals and `#_` discards.
//! Knows nothing of namespaces or what a symbol resolves to: that is the caller's.

use super::forms::{text_of, Reader};
use super::lexer::{Atom, Tok};

/// Every symbol token of `text` (one form's source), in order, repeats included. Quoted
/// symbols count too (`'x`): the reader cannot tell code from data without expanding macros.
pub fn symbols(text: &str) -> Vec<&str> {
    let mut reader = Reader::new(text);
    let mut out = Vec::new();
    loop {
        let token = reader.lex.next_token();
        match token.tok {
            Tok::Eof => return out,
            Tok::Discard => {
                reader.read_form();
            }
            Tok::Atom(Atom::Symbol) => out.push(text_of(text, token)),
            _ => {}
        }
    }
}
