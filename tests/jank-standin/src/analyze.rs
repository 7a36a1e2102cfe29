//! Turns read forms into expressions the way jank's analyzer does for the subset: macros
//! (`defn`, `defn-`, `defonce`, `when`, `comment`) expanded, symbols resolved (locals, then
//! the namespace's vars, referred vars, `alias/name` and `ns/name`, then `clojure.core`), and
//! all-literal vectors and sets folded into one literal (a jank quirk the fork's codegen
//! then emits as an "unsupported literal").
//!
//! `defmacro` is jank's (clojure/core.jank): `(do (defn name [&form &env ...] ...) (reset-meta!
//! ...) (var name))`, so its analysis is a `do`, not a `def` (the fork's op then finds no def in
//! it). A call whose head resolves to a var flagged as a macro is expanded here, at analysis
//! time, by calling the macro's current function on the jank side with the call's forms
//! unevaluated (`&form`, `&env` nil, then the arguments), as jank's analyzer does; a macro
//! exists only once evaluated (`eval`, `load-file`), never because the op compiled it.

use std::sync::Arc;

use crate::reader::{split_symbol, Form, Node, Pos};
use crate::runtime::{Env, JankError, Phase, Val};

#[derive(Clone, Debug)]
pub enum Expr {
    Literal(Val),
    Local(String),
    Var {
        ns: String,
        name: String,
    },
    Call {
        source: Box<Expr>,
        args: Vec<Expr>,
    },
    Vector(Vec<Expr>),
    Set(Vec<Expr>),
    Map(Vec<Expr>),
    Do(Vec<Expr>),
    Let {
        pairs: Vec<(String, Expr)>,
        body: Vec<Expr>,
    },
    If {
        condition: Box<Expr>,
        then: Box<Expr>,
        otherwise: Option<Box<Expr>>,
    },
    Fn(Arc<FnExpr>),
    Def {
        ns: String,
        name: String,
        value: Option<Box<Expr>>,
        once: bool,
    },
    Ns(NsSpec),
    /// `defmacro`'s `(reset-meta! (var name) (assoc (meta (var name)) :macro true))`: flags the
    /// var as a macro once its function is bound.
    MarkMacro {
        ns: String,
        name: String,
    },
    /// A special form jank analyses but the stand-in neither evaluates nor has a translation
    /// for (`recur`, `throw`, `try`, `case*`, `letfn*`): like the fork's code generator, it
    /// compiles to nil with `// unsupported expr`.
    Unsupported(String),
}

/// The special forms behind [`Expr::Unsupported`], with the macros that expand to them.
const UNSUPPORTED_FORMS: &[&str] = &["recur", "throw", "try", "case", "case*", "letfn", "letfn*"];

/// A function: its first arity only (the fork's codegen handles no other).
#[derive(Debug)]
pub struct FnExpr {
    pub params: Vec<String>,
    pub body: Vec<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NsSpec {
    pub name: String,
    pub requires: Vec<Require>,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Require {
    pub ns: String,
    pub alias: Option<String>,
    /// `:refer [names]`.
    pub refer: Option<Vec<String>>,
    /// `:refer :all`.
    pub all: bool,
}

pub struct Analyzer<'e> {
    pub env: &'e mut Env,
    /// The namespace symbols resolve in.
    pub ns: String,
}

type Result<T> = std::result::Result<T, JankError>;

fn error<T>(message: impl Into<String>, pos: Pos) -> Result<T> {
    Err(JankError { message: message.into(), pos: Some(pos), phase: Phase::Analyze })
}

impl Analyzer<'_> {
    pub fn analyze(&mut self, node: &Node) -> Result<Expr> {
        self.expr(node, &[])
    }

    fn expr(&mut self, node: &Node, locals: &[String]) -> Result<Expr> {
        Ok(match &node.form {
            Form::Symbol(symbol) => self.resolve(symbol, node.pos, locals)?,
            Form::List(items) if items.is_empty() => Expr::Literal(Val::List(Vec::new())),
            Form::List(items) => self.list(items, node.pos, locals)?,
            Form::Vector(items) => {
                let exprs = self.exprs(items, locals)?;
                fold_literal(exprs, Val::Vector, Expr::Vector)
            }
            Form::Set(items) => {
                let exprs = self.exprs(items, locals)?;
                fold_literal(exprs, Val::Set, Expr::Set)
            }
            Form::Map(items) => Expr::Map(self.exprs(items, locals)?),
            Form::Keyword { ns, name, auto } => {
                let ns = if *auto { Some(ns.clone().unwrap_or_else(|| self.ns.clone())) } else { ns.clone() };
                Expr::Literal(Val::Keyword(ns, name.clone()))
            }
            _ => Expr::Literal(Val::quoted(node)),
        })
    }

