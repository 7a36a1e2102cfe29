//! Reads forms out of tokens: where each form starts and ends, delimiter errors, and the
//! kind and name of top-level forms.
//!
//! Owns: the form structure (collections, reader prefixes, metadata, `#_` discards). Does
//! not build a syntax tree: collections are skipped with a delimiter stack, without
//! recursion or allocation per form; the few places that need a form's insides (its head,
//! a def's name, a comment's body, the `ns` form) read them again from its start.

use std::ops::Range;

use super::lexer::{Atom, Lexer, Tok, Token};
use super::{Form, FormKind, LoadHook};

/// How deep `(comment ...)` forms may nest and still have their bodies read (one level of
/// recursion per comment).
const MAX_COMMENT_DEPTH: usize = 16;

/// One form as read: its range and its core token, the first token that is not metadata
/// (for `^:private (defn f ...)` the `(`; for `'x` the `'`).
pub(crate) struct Span {
    pub range: Range<usize>,
    pub core: Option<Token>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// A reader prefix (`'`, `#'`, `#inst`, ...) waiting for its form.
    Prefix,
    /// `^`: waiting for the metadata, then for the form it applies to.
    Meta,
    /// `#_`: waiting for the form it drops.
    Discard,
}

struct Pending {
    waiting: Waiting,
    /// Forms still to read.
    need: u8,
    token: Token,
}

pub(crate) struct Reader<'a> {
    pub lex: Lexer<'a>,
    /// Reused by `read_form` (never re-entered).
    pending: Vec<Pending>,
    /// Reused by `skip_collection` (never re-entered).
    opens: Vec<Token>,
}

/// The tokens of `text` in order, without the forms `#_` discards (nor the `#_` itself).
pub(crate) fn kept_tokens(text: &str) -> impl Iterator<Item = Token> + '_ {
    let mut reader = Reader::new(text);
    std::iter::from_fn(move || loop {
        let token = reader.lex.next_token();
        match token.tok {
            Tok::Eof => return None,
            Tok::Discard => {
                reader.read_form();
            }
            _ => return Some(token),
        }
    })
}

