//! The compile stage: jank -> C++ through jank's own compiler over nREPL.
//!
//! Owns: loading a file's namespace on the jank side, the `wasm-compile-patch` op, wrapping
//! expressions, mapping jank's errors back into the file. Must not generate code itself
//! (problem 3 in ARCHITECTURE.md) nor know about LSP, toolchains or pages.
//!
//! How a form is compiled ([`JankCompiler`]):
//! 1. The file must declare its namespace; a file without `(ns ...)` is refused (never `user`,
//!    problem 2 in ARCHITECTURE.md).
//! 2. On each new connection, before anything else, jank is asked what it can do
//!    ([`capabilities`]): without the op, every compile fails with one message naming the op
//!    and the jank build that has it.
//! 3. Before the first form of a namespace, and whenever its `ns` form changed, the whole file
//!    goes to jank with `load-file`, so the namespace, its requires and aliases, its macros and
//!    the file's other vars exist where the form is compiled (problem 1 in ARCHITECTURE.md). No `ns` is named:
//!    the namespace is the file's to create.
//! 4. `wasm-compile-patch` (the op of the jank fork the seed used, pfeodrippe/jank branch
//!    `nrepl`) with the form, the namespace and the sidecar's patch id. An expression is sent
//!    as `(defn __jank_hotpatch_eval_<id> [] <expr>)` on the expression's first line, so jank's
//!    line numbers stay the form's.
//! 5. The reply is checked: namespace and patch id as requested, not the fork's "successful"
//!    `// ERROR: ...` C++, not C++ whose code generator compiled part of the form to nil, and
//!    not C++ at the code generator's edges ([`codegen_edges`]: a closure, a name bound twice,
//!    a name that is no C++ identifier, arities the page cannot call), each refused with what
//!    to write instead; `true`/`false` compiled as 1/nil patch with a warning.
//!    A symbol that did not resolve, or a def that refers to itself in another namespace, is
//!    explained when jank analysed the form outside the file's namespace (the fork's op does
//!    not bind `*ns*`; see docs/real-jank.md). Without a position from jank, a failure covers
//!    the whole form and says so.
//!
//! `ns` forms are not compiled: the pipeline skips them (saving the file reloads the
//! namespace through step 2); asked anyway, [`JankCompiler`] answers with a failure saying so.
//! A restarted jank is noticed (new connection), and everything it was told is told again.

pub mod capabilities;
pub mod codegen_edges;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::NreplSettings;
use crate::nrepl::{ClientOptions, Connection, Eval, Link, LoadFile, Locator, Message, NreplError, Response};
use crate::reader::{FormKind, Namespace, NsDecl};
use crate::stages::{
    Compile, CompileRequest, CompiledForm, FormSource, FormWarning, LineCol, PatchId, PatchKind, StageFailure, VarName,
};
use capabilities::{referenced_vars, Capabilities};

/// The jank fork's op that compiles one def form to a side module's C++.
pub const COMPILE_OP: &str = "wasm-compile-patch";

/// Where jank's own functions live: every namespace refers to it.
const CORE_NS: &str = "clojure.core";

/// Expressions are compiled as a zero-argument function with this name plus the patch id.
pub const EXPRESSION_PREFIX: &str = "__jank_hotpatch_eval_";

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("this file has no (ns ...) form; add one so the patch lands in the right namespace")]
    NoNamespace,
    #[error("ns forms are not patched: save the file to reload the namespace")]
    NsForm,
    #[error("comment forms are not patched: patch a form inside it")]
    CommentForm,
    #[error("{0}")]
    Nrepl(#[from] NreplError),
    #[error("jank's nREPL server has no `{COMPILE_OP}` op: hot patching needs the jank build from pfeodrippe/jank branch `nrepl` (upstream jank does not have it yet){server}")]
    MissingOp { server: String },
    #[error("jank could not load {path} (namespace {ns}): {message}{}", unplaced(location))]
    LoadFailed { path: String, ns: String, message: String, location: Option<LineCol> },
    #[error("jank: {message}{}", unplaced(location))]
    Jank { message: String, location: Option<LineCol> },
    #[error("jank analysed this form in namespace `{analysed}`, not in `{declared}` that this file declares, so: {message}. jank's `{COMPILE_OP}` op must bind `*ns*` to the requested namespace as its `eval` does (a change in jank: `handle_wasm_compile_patch`, nrepl_server/ops/wasm_compile_patch.hpp; see docs/real-jank.md){}", unplaced(location))]
    AnalysedElsewhere { analysed: String, declared: String, message: String, location: Option<LineCol> },
    #[error("jank: {0}")]
    Codegen(String),
    #[error("jank's code generator has no translation for part of this form and compiled it to nil (`// {marker}` in its C++): not patched. {why}")]
    Untranslated { marker: &'static str, why: &'static str },
    /// The code generator's C++ would not build, or not run, for a construct of the form.
    #[error("{message}")]
    Edge { message: String, location: Option<LineCol> },
    #[error("jank compiled the form into namespace `{got}`, but the file declares `{expected}`")]
    NamespaceMismatch { expected: String, got: String },
    #[error("jank answered with patch id {got} to a request for patch {expected}")]
    PatchIdMismatch { expected: PatchId, got: String },
    #[error("jank's answer to `{COMPILE_OP}` has no `{field}`: {reply}")]
    BadReply { field: &'static str, reply: String },
    #[error("jank could not evaluate the form: {message}{}", unplaced(location))]
    Mirror { message: String, location: Option<LineCol> },
}

/// Said of a jank failure without a position: its diagnostic covers the whole form.
fn unplaced(location: &Option<LineCol>) -> &'static str {
    if location.is_some() {
        ""
    } else {
        " (jank gave no position)"
    }
}

