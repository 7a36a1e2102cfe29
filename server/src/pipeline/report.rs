//! What a pipeline run reports: per-stage timings, the forms it patched, the value of an
//! expression, and problems located in the source file. Plain data in byte offsets: the
//! `lsp` module turns it into `ext::PatchReportParams` and into diagnostics.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::stages::{LineCol, Stage, VarName, VarVersion};

/// Milliseconds spent in each stage. For a run over several forms, compile, build and check
/// are the slowest form's time (forms go through them concurrently).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageTimes {
    pub read_ms: f64,
    pub compile_ms: f64,
    pub build_ms: f64,
    pub check_ms: f64,
    pub deliver_ms: f64,
    pub load_ms: f64,
}

impl StageTimes {
    pub fn get_mut(&mut self, stage: Stage) -> &mut f64 {
        match stage {
            Stage::Read => &mut self.read_ms,
            Stage::Compile => &mut self.compile_ms,
            Stage::Build => &mut self.build_ms,
            Stage::Check => &mut self.check_ms,
            Stage::Deliver => &mut self.deliver_ms,
            Stage::Load => &mut self.load_ms,
        }
    }

    /// Keeps the larger of the two times for every stage.
    pub fn max_with(&mut self, other: &StageTimes) {
        for stage in Stage::ALL {
            let mine = self.get_mut(stage);
            let theirs = *other.clone().get_mut(stage);
            if theirs > *mine {
                *mine = theirs;
            }
        }
    }
}

/// Where the sidecar's own time in a run went, in milliseconds: the parts of `total_ms` that
/// are not jank's compile, the build or the page's load. The benchmark breaks its "sidecar's
/// own share" down with them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnSteps {
    /// Before compiling: waiting for jank to finish evaluating earlier runs' definitions on
    /// its side, and for the var's lock (the slowest form's).
    pub wait_ms: f64,
    /// Framing the batch, journaling it in memory and queueing it to each page.
    pub send_ms: f64,
    /// From the batch queued to the last page's ack, minus that page's own time: both ways
    /// through the sockets, and the wait for the page's event loop (a frame being drawn).
    pub socket_ms: f64,
    /// The last page's own handling of the batch besides the load: the client's bookkeeping,
    /// the load hooks, the events it dispatches.
    pub client_ms: f64,
    /// After the last ack, waiting for the journal's save on disk.
    pub journal_ms: f64,
}

impl OwnSteps {
    /// Keeps the larger of the two times for every step.
    pub fn max_with(&mut self, other: &OwnSteps) {
        let mine =
            [&mut self.wait_ms, &mut self.send_ms, &mut self.socket_ms, &mut self.client_ms, &mut self.journal_ms];
        let theirs = [other.wait_ms, other.send_ms, other.socket_ms, other.client_ms, other.journal_ms];
        for (mine, theirs) in mine.into_iter().zip(theirs) {
            *mine = mine.max(theirs);
        }
    }
}

/// A form the run patched (or tried to).
#[derive(Clone, Debug, PartialEq)]
pub struct PatchedForm {
    pub ns: String,
    /// The defined name; `None` for an expression.
    pub name: Option<String>,
    pub range: Range<usize>,
    /// Once delivered: an expression's printed value from the page, a definition's var
    /// (`#'ns/name`), as a REPL shows them.
    pub value: Option<String>,
}

/// A failure located in the source file.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub stage: Stage,
    pub message: String,
    /// The form (or delimiter) it concerns.
    pub range: Range<usize>,
    /// A more precise place inside the form, when the stage knows it (jank's line/column).
    pub location: Option<LineCol>,
    /// A file with more detail, e.g. the generated C++.
    pub detail_path: Option<PathBuf>,
}

