//! The edges of the jank fork's code generator (`wasm_patch_processor.cpp`), found in the C++
//! jank returned, before any toolchain sees it: what would fail in clang with an error about
//! generated names, or give nil in the page, becomes a message about the jank construct and
//! what to write instead; what compiles but computes something else becomes a warning.
//!
//! Owns: reading the fork's C++ (its fixed shape: one statement per line, `tmp_N`
//! temporaries, `jank_anon_<id>_<n>` functions, the `patch_symbol` table) and placing each
//! finding on the form's text (`reader::symbol_tokens`). Must not generate or change code
//! (problem 3 in ARCHITECTURE.md): it only reads what jank emitted.
//!
//! The edges, from the fork's source (docs/real-jank.md):
//! - `gen_function` makes each `fn` a C++ function of its own, so a local of the code around
//!   it is an undeclared identifier there (a closure); and it writes an inner `fn`'s function
//!   into the middle of the outer one's (a `fn` inside a `fn`).
//! - `gen_let` declares `void *<name>` for every binding, in one C++ scope per function body
//!   (or `if` branch): a name bound twice there (`(let [x 1 x 2] ...)`, a `let` rebinding a
//!   parameter, two `let`s side by side) is a redefinition.
//! - `munge_name` turns only `- . / ? ! * +` into `_`: `->x` or `a'` make no C++ identifier,
//!   and `new` or `class` are C++ keywords.
//! - The page's side (`hot_reload.cpp`): the registry binds functions of 0 to 4 parameters,
//!   `jank_make_fn_wrapper` wraps 0 to 3, `jank_call_var` calls with at most 5 arguments;
//!   beyond, the page keeps its old function or gets nil.
//! - `gen_primitive_literal`: `true` is the integer 1 and `false` is nil (a warning).

use std::collections::HashSet;

use crate::reader::{symbol_tokens, SymbolToken};

/// Parameters of a def's function the fork's registry binds (`register_symbol`: 0 to 4).
pub const MAX_DEF_PARAMS: usize = 4;
/// Parameters of an anonymous `fn` `jank_make_fn_wrapper` wraps (0 to 3).
pub const MAX_FN_PARAMS: usize = 3;
/// Arguments `jank_call_var` passes (0 to 5).
pub const MAX_CALL_ARGS: usize = 5;

/// What in the C++ cannot work, as the fork's code generator put it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edge {
    /// An anonymous `fn` uses `local` (munged) of the code around it.
    Closure { local: String },
    /// A `fn` inside another `fn`'s body.
    NestedFn,
    /// `local` (munged) declared twice in one C++ scope.
    BoundTwice { local: String },
    /// A name the code generator made no C++ identifier of (or a C++ keyword).
    NotAnIdentifier { name: String },
    /// The def's function has more parameters than the registry binds.
    DefParams { count: usize },
    /// The `n`-th anonymous `fn` (from 0) has more parameters than the wrapper takes.
    FnParams { count: usize, n: usize },
    /// A call of `var` (`ns/name`) with more arguments than `jank_call_var` passes.
    CallArgs { var: String, count: usize },
}

/// A finding put in words, and where in the form's text it is (a byte offset), if found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    pub message: String,
    pub at: Option<usize>,
}

/// The comments of the C++ (outside string literals), in order: where the fork marks what it
/// compiled to nil (`unsupported expr`, ...) and its booleans (`true`, `false`).
pub fn comments(cpp: &str) -> impl Iterator<Item = &str> {
    cpp.lines().filter_map(|line| split_comment(line).1)
}

/// The first edge of the C++, in the order the C++ reads.
pub fn first_edge(cpp: &str) -> Option<Edge> {
    let globals: HashSet<&str> = cpp.lines().filter_map(header).map(|(name, _)| name).collect();
    let mut function: Option<Function> = None;
    for line in cpp.lines() {
        if line.starts_with("patch_symbol *") {
            function = None;
            continue;
        }
        if let Some(count) = registered_arity(line) {
            if count > MAX_DEF_PARAMS {
                return Some(Edge::DefParams { count });
            }
            continue;
        }
        if let Some((name, params)) = header(line) {
            if function.is_some() {
                return Some(Edge::NestedFn);
            }
            if let Some(bad) = std::iter::once(name).chain(params.iter().copied()).find(|n| !is_identifier(n)) {
                return Some(Edge::NotAnIdentifier { name: bad.to_string() });
            }
            let mut scope = HashSet::new();
            for param in &params {
                if !scope.insert(param.to_string()) {
                    return Some(Edge::BoundTwice { local: param.to_string() });
                }
            }
            function = Some(Function { scopes: vec![scope] });
            continue;
        }
        let Some(f) = function.as_mut() else { continue };
        if line == "}" {
            function = None;
            continue;
        }
        if let Some(edge) = f.statement(split_comment(line).0.trim(), &globals) {
            return Some(edge);
        }
    }
    None
}

