//! The `jank-hotpatch/undo` op: takes vars back to their previous versions in every page, as
//! the LSP command `jank.undoPatch` does. `file` (absolute or relative to the workspace) with
//! `line` and `column` (1-based, as CIDER sends them): the definition there; `file` alone: the
//! definitions of the file's last patch. Replies `summary` and `versions` (`[{var version}]`),
//! or `err` with `status: [error, done]`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::nrepl::{Message, Value};
use crate::pipeline::{FileSnapshot, Pipeline, UndoTarget};
use crate::stages::LineCol;

use super::eval::offset_of;

pub const OP: &str = "jank-hotpatch/undo";

pub struct Undo {
    pipeline: Arc<Pipeline>,
    workspace: PathBuf,
}

impl Undo {
    pub fn new(pipeline: Arc<Pipeline>, workspace: &Path) -> Self {
        Undo { pipeline, workspace: workspace.to_path_buf() }
    }

    /// `reply` (the request's `id` and `session`) with the outcome and `done`.
    pub async fn run(&self, request: &Message, reply: Message) -> Message {
        let status = |s: &[&str]| Value::List(s.iter().map(|s| Value::from(*s)).collect());
        match self.undo(request).await {
            Ok(fields) => Message(reply.0.into_iter().chain(fields.0).collect()).with("status", status(&["done"])),
            Err(e) => reply.with("err", format!("{e}\n")).with("status", status(&["error", "done"])),
        }
    }

    async fn undo(&self, request: &Message) -> Result<Message, String> {
        let Some(file) = request.get_str("file").filter(|f| !f.is_empty()) else {
            return Err(format!("{OP} needs `file` (and `line`, `column` for one definition)"));
        };
        let path = self.workspace.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let target = match request.get_int("line") {
            Some(line) => {
                let at = LineCol {
                    line: u32::try_from(line.saturating_sub(1)).unwrap_or(0),
                    column: u32::try_from(request.get_int("column").unwrap_or(1).saturating_sub(1)).unwrap_or(0),
                };
                UndoTarget::DefinitionAt(
                    offset_of(&text, at)
                        .ok_or_else(|| format!("{file} has no line {line}, column {}", at.column + 1))?,
                )
            }
            None => UndoTarget::LastRun,
        };
        let report = self.pipeline.undo(&FileSnapshot { path, text: text.into() }, target).await;
        if !report.ok {
            return Err(report.summary());
        }
        let versions = report
            .versions
            .iter()
            .map(|v| Message::new().with("var", v.var.to_string()).with("version", i64::from(v.version)).into())
            .collect::<Vec<Value>>();
        Ok(Message::new().with("summary", report.summary()).with("versions", versions))
    }
}
