//! The pipeline with stand-in stages (unit tests): which forms run, in which order, and what
//! the report says. The real stages are tested against the real tools in `server/tests`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::stages::*;

#[derive(Default)]
struct Calls {
    compiled: Vec<String>,
    /// The C++ of each patch, as the fake compile made it.
    cpp: HashMap<PatchId, String>,
    /// The forms of each build, one side module each.
    built: Vec<Vec<String>>,
    delivered: Vec<Vec<String>>,
    mirrored: Vec<String>,
    undone: Vec<Vec<String>>,
    /// How the next undos go out, first first: (pages that applied it, a page's refusal).
    /// Without one, both pages apply it.
    undo_outcomes: Vec<(usize, Option<&'static str>)>,
    /// Mirrors of forms containing "held" wait for a permit here (jank evaluating slowly).
    mirror_gate: Option<Arc<tokio::sync::Semaphore>>,
    /// Mirrors finished, and compiles started, in order.
    events: Vec<String>,
    /// Per build, whether a run was marked on its way (when the build was given the marks).
    built_on_its_way: Vec<bool>,
}

struct FakeCompile {
    calls: Arc<Mutex<Calls>>,
    /// Forms whose text contains this fail to compile.
    fail_on: Option<&'static str>,
    delay: Duration,
}

#[async_trait]
impl Compile for FakeCompile {
    async fn compile(&self, request: &CompileRequest) -> Result<CompiledForm, StageFailure> {
        tokio::time::sleep(self.delay).await;
        let mut calls = self.calls.lock().unwrap();
        calls.events.push(format!("compiling {}", request.form.text));
        calls.compiled.push(request.form.text.clone());
        drop(calls);
        if self.fail_on.is_some_and(|bad| request.form.text.contains(bad)) {
            return Err(StageFailure::new("Unable to resolve symbol: nope")
                .at(LineCol { line: request.form.start.line, column: 3 }));
        }
        let ns = request.source.namespace.name().unwrap_or("user").to_string();
        let (name, kind) = match &request.form.name {
            Some(name) => (name.clone(), PatchKind::Definition),
            None => (format!("__eval_{}", request.patch_id), PatchKind::Expression),
        };
        self.calls.lock().unwrap().cpp.insert(request.patch_id, request.form.text.clone());
        Ok(CompiledForm {
            patch_id: request.patch_id,
            cpp: request.form.text.clone(),
            var: VarName::new(ns, name),
            kind,
            warnings: Vec::new(),
        })
    }

    async fn mirror(&self, request: &CompileRequest) -> Result<(), StageFailure> {
        let gate = self.calls.lock().unwrap().mirror_gate.clone();
        if let Some(gate) = gate.filter(|_| request.form.text.contains("held")) {
            let _permit = gate.acquire().await.unwrap();
        }
        let mut calls = self.calls.lock().unwrap();
        calls.events.push(format!("mirrored {}", request.form.text));
        calls.mirrored.push(request.form.text.clone());
        if request.form.text.contains("unmirrored") {
            return Err(StageFailure::new("Unable to resolve symbol 'unmirrored'"));
        }
        Ok(())
    }
}

#[derive(Default)]
struct FakeBuild {
    calls: Arc<Mutex<Calls>>,
    cache: Mutex<HashMap<FormKey, SideModule>>,
    /// What the real builder waits on before writing what builds keep.
    on_their_way: Option<PatchesInFlight>,
}

#[async_trait]
impl Build for FakeBuild {
    async fn cached(&self, key: FormKey) -> Option<SideModule> {
        self.cache.lock().unwrap().get(&key).map(|m| SideModule { cached: true, ..m.clone() })
    }

