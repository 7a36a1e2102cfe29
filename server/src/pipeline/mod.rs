//! The pipeline: runs read -> compile -> build -> check -> deliver -> load for a selection
//! of forms, times every stage, and reports.
//!
//! Owns: choosing the forms (the one at a position, or those changed since the file's last
//! successful patch), patch ids, ordering of patches per var (a newer edit supersedes a
//! queued older one, and an older version is never applied after a newer one), undo (which
//! vars go back: the one at a position, or those of the file's last delivered run), and the
//! [`PatchReport`]. Talks to the stages only through the traits in [`stages`]; must not know
//! about LSP or any stage's internals.

mod changes;
mod dependents;
mod failures;
mod ids;
pub mod report;
pub mod workspace;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::OwnedMutexGuard;
use tokio::task::JoinHandle;

use crate::reader::{self, DefKind, Form, FormKind, LoadHook, SourceFile};
use crate::stages::{
    elapsed_ms, Build, Check, Compile, CompileRequest, CompiledForm, Deliver, Delivery, FormFailure, FormKey,
    FormSource, FormWarning, LineCol, LoadHooks, ModuleId, Patch, PatchKind, PatchOrigin, PatchesInFlight, SideModule,
    SourceContext, Stage, StageFailure, VarName,
};
use changes::{identity_of, FormIdentity, PatchedForms};
pub use ids::PatchIds;
pub use report::{DependentFile, OwnSteps, PatchReport, PatchedForm, Problem, ReportError, StageTimes};
pub use workspace::{jank_paths, DiskFiles, OpenBuffers, WorkspaceFiles};

/// A file as the pipeline sees it: a path and its text at the moment of the request (an open
/// editor document's, a saved file's, an nREPL client's code).
#[derive(Clone, Debug)]
pub struct FileSnapshot {
    pub path: PathBuf,
    pub text: Arc<str>,
}

/// Which forms of the document to patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// The top-level form around this byte offset (inside `(comment ...)`: the body form).
    FormAt(usize),
    /// Every top-level form whose text changed since the file's last successful patch.
    ChangedForms,
    /// The same, definitions only (nREPL's `load-file` evaluates the expressions itself, every time).
    ChangedDefinitions,
}

/// What an undo takes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UndoTarget {
    /// The definition around this byte offset.
    DefinitionAt(usize),
    /// The definitions of the file's last delivered run.
    LastRun,
}

/// Told about each stage as a run enters it (for `$/progress` and status lines).
pub trait ProgressSink: Send + Sync {
    fn stage(&self, stage: Stage);
}

impl ProgressSink for () {
    fn stage(&self, _: Stage) {}
}

/// The stage implementations; `Err` holds why a stage has no backend (e.g. no emscripten).
pub struct Backends {
    pub compile: Result<Arc<dyn Compile>, String>,
    pub build: Result<Arc<dyn Build>, String>,
    /// `None`: no main module is configured, so imports cannot be checked before sending.
    pub check: Option<Arc<dyn Check>>,
    pub deliver: Result<Arc<dyn Deliver>, String>,
}

/// What a selection comes to: the forms to patch, or the report that says why there are none
/// (a read error, or nothing to do, such as an `ns` form at the cursor).
enum Chosen {
    Forms(Vec<Target>),
    Report(Box<PatchReport>),
}

pub struct Pipeline {
    backends: Backends,
    ids: PatchIds,
    patched: Mutex<PatchedForms>,
    vars: Mutex<HashMap<VarName, Arc<VarSlot>>>,
    /// Evaluations on the jank side of delivered definitions (mirrors), not yet waited for.
    /// A run does not wait for its own (the pages run the code already; jank evaluating it
    /// can take long): the next run takes them and waits before it compiles, so that it sees
    /// the vars they define; a run that starts while another waits finds the list empty.
    mirrors: Mutex<Vec<JoinHandle<Option<String>>>>,
    /// The warnings of mirrors that failed, for the report of the run that waited for them.
    mirror_warnings: Mutex<Vec<String>>,
    /// Per file, the vars of each delivered run, newest last: what undoing the file takes back.
    runs: Mutex<HashMap<PathBuf, Vec<Vec<VarName>>>>,
    /// Per namespace, its load hooks in file order, as last read from its file.
    hooks: Mutex<BTreeMap<String, Vec<(VarName, LoadHook)>>>,
    /// The workspace's files and macros, for the forms that use a changed macro.
    macros: dependents::Macros,
    /// Each run and undo, from its start to its report.
    on_their_way: PatchesInFlight,
}

/// How much of its file a document holds, as far as the pipeline can tell: a save and
/// `load-file` hand over the whole file; a form patched at a position may come from a
/// fragment (the nREPL endpoint's evaluations).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Extent {
    Whole,
    Fragment,
}

/// Delivered runs remembered per file for undo.
const RUNS_PER_FILE: usize = 32;

