//! The stand-in's tiny runtime: values, namespaces and vars, the functions the demo's page
//! runtime has ([`PAGE_FNS`]), and an interpreter for analyzed expressions, so `eval` and
//! `load-file` answer with values printed as jank prints them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use crate::analyze::{Analyzer, Expr, FnExpr, NsSpec};
use crate::reader::{read_all, Form, Node, Pos};

pub const CORE: &str = "clojure.core";

/// `clojure.core` as the demo's runtime in the page has it (`demo/runtime/core.cpp`, whose
/// table a test holds to this list): what the stand-in resolves, evaluates and, in the fork's
/// shape, calls through vars. One list, so that a form that compiles here runs in the page.
pub const CORE_FNS: &[&str] = &[
    "+",
    "-",
    "*",
    "/",
    "<",
    ">",
    "<=",
    ">=",
    "=",
    "not=",
    "inc",
    "dec",
    "not",
    "mod",
    "max",
    "min",
    "str",
    "pr-str",
    "println",
    "prn",
    "count",
    "first",
    "rest",
    "nth",
    "conj",
    "get",
    "contains?",
    "assoc",
    "vector",
    "list",
    "hash-map",
    "hash-set",
    "vec",
    "set",
    "into",
    "range",
    "mapv",
    "filterv",
    "reduce",
    "apply",
    "identity",
    "nil?",
    "empty?",
    "zero?",
    "pos?",
    "neg?",
    "even?",
    "odd?",
    "keyword",
    "name",
];

/// Every function the demo's runtime in the page has, by namespace (`demo/runtime/core.cpp`,
/// whose table a test holds to this list): the stand-in knows no other, so that it never
/// compiles a call the page cannot make. The namespaces besides `clojure.core` can be
/// required without being loaded first; `clojure.string` is one of jank's, but the page has
/// none of its functions.
pub const PAGE_FNS: &[(&str, &[&str])] = &[(CORE, CORE_FNS), ("clojure.set", &["union"]), ("clojure.string", &[])];

#[derive(Clone, Debug)]
pub enum Val {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Keyword(Option<String>, String),
    Symbol(Option<String>, String),
    List(Vec<Val>),
    Vector(Vec<Val>),
    Map(Vec<(Val, Val)>),
    Set(Vec<Val>),
    Fn(Arc<Closure>),
    Builtin(String, String),
    Var(String, String),
}

#[derive(Debug)]
pub struct Closure {
    pub function: Arc<FnExpr>,
    pub captured: HashMap<String, Val>,
}

/// Which step failed, named as jank's nREPL server names it in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Read,
    Analyze,
    Execute,
}

#[derive(Clone, Debug, PartialEq)]
pub struct JankError {
    pub message: String,
    /// 1-based, relative to the code received.
    pub pos: Option<Pos>,
    pub phase: Phase,
}

impl JankError {
    fn execution(message: impl Into<String>) -> Self {
        JankError { message: message.into(), pos: None, phase: Phase::Execute }
    }

    /// jank's `ex` / `exception-type` for the error.
    pub fn kind(&self) -> &'static str {
        match self.phase {
            Phase::Read => "parse/invalid",
            Phase::Analyze => "analyze/unresolved-symbol",
            Phase::Execute => "runtime/exception",
        }
    }

    pub fn phase_text(&self) -> &'static str {
        match self.phase {
            Phase::Read => "Syntax error reading source",
            Phase::Analyze => "Syntax error compiling",
            Phase::Execute => "Execution error",
        }
    }
}

#[derive(Debug, Default)]
pub struct Namespace {
    /// `None`: interned, not bound yet.
    pub vars: BTreeMap<String, Option<Val>>,
    pub aliases: BTreeMap<String, String>,
    pub refers: BTreeMap<String, String>,
    /// Vars flagged as macros (jank's `:macro true` meta): the analyzer expands calls to them.
    pub macros: std::collections::BTreeSet<String>,
}

#[derive(Debug)]
pub struct Env {
    pub namespaces: BTreeMap<String, Namespace>,
}

impl Default for Env {
    fn default() -> Self {
        let mut env = Env { namespaces: BTreeMap::new() };
        env.define_library(CORE, CORE_FNS);
        env.namespace("user");
        env
    }
}

impl Env {
    /// The namespace `name`, created when missing.
    pub fn namespace(&mut self, name: &str) -> &mut Namespace {
        self.namespaces.entry(name.to_string()).or_default()
    }

    fn define_library(&mut self, name: &str, fns: &[&str]) {
        let ns = self.namespace(name);
        for f in fns {
            ns.vars.insert(f.to_string(), Some(Val::Builtin(name.to_string(), f.to_string())));
        }
    }

