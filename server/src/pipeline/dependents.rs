//! Macro dependents: a run that changes a `defmacro` evaluates it on the jank side, then
//! re-patches, in the same run, the forms of the workspace's jank files that use it, and lists
//! them in the report ([`DependentFile`]).
//!
//! Why: jank expands a macro while analysing the forms that call it, on its side, with the
//! macro's definition as jank last evaluated it. A changed macro therefore changes nothing
//! until it is evaluated there, and then only the forms compiled after. Pages never run a
//! macro (their code is expanded already), and the fork's op refuses one (`defmacro` analyses
//! to a `do`, and the op wants a `def`): a macro is mirrored only (`Compile::mirror`), never
//! built or sent.
//!
//! Owns: which forms are macros and applying them (mirror, in file order, before anything else
//! of the run compiles); finding the forms that use a macro by name ([`dependents_of`]: in
//! its own namespace unqualified, `alias/name`, `ns/name`, referred names), transitively
//! through macros that use it; re-patching them through [`Pipeline::patch`] like a save of
//! their file; the macros' part of the build cache key ([`Pipeline::form_key`]), so that a
//! form is never served from the cache with another expansion than the one it needs.
//! Also owns the index of the workspace's files ([`Indexed`]: each file parsed once per text,
//! with the macros it defines and the vars it may name), which picks the files a run reads
//! for uses ([`users_of`]); every file's dependents go out in one run of the pipeline
//! ([`Pipeline::patch_files`]: one side module, one delivery).
//! Must not touch: the stages (only through the pipeline's own `patch_files`), any editor
//! protocol (files come through [`WorkspaceFiles`]).
//!
//! Limits (by name, no macro expansion here): a local binding with a macro's name, or a
//! quoted symbol, counts as a use (the form is re-patched for nothing); a use the text does
//! not show (a macro whose expansion calls another macro is followed, a name built at run
//! time is not) is missed. Only definitions are re-patched: top-level expressions are not
//! evaluated again (that would repeat their effects), and `defonce` keeps its value. A file
//! with a read error is skipped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::report::{DependentFile, PatchReport, PatchedForm, Problem, ReportError, StageTimes};
use super::workspace::WorkspaceFiles;
use super::{is_superseded, lock, problem, FileSnapshot, Group, Pipeline, ProgressSink, Target};
use crate::reader::{self, DefKind, Form, FormKind, Namespace, NsDecl, Refer, SourceFile};
use crate::stages::{elapsed_ms, CompileRequest, FormKey, Stage, StageFailure, VarName};

/// What the pipeline knows about the workspace's macros.
#[derive(Default)]
pub(super) struct Macros {
    workspace: Mutex<Option<Arc<dyn WorkspaceFiles>>>,
    /// Every macro seen, with its normalized text as jank was last given it and the macros its
    /// own text uses.
    known: Mutex<HashMap<VarName, Known>>,
    /// Whether the workspace's files were read once for their macros.
    scanned: AtomicBool,
    /// The workspace's files as last read, parsed: a file is parsed again only when its text
    /// changed.
    index: Mutex<HashMap<PathBuf, Arc<Indexed>>>,
}

/// A workspace file in the index: its text, its forms, and the vars it may name.
pub(super) struct Indexed {
    pub doc: FileSnapshot,
    pub file: SourceFile,
    /// Every var a symbol of its text may name, resolved through its `ns` form (more than its
    /// definitions use: enough to leave out the files that use none of a run's macros).
    refs: BTreeSet<VarName>,
    /// The macros it defines.
    macros: Vec<VarName>,
}

impl Indexed {
    pub(super) fn new(doc: FileSnapshot) -> Self {
        let file = reader::parse(&doc.text);
        let (refs, macros) = match (&file.namespace, file.errors.is_empty()) {
            (Namespace::Declared(decl), true) => (
                reader::symbols(&doc.text).into_iter().flat_map(|s| names(decl, s)).collect(),
                file.forms
                    .iter()
                    .filter(|f| is_macro(&f.kind))
                    .filter_map(|f| f.name.as_deref().map(|name| VarName::new(&decl.name, name)))
                    .collect(),
            ),
            _ => (BTreeSet::new(), Vec::new()),
        };
        Indexed { doc, file, refs, macros }
    }
}