    async fn build_together(&self, forms: &[(FormKey, &CompiledForm)]) -> Vec<Result<SideModule, StageFailure>> {
        let sources: Vec<String> = forms.iter().map(|(_, form)| form.cpp.clone()).collect();
        self.calls.lock().unwrap().built.push(sources.clone());
        if let Some(patches) = &self.on_their_way {
            self.calls.lock().unwrap().built_on_its_way.push(patches.any());
        }
        let Some(module) = forms.first().map(|(_, form)| ModuleId::from(form.patch_id)) else { return Vec::new() };
        // A build that answers for fewer forms than it was given (a bug in a backend).
        if sources.iter().any(|s| s.contains("unanswered")) {
            return Vec::new();
        }
        let bytes: Arc<[u8]> = sources.join("\n").as_bytes().into();
        forms
            .iter()
            .map(|(key, form)| {
                let module = SideModule {
                    patch_id: form.patch_id,
                    module,
                    bytes: bytes.clone(),
                    entry_symbol: form.patch_id.entry_symbol(),
                    var: form.var.clone(),
                    kind: form.kind.clone(),
                    cpp_path: PathBuf::from("/tmp/x.cpp"),
                    cached: false,
                };
                self.cache.lock().unwrap().insert(*key, module.clone());
                Ok(module)
            })
            .collect()
    }
}

/// Refuses modules whose code mentions `missing_export`.
struct FakeCheck;

impl Check for FakeCheck {
    fn check(&self, module: &SideModule) -> Result<(), StageFailure> {
        match String::from_utf8_lossy(&module.bytes).contains("missing_export") {
            true => Err(StageFailure::new("imports missing_export, which the main module does not export")),
            false => Ok(()),
        }
    }
}

struct FakeDeliver {
    calls: Arc<Mutex<Calls>>,
    fail_load: bool,
}

#[async_trait]
impl Deliver for FakeDeliver {
    async fn deliver_batch(&self, patches: Vec<Patch>, _: &LoadHooks) -> Result<Delivery, StageFailure> {
        let mut calls = self.calls.lock().unwrap();
        let texts = patches.iter().map(|p| calls.cpp.get(&p.module.patch_id).cloned().unwrap_or_default()).collect();
        calls.delivered.push(texts);
        drop(calls);
        let values: Vec<_> = patches
            .iter()
            .filter(|p| p.module.kind == PatchKind::Expression)
            .map(|p| (p.module.patch_id, "42".to_string()))
            .collect();
        let value = values.first().map(|(_, v)| v.clone());
        let failures = if self.fail_load { vec!["page 1: dlopen failed: bad export type".into()] } else { Vec::new() };
        let unjournaled = patches.iter().any(|p| p.origin.form.contains("unjournaled"));
        let warnings =
            if unjournaled { vec!["the patch journal could not be saved (disk full)".into()] } else { Vec::new() };
        Ok(Delivery {
            pages: 2,
            applied: if self.fail_load { 0 } else { 2 },
            deliver_ms: 1.0,
            load_ms: 0.5,
            send_ms: 0.25,
            client_ms: 0.5,
            journal_ms: 0.125,
            values,
            value,
            failures,
            warnings,
            versions: Vec::new(),
            output: Vec::new(),
            hook_failures: Vec::new(),
        })
    }

    async fn undo(&self, vars: &[VarName], _: &LoadHooks) -> Result<Delivery, StageFailure> {
        let mut calls = self.calls.lock().unwrap();
        calls.undone.push(vars.iter().map(ToString::to_string).collect());
        let (applied, refusal) = if calls.undo_outcomes.is_empty() { (2, None) } else { calls.undo_outcomes.remove(0) };
        let versions = vars.iter().map(|v| VarVersion { var: v.clone(), version: 1 }).collect();
        let failures = refusal.map(String::from).into_iter().collect();
        Ok(Delivery { pages: 2, applied, versions, failures, ..Delivery::default() })
    }
}

fn pipeline(fail_on: Option<&'static str>, delay_ms: u64, fail_load: bool) -> (Pipeline, Arc<Mutex<Calls>>) {
    pipeline_checked(fail_on, delay_ms, fail_load, None)
}

fn pipeline_checked(
    fail_on: Option<&'static str>,
    delay_ms: u64,
    fail_load: bool,
    check: Option<Arc<dyn Check>>,
) -> (Pipeline, Arc<Mutex<Calls>>) {
    let calls = Arc::new(Mutex::new(Calls::default()));
    let backends = Backends {
        compile: Ok(Arc::new(FakeCompile { calls: calls.clone(), fail_on, delay: Duration::from_millis(delay_ms) })),
        build: Ok(Arc::new(FakeBuild { calls: calls.clone(), ..FakeBuild::default() })),
        check,
        deliver: Ok(Arc::new(FakeDeliver { calls: calls.clone(), fail_load })),
    };
    (Pipeline::new(backends, PatchIds::in_memory()), calls)
}

fn doc(text: &str) -> FileSnapshot {
    FileSnapshot { path: PathBuf::from("/ws/src/demo/core.jank"), text: text.into() }
}

const FILE: &str = "(ns demo.core)\n(defn a [] 1)\n(defn b [x] (+ x 1))\n(comment (a))\n(a)\n";

#[tokio::test]
async fn the_form_at_a_position_goes_through_every_stage() {
    let (p, calls) = pipeline(None, 0, false);
    let text = FILE;
    let at = text.find("(+ x").unwrap();
    let report = p.run(&doc(text), Selection::FormAt(at), &()).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.forms.len(), 1);
    assert_eq!((report.forms[0].ns.as_str(), report.forms[0].name.as_deref().unwrap_or_default()), ("demo.core", "b"));
    assert_eq!(&text[report.forms[0].range.clone()], "(defn b [x] (+ x 1))");
    assert_eq!(report.pages, 2);
    assert_eq!(report.stages.deliver_ms, 1.0);
    // The delivery's own parts: sending is part of deliver_ms, waiting for the journal is not.
    let s = report.steps;
    assert_eq!((s.send_ms, s.socket_ms, s.client_ms, s.journal_ms), (0.25, 0.25, 0.5, 0.125));
    assert_eq!(calls.lock().unwrap().delivered, vec![vec!["(defn b [x] (+ x 1))".to_string()]]);
    // The applied definition is mirrored on the jank side (once the mirrors a next compile
    // would wait for are done).
    p.await_mirrors().await;
    assert_eq!(calls.lock().unwrap().mirrored, vec!["(defn b [x] (+ x 1))".to_string()]);
}

