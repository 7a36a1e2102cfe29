//! The C++ of the jank fork's `wasm_patch_processor.cpp` (pfeodrippe/jank, branch `nrepl`),
//! reproduced byte for byte for the subset: same header, the same 17 helper imports, the
//! `patch_symbol` table, `tmp_N` locals in the same order, `jank_anon_<id>_<n>` for nested
//! functions, and the same quirks (`true` is `jank_box_integer(1)`, `false` is nil, literal
//! vectors and sets and maps come out as nil, calls of non-vars are nil, first arity only).

use std::fmt::Write;

use crate::analyze::{Expr, FnExpr};
use crate::runtime::Val;

/// The fork's imports and patch symbol struct, verbatim (`server/tests/compile_standin.rs`
/// holds its output to the fixture `ggg_7.cpp`, and the fixture's imports to `PATCH_HELPERS`).
const PRELUDE: &str = r#"#include <stdint.h>

extern "C" {

// Import runtime helpers from main module
extern void *jank_box_integer(int64_t value);
extern int64_t jank_unbox_integer(void *obj);
extern void *jank_box_double(double value);
extern double jank_unbox_double(void *obj);
extern void *jank_make_string(const char *str);
extern void *jank_call_var(const char *ns, const char *name, int argc, void **args);
extern void *jank_deref_var(const char *ns, const char *name);
extern void *jank_make_keyword(const char *ns, const char *name);
extern void *jank_make_symbol(const char *ns, const char *name);
extern void *jank_make_vector(int argc, void **elements);
extern void *jank_make_set(int argc, void **elements);
extern void *jank_make_list(int argc, void **elements);
extern void *jank_make_map(int argc, void **elements);
extern void *jank_println(int argc, void **args);
extern void *jank_nil_value();
extern int jank_truthy(void *obj);
extern void *jank_make_fn_wrapper(void *fn_ptr, int arity);

// Patch symbol metadata
struct patch_symbol {
  const char *qualified_name;
  const char *signature;
  void *fn_ptr;
};

"#;

/// The C++ for `(def name value)` in namespace `ns`, as the fork's `generate()`.
pub fn generate(ns: &str, name: &str, value: Option<&Expr>, patch_id: u64) -> String {
    let Some(value) = value else { return "// ERROR: def has no value\n".into() };
    let Expr::Fn(function) = value else { return "// ERROR: def value is not a function\n".into() };
    let mut gen =
        Generator { patch_id, locals: 0, anon_fns: 0, output: String::new(), anon: String::new(), in_anon: false };
    let fn_name = format!("jank_{}_{}_{}", munge(ns), munge(name), patch_id);
    let body = gen.body(&function.body);

    let mut cpp = format!("// Auto-generated WASM hot-reload patch\n// Patch ID: {patch_id}\n\n");
    cpp.push_str(PRELUDE);
    cpp.push_str(&gen.anon);
    let _ = write!(cpp, "__attribute__((visibility(\"default\")))\nvoid *{fn_name}({}) {{\n", params(function));
    cpp.push_str(&gen.output);
    let _ = write!(cpp, "  return {body};\n}}\n\n");
    let _ = writeln!(cpp, "// Patch metadata export - UNIQUE NAME with patch ID {patch_id}");
    cpp.push_str("__attribute__((visibility(\"default\")))\n");
    let _ = write!(cpp, "patch_symbol *jank_patch_symbols_{patch_id}(int *count) ");
    cpp.push_str("{\n  static patch_symbol symbols[] = {\n    { ");
    let _ = write!(cpp, "\"{ns}/{name}\", \"{}\", (void *){fn_name}", function.params.len());
    cpp.push_str(" }\n  };\n  *count = 1;\n  return symbols;\n}\n\n}\n");
    cpp
}

/// jank names to C identifiers, exactly as much as the fork does.
pub fn munge(name: &str) -> String {
    name.chars().map(|c| if matches!(c, '-' | '.' | '/' | '?' | '!' | '*' | '+') { '_' } else { c }).collect()
}

/// jank's `util::escape`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\x07' => out.push_str("\\a"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\x08' => out.push_str("\\b"),
            c => out.push(c),
        }
    }
    out
}