impl Macros {
    /// `docs` indexed: each parsed again only when its text differs from the index's. The
    /// index then holds `docs` only (a file deleted since is forgotten).
    fn index(&self, docs: Vec<FileSnapshot>) -> Vec<Arc<Indexed>> {
        let mut index = lock(&self.index);
        let files: Vec<Arc<Indexed>> = docs
            .into_iter()
            .map(|doc| match index.get(&doc.path) {
                Some(known) if known.doc.text == doc.text => known.clone(),
                _ => Arc::new(Indexed::new(doc)),
            })
            .collect();
        *index = files.iter().map(|f| (f.doc.path.clone(), f.clone())).collect();
        files
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Known {
    normalized: String,
    uses: Vec<VarName>,
}

/// A form that uses a changed macro.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Dependent {
    /// Index into the files given to [`dependents_of`].
    pub file: usize,
    /// Index into that file's forms.
    pub form: usize,
    /// The changed macros it uses (directly, or through a macro that uses them).
    pub uses: Vec<VarName>,
    /// The search's round that found it (or last found it more uses): a dependent macro uses
    /// only macros of earlier rounds, or of this round earlier in file order.
    pub round: usize,
}

/// The macros of a file a run evaluated, and how.
#[derive(Default)]
struct Applied {
    forms: Vec<PatchedForm>,
    problems: Vec<Problem>,
    times: StageTimes,
    /// The macros jank has now.
    defined: Vec<VarName>,
    /// Macros left to a newer request of the same var.
    superseded: usize,
}

pub(super) fn is_macro(kind: &FormKind) -> bool {
    matches!(kind, FormKind::Def(DefKind::Defmacro))
}

impl Pipeline {
    /// Where the workspace's jank files are (the front end's roots and, in an editor, its open
    /// buffers). Without it, only the run's own file is searched for a macro's users.
    pub fn set_workspace(&self, files: Arc<dyn WorkspaceFiles>) {
        *lock(&self.macros.workspace) = Some(files);
        self.macros.scanned.store(false, Ordering::SeqCst);
    }

    /// Read off the runtime's threads: a workspace can be large. The error is the warning for
    /// the report: without the files, the forms that use a changed macro are not found.
    async fn workspace_files(&self) -> Result<Vec<FileSnapshot>, String> {
        let Some(files) = lock(&self.macros.workspace).clone() else { return Ok(Vec::new()) };
        tokio::task::spawn_blocking(move || files.jank_files()).await.map_err(|e| {
            let warning = format!(
                "could not read the workspace's files ({e}): the forms that use a changed macro are not patched again, and load hooks are known only from the files patched"
            );
            tracing::warn!("{warning}");
            warning
        })
    }