/// Serializes the patches of one var. `latest` is the generation of the newest request.
#[derive(Default)]
struct VarSlot {
    latest: AtomicU64,
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// A file's forms to patch in a run of several files, and its forms fine again without a patch.
struct Group {
    doc: FileSnapshot,
    targets: Vec<Target>,
    untouched: Vec<String>,
}

/// One form on its way through the stages.
struct Target {
    request: CompileRequest,
    identity: FormIdentity,
    normalized: String,
    /// The var and generation that order this run against other runs of the same var.
    slot: Option<(Arc<VarSlot>, u64)>,
}

/// A form between its var's lock and check: what it has cost so far, and its cache key.
struct InFlight {
    target: Target,
    guard: Option<OwnedMutexGuard<()>>,
    times: StageTimes,
    /// Waiting for the var's lock and for jank's evaluation of earlier patches.
    waited_ms: f64,
    key: FormKey,
    /// The compile stage's warnings about the form, shown once it is delivered.
    warnings: Vec<FormWarning>,
}

impl InFlight {
    fn fail(self, stage: Stage, failure: StageFailure) -> FormOutcome {
        FormOutcome::Failed(problem(stage, failure, &self.target.request.form), self.times)
    }
}

/// A form after the compile stage.
enum Compiled {
    /// In the build cache: nothing to compile or build.
    Cached(InFlight, SideModule),
    ToBuild(InFlight, CompiledForm),
    /// Failed or superseded.
    Done(FormOutcome),
}

/// A form that made it through check, holding its var's lock until it is delivered.
struct Ready {
    target: Target,
    module: SideModule,
    waited_ms: f64,
    warnings: Vec<FormWarning>,
    _guard: Option<OwnedMutexGuard<()>>,
}

/// Where one form's way through compile, build and check ended.
enum FormOutcome {
    Ready(Box<Ready>, StageTimes),
    Failed(Problem, StageTimes),
    Superseded,
}

impl Pipeline {
    pub fn new(backends: Backends, ids: PatchIds) -> Self {
        Pipeline {
            backends,
            ids,
            patched: Mutex::new(PatchedForms::default()),
            vars: Mutex::new(HashMap::new()),
            mirrors: Mutex::new(Vec::new()),
            mirror_warnings: Mutex::new(Vec::new()),
            runs: Mutex::new(HashMap::new()),
            hooks: Mutex::new(BTreeMap::new()),
            macros: dependents::Macros::default(),
            on_their_way: PatchesInFlight::default(),
        }
    }

    /// Marks each run and undo in `patches` from its start to its report, for work that can
    /// wait until none is on its way.
    pub fn marking_runs_in(mut self, patches: PatchesInFlight) -> Self {
        self.on_their_way = patches;
        self
    }

    /// Remembers the load hooks (`^:dev/before-load`, `^:dev/after-load`) a document defines.
    /// A whole file (`Whole`) says what all of its namespace's hooks are; a document that may be
    /// a fragment (an nREPL eval: the `ns` form and the evaluated code) says it only of the
    /// definitions it holds, so that evaluating `(defn label ...)` leaves the namespace's
    /// other hooks as they were.
    fn learn_hooks(&self, file: &SourceFile, extent: Extent) {
        let (Some(ns), true) = (file.namespace.name(), file.errors.is_empty()) else { return };
        let mut hooks = lock(&self.hooks);
        let known = hooks.entry(ns.to_string()).or_default();
        if extent == Extent::Whole {
            known.clear();
        }
        for form in file.forms.iter().filter(|f| matches!(f.kind, FormKind::Def(_))) {
            let Some(name) = &form.name else { continue };
            let var = VarName::new(ns, name);
            match (known.iter().position(|(v, _)| *v == var), form.load_hook) {
                (Some(at), Some(hook)) => known[at].1 = hook,
                (Some(at), None) => {
                    known.remove(at);
                }
                (None, Some(hook)) => known.push((var, hook)),
                (None, None) => {}
            }
        }
    }

    /// Every known load hook, the namespaces of the batch first in the order it applies them,
    /// then the others.
    fn load_hooks<'a>(&self, batch: impl Iterator<Item = &'a str>) -> LoadHooks {
        let hooks = lock(&self.hooks);
        let mut order: Vec<String> = Vec::new();
        for ns in batch.map(str::to_string).chain(hooks.keys().cloned()) {
            if !order.contains(&ns) {
                order.push(ns);
            }
        }
        let mut load_hooks = LoadHooks::default();
        for (var, hook) in order.iter().filter_map(|ns| hooks.get(ns)).flatten() {
            match hook {
                LoadHook::BeforeLoad => load_hooks.before.push(var.clone()),
                LoadHook::AfterLoad => load_hooks.after.push(var.clone()),
            }
        }
        load_hooks
    }

    /// Takes vars back to their previous versions in every page, from the side modules built
    /// before (no compile, no build): the definition at a position, or the definitions of the
    /// file's last delivered run. Undoing again goes back further.
    pub async fn undo(&self, doc: &FileSnapshot, target: UndoTarget) -> PatchReport {
        let _on_its_way = self.on_their_way.start();
        let started = Instant::now();
        let file = reader::parse(&doc.text);
        let mut report = match self.undo_vars(doc, &file, target) {
            Ok(vars) => self.undo_delivered(doc, &file, target, vars).await,
            Err(report) => *report,
        };
        report.undo = true;
        report.total_ms = elapsed_ms(started);
        report
    }

