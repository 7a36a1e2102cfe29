//! jank-hotpatch's extensions to LSP: commands, their arguments, notifications, and the limits
//! the editors share: the one definition of the editor protocol. Its constants are generated
//! into `vscode-extension/src/protocol.generated.ts` and `emacs/jank-hotpatch-protocol.el`, and
//! the TypeScript interfaces in `lsp_ext.ts` are checked against these types, by
//! `server/tests/tidy.rs`. Every field is in LSP's camelCase, and every command's arguments
//! refuse fields they do not know.

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::{notification::Notification, Position, Range, Uri};

use crate::pipeline::{OwnSteps, StageTimes};
use crate::stages::Stage;

/// `jank.hotPatchForm [{"uri", "position"}]`: the top-level form around the position.
pub const HOT_PATCH_FORM: &str = "jank.hotPatchForm";
/// `jank.hotPatchFile [{"uri"}]`: every form changed since the file's last successful patch.
pub const HOT_PATCH_FILE: &str = "jank.hotPatchFile";
/// `jank.undoPatch [{"uri", "position"}]`: the definition around the position goes back to its
/// previous version in every page; `[{"uri"}]`: the definitions of the file's last patch do.
/// No build: the pages still have the earlier modules. Returns a report with `undo: true`.
pub const UNDO_PATCH: &str = "jank.undoPatch";
pub const COMMANDS: [&str; 3] = [HOT_PATCH_FORM, HOT_PATCH_FILE, UNDO_PATCH];

/// `jank/status`: the current [`ServerStatusParams`], for an editor that connects late.
pub const STATUS_REQUEST: &str = "jank/status";

/// Limits the editors share, so that VS Code and Emacs show the same: how long a patched
/// form is highlighted, and how much of a value is shown inline.
pub const FLASH_MS: u64 = 400;
pub const VALUE_MAX_CHARS: usize = 120;

/// The source of the diagnostics of errors thrown while patched code runs in a page (its own,
/// so a patch's diagnostics never replace them), and the start of their `window/logMessage`
/// lines (which the editors also put in their patch log).
pub const RUNTIME_SOURCE: &str = "jank-hotpatch (runtime)";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HotPatchFormArgs {
    pub uri: Uri,
    pub position: Position,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HotPatchFileArgs {
    pub uri: Uri,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UndoPatchArgs {
    pub uri: Uri,
    /// Absent: undo the file's last patch.
    #[serde(default)]
    pub position: Option<Position>,
}

/// Pushed after every patch run, with the same report the commands return.
pub enum PatchStatus {}

impl Notification for PatchStatus {
    type Params = PatchReportParams;
    const METHOD: &'static str = "jank/patchStatus";
}

/// The patch report as editors receive it (the fields every editor relies on, plus what lets the front ends
/// render instead of recompute: `summary` and `stageOrder`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchReportParams {
    pub ok: bool,
    pub uri: Uri,
    pub forms: Vec<PatchedFormParams>,
    /// Milliseconds per stage, named `<stage>Ms`.
    pub stages: StageTimes,
    /// Where the sidecar's own time went (`waitMs`, `sendMs`, `socketMs`, `clientMs`,
    /// `journalMs`): what `totalMs` spends besides compile, build and load.
    #[serde(default)]
    pub steps: OwnSteps,
    pub total_ms: f64,
    pub pages: usize,
    /// The printed value, when the form was an expression evaluated in the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReportErrorParams>,
    /// What happened, for people, when it is not a patch (e.g. "nothing changed").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A newer edit of the same form made this run stop early: not news.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub superseded: bool,
    /// What went wrong without failing the patch (a load hook that threw, a journal not
    /// saved), each with what it costs the user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// One line that says what happened, as every front end shows it.
    pub summary: String,
    /// The stages in the order they run, for tooltips and breakdowns.
    pub stage_order: Vec<Stage>,
    /// The run was an undo (`jank.undoPatch`): the vars went back to earlier versions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub undo: bool,
    /// The version each patched or undone var has now in the pages (1 = its first patch,
    /// 0 = the app's own code).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<VarVersionParams>,
    /// What the code printed in the page (`println`), line by line; also sent as one
    /// `window/logMessage`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<String>,
    /// Forms of the workspace (any file) patched again in the same run because they use a
    /// macro the run changed; each failed one also has diagnostics in its own file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependents: Vec<DependentParams>,
}

/// A form patched again because it uses a macro the run changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DependentParams {
    pub uri: Uri,
    pub ns: String,
    pub name: Option<String>,
    pub range: Range,
    /// The changed macros it uses, `ns/name`.
    pub macros: Vec<String>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReportErrorParams>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VarVersionParams {
    pub ns: String,
    pub name: String,
    pub version: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchedFormParams {
    pub ns: String,
    /// The defined name; `null` for an expression.
    pub name: Option<String>,
    pub range: Range,
    /// Once delivered: an expression's printed value from the page, a definition's var
    /// (`#'ns/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportErrorParams {
    pub stage: Stage,
    pub message: String,
}

/// The sidecar's health, for status bars and mode lines (like rust-analyzer's
/// `experimental/serverStatus`).
pub enum ServerStatus {}

impl Notification for ServerStatus {
    type Params = ServerStatusParams;
    const METHOD: &'static str = "jank/serverStatus";
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatusParams {
    pub health: Health,
    pub busy: bool,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_url: Option<String>,
    pub pages: usize,
    /// Distinct errors thrown by code running in the pages now (0 when none): the status bar and
    /// mode line show the page is failing; each is a diagnostic (source `jank-hotpatch
    /// (runtime)`) on its form when a patched function threw it, and a log message.
    #[serde(default)]
    pub runtime_errors: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    #[default]
    Ok,
    Warning,
    Error,
}
