//! The normalized text of a form: its tokens with comments and `#_` discards removed and
//! whitespace reduced to what keeps the tokens apart, so that two texts normalize alike
//! exactly when they read as the same tokens.

use super::forms::{kept_tokens, text_of};
use super::lexer::{Prefix, Tok, Token};

/// `text` is one form's source.
pub(crate) fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous: Option<Token> = None;
    for token in kept_tokens(text) {
        if previous.is_some_and(|previous| needs_space(text, previous, token)) {
            out.push(' ');
        }
        out.push_str(text_of(text, token));
        previous = Some(token);
    }
    out
}

/// Whether a space goes between two tokens: always, except after an opening delimiter or
/// a reader prefix and before a closing delimiter, where none is needed to keep them apart.
fn needs_space(text: &str, previous: Token, next: Token) -> bool {
    match (previous.tok, next.tok) {
        (Tok::Open(_), _) | (_, Tok::Close(_)) => false,
        // `~ @a` is not `~@a`, `#? @(...)` is not `#?@(...)`.
        (Tok::Prefix(Prefix::Unquote | Prefix::Conditional), _) => text.as_bytes().get(next.start) == Some(&b'@'),
        // A tag or a namespaced-map prefix is a name: it would run on into a name after it.
        (Tok::Prefix(Prefix::Tag | Prefix::NamespacedMap), _) => true,
        (Tok::Prefix(_) | Tok::Meta, _) => false,
        _ => true,
    }
}
