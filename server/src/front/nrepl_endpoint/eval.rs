//! `eval` and `load-file` through the hot-patch pipeline: the code becomes a [`FileSnapshot`]
//! (the file's real text when the code is exactly where the client says it is in the saved
//! file, else the namespace's `ns` form followed by the code at the client's line and column),
//! each top-level form is patched with `Selection::FormAt`, and the report becomes what an
//! nREPL client shows: a value, a warning on `err`, or an error with line and column.
//! Evaluations about the REPL itself are answered by [`super::tooling`] before any of this.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::pipeline::{jank_paths, line_col, FileSnapshot, PatchReport, Pipeline, Selection};
use crate::reader::{self, Form, FormKind, SourceFile};
use crate::stages::{LineCol, VarName};

use super::lock;
use super::tooling::{self, Answer};

/// The namespace a session starts in, as in Clojure.
pub const DEFAULT_NS: &str = "user";

/// What the client asked to evaluate.
#[derive(Clone, Debug, Default)]
pub struct EvalInput {
    pub code: String,
    pub ns: Option<String>,
    /// The file the code comes from, absolute or relative to the workspace.
    pub file: Option<String>,
    /// 1-based, where the code starts in `file`.
    pub line: Option<u32>,
    pub column: Option<u32>,
}

/// What the client asked to load: a whole file's contents.
#[derive(Clone, Debug, Default)]
pub struct LoadInput {
    pub contents: String,
    pub path: Option<String>,
}

/// One reply of an evaluation, in nREPL's terms; the connection adds `id` and `session`.
#[derive(Clone, Debug, PartialEq)]
pub enum EvalEvent {
    /// A form's printed value and the namespace it was evaluated in.
    Value { value: String, ns: String },
    /// Something the user should read that is not an error (`err` in nREPL).
    Warning(String),
    /// What the code printed in the page, one line (`out` in nREPL).
    Output(String),
    /// The evaluation stopped: `err` text, then `ex`/`root-ex` with `status: [eval-error]`, in
    /// namespace `ns` (clients show it in their prompt).
    Failure { err: String, ex: String, ns: String },
}

/// What evaluations share: the pipeline, the workspace, and the `ns` form last seen for each
/// namespace (from files and evaluated `ns` forms), so that code evaluated without a file is
/// compiled against its namespace's requires.
pub struct Evaluator {
    pipeline: Arc<Pipeline>,
    workspace: PathBuf,
    /// Where code evaluated without a file is said to come from (`<cacheDir>/nrepl/<ns>.jank`).
    cache_dir: PathBuf,
    namespaces: Mutex<HashMap<String, NsSource>>,
}

#[derive(Clone, Debug)]
struct NsSource {
    form: String,
    path: Option<PathBuf>,
}

/// Where evaluated code comes from (see [`Evaluator::origin`]).
struct Origin {
    /// Where the code starts as the client counts (0-based).
    client_start: LineCol,
    file: Option<PathBuf>,
    /// The namespace `file` declares.
    file_ns: Option<String>,
    /// Where the code starts in the file's saved text, with that text, when it is exactly there.
    exact: Option<(usize, String)>,
}

/// Where a form goes: the document, the form's offset in it, and how to map places in the
/// document back to the client's line and column.
struct Placed {
    doc: FileSnapshot,
    /// The namespace the document declares: the pipeline compiles the form in it.
    ns: String,
    offset: usize,
    /// The form's start in the document and as the client counts (both 0-based).
    in_doc: LineCol,
    in_client: LineCol,
    file: Option<PathBuf>,
}

impl Evaluator {
    pub fn new(pipeline: Arc<Pipeline>, workspace: &Path, cache_dir: &Path) -> Self {
        Evaluator {
            pipeline,
            workspace: workspace.to_path_buf(),
            cache_dir: cache_dir.to_path_buf(),
            namespaces: Mutex::new(HashMap::new()),
        }
    }