/// A C++ function being read: its scopes (the outermost holds the parameters, as C++ wants).
struct Function {
    scopes: Vec<HashSet<String>>,
}

impl Function {
    fn statement(&mut self, code: &str, globals: &HashSet<&str>) -> Option<Edge> {
        if let Some(edge) = limits(code) {
            return Some(edge);
        }
        let uses = match code {
            "} else {" => {
                self.scopes.pop();
                self.scopes.push(HashSet::new());
                return None;
            }
            "}" => {
                self.scopes.pop();
                return None;
            }
            _ => match code.strip_prefix("void *") {
                Some(declaration) => {
                    let end = declaration.find([' ', ';', '[']).unwrap_or(declaration.len());
                    let name = &declaration[..end];
                    if !is_identifier(name) {
                        return Some(Edge::NotAnIdentifier { name: name.to_string() });
                    }
                    let scope = self.scopes.last_mut()?;
                    if !scope.insert(name.to_string()) {
                        return Some(Edge::BoundTwice { local: name.to_string() });
                    }
                    &declaration[end..]
                }
                None => code,
            },
        };
        if code.starts_with("if(") {
            self.scopes.push(HashSet::new());
        }
        let undeclared = identifiers(uses)
            .find(|name| !globals.contains(name) && !self.scopes.iter().any(|scope| scope.contains(*name)))?;
        // Only a `fn` inside a `fn` leaves a temporary undeclared: the fork writes the inner
        // one's wrapper into the def's function.
        Some(if is_temporary(undeclared) { Edge::NestedFn } else { Edge::Closure { local: undeclared.to_string() } })
    }
}

/// The fork's run-time limits a statement goes beyond: a call with too many arguments, a
/// wrapper of a `fn` with too many parameters.
fn limits(code: &str) -> Option<Edge> {
    if let Some(rest) = after(code, "jank_call_var(\"") {
        let (ns, rest) = rest.split_once("\", \"")?;
        let (name, rest) = rest.split_once("\", ")?;
        let count: usize = rest.split(',').next()?.trim().parse().ok()?;
        if count > MAX_CALL_ARGS {
            return Some(Edge::CallArgs { var: format!("{ns}/{name}"), count });
        }
    }
    if let Some(rest) = after(code, "jank_make_fn_wrapper((void *)") {
        let (function, rest) = rest.split_once(", ")?;
        let count: usize = rest.split(')').next()?.trim().parse().ok()?;
        let n = function.rsplit('_').next()?.parse().ok()?;
        if count > MAX_FN_PARAMS {
            return Some(Edge::FnParams { count, n });
        }
    }
    None
}

fn after<'c>(code: &'c str, prefix: &str) -> Option<&'c str> {
    code.find(prefix).map(|at| &code[at + prefix.len()..])
}

/// `void *name(void *a, void *b) {` at the start of a line: the function's name and parameters.
fn header(line: &str) -> Option<(&str, Vec<&str>)> {
    let rest = line.strip_prefix("void *")?.strip_suffix(") {")?;
    let (name, params) = rest.split_once('(')?;
    let params = params.split(", ").filter(|p| !p.is_empty()).map(|p| p.trim_start_matches("void *")).collect();
    Some((name, params))
}

/// The arity of an entry of the `patch_symbol` table: `{ "ns/name", "<arity>", (void *)fn }`.
fn registered_arity(line: &str) -> Option<usize> {
    let rest = line.trim_start().strip_prefix("{ \"")?;
    let (_, rest) = rest.split_once("\", \"")?;
    rest.split('"').next()?.parse().ok()
}

/// A line split at its comment (a `//` outside string literals).
fn split_comment(line: &str) -> (&str, Option<&str>) {
    let bytes = line.as_bytes();
    let (mut in_string, mut escaped) = (false, false);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if in_string => escaped = true,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => {
                return (&line[..i], Some(line[i + 2..].trim()));
            }
            _ => {}
        }
    }
    (line, None)
}