    fn undo_vars(
        &self,
        doc: &FileSnapshot,
        file: &SourceFile,
        target: UndoTarget,
    ) -> Result<Vec<VarName>, Box<PatchReport>> {
        match target {
            UndoTarget::DefinitionAt(offset) => {
                let Some(ns) = file.namespace.name() else {
                    return Err(Box::new(PatchReport::failed(Stage::Read, "the file has no ns form")));
                };
                let Some(Form { kind: FormKind::Def(_), name: Some(name), .. }) = file.form_at(offset) else {
                    return Err(Box::new(PatchReport::failed(
                        Stage::Read,
                        "put the cursor on a definition (def, defn, ...) to undo its last patch",
                    )));
                };
                Ok(vec![VarName::new(ns, name)])
            }
            // Taken off the file's runs only once the undo went out (`took_back`): one that no
            // page applied can be tried again.
            UndoTarget::LastRun => {
                lock(&self.runs).get(&doc.path).and_then(|runs| runs.last().cloned()).ok_or_else(|| {
                    Box::new(PatchReport::failed(
                        Stage::Deliver,
                        "nothing to undo: no patch of this file was delivered since the sidecar started",
                    ))
                })
            }
        }
    }

    async fn undo_delivered(
        &self,
        doc: &FileSnapshot,
        file: &SourceFile,
        target: UndoTarget,
        run: Vec<VarName>,
    ) -> PatchReport {
        let mut vars = run.clone();
        let ns = file.namespace.name();
        let range_of = |var: &VarName| {
            file.forms
                .iter()
                .find(|f| {
                    matches!(f.kind, FormKind::Def(_))
                        && ns == Some(var.ns.as_str())
                        && f.name.as_deref() == Some(var.name.as_str())
                })
                .map_or(0..0, |f| f.range.clone())
        };
        let forms = vars
            .iter()
            .map(|v| PatchedForm { ns: v.ns.clone(), name: Some(v.name.clone()), range: range_of(v), value: None })
            .collect();
        let mut report = PatchReport { forms, ..PatchReport::default() };
        let deliver = match &self.backends.deliver {
            Ok(deliver) => deliver,
            Err(why) => return PatchReport::failed(Stage::Deliver, why.clone()),
        };
        // In one order for every run, so that two undos never wait for each other's locks.
        vars.sort();
        vars.dedup();
        let mut guards = Vec::new();
        for var in &vars {
            let slot = lock(&self.vars).entry(var.clone()).or_default().clone();
            guards.push(slot.lock.clone().lock_owned().await);
        }
        let hooks = self.load_hooks(vars.iter().map(|v| v.ns.as_str()));
        let delivery = match deliver.undo(&vars, &hooks).await {
            Ok(delivery) => delivery,
            Err(failure) => Delivery { failures: vec![failure.message], ..Delivery::default() },
        };
        drop(guards);
        take_delivery(&mut report, &delivery);
        report.versions = delivery.versions;
        report.output = delivery.output;
        report.warnings = delivery.hook_failures;
        report.warnings.extend(delivery.warnings);
        // The journal keeps an undo that a page applied (or that no page was there for), so
        // the next page gets it: it went out, even if another page refused it.
        if delivery.failures.is_empty() || delivery.applied > 0 {
            self.took_back(doc, target, &run, &vars);
        }
        if !delivery.failures.is_empty() {
            let refusals = delivery.failures.join("; ");
            let message = if delivery.applied > 0 && delivery.applied < delivery.pages {
                // The pages that applied it, and the journal, run the earlier version; the
                // others the file's. A save patches the file's code into all of them.
                format!(
                    "the undo reached {} of {} pages ({refusals}); the others still run the file's code: \
                     save the file to patch its code into every page again",
                    delivery.applied, delivery.pages
                )
            } else {
                refusals
            };
            report.problems = report
                .forms
                .iter()
                .map(|f| Problem {
                    stage: Stage::Load,
                    message: message.clone(),
                    range: f.range.clone(),
                    location: None,
                    detail_path: None,
                })
                .collect();
            report.ok = false;
            report.error = Some(ReportError { stage: Stage::Load, message: message.clone() });
            report.message = Some(format!("undo failed: {message}"));
            return report;
        }
        if delivery.pages == 0 {
            report.message = Some("no pages connected: the journal keeps the earlier version for the next page".into());
        }
        report.ok = true;
        report
    }