#[tokio::test]
async fn a_run_is_on_its_way_from_its_start_to_its_report() {
    let patches = PatchesInFlight::default();
    let calls = Arc::new(Mutex::new(Calls::default()));
    let backends = Backends {
        compile: Ok(Arc::new(FakeCompile { calls: calls.clone(), fail_on: None, delay: Duration::ZERO })),
        build: Ok(Arc::new(FakeBuild {
            calls: calls.clone(),
            on_their_way: Some(patches.clone()),
            ..FakeBuild::default()
        })),
        check: None,
        deliver: Ok(Arc::new(FakeDeliver { calls: calls.clone(), fail_load: false })),
    };
    let p = Pipeline::new(backends, PatchIds::in_memory()).marking_runs_in(patches.clone());
    let report = p.run(&doc(FILE), Selection::FormAt(FILE.find("(+ x").unwrap()), &()).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(calls.lock().unwrap().built_on_its_way, [true], "what builds keep waits during the run");
    assert!(!patches.any(), "with the report, nothing is on its way");
}

#[tokio::test]
async fn losses_that_do_not_fail_the_patch_are_warnings_in_the_report() {
    let (p, _) = pipeline(None, 0, false);
    let text = "(ns demo.core)\n(defn unmirrored [] 1)\n(defn unjournaled [] 2)\n(defn fine [] 3)\n";
    let report = p.run(&doc(text), Selection::ChangedForms, &()).await;
    assert!(report.ok, "the pages applied every patch: {report:?}");
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("journal could not be saved"), "{:?}", report.warnings);
    // The run does not wait for jank to evaluate its definitions on its side; the next run
    // does, before it compiles, and reports what jank could not evaluate.
    let next = p.run(&doc(&text.replace("3)", "4)")), Selection::ChangedForms, &()).await;
    assert_eq!(next.warnings.len(), 1, "{:?}", next.warnings);
    assert!(next.warnings[0].contains("jank could not evaluate unmirrored on its side"), "{:?}", next.warnings);
    let clean = p.run(&doc(&text.replace("3)", "5)")), Selection::ChangedForms, &()).await;
    assert!(clean.warnings.is_empty(), "{:?}", clean.warnings);
}

// Paused time: the runtime idles only when every task waits, and then the clock jumps to the
// next timer, so a timeout that fires proves the run was still waiting.
#[tokio::test(start_paused = true)]
async fn a_run_answers_before_jank_evaluates_its_definitions_and_the_next_run_waits_for_that() {
    let (p, calls) = pipeline(None, 0, false);
    let p = Arc::new(p);
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    calls.lock().unwrap().mirror_gate = Some(gate.clone());
    let first = p.run(&doc("(ns demo.core)\n(defn held [] 1)\n"), Selection::ChangedForms, &()).await;
    assert!(first.ok, "answered while jank still evaluates: {first:?}");
    let runner = p.clone();
    let mut next = tokio::spawn(async move {
        runner.run(&doc("(ns demo.core)\n(defn held [] 2)\n"), Selection::ChangedForms, &()).await
    });
    assert!(tokio::time::timeout(Duration::from_secs(3600), &mut next).await.is_err(), "the next run waits");
    gate.add_permits(2);
    let second = next.await.unwrap();
    assert!(second.ok, "{second:?}");
    assert!(second.steps.wait_ms > 0.0, "the wait is the run's own step: {:?}", second.steps);
    // (The second run's own mirror may have finished by now too.)
    assert_eq!(
        calls.lock().unwrap().events[..3],
        ["compiling (defn held [] 1)", "mirrored (defn held [] 1)", "compiling (defn held [] 2)"]
    );
}

#[tokio::test]
async fn an_expression_inside_comment_returns_its_value() {
    let (p, _) = pipeline(None, 0, false);
    let at = FILE.find("(comment (a").unwrap() + 10;
    let report = p.run(&doc(FILE), Selection::FormAt(at), &()).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.value.as_deref(), Some("42"));
    assert_eq!(&FILE[report.forms[0].range.clone()], "(a)");
}

#[tokio::test]
async fn a_save_patches_only_what_changed_since_the_last_successful_patch() {
    let (p, calls) = pipeline(None, 0, false);
    let first = p.run(&doc(FILE), Selection::ChangedForms, &()).await;
    assert!(first.ok, "{first:?}");
    // ns and comment forms are not patched; the defs and the top-level expression are.
    let names: Vec<_> = first.forms.iter().map(|f| f.name.as_deref().unwrap_or("expression")).collect();
    assert_eq!(names.len(), 3, "{names:?}");

    let again = p.run(&doc(FILE), Selection::ChangedForms, &()).await;
    assert!(again.ok && again.forms.is_empty());
    assert_eq!(again.message.as_deref(), Some("nothing changed since the last patch"));

    let reformatted = FILE.replace("(defn a [] 1)", "(defn a []\n  ;; one\n  1)");
    let report = p.run(&doc(&reformatted), Selection::ChangedForms, &()).await;
    assert!(report.forms.is_empty(), "whitespace and comments are not changes: {report:?}");

    let edited = FILE.replace("(+ x 1)", "(+ x 2)");
    let report = p.run(&doc(&edited), Selection::ChangedForms, &()).await;
    assert_eq!(report.forms.iter().map(|f| f.name.as_deref().unwrap_or("expression")).collect::<Vec<_>>(), vec!["b"]);
    assert_eq!(calls.lock().unwrap().delivered.len(), 2);
}