/// The identifiers a statement uses: outside string literals, not numbers, not called (the
/// helpers), not C++'s own words.
fn identifiers(code: &str) -> impl Iterator<Item = &str> {
    let bytes = code.as_bytes();
    let mut i = 0;
    let mut in_string = false;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let b = bytes[i];
            if in_string {
                match b {
                    b'\\' => i += 2,
                    b'"' => {
                        in_string = false;
                        i += 1;
                    }
                    _ => i += 1,
                }
                continue;
            }
            if b == b'"' {
                in_string = true;
                i += 1;
                continue;
            }
            if !(b.is_ascii_alphanumeric() || b == b'_') {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.') {
                i += 1;
            }
            let word = &code[start..i];
            let called = code[i..].trim_start().starts_with('(');
            if !(b.is_ascii_digit() || called || CPP_KEYWORDS.contains(&word) || matches!(word, "INFINITY" | "NAN")) {
                return Some(word);
            }
        }
        None
    })
}

fn is_temporary(name: &str) -> bool {
    name.strip_prefix("tmp_").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A C++ identifier that is not a keyword.
fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !CPP_KEYWORDS.contains(&name)
}

const CPP_KEYWORDS: &[&str] = &[
    "alignas",
    "alignof",
    "and",
    "and_eq",
    "asm",
    "auto",
    "bitand",
    "bitor",
    "bool",
    "break",
    "case",
    "catch",
    "char",
    "char8_t",
    "char16_t",
    "char32_t",
    "class",
    "compl",
    "concept",
    "const",
    "consteval",
    "constexpr",
    "constinit",
    "const_cast",
    "continue",
    "co_await",
    "co_return",
    "co_yield",
    "decltype",
    "default",
    "delete",
    "do",
    "double",
    "dynamic_cast",
    "else",
    "enum",
    "explicit",
    "export",
    "extern",
    "false",
    "float",
    "for",
    "friend",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "mutable",
    "namespace",
    "new",
    "noexcept",
    "not",
    "not_eq",
    "nullptr",
    "operator",
    "or",
    "or_eq",
    "private",
    "protected",
    "public",
    "register",
    "reinterpret_cast",
    "requires",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "static_assert",
    "static_cast",
    "struct",
    "switch",
    "template",
    "this",
    "thread_local",
    "throw",
    "true",
    "try",
    "typedef",
    "typeid",
    "typename",
    "union",
    "unsigned",
    "using",
    "virtual",
    "void",
    "volatile",
    "wchar_t",
    "while",
    "xor",
    "xor_eq",
];

/// jank names as the fork's `munge_name` makes C++ names of them: `- . / ? ! * +` become `_`,
/// nothing else changes. Used only to find, in the form's text, the name a C++ name came from.
pub fn munge(name: &str) -> String {
    name.chars().map(|c| if matches!(c, '-' | '.' | '/' | '?' | '!' | '*' | '+') { '_' } else { c }).collect()
}