    fn exprs(&mut self, nodes: &[Node], locals: &[String]) -> Result<Vec<Expr>> {
        nodes.iter().map(|n| self.expr(n, locals)).collect()
    }

    fn list(&mut self, items: &[Node], pos: Pos, locals: &[String]) -> Result<Expr> {
        let head = items[0].symbol().filter(|h| !locals.iter().any(|l| l == h));
        let args = &items[1..];
        match head {
            Some("def") => {
                let name = def_name(args, pos)?;
                let value = match args.get(1) {
                    Some(value) => Some(self.def_value(&name, |a| a.expr(value, locals))?),
                    None => None,
                };
                Ok(Expr::Def { ns: self.ns.clone(), name, value: value.map(Box::new), once: false })
            }
            Some("defonce") => {
                let name = def_name(args, pos)?;
                let value = match args.get(1) {
                    Some(value) => self.def_value(&name, |a| a.expr(value, locals))?,
                    None => return error("Invalid defonce: expects a name and a value.", pos),
                };
                Ok(Expr::Def { ns: self.ns.clone(), name, value: Some(Box::new(value)), once: true })
            }
            Some("defn" | "defn-") => {
                let name = def_name(args, pos)?;
                let value = self.def_value(&name, |a| a.function(fn_tail(args), pos, locals, &[]))?;
                Ok(Expr::Def { ns: self.ns.clone(), name, value: Some(Box::new(value)), once: false })
            }
            Some("defmacro") => {
                let name = def_name(args, pos)?;
                let value = self.def_value(&name, |a| a.function(fn_tail(args), pos, locals, MACRO_PARAMS))?;
                let (ns, var) = (self.ns.clone(), Val::Var(self.ns.clone(), name.clone()));
                Ok(Expr::Do(vec![
                    Expr::Def { ns: ns.clone(), name: name.clone(), value: Some(Box::new(value)), once: false },
                    Expr::MarkMacro { ns, name },
                    Expr::Literal(var),
                ]))
            }
            Some("fn" | "fn*") => {
                let rest = match args.first().and_then(Node::symbol) {
                    Some(_) => &args[1..],
                    None => args,
                };
                self.function(rest, pos, locals, &[])
            }
            // jank analyses `loop*` as a `let` (in a loop): the fork's `gen_let` translates it.
            Some("let" | "let*" | "loop" | "loop*") => {
                let Some(Node { form: Form::Vector(bindings), .. }) = args.first() else {
                    return error("Invalid let: expects a vector of bindings.", pos);
                };
                if bindings.len() % 2 == 1 {
                    return error("Invalid let: odd number of binding forms.", pos);
                }
                let mut scope = locals.to_vec();
                let mut pairs = Vec::new();
                for pair in bindings.chunks(2) {
                    let Some(name) = pair[0].symbol() else {
                        return error(
                            "Invalid let: the stand-in binds plain symbols only (no destructuring).",
                            pair[0].pos,
                        );
                    };
                    let init = self.expr(&pair[1], &scope)?;
                    scope.push(name.to_string());
                    pairs.push((name.to_string(), init));
                }
                Ok(Expr::Let { pairs, body: self.exprs(&args[1..], &scope)? })
            }
            Some("do") => Ok(Expr::Do(self.exprs(args, locals)?)),
            Some("if") => {
                if !(2..=3).contains(&args.len()) {
                    return error(format!("Invalid if: expects 2 or 3 forms, got {}.", args.len()), pos);
                }
                let otherwise = match args.get(2) {
                    Some(node) => Some(Box::new(self.expr(node, locals)?)),
                    None => None,
                };
                Ok(Expr::If {
                    condition: Box::new(self.expr(&args[0], locals)?),
                    then: Box::new(self.expr(&args[1], locals)?),
                    otherwise,
                })
            }
            Some("when") => {
                let Some(test) = args.first() else { return error("Invalid when: expects a test.", pos) };
                Ok(Expr::If {
                    condition: Box::new(self.expr(test, locals)?),
                    then: Box::new(Expr::Do(self.exprs(&args[1..], locals)?)),
                    otherwise: None,
                })
            }
            Some("quote") => match args {
                [quoted] => Ok(Expr::Literal(Val::quoted(quoted))),
                _ => error("Invalid quote: expects one form.", pos),
            },
            Some("comment") => Ok(Expr::Literal(Val::Nil)),
            Some(form) if UNSUPPORTED_FORMS.contains(&form) => Ok(Expr::Unsupported(form.to_string())),
            Some("ns") => Ok(Expr::Ns(ns_spec(args, pos)?)),
            Some(symbol) if self.macro_var(symbol).is_some() => {
                let expansion = self.macroexpand(symbol, items, pos)?;
                self.expr(&expansion, locals)
            }
            _ => Ok(Expr::Call { source: Box::new(self.expr(&items[0], locals)?), args: self.exprs(args, locals)? }),
        }
    }