    /// An undo went out: the pages run other code than the file says, so the next save patches
    /// the undone vars again; and the file's runs no longer hold it (the file's last run, or
    /// the undone var's last patch), so that undoing the file does not take it back twice.
    fn took_back(&self, doc: &FileSnapshot, target: UndoTarget, run: &[VarName], vars: &[VarName]) {
        {
            let mut patched = lock(&self.patched);
            for var in vars {
                patched.forget(&doc.path, var);
            }
        }
        let mut runs = lock(&self.runs);
        let Some(runs) = runs.get_mut(&doc.path) else { return };
        match target {
            UndoTarget::DefinitionAt(_) => {
                for var in vars {
                    if let Some(run) = runs.iter_mut().rev().find(|run| run.contains(var)) {
                        run.retain(|v| v != var);
                    }
                }
                runs.retain(|run| !run.is_empty());
            }
            UndoTarget::LastRun => {
                if let Some(at) = runs.iter().rposition(|r| r == run) {
                    runs.remove(at);
                }
            }
        }
    }

    /// Patches the selected forms of `doc` into every connected page.
    pub async fn run(&self, doc: &FileSnapshot, selection: Selection, progress: &dyn ProgressSink) -> PatchReport {
        let _on_its_way = self.on_their_way.start();
        let waiting = Instant::now();
        self.await_mirrors().await;
        let waited_ms = elapsed_ms(waiting);
        let started = Instant::now();
        progress.stage(Stage::Read);
        let file = reader::parse(&doc.text);
        // The workspace's hooks first, so that a namespace evaluated before any save of its
        // file still has them.
        let unread = self.learn_workspace().await;
        let extent = match selection {
            Selection::FormAt(_) => Extent::Fragment,
            Selection::ChangedForms | Selection::ChangedDefinitions => Extent::Whole,
        };
        self.learn_hooks(&file, extent);
        let read_ms = elapsed_ms(started);
        let mut report = match self.select(doc, &file, selection) {
            Chosen::Forms(targets) => {
                let untouched = failures::untouched(doc, &file, &targets, selection);
                if targets.is_empty() {
                    self.show_failures(Vec::new(), untouched).await;
                    PatchReport {
                        ok: true,
                        message: Some("nothing changed since the last patch".into()),
                        ..PatchReport::default()
                    }
                } else {
                    self.patch_with_dependents(doc, targets, untouched, progress).await
                }
            }
            Chosen::Report(report) => *report,
        };
        report.stages.read_ms = read_ms;
        report.warnings.extend(unread);
        report.warnings.extend(std::mem::take(&mut *lock(&self.mirror_warnings)));
        report.steps.wait_ms += waited_ms;
        report.total_ms = elapsed_ms(waiting);
        report
    }

    /// The forms to patch, or the report that says why there are none.
    fn select(&self, doc: &FileSnapshot, file: &SourceFile, selection: Selection) -> Chosen {
        let read_failure = |errors: Vec<&reader::ReadError>| {
            let first = errors.first().map(|e| e.message.clone()).unwrap_or_default();
            let mut report = PatchReport::failed(Stage::Read, first);
            report.problems = errors
                .into_iter()
                .map(|e| Problem {
                    stage: Stage::Read,
                    message: e.message.clone(),
                    range: e.range.clone(),
                    location: None,
                    detail_path: None,
                })
                .collect();
            Box::new(report)
        };
        let ns = file.namespace.name().unwrap_or_default();
        let chosen: Vec<(&Form, FormIdentity, String)> = match selection {
            Selection::FormAt(offset) => {
                let Some(form) = file.form_at(offset) else {
                    return Chosen::Report(Box::new(PatchReport::failed(Stage::Read, "no form at the cursor")));
                };
                let inside: Vec<_> = file.errors.iter().filter(|e| overlaps(&e.range, &form.range)).collect();
                if !inside.is_empty() {
                    return Chosen::Report(read_failure(inside));
                }
                match form.kind {
                    FormKind::Ns => {
                        return Chosen::Report(Box::new(PatchReport {
                            ok: true,
                            message: Some(
                                "the ns form is loaded with its file before the next patch: nothing to patch".into(),
                            ),
                            ..PatchReport::default()
                        }))
                    }
                    FormKind::Comment => {
                        return Chosen::Report(Box::new(PatchReport::failed(
                            Stage::Read,
                            "a (comment ...) form is not evaluated: put the cursor on a form inside it",
                        )))
                    }
                    _ => vec![(form, identity_of(ns, &file.forms, form), form.normalized(&doc.text))],
                }
            }
            Selection::ChangedForms | Selection::ChangedDefinitions => {
                if !file.errors.is_empty() {
                    return Chosen::Report(read_failure(file.errors.iter().collect()));
                }
                let patched = lock(&self.patched);
                patched
                    .changed(&doc.path, &doc.text, ns, &file.forms)
                    .into_iter()
                    // defonce keeps its value, as in Clojure: sent once, never again.
                    .filter(|(form, identity, _)| {
                        !(matches!(&form.kind, FormKind::Def(DefKind::Defonce)) && patched.was_patched(identity))
                    })
                    .filter(|(form, _, _)| {
                        selection == Selection::ChangedForms || matches!(form.kind, FormKind::Def(_))
                    })
                    .collect()
            }
        };
        Chosen::Forms(
            chosen
                .into_iter()
                .map(|(form, identity, normalized)| self.target_as(doc, file, form, identity, normalized))
                .collect(),
        )
    }