#[tokio::test]
async fn changed_definitions_leaves_the_expressions_out() {
    let (p, _) = pipeline(None, 0, false);
    let report = p.run(&doc(FILE), Selection::ChangedDefinitions, &()).await;
    assert!(report.ok, "{report:?}");
    let names: Vec<_> = report.forms.iter().map(|f| f.name.as_deref().unwrap_or("expression")).collect();
    assert_eq!(names, ["a", "b"]);
    let again = p.run(&doc(FILE), Selection::ChangedDefinitions, &()).await;
    assert!(again.forms.is_empty(), "{again:?}");
    let rest = p.run(&doc(FILE), Selection::ChangedForms, &()).await;
    assert_eq!(
        rest.forms.iter().map(|f| f.name.as_deref().unwrap_or("expression")).collect::<Vec<_>>(),
        ["expression"]
    );
}

#[tokio::test]
async fn a_failing_form_does_not_stop_the_others_and_is_retried_next_save() {
    let (p, calls) = pipeline(Some("nope"), 0, false);
    let text = FILE.replace("(+ x 1)", "(nope x)");
    let report = p.run(&doc(&text), Selection::ChangedForms, &()).await;
    assert!(!report.ok);
    let error = report.error.as_ref().unwrap();
    assert_eq!(error.stage, Stage::Compile);
    assert_eq!(report.problems.len(), 1);
    assert_eq!(&text[report.problems[0].range.clone()], "(defn b [x] (nope x))");
    assert_eq!(report.problems[0].location, Some(LineCol { line: 2, column: 3 }));
    assert_eq!(calls.lock().unwrap().delivered[0].len(), 2, "the good forms still go out");

    let fixed = p.run(&doc(FILE), Selection::ChangedForms, &()).await;
    assert!(fixed.ok);
    assert_eq!(fixed.forms.iter().map(|f| f.name.as_deref().unwrap_or("expression")).collect::<Vec<_>>(), vec!["b"]);
}

#[tokio::test]
async fn a_newer_edit_supersedes_queued_older_ones_and_is_applied_last() {
    let (p, calls) = pipeline(None, 30, false);
    let p = Arc::new(p);
    let mut runs = Vec::new();
    for n in 0..8 {
        let p = p.clone();
        let text = format!("(ns demo.core)\n(defn speed [] {n})\n");
        runs.push(tokio::spawn(async move { p.run(&doc(&text), Selection::FormAt(20), &()).await }));
    }
    // The test's runtime has one thread: the runs start, and take their places in the var's
    // order, in the order they were spawned.
    let mut reports = Vec::new();
    for run in runs {
        reports.push(run.await.unwrap());
    }
    assert!(reports.iter().all(|r| r.ok), "{reports:?}");
    assert!(!reports[7].superseded, "the newest is applied");
    assert!(reports[1..7].iter().all(|r| r.superseded), "queued older edits are dropped");
    let delivered = calls.lock().unwrap().delivered.concat();
    assert_eq!(delivered.last().map(String::as_str), Some("(defn speed [] 7)"));
    assert!(delivered.len() <= 2, "at most the one in flight and the newest: {delivered:?}");
}

#[tokio::test]
async fn a_version_built_before_costs_no_compile() {
    let (p, calls) = pipeline(None, 0, false);
    let v1 = "(ns demo.core)\n(defn a [] 1)\n";
    let v2 = "(ns demo.core)\n(defn a [] 2)\n";
    for text in [v1, v2, v1] {
        assert!(p.run(&doc(text), Selection::FormAt(16), &()).await.ok);
    }
    assert_eq!(calls.lock().unwrap().compiled.len(), 2, "undo to v1 came from the cache");
    assert_eq!(calls.lock().unwrap().delivered.len(), 3, "and was delivered again");
}

#[tokio::test]
async fn defonce_is_sent_once() {
    let (p, calls) = pipeline(None, 0, false);
    let v1 = "(ns demo.core)\n(defonce state (fn [] 1))\n";
    let v2 = "(ns demo.core)\n(defonce state (fn [] 2))\n";
    assert_eq!(p.run(&doc(v1), Selection::ChangedForms, &()).await.forms.len(), 1);
    let report = p.run(&doc(v2), Selection::ChangedForms, &()).await;
    assert!(report.ok && report.forms.is_empty(), "{report:?}");
    assert_eq!(calls.lock().unwrap().delivered.len(), 1);
}

/// `(defonce state ...)` in several namespaces is one var per namespace: each is sent once.
#[tokio::test]
async fn defonce_of_the_same_name_in_another_namespace_is_another_var() {
    let (p, calls) = pipeline(None, 0, false);
    let a = file("/ws/src/a/core.jank", "(ns a.core)\n(defonce handler (fn [] 1))\n");
    let b = file("/ws/src/b/core.jank", "(ns b.core)\n(defonce handler (fn [] 2))\n");
    assert_eq!(p.run(&a, Selection::ChangedForms, &()).await.forms.len(), 1);
    let report = p.run(&b, Selection::ChangedForms, &()).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(
        report.forms.iter().map(|f| format!("{}/{}", f.ns, f.name.as_deref().unwrap_or("?"))).collect::<Vec<_>>(),
        ["b.core/handler"]
    );
    assert_eq!(calls.lock().unwrap().delivered.len(), 2);
    // The same namespace in another file (a file moved or split) is the same var: kept.
    let moved = file("/ws/src/a/moved.jank", "(ns a.core)\n(defonce handler (fn [] 3))\n");
    assert!(p.run(&moved, Selection::ChangedForms, &()).await.forms.is_empty());
}

