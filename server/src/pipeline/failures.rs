//! What the pages' HUD hears about forms that never reached them: a run's compile, build and
//! check failures, and the forms that are fine again without a patch (an edit undone to the
//! last patched text).
//!
//! Owns: turning a run's problems into [`FormFailure`]s keyed like the patches the pages load.
//! Must not send anything: the deliver stage does.

use super::report::Problem;
use super::{line_col, FileSnapshot, Selection, Target};
use crate::reader::{Form, FormKind, SourceFile};
use crate::stages::{CompileRequest, FormFailure, PatchOrigin, Stage, VarName};

/// Longest form text a page is sent (the HUD shows the start of the form).
const MAX_FORM_CHARS: usize = 2000;

/// The stages whose failures only the editor would hear of otherwise (a load failure reaches
/// the HUD from the page itself).
pub(super) fn shown_in_pages(stage: Stage) -> bool {
    matches!(stage, Stage::Compile | Stage::Build | Stage::Check)
}

/// The HUD key of a form: as [`PatchOrigin::form_key`] for the patch it would become.
fn key(doc: &FileSnapshot, kind: &FormKind, name: Option<&str>, ns: &str, start_line: u32) -> String {
    let origin = PatchOrigin { file: doc.path.display().to_string(), line: start_line + 1, form: String::new() };
    origin.form_key(VarName::defined_by(ns, kind, name).as_ref())
}

pub(super) fn request_key(doc: &FileSnapshot, request: &CompileRequest) -> String {
    let ns = request.source.namespace.name().unwrap_or_default();
    key(doc, &request.form.kind, request.form.name.as_deref(), ns, request.form.start.line)
}

pub(super) fn failure(doc: &FileSnapshot, request: &CompileRequest, problem: &Problem) -> FormFailure {
    let at = problem.location.unwrap_or(request.form.start);
    FormFailure {
        key: request_key(doc, request),
        stage: problem.stage,
        message: problem.message.clone(),
        file: doc.path.display().to_string(),
        line: at.line + 1,
        column: at.column + 1,
        form: request.form.text.chars().take(MAX_FORM_CHARS).collect(),
    }
}

/// After a save, the forms of the file that were not patched are as they were last patched,
/// which is what the pages run: a failure shown for one of them is over.
pub(super) fn untouched(doc: &FileSnapshot, file: &SourceFile, targets: &[Target], selection: Selection) -> Vec<String> {
    if selection != Selection::ChangedForms {
        return Vec::new();
    }
    let ns = file.namespace.name().unwrap_or_default();
    let patched: Vec<&std::ops::Range<usize>> = targets.iter().map(|t| &t.request.form.range).collect();
    file.forms
        .iter()
        .filter(|form: &&Form| matches!(form.kind, FormKind::Def(_) | FormKind::Expression))
        .filter(|form| !patched.contains(&&form.range))
        .map(|form| key(doc, &form.kind, form.name.as_deref(), ns, line_col(&doc.text, form.range.start).line))
        .collect()
}