    /// Makes `name` available as `require` would: loaded before, or one of the libraries.
    fn require(&mut self, name: &str) -> Result<(), JankError> {
        if self.namespaces.contains_key(name) {
            return Ok(());
        }
        match PAGE_FNS.iter().find(|(lib, _)| *lib == name) {
            Some((lib, fns)) => {
                self.define_library(lib, fns);
                Ok(())
            }
            None => Err(JankError::execution(format!("Unable to find module '{name}'."))),
        }
    }

    fn apply_ns(&mut self, spec: &NsSpec) -> Result<(), JankError> {
        for require in &spec.requires {
            self.require(&require.ns).map_err(|e| JankError { pos: Some(spec.pos), ..e })?;
        }
        let mut refers = Vec::new();
        for require in &spec.requires {
            let target = &self.namespaces[&require.ns];
            let names: Vec<String> = match (&require.refer, require.all) {
                (_, true) => target.vars.keys().cloned().collect(),
                (Some(names), false) => names.clone(),
                (None, false) => Vec::new(),
            };
            for name in names {
                if !target.vars.contains_key(&name) {
                    return Err(JankError::execution(format!("{}/{name} does not exist", require.ns)));
                }
                refers.push((name, require.ns.clone()));
            }
        }
        let ns = self.namespace(&spec.name);
        for require in &spec.requires {
            if let Some(alias) = &require.alias {
                ns.aliases.insert(alias.clone(), require.ns.clone());
            }
        }
        ns.refers.extend(refers);
        Ok(())
    }
}

/// What evaluating code gave, including its printed output and the namespace it ended in.
pub struct Evaluated {
    pub result: Result<Val, JankError>,
    pub out: String,
    pub ns: String,
}

/// Calls a macro's function while analysing, as jank's analyzer does: what it prints is
/// dropped (there is no evaluation to report it with).
pub fn call_macro(env: &mut Env, ns: &str, f: &Val, args: Vec<Val>) -> Result<Val, JankError> {
    Interpreter { env, ns: ns.to_string(), out: String::new(), depth: 0 }.call(f, args)
}

/// Reads, analyzes and evaluates every form of `code` in turn starting in namespace `ns`.
pub fn eval_string(env: &mut Env, code: &str, ns: &str) -> Evaluated {
    let mut interpreter = Interpreter { env, ns: ns.to_string(), out: String::new(), depth: 0 };
    let result = interpreter.eval_all(code);
    Evaluated { result, out: interpreter.out, ns: interpreter.ns }
}

struct Interpreter<'e> {
    env: &'e mut Env,
    ns: String,
    out: String,
    depth: usize,
}

/// Deep enough for small recursive programs, shallow enough to never overflow the stack.
const MAX_DEPTH: usize = 200;

type Locals = HashMap<String, Val>;