#[tokio::test]
async fn load_failures_and_missing_backends_name_their_stage() {
    let (p, _) = pipeline(None, 0, true);
    let report = p.run(&doc(FILE), Selection::FormAt(16), &()).await;
    assert_eq!(report.error.as_ref().map(|e| e.stage), Some(Stage::Load), "{report:?}");
    assert!(report.error.unwrap().message.contains("bad export type"));

    let backends = Backends {
        compile: Err("jank is not reachable".into()),
        build: Ok(Arc::new(FakeBuild::default())),
        check: None,
        deliver: Err("no app server".into()),
    };
    let p = Pipeline::new(backends, PatchIds::in_memory());
    let report = p.run(&doc(FILE), Selection::FormAt(16), &()).await;
    let error = report.error.unwrap();
    assert_eq!((error.stage, error.message.as_str()), (Stage::Compile, "jank is not reachable"));
}

#[tokio::test]
async fn read_errors_and_empty_positions_are_reported_at_the_read_stage() {
    let (p, _) = pipeline(None, 0, false);
    let report = p.run(&doc("(ns a)\n(defn f [] (+ 1 2)\n"), Selection::ChangedForms, &()).await;
    assert_eq!(report.error.as_ref().map(|e| e.stage), Some(Stage::Read));
    assert_eq!(report.problems[0].range.start, 7, "at the unmatched delimiter");
    let report = p.run(&doc("(ns a)\n\n\n(defn f [] 1)\n"), Selection::FormAt(7), &()).await;
    assert_eq!(report.error.map(|e| e.message), Some("no form at the cursor".into()));
}

#[tokio::test]
async fn undo_takes_back_the_var_at_a_position_or_the_file_s_last_runs_and_the_next_save_patches_again() {
    let (p, calls) = pipeline(None, 0, false);
    let v1 = "(ns demo.core)\n(defn a [] 1)\n(defn b [x] (+ x 1))\n";
    let v2 = "(ns demo.core)\n(defn a [] 2)\n(defn b [x] (+ x 1))\n";
    assert!(p.run(&doc(v1), Selection::ChangedForms, &()).await.ok);
    assert!(p.run(&doc(v2), Selection::ChangedForms, &()).await.ok);

    let report = p.undo(&doc(v2), UndoTarget::DefinitionAt(v2.find("(+ x").unwrap())).await;
    assert!(report.ok && report.undo, "{report:?}");
    assert_eq!(report.versions, [VarVersion { var: VarName::new("demo.core", "b"), version: 1 }]);
    assert_eq!(report.summary().split(" in ").next(), Some("undid demo.core/b → version 1"));
    // The file's runs, newest first: [a], then [a] ([a, b] without b, undone above).
    assert!(p.undo(&doc(v2), UndoTarget::LastRun).await.ok);
    assert!(p.undo(&doc(v2), UndoTarget::LastRun).await.ok);
    let nothing = p.undo(&doc(v2), UndoTarget::LastRun).await;
    assert!(!nothing.ok && nothing.summary().contains("nothing to undo"), "{nothing:?}");
    assert_eq!(calls.lock().unwrap().undone, [vec!["demo.core/b"], vec!["demo.core/a"], vec!["demo.core/a"]]);
    let not_a_def = p.undo(&doc("(ns demo.core)\n(a)\n"), UndoTarget::DefinitionAt(16)).await;
    assert_eq!(not_a_def.error.map(|e| e.stage), Some(Stage::Read));

    // The page runs older code than the file now: the next save patches the undone forms again.
    let report = p.run(&doc(v2), Selection::ChangedForms, &()).await;
    assert_eq!(report.forms.len(), 2, "{report:?}");
}

/// An undo that no page applied took nothing back: the file's last run is still there to undo.
#[tokio::test]
async fn an_undo_no_page_applied_can_be_tried_again() {
    let (p, calls) = pipeline(None, 0, false);
    let v1 = "(ns demo.core)\n(defn a [] 1)\n(defn b [x] (+ x 1))\n";
    let v2 = "(ns demo.core)\n(defn a [] 2)\n(defn b [x] (+ x 1))\n";
    assert!(p.run(&doc(v1), Selection::ChangedForms, &()).await.ok);
    assert!(p.run(&doc(v2), Selection::ChangedForms, &()).await.ok);
    calls.lock().unwrap().undo_outcomes.push((0, Some("page 1: dlopen failed: out of memory")));
    let refused = p.undo(&doc(v2), UndoTarget::LastRun).await;
    assert!(!refused.ok, "{refused:?}");
    assert!(refused.summary().contains("out of memory"), "{}", refused.summary());
    // The pages run v2 as the file says: nothing to patch.
    assert!(p.run(&doc(v2), Selection::ChangedForms, &()).await.forms.is_empty());
    let again = p.undo(&doc(v2), UndoTarget::LastRun).await;
    assert!(again.ok, "{again:?}");
    assert_eq!(calls.lock().unwrap().undone, [vec!["demo.core/a"], vec!["demo.core/a"]], "the same run, twice");
}