impl From<CompileError> for StageFailure {
    fn from(error: CompileError) -> Self {
        let location = match &error {
            CompileError::LoadFailed { location, .. }
            | CompileError::Jank { location, .. }
            | CompileError::AnalysedElsewhere { location, .. }
            | CompileError::Mirror { location, .. }
            | CompileError::Edge { location, .. } => *location,
            _ => None,
        };
        let failure = StageFailure::new(error.to_string());
        match location {
            Some(at) => failure.at(at),
            None => failure,
        }
    }
}

/// The compile backend on jank's nREPL server. See the module docs.
pub struct JankCompiler {
    locator: Arc<Locator>,
    connection: Connection,
    /// Held for a whole compile: jank evaluates one request at a time anyway, and a
    /// namespace must not be loaded twice concurrently.
    state: tokio::sync::Mutex<JankState>,
}

/// What this sidecar knows about the jank it is connected to; reset on reconnect.
#[derive(Default)]
struct JankState {
    generation: u64,
    /// Asked first on each connection.
    jank: Option<Capabilities>,
    /// Namespaces loaded with `load-file`, with the fingerprint of the `ns` form loaded.
    loaded: HashMap<String, String>,
}

impl JankCompiler {
    /// `settings.endpoint` if set, else the `.nrepl-port` found walking up from the file
    /// being compiled (or from `workspace`): the [`Locator`] every user of jank's nREPL shares
    /// ([`JankCompiler::locator`]).
    pub fn new(settings: NreplSettings, workspace: PathBuf) -> Self {
        let options = ClientOptions { timeout: Duration::from_millis(settings.timeout_ms), ..ClientOptions::default() };
        JankCompiler {
            locator: Arc::new(Locator::new(settings.endpoint.clone(), &workspace)),
            connection: Connection::new(options),
            state: tokio::sync::Mutex::new(JankState::default()),
        }
    }

    /// How this compiler finds jank: to be shared with whatever else talks to it.
    pub fn locator(&self) -> Arc<Locator> {
        self.locator.clone()
    }

    /// Where jank's nREPL server is for `file`, and the port file it came from.
    pub fn endpoint(&self, file: &Path) -> Result<(String, Option<PathBuf>), CompileError> {
        let located = self.locator.locate(Some(file))?;
        Ok((located.addr, located.port_file))
    }

