//! The composition root: builds the stage backends from settings and hands the front ends a
//! running [`Pipeline`].
//!
//! Owns: choosing and starting the concrete stages (compile, build, check, deliver). The only
//! module that names them; the pipeline and the front ends see stages through the contracts in
//! [`crate::stages`] and the handles here. A backend that cannot start leaves its stage with
//! the reason, so that patches fail there with that reason instead of the sidecar failing to
//! start.

use std::path::Path;
use std::sync::Arc;

use crate::pipeline::{Backends, DiskFiles, PatchIds, Pipeline};
use tokio::sync::watch;

use crate::check::MainModuleCheck;
use crate::compile::JankCompiler;
use crate::config::Settings;
use crate::deliver::AppServer;
use crate::nrepl::Locator;
use crate::side_module::SideModuleBuilder;
use crate::stages::{Build, Check, Compile, Deliver, PatchesInFlight, RuntimeErrors};

/// Where the app's URL (with its token) is written, under the cache dir, for people and tools.
pub const APP_URL_FILE: &str = "app-url";

/// A running pipeline and what the front ends need to show about it.
pub struct Started {
    pub pipeline: Arc<Pipeline>,
    /// Things the user should know (a stage without a backend, checks that cannot run).
    pub warnings: Vec<String>,
    /// The page to open, with its token; `None` when the app server could not start.
    pub app_url: Option<String>,
    /// The number of connected pages, as it changes.
    pub page_count: Option<watch::Receiver<usize>>,
    /// The pages' runtime errors, as they change (the deliver stage's stream).
    pub runtime_errors: Option<watch::Receiver<RuntimeErrors>>,
    /// The app server, to stop it (and free its port) before a restart with new settings.
    pub app: AppHandle,
    /// How the compile stage finds jank's nREPL server, for whatever else talks to it.
    pub jank: Arc<Locator>,
}

/// Stops the app server, so that a restart with new settings gets the same port.
#[derive(Clone, Default)]
pub struct AppHandle(Option<Arc<AppServer>>);

impl AppHandle {
    pub async fn stop(&self) {
        if let Some(server) = &self.0 {
            server.stop().await;
        }
    }
}

/// Starts every backend for `workspace` with `settings`.
pub async fn start(settings: &Settings, workspace: &Path) -> Started {
    let cache_dir = settings.cache_dir(workspace);
    let mut warnings = Vec::new();
    // What builds keep is written once no run is on its way.
    let patches_in_flight = PatchesInFlight::default();
    let build: Result<Arc<dyn Build>, String> = match SideModuleBuilder::new(&settings.build, &cache_dir).await {
        Ok(builder) => {
            let builder = builder.with_max_module_bytes(settings.app.max_module_bytes);
            Ok(Arc::new(builder.yielding_to(patches_in_flight.clone())))
        }
        Err(e) => {
            warnings.push(format!("the build stage cannot run: {e}"));
            Err(e.to_string())
        }
    };
    let check: Option<Arc<dyn Check>> = match &settings.app.main_module {
        Some(main) => match MainModuleCheck::open(main) {
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
    let (deliver, app_url, page_count, runtime_errors, app): (Result<Arc<dyn Deliver>, String>, _, _, _, _) =
        match AppServer::start(&settings.app, &cache_dir.join("journal")).await {
            Ok(server) => {
                let url = server.url();
                let url_file = cache_dir.join(APP_URL_FILE);
                if let Err(e) = std::fs::write(&url_file, format!("{url}\n")) {
                    tracing::warn!("cannot write {}: {e}", url_file.display());
                }
                tracing::info!("serving the app at {url}");
                let page_count = server.watch_page_count();
                let runtime_errors = server.watch_runtime_errors();
                let server = Arc::new(server);
                (Ok(server.clone()), Some(url), Some(page_count), Some(runtime_errors), Some(server))
            }
            Err(e) => {
                warnings.push(format!("the app server cannot start: {e}"));
                (Err(e.to_string()), None, None, None, None)
            }
        };
    let compiler = JankCompiler::new(settings.nrepl.clone(), workspace.to_path_buf());
    let jank = compiler.locator();
    let compile: Arc<dyn Compile> = Arc::new(compiler);
    let backends = Backends { compile: Ok(compile), build, check, deliver };
    let pipeline = Pipeline::new(backends, PatchIds::open(&cache_dir)).marking_runs_in(patches_in_flight);
    // Where a changed macro's users are looked for; an editor adds its roots and open buffers.
    pipeline.set_workspace(Arc::new(DiskFiles::new(vec![workspace.to_path_buf()])));
    Started { pipeline: Arc::new(pipeline), warnings, app_url, page_count, runtime_errors, app: AppHandle(app), jank }
}