    /// Patches as the pipeline does, then waits for jank to have evaluated the definitions
    /// on its side too: after an `eval` answers, the client may ask jank about the new vars
    /// (completion, eldoc), or evaluate a form that uses them.
    async fn run(&self, doc: &FileSnapshot, selection: Selection) -> PatchReport {
        let mut report = self.pipeline.run(doc, selection, &()).await;
        report.warnings.extend(self.pipeline.settle().await);
        report
    }

    /// Evaluates every top-level form of `input` in order, stopping at the first failure.
    /// `session_ns` is the session's current namespace: an `ns` form switches it. Returns the
    /// namespace the evaluation ended in.
    pub async fn eval(
        &self,
        input: &EvalInput,
        session_ns: &mut String,
        emit: &mut (dyn FnMut(EvalEvent) + Send),
    ) -> String {
        let named_ns = input.ns.clone().filter(|n| !n.is_empty());
        if let Some(ns) = answer_tooling(input, named_ns.as_deref(), session_ns, emit) {
            return ns;
        }
        let code = reader::parse(&input.code);
        let client_start = LineCol {
            line: input.line.unwrap_or(1).saturating_sub(1),
            column: input.column.unwrap_or(1).saturating_sub(1),
        };
        let file = input.file.as_deref().and_then(|f| self.workspace_file(f));
        if let Some(error) = code.errors.first() {
            let at = shift(client_start, line_col(&input.code, error.range.start));
            let ns = named_ns.unwrap_or_else(|| session_ns.clone());
            emit(failure("read", &error.message, file.as_deref(), at, &ns));
            return ns;
        }
        let origin = self.origin(&input.code, &code, client_start, file);
        // The ns the client names, else the file's (what the pipeline compiles in), else the session's.
        let mut ns = named_ns.or(origin.file_ns.clone()).unwrap_or_else(|| session_ns.clone());
        for form in &code.forms {
            match form.kind {
                FormKind::Ns => {
                    if let Some(declared) = self.enter_ns(&input.code[form.range.clone()], &origin) {
                        ns = declared;
                        *session_ns = ns.clone();
                    }
                    emit(EvalEvent::Value { value: "nil".into(), ns: ns.clone() });
                    continue;
                }
                FormKind::Comment => {
                    emit(EvalEvent::Value { value: "nil".into(), ns: ns.clone() });
                    continue;
                }
                FormKind::Def(_) | FormKind::Expression => {}
            }
            let placed = self.place(&input.code, form, &origin, &ns);
            let report = self.run(&placed.doc, Selection::FormAt(placed.offset)).await;
            match outcome(&report, form, &ns, &placed) {
                Ok(events) => events.into_iter().for_each(&mut *emit),
                Err(failed) => {
                    emit(failed);
                    return ns;
                }
            }
        }
        ns
    }

    /// Where the evaluated code comes from: the file the client names, and whether the code
    /// is exactly there in its saved text. Remembers the file's `ns` form.
    fn origin(&self, code_text: &str, code: &SourceFile, client_start: LineCol, file: Option<PathBuf>) -> Origin {
        let file_text = file.as_deref().and_then(|f| std::fs::read_to_string(f).ok());
        let file_ns = file_text.as_deref().and_then(|text| self.remember_file(text, file.as_deref()));
        // Only a source file (one that declares its namespace) can stand for the code: Calva's
        // REPL window is a file of the workspace too, a transcript.
        let exact = file_ns
            .as_ref()
            .and(file_text.as_deref())
            .and_then(|text| exact_place(text, code_text, code, client_start))
            .zip(file_text.clone());
        Origin { client_start, file, file_ns, exact }
    }

    /// An evaluated `ns` form: the namespace it declares, remembered with its requires.
    fn enter_ns(&self, text: &str, origin: &Origin) -> Option<String> {
        let reader::Namespace::Declared(decl) = &reader::parse(text).namespace else { return None };
        let ns = decl.name.clone();
        // `(ns a)` alone switches to `a` without dropping its requires, as in Clojure
        // (Conjure sends it before a buffer's first eval).
        let bare = decl.normalized == format!("(ns {ns})");
        if !bare || !lock(&self.namespaces).contains_key(&ns) {
            // The file is the namespace's only if it declares it (not Calva's REPL window).
            let source = origin.file.clone().filter(|_| origin.file_ns.as_deref() == Some(ns.as_str()));
            self.remember(&ns, text, source);
        }
        Some(ns)
    }