    /// A form of `file` on its way through the stages, ordered after the earlier requests of its var.
    fn target(&self, doc: &FileSnapshot, file: &SourceFile, form: &Form) -> Target {
        let ns = file.namespace.name().unwrap_or_default();
        self.target_as(doc, file, form, identity_of(ns, &file.forms, form), form.normalized(&doc.text))
    }

    fn target_as(
        &self,
        doc: &FileSnapshot,
        file: &SourceFile,
        form: &Form,
        identity: FormIdentity,
        normalized: String,
    ) -> Target {
        let ns = file.namespace.name().unwrap_or_default();
        let slot = VarName::defined_by(ns, &form.kind, form.name.as_deref()).map(|var| {
            let slot = lock(&self.vars).entry(var).or_default().clone();
            let generation = slot.latest.fetch_add(1, Ordering::SeqCst) + 1;
            (slot, generation)
        });
        let request = CompileRequest {
            patch_id: self.ids.next(),
            source: SourceContext { path: doc.path.clone(), text: doc.text.clone(), namespace: file.namespace.clone() },
            form: FormSource {
                text: doc.text.get(form.range.clone()).unwrap_or_default().to_string(),
                kind: form.kind.clone(),
                name: form.name.clone(),
                range: form.range.clone(),
                start: line_col(&doc.text, form.range.start),
            },
        };
        Target { request, identity, normalized, slot }
    }

    async fn patch(
        &self,
        doc: &FileSnapshot,
        targets: Vec<Target>,
        untouched: Vec<String>,
        progress: &dyn ProgressSink,
    ) -> PatchReport {
        let group = Group { doc: doc.clone(), targets, untouched };
        self.patch_files(vec![group], progress).await.pop().unwrap_or_default()
    }

    /// Patches the targets of several files as one run: one build of every form that needs
    /// one (one side module), one delivery; a report per file, in order.
    async fn patch_files(&self, groups: Vec<Group>, progress: &dyn ProgressSink) -> Vec<PatchReport> {
        let mut owners = Vec::new();
        let mut docs = Vec::with_capacity(groups.len());
        let mut requests: Vec<Vec<CompileRequest>> = Vec::with_capacity(groups.len());
        let mut untouched = Vec::new();
        let mut reports = Vec::with_capacity(groups.len());
        let mut targets = Vec::new();
        for (g, group) in groups.into_iter().enumerate() {
            let forms = group
                .targets
                .iter()
                .map(|t| PatchedForm {
                    ns: t.request.source.namespace.name().unwrap_or_default().to_string(),
                    name: t.request.form.name.clone(),
                    range: t.request.form.range.clone(),
                    value: None,
                })
                .collect();
            reports.push(PatchReport { forms, ..PatchReport::default() });
            requests.push(group.targets.iter().map(|t| t.request.clone()).collect());
            owners.extend(std::iter::repeat_n(g, group.targets.len()));
            targets.extend(group.targets);
            untouched.extend(group.untouched);
            docs.push(group.doc);
        }
        let outcomes = self.prepare(targets, progress).await;
        let mut ready = Vec::new();
        let mut superseded = vec![0; reports.len()];
        for (outcome, &g) in outcomes.into_iter().zip(&owners) {
            let report = &mut reports[g];
            match outcome {
                FormOutcome::Ready(r, times) => {
                    report.stages.max_with(&times);
                    report.steps.wait_ms = report.steps.wait_ms.max(r.waited_ms);
                    for warning in &r.warnings {
                        report.warnings.push(warning.message.clone());
                        let failure = StageFailure {
                            message: warning.message.clone(),
                            location: warning.location,
                            detail_path: None,
                        };
                        report.form_warnings.push(problem(Stage::Compile, failure, &r.target.request.form));
                    }
                    ready.push((g, *r));
                }
                FormOutcome::Failed(problem, times) => {
                    report.stages.max_with(&times);
                    report.problems.push(problem);
                }
                FormOutcome::Superseded => superseded[g] += 1,
            }
        }
        let failed = reports
            .iter()
            .zip(docs.iter().zip(&requests))
            .flat_map(|(report, (doc, requests))| {
                report.problems.iter().filter(|p| failures::shown_in_pages(p.stage)).filter_map(move |p| {
                    requests.iter().find(|r| r.form.range == p.range).map(|r| failures::failure(doc, r, p))
                })
            })
            .collect();
        self.show_failures(failed, untouched).await;
        if !ready.is_empty() {
            self.deliver(&docs, ready, &mut reports, progress).await;
        }
        for (report, superseded) in reports.iter_mut().zip(superseded) {
            settle_run(report, superseded);
        }
        reports
    }

    async fn show_failures(&self, failed: Vec<FormFailure>, fine: Vec<String>) {
        if let Ok(deliver) = &self.backends.deliver {
            if !failed.is_empty() || !fine.is_empty() {
                deliver.show_failures(failed, fine).await;
            }
        }
    }