/// The edge in words, placed on the form's text (`form`, the text the user wrote; `def_name`,
/// the name it defines).
pub fn explain(edge: &Edge, form: &str, def_name: Option<&str>) -> Explained {
    let tokens = symbol_tokens(form);
    let named = |munged: &str| -> Vec<&SymbolToken> { tokens.iter().filter(|t| munge(t.text) == munged).collect() };
    let fns: Vec<&SymbolToken> = tokens.iter().filter(|t| matches!(t.text, "fn" | "fn*")).collect();
    let jank_name = |munged: &str| named(munged).first().map_or_else(|| munged.to_string(), |t| t.text.to_string());
    let at = |token: Option<&&SymbolToken>| token.map(|t| t.range.start);
    let (message, at) = match edge {
        Edge::Closure { local } => {
            let name = jank_name(local);
            // The use inside a `fn`, not the binding before it.
            let first_fn = fns.first().map_or(0, |t| t.range.end);
            let uses = named(local);
            let place = uses.iter().find(|t| t.range.start > first_fn).or(uses.first());
            (
                format!(
                    "jank's op cannot compile a closure over `{name}`: the fork's code generator makes each `fn` a C++ function of its own, without the locals around it, so `{name}` does not exist there. Write the `fn` as a `defn` that takes `{name}` as its first parameter and pass `(partial that-fn {name})`, or pass `{name}` in the call"
                ),
                at(place),
            )
        }
        Edge::NestedFn => (
            "jank's op cannot compile a `fn` inside another `fn`: the fork's code generator writes the inner one's C++ into the middle of the outer one's. Make the inner `fn` a `defn` of its own".to_string(),
            at(fns.get(1)),
        ),
        Edge::BoundTwice { local } if is_temporary(local) && named(local).is_empty() => (
            "jank's op cannot compile this form: its C++ declares a temporary twice".to_string(),
            None,
        ),
        Edge::BoundTwice { local } => {
            let uses = named(local);
            let bindings: Vec<&&SymbolToken> = uses.iter().filter(|t| t.in_vector).collect();
            let mut names: Vec<String> = Vec::new();
            for token in &uses {
                let name = format!("`{}`", token.text);
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            (
                format!(
                    "jank's op cannot compile {} bound twice in one scope (`(let [x 1 x 2] ...)`, a `let` that rebinds a parameter, or two `let`s side by side): the fork's code generator declares one C++ variable `{local}` per binding, in the same C++ scope. Give the second binding another name",
                    names.join(" and ")
                ),
                bindings.get(1).map(|t| t.range.start),
            )
        }
        Edge::NotAnIdentifier { name } => {
            let culprit = tokens.iter().find(|t| {
                let munged = munge(t.text);
                name.contains(&munged) && !is_identifier(&munged)
            });
            let jank = culprit.map_or(name.as_str(), |t| t.text);
            let munged = munge(jank);
            let why = if CPP_KEYWORDS.contains(&munged.as_str()) {
                format!("`{munged}` is a C++ keyword")
            } else {
                format!("it becomes `{munged}`, not a C++ identifier (the fork's code generator turns only `- . / ? ! * +` into `_`)")
            };
            (
                format!(
                    "jank's op cannot compile the name `{jank}`: {why}. Rename it (letters, digits and `- . ? ! * +`)"
                ),
                culprit.map(|t| t.range.start),
            )
        }
        Edge::DefParams { count } => {
            let name = def_name.unwrap_or("this function");
            (
                format!(
                    "jank's op cannot patch `{name}`: it takes {count} parameters, and the fork's registry binds functions of 0 to {MAX_DEF_PARAMS} (`register_symbol` in hot_reload.cpp), so the page would keep its old function. Take at most {MAX_DEF_PARAMS} (pass the others in a map)"
                ),
                def_name.and_then(|n| tokens.iter().find(|t| t.text == n)).map(|t| t.range.start),
            )
        }
        Edge::FnParams { count, n } => (
            format!(
                "jank's op cannot compile a `fn` of {count} parameters: the fork wraps anonymous functions of 0 to {MAX_FN_PARAMS} (`jank_make_fn_wrapper`), so it would be nil in the page. Take at most {MAX_FN_PARAMS}, or make it a `defn` (up to {MAX_DEF_PARAMS})"
            ),
            at(fns.get(*n)),
        ),
        Edge::CallArgs { var, count } => {
            let name = var.rsplit('/').next().unwrap_or(var);
            let call = tokens.iter().find(|t| t.text == name || t.text.rsplit('/').next() == Some(name));
            (
                format!(
                    "jank's op cannot compile a call of `{var}` with {count} arguments: the fork's `jank_call_var` passes at most {MAX_CALL_ARGS} and returns nil for more. Pass them in a collection (`(apply {name} [...])` is a call with 2), or split the call"
                ),
                call.map(|t| t.range.start),
            )
        }
    };
    Explained { message, at }
}

/// The warning for the fork's booleans, when the C++ has them (`comments` of the C++):
/// `true` is the integer 1 and `false` is nil, which tests read alike but comparisons,
/// printing and `true?`/`false?` do not.
pub fn booleans<'c>(mut comments: impl Iterator<Item = &'c str>, form: &str) -> Option<Explained> {
    let (mut has_true, mut has_false) = (false, false);
    for comment in comments.by_ref() {
        has_true |= comment == "true";
        has_false |= comment == "false";
    }
    let which = match (has_true, has_false) {
        (false, false) => return None,
        (true, false) => "`true` to the integer 1",
        (false, true) => "`false` to nil",
        (true, true) => "`true` to the integer 1 and `false` to nil",
    };
    let at = symbol_tokens(form).iter().find(|t| matches!(t.text, "true" | "false")).map(|t| t.range.start);
    let message = format!(
        "jank's op compiles {which}: tests (`if`, `when`, `and`) read them right, but where this form returns, stores, prints or compares them (`(= x true)`, `(false? x)`) it sees 1 or nil, not a boolean. Test the value itself (`(if x ...)`) rather than comparing it with `true` or `false`"
    );
    Some(Explained { message, at })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of a def's function as the fork writes it, with `anon` functions before it.
    fn cpp(anon: &str, params: &str, body: &str, arity: usize) -> String {
        format!(
            "// Auto-generated WASM hot-reload patch\n#include <stdint.h>\n\nextern \"C\" {{\n\n{anon}__attribute__((visibility(\"default\")))\nvoid *jank_a_f_7({params}) {{\n{body}}}\n\n__attribute__((visibility(\"default\")))\npatch_symbol *jank_patch_symbols_7(int *count) {{\n  static patch_symbol symbols[] = {{\n    {{ \"a/f\", \"{arity}\", (void *)jank_a_f_7 }}\n  }};\n  *count = 1;\n  return symbols;\n}}\n\n}}\n"
        )
    }

    #[test]
    fn a_closure_is_a_local_the_anonymous_function_lacks() {
        let anon = "__attribute__((visibility(\"default\")))\nvoid *jank_anon_7_0(void *y) {\n  void *tmp_1[] = { x, y };\n  void *tmp_0 = jank_call_var(\"clojure.core\", \"+\", 2, tmp_1);\n  return tmp_0;\n}\n\n";
        let body = "  void *tmp_2 = jank_make_fn_wrapper((void *)jank_anon_7_0, 1);\n  return tmp_2;\n";
        let cpp = cpp(anon, "void *x", body, 1);
        assert_eq!(first_edge(&cpp), Some(Edge::Closure { local: "x".into() }));
        let form = "(defn f [x] (fn [y] (+ x y)))";
        let explained = explain(&Edge::Closure { local: "x".into() }, form, Some("f"));
        assert!(explained.message.starts_with("jank's op cannot compile a closure over `x`"), "{explained:?}");
        assert_eq!(explained.at, Some(form.rfind("x y").unwrap()));
    }

    #[test]
    fn a_name_bound_twice_in_one_scope_but_not_in_a_branch() {
        let twice = cpp("", "void *x", "  void *tmp_0 = jank_box_integer(1);\n  void *x = tmp_0;\n  return x;\n", 1);
        assert_eq!(first_edge(&twice), Some(Edge::BoundTwice { local: "x".into() }));
        let branch = cpp(
            "",
            "void *x",
            "  void *tmp_0;\n  if(jank_truthy(x)) {\n    void *x = jank_nil_value();\n    tmp_0 = x;\n  } else {\n    void *x = jank_nil_value();\n    tmp_0 = x;\n  }\n  return tmp_0;\n",
            1,
        );
        assert_eq!(first_edge(&branch), None);
        let form = "(defn f [x] (let [x (inc x)] x))";
        let explained = explain(&Edge::BoundTwice { local: "x".into() }, form, Some("f"));
        assert_eq!(explained.at, Some(form.find("[x (").unwrap() + 1), "{explained:?}");
    }

    #[test]
    fn names_strings_and_limits() {
        let arrow = cpp("", "void *_>x", "  return _>x;\n", 1);
        assert_eq!(first_edge(&arrow), Some(Edge::NotAnIdentifier { name: "_>x".into() }));
        let keyword = cpp("", "void *new", "  return new;\n", 1);
        assert_eq!(first_edge(&keyword), Some(Edge::NotAnIdentifier { name: "new".into() }));
        let string = cpp("", "", "  void *tmp_0 = jank_make_string(\"y \\\" // z\");\n  return tmp_0;\n", 0);
        assert_eq!(first_edge(&string), None);
        assert_eq!(comments(&string).filter(|c| c.contains('z')).count(), 0);
        let five = cpp("", "void *a, void *b, void *c, void *d, void *e", "  return a;\n", 5);
        assert_eq!(first_edge(&five), Some(Edge::DefParams { count: 5 }));
        let six = cpp(
            "",
            "",
            "  void *tmp_0 = jank_box_integer(1);\n  void *tmp_1[] = { tmp_0, tmp_0, tmp_0, tmp_0, tmp_0, tmp_0 };\n  void *tmp_2 = jank_call_var(\"clojure.core\", \"str\", 6, tmp_1);\n  return tmp_2;\n",
            0,
        );
        assert_eq!(first_edge(&six), Some(Edge::CallArgs { var: "clojure.core/str".into(), count: 6 }));
    }
}