    /// The document a form of the evaluated code is patched in: the file itself when the code
    /// is exactly there, else one made for it in namespace `ns`.
    fn place(&self, code_text: &str, form: &Form, origin: &Origin, ns: &str) -> Placed {
        match (&origin.exact, &origin.file_ns) {
            (Some((base, text)), Some(file_ns)) => Placed {
                doc: FileSnapshot { path: origin.file.clone().unwrap_or_default(), text: text.as_str().into() },
                ns: file_ns.clone(),
                offset: base + form.range.start,
                in_doc: line_col(text, base + form.range.start),
                in_client: line_col(text, base + form.range.start),
                file: origin.file.clone(),
            },
            _ => {
                let at = shift(origin.client_start, line_col(code_text, form.range.start));
                self.synthesize(ns, &code_text[form.range.clone()], at, origin.file.as_deref())
            }
        }
    }

    /// Loads a whole file as nREPL's `load-file` does, answering with its last form's value:
    /// definitions changed since the file's last load are patched (`defonce` kept, unchanged
    /// ones skipped), then every expression is evaluated in the page, in order, every time.
    /// Definitions go first, in one batch, so an expression sees the file's definitions even
    /// when it comes before them. What the code prints in the page comes first, as `out`.
    /// Returns the session's namespace, which loading leaves alone.
    pub async fn load_file(
        &self,
        input: &LoadInput,
        session_ns: &str,
        emit: &mut (dyn FnMut(EvalEvent) + Send),
    ) -> String {
        let path = self.workspace.join(input.path.as_deref().filter(|p| !p.is_empty()).unwrap_or("NO_SOURCE_FILE"));
        let parsed = reader::parse(&input.contents);
        self.remember_file(&input.contents, Some(&path));
        let doc = FileSnapshot { path: path.clone(), text: input.contents.as_str().into() };
        let ns = parsed.namespace.name().unwrap_or(session_ns);
        // The document is the client's file: places map to themselves.
        let origin = LineCol { line: 0, column: 0 };
        let placed = |form: &Form| Placed {
            doc: doc.clone(),
            ns: ns.to_string(),
            offset: form.range.start,
            in_doc: origin,
            in_client: origin,
            file: Some(path.clone()),
        };
        let Some(last) = parsed.forms.iter().rev().find(|f| !matches!(f.kind, FormKind::Ns | FormKind::Comment)) else {
            emit(EvalEvent::Value { value: "nil".into(), ns: session_ns.to_string() });
            return session_ns.to_string();
        };
        let definitions = self.run(&doc, Selection::ChangedDefinitions).await;
        if let Some(failed) = failed(&definitions, &placed(last), session_ns) {
            emit(failed);
            return session_ns.to_string();
        }
        definitions.output.iter().for_each(|line| emit(EvalEvent::Output(format!("{line}\n"))));
        // "nothing changed" is the usual case here, not news.
        if let (false, Some(message)) = (definitions.forms.is_empty(), &definitions.message) {
            emit(EvalEvent::Warning(format!("{message}\n")));
        }
        let mut value = VarName::defined_by(ns, &last.kind, last.name.as_deref()).map(|var| var.printed());
        for form in parsed.forms.iter().filter(|f| f.kind == FormKind::Expression) {
            let placed = placed(form);
            let report = self.run(&doc, Selection::FormAt(placed.offset)).await;
            match outcome(&report, form, session_ns, &placed) {
                Ok(events) => {
                    for event in events {
                        match event {
                            EvalEvent::Value { value: v, .. } if std::ptr::eq(form, last) => value = Some(v),
                            EvalEvent::Value { .. } => {}
                            other => emit(other),
                        }
                    }
                }
                Err(failed) => {
                    emit(failed);
                    return session_ns.to_string();
                }
            }
        }
        if let Some(value) = value {
            emit(EvalEvent::Value { value, ns: session_ns.to_string() });
        }
        session_ns.to_string()
    }

