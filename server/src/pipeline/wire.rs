//! Builds the stage backends from settings. The only place that names concrete stage
//! implementations; a backend that cannot start leaves its stage with the reason, so that
//! patches fail there with that reason instead of the sidecar failing to start.

use std::path::Path;
use std::sync::Arc;

use super::{Backends, PatchIds, Pipeline};
use crate::config::Settings;

/// A running pipeline and what the front ends need to show about it.
pub struct Started {
    pub pipeline: Arc<Pipeline>,
    /// Things the user should know (a stage without a backend, checks that cannot run).
    pub warnings: Vec<String>,
}

/// Starts every backend for `workspace` with `settings`.
pub async fn start(settings: &Settings, workspace: &Path) -> Started {
    let cache_dir = settings.cache_dir(workspace);
    let warnings = Vec::new();
    let backends = Backends {
        compile: Err("the compile stage is not wired yet".into()),
        build: Err("the build stage is not wired yet".into()),
        check: None,
        deliver: Err("the deliver stage is not wired yet".into()),
    };
    Started { pipeline: Arc::new(Pipeline::new(backends, PatchIds::open(&cache_dir))), warnings }
}