    /// Compiles every form (or finds it in the build cache), builds the compiled ones into
    /// one side module, and checks each module: one outcome per target, in order.
    async fn prepare(&self, targets: Vec<Target>, progress: &dyn ProgressSink) -> Vec<FormOutcome> {
        let compiled = futures::future::join_all(targets.into_iter().map(|t| self.compile(t, progress))).await;
        let mut outcomes: Vec<Option<FormOutcome>> = Vec::with_capacity(compiled.len());
        let mut built: Vec<(usize, InFlight, SideModule)> = Vec::new();
        let mut to_build: Vec<(usize, InFlight, CompiledForm)> = Vec::new();
        for (i, step) in compiled.into_iter().enumerate() {
            outcomes.push(None);
            match step {
                Compiled::Cached(flight, module) => built.push((i, flight, module)),
                Compiled::ToBuild(flight, form) => to_build.push((i, flight, form)),
                Compiled::Done(outcome) => outcomes[i] = Some(outcome),
            }
        }
        let mut sources = Vec::new();
        if let (false, Ok(build)) = (to_build.is_empty(), &self.backends.build) {
            progress.stage(Stage::Build);
            let t = Instant::now();
            let forms: Vec<(FormKey, &CompiledForm)> = to_build.iter().map(|(_, f, form)| (f.key, form)).collect();
            let mut results = build.build_together(&forms).await.into_iter();
            let build_ms = elapsed_ms(t);
            for (i, mut flight, form) in to_build {
                flight.times.build_ms = build_ms;
                match results.next() {
                    Some(Ok(module)) => {
                        sources.push(form);
                        built.push((i, flight, module));
                    }
                    Some(Err(failure)) => outcomes[i] = Some(flight.fail(Stage::Build, failure)),
                    None => {
                        let failure = StageFailure::new(
                            "the build stage gave no result for this form (a bug in the build stage): not patched",
                        );
                        outcomes[i] = Some(flight.fail(Stage::Build, failure));
                    }
                }
            }
        }
        for (i, outcome) in self.check_modules(built, &sources, progress).await {
            outcomes[i] = Some(outcome);
        }
        // Every form has its outcome by now: compiled, built (or failed) and checked.
        outcomes.into_iter().map(|o| o.unwrap_or(FormOutcome::Superseded)).collect()
    }

    /// Checks each module once, and hands the forms that passed on to delivery (unless a newer
    /// edit superseded them meanwhile).
    async fn check_modules(
        &self,
        built: Vec<(usize, InFlight, SideModule)>,
        sources: &[CompiledForm],
        progress: &dyn ProgressSink,
    ) -> Vec<(usize, FormOutcome)> {
        let mut forms_per_module: HashMap<ModuleId, usize> = HashMap::new();
        for (_, _, module) in &built {
            *forms_per_module.entry(module.module).or_default() += 1;
        }
        if self.backends.check.is_some() && !built.is_empty() {
            progress.stage(Stage::Check);
        }
        let mut verdicts = HashMap::new();
        let mut outcomes = Vec::with_capacity(built.len());
        for (i, mut flight, module) in built {
            let shared = forms_per_module.get(&module.module).is_some_and(|&n| n > 1);
            let source = sources.iter().find(|f| shared && f.patch_id == module.patch_id);
            let outcome = match self.check_module(&mut flight, module, source, &mut verdicts).await {
                Ok(_) if is_superseded(&flight.target) => FormOutcome::Superseded,
                Ok(module) => {
                    let InFlight { target, guard, times, warnings, waited_ms, .. } = flight;
                    FormOutcome::Ready(Box::new(Ready { target, module, waited_ms, warnings, _guard: guard }), times)
                }
                Err((stage, failure)) => flight.fail(stage, failure),
            };
            outcomes.push((i, outcome));
        }
        outcomes
    }

    /// The module's imports against the main module's, checked once per module (`verdicts`).
    /// A module built from several forms that fails is built again from this form alone
    /// (`source`), so that the failure lands on the form it belongs to and the others go on.
    async fn check_module(
        &self,
        flight: &mut InFlight,
        module: SideModule,
        source: Option<&CompiledForm>,
        verdicts: &mut HashMap<ModuleId, (Result<(), StageFailure>, f64)>,
    ) -> Result<SideModule, (Stage, StageFailure)> {
        let Some(check) = &self.backends.check else { return Ok(module) };
        let (verdict, check_ms) = verdicts
            .entry(module.module)
            .or_insert_with(|| {
                let t = Instant::now();
                (check.check(&module), elapsed_ms(t))
            })
            .clone();
        flight.times.check_ms = check_ms;
        let Err(failure) = verdict else { return Ok(module) };
        let (Some(source), Ok(build)) = (source, &self.backends.build) else { return Err((Stage::Check, failure)) };
        let t = Instant::now();
        let alone = build.build(flight.key, source).await;
        flight.times.build_ms += elapsed_ms(t);
        let module = alone.map_err(|failure| (Stage::Build, failure))?;
        let t = Instant::now();
        let checked = check.check(&module);
        flight.times.check_ms += elapsed_ms(t);
        checked.map(|()| module).map_err(|failure| (Stage::Check, failure))
    }