    /// A document holding the namespace's `ns` form and then `form` at the client's line and
    /// column, so that jank's line numbers are the file's.
    fn synthesize(&self, ns: &str, form: &str, at: LineCol, file: Option<&Path>) -> Placed {
        let source = self.ns_source(ns, file);
        let mut text = source.form.clone();
        let header_lines = text.matches('\n').count() as u32 + 1;
        let in_doc = if at.line >= header_lines {
            text.push_str(&"\n".repeat((at.line - header_lines + 1) as usize));
            text.push_str(&" ".repeat(at.column as usize));
            at
        } else {
            text.push('\n');
            LineCol { line: header_lines, column: 0 }
        };
        let offset = text.len();
        text.push_str(form);
        text.push('\n');
        let path = file.map(Path::to_path_buf).or(source.path).unwrap_or_else(|| self.virtual_path(ns));
        Placed {
            doc: FileSnapshot { path, text: text.into() },
            ns: ns.to_string(),
            offset,
            in_doc,
            in_client: at,
            file: file.map(Path::to_path_buf),
        }
    }

    /// The `ns` form for `ns`: the file's if it declares it, else the last one seen, else the
    /// one in the namespace's file in the workspace, else a bare `(ns <ns>)`.
    fn ns_source(&self, ns: &str, file: Option<&Path>) -> NsSource {
        if let Some(known) = lock(&self.namespaces).get(ns) {
            return known.clone();
        }
        if file.is_none() {
            if let Some(path) = find_ns_file(&self.workspace, ns) {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    self.remember_file(&text, Some(&path));
                    if let Some(known) = lock(&self.namespaces).get(ns) {
                        return known.clone();
                    }
                }
            }
        }
        NsSource { form: format!("(ns {ns})"), path: None }
    }

    /// Remembers the file's `ns` form; the namespace it declares.
    fn remember_file(&self, text: &str, path: Option<&Path>) -> Option<String> {
        let parsed: SourceFile = reader::parse(text);
        let reader::Namespace::Declared(decl) = &parsed.namespace else { return None };
        self.remember(&decl.name, text.get(decl.range.clone())?, path.map(Path::to_path_buf));
        Some(decl.name.clone())
    }

    fn remember(&self, ns: &str, form: &str, path: Option<PathBuf>) {
        let mut namespaces = lock(&self.namespaces);
        let path = path.or_else(|| namespaces.get(ns).and_then(|known| known.path.clone()));
        namespaces.insert(ns.to_string(), NsSource { form: form.to_string(), path });
    }

    /// `file` as a source file of the workspace, or `None` when it is a label: CIDER names its
    /// REPL buffer there (`*cider-repl <dir>:<host>:<port>(clj)*`), other clients `NO_SOURCE_FILE`
    /// or a file outside the workspace, none of which must be read or handed to jank to load.
    fn workspace_file(&self, file: &str) -> Option<PathBuf> {
        let path = self.workspace.join(file);
        let real = path.canonicalize().ok()?;
        (real.is_file() && real.starts_with(self.workspace.canonicalize().ok()?)).then_some(path)
    }

    /// Code evaluated without a file: a path no real file has, named after the namespace.
    fn virtual_path(&self, ns: &str) -> PathBuf {
        self.cache_dir.join("nrepl").join(format!("{ns}.jank"))
    }
}

/// The offset in the saved file where the client's code sits, when every form of it is a
/// top-level form of the file at the place the client gave (the buffer was saved).
fn exact_place(file_text: &str, code_text: &str, code: &SourceFile, start: LineCol) -> Option<usize> {
    let base = offset_of(file_text, start)?;
    if !file_text.get(base..)?.starts_with(code_text.trim_end()) || code.forms.is_empty() {
        return None;
    }
    let file = reader::parse(file_text);
    code.forms
        .iter()
        .all(|form| {
            file.forms.iter().any(|f| f.range.start == base + form.range.start && f.range.len() == form.range.len())
        })
        .then_some(base)
}

