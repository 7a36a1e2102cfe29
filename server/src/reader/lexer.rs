//! Byte-level tokenizer for jank (Clojure syntax) source.
//!
//! Owns: splitting text into tokens and the errors of a single token (an unterminated
//! string). Knows nothing about forms or nesting: that is `forms.rs`. Allocates nothing
//! per token.
//!
//! Every token boundary lies on an ASCII byte or at the end of the text (a character
//! literal takes its whole first character), so slicing the text at token boundaries
//! never splits a UTF-8 character.

use super::ReadError;

/// A token, without its text: `text[start..end]` is its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// `(`, `[`, `{`, `#(`, `#{`; holds the byte that closes it.
    Open(u8),
    /// `)`, `]` or `}`.
    Close(u8),
    Atom(Atom),
    /// A reader prefix that applies to the one form after it.
    Prefix(Prefix),
    /// `^` or `#^`: applies the form after it as metadata to the form after that.
    Meta,
    /// `#_`: the form after it is skipped.
    Discard,
    Eof,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Atom {
    Symbol,
    Keyword,
    Number,
    Char,
    Str,
    Regex,
    /// `##Inf`, `##-Inf`, `##NaN`.
    Symbolic,
    /// A lone `#` or `#<...`: not readable (jank will say so), kept as one token.
    Unreadable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prefix {
    Quote,
    SyntaxQuote,
    Unquote,
    UnquoteSplicing,
    Deref,
    VarQuote,
    Eval,
    /// `#?` or `#?@`.
    Conditional,
    /// `#:ns` or `#::ns`, before a map.
    NamespacedMap,
    /// `#inst`, `#my/tag`: a tagged literal.
    Tag,
}

const WHITESPACE: u8 = 1;
/// Characters that end a symbol, number, keyword or character literal (Clojure's
/// terminating macro characters). `#`, `'` and `%` are not among them: `a'b` is a symbol.
const TERMINATING: u8 = 2;

/// Bytes that `next_delimiter` passes over without a look: all but delimiters, `"`, `\\`,
/// `;` and `#` (for `#"`).
const SKIPPED: u8 = 4;

static CLASS: [u8; 256] = {
    let mut class = [SKIPPED; 256];
    let spaces = b" \t\n\r\x0b\x0c,";
    let mut i = 0;
    while i < spaces.len() {
        class[spaces[i] as usize] = WHITESPACE | SKIPPED;
        i += 1;
    }
    let terminating = b"\";@^`~()[]{}\\";
    let mut i = 0;
    while i < terminating.len() {
        class[terminating[i] as usize] = TERMINATING;
        i += 1;
    }
    class[b'#' as usize] = 0;
    class[b'@' as usize] = TERMINATING | SKIPPED;
    class[b'^' as usize] = TERMINATING | SKIPPED;
    class[b'`' as usize] = TERMINATING | SKIPPED;
    class[b'~' as usize] = TERMINATING | SKIPPED;
    class
};

fn is_constituent(byte: u8) -> bool {
    CLASS[byte as usize] & (WHITESPACE | TERMINATING) == 0
}

/// Length of the UTF-8 character that starts with `lead`.
fn char_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

pub(crate) struct Lexer<'a> {
    pub text: &'a str,
    bytes: &'a [u8],
    pub pos: usize,
    pub errors: Vec<ReadError>,
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Self {
        Lexer { text, bytes: text.as_bytes(), pos: 0, errors: Vec::new() }
    }

    pub fn error(&mut self, start: usize, end: usize, message: String) {
        self.errors.push(ReadError { range: start..end, message });
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    /// The end of the run of symbol characters from `from`.
    fn run_end(&self, from: usize) -> usize {
        let mut end = from;
        while end < self.bytes.len() && is_constituent(self.bytes[end]) {
            end += 1;
        }
        end
    }

    /// Skips whitespace, `;` comments and a `#!` first line.
    fn skip_trivia(&mut self) {
        let bytes = self.bytes;
        while self.pos < bytes.len() {
            let byte = bytes[self.pos];
            if CLASS[byte as usize] & WHITESPACE != 0 {
                self.pos += 1;
            } else if byte == b';' || (self.pos == 0 && bytes.starts_with(b"#!")) {
                self.pos = self.line_end(self.pos);
            } else {
                return;
            }
        }
    }

    /// The next token that is not whitespace or a comment.
    pub fn next_token(&mut self) -> Token {
        self.skip_trivia();
        let start = self.pos;
        let Some(byte) = self.byte(start) else {
            return Token { tok: Tok::Eof, start, end: start };
        };
        let (tok, end) = match byte {
            b'(' => (Tok::Open(b')'), start + 1),
            b'[' => (Tok::Open(b']'), start + 1),
            b'{' => (Tok::Open(b'}'), start + 1),
            b')' | b']' | b'}' => (Tok::Close(byte), start + 1),
            b'"' => (Tok::Atom(Atom::Str), self.string_end(start, start + 1)),
            b'\\' => (Tok::Atom(Atom::Char), self.char_end(start)),
            b'\'' => (Tok::Prefix(Prefix::Quote), start + 1),
            b'`' => (Tok::Prefix(Prefix::SyntaxQuote), start + 1),
            b'~' if self.byte(start + 1) == Some(b'@') => (Tok::Prefix(Prefix::UnquoteSplicing), start + 2),
            b'~' => (Tok::Prefix(Prefix::Unquote), start + 1),
            b'@' => (Tok::Prefix(Prefix::Deref), start + 1),
            b'^' => (Tok::Meta, start + 1),
            b'#' => self.dispatch(start),
            b':' => (Tok::Atom(Atom::Keyword), self.run_end(start + 1)),
            b'0'..=b'9' => (Tok::Atom(Atom::Number), self.run_end(start + 1)),
            b'+' | b'-' if self.byte(start + 1).is_some_and(|b| b.is_ascii_digit()) => {
                (Tok::Atom(Atom::Number), self.run_end(start + 1))
            }
            // Everything else starts a symbol; every terminating byte is matched above.
            _ => (Tok::Atom(Atom::Symbol), self.run_end(start + 1).max(start + char_len(byte))),
        };
        self.pos = end;
        Token { tok, start, end }
    }

    /// After a `#`.
    fn dispatch(&mut self, start: usize) -> (Tok, usize) {
        let after = start + 2;
        match self.byte(start + 1) {
            Some(b'(') => (Tok::Open(b')'), after),
            Some(b'{') => (Tok::Open(b'}'), after),
            Some(b'"') => (Tok::Atom(Atom::Regex), self.string_end(start, after)),
            Some(b'\'') => (Tok::Prefix(Prefix::VarQuote), after),
            Some(b'_') => (Tok::Discard, after),
            Some(b'=') => (Tok::Prefix(Prefix::Eval), after),
            Some(b'^') => (Tok::Meta, after),
            Some(b'#') => (Tok::Atom(Atom::Symbolic), self.run_end(after)),
            Some(b'?') if self.byte(after) == Some(b'@') => (Tok::Prefix(Prefix::Conditional), after + 1),
            Some(b'?') => (Tok::Prefix(Prefix::Conditional), after),
            Some(b':') => (Tok::Prefix(Prefix::NamespacedMap), self.run_end(after)),
            Some(b'<') => (Tok::Atom(Atom::Unreadable), self.run_end(after)),
            Some(b) if is_constituent(b) => (Tok::Prefix(Prefix::Tag), self.run_end(start + 1)),
            _ => (Tok::Atom(Atom::Unreadable), start + 1),
        }
    }

    /// The next opening or closing delimiter (or the end), skipping everything else: a
    /// faster `next_token` for reading past a collection's insides. An opening `#(` or
    /// `#{` is returned as its `(` or `{`.
    pub fn next_delimiter(&mut self) -> Token {
        let bytes = self.bytes;
        let mut at = self.pos;
        loop {
            at += bytes[at..].iter().position(|&b| CLASS[b as usize] & SKIPPED == 0).unwrap_or(bytes.len() - at);
            let Some(&byte) = bytes.get(at) else {
                self.pos = at;
                return Token { tok: Tok::Eof, start: at, end: at };
            };
            let tok = match byte {
                b'(' => Tok::Open(b')'),
                b'[' => Tok::Open(b']'),
                b'{' => Tok::Open(b'}'),
                b')' | b']' | b'}' => Tok::Close(byte),
                _ => {
                    at = match byte {
                        b'"' => self.string_end(at, at + 1),
                        b'\\' => self.char_end(at),
                        b';' => self.line_end(at),
                        b'#' if bytes.get(at + 1) == Some(&b'"') => self.string_end(at, at + 2),
                        _ => at + 1,
                    };
                    continue;
                }
            };
            self.pos = at + 1;
            return Token { tok, start: at, end: at + 1 };
        }
    }

    fn line_end(&self, from: usize) -> usize {
        self.bytes[from..].iter().position(|&b| b == b'\n').map_or(self.bytes.len(), |n| from + n)
    }

    /// The end of a string (or regex) whose opening delimiter spans `open..body`.
    fn string_end(&mut self, open: usize, body: usize) -> usize {
        let bytes = self.bytes;
        let mut at = body;
        while let Some(found) = bytes.get(at..).and_then(|rest| rest.iter().position(|&b| b == b'"' || b == b'\\')) {
            at += found;
            if bytes[at] == b'"' {
                return at + 1;
            }
            // The escaped byte is skipped; if it leads a multibyte character, its
            // continuation bytes are never `"` or `\`, so the scan stays correct.
            at += 2;
        }
        let what = if body - open == 2 { "regex" } else { "string" };
        self.error(open, body, format!("unterminated {what}: add the closing `\"`"));
        bytes.len()
    }

    /// The end of a character literal at `start` (`\a`, `\(`, `\newline`, `\u00e9`, `\é`).
    fn char_end(&mut self, start: usize) -> usize {
        let Some(first) = self.byte(start + 1) else {
            self.error(start, start + 1, "a `\\` at the end of the file: a character literal needs a character".into());
            return start + 1;
        };
        // The first character is taken whatever it is (`\(`, `\"`); then the name runs on.
        self.run_end(start + 1 + char_len(first))
    }
}