    /// Takes the form's var lock, then finds its module in the build cache or asks jank for
    /// its C++.
    async fn compile(&self, target: Target, progress: &dyn ProgressSink) -> Compiled {
        let waiting = Instant::now();
        let guard = match &target.slot {
            Some((slot, _)) => Some(slot.lock.clone().lock_owned().await),
            None => None,
        };
        if is_superseded(&target) {
            return Compiled::Done(FormOutcome::Superseded);
        }
        self.await_mirrors().await;
        let waited_ms = elapsed_ms(waiting);
        let key = self.form_key(&target.request);
        let mut flight = InFlight { target, guard, times: StageTimes::default(), waited_ms, key, warnings: Vec::new() };
        let build = match &self.backends.build {
            Ok(build) => build,
            Err(why) => return Compiled::Done(flight.fail(Stage::Build, StageFailure::new(why.clone()))),
        };
        let t = Instant::now();
        if let Some(module) = build.cached(key).await {
            flight.times.build_ms = elapsed_ms(t);
            return Compiled::Cached(flight, module);
        }
        progress.stage(Stage::Compile);
        let t = Instant::now();
        let compiled = match &self.backends.compile {
            Ok(compile) => compile.compile(&flight.target.request).await,
            Err(why) => Err(StageFailure::new(why.clone())),
        };
        flight.times.compile_ms = elapsed_ms(t);
        match compiled {
            Ok(_) if is_superseded(&flight.target) => Compiled::Done(FormOutcome::Superseded),
            Ok(form) => {
                flight.warnings = form.warnings.clone();
                Compiled::ToBuild(flight, form)
            }
            Err(failure) => Compiled::Done(flight.fail(Stage::Compile, failure)),
        }
    }

    /// Sends the ready forms (each with the index of its file in `docs` and `reports`) to
    /// every connected page in one batch, and reports what the pages did to each file's report.
    async fn deliver(
        &self,
        docs: &[FileSnapshot],
        ready: Vec<(usize, Ready)>,
        reports: &mut [PatchReport],
        progress: &dyn ProgressSink,
    ) {
        let fail_all = |reports: &mut [PatchReport], stage: Stage, failure: &StageFailure| {
            for (g, r) in &ready {
                reports[*g].problems.push(problem(stage, failure.clone(), &r.target.request.form));
            }
        };
        let deliver = match &self.backends.deliver {
            Ok(deliver) => deliver,
            Err(why) => return fail_all(reports, Stage::Deliver, &StageFailure::new(why.clone())),
        };
        progress.stage(Stage::Deliver);
        let patches = ready.iter().map(|(g, r)| patch_of(&docs[*g], r)).collect();
        let hooks = self.hooks_for(ready.iter().map(|(_, r)| r));
        let delivery = match deliver.deliver_batch(patches, &hooks).await {
            Ok(delivery) => delivery,
            Err(failure) => return fail_all(reports, Stage::Deliver, &failure),
        };
        if !delivery.failures.is_empty() {
            fail_all(reports, Stage::Load, &StageFailure::new(delivery.failures.join("; ")));
        }
        let mut by_file: BTreeMap<usize, Vec<Ready>> = BTreeMap::new();
        for (g, r) in ready {
            by_file.entry(g).or_default().push(r);
        }
        // What the pages printed and warned, once per batch: on the first file's report.
        if let Some(first) = by_file.keys().next().map(|&g| &mut reports[g]) {
            first.value = delivery.value.clone();
            first.output = delivery.output.clone();
            first.warnings.extend(delivery.hook_failures.iter().cloned());
            first.warnings.extend(delivery.warnings.iter().cloned());
        }
        for (g, ready) in by_file {
            let report = &mut reports[g];
            take_delivery(report, &delivery);
            show_values(report, &ready, &delivery);
            if !delivery.failures.is_empty() {
                continue;
            }
            if delivery.pages == 0 {
                report.message = Some("no pages connected: the journal keeps the patch for the next page".into());
            }
            report.versions =
                delivery.versions.iter().filter(|v| ready.iter().any(|r| r.module.var == v.var)).cloned().collect();
            self.remember_delivered(&docs[g], ready);
        }
    }