impl Interpreter<'_> {
    fn eval_all(&mut self, code: &str) -> Result<Val, JankError> {
        let nodes =
            read_all(code).map_err(|e| JankError { message: e.message, pos: Some(e.pos), phase: Phase::Read })?;
        let mut last = Val::Nil;
        for node in &nodes {
            let expr = Analyzer { env: self.env, ns: self.ns.clone() }.analyze(node)?;
            last = self.eval(&expr, &Locals::new())?;
        }
        Ok(last)
    }

    fn eval(&mut self, expr: &Expr, locals: &Locals) -> Result<Val, JankError> {
        Ok(match expr {
            Expr::Literal(v) => v.clone(),
            Expr::Local(name) => locals.get(name).cloned().unwrap_or(Val::Nil),
            Expr::Var { ns, name } => self.deref(ns, name)?,
            Expr::Call { source, args } => {
                let f = self.eval(source, locals)?;
                let args = args.iter().map(|a| self.eval(a, locals)).collect::<Result<Vec<_>, _>>()?;
                self.call(&f, args)?
            }
            Expr::Vector(items) => Val::Vector(self.eval_each(items, locals)?),
            Expr::Set(items) => Val::Set(dedup(self.eval_each(items, locals)?)),
            Expr::Map(items) => {
                let values = self.eval_each(items, locals)?;
                Val::Map(values.chunks(2).map(|kv| (kv[0].clone(), kv[1].clone())).collect())
            }
            Expr::Do(body) => self.eval_body(body, locals)?,
            Expr::Let { pairs, body } => {
                let mut scope = locals.clone();
                for (name, init) in pairs {
                    let value = self.eval(init, &scope)?;
                    scope.insert(name.clone(), value);
                }
                self.eval_body(body, &scope)?
            }
            Expr::If { condition, then, otherwise } => {
                if self.eval(condition, locals)?.truthy() {
                    self.eval(then, locals)?
                } else if let Some(otherwise) = otherwise {
                    self.eval(otherwise, locals)?
                } else {
                    Val::Nil
                }
            }
            Expr::Fn(function) => Val::Fn(Arc::new(Closure { function: function.clone(), captured: locals.clone() })),
            Expr::Def { ns, name, value, once } => {
                let bound = matches!(self.env.namespace(ns).vars.get(name), Some(Some(_)));
                if !(*once && bound) {
                    let value = match value {
                        Some(value) => Some(self.eval(value, locals)?),
                        None => None,
                    };
                    let namespace = self.env.namespace(ns);
                    namespace.vars.insert(name.clone(), value);
                    // A def replaces the var's meta, as in Clojure: a macro redefined by a
                    // plain defn is a function again.
                    namespace.macros.remove(name);
                }
                Val::Var(ns.clone(), name.clone())
            }
            Expr::MarkMacro { ns, name } => {
                self.env.namespace(ns).macros.insert(name.clone());
                Val::Nil
            }
            Expr::Ns(spec) => {
                self.env.apply_ns(spec)?;
                self.ns = spec.name.clone();
                Val::Nil
            }
            Expr::Unsupported(form) => {
                return Err(JankError::execution(format!("The stand-in does not evaluate `{form}`.")))
            }
        })
    }

    fn eval_each(&mut self, items: &[Expr], locals: &Locals) -> Result<Vec<Val>, JankError> {
        items.iter().map(|e| self.eval(e, locals)).collect()
    }

    fn eval_body(&mut self, body: &[Expr], locals: &Locals) -> Result<Val, JankError> {
        let mut last = Val::Nil;
        for expr in body {
            last = self.eval(expr, locals)?;
        }
        Ok(last)
    }

    fn deref(&mut self, ns: &str, name: &str) -> Result<Val, JankError> {
        match self.env.namespaces.get(ns).and_then(|n| n.vars.get(name)) {
            Some(Some(value)) => Ok(value.clone()),
            _ => Err(JankError::execution(format!("Attempting to deref unbound var #'{ns}/{name}."))),
        }
    }

    fn call(&mut self, f: &Val, args: Vec<Val>) -> Result<Val, JankError> {
        match f {
            Val::Builtin(ns, name) => builtin(self, ns, name, args),
            Val::Fn(closure) => {
                let params = &closure.function.params;
                if params.len() != args.len() {
                    return Err(JankError::execution(format!(
                        "Wrong number of args ({}) passed to a function of {} parameters.",
                        args.len(),
                        params.len()
                    )));
                }
                if self.depth >= MAX_DEPTH {
                    return Err(JankError::execution("Stack overflow (the stand-in allows 200 nested calls)."));
                }
                let mut scope = closure.captured.clone();
                scope.extend(params.iter().cloned().zip(args));
                self.depth += 1;
                let result = self.eval_body(&closure.function.body, &scope);
                self.depth -= 1;
                result
            }
            Val::Keyword(..) | Val::Map(_) if args.len() == 1 => Ok(lookup(f, &args[0])),
            other => Err(JankError::execution(format!("{} is not callable.", other.pr_str()))),
        }
    }
}

fn lookup(f: &Val, arg: &Val) -> Val {
    let (map, key) = match (f, arg) {
        (Val::Map(entries), key) | (key, Val::Map(entries)) => (entries, key),
        _ => return Val::Nil,
    };
    map.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or(Val::Nil)
}