/// One page applied the undo, the other refused it: the journal and the first page run the
/// earlier version, the second the file's. The report fails saying so, and the next save of
/// the unchanged file patches the file's code into every page again, so they converge on it.
#[tokio::test]
async fn after_an_undo_only_some_pages_applied_the_next_save_brings_every_page_back_to_the_file() {
    let (p, calls) = pipeline(None, 0, false);
    let v1 = "(ns demo.core)\n(defn a [] 1)\n";
    let v2 = "(ns demo.core)\n(defn a [] 2)\n";
    assert!(p.run(&doc(v1), Selection::ChangedForms, &()).await.ok);
    assert!(p.run(&doc(v2), Selection::ChangedForms, &()).await.ok);
    calls.lock().unwrap().undo_outcomes.push((1, Some("page 2: dlopen failed: out of memory")));
    let partly = p.undo(&doc(v2), UndoTarget::DefinitionAt(16)).await;
    assert!(!partly.ok, "{partly:?}");
    let summary = partly.summary();
    assert!(summary.contains("1 of 2 pages") && summary.contains("out of memory"), "{summary}");
    assert!(summary.contains("save the file to patch its code into every page again"), "{summary}");
    let report = p.run(&doc(v2), Selection::ChangedForms, &()).await;
    assert_eq!(report.forms.iter().map(|f| f.name.as_deref()).collect::<Vec<_>>(), [Some("a")], "{report:?}");
}

/// A build that gives no result for a form fails that form at the build stage, saying so:
/// it is not a newer edit superseding it.
#[tokio::test]
async fn a_form_the_build_gave_no_result_for_fails_at_the_build_stage() {
    let (p, calls) = pipeline(None, 0, false);
    let report = p.run(&doc("(ns demo.core)\n(defn unanswered [] 1)\n"), Selection::ChangedForms, &()).await;
    assert!(!report.ok && !report.superseded, "{report:?}");
    let error = report.error.as_ref().unwrap();
    assert_eq!(error.stage, Stage::Build, "{report:?}");
    assert!(error.message.contains("no result"), "{report:?}");
    assert!(calls.lock().unwrap().delivered.is_empty());
}

/// Reading the workspace's files panicked: the run says that macro users are not patched
/// again, and the next run tries to read them again.
#[tokio::test]
async fn a_workspace_that_cannot_be_read_is_a_warning_and_is_read_again_next_run() {
    struct Panics(std::sync::atomic::AtomicUsize);
    impl WorkspaceFiles for Panics {
        fn jank_files(&self) -> Vec<FileSnapshot> {
            if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                panic!("a file system that fails");
            }
            Vec::new()
        }
    }
    let (p, _) = pipeline(None, 0, false);
    let files = Arc::new(Panics(std::sync::atomic::AtomicUsize::new(0)));
    p.set_workspace(files.clone());
    let report = p.run(&doc("(ns demo.core)\n(defn a [] 1)\n"), Selection::ChangedForms, &()).await;
    assert!(report.ok, "{report:?}");
    assert!(report.warnings.iter().any(|w| w.contains("could not read the workspace's files")), "{report:?}");
    let report = p.run(&doc("(ns demo.core)\n(defn a [] 2)\n"), Selection::ChangedForms, &()).await;
    assert!(report.warnings.is_empty(), "{report:?}");
    assert_eq!(files.0.load(std::sync::atomic::Ordering::SeqCst), 2, "read again");
}

#[tokio::test]
async fn the_report_carries_a_value_per_form() {
    let (p, _) = pipeline(None, 0, false);
    let report = p.run(&doc(FILE), Selection::ChangedForms, &()).await;
    let values: Vec<_> = report.forms.iter().map(|f| f.value.as_deref()).collect();
    assert_eq!(values, [Some("#'demo.core/a"), Some("#'demo.core/b"), Some("42")], "{report:?}");
}

#[tokio::test]
async fn the_changed_forms_of_a_save_are_built_into_one_side_module() {
    let (p, calls) = pipeline(None, 0, false);
    let report = p.run(&doc(FILE), Selection::ChangedForms, &()).await;
    assert!(report.ok, "{report:?}");
    let built = calls.lock().unwrap().built.clone();
    assert_eq!(built, [vec!["(defn a [] 1)", "(defn b [x] (+ x 1))", "(a)"]], "one build for the three forms");
    // A form from the cache joins no build; the others are built together.
    let edited = FILE.replace("[] 1)", "[] 2)").replace("(+ x 1)", "(+ x 2)");
    assert!(p.run(&doc(&edited), Selection::ChangedForms, &()).await.ok);
    assert!(p.run(&doc(FILE), Selection::ChangedForms, &()).await.ok);
    let built = calls.lock().unwrap().built.clone();
    assert_eq!(built.len(), 2, "the old versions came from the cache: {built:?}");
    assert_eq!(built[1], ["(defn a [] 2)", "(defn b [x] (+ x 2))"]);
}