    /// The macro function of the var `symbol` names, when that var is flagged as a macro.
    fn macro_var(&mut self, symbol: &str) -> Option<Val> {
        let (ns, name) = self.var_of(symbol)?;
        let namespace = self.env.namespaces.get(&ns)?;
        namespace.macros.contains(&name).then(|| namespace.vars.get(&name).cloned().flatten()).flatten()
    }

    /// Calls the macro with the call's forms unevaluated and reads its result back as code.
    fn macroexpand(&mut self, symbol: &str, items: &[Node], pos: Pos) -> Result<Node> {
        let Some(macro_fn) = self.macro_var(symbol) else { return error(format!("{symbol} is not a macro."), pos) };
        let whole = Val::List(items.iter().map(Val::quoted).collect());
        let mut args = vec![whole, Val::Nil];
        args.extend(items[1..].iter().map(Val::quoted));
        let expansion = crate::runtime::call_macro(self.env, &self.ns, &macro_fn, args).map_err(|e| JankError {
            message: e.message,
            pos: Some(pos),
            phase: Phase::Analyze,
        })?;
        // The expansion carries no positions of its own: its errors point at the call.
        expansion.to_node(pos).ok_or_else(|| JankError {
            message: format!("The stand-in cannot compile what {symbol} expanded to: {}.", expansion.pr_str()),
            pos: Some(pos),
            phase: Phase::Analyze,
        })
    }

    /// Like jank, the var exists before its value is analyzed, so a function can call itself.
    fn def_value(&mut self, name: &str, value: impl FnOnce(&mut Self) -> Result<Expr>) -> Result<Expr> {
        self.env.namespace(&self.ns).vars.entry(name.to_string()).or_insert(None);
        value(self)
    }

    /// `[params] body...` or `([params] body...)+`; only the first arity is kept. `implicit`
    /// parameters come first (a macro's `&form` and `&env`). Any number of parameters, as in
    /// jank: the fork's limits (registry 0-4, `jank_make_fn_wrapper` 0-3) bite in the page.
    fn function(&mut self, rest: &[Node], pos: Pos, locals: &[String], implicit: &[&str]) -> Result<Expr> {
        let (params, body) = match rest.first().map(|n| &n.form) {
            Some(Form::Vector(params)) => (params, &rest[1..]),
            Some(Form::List(arity)) => match arity.first().map(|n| &n.form) {
                Some(Form::Vector(params)) => (params, &arity[1..]),
                _ => return error("Invalid fn: an arity must start with a parameter vector.", pos),
            },
            _ => return error("Invalid fn: expects a parameter vector.", pos),
        };
        let mut names: Vec<String> = implicit.iter().map(|p| p.to_string()).collect();
        for param in params {
            match param.symbol() {
                Some("&") => return error("The stand-in does not support variadic functions.", param.pos),
                Some(name) => names.push(name.to_string()),
                None => return error("Invalid fn: the stand-in takes plain symbol parameters only.", param.pos),
            }
        }
        let mut scope = locals.to_vec();
        scope.extend(names.iter().cloned());
        let body = self.exprs(body, &scope)?;
        Ok(Expr::Fn(Arc::new(FnExpr { params: names, body })))
    }

    fn resolve(&mut self, symbol: &str, pos: Pos, locals: &[String]) -> Result<Expr> {
        if locals.iter().any(|l| l == symbol) {
            return Ok(Expr::Local(symbol.to_string()));
        }
        match self.var_of(symbol) {
            Some((ns, name)) => Ok(Expr::Var { ns, name }),
            None => error(format!("Unable to resolve symbol '{symbol}'."), pos),
        }
    }