/// The byte offset of a 0-based line and column (in characters).
pub(super) fn offset_of(text: &str, at: LineCol) -> Option<usize> {
    let line_start =
        if at.line == 0 { 0 } else { text.match_indices('\n').nth(at.line as usize - 1).map(|(i, _)| i + 1)? };
    let line = &text[line_start..];
    let column = match line.char_indices().nth(at.column as usize) {
        Some((i, _)) => i,
        None if line.chars().count() == at.column as usize => line.len(),
        None => return None,
    };
    Some(line_start + column)
}

/// A place inside the code, counted from where the code starts in the client's file.
fn shift(start: LineCol, inside: LineCol) -> LineCol {
    if inside.line == 0 {
        LineCol { line: start.line, column: start.column + inside.column }
    } else {
        LineCol { line: start.line + inside.line, column: inside.column }
    }
}

/// The replies for one form's report, or the failure that ends the evaluation.
/// An evaluation about the REPL itself ([`tooling`]), answered without the pipeline; the
/// namespace it leaves the session in.
fn answer_tooling(
    input: &EvalInput,
    named_ns: Option<&str>,
    session_ns: &mut String,
    emit: &mut (dyn FnMut(EvalEvent) + Send),
) -> Option<String> {
    match tooling::answer(&input.code, named_ns.unwrap_or(session_ns))? {
        Answer::Value(value) => {
            let ns = named_ns.map_or_else(|| session_ns.clone(), str::to_string);
            emit(EvalEvent::Value { value, ns: ns.clone() });
            Some(ns)
        }
        Answer::InNs(ns) => {
            *session_ns = ns.clone();
            emit(EvalEvent::Value { value: ns.clone(), ns: ns.clone() });
            Some(ns)
        }
    }
}

fn outcome(report: &PatchReport, form: &Form, ns: &str, placed: &Placed) -> Result<Vec<EvalEvent>, EvalEvent> {
    if let Some(failed) = failed(report, placed, ns) {
        return Err(failed);
    }
    let mut events: Vec<EvalEvent> = report.output.iter().map(|line| EvalEvent::Output(format!("{line}\n"))).collect();
    let defined = VarName::defined_by(&placed.ns, &form.kind, form.name.as_deref());
    let value = defined.map(|var| var.printed()).or_else(|| report.value.clone());
    if report.pages == 0 || value.is_none() || report.superseded {
        if let Some(message) = &report.message {
            events.push(EvalEvent::Warning(format!("{message}\n")));
        } else if value.is_none() {
            events.push(EvalEvent::Warning("no page returned a value\n".into()));
        }
    }
    // Losses that did not fail the evaluation (the journal not saved, jank unable to mirror a
    // definition) go to the client's `err`, as any other thing the user must read.
    events.extend(report.warnings.iter().map(|w| EvalEvent::Warning(format!("jank-hotpatch: {w}\n"))));
    if let Some(value) = value {
        events.push(EvalEvent::Value { value, ns: ns.to_string() });
    }
    Ok(events)
}

/// The failure a report says happened, at the client's place for it, if any.
fn failed(report: &PatchReport, placed: &Placed, ns: &str) -> Option<EvalEvent> {
    if report.ok {
        return None;
    }
    let (stage, message, at) = match report.problems.first() {
        Some(p) => (
            p.stage.as_str(),
            p.message.as_str(),
            p.location.unwrap_or_else(|| line_col(&placed.doc.text, p.range.start)),
        ),
        None => {
            let (stage, message) = report
                .error
                .as_ref()
                .map(|e| (e.stage.as_str(), e.message.as_str()))
                .unwrap_or(("eval", report.message.as_deref().unwrap_or("the patch failed")));
            (stage, message, placed.in_doc)
        }
    };
    let mut failed = failure(stage, message, placed.file.as_deref(), to_client(placed, at), ns);
    if let (EvalEvent::Failure { err, .. }, Some(detail)) =
        (&mut failed, report.problems.first().and_then(|p| p.detail_path.as_ref()))
    {
        err.push_str(&format!("  (details: {})\n", detail.display()));
    }
    Some(failed)
}