    /// Connects (or reuses the connection); on a new connection, first asks what jank can do.
    async fn connect<'s>(
        &self,
        state: &mut JankState,
        request: &'s CompileRequest,
    ) -> Result<(Link, &'s NsDecl), CompileError> {
        let Namespace::Declared(decl) = &request.source.namespace else { return Err(CompileError::NoNamespace) };
        let (addr, from) = self.endpoint(&request.source.path)?;
        let link = self.connection.link(&addr).await.map_err(|e| match e {
            NreplError::Refused { addr, reason, .. } => NreplError::Refused { addr, from, reason },
            other => other,
        })?;
        if link.generation != state.generation {
            *state = JankState { generation: link.generation, ..JankState::default() };
        }
        if state.jank.is_none() {
            state.jank = Some(Capabilities::ask(&link).await?);
        }
        Ok((link, decl))
    }

    /// Makes sure the request's namespace is loaded as the file declares it now.
    async fn ensure_loaded(
        &self,
        state: &mut JankState,
        link: &Link,
        decl: &NsDecl,
        request: &CompileRequest,
    ) -> Result<(), CompileError> {
        if state.loaded.get(&decl.name).map(String::as_str) != Some(request.source.namespace.fingerprint()) {
            self.load(link, decl, request).await?;
            state.loaded.insert(decl.name.clone(), request.source.namespace.fingerprint().to_string());
        }
        Ok(())
    }

    async fn load(&self, link: &Link, decl: &NsDecl, request: &CompileRequest) -> Result<(), CompileError> {
        let path = request.source.path.display().to_string();
        let name = request.source.path.file_name().map(|n| n.to_string_lossy().into_owned());
        // No `ns`: the file's own `(ns ...)` creates its namespace, which may not exist yet
        // (Clojure's nREPL answers `namespace-not-found` to a load-file naming it).
        let load = LoadFile { contents: &request.source.text, path: Some(&path), name: name.as_deref(), ns: None };
        let response = link.client.load_file(&link.session, &load).await?;
        let Some(message) = response.error_message() else { return Ok(()) };
        // The whole file was sent, so jank's position is file-relative already.
        let location = jank_position(&response).map(file_line_col);
        Err(CompileError::LoadFailed { path, ns: decl.name.clone(), message, location })
    }

    async fn compile_form(&self, request: &CompileRequest) -> Result<CompiledForm, CompileError> {
        let (code, kind, wrapper) = match &request.form.kind {
            FormKind::Ns => return Err(CompileError::NsForm),
            FormKind::Comment => return Err(CompileError::CommentForm),
            FormKind::Def(_) => (request.form.text.clone(), PatchKind::Definition, None),
            FormKind::Expression => {
                let name = format!("{EXPRESSION_PREFIX}{}", request.patch_id);
                // On the expression's first line, so that jank's line N is the form's line N.
                (format!("(defn {name} [] {})", request.form.text), PatchKind::Expression, Some(name))
            }
        };
        let mut state = self.state.lock().await;
        let (link, decl) = self.connect(&mut state, request).await?;
        if !state.jank.as_ref().is_some_and(|jank| jank.has_op) {
            return Err(missing_op(&state, &link));
        }
        self.ensure_loaded(&mut state, &link, decl, request).await?;
        let message = Message::op(COMPILE_OP)
            .with("session", link.session.as_str())
            .with("code", code.as_str())
            .with("ns", decl.name.as_str())
            .with("patch-id", request.patch_id.to_string());
        let response = link.client.request(message).await?;
        if response.has_status("unknown-op") || response.get_str("err") == Some("unknown-op") {
            if let Some(jank) = &mut state.jank {
                jank.has_op = false;
            }
            return Err(missing_op(&state, &link));
        }
        let shift = wrapper.as_ref().map_or(0, |_| code.find(&request.form.text).unwrap_or(0) as u32);
        let compiled = read_compiled(&response, request, &decl.name, shift, kind, wrapper);
        namespace_checked(&mut state, &link, &decl.name, compiled).await
    }

    async fn mirror_form(&self, request: &CompileRequest) -> Result<(), CompileError> {
        // Only definitions: evaluating an expression again would repeat its effects.
        if !matches!(request.form.kind, FormKind::Def(_)) {
            return Ok(());
        }
        let mut state = self.state.lock().await;
        let (link, decl) = self.connect(&mut state, request).await?;
        self.ensure_loaded(&mut state, &link, decl, request).await?;
        let file = request.source.path.display().to_string();
        let eval = Eval {
            code: &request.form.text,
            ns: Some(&decl.name),
            file: Some(&file),
            line: Some(request.form.start.line + 1),
            column: Some(request.form.start.column + 1),
        };
        let response = link.client.eval(&link.session, &eval).await?;
        match response.error_message() {
            None => Ok(()),
            // The eval carried the form's place in the file, so jank's position is in the file.
            Some(message) => {
                Err(CompileError::Mirror { message, location: jank_position(&response).map(file_line_col) })
            }
        }
    }
}

#[async_trait]
impl Compile for JankCompiler {
    async fn compile(&self, request: &CompileRequest) -> Result<CompiledForm, StageFailure> {
        self.compile_form(request).await.map_err(StageFailure::from)
    }

    async fn mirror(&self, request: &CompileRequest) -> Result<(), StageFailure> {
        self.mirror_form(request).await.map_err(StageFailure::from)
    }
}