fn dedup(values: Vec<Val>) -> Vec<Val> {
    let mut out: Vec<Val> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn builtin(interpreter: &mut Interpreter, ns: &str, name: &str, args: Vec<Val>) -> Result<Val, JankError> {
    let arity = |n: usize| -> Result<(), JankError> {
        if args.len() == n {
            Ok(())
        } else {
            Err(JankError::execution(format!("Wrong number of args ({}) passed to {ns}/{name}.", args.len())))
        }
    };
    Ok(match (ns, name) {
        (CORE, "+") => fold(&args, Val::Int(0), |a, b| arith(a, b, i64::checked_add, |x, y| x + y))?,
        (CORE, "*") => fold(&args, Val::Int(1), |a, b| arith(a, b, i64::checked_mul, |x, y| x * y))?,
        (CORE, "-") if args.len() == 1 => arith(&Val::Int(0), &args[0], i64::checked_sub, |x, y| x - y)?,
        (CORE, "-") => fold_first(&args, |a, b| arith(a, b, i64::checked_sub, |x, y| x - y))?,
        (CORE, "/") => fold_first(&args, divide)?,
        (CORE, "mod") => {
            arity(2)?;
            match (&args[0], &args[1]) {
                (_, Val::Int(0)) => return Err(JankError::execution("Divide by zero.")),
                (Val::Int(a), Val::Int(b)) => Val::Int(a.rem_euclid(*b)),
                (a, b) => Val::Float(number(a)?.rem_euclid(number(b)?)),
            }
        }
        (CORE, "inc") => {
            arity(1)?;
            arith(&args[0], &Val::Int(1), i64::checked_add, |x, y| x + y)?
        }
        (CORE, "dec") => {
            arity(1)?;
            arith(&args[0], &Val::Int(1), i64::checked_sub, |x, y| x - y)?
        }
        (CORE, "<" | ">" | "<=" | ">=") => {
            let mut ok = true;
            for pair in args.windows(2) {
                let (a, b) = (number(&pair[0])?, number(&pair[1])?);
                ok &= match name {
                    "<" => a < b,
                    ">" => a > b,
                    "<=" => a <= b,
                    _ => a >= b,
                };
            }
            Val::Bool(ok)
        }
        (CORE, "=") => Val::Bool(args.windows(2).all(|p| p[0] == p[1])),
        (CORE, "not=") => Val::Bool(!args.windows(2).all(|p| p[0] == p[1])),
        (CORE, "not") => {
            arity(1)?;
            Val::Bool(!args[0].truthy())
        }
        (CORE, "nil?") => {
            arity(1)?;
            Val::Bool(matches!(args[0], Val::Nil))
        }
        (CORE, "zero?") => {
            arity(1)?;
            Val::Bool(number(&args[0])? == 0.0)
        }
        (CORE, "max" | "min") => fold_first(&args, |a, b| {
            let pick_b = if name == "max" { number(b)? > number(a)? } else { number(b)? < number(a)? };
            Ok(if pick_b { b.clone() } else { a.clone() })
        })?,
        (CORE, "str") => Val::Str(args.iter().map(Val::str).collect()),
        (CORE, "pr-str") => Val::Str(args.iter().map(Val::pr_str).collect::<Vec<_>>().join(" ")),
        (CORE, "println" | "prn") => {
            let print = if name == "println" { Val::str } else { Val::pr_str };
            let line: Vec<String> = args.iter().map(print).collect();
            interpreter.out.push_str(&line.join(" "));
            interpreter.out.push('\n');
            Val::Nil
        }
        (CORE, "vector") => Val::Vector(args),
        (CORE, "list") => Val::List(args),
        (CORE, "count") => {
            arity(1)?;
            Val::Int(match &args[0] {
                Val::Nil => 0,
                Val::Str(s) => s.chars().count() as i64,
                Val::List(v) | Val::Vector(v) | Val::Set(v) => v.len() as i64,
                Val::Map(m) => m.len() as i64,
                other => return Err(JankError::execution(format!("count not supported on {}.", other.pr_str()))),
            })
        }
        (CORE, "first") => {
            arity(1)?;
            match &args[0] {
                Val::List(v) | Val::Vector(v) | Val::Set(v) => v.first().cloned().unwrap_or(Val::Nil),
                _ => Val::Nil,
            }
        }
        (CORE, "rest") => {
            arity(1)?;
            Val::List(items(&args[0])?.into_iter().skip(1).collect())
        }
        (CORE, "nth") => {
            let [coll, index, default @ ..] = args.as_slice() else { return Err(wrong_args(ns, name, args.len())) };
            let items = items(coll)?;
            let found = match index {
                Val::Int(i) if *i >= 0 => items.get(*i as usize).cloned(),
                _ => None,
            };
            match (found, default) {
                (Some(v), _) => v,
                (None, [default]) => default.clone(),
                (None, _) => return Err(JankError::execution("Index out of bounds.")),
            }
        }
        (CORE, "conj") => {
            let Some((coll, xs)) = args.split_first() else { return Err(wrong_args(ns, name, 0)) };
            xs.iter().try_fold(coll.clone(), |acc, x| conj(acc, x.clone()))?
        }
        (CORE, "into") => {
            arity(2)?;
            items(&args[1])?.into_iter().try_fold(args[0].clone(), conj)?
        }
        (CORE, "get") => match args.as_slice() {
            [coll, key] => get(coll, key).unwrap_or(Val::Nil),
            [coll, key, default] => get(coll, key).unwrap_or_else(|| default.clone()),
            _ => return Err(wrong_args(ns, name, args.len())),
        },
        (CORE, "contains?") => {
            arity(2)?;
            Val::Bool(match &args[0] {
                Val::Set(items) => items.contains(&args[1]),
                _ => get(&args[0], &args[1]).is_some(),
            })
        }
        (CORE, "assoc") => {
            let Some((coll, pairs)) = args.split_first() else { return Err(wrong_args(ns, name, 0)) };
            if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
                return Err(wrong_args(ns, name, args.len()));
            }
            pairs.chunks(2).try_fold(coll.clone(), |acc, kv| assoc(acc, kv[0].clone(), kv[1].clone()))?
        }
        (CORE, "hash-map") => {
            if !args.len().is_multiple_of(2) {
                return Err(JankError::execution("No value supplied for key."));
            }
            args.chunks(2).try_fold(Val::Map(Vec::new()), |acc, kv| assoc(acc, kv[0].clone(), kv[1].clone()))?
        }
        (CORE, "hash-set") => Val::Set(dedup(args)),
        (CORE, "vec") => {
            arity(1)?;
            Val::Vector(items(&args[0])?)
        }
        (CORE, "set") => {
            arity(1)?;
            Val::Set(dedup(items(&args[0])?))
        }
        (CORE, "range") => {
            let ints = args.iter().map(|a| match a {
                Val::Int(i) => Ok(*i),
                other => Err(JankError::execution(format!("range takes integers, not {}.", other.pr_str()))),
            });
            let (start, end, step) = match ints.collect::<Result<Vec<i64>, _>>()?.as_slice() {
                [end] => (0, *end, 1),
                [start, end] => (*start, *end, 1),
                [start, end, step] if *step != 0 => (*start, *end, *step),
                _ => return Err(wrong_args(ns, name, args.len())),
            };
            let mut out = Vec::new();
            let mut i = start;
            while (step > 0 && i < end) || (step < 0 && i > end) {
                out.push(Val::Int(i));
                i += step;
            }
            Val::List(out)
        }
        (CORE, "mapv" | "filterv") => {
            arity(2)?;
            let mut out = Vec::new();
            for item in items(&args[1])? {
                let result = interpreter.call(&args[0], vec![item.clone()])?;
                match name {
                    "mapv" => out.push(result),
                    _ if result.truthy() => out.push(item),
                    _ => {}
                }
            }
            Val::Vector(out)
        }
        (CORE, "reduce") => {
            let (f, init, coll) = match args.as_slice() {
                [f, coll] => {
                    let mut all = items(coll)?.into_iter();
                    match all.next() {
                        None => return interpreter.call(f, Vec::new()),
                        Some(first) => (f, first, all.collect::<Vec<_>>()),
                    }
                }
                [f, init, coll] => (f, init.clone(), items(coll)?),
                _ => return Err(wrong_args(ns, name, args.len())),
            };
            let mut acc = init;
            for item in coll {
                acc = interpreter.call(f, vec![acc, item])?;
            }
            acc
        }
        (CORE, "apply") => {
            let [f, middle @ .., last] = args.as_slice() else { return Err(wrong_args(ns, name, args.len())) };
            let mut all = middle.to_vec();
            all.extend(items(last)?);
            interpreter.call(f, all)?
        }
        (CORE, "identity") => {
            arity(1)?;
            args[0].clone()
        }
        (CORE, "empty?") => {
            arity(1)?;
            Val::Bool(match &args[0] {
                Val::Str(s) => s.is_empty(),
                other => items(other)?.is_empty(),
            })
        }
        (CORE, "pos?" | "neg?") => {
            arity(1)?;
            let n = number(&args[0])?;
            Val::Bool(if name == "pos?" { n > 0.0 } else { n < 0.0 })
        }
        (CORE, "even?" | "odd?") => {
            arity(1)?;
            let Val::Int(n) = args[0] else {
                return Err(JankError::execution(format!("Argument must be an integer: {}.", args[0].pr_str())));
            };
            Val::Bool((n % 2 == 0) == (name == "even?"))
        }
        (CORE, "keyword") => match args.as_slice() {
            [Val::Keyword(ns, n)] => Val::Keyword(ns.clone(), n.clone()),
            [Val::Str(n) | Val::Symbol(None, n)] => Val::Keyword(None, n.clone()),
            [Val::Str(ns), Val::Str(n)] => Val::Keyword(Some(ns.clone()), n.clone()),
            _ => Val::Nil,
        },
        (CORE, "name") => {
            arity(1)?;
            match &args[0] {
                Val::Keyword(_, n) | Val::Symbol(_, n) | Val::Str(n) => Val::Str(n.clone()),
                other => return Err(JankError::execution(format!("Doesn't support name: {}.", other.pr_str()))),
            }
        }
        ("clojure.set", "union") => {
            let sets = args.iter().map(elements).collect::<Result<Vec<_>, _>>()?;
            Val::Set(dedup(sets.into_iter().flatten().collect()))
        }
        _ => return Err(JankError::execution(format!("{ns}/{name} is not implemented by the stand-in."))),
    })
}