#[tokio::test]
async fn a_module_of_several_forms_that_fails_its_check_is_built_again_form_by_form() {
    let (p, calls) = pipeline_checked(None, 0, false, Some(Arc::new(FakeCheck)));
    let text = "(ns demo.core)\n(defn a [] 1)\n(defn b [] (missing_export))\n(defn c [] 3)\n";
    let report = p.run(&doc(text), Selection::ChangedForms, &()).await;
    assert!(!report.ok, "{report:?}");
    assert_eq!(report.problems.len(), 1, "only b fails: {:?}", report.problems);
    assert_eq!(
        (report.problems[0].stage, &text[report.problems[0].range.clone()]),
        (Stage::Check, "(defn b [] (missing_export))")
    );
    let calls = calls.lock().unwrap();
    assert_eq!(calls.built.len(), 4, "together, then each alone: {:?}", calls.built);
    assert_eq!(calls.delivered, [vec!["(defn a [] 1)", "(defn c [] 3)"]], "the others go out");
}

/// The workspace's files as a front end would give them.
struct Files(Mutex<Vec<FileSnapshot>>);

impl WorkspaceFiles for Files {
    fn jank_files(&self) -> Vec<FileSnapshot> {
        self.0.lock().unwrap().clone()
    }
}

fn file(path: &str, text: &str) -> FileSnapshot {
    FileSnapshot { path: PathBuf::from(path), text: text.into() }
}

#[tokio::test]
async fn a_changed_macro_is_evaluated_on_the_jank_side_then_its_users_are_patched_again() {
    let (p, calls) = pipeline(None, 0, false);
    let macros = |n: u32| file("/ws/a.jank", &format!("(ns a.macros)\n(defmacro twice [x] (list '* {n} x))\n"));
    let user = file("/ws/b.jank", "(ns b.core (:require [a.macros :as m]))\n(defn f [] (m/twice 3))\n(defn g [] 1)\n");
    p.set_workspace(Arc::new(Files(Mutex::new(vec![macros(2), user.clone()]))));
    assert!(p.run(&user, Selection::ChangedForms, &()).await.ok);
    assert!(p.run(&macros(2), Selection::ChangedForms, &()).await.ok);
    calls.lock().unwrap().compiled.clear();
    calls.lock().unwrap().delivered.clear();

    let report = p.run(&macros(3), Selection::ChangedForms, &()).await;
    assert!(report.ok, "{report:?}");
    // The macro is evaluated on the jank side, never compiled for or sent to the pages.
    let calls = calls.lock().unwrap();
    assert_eq!(
        calls.mirrored.iter().rev().find(|m| m.contains("defmacro")).map(String::as_str),
        Some("(defmacro twice [x] (list '* 3 x))")
    );
    // Its user is compiled again (not served from the cache: its expansion changed), the other form is not.
    assert_eq!(calls.compiled, ["(defn f [] (m/twice 3))"]);
    assert_eq!(calls.delivered, [["(defn f [] (m/twice 3))"]]);
    assert_eq!(report.forms[0].value.as_deref(), Some("#'a.macros/twice"));
    let [dependent] = report.dependents.as_slice() else { panic!("{report:?}") };
    assert_eq!(dependent.path, PathBuf::from("/ws/b.jank"));
    assert_eq!(dependent.macros, [VarName::new("a.macros", "twice")]);
    assert_eq!(dependent.report.forms[0].name.as_deref(), Some("f"));
    // The run's delivery is its dependents': its stages and their steps.
    assert_eq!(report.stages.deliver_ms, dependent.report.stages.deliver_ms);
    assert_eq!(report.steps.socket_ms, dependent.report.steps.socket_ms);
    assert!(report.steps.send_ms > 0.0 && report.steps.send_ms == dependent.report.steps.send_ms, "{:?}", report.steps);
    assert!(report.summary().contains("; re-patched 1 form that uses twice"), "{}", report.summary());
}

#[tokio::test]
async fn a_dependent_that_fails_fails_the_run_at_its_own_form() {
    let (p, _) = pipeline(Some("nope"), 0, false);
    let user = file("/ws/b.jank", "(ns b.core)\n(defn f [] (a.macros/twice nope))\n");
    p.set_workspace(Arc::new(Files(Mutex::new(vec![user]))));
    let report =
        p.run(&file("/ws/a.jank", "(ns a.macros)\n(defmacro twice [x] x)\n"), Selection::ChangedForms, &()).await;
    assert!(!report.ok);
    assert!(report.problems.is_empty(), "the macro itself is fine: {report:?}");
    let problem = &report.dependents[0].report.problems[0];
    assert_eq!(&report.dependents[0].text[problem.range.clone()], "(defn f [] (a.macros/twice nope))");
    let error = report.error.as_ref().unwrap();
    assert!(error.message.starts_with("b.core/f (/ws/b.jank:2), which uses a.macros/twice: "), "{error:?}");
    assert!(report.summary().ends_with("re-patched 1 form that uses twice, 1 failed"), "{}", report.summary());
}

