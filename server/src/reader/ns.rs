//! Reads the `ns` form: the namespace's name, docstring and required namespaces.
//!
//! Owns: the small data tree of the `ns` form and the meaning of `:require` libspecs
//! (prefix lists expanded). Other clauses (`:use`, `:import`, `:refer-clojure`,
//! `:gen-class`) are skipped.

use super::forms::{text_of, Reader};
use super::lexer::{Atom, Tok};
use super::{Form, Namespace, NsDecl, ReadError, Refer, Require};

/// Deeper data than this in an `ns` form is not looked into (a prefix list inside a
/// `:require` clause is at depth 3).
const MAX_DEPTH: usize = 6;

/// A form of the `ns` form, without metadata.
enum Datum<'a> {
    Symbol(&'a str),
    Keyword(&'a str),
    /// A string literal's source text, quotes included.
    Str(&'a str),
    List(Vec<Datum<'a>>),
    Vector(Vec<Datum<'a>>),
    Map,
    Other,
}

impl<'a> Reader<'a> {
    /// The next form as data, `None` at the end of the enclosing collection.
    fn read_datum(&mut self, depth: usize) -> Option<Datum<'a>> {
        let span = self.read_form()?;
        let Some(core) = span.core else { return Some(Datum::Other) };
        let text = text_of(self.lex.text, core);
        Some(match core.tok {
            Tok::Atom(Atom::Symbol) => Datum::Symbol(text),
            Tok::Atom(Atom::Keyword) => Datum::Keyword(text),
            Tok::Atom(Atom::Str) => Datum::Str(text),
            Tok::Open(close) if text.len() == 1 && depth < MAX_DEPTH => {
                let items = self
                    .rescan(core.end, |reader| std::iter::from_fn(|| reader.read_datum(depth + 1)).collect::<Vec<_>>());
                match close {
                    b')' => Datum::List(items),
                    b']' => Datum::Vector(items),
                    _ => Datum::Map,
                }
            }
            _ => Datum::Other,
        })
    }
}

/// The namespace declared by `form`, the file's first `ns` form; an error if it has no
/// name.
pub(crate) fn read(reader: &mut Reader, form: &Form, normalized: String) -> (Namespace, Option<ReadError>) {
    let read = reader.rescan(form.range.start, |reader| {
        let open = reader.read_form()?.core?;
        reader.lex.pos = open.end;
        let head = reader.read_form()?.range;
        let items: Vec<Datum> = std::iter::from_fn(|| reader.read_datum(1)).collect();
        Some((head, items))
    });
    let Some((head, items)) = read else { return (Namespace::Missing, None) };
    let mut items = items.into_iter().peekable();
    let Some(Datum::Symbol(name)) = items.next() else {
        let message = "this `ns` form has no name: write `(ns my.namespace ...)`".to_string();
        return (Namespace::Missing, Some(ReadError { range: head, message }));
    };
    let docstring = match items.peek() {
        Some(Datum::Str(raw)) => {
            let docstring = unescape(raw);
            items.next();
            Some(docstring)
        }
        _ => None,
    };
    if let Some(Datum::Map) = items.peek() {
        items.next();
    }
    let mut requires = Vec::new();
    for clause in items {
        if let Datum::List(clause) = clause {
            if let [Datum::Keyword(":require") | Datum::Symbol("require"), libspecs @ ..] = clause.as_slice() {
                for libspec in libspecs {
                    expand(libspec, "", &mut requires);
                }
            }
        }
    }
    let decl = NsDecl { name: name.to_string(), docstring, requires, range: form.range.clone(), normalized };
    (Namespace::Declared(decl), None)
}

/// Adds the namespaces that `libspec` requires, under `prefix` (from enclosing prefix
/// lists), to `out`.
fn expand(libspec: &Datum, prefix: &str, out: &mut Vec<Require>) {
    match libspec {
        Datum::Symbol(_) | Datum::Str(_) => with_options(libspec, &[], prefix, out),
        Datum::Vector(items) => match items.as_slice() {
            // `[a.b]`, `[a.b :as b ...]`
            [lib] | [lib, Datum::Keyword(_), ..] => with_options(lib, &items[1..], prefix, out),
            // `[prefix lib ...]`: a prefix list written as a vector.
            [Datum::Symbol(inner), libs @ ..] => libs.iter().for_each(|lib| expand(lib, &joined(prefix, inner), out)),
            _ => {}
        },
        Datum::List(items) => {
            if let [Datum::Symbol(inner), libs @ ..] = items.as_slice() {
                libs.iter().for_each(|lib| expand(lib, &joined(prefix, inner), out));
            }
        }
        _ => {}
    }
}

/// One required namespace, `lib` with `:as` / `:refer` options.
fn with_options(lib: &Datum, options: &[Datum], prefix: &str, out: &mut Vec<Require>) {
    let ns = match lib {
        Datum::Symbol(name) => joined(prefix, name),
        Datum::Str(raw) => joined(prefix, &unescape(raw)),
        _ => return,
    };
    let mut require = Require { ns, alias: None, refer: Refer::None };
    for option in options.chunks(2) {
        match option {
            [Datum::Keyword(":as" | ":as-alias"), Datum::Symbol(alias)] => require.alias = Some(alias.to_string()),
            [Datum::Keyword(":refer"), Datum::Keyword(":all")] => require.refer = Refer::All,
            [Datum::Keyword(":refer"), Datum::Vector(names)] => {
                let names = names.iter().filter_map(|name| match name {
                    Datum::Symbol(name) => Some(name.to_string()),
                    _ => None,
                });
                require.refer = Refer::Names(names.collect());
            }
            _ => {}
        }
    }
    out.push(require);
}

fn joined(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The value of a string literal given its source text (quotes included).
fn unescape(raw: &str) -> String {
    let body = raw.strip_prefix('"').unwrap_or(raw);
    let body = body.strip_suffix('"').unwrap_or(body);
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let decoded = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                out.push(decoded.unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}