fn wrong_args(ns: &str, name: &str, count: usize) -> JankError {
    JankError::execution(format!("Wrong number of args ({count}) passed to {ns}/{name}."))
}

/// A collection's items as a sequence sees them: a map's entries as `[k v]` vectors.
fn items(v: &Val) -> Result<Vec<Val>, JankError> {
    match v {
        Val::Map(entries) => Ok(entries.iter().map(|(k, v)| Val::Vector(vec![k.clone(), v.clone()])).collect()),
        other => elements(other),
    }
}

/// `(conj coll x)`: vectors and sets at the end, lists (and nil) at the front, maps take a
/// `[k v]` pair.
fn conj(coll: Val, x: Val) -> Result<Val, JankError> {
    Ok(match coll {
        Val::Nil => Val::List(vec![x]),
        Val::List(mut items) => {
            items.insert(0, x);
            Val::List(items)
        }
        Val::Vector(mut items) => {
            items.push(x);
            Val::Vector(items)
        }
        Val::Set(mut items) => {
            if !items.contains(&x) {
                items.push(x);
            }
            Val::Set(items)
        }
        map @ Val::Map(_) => match x {
            Val::Vector(pair) if pair.len() == 2 => assoc(map, pair[0].clone(), pair[1].clone())?,
            other => {
                return Err(JankError::execution(format!("Vector arg to map conj must be a pair: {}.", other.pr_str())))
            }
        },
        other => return Err(JankError::execution(format!("conj not supported on {}.", other.pr_str()))),
    })
}