/// The text of a token; empty if its range were ever off a character boundary.
pub(crate) fn text_of(text: &str, token: Token) -> &str {
    text.get(token.start..token.end).unwrap_or_default()
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Self {
        Reader { lex: Lexer::new(text), pending: Vec::new(), opens: Vec::new() }
    }

    /// Reads one whole form, with its metadata and prefixes, skipping `#_` discards before
    /// and inside it. `None` at the end of the text or before a closing delimiter (which is
    /// left unread for the caller).
    pub fn read_form(&mut self) -> Option<Span> {
        self.pending.clear();
        let mut start = None;
        let mut end = 0;
        let mut core = None;
        // Pending discards: what is read under one is not part of the form.
        let mut discards = 0usize;
        // Pending entries other than metadata already read (waiting for its target):
        // while it is zero, the next token is the form's core.
        let mut off_target = 0usize;
        loop {
            let token = self.lex.next_token();
            let counted = discards == 0;
            let waiting = match token.tok {
                Tok::Eof | Tok::Close(_) => {
                    self.lex.pos = token.start;
                    if let Some(pending) = self.pending.last() {
                        let prefix = text_of(self.lex.text, pending.token).to_string();
                        let token = pending.token;
                        self.lex.error(token.start, token.end, format!("`{prefix}` needs a form after it"));
                    }
                    return start.map(|start| Span { range: start..end, core });
                }
                Tok::Discard => Some((Waiting::Discard, 1)),
                Tok::Meta => Some((Waiting::Meta, 2)),
                Tok::Prefix(_) => Some((Waiting::Prefix, 1)),
                Tok::Open(_) | Tok::Atom(_) => None,
            };
            if counted && token.tok != Tok::Discard {
                start.get_or_insert(token.start);
                end = token.end;
            }
            if off_target == 0 && core.is_none() && !matches!(token.tok, Tok::Meta | Tok::Discard) {
                core = Some(token);
            }
            if let Some((waiting, need)) = waiting {
                discards += usize::from(waiting == Waiting::Discard);
                off_target += 1;
                self.pending.push(Pending { waiting, need, token });
                continue;
            }
            if let Tok::Open(_) = token.tok {
                let close = self.skip_collection(token);
                if counted {
                    end = close;
                }
            }
            // A whole form was read: it fills the innermost pending slot, which may
            // complete in turn and fill the slot under it.
            loop {
                let Some(top) = self.pending.last_mut() else {
                    return Some(Span { range: start.unwrap_or(token.start)..end, core });
                };
                top.need -= 1;
                if top.waiting == Waiting::Meta && top.need == 1 {
                    off_target -= 1;
                }
                if top.need > 0 {
                    break;
                }
                let waiting = top.waiting;
                self.pending.pop();
                match waiting {
                    Waiting::Discard => {
                        discards -= 1;
                        off_target -= 1;
                        break;
                    }
                    Waiting::Prefix => off_target -= 1,
                    Waiting::Meta => {}
                }
            }
        }
    }

    /// Reads past the collection that `open` opens; returns its end. A mismatched closer
    /// is an error and closes the innermost collection.
    fn skip_collection(&mut self, open: Token) -> usize {
        let mut opens = std::mem::take(&mut self.opens);
        opens.clear();
        opens.push(open);
        let mut last_end = open.end;
        let end = loop {
            let token = self.lex.next_delimiter();
            match token.tok {
                Tok::Open(_) => opens.push(token),
                Tok::Close(close) => {
                    if let Some(open) = opens.pop() {
                        if open.tok != Tok::Open(close) {
                            self.mismatched(open, token);
                        }
                    }
                    if opens.is_empty() {
                        break token.end;
                    }
                }
                Tok::Eof => {
                    for open in opens.drain(..) {
                        self.unclosed(open);
                    }
                    break self.rescan(last_end, |reader| reader.last_token_end(last_end));
                }
                _ => {}
            }
            last_end = token.end;
        };
        self.opens = opens;
        end
    }

    /// The end of the last token from here to the end of the text (`from` if none).
    fn last_token_end(&mut self, from: usize) -> usize {
        let mut end = from;
        loop {
            let token = self.lex.next_token();
            if token.tok == Tok::Eof {
                return end;
            }
            end = token.end;
        }
    }

    fn unclosed(&mut self, open: Token) {
        let text = text_of(self.lex.text, open);
        let close = closer(open);
        self.lex.error(open.start, open.end, format!("unclosed `{text}`: add the matching `{close}`"));
    }

    fn mismatched(&mut self, open: Token, close: Token) {
        let (opened, found, expected) = (text_of(self.lex.text, open), text_of(self.lex.text, close), closer(open));
        let message = format!("mismatched `{found}`: the `{opened}` before it is closed by `{expected}`");
        self.lex.error(close.start, close.end, message);
    }

    /// Reads forms until the end of the text (`depth` 0, where a stray closing delimiter is
    /// an error) or until the closing delimiter of the enclosing comment body.
    pub fn read_forms(&mut self, depth: usize) -> Vec<Form> {
        let mut forms = Vec::new();
        loop {
            if let Some(span) = self.read_form() {
                let form = self.form(span, depth);
                forms.push(form);
                continue;
            }
            if depth > 0 {
                return forms;
            }
            let token = self.lex.next_token();
            match token.tok {
                Tok::Eof => return forms,
                Tok::Close(_) => {
                    let text = text_of(self.lex.text, token);
                    let message = format!("unmatched `{text}`: remove it or add its opening delimiter");
                    self.lex.error(token.start, token.end, message);
                }
                _ => {}
            }
        }
    }

    /// A form's kind, name and (for comments) body.
    fn form(&mut self, span: Span, depth: usize) -> Form {
        let mut form =
            Form { range: span.range, kind: FormKind::Expression, name: None, load_hook: None, children: Vec::new() };
        let Some(core) = span.core.filter(|core| core.tok == Tok::Open(b')') && core.end - core.start == 1) else {
            return form;
        };
        self.rescan(core.end, |reader| {
            let Some(head) = reader.read_form().and_then(|head| head.core) else { return };
            if head.tok != Tok::Atom(Atom::Symbol) {
                return;
            }
            match text_of(reader.lex.text, head) {
                "ns" => form.kind = FormKind::Ns,
                "comment" => {
                    form.kind = FormKind::Comment;
                    if depth < MAX_COMMENT_DEPTH {
                        form.children = reader.read_forms(depth + 1);
                    }
                }
                head if head.starts_with("def") => {
                    form.kind = FormKind::Def(head.into());
                    let Some(span) = reader.read_form() else { return };
                    let Some(name) = span.core.filter(|name| name.tok == Tok::Atom(Atom::Symbol)) else { return };
                    form.name = Some(text_of(reader.lex.text, name).to_string());
                    form.load_hook = reader.rescan(span.range.start, |meta| meta.load_hook_before(name.start));
                }
                _ => {}
            }
        });
        form
    }

    /// The load hook named by a keyword in the metadata read from here up to `end` (a def's
    /// name): `^:dev/after-load` or a key of `^{...}`.
    fn load_hook_before(&mut self, end: usize) -> Option<LoadHook> {
        let mut hook = None;
        loop {
            let token = self.lex.next_token();
            if token.start >= end || token.tok == Tok::Eof {
                return hook;
            }
            if token.tok == Tok::Atom(Atom::Keyword) {
                match text_of(self.lex.text, token) {
                    ":dev/before-load" => hook = Some(LoadHook::BeforeLoad),
                    ":dev/after-load" => hook = Some(LoadHook::AfterLoad),
                    _ => {}
                }
            }
        }
    }

    /// Runs `read` from `from`, then puts the lexer back and drops the errors found on the
    /// way: the first pass over that text reported them already.
    pub fn rescan<T>(&mut self, from: usize, read: impl FnOnce(&mut Self) -> T) -> T {
        let (pos, errors) = (self.lex.pos, self.lex.errors.len());
        self.lex.pos = from;
        let value = read(self);
        self.lex.pos = pos;
        self.lex.errors.truncate(errors);
        value
    }
}

fn closer(open: Token) -> char {
    match open.tok {
        Tok::Open(close) => char::from(close),
        _ => ')',
    }
}
