//! The pages' runtime errors in the editor: a diagnostic on the form whose function threw
//! (its own source, [`RUNTIME_SOURCE`], so it never hides a compile diagnostic and clears on its own),
//! and one log line (`window/logMessage`: VS Code's output channel, Emacs' events) when an error
//! appears, when its count grew (at most every [`LOG_EVERY`]), and when it stops.
//!
//! Owns: turning [`RuntimeErrors`] into LSP diagnostics per file and log lines. The stream is
//! read at most every [`RUNTIME_FOLLOW_EVERY`]: however often pages throw, the editor gets a bounded
//! number of messages.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tower_lsp_server::ls_types::{Diagnostic, DiagnosticSeverity, Position, Range, Uri};

use super::documents::{Document, OpenDocuments};
use super::ext::RUNTIME_SOURCE;
use crate::reader;
#[cfg(doc)]
use crate::stages::RUNTIME_FOLLOW_EVERY;
use crate::stages::{Culprit, RuntimeError, RuntimeErrors};

/// How often an error whose count keeps growing is logged again.
pub const LOG_EVERY: Duration = Duration::from_secs(5);

/// The runtime diagnostics of every file, by URI.
pub type RuntimeDiagnostics = HashMap<Uri, Vec<Diagnostic>>;

/// What the editor was told last.
#[derive(Default)]
pub struct RuntimeView {
    /// Per error (page, key): the count logged last, and when.
    logged: HashMap<(u64, String), (u64, Instant)>,
}

impl RuntimeView {
    /// The log lines for what changed since the last call.
    pub fn log_lines(&mut self, errors: &[RuntimeError]) -> Vec<String> {
        let now = Instant::now();
        let mut lines = Vec::new();
        let mut seen = HashMap::new();
        for error in errors {
            let id = (error.page, error.key.clone());
            let due = match self.logged.get(&id) {
                None => true,
                Some(&(count, at)) => count != error.count && now.duration_since(at) >= LOG_EVERY,
            };
            if due {
                lines.push(format!("{RUNTIME_SOURCE}: {}", error.summary()));
                seen.insert(id, (error.count, now));
            } else if let Some(&logged) = self.logged.get(&id) {
                seen.insert(id, logged);
            }
        }
        for ((page, key), _) in self.logged.iter().filter(|(id, _)| !seen.contains_key(*id)) {
            let what = errors_key_text(key);
            lines.push(format!("{RUNTIME_SOURCE}: stopped in page {page}: {what}"));
        }
        self.logged = seen;
        lines
    }
}

/// The page's key is `<origin> <patch> <message>`: the message, for people.
fn errors_key_text(key: &str) -> &str {
    key.splitn(3, ' ').nth(2).unwrap_or(key)
}

/// One diagnostic per error that a patched function raised, on its form: in the open document
/// (found by its var's name), else in the file on disk.
pub fn diagnostics(errors: &RuntimeErrors, documents: &OpenDocuments) -> RuntimeDiagnostics {
    let mut by_uri = RuntimeDiagnostics::new();
    for error in errors.iter() {
        let Culprit::Patched { var, origin, .. } = &error.culprit else { continue };
        let Some(uri) = Uri::from_file_path(&origin.file) else { continue };
        let range = {
            let open = documents.lock();
            match open.get(&uri) {
                Some(doc) => form_range(doc, &var.name, origin.line),
                None => match std::fs::read_to_string(&origin.file) {
                    Ok(text) => form_range(&Document::new(&text, 0), &var.name, origin.line),
                    Err(_) => line_range(origin.line),
                },
            }
        };
        let times = if error.count == 1 { "once".to_string() } else { format!("{} times", error.count) };
        by_uri.entry(uri).or_default().push(Diagnostic {
            range,
            severity: Some(DiagnosticSeverity::ERROR),
            // No code: the source says runtime already (VS Code shows `source(code)`).
            source: Some(RUNTIME_SOURCE.into()),
            message: format!(
                "{}: {} (thrown {times} in page {}, in {})",
                var, error.message, error.page, error.caught_in
            ),
            ..Diagnostic::default()
        });
    }
    by_uri
}

/// The def form of `name` in the document, else the line the patch came from (1-based).
fn form_range(doc: &Document, name: &str, line: u32) -> Range {
    let parsed = reader::parse(&doc.text());
    match parsed.forms.iter().find(|f| f.name.as_deref() == Some(name)) {
        Some(form) => doc.range(&form.range),
        None => line_range(line),
    }
}

fn line_range(line: u32) -> Range {
    let line = line.saturating_sub(1);
    Range { start: Position { line, character: 0 }, end: Position { line: line + 1, character: 0 } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::{AfterPatch, PatchId, PatchOrigin, VarName};
    use std::sync::Arc;

    fn error(count: u64, culprit: Culprit) -> RuntimeError {
        RuntimeError {
            page: 1,
            key: "jank 7 divide by zero".into(),
            message: "divide by zero".into(),
            caught_in: "the animation frame".into(),
            count,
            culprit,
        }
    }

    #[test]
    fn a_patched_function_s_error_lands_on_its_form_and_others_on_none() {
        let dir = crate::test_dir::TestDir::new("runtime-diag");
        let file = dir.join("core.jank");
        std::fs::write(&file, "(ns demo.core)\n\n(defn radius []\n  (/ 1 0))\n").unwrap();
        let origin = PatchOrigin { file: file.display().to_string(), line: 3, form: String::new() };
        let patched =
            error(3, Culprit::Patched { var: VarName::new("demo.core", "radius"), patch: PatchId(7), origin });
        let after = Some(AfterPatch { vars: vec!["demo.core/radius".into()], ms: 400.0 });
        let errors: RuntimeErrors = Arc::new(vec![patched, error(1, Culprit::App { after })]);
        let by_uri = diagnostics(&errors, &OpenDocuments::default());
        let uri = Uri::from_file_path(&file).unwrap();
        assert_eq!(by_uri.len(), 1);
        let d = &by_uri[&uri][0];
        assert_eq!((d.range.start.line, d.range.end.line), (2, 3));
        assert_eq!(d.source.as_deref(), Some(RUNTIME_SOURCE));
        assert!(d.message.starts_with("demo.core/radius: divide by zero (thrown 3 times in page 1"), "{}", d.message);
    }

    #[test]
    fn an_error_is_logged_when_new_when_its_count_grew_now_and_then_and_when_it_stops() {
        let mut view = RuntimeView::default();
        let app = |count| error(count, Culprit::App { after: None });
        assert_eq!(view.log_lines(&[app(1)]).len(), 1);
        assert!(view.log_lines(&[app(60)]).is_empty(), "at most every LOG_EVERY");
        let stopped = view.log_lines(&[]);
        assert_eq!(stopped, [format!("{RUNTIME_SOURCE}: stopped in page 1: divide by zero")]);
    }
}
