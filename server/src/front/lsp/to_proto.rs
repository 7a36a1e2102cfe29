//! Domain -> LSP: patch reports to `ext` types, problems to diagnostics.

use tower_lsp_server::ls_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Range, Uri,
};

use super::documents::Document;
use super::ext::{DependentParams, PatchReportParams, PatchedFormParams, ReportErrorParams, VarVersionParams};
use crate::pipeline::{DependentFile, OwnSteps, PatchReport, Problem};
use crate::reader::ReadError;
use crate::stages::Stage;

/// The report as editors receive it: byte ranges become LSP ranges of `doc`.
pub fn report(report: &PatchReport, uri: &Uri, doc: Option<&Document>) -> PatchReportParams {
    let range = |r: &std::ops::Range<usize>| doc.map(|d| d.range(r)).unwrap_or_default();
    let stages = &report.stages;
    PatchReportParams {
        ok: report.ok,
        uri: uri.clone(),
        forms: report
            .forms
            .iter()
            .map(|f| PatchedFormParams {
                ns: f.ns.clone(),
                name: f.name.clone(),
                range: range(&f.range),
                value: f.value.clone(),
            })
            .collect(),
        stages: {
            let mut rounded = *stages;
            for stage in Stage::ALL {
                let ms = rounded.get_mut(stage);
                *ms = round(*ms);
            }
            rounded
        },
        steps: {
            let s = &report.steps;
            OwnSteps {
                wait_ms: round(s.wait_ms),
                send_ms: round(s.send_ms),
                socket_ms: round(s.socket_ms),
                client_ms: round(s.client_ms),
                journal_ms: round(s.journal_ms),
            }
        },
        total_ms: round(report.total_ms),
        pages: report.pages,
        value: report.value.clone(),
        error: report.error.as_ref().map(|e| ReportErrorParams { stage: e.stage, message: e.message.clone() }),
        message: report.message.clone(),
        superseded: report.superseded,
        warnings: report.warnings.clone(),
        summary: report.summary(),
        stage_order: Stage::ALL.to_vec(),
        undo: report.undo,
        output: report.output.clone(),
        versions: report
            .versions
            .iter()
            .map(|v| VarVersionParams { ns: v.var.ns.clone(), name: v.var.name.clone(), version: v.version })
            .collect(),
        dependents: report.dependents.iter().flat_map(dependents).collect(),
    }
}

/// The forms of a file re-patched for a changed macro, their ranges in the text they were read from.
fn dependents(file: &DependentFile) -> Vec<DependentParams> {
    let Some(uri) = Uri::from_file_path(&file.path) else { return Vec::new() };
    let doc = Document::new(&file.text, 0);
    let macros: Vec<String> = file.macros.iter().map(ToString::to_string).collect();
    file.report
        .forms
        .iter()
        .map(|form| {
            let problem = file.report.problems.iter().find(|p| p.range == form.range);
            DependentParams {
                uri: uri.clone(),
                ns: form.ns.clone(),
                name: form.name.clone(),
                range: doc.range(&form.range),
                macros: macros.clone(),
                ok: problem.is_none(),
                error: problem.map(|p| ReportErrorParams { stage: p.stage, message: p.message.clone() }),
            }
        })
        .collect()
}

/// A failure of the run, as an error.
pub fn diagnostic(problem: &Problem, doc: &Document) -> Diagnostic {
    located(problem, doc, DiagnosticSeverity::ERROR)
}

/// A form that went through but computes something else than it says, as a warning.
pub fn warning(problem: &Problem, doc: &Document) -> Diagnostic {
    located(problem, doc, DiagnosticSeverity::WARNING)
}

fn located(problem: &Problem, doc: &Document, severity: DiagnosticSeverity) -> Diagnostic {
    let range = match problem.location {
        Some(at) => {
            let start = doc.position_of_line_col(at);
            // Underline the token at jank's position, not just one column.
            let end = doc.token_end(start);
            Range { start, end }
        }
        None => doc.range(&problem.range),
    };
    let related_information = problem.detail_path.as_ref().and_then(|path| {
        let uri = Uri::from_file_path(path)?;
        Some(vec![DiagnosticRelatedInformation {
            location: Location { uri, range: Range::default() },
            message: "the generated C++".to_string(),
        }])
    });
    Diagnostic {
        range,
        severity: Some(severity),
        code: Some(NumberOrString::String(problem.stage.to_string())),
        source: Some("jank-hotpatch".to_string()),
        message: problem.message.clone(),
        related_information,
        ..Diagnostic::default()
    }
}

pub fn read_error(error: &ReadError, doc: &Document) -> Diagnostic {
    Diagnostic {
        range: doc.range(&error.range),
        severity: Some(DiagnosticSeverity::ERROR),
        code: Some(NumberOrString::String("read".to_string())),
        source: Some("jank-hotpatch".to_string()),
        message: error.message.clone(),
        ..Diagnostic::default()
    }
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}