    /// The build cache key of a request: its text and namespace, and the text of every macro
    /// it uses (transitively), so that a changed macro is never served an old expansion.
    pub(super) fn form_key(&self, request: &CompileRequest) -> FormKey {
        let key = FormKey::of(&request.form.text, &request.source.namespace);
        let Namespace::Declared(decl) = &request.source.namespace else { return key };
        let known = lock(&self.macros.known);
        if known.is_empty() {
            return key;
        }
        let mut used: BTreeMap<VarName, &Known> = BTreeMap::new();
        let mut pending: Vec<VarName> =
            reader::symbols(&request.form.text).into_iter().flat_map(|s| names(decl, s)).collect();
        while let Some(var) = pending.pop() {
            if let (false, Some(macro_)) = (used.contains_key(&var), known.get(&var)) {
                pending.extend(macro_.uses.iter().cloned());
                used.insert(var, macro_);
            }
        }
        if used.is_empty() {
            return key;
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(&key.0);
        for (var, macro_) in used {
            hasher.update(var.to_string().as_bytes());
            hasher.update(&[0]);
            hasher.update(macro_.normalized.as_bytes());
            hasher.update(&[0]);
        }
        FormKey(*hasher.finalize().as_bytes())
    }

    /// The macros and load hooks of the workspace as its files say, read once: jank loads a
    /// namespace from its file (and a jank app's main module holds its code), so that is what
    /// it has until the sidecar patches a newer version. Hooks already learned from a run win.
    /// A workspace that could not be read is tried again by the next run; the warning says so.
    pub(super) async fn learn_workspace(&self) -> Option<String> {
        if self.macros.scanned.swap(true, Ordering::SeqCst) {
            return None;
        }
        let files = match self.workspace_files().await {
            Ok(files) => files,
            Err(warning) => {
                self.macros.scanned.store(false, Ordering::SeqCst);
                return Some(warning);
            }
        };
        let files = self.macros.index(files);
        let mut known = lock(&self.macros.known);
        for indexed in &files {
            let Namespace::Declared(decl) = &indexed.file.namespace else { continue };
            if !lock(&self.hooks).contains_key(&decl.name) {
                self.learn_hooks(&indexed.file, super::Extent::Whole);
            }
            for form in indexed.file.forms.iter().filter(|f| is_macro(&f.kind)) {
                if let Some(name) = &form.name {
                    known
                        .entry(VarName::new(&decl.name, name))
                        .or_insert_with(|| learned(decl, &indexed.doc.text, form));
                }
            }
        }
        None
    }

    /// Patches `targets` of `doc`: its macros first (evaluated on the jank side only), then
    /// the other forms, then the workspace's forms that use a macro that changed.
    pub(super) async fn patch_with_dependents(
        &self,
        doc: &FileSnapshot,
        targets: Vec<Target>,
        untouched: Vec<String>,
        progress: &dyn ProgressSink,
    ) -> PatchReport {
        let (macros, others): (Vec<Target>, Vec<Target>) =
            targets.into_iter().partition(|t| is_macro(&t.request.form.kind));
        if macros.is_empty() {
            return self.patch(doc, others, untouched, progress).await;
        }
        let skip: Vec<Range<usize>> = macros.iter().chain(&others).map(|t| t.request.form.range.clone()).collect();
        let applied = self.define_macros(doc, macros, progress).await;
        let mut report = self.patch(doc, others, untouched, progress).await;
        merge_first(&mut report, &applied);
        if !applied.defined.is_empty() {
            match self.repatch_dependents(doc, &skip, &applied.defined, progress).await {
                Ok(dependents) => report.dependents = dependents,
                Err(warning) => report.warnings.push(warning),
            }
            settle(&mut report);
        }
        report
    }

    /// Evaluates each macro on the jank side, in file order, after the evaluations before it.
    async fn define_macros(&self, doc: &FileSnapshot, macros: Vec<Target>, progress: &dyn ProgressSink) -> Applied {
        let mut applied = Applied::default();
        if macros.is_empty() {
            return applied;
        }
        let file = reader::parse(&doc.text);
        progress.stage(Stage::Compile);
        self.await_mirrors().await;
        for target in macros {
            let form = &target.request.form;
            let ns = target.request.source.namespace.name().unwrap_or_default().to_string();
            let _guard = match &target.slot {
                Some((slot, _)) => Some(slot.lock.clone().lock_owned().await),
                None => None,
            };
            if is_superseded(&target) {
                applied.superseded += 1;
                continue;
            }
            let t = Instant::now();
            let mirrored = match &self.backends.compile {
                Ok(compile) => compile.mirror(&target.request).await,
                Err(why) => Err(StageFailure::new(why.clone())),
            };
            applied.times.compile_ms += elapsed_ms(t);
            let mut patched =
                PatchedForm { ns: ns.clone(), name: form.name.clone(), range: form.range.clone(), value: None };
            let var = VarName::defined_by(&ns, &form.kind, form.name.as_deref());
            match (mirrored, &target.request.source.namespace, var) {
                (Ok(()), Namespace::Declared(decl), Some(var)) => {
                    patched.value = Some(var.printed());
                    lock(&self.patched).record(&doc.path, target.identity.clone(), target.normalized.clone());
                    if let Some(read) = file.forms.iter().find(|f| f.range == form.range) {
                        lock(&self.macros.known).insert(var.clone(), learned(decl, &doc.text, read));
                    }
                    applied.defined.push(var);
                }
                (Ok(()), ..) => {}
                (Err(failure), ..) => applied.problems.push(problem(Stage::Compile, failure, form)),
            }
            applied.forms.push(patched);
        }
        applied
    }

    /// Re-patches the workspace's forms that use `changed` (except `skip`, the forms of `doc`
    /// this run patched already), file by file, dependent macros first.
    async fn repatch_dependents(
        &self,
        doc: &FileSnapshot,
        skip: &[Range<usize>],
        changed: &[VarName],
        progress: &dyn ProgressSink,
    ) -> Result<Vec<DependentFile>, String> {
        let mut docs: Vec<FileSnapshot> =
            self.workspace_files().await?.into_iter().filter(|d| d.path != doc.path).collect();
        docs.push(doc.clone());
        let files = users_of(&self.macros.index(docs), changed);
        let found: Vec<Dependent> = dependents_of(&files, changed)
            .into_iter()
            .filter(|d| !(files[d.file].doc.path == doc.path && skip.contains(&files[d.file].file.forms[d.form].range)))
            .collect();
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        tracing::info!(
            forms = found.len(),
            "re-patching the forms that use {}",
            changed.iter().map(VarName::to_string).collect::<Vec<_>>().join(", ")
        );
        // Per file: the changed macros its forms use, its macros evaluated, its other forms.
        let mut by_file: BTreeMap<usize, (BTreeSet<VarName>, Applied, Vec<Target>)> = BTreeMap::new();
        let is_macro_form = |d: &&Dependent| is_macro(&files[d.file].file.forms[d.form].kind);
        // Macros that use a changed macro are changed too: evaluated, each after the macros it
        // uses, before any user compiles.
        let mut macros: Vec<&Dependent> = found.iter().filter(is_macro_form).collect();
        macros.sort_by_key(|d| (d.round, d.file, d.form));
        for dependent in macros {
            let Indexed { doc, file, .. } = &*files[dependent.file];
            let target = self.target(doc, file, &file.forms[dependent.form]);
            let applied = self.define_macros(doc, vec![target], progress).await;
            by_file.entry(dependent.file).or_default().1.absorb(applied);
        }
        for dependent in &found {
            let Indexed { doc, file, .. } = &*files[dependent.file];
            let entry = by_file.entry(dependent.file).or_default();
            entry.0.extend(dependent.uses.iter().cloned());
            if !is_macro_form(&dependent) {
                entry.2.push(self.target(doc, file, &file.forms[dependent.form]));
            }
        }
        // Every file's forms in one run: one build (one side module), one delivery.
        let (groups, rest): (Vec<Group>, Vec<_>) = by_file
            .into_iter()
            .map(|(index, (uses, applied, others))| {
                let doc = files[index].doc.clone();
                (Group { doc: doc.clone(), targets: others, untouched: Vec::new() }, (doc, uses, applied))
            })
            .unzip();
        let reports = self.patch_files(groups, progress).await;
        let total_ms = elapsed_ms(started);
        Ok(reports
            .into_iter()
            .zip(rest)
            .map(|(mut report, (doc, uses, applied))| {
                merge_first(&mut report, &applied);
                report.total_ms = total_ms;
                DependentFile { path: doc.path, text: doc.text, macros: uses.into_iter().collect(), report }
            })
            .collect())
    }
}

impl Applied {
    fn absorb(&mut self, other: Applied) {
        self.forms.extend(other.forms);
        self.problems.extend(other.problems);
        self.times.compile_ms += other.times.compile_ms;
        self.defined.extend(other.defined);
        self.superseded += other.superseded;
    }
}

/// What the pipeline keeps of a macro it has seen.
fn learned(decl: &NsDecl, text: &str, form: &Form) -> Known {
    let source = text.get(form.range.clone()).unwrap_or_default();
    let own = form.name.as_deref().map(|name| VarName::new(&decl.name, name));
    let mut uses: Vec<VarName> =
        reader::symbols(source).into_iter().flat_map(|s| names(decl, s)).filter(|v| Some(v) != own.as_ref()).collect();
    uses.sort();
    uses.dedup();
    Known { normalized: form.normalized(text), uses }
}

/// Puts what `applied` did before what the report says, and fails the report on its problems.
fn merge_first(report: &mut PatchReport, applied: &Applied) {
    report.forms.splice(0..0, applied.forms.iter().cloned());
    report.problems.splice(0..0, applied.problems.iter().cloned());
    report.stages.compile_ms = report.stages.compile_ms.max(applied.times.compile_ms);
    if report.forms.is_empty() && applied.superseded > 0 {
        report.superseded = true;
        report.message = Some("superseded by a newer edit of the same form".into());
    }
    if let Some(first) = applied.problems.first() {
        report.ok = false;
        report.error = Some(ReportError { stage: first.stage, message: first.message.clone() });
        report.message = Some(format!("{} failed: {}", first.stage, first.message));
    }
}

/// A run whose dependents failed failed too, with the first failure named by its form; the
/// pages a dependent reached, its slowest stages and steps (the dependents share one delivery),
/// its vars' versions and what the pages printed count as the run's.
fn settle(report: &mut PatchReport) {
    for dependent in &report.dependents {
        report.stages.max_with(&dependent.report.stages);
        report.steps.max_with(&dependent.report.steps);
        report.pages = report.pages.max(dependent.report.pages);
        report.warnings.extend(dependent.report.warnings.iter().cloned());
        report.versions.extend(dependent.report.versions.iter().cloned());
        report.output.extend(dependent.report.output.iter().cloned());
    }
    if report.error.is_some() {
        return;
    }
    let failure = report.dependents.iter().find_map(|d| {
        let problem = d.report.problems.first()?;
        let form = d.report.forms.iter().find(|f| f.range == problem.range);
        let name = form.and_then(|f| f.name.as_ref().map(|n| format!("{}/{n}", f.ns)));
        let line = super::line_col(&d.text, problem.range.start).line + 1;
        let uses: Vec<String> = d.macros.iter().map(VarName::to_string).collect();
        let what = name.unwrap_or_else(|| "a form".into());
        let message =
            format!("{what} ({}:{line}), which uses {}: {}", d.path.display(), uses.join(", "), problem.message);
        Some(ReportError { stage: problem.stage, message })
    });
    if let Some(error) = failure {
        report.ok = false;
        report.message = Some(format!("{} failed: {}", error.stage, error.message));
        report.error = Some(error);
    }
}

/// The vars a symbol may name in the namespace `decl` declares: `alias/name` through its
/// requires, `ns/name` as written, and an unqualified name in the namespace itself or referred.
fn names(decl: &NsDecl, symbol: &str) -> Vec<VarName> {
    if let Some((qualifier, name)) = symbol.split_once('/').filter(|(q, n)| !q.is_empty() && !n.is_empty()) {
        let ns = decl.requires.iter().find(|r| r.alias.as_deref() == Some(qualifier)).map_or(qualifier, |r| &r.ns);
        return vec![VarName::new(ns, name)];
    }
    let referred = decl.requires.iter().filter(|r| match &r.refer {
        Refer::All => true,
        Refer::Names(names) => names.iter().any(|n| n == symbol),
        Refer::None => false,
    });
    std::iter::once(VarName::new(&decl.name, symbol)).chain(referred.map(|r| VarName::new(&r.ns, symbol))).collect()
}

/// The files that may use one of `macros`: those that name one, or a macro defined in a file
/// that does, and so on (what [`dependents_of`] needs to read, out of the whole workspace).
fn users_of(files: &[Arc<Indexed>], macros: &[VarName]) -> Vec<Arc<Indexed>> {
    let mut wanted: BTreeSet<&VarName> = macros.iter().collect();
    let mut chosen = vec![false; files.len()];
    loop {
        let mut grew = false;
        for (file, chosen) in files.iter().zip(chosen.iter_mut()) {
            if !*chosen && file.refs.iter().any(|r| wanted.contains(r)) {
                *chosen = true;
                grew = true;
                wanted.extend(&file.macros);
            }
        }
        if !grew {
            break;
        }
    }
    files.iter().zip(chosen).filter(|(_, chosen)| *chosen).map(|(file, _)| file.clone()).collect()
}

/// The definitions of `files` that use one of `macros`, and, when such a definition is a
/// macro itself, those that use it, and so on; in file and form order. The macros' own
/// definitions are not among them.
pub(super) fn dependents_of(files: &[Arc<Indexed>], macros: &[VarName]) -> Vec<Dependent> {
    // Per changed macro, the changed macros it stands for (itself, or those it uses).
    let mut wanted: BTreeMap<VarName, BTreeSet<VarName>> =
        macros.iter().map(|m| (m.clone(), BTreeSet::from([m.clone()]))).collect();
    let mut found: BTreeMap<(usize, usize), (BTreeSet<VarName>, usize)> = BTreeMap::new();
    for round in 0.. {
        let mut grew = false;
        for (index, Indexed { doc, file, .. }) in files.iter().map(|f| &**f).enumerate() {
            let (Namespace::Declared(decl), true) = (&file.namespace, file.errors.is_empty()) else { continue };
            for (at, form) in file.forms.iter().enumerate() {
                let (FormKind::Def(keyword), Some(name)) = (&form.kind, &form.name) else { continue };
                let var = VarName::new(&decl.name, name);
                if *keyword == DefKind::Defonce || macros.contains(&var) {
                    continue;
                }
                let source = doc.text.get(form.range.clone()).unwrap_or_default();
                let uses: BTreeSet<VarName> = reader::symbols(source)
                    .into_iter()
                    .flat_map(|s| names(decl, s))
                    .filter_map(|v| wanted.get(&v))
                    .flatten()
                    .cloned()
                    .collect();
                if uses.is_empty() || found.get(&(index, at)).is_some_and(|(known, _)| *known == uses) {
                    continue;
                }
                if is_macro(&form.kind) {
                    wanted.insert(var, uses.clone());
                }
                found.insert((index, at), (uses, round));
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    found
        .into_iter()
        .map(|((file, form), (uses, round))| Dependent { file, form, uses: uses.into_iter().collect(), round })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn files(sources: &[(&str, &str)]) -> Vec<Arc<Indexed>> {
        sources
            .iter()
            .map(|(path, text)| Arc::new(Indexed::new(FileSnapshot { path: PathBuf::from(path), text: Arc::from(*text) })))
            .collect()
    }

    /// `file:name` of each dependent of `macros` in `files`.
    fn check(sources: &[(&str, &str)], macros: &[&str]) -> Vec<String> {
        let files = files(sources);
        let macros: Vec<VarName> = macros
            .iter()
            .map(|m| {
                let (ns, name) = m.split_once('/').unwrap();
                VarName::new(ns, name)
            })
            .collect();
        dependents_of(&files, &macros)
            .into_iter()
            .map(|d| {
                format!("{}:{}", files[d.file].doc.path.display(), files[d.file].file.forms[d.form].name.as_deref().unwrap())
            })
            .collect()
    }

    const MACROS: &str = "(ns a.macros)\n(defmacro twice [x] (list '* 2 x))\n(defn plain [] (twice 1))\n";

    #[test]
    fn uses_are_found_by_name_in_its_namespace_through_aliases_refers_and_qualified() {
        let found = check(
            &[
                ("a.jank", MACROS),
                ("alias.jank", "(ns b.alias (:require [a.macros :as m]))\n(defn f [] (m/twice 3))\n(defn g [] 3)\n"),
                ("refer.jank", "(ns b.refer (:require [a.macros :refer [twice]]))\n(defn f [] (twice 3))\n"),
                ("all.jank", "(ns b.all (:require [a.macros :refer :all]))\n(def v (twice 3))\n"),
                ("qualified.jank", "(ns b.qualified)\n(defn f [] (a.macros/twice 3))\n"),
                ("prefix.jank", "(ns b.prefix (:require (a [macros :as mm])))\n(defn f [] (mm/twice 3))\n"),
            ],
            &["a.macros/twice"],
        );
        assert_eq!(
            found,
            ["a.jank:plain", "alias.jank:f", "refer.jank:f", "all.jank:v", "qualified.jank:f", "prefix.jank:f"]
        );
    }

    #[test]
    fn the_same_name_elsewhere_is_not_a_use() {
        let found = check(
            &[
                ("a.jank", MACROS),
                // Unqualified but not referred; another alias; another namespace's twice.
                ("no-refer.jank", "(ns b.one (:require [a.macros :as m]))\n(defn f [] (twice 3))\n"),
                ("other.jank", "(ns b.two (:require [c.other :as m]))\n(defn f [] (m/twice 3))\n"),
                ("unrelated.jank", "(ns b.three)\n(defn f [] \"twice\") ; twice\n#_(defn g [] (twice 1))\n"),
                // A file without the ns form, and one that does not read.
                ("no-ns.jank", "(defn f [] (a.macros/twice 3))\n"),
                ("broken.jank", "(ns b.four)\n(defn f [] (a.macros/twice 3)\n"),
            ],
            &["a.macros/twice"],
        );
        assert_eq!(found, ["a.jank:plain"]);
    }

    #[test]
    fn a_macro_that_uses_one_is_a_dependent_and_so_are_its_users() {
        let found = check(
            &[
                ("a.jank", "(ns a.macros)\n(defmacro twice [x] (list '* 2 x))\n(defmacro quad [x] (list 'twice (list 'twice x)))\n"),
                ("b.jank", "(ns b.core (:require [a.macros :as m]))\n(defn f [] (m/quad 1))\n(defonce once (m/twice 1))\n(m/twice 2)\n"),
            ],
            &["a.macros/twice"],
        );
        // The defonce keeps its value and the expression is not run again.
        assert_eq!(found, ["a.jank:quad", "b.jank:f"]);
        let files = files(&[("a.jank", MACROS)]);
        assert_eq!(
            dependents_of(&files, &[VarName::new("a.macros", "twice")])[0].uses,
            [VarName::new("a.macros", "twice")]
        );
    }

    #[test]
    fn only_the_files_that_name_a_changed_macro_or_a_macro_that_uses_it_are_read() {
        let files = files(&[
            ("a.jank", "(ns a.macros)\n(defmacro twice [x] (list '* 2 x))\n"),
            ("quad.jank", "(ns q (:require [a.macros :refer [twice]]))\n(defmacro quad [x] (list 'twice x))\n"),
            ("user.jank", "(ns u (:require [q :as q]))\n(defn f [] (q/quad 1))\n"),
            ("none.jank", "(ns n)\n(defn twice [] 1)\n(defn quad [] 2)\n"),
        ]);
        let read: Vec<String> = users_of(&files, &[VarName::new("a.macros", "twice")])
            .iter()
            .map(|f| f.doc.path.display().to_string())
            .collect();
        // The macro's own file may use it too.
        assert_eq!(read, ["a.jank", "quad.jank", "user.jank"]);
    }
}