/// Says so when jank analysed the form outside the file's namespace `declared` (the fork's
/// `user`): a symbol that did not resolve, or C++ calling into that namespace. jank interns a
/// def in the namespace it analyses in, so once the fork compiled the file's defs in `user`,
/// calls of them resolve to `user/...`, which the page lacks.
async fn namespace_checked(
    state: &mut JankState,
    link: &Link,
    declared: &str,
    compiled: Result<CompiledForm, CompileError>,
) -> Result<CompiledForm, CompileError> {
    let compiled = match compiled {
        Err(CompileError::Jank { message, location }) if message.contains("Unable to resolve symbol") => {
            return Err(match analysed_elsewhere(state, link, declared).await? {
                Some(analysed) => {
                    // The message's own full stop is the one the explanation puts after it.
                    let message = message.trim_end_matches('.').to_string();
                    CompileError::AnalysedElsewhere { analysed, declared: declared.to_string(), message, location }
                }
                None => CompileError::Jank { message, location },
            });
        }
        other => other?,
    };
    if !referenced_vars(&compiled.cpp).any(|(ns, _)| ns != declared && ns != CORE_NS) {
        return Ok(compiled);
    }
    let Some(analysed) = analysed_elsewhere(state, link, declared).await? else { return Ok(compiled) };
    let call = referenced_vars(&compiled.cpp).find(|(ns, _)| *ns == analysed).map(|(ns, name)| format!("{ns}/{name}"));
    match call {
        Some(call) => {
            let message = format!("the generated C++ calls `{call}`, not a var of `{declared}`");
            Err(CompileError::AnalysedElsewhere { analysed, declared: declared.to_string(), message, location: None })
        }
        None => Ok(compiled),
    }
}

/// The namespace jank's op analyses code for `declared` in, when it is not `declared`.
async fn analysed_elsewhere(
    state: &mut JankState,
    link: &Link,
    declared: &str,
) -> Result<Option<String>, CompileError> {
    let analysed = match &mut state.jank {
        Some(jank) => jank.analysis_ns(link, declared).await?,
        None => None,
    };
    Ok(analysed.filter(|ns| ns != declared))
}

fn missing_op(state: &JankState, link: &Link) -> CompileError {
    let versions = state.jank.as_ref().map(|jank| &jank.describe).map(|d| {
        d.versions.iter().map(|(name, v)| match v.as_str() {
            Some(text) => format!("{name} {text}"),
            None => name.clone(),
        })
    });
    let versions: Vec<String> = versions.into_iter().flatten().collect();
    let server = if versions.is_empty() {
        format!("; the server at {}", link.client.addr())
    } else {
        format!("; the server at {} is {}", link.client.addr(), versions.join(", "))
    };
    CompileError::MissingOp { server }
}

/// The compiled form out of the op's reply, checked against the request.
fn read_compiled(
    response: &Response,
    request: &CompileRequest,
    ns: &str,
    shift: u32,
    kind: PatchKind,
    wrapper: Option<String>,
) -> Result<CompiledForm, CompileError> {
    if let Some(message) = response.error_message() {
        return Err(CompileError::Jank { message, location: form_location(response, request, shift) });
    }
    let field = |field: &'static str| {
        response.get_str(field).ok_or_else(|| CompileError::BadReply { field, reply: response.to_string() })
    };
    let cpp = field("cpp-code")?;
    let got_ns = field("ns-name")?;
    if got_ns != ns {
        return Err(CompileError::NamespaceMismatch { expected: ns.to_string(), got: got_ns.to_string() });
    }
    let got_id = field("patch-id")?;
    if got_id.trim().parse::<u64>().ok() != Some(request.patch_id.0) {
        return Err(CompileError::PatchIdMismatch { expected: request.patch_id, got: got_id.to_string() });
    }
    // The fork answers some failures as a success whose C++ is only a comment.
    if let Some(message) = cpp.trim_start().strip_prefix("// ERROR:") {
        return Err(CompileError::Codegen(message.trim().to_string()));
    }
    // The fork's code generator turns what it cannot translate into nil, with a comment.
    let untranslated = codegen_edges::comments(cpp)
        .find_map(|comment| UNTRANSLATED.iter().find(|(marker, _)| comment.starts_with(marker)));
    if let Some(&(marker, why)) = untranslated {
        return Err(CompileError::Untranslated { marker, why });
    }
    let defined = match &wrapper {
        Some(_) => None,
        None => Some(field("var-name")?),
    };
    let form = &request.form;
    let place =
        |explained: codegen_edges::Explained| (explained.message, explained.at.map(|at| text_location(form, at)));
    if let Some(edge) = codegen_edges::first_edge(cpp) {
        let (message, location) = place(codegen_edges::explain(&edge, &form.text, defined));
        return Err(CompileError::Edge { message, location });
    }
    let warnings = codegen_edges::booleans(codegen_edges::comments(cpp), &form.text)
        .map(place)
        .map(|(message, location)| FormWarning { message, location });
    let name = wrapper.or(defined.map(str::to_string)).unwrap_or_default();
    Ok(CompiledForm {
        patch_id: request.patch_id,
        cpp: cpp.to_string(),
        var: VarName::new(ns, name),
        kind,
        warnings: warnings.into_iter().collect(),
    })
}