/// A double as `fmt`'s `{}` prints it: shortest round trip, exponent below 1e-4 or from 1e16.
fn format_double(x: f64) -> String {
    let scientific = format!("{x:e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else { return scientific };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..16).contains(&exponent) {
        return format!("{x}");
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

fn params(function: &FnExpr) -> String {
    function.params.iter().map(|p| format!("void *{}", munge(p))).collect::<Vec<_>>().join(", ")
}

struct Generator {
    patch_id: u64,
    locals: usize,
    anon_fns: usize,
    /// The main function's body (the fork's `output_`).
    output: String,
    /// Nested functions (the fork's `anon_fns_`).
    anon: String,
    /// Where statements go now (the fork's `current_output_`): `anon` inside a nested fn.
    in_anon: bool,
}

impl Generator {
    fn fresh(&mut self) -> String {
        let name = format!("tmp_{}", self.locals);
        self.locals += 1;
        name
    }

    fn out(&mut self) -> &mut String {
        if self.in_anon {
            &mut self.anon
        } else {
            &mut self.output
        }
    }

    fn line(&mut self, text: String) {
        self.out().push_str(&text);
    }

    fn expr(&mut self, expr: &Expr) -> String {
        match expr {
            Expr::Literal(value) => self.literal(value),
            Expr::Call { source, args } => self.call(source, args),
            Expr::Local(name) => munge(name),
            Expr::Var { ns, name } => {
                let tmp = self.fresh();
                self.line(format!("  void *{tmp} = jank_deref_var(\"{ns}\", \"{name}\");\n"));
                tmp
            }
            Expr::Vector(items) => self.collection("jank_make_vector", items),
            Expr::Set(items) => self.collection("jank_make_set", items),
            Expr::Do(body) => self.body(body),
            Expr::Let { pairs, body } => {
                for (name, init) in pairs {
                    let init = self.expr(init);
                    self.line(format!("  void *{} = {init};\n", munge(name)));
                }
                self.body(body)
            }
            Expr::If { condition, then, otherwise } => {
                let condition = self.expr(condition);
                let result = self.fresh();
                self.line(format!("  void *{result};\n"));
                self.line(format!("  if(jank_truthy({condition})) {{\n"));
                let then = self.expr(then);
                self.line(format!("    {result} = {then};\n"));
                self.line("  } else {\n".into());
                let otherwise = match otherwise {
                    Some(otherwise) => self.expr(otherwise),
                    None => "jank_nil_value()".into(),
                };
                self.line(format!("    {result} = {otherwise};\n"));
                self.line("  }\n".into());
                result
            }
            Expr::Fn(function) => self.function(function),
            Expr::Map(_) | Expr::Def { .. } | Expr::MarkMacro { .. } | Expr::Ns(_) | Expr::Unsupported(_) => {
                let tmp = self.fresh();
                self.line(format!("  void *{tmp} = jank_nil_value(); // unsupported expr\n"));
                tmp
            }
        }
    }

    fn literal(&mut self, value: &Val) -> String {
        let tmp = self.fresh();
        let init = match value {
            Val::Nil => "jank_nil_value();".to_string(),
            Val::Bool(true) => "jank_box_integer(1); // true".to_string(),
            Val::Bool(false) => "jank_nil_value(); // false".to_string(),
            Val::Int(i) => format!("jank_box_integer({i});"),
            Val::Float(x) if x.is_nan() => "jank_box_double(NAN);".to_string(),
            Val::Float(x) if x.is_infinite() => {
                format!("jank_box_double({}INFINITY);", if *x > 0.0 { "" } else { "-" })
            }
            Val::Float(x) => format!("jank_box_double({});", format_double(*x)),
            Val::Keyword(ns, name) => format!("jank_make_keyword(\"{}\", \"{name}\");", ns.as_deref().unwrap_or("")),
            Val::Symbol(ns, name) => format!("jank_make_symbol(\"{}\", \"{name}\");", ns.as_deref().unwrap_or("")),
            Val::Str(s) => format!("jank_make_string(\"{}\");", escape(s)),
            _ => "jank_nil_value(); // unsupported literal".to_string(),
        };
        self.line(format!("  void *{tmp} = {init}\n"));
        tmp
    }

    fn call(&mut self, source: &Expr, args: &[Expr]) -> String {
        let args: Vec<String> = args.iter().map(|a| self.expr(a)).collect();
        let tmp = self.fresh();
        let Expr::Var { ns, name } = source else {
            let source = self.expr(source);
            self.line(format!("  void *{tmp} = jank_nil_value(); // TODO: call non-var {source}\n"));
            return tmp;
        };
        let args = self.array(&args);
        self.line(format!("  void *{tmp} = jank_call_var(\"{ns}\", \"{name}\", {args});\n"));
        tmp
    }

    /// `argc, array` for a call taking an array of values (declaring the array first), or
    /// `0, nullptr`.
    fn array(&mut self, items: &[String]) -> String {
        if items.is_empty() {
            return "0, nullptr".into();
        }
        let array = self.fresh();
        self.line(format!("  void *{array}[] = {{ {} }};\n", items.join(", ")));
        format!("{}, {array}", items.len())
    }

    fn collection(&mut self, maker: &str, items: &[Expr]) -> String {
        let items: Vec<String> = items.iter().map(|e| self.expr(e)).collect();
        let tmp = self.fresh();
        let items = self.array(&items);
        self.line(format!("  void *{tmp} = {maker}({items});\n"));
        tmp
    }

    fn body(&mut self, body: &[Expr]) -> String {
        let mut last = None;
        for expr in body {
            last = Some(self.expr(expr));
        }
        last.unwrap_or_else(|| {
            let tmp = self.fresh();
            self.line(format!("  void *{tmp} = jank_nil_value();\n"));
            tmp
        })
    }

    fn function(&mut self, function: &FnExpr) -> String {
        let fn_name = format!("jank_anon_{}_{}", self.patch_id, self.anon_fns);
        self.anon_fns += 1;
        let _ =
            write!(self.anon, "__attribute__((visibility(\"default\")))\nvoid *{fn_name}({}) {{\n", params(function));
        let saved = std::mem::replace(&mut self.in_anon, true);
        let body = self.body(&function.body);
        self.line(format!("  return {body};\n"));
        self.in_anon = saved;
        self.anon.push_str("}\n\n");
        let tmp = self.fresh();
        // The fork writes the wrapper to the main body even inside a nested function.
        let _ = writeln!(
            self.output,
            "  void *{tmp} = jank_make_fn_wrapper((void *){fn_name}, {});",
            function.params.len()
        );
        tmp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_fmt() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(2.0), "2");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-7), "1.5e-07");
        assert_eq!(format_double(0.001), "0.001");
    }
}