/// The first failure of a run, for the report's `error` field.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportError {
    pub stage: Stage,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatchReport {
    pub ok: bool,
    pub forms: Vec<PatchedForm>,
    pub stages: StageTimes,
    /// The sidecar's own steps inside `total_ms`.
    pub steps: OwnSteps,
    pub total_ms: f64,
    pub pages: usize,
    pub value: Option<String>,
    pub error: Option<ReportError>,
    /// One line for people: what happened.
    pub message: Option<String>,
    /// True when a newer edit of the same form made this run stop early: its report is not
    /// news, the newer run's is.
    pub superseded: bool,
    /// Every located failure; the editor shows them as diagnostics, and an `ok` report
    /// clears the ones of the forms it patched.
    pub problems: Vec<Problem>,
    /// The run took vars back to earlier versions instead of patching new code.
    pub undo: bool,
    /// The version each patched (or undone) var has now.
    pub versions: Vec<VarVersion>,
    /// What the code printed in the page (`println`) while it was loaded or evaluated.
    pub output: Vec<String>,
    /// What went wrong without failing the run (load hooks that threw, a journal not saved),
    /// each with what it costs the user.
    pub warnings: Vec<String>,
    /// Warnings placed in the file: forms that were patched but compute something else than
    /// they say (the fork's `true` as 1); the editor shows them as warnings. Their messages are
    /// in `warnings` too.
    pub form_warnings: Vec<Problem>,
    /// The files whose forms the run re-patched after it because they use a macro it changed
    /// (`dependents.rs`), each with its own report.
    pub dependents: Vec<DependentFile>,
}

/// A file of the workspace with forms that use a macro a run changed, and how re-patching
/// them went.
#[derive(Clone, Debug, PartialEq)]
pub struct DependentFile {
    pub path: PathBuf,
    /// The text its forms were read from: their ranges and problems are in it.
    pub text: Arc<str>,
    /// The changed macros its forms use.
    pub macros: Vec<VarName>,
    /// Its forms' run, as a save of that file would report it.
    pub report: PatchReport,
}

impl DependentFile {
    /// How many of its forms failed.
    pub fn failed(&self) -> usize {
        let report = &self.report;
        report.forms.iter().filter(|f| report.problems.iter().any(|p| p.range == f.range)).count()
    }
}

impl PatchReport {
    /// One line for people, the same in every front end: where it failed, what it patched
    /// and how long it took, or what happened instead.
    pub fn summary(&self) -> String {
        let names = || {
            let names: Vec<String> = self
                .forms
                .iter()
                .map(|f| match &f.name {
                    Some(name) => format!("{}/{name}", f.ns),
                    None => "an expression".to_string(),
                })
                .collect();
            names.join(", ")
        };
        let line = match (&self.error, &self.message) {
            (Some(error), _) => format!("{} failed: {}", error.stage, error.message),
            (None, Some(message)) if self.forms.is_empty() => message.clone(),
            _ if self.undo => {
                let versions: Vec<String> =
                    self.versions.iter().map(|v| format!("{} → version {}", v.var, v.version)).collect();
                format!("undid {} in {:.0} ms → {} page(s)", versions.join(", "), self.total_ms, self.pages)
            }
            _ => format!("patched {} in {:.0} ms → {} page(s)", names(), self.total_ms, self.pages),
        };
        let line = match self.dependents_line() {
            Some(dependents) => format!("{line}; {dependents}"),
            None => line,
        };
        match self.warnings.as_slice() {
            [] => line,
            [one] => format!("{line}; warning: {one}"),
            [first, rest @ ..] => format!("{line}; {} warnings, first: {first}", rest.len() + 1),
        }
    }

    /// "re-patched 2 forms that use twice" (and how many failed), when the run had dependents.
    fn dependents_line(&self) -> Option<String> {
        let forms: usize = self.dependents.iter().map(|d| d.report.forms.len()).sum();
        if forms == 0 {
            return None;
        }
        let mut macros: Vec<&str> =
            self.dependents.iter().flat_map(|d| d.macros.iter().map(|m| m.name.as_str())).collect();
        macros.sort_unstable();
        macros.dedup();
        let failed: usize = self.dependents.iter().map(DependentFile::failed).sum();
        let (noun, verb) = if forms == 1 { ("form", "uses") } else { ("forms", "use") };
        let line = format!("re-patched {forms} {noun} that {verb} {}", macros.join(", "));
        Some(if failed > 0 { format!("{line}, {failed} failed") } else { line })
    }

    pub fn failed(stage: Stage, message: impl Into<String>) -> Self {
        let message = message.into();
        PatchReport {
            ok: false,
            error: Some(ReportError { stage, message: message.clone() }),
            message: Some(message),
            ..PatchReport::default()
        }
    }
}