/// A byte offset in the form's text as a place in its file.
fn text_location(form: &FormSource, offset: usize) -> LineCol {
    let before = form.text.get(..offset).unwrap_or_default();
    match before.rfind('\n') {
        None => LineCol { line: form.start.line, column: form.start.column + before.chars().count() as u32 },
        Some(newline) => LineCol {
            line: form.start.line + before.matches('\n').count() as u32,
            column: before[newline + 1..].chars().count() as u32,
        },
    }
}

/// The comments of the fork's `wasm_patch_processor` where it emitted nil for something it has
/// no translation for, each with why and what to write instead (docs/real-jank.md, "Parts the
/// code generator cannot translate", has the fork's source lines).
const UNTRANSLATED: [(&str, &str); 4] = [
    (
        "unsupported expr",
        "It translates literals, calls through vars, locals, vectors and sets with a computed element, \
         `do`, `let`, `if` and `fn`; not maps, `loop`/`recur`, `try`/`throw`, `case`, `letfn` or `#'var`.",
    ),
    (
        "unsupported literal",
        "jank folds a vector or set whose elements are all constants (`[18 30]`, `#{1 2}`) into one \
         constant value, and the code generator translates no constant collection: build it with a \
         call instead, `(vector 18 30)` or `(hash-set 1 2)`.",
    ),
    ("TODO: call non-var", "It calls only vars: call a function defined with `defn`, not a local one."),
    ("empty fn", "A `fn` needs at least one arity, `(fn [params] body)`."),
];

/// jank's position (1-based line and column, relative to the code sent) moved into the file
/// (0-based). `shift`: characters of wrapper before the form on its first line.
fn form_location(response: &Response, request: &CompileRequest, shift: u32) -> Option<LineCol> {
    let (line, column) = jank_position(response)?;
    let start = request.form.start;
    Some(if line == 1 {
        LineCol { line: start.line, column: start.column + (column - 1).saturating_sub(shift) }
    } else {
        LineCol { line: start.line + line - 1, column: column - 1 }
    })
}

fn file_line_col((line, column): (u32, u32)) -> LineCol {
    LineCol { line: line - 1, column: column - 1 }
}

/// The 1-based line and column jank gives for an error: `line`/`column` fields (the fork's
/// eval errors), else `at (file:line:col)` in the message (its formatted errors).
fn jank_position(response: &Response) -> Option<(u32, u32)> {
    let field = |key| response.messages.iter().find_map(|m| m.get_int(key)).and_then(|n| u32::try_from(n).ok());
    if let Some(line) = field("line").filter(|&l| l > 0) {
        return Some((line, field("column").filter(|&c| c > 0).unwrap_or(1)));
    }
    let text = response.err();
    let inside = text.split(" at (").nth(1)?.split(')').next()?;
    let mut numbers = inside.rsplit(':').map_while(|part| part.parse::<u32>().ok().filter(|&n| n > 0));
    let last = numbers.next()?;
    Some(match numbers.next() {
        Some(line) => (line, last),
        None => (last, 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nrepl::Value;

    fn reply(fields: &[(&str, Value)]) -> Response {
        let mut message = Message::new();
        for (k, v) in fields {
            message.insert(k, v.clone());
        }
        Response { messages: vec![message] }
    }

    #[test]
    fn positions_from_fields_and_text() {
        let r = reply(&[("line", Value::from("3")), ("column", Value::from(7))]);
        assert_eq!(jank_position(&r), Some((3, 7)));
        let r = reply(&[(
            "err",
            Value::from("Syntax error compiling at (src/a.jank:2:5).\nUnable to resolve symbol 'x'."),
        )]);
        assert_eq!(jank_position(&r), Some((2, 5)));
        let r = reply(&[("err", Value::from("boom"))]);
        assert_eq!(jank_position(&r), None);
    }
}