/// Maps a place in the document to the client's file.
fn to_client(placed: &Placed, at: LineCol) -> LineCol {
    if at.line < placed.in_doc.line {
        return placed.in_client;
    }
    let line = at.line - placed.in_doc.line + placed.in_client.line;
    let column = if at.line == placed.in_doc.line {
        (at.column + placed.in_client.column).saturating_sub(placed.in_doc.column)
    } else {
        at.column
    };
    LineCol { line, column }
}

/// An error reply: the stage, jank's message and the 1-based line and column.
fn failure(stage: &str, message: &str, file: Option<&Path>, at: LineCol, ns: &str) -> EvalEvent {
    let class = format!("{}{}Error", stage[..1].to_uppercase(), &stage[1..]);
    let place = file.map(|f| format!(" in {}", f.display())).unwrap_or_default();
    EvalEvent::Failure {
        err: format!("{class}{place}: {} at line {}, column {}\n", message.trim_end(), at.line + 1, at.column + 1),
        ex: format!("class jank.hotpatch.{class}"),
        ns: ns.to_string(),
    }
}

/// The file of `ns` under `workspace` (`a.b-c` is `a/b_c.jank`), among the files the pipeline
/// sees there; the least deep when several match.
pub(super) fn find_ns_file(workspace: &Path, ns: &str) -> Option<PathBuf> {
    let relative: PathBuf = format!("{}.jank", ns.replace('.', "/").replace('-', "_")).into();
    jank_paths(&[workspace.to_path_buf()])
        .into_iter()
        .filter(|path| path.ends_with(&relative))
        .min_by_key(|path| path.components().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_shifts() {
        let text = "(ns a)\n\n  (defn f [] 1)\n";
        assert_eq!(offset_of(text, LineCol { line: 2, column: 2 }), Some(10));
        assert_eq!(offset_of(text, LineCol { line: 9, column: 0 }), None);
        assert_eq!(
            shift(LineCol { line: 4, column: 3 }, LineCol { line: 0, column: 2 }),
            LineCol { line: 4, column: 5 }
        );
        assert_eq!(
            shift(LineCol { line: 4, column: 3 }, LineCol { line: 1, column: 2 }),
            LineCol { line: 5, column: 2 }
        );
    }

    #[test]
    fn failure_text_names_stage_place_and_class() {
        let EvalEvent::Failure { err, ex, ns } = failure(
            "compile",
            "Unable to resolve symbol: nope\n",
            Some(Path::new("/w/a.jank")),
            LineCol { line: 2, column: 4 },
            "demo.core",
        ) else {
            panic!("not a failure");
        };
        assert_eq!(err, "CompileError in /w/a.jank: Unable to resolve symbol: nope at line 3, column 5\n");
        assert_eq!(ex, "class jank.hotpatch.CompileError");
        assert_eq!(ns, "demo.core");
    }

    #[test]
    fn places_map_back_to_the_client() {
        let placed = Placed {
            doc: FileSnapshot { path: PathBuf::new(), text: "".into() },
            ns: "user".into(),
            offset: 0,
            in_doc: LineCol { line: 1, column: 0 },
            in_client: LineCol { line: 0, column: 7 },
            file: None,
        };
        assert_eq!(to_client(&placed, LineCol { line: 1, column: 3 }), LineCol { line: 0, column: 10 });
        assert_eq!(to_client(&placed, LineCol { line: 2, column: 3 }), LineCol { line: 1, column: 3 });
        assert_eq!(to_client(&placed, LineCol { line: 0, column: 3 }), LineCol { line: 0, column: 7 });
    }

    #[test]
    fn namespace_files_are_found_in_the_workspace() {
        let dir = crate::test_dir::TestDir::new("nrepl-ns");
        std::fs::create_dir_all(dir.join("src/demo")).unwrap();
        std::fs::create_dir_all(dir.join("target/demo")).unwrap();
        std::fs::write(dir.join("target/demo/my_core.jank"), "").unwrap();
        assert_eq!(find_ns_file(&dir, "demo.my-core"), None);
        std::fs::write(dir.join("src/demo/my_core.jank"), "(ns demo.my-core)").unwrap();
        assert_eq!(find_ns_file(&dir, "demo.my-core"), Some(dir.join("src/demo/my_core.jank")));
    }
}
