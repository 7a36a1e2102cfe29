//! Pages that run another build of the app than the one on disk (`app.mainModule`): patches
//! are checked against the build on disk, so such a page gets none; the report says which
//! page, and the page's HUD tells it to reload.
//!
//! Owns: comparing a page's main-module digest with the app's, and both messages. The digest
//! of the file on disk is [`crate::main_module::MainModuleOnDisk`]'s.

use super::hub::PageId;
use super::protocol::{PageApi, ServerMessage};
use crate::stages::{FormFailure, Stage};

/// The build of the app that patches are checked against now (`app.mainModule` on disk).
pub struct AppBuild<'a> {
    pub path: &'a std::path::Path,
    pub sha256: String,
}

/// Whether a page that said `api` runs another build of the app than `build` (unknown: not
/// stale).
pub fn runs_other_build(api: Option<&PageApi>, build: Option<&AppBuild>) -> Option<String> {
    let runs = api?.main_module_sha256.as_deref()?;
    (runs != build?.sha256).then(|| runs.to_string())
}

/// The first 12 hex digits of a digest, as people compare them.
fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

/// What the report says of a page that runs another build of the app than `build`.
pub fn stale_warning(page: PageId, runs: &str, build: Option<&AppBuild>) -> String {
    let now = build.map(|b| format!("; {} is now {}…", b.path.display(), short(&b.sha256))).unwrap_or_default();
    format!(
        "page {page} runs an older build of the app (main module sha256 {}…{now}): it needs a reload, and this patch was not sent to it",
        short(runs)
    )
}

/// The HUD entry that tells a page it runs an older build of the app.
pub fn stale_notice(build: &AppBuild, runs: &str) -> String {
    let notice = FormFailure {
        key: "the app's build".into(),
        stage: Stage::Check,
        message: format!(
            "This page runs an older build of the app (main module sha256 {}…); it was rebuilt ({}…). \
             Reload the page to get patches again: they are checked against the new build, so none is sent here.",
            short(runs),
            short(&build.sha256)
        ),
        file: build.path.display().to_string(),
        line: 1,
        column: 0,
        form: String::new(),
    };
    ServerMessage::Failures { failed: vec![notice], fine: Vec::new() }.to_json()
}