/// A macro with users in several files: one build (one side module) and one delivery for
/// all of them, a report per file; a file that names no changed macro is not among them.
#[tokio::test]
async fn the_users_of_a_changed_macro_in_several_files_are_built_and_delivered_together() {
    let (p, calls) = pipeline(None, 0, false);
    let macros = |n: u32| file("/ws/a.jank", &format!("(ns a.macros)\n(defmacro twice [x] (list '* {n} x))\n"));
    let user = |i: u32| {
        file(
            &format!("/ws/u{i}.jank"),
            &format!("(ns u.n{i} (:require [a.macros :as m]))\n(defn f [] (m/twice {i}))\n(defn g [] (m/twice 0))\n"),
        )
    };
    let other = file("/ws/other.jank", "(ns other)\n(defn twice [] 2)\n");
    p.set_workspace(Arc::new(Files(Mutex::new(vec![macros(2), user(1), user(2), user(3), other]))));
    assert!(p.run(&macros(2), Selection::ChangedForms, &()).await.ok);
    calls.lock().unwrap().built.clear();
    calls.lock().unwrap().delivered.clear();

    let report = p.run(&macros(3), Selection::ChangedForms, &()).await;
    assert!(report.ok, "{report:?}");
    let paths: Vec<_> = report.dependents.iter().map(|d| d.path.display().to_string()).collect();
    assert_eq!(paths, ["/ws/u1.jank", "/ws/u2.jank", "/ws/u3.jank"]);
    assert!(report.dependents.iter().all(|d| d.report.ok && d.report.forms.len() == 2), "{report:?}");
    let users: Vec<String> =
        (1..=3).flat_map(|i| [format!("(defn f [] (m/twice {i}))"), "(defn g [] (m/twice 0))".into()]).collect();
    let calls = calls.lock().unwrap();
    assert_eq!(calls.built, std::slice::from_ref(&users), "one side module for the six users");
    assert_eq!(calls.delivered, [users], "one delivery");
}

/// The index follows the buffers: a use of the macro added after the workspace was read is
/// re-patched by the next change of the macro, and a use taken out is not.
#[tokio::test]
async fn a_use_added_in_a_buffer_is_re_patched_when_the_macro_changes() {
    let (p, calls) = pipeline(None, 0, false);
    let macros = |n: u32| file("/ws/a.jank", &format!("(ns a.macros)\n(defmacro twice [x] (list '* {n} x))\n"));
    let user =
        |body: &str| file("/ws/b.jank", &format!("(ns b.core (:require [a.macros :as m]))\n(defn f [] {body})\n"));
    let files = Arc::new(Files(Mutex::new(vec![macros(2), user("1")])));
    p.set_workspace(files.clone());
    let report = p.run(&macros(2), Selection::ChangedForms, &()).await;
    assert!(report.ok && report.dependents.is_empty(), "{report:?}");

    files.0.lock().unwrap()[1] = user("(m/twice 5)");
    let report = p.run(&macros(3), Selection::ChangedForms, &()).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.dependents.len(), 1, "{report:?}");
    assert_eq!(calls.lock().unwrap().delivered.last().unwrap(), &["(defn f [] (m/twice 5))"]);

    files.0.lock().unwrap()[1] = user("2");
    let report = p.run(&macros(4), Selection::ChangedForms, &()).await;
    assert!(report.ok && report.dependents.is_empty(), "{report:?}");
}

/// The files on disk: a user created after the first run is found by the next change of the
/// macro, one rewritten behind the sidecar's back is read again, one deleted is forgotten.
#[tokio::test]
async fn users_created_rewritten_and_deleted_on_disk_are_followed() {
    let root = crate::test_dir::TestDir::new("index");
    let (p, calls) = pipeline(None, 0, false);
    p.set_workspace(Arc::new(DiskFiles::new(vec![root.to_path_buf()])));
    let macros = |n: u32| {
        let text = format!("(ns a.macros)\n(defmacro twice [x] (list '* {n} x))\n");
        std::fs::write(root.join("a.jank"), &text).unwrap();
        FileSnapshot { path: root.join("a.jank"), text: text.into() }
    };
    let user = root.join("b.jank");
    let write_user = |body: &str| {
        std::fs::write(&user, format!("(ns b.core (:require [a.macros :as m]))\n(defn f [] {body})\n")).unwrap()
    };
    assert!(p.run(&macros(2), Selection::ChangedForms, &()).await.dependents.is_empty());

    write_user("(m/twice 1)");
    let report = p.run(&macros(3), Selection::ChangedForms, &()).await;
    assert_eq!(report.dependents.len(), 1, "created: {report:?}");
    assert_eq!(calls.lock().unwrap().delivered.last().unwrap(), &["(defn f [] (m/twice 1))"]);

    // Another text of another length: a checkout.
    write_user("(m/twice 1000)");
    let report = p.run(&macros(4), Selection::ChangedForms, &()).await;
    assert_eq!(report.dependents.len(), 1, "rewritten: {report:?}");
    assert_eq!(calls.lock().unwrap().delivered.last().unwrap(), &["(defn f [] (m/twice 1000))"]);

    std::fs::remove_file(&user).unwrap();
    let report = p.run(&macros(5), Selection::ChangedForms, &()).await;
    assert!(report.ok && report.dependents.is_empty(), "deleted: {report:?}");
}
