//! Reads jank source (Clojure syntax) into top-level forms and the file's namespace.
//!
//! Owns: tokenizing and delimiting forms, form kinds and def names, the `ns` form, the
//! form at a position, and syntax errors. Works on `&str` and byte offsets only: it must
//! not know about LSP positions, ropes, files or any later stage. It never panics, on any
//! input.
//!
//! `lexer` splits the text into tokens; `forms` reads forms from them (skipping the insides
//! of collections with a delimiter stack, no syntax tree); `ns` reads the `ns` form;
//! `normalize` gives a form's text without layout or comments; `symbols` the symbols it
//! mentions.

mod forms;
mod lexer;
mod normalize;
mod ns;
mod symbols;
#[cfg(test)]
mod tests;

use std::ops::Range;

use serde::{Deserialize, Serialize};

use forms::Reader;
pub use symbols::{symbol_tokens, symbols, SymbolToken};

/// A whole file, read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceFile {
    /// Every top-level form, in order (discarded `#_` forms and comments excluded).
    pub forms: Vec<Form>,
    pub namespace: Namespace,
    /// Unbalanced or malformed input, each at the offending delimiter.
    pub errors: Vec<ReadError>,
}

/// A top-level form.
#[derive(Clone, Debug, PartialEq)]
pub struct Form {
    /// Byte range in the file, from the first character of the form (including any
    /// metadata or reader prefix) to just after its last character.
    pub range: Range<usize>,
    pub kind: FormKind,
    /// For def-like forms, the defined name (without metadata).
    pub name: Option<String>,
    /// For def-like forms whose name carries `^:dev/before-load` or `^:dev/after-load` (also
    /// as keys of a `^{...}` map): a function the page calls around every batch of patches.
    pub load_hook: Option<LoadHook>,
    /// For `(comment ...)` forms only: the forms of its body, read as top-level forms.
    pub children: Vec<Form>,
}

/// When the page calls a load hook (shadow-cljs' names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LoadHook {
    /// `^:dev/before-load`: before the batch's first patch is loaded.
    BeforeLoad,
    /// `^:dev/after-load`: after its last.
    AfterLoad,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FormKind {
    /// `(def ...)`, `(defn ...)`, `(defonce ...)`, `(defmacro ...)`, any `(def* ...)`.
    Def(DefKind),
    /// The `(ns ...)` form.
    Ns,
    /// `(comment ...)`.
    Comment,
    /// Anything else: an expression to evaluate.
    Expression,
}

/// Which definition form a `def*` is: the ones the pipeline treats apart by name, any other
/// `def*` head (`defn-`, a library's `defsomething`) as written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DefKind {
    Def,
    Defn,
    /// Sent once: a later save does not patch it again.
    Defonce,
    /// Evaluated on the jank side only; pages never run a macro.
    Defmacro,
    Other(String),
}

impl From<&str> for DefKind {
    fn from(head: &str) -> Self {
        match head {
            "def" => DefKind::Def,
            "defn" => DefKind::Defn,
            "defonce" => DefKind::Defonce,
            "defmacro" => DefKind::Defmacro,
            other => DefKind::Other(other.to_string()),
        }
    }
}

/// The namespace a file declares. A file without an `ns` form is `Missing`: the compile
/// stage must refuse it, never fall back to `user` (problem 2 in ARCHITECTURE.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Namespace {
    Declared(NsDecl),
    #[default]
    Missing,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NsDecl {
    pub name: String,
    pub docstring: Option<String>,
    pub requires: Vec<Require>,
    /// Byte range of the whole `ns` form.
    pub range: Range<usize>,
    /// The `ns` form's text with whitespace and comments normalized away: it changes
    /// exactly when the namespace's declaration (and so its requires) changes.
    pub normalized: String,
}

/// One required namespace, from `(:require ...)`, with prefix lists expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Require {
    pub ns: String,
    pub alias: Option<String>,
    pub refer: Refer,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Refer {
    #[default]
    None,
    All,
    Names(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReadError {
    /// Byte range of the offending delimiter (or of the unterminated token).
    pub range: Range<usize>,
    pub message: String,
}

impl Namespace {
    pub fn name(&self) -> Option<&str> {
        match self {
            Namespace::Declared(decl) => Some(&decl.name),
            Namespace::Missing => None,
        }
    }

    /// Changes exactly when the namespace's declaration changes; used in cache keys and to
    /// decide when the jank side must load the file again.
    pub fn fingerprint(&self) -> &str {
        match self {
            Namespace::Declared(decl) => &decl.normalized,
            Namespace::Missing => "",
        }
    }
}

/// Reads a whole file.
pub fn parse(text: &str) -> SourceFile {
    let mut reader = Reader::new(text);
    let forms = reader.read_forms(0);
    let namespace = match forms.iter().find(|form| form.kind == FormKind::Ns) {
        Some(form) => {
            let (namespace, error) = ns::read(&mut reader, form, form.normalized(text));
            reader.lex.errors.extend(error);
            namespace
        }
        None => Namespace::Missing,
    };
    let mut errors = reader.lex.errors;
    errors.sort_by_key(|error| error.range.start);
    SourceFile { forms, namespace, errors }
}

impl SourceFile {
    /// The top-level form containing `offset` (a byte offset; the end of a form counts as
    /// inside it). Inside a `(comment ...)` form, the body form at `offset` instead (as
    /// Calva does).
    ///
    /// Where two forms touch (`(a)(b)`), the one that starts at `offset`. In a comment
    /// form, as in Calva, the comment itself only on its delimiters: at its start, or just
    /// before or after its closing `)`; on the `comment` symbol or between the body's
    /// forms, `None`. Whitespace between top-level forms: `None`.
    pub fn form_at(&self, offset: usize) -> Option<&Form> {
        form_in(&self.forms, offset)
    }
}

fn form_in(forms: &[Form], offset: usize) -> Option<&Form> {
    let first = forms.partition_point(|form| form.range.end < offset);
    let form = match forms.get(first + 1) {
        Some(next) if next.range.start == offset => next,
        _ => forms.get(first).filter(|form| form.range.start <= offset)?,
    };
    if form.kind != FormKind::Comment {
        return Some(form);
    }
    if let Some(inner) = form_in(&form.children, offset) {
        return Some(inner);
    }
    let on_delimiter = offset == form.range.start || offset + 1 >= form.range.end;
    on_delimiter.then_some(form)
}

impl Form {
    /// The form's text without whitespace differences and comments (including `#_`
    /// discards), so that reformatting a form is not a change: tokens are kept in order,
    /// one space apart, with no space after an opening delimiter or a reader prefix, or
    /// before a closing delimiter (`(defn f [x] (inc 'x))`).
    pub fn normalized(&self, text: &str) -> String {
        normalize::normalize(text.get(self.range.clone()).unwrap_or_default())
    }
}
