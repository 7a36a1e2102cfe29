//! Builds the stage backends from settings. The only place that names concrete stage
//! implementations; a backend that cannot start leaves its stage with the reason, so that
//! patches fail there with that reason instead of the sidecar failing to start.

use std::path::Path;
use std::sync::Arc;

use super::{Backends, PatchIds, Pipeline};
use crate::build::{ExportCheck, SideModuleBuilder};
use crate::config::Settings;
use crate::pipeline::stages::{Build, Check};

/// A running pipeline and what the front ends need to show about it.
pub struct Started {
    pub pipeline: Arc<Pipeline>,
    /// Things the user should know (a stage without a backend, checks that cannot run).
    pub warnings: Vec<String>,
}

/// Starts every backend for `workspace` with `settings`.
pub async fn start(settings: &Settings, workspace: &Path) -> Started {
    let cache_dir = settings.cache_dir(workspace);
    let mut warnings = Vec::new();
    let build: Result<Arc<dyn Build>, String> = match SideModuleBuilder::new(&settings.build, &cache_dir).await {
        Ok(builder) => Ok(Arc::new(builder.with_max_module_bytes(settings.app.max_module_bytes))),
        Err(e) => {
            warnings.push(format!("the build stage cannot run: {e}"));
            Err(e.to_string())
        }
    };
    let check: Option<Arc<dyn Check>> = match &settings.app.main_module {
        Some(main) => match ExportCheck::from_main_module(main) {
            Ok(check) => Some(Arc::new(check)),
            Err(e) => {
                warnings.push(format!("patches are not checked before sending: {e}"));
                None
            }
        },
        None => {
            tracing::info!("app.mainModule is not set: patches' imports are not checked before sending");
            None
        }
    };
    let backends = Backends {
        compile: Err("the compile stage is not wired yet".into()),
        build,
        check,
        deliver: Err("the deliver stage is not wired yet".into()),
    };
    Started { pipeline: Arc::new(Pipeline::new(backends, PatchIds::open(&cache_dir))), warnings }
}