    /// The var a (non-local) symbol names in the analysis namespace, as `(ns, name)`.
    fn var_of(&mut self, symbol: &str) -> Option<(String, String)> {
        let var = |ns: &str, name: &str| Some((ns.to_string(), name.to_string()));
        let (qualifier, name) = split_symbol(symbol);
        let current = self.env.namespace(&self.ns);
        if let Some(qualifier) = qualifier {
            let target = current.aliases.get(qualifier).cloned().unwrap_or_else(|| qualifier.to_string());
            return match self.env.namespaces.get(&target) {
                Some(ns) if ns.vars.contains_key(name) => var(&target, name),
                _ => None,
            };
        }
        if current.vars.contains_key(name) {
            return var(&self.ns, name);
        }
        if let Some(target) = current.refers.get(name) {
            return var(&target.clone(), name);
        }
        match self.env.namespaces.get(crate::runtime::CORE) {
            Some(core) if core.vars.contains_key(name) => var(crate::runtime::CORE, name),
            _ => None,
        }
    }
}

/// A vector or set whose elements are all literals becomes one literal, as in jank.
fn fold_literal(exprs: Vec<Expr>, literal: fn(Vec<Val>) -> Val, expr: fn(Vec<Expr>) -> Expr) -> Expr {
    if exprs.iter().all(|e| matches!(e, Expr::Literal(_))) {
        let values = exprs.into_iter().filter_map(|e| match e {
            Expr::Literal(v) => Some(v),
            _ => None,
        });
        return Expr::Literal(literal(values.collect()));
    }
    expr(exprs)
}

/// A macro's implicit first parameters, as jank's `defmacro` adds them.
const MACRO_PARAMS: &[&str] = &["&form", "&env"];

/// What follows a `defn`'s or `defmacro`'s name: the docstring and attribute map skipped.
fn fn_tail(args: &[Node]) -> &[Node] {
    let mut rest = &args[1..];
    if rest.len() > 1 && matches!(rest[0].form, Form::Str(_)) {
        rest = &rest[1..];
    }
    if rest.len() > 1 && matches!(rest[0].form, Form::Map(_)) {
        rest = &rest[1..];
    }
    rest
}

fn def_name(args: &[Node], pos: Pos) -> Result<String> {
    match args.first().and_then(Node::symbol) {
        Some(name) => Ok(split_symbol(name).1.to_string()),
        None => error("Invalid def: expects a symbol name.", pos),
    }
}

fn ns_spec(args: &[Node], pos: Pos) -> Result<NsSpec> {
    let Some(name) = args.first().and_then(Node::symbol) else { return error("Invalid ns: expects a name.", pos) };
    let mut requires = Vec::new();
    for clause in &args[1..] {
        let Form::List(items) = &clause.form else { continue };
        let is_require =
            matches!(items.first().map(|n| &n.form), Some(Form::Keyword { name, .. }) if name == "require");
        if !is_require {
            continue;
        }
        for spec in &items[1..] {
            requires.push(require_spec(spec)?);
        }
    }
    Ok(NsSpec { name: name.to_string(), requires, pos })
}

fn require_spec(spec: &Node) -> Result<Require> {
    if let Some(ns) = spec.symbol() {
        return Ok(Require { ns: ns.to_string(), alias: None, refer: None, all: false });
    }
    let Form::Vector(items) = &spec.form else {
        return error("Invalid require: expects a symbol or a vector.", spec.pos);
    };
    let Some(ns) = items.first().and_then(Node::symbol) else {
        return error("Invalid require: expects a namespace symbol first.", spec.pos);
    };
    let mut require = Require { ns: ns.to_string(), alias: None, refer: None, all: false };
    for option in items[1..].chunks(2) {
        let key = match &option[0].form {
            Form::Keyword { name, .. } => name.as_str(),
            _ => return error("Invalid require: expects :as or :refer.", option[0].pos),
        };
        let Some(value) = option.get(1) else {
            return error(format!("Invalid require: :{key} expects a value."), option[0].pos);
        };
        match (key, &value.form) {
            ("as", Form::Symbol(alias)) => require.alias = Some(alias.clone()),
            ("refer", Form::Keyword { name, .. }) if name == "all" => require.all = true,
            ("refer", Form::Vector(names)) => {
                require.refer = Some(names.iter().filter_map(Node::symbol).map(str::to_string).collect());
            }
            _ => return error(format!("Invalid require: unsupported :{key} value."), value.pos),
        }
    }
    Ok(require)
}