/// `(assoc coll k v)` on a map (or nil) or a vector (an index up to its length).
fn assoc(coll: Val, key: Val, value: Val) -> Result<Val, JankError> {
    Ok(match coll {
        Val::Nil => Val::Map(vec![(key, value)]),
        Val::Map(mut entries) => {
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
            Val::Map(entries)
        }
        Val::Vector(mut items) => match key {
            Val::Int(i) if i >= 0 && (i as usize) < items.len() => {
                items[i as usize] = value;
                Val::Vector(items)
            }
            Val::Int(i) if i >= 0 && i as usize == items.len() => {
                items.push(value);
                Val::Vector(items)
            }
            _ => return Err(JankError::execution("Index out of bounds.")),
        },
        other => return Err(JankError::execution(format!("assoc not supported on {}.", other.pr_str()))),
    })
}

/// What `(get coll key)` finds, `None` when nothing is there.
fn get(coll: &Val, key: &Val) -> Option<Val> {
    match (coll, key) {
        (Val::Map(entries), key) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()),
        (Val::Vector(items), Val::Int(i)) if *i >= 0 => items.get(*i as usize).cloned(),
        (Val::Set(items), key) => items.contains(key).then(|| key.clone()),
        _ => None,
    }
}

fn elements(v: &Val) -> Result<Vec<Val>, JankError> {
    match v {
        Val::Nil => Ok(Vec::new()),
        Val::List(items) | Val::Vector(items) | Val::Set(items) => Ok(items.clone()),
        other => Err(JankError::execution(format!("Not a collection: {}.", other.pr_str()))),
    }
}

fn number(v: &Val) -> Result<f64, JankError> {
    match v {
        Val::Int(i) => Ok(*i as f64),
        Val::Float(f) => Ok(*f),
        other => Err(JankError::execution(format!("Not a number: {}.", other.pr_str()))),
    }
}

fn arith(a: &Val, b: &Val, int: fn(i64, i64) -> Option<i64>, float: fn(f64, f64) -> f64) -> Result<Val, JankError> {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => {
            int(*x, *y).map(Val::Int).ok_or_else(|| JankError::execution("Integer overflow."))
        }
        _ => Ok(Val::Float(float(number(a)?, number(b)?))),
    }
}

fn divide(a: &Val, b: &Val) -> Result<Val, JankError> {
    match (a, b) {
        (_, Val::Int(0)) => Err(JankError::execution("Divide by zero.")),
        (Val::Int(x), Val::Int(y)) if x % y == 0 => Ok(Val::Int(x / y)),
        _ => Ok(Val::Float(number(a)? / number(b)?)),
    }
}

fn fold(args: &[Val], init: Val, f: impl Fn(&Val, &Val) -> Result<Val, JankError>) -> Result<Val, JankError> {
    args.iter().try_fold(init, |acc, v| f(&acc, v))
}

fn fold_first(args: &[Val], f: impl Fn(&Val, &Val) -> Result<Val, JankError>) -> Result<Val, JankError> {
    let (first, rest) = args.split_first().ok_or_else(|| JankError::execution("Wrong number of args (0)."))?;
    fold(rest, first.clone(), f)
}

