//! Domain -> LSP: patch reports to the JSON of design.md, problems to diagnostics.

use serde_json::{json, Map, Value};
use tower_lsp_server::ls_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Range, Uri,
};

use super::documents::Document;
use crate::pipeline::{PatchReport, Problem};
use crate::reader::ReadError;

/// The report as editors receive it: byte ranges become LSP ranges of `doc`.
pub fn report(report: &PatchReport, uri: &Uri, doc: Option<&Document>) -> Value {
    let range = |r: &std::ops::Range<usize>| doc.map(|d| d.range(r)).unwrap_or_default();
    let stages = &report.stages;
    let mut out = json!({
        "ok": report.ok,
        "uri": uri.as_str(),
        "forms": report.forms.iter().map(|f| json!({"ns": f.ns, "name": f.name, "range": range(&f.range)})).collect::<Vec<_>>(),
        "stages": {
            "read_ms": round(stages.read_ms),
            "compile_ms": round(stages.compile_ms),
            "build_ms": round(stages.build_ms),
            "check_ms": round(stages.check_ms),
            "deliver_ms": round(stages.deliver_ms),
            "load_ms": round(stages.load_ms),
        },
        "total_ms": round(report.total_ms),
        "browsers": report.browsers,
    });
    let object: &mut Map<String, Value> = out.as_object_mut().expect("json! object");
    if let Some(value) = &report.value {
        object.insert("value".into(), json!(value));
    }
    if let Some(error) = &report.error {
        object.insert("error".into(), json!({"stage": error.stage, "message": error.message}));
    }
    if let Some(message) = &report.message {
        object.insert("message".into(), json!(message));
    }
    if report.superseded {
        object.insert("superseded".into(), json!(true));
    }
    out
}

pub fn diagnostic(problem: &Problem, doc: &Document) -> Diagnostic {
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
        severity: Some(DiagnosticSeverity::ERROR),
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
