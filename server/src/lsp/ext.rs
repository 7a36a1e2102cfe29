//! jank-hotpatch's extensions to LSP: commands, their arguments, and notifications. Mirrored
//! as typed definitions in vscode-extension/src/lsp_ext.ts and emacs/jank-hotpatch.el.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_lsp_server::ls_types::{notification::Notification, Position, Uri};

/// `jank.hotPatchForm [{"uri", "position"}]`: the top-level form around the position.
pub const HOT_PATCH_FORM: &str = "jank.hotPatchForm";
/// `jank.hotPatchFile [{"uri"}]`: every form changed since the file's last successful patch.
pub const HOT_PATCH_FILE: &str = "jank.hotPatchFile";
pub const COMMANDS: [&str; 2] = [HOT_PATCH_FORM, HOT_PATCH_FILE];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotPatchFormArgs {
    pub uri: Uri,
    pub position: Position,
}

#[derive(Debug, Deserialize)]
pub struct HotPatchFileArgs {
    pub uri: Uri,
}

/// Pushed after every patch run, with the same report the commands return.
pub enum PatchStatus {}

impl Notification for PatchStatus {
    type Params = Value;
    const METHOD: &'static str = "jank/patchStatus";
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
    pub browsers: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    #[default]
    Ok,
    Warning,
    Error,
}