impl PartialEq for Val {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Val::Nil, Val::Nil) => true,
            (Val::Bool(a), Val::Bool(b)) => a == b,
            (Val::Int(a), Val::Int(b)) => a == b,
            (Val::Float(a), Val::Float(b)) => a == b,
            (Val::Int(a), Val::Float(b)) | (Val::Float(b), Val::Int(a)) => (*a as f64) == *b,
            (Val::Str(a), Val::Str(b)) => a == b,
            (Val::Keyword(n1, a), Val::Keyword(n2, b)) | (Val::Symbol(n1, a), Val::Symbol(n2, b)) => n1 == n2 && a == b,
            (Val::List(a) | Val::Vector(a), Val::List(b) | Val::Vector(b)) => a == b,
            (Val::Set(a), Val::Set(b)) => a.len() == b.len() && a.iter().all(|v| b.contains(v)),
            (Val::Map(a), Val::Map(b)) => a.len() == b.len() && a.iter().all(|kv| b.contains(kv)),
            (Val::Builtin(n1, a), Val::Builtin(n2, b)) | (Val::Var(n1, a), Val::Var(n2, b)) => n1 == n2 && a == b,
            (Val::Fn(a), Val::Fn(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Val {
    /// A read form as a constant (what `quote` gives).
    pub fn quoted(node: &Node) -> Val {
        let all = |items: &[Node]| items.iter().map(Val::quoted).collect::<Vec<_>>();
        match &node.form {
            Form::Nil => Val::Nil,
            Form::Bool(b) => Val::Bool(*b),
            Form::Int(i) => Val::Int(*i),
            Form::Float(f) => Val::Float(*f),
            Form::Str(s) => Val::Str(s.clone()),
            Form::Keyword { ns, name, .. } => Val::Keyword(ns.clone(), name.clone()),
            Form::Symbol(s) => {
                let (ns, name) = crate::reader::split_symbol(s);
                Val::Symbol(ns.map(str::to_string), name.to_string())
            }
            Form::List(items) => Val::List(all(items)),
            Form::Vector(items) => Val::Vector(all(items)),
            Form::Set(items) => Val::Set(dedup(all(items))),
            Form::Map(items) => Val::Map(all(items).chunks(2).map(|kv| (kv[0].clone(), kv[1].clone())).collect()),
        }
    }

    /// The value as code (what a macro's expansion is read back as), every node at `pos`;
    /// `None` for what has no source form (functions, vars).
    pub fn to_node(&self, pos: Pos) -> Option<Node> {
        let all = |items: &[Val]| items.iter().map(|v| v.to_node(pos)).collect::<Option<Vec<_>>>();
        let form = match self {
            Val::Nil => Form::Nil,
            Val::Bool(b) => Form::Bool(*b),
            Val::Int(i) => Form::Int(*i),
            Val::Float(f) => Form::Float(*f),
            Val::Str(s) => Form::Str(s.clone()),
            Val::Keyword(ns, name) => Form::Keyword { ns: ns.clone(), name: name.clone(), auto: false },
            Val::Symbol(ns, name) => Form::Symbol(match ns {
                Some(ns) => format!("{ns}/{name}"),
                None => name.clone(),
            }),
            Val::List(items) => Form::List(all(items)?),
            Val::Vector(items) => Form::Vector(all(items)?),
            Val::Set(items) => Form::Set(all(items)?),
            Val::Map(entries) => {
                let flat: Vec<Val> = entries.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect();
                Form::Map(all(&flat)?)
            }
            Val::Fn(_) | Val::Builtin(..) | Val::Var(..) => return None,
        };
        Some(Node { form, pos })
    }

    pub fn truthy(&self) -> bool {
        !matches!(self, Val::Nil | Val::Bool(false))
    }

    /// As `str` prints it.
    pub fn str(&self) -> String {
        match self {
            Val::Nil => String::new(),
            Val::Str(s) => s.clone(),
            other => other.pr_str(),
        }
    }

    /// As `pr-str` prints it (what nREPL's `value` carries).
    pub fn pr_str(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seq = |f: &mut fmt::Formatter<'_>, open: &str, items: &[Val], close: &str| {
            let parts: Vec<String> = items.iter().map(Val::pr_str).collect();
            write!(f, "{open}{}{close}", parts.join(" "))
        };
        let qualified = |ns: &Option<String>, name: &str| match ns {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_string(),
        };
        match self {
            Val::Nil => f.write_str("nil"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::Int(i) => write!(f, "{i}"),
            Val::Float(x) if x.fract() == 0.0 && x.is_finite() => write!(f, "{x:.1}"),
            Val::Float(x) => write!(f, "{x}"),
            Val::Str(s) => write!(f, "\"{}\"", crate::codegen::escape(s)),
            Val::Keyword(ns, name) => write!(f, ":{}", qualified(ns, name)),
            Val::Symbol(ns, name) => f.write_str(&qualified(ns, name)),
            Val::List(items) => seq(f, "(", items, ")"),
            Val::Vector(items) => seq(f, "[", items, "]"),
            Val::Set(items) => seq(f, "#{", items, "}"),
            Val::Map(entries) => {
                let parts: Vec<String> =
                    entries.iter().map(|(k, v)| format!("{} {}", k.pr_str(), v.pr_str())).collect();
                write!(f, "{{{}}}", parts.join(", "))
            }
            Val::Fn(_) | Val::Builtin(..) => f.write_str("#object [jank::runtime::obj::jit_function]"),
            Val::Var(ns, name) => write!(f, "#'{ns}/{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(env: &mut Env, code: &str) -> Result<String, String> {
        eval_string(env, code, "user").result.map(|v| v.pr_str()).map_err(|e| e.message)
    }

    #[test]
    fn defmacro_expands_calls_with_its_current_definition_and_unevaluated_args() {
        let mut env = Env::default();
        assert_eq!(eval(&mut env, "(ns a.macros) (defmacro twice [x] (list '* 2 x))"), Ok("#'a.macros/twice".into()));
        assert_eq!(
            eval(&mut env, "(ns b.core (:require [a.macros :as m])) (defn f [] (m/twice 3)) (f)"),
            Ok("6".into())
        );
        // The argument reaches the macro as a form, not a value.
        assert_eq!(
            eval(&mut env, "(ns a.macros) (defmacro quoted [x] (list 'quote x)) (quoted (+ 1 2))"),
            Ok("(+ 1 2)".into())
        );
        // A compiled function keeps the expansion it was analysed with; the next analysis uses
        // the new definition.
        assert_eq!(eval(&mut env, "(ns a.macros) (defmacro twice [x] (list '* 3 x))"), Ok("#'a.macros/twice".into()));
        assert_eq!(eval(&mut env, "(ns b.core) (f)"), Ok("6".into()));
        assert_eq!(eval(&mut env, "(ns b.core) (defn f [] (m/twice 3)) (f)"), Ok("9".into()));
        // A plain defn of the same name is a function again.
        assert_eq!(eval(&mut env, "(ns a.macros) (defn twice [x] (* 4 x)) (twice 1)"), Ok("4".into()));
    }

    #[test]
    fn a_macro_exists_only_once_evaluated_and_its_errors_point_at_the_call() {
        let mut env = Env::default();
        // Analysed (as the op does) but not evaluated: no macro, so a call of it is unresolved.
        let node = &read_all("(defmacro twice [x] (list '* 2 x))").unwrap()[0];
        Analyzer { env: &mut env, ns: "user".into() }.analyze(node).unwrap();
        assert!(!env.namespaces["user"].macros.contains("twice"));
        eval(&mut env, "(defmacro bad [x] (list 'nope x))").unwrap();
        let error = eval_string(&mut env, "(defn g []\n  (bad 1))", "user").result.unwrap_err();
        assert_eq!(error.message, "Unable to resolve symbol 'nope'.");
        assert_eq!(error.pos, Some(Pos { line: 2, column: 3 }));
        assert!(eval(&mut env, "`(a ~b)").unwrap_err().contains("syntax-quote"));
    }

    /// The page's functions (the table in `demo/runtime/core.cpp`) are the stand-in's, in
    /// every namespace.
    #[test]
    fn the_stand_in_knows_the_functions_the_page_has() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/runtime/core.cpp");
        let cpp = std::fs::read_to_string(&path).unwrap();
        let page: std::collections::BTreeSet<(&str, &str)> = cpp
            .lines()
            .filter_map(|l| l.trim().strip_prefix("{ \""))
            .filter_map(|rest| match rest.split("\"").collect::<Vec<_>>()[..] {
                [ns, ", ", name, ..] => Some((ns, name)),
                _ => None,
            })
            .collect();
        let here: std::collections::BTreeSet<(&str, &str)> =
            PAGE_FNS.iter().flat_map(|(ns, fns)| fns.iter().map(move |f| (*ns, *f))).collect();
        assert!(page.len() > 40, "read {} functions from {}", page.len(), path.display());
        assert_eq!(here, page, "PAGE_FNS against {}", path.display());
    }

    /// What the page cannot call, the stand-in does not resolve: jank's `clojure.string` and
    /// the rest of `clojure.set` are refused, not compiled into a call that fails in the page.
    #[test]
    fn what_the_page_lacks_does_not_resolve() {
        let mut env = Env::default();
        let ns = "(ns a (:require [clojure.set :as set] [clojure.string :as str]))";
        assert_eq!(eval(&mut env, &format!("{ns} (count (set/union #{{1 2}} #{{2 3}}))")), Ok("3".into()));
        for (code, symbol) in [("(str/join [1 2])", "str/join"), ("(set/intersection #{1} #{1})", "set/intersection")] {
            let error = eval(&mut env, &format!("{ns} {code}")).unwrap_err();
            assert!(error.contains(&format!("Unable to resolve symbol '{symbol}'")), "{code}: {error}");
        }
    }

    #[test]
    fn what_a_new_user_types_in_the_demo_evaluates() {
        let mut env = Env::default();
        for (code, value) in [
            ("(nth [18 30] 0)", "18"),
            ("(reduce + (mapv inc (range 3)))", "6"),
            ("(get (assoc (hash-map) :a 7) :a)", "7"),
            ("(count (conj [1 2] 3))", "3"),
            ("(first (rest (filterv odd? [1 2 3])))", "3"),
            ("(apply max 1 [5 2])", "5"),
            ("(into #{} [1 1 2])", "#{1 2}"),
            ("(str (name :k) (keyword \"x\"))", "\"k:x\""),
        ] {
            assert_eq!(eval(&mut env, code), Ok(value.to_string()), "{code}");
        }
    }
}