    /// The load hooks around a batch that defines something; evaluating an expression calls
    /// none.
    fn hooks_for<'a>(&self, ready: impl Iterator<Item = &'a Ready> + Clone) -> LoadHooks {
        if ready.clone().any(|r| r.module.kind == PatchKind::Definition) {
            self.load_hooks(ready.map(|r| r.module.var.ns.as_str()))
        } else {
            LoadHooks::default()
        }
    }

    /// Records what the pages now run: the file's run (for undo), each form as last patched
    /// (for the next save), and starts mirroring each definition on jank's side.
    fn remember_delivered(&self, doc: &FileSnapshot, ready: Vec<Ready>) {
        let defined: Vec<VarName> =
            ready.iter().filter(|r| r.module.kind == PatchKind::Definition).map(|r| r.module.var.clone()).collect();
        if !defined.is_empty() {
            let mut runs = lock(&self.runs);
            let runs = runs.entry(doc.path.clone()).or_default();
            runs.push(defined);
            if runs.len() > RUNS_PER_FILE {
                runs.remove(0);
            }
        }
        let mut patched = lock(&self.patched);
        for r in ready {
            patched.record(&doc.path, r.target.identity.clone(), r.target.normalized.clone());
            if r.module.kind == PatchKind::Definition {
                self.spawn_mirror(r.target.request);
            }
        }
    }

    /// Evaluates a delivered definition on jank's side too; its warning, when jank could
    /// not, goes to the report of the run that waits for it.
    fn spawn_mirror(&self, request: CompileRequest) {
        let Ok(compile) = self.backends.compile.clone() else { return };
        let handle = tokio::spawn(async move {
            compile.mirror(&request).await.err().map(|failure| {
                let warning = format!(
                    "jank could not evaluate {} on its side after the pages applied it ({failure}): forms compiled later that use it may fail to resolve it",
                    request.form.name.as_deref().unwrap_or("the form")
                );
                tracing::warn!("{warning}");
                warning
            })
        });
        lock(&self.mirrors).push(handle);
    }

    /// Waits for the mirrors not waited for yet, keeping their warnings for this run's report.
    async fn await_mirrors(&self) {
        let pending: Vec<_> = std::mem::take(&mut *lock(&self.mirrors));
        for handle in pending {
            if let Ok(Some(warning)) = handle.await {
                lock(&self.mirror_warnings).push(warning);
            }
        }
    }

    /// Waits until jank has evaluated every delivered definition on its side, as a REPL's
    /// `eval` promises before it answers; the warnings of those it could not evaluate.
    pub async fn settle(&self) -> Vec<String> {
        self.await_mirrors().await;
        std::mem::take(&mut *lock(&self.mirror_warnings))
    }
}

/// A ready form's patch, with where it comes from (for the page's HUD and journal).
fn patch_of(doc: &FileSnapshot, r: &Ready) -> Patch {
    Patch {
        module: r.module.clone(),
        origin: PatchOrigin {
            file: doc.path.display().to_string(),
            line: r.target.request.form.start.line + 1,
            form: r.target.request.form.name.clone().unwrap_or_else(|| first_line(&r.target.request.form.text)),
        },
    }
}

/// What a patch and an undo both report of a delivery: its times and pages.
fn take_delivery(report: &mut PatchReport, delivery: &Delivery) {
    report.stages.deliver_ms = delivery.deliver_ms;
    report.stages.load_ms = delivery.load_ms;
    report.steps.send_ms = delivery.send_ms;
    report.steps.socket_ms = (delivery.deliver_ms - delivery.send_ms - delivery.client_ms).max(0.0);
    report.steps.client_ms = delivery.client_ms;
    report.steps.journal_ms = delivery.journal_ms;
    report.pages = delivery.pages;
}

/// A file's report after its run: failed on its first problem, superseded when a newer edit
/// took every form, fine otherwise.
fn settle_run(report: &mut PatchReport, superseded: usize) {
    if let Some(first) = report.problems.first() {
        report.ok = false;
        report.error = Some(ReportError { stage: first.stage, message: first.message.clone() });
        report.message.get_or_insert_with(|| format!("{} failed: {}", first.stage, first.message));
    } else if superseded > 0 && report.forms.len() == superseded {
        report.ok = true;
        report.superseded = true;
        report.message = Some("superseded by a newer edit of the same form".into());
    } else {
        report.ok = true;
    }
}

/// Each delivered form's value: a definition's var ([`VarName::defined_by`]), an expression's
/// value from the page.
fn show_values(report: &mut PatchReport, ready: &[Ready], delivery: &Delivery) {
    for r in ready {
        let Some(form) = report.forms.iter_mut().find(|f| f.range == r.target.request.form.range) else {
            continue;
        };
        match r.module.kind {
            PatchKind::Definition => {
                let request = &r.target.request;
                form.value = VarName::defined_by(&form.ns, &request.form.kind, request.form.name.as_deref())
                    .map(|var| var.printed());
            }
            PatchKind::Expression => {
                form.value = delivery.values.iter().find(|(id, _)| *id == r.module.patch_id).map(|(_, v)| v.clone());
            }
        }
    }
}

fn is_superseded(target: &Target) -> bool {
    target.slot.as_ref().is_some_and(|(slot, generation)| slot.latest.load(Ordering::SeqCst) != *generation)
}

fn problem(stage: Stage, failure: StageFailure, form: &FormSource) -> Problem {
    Problem {
        stage,
        message: failure.message,
        range: form.range.clone(),
        location: failure.location,
        detail_path: failure.detail_path,
    }
}

fn overlaps(a: &std::ops::Range<usize>, b: &std::ops::Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// 0-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> LineCol {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    LineCol { line: before.matches('\n').count() as u32, column: before[line_start..].chars().count() as u32 }
}

/// A poisoned lock only means another run panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
