//! The `LanguageServer` implementation: requests and notifications in, pipeline runs out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::notification::Progress as ProgressNotification;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use super::documents::{Document, OpenDocuments};
use super::ext::{
    self, Health, HotPatchFileArgs, HotPatchFormArgs, PatchReportParams, PatchStatus, ServerStatus, ServerStatusParams,
    UndoPatchArgs,
};
use super::runtime::{self, RuntimeDiagnostics, RuntimeView};
use super::{framing, to_proto};
use crate::app::{self, AppHandle};
use crate::config::{ConfigProblem, Settings};
use crate::front::nrepl_endpoint::{self, NreplEndpoint};
use crate::pipeline::{self, DiskFiles, PatchReport, Pipeline, ProgressSink, Selection, UndoTarget};
use crate::reader;
use crate::stages::{RuntimeErrors, Stage, RUNTIME_FOLLOW_EVERY};

/// What the command line adds to the settings.
#[derive(Clone, Debug, Default)]
pub struct LspOptions {
    /// Listen as an nREPL server on this port (0: any free one), whatever the settings say.
    pub nrepl_port: Option<u16>,
}

/// Serves LSP on the given streams until the client exits or its input closes.
pub async fn serve<I, O>(input: I, output: O, options: LspOptions)
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
{
    let (service, socket) = LspService::build(|client| Backend::new(client, options))
        .custom_method(ext::STATUS_REQUEST, Backend::status)
        .finish();
    let (to_server, server_input) = tokio::io::duplex(1 << 20);
    let (server_output, from_server) = tokio::io::duplex(1 << 20);
    let (rejections, rejected) = tokio::sync::mpsc::unbounded_channel();
    let (input_closed, input_closed_rx) = tokio::sync::oneshot::channel::<()>();
    let filter = tokio::spawn(async move {
        framing::filter_input(input, to_server, rejections).await;
        let _ = input_closed.send(());
    });
    let writer = tokio::spawn(framing::merge_output(from_server, output, rejected));
    // An editor that dies sends no `exit`, and requests to it (configuration, progress) never
    // get answers: when its input closes, give handlers a moment, then stop, freeing ports.
    tokio::select! {
        () = Server::new(server_input, server_output, socket).serve(service) => {}
        _ = async {
            let _ = input_closed_rx.await;
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        } => tracing::info!("the editor closed the connection without `exit`; stopping"),
    }
    // The server is done: a read still waiting on the editor's input is not news. Awaited, so
    // that it is gone before the runtime shuts down (which would end it as a cancelled read).
    filter.abort();
    let _ = filter.await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), writer).await;
}

struct Backend {
    client: Client,
    documents: OpenDocuments,
    /// The last patch problems and warnings per document, published together with read errors.
    problems: Arc<Mutex<HashMap<Uri, Shown>>>,
    /// The pages' runtime errors per document, published beside the rest.
    runtime: Arc<Mutex<RuntimeDiagnostics>>,
    workspace: Mutex<Option<PathBuf>>,
    /// Every workspace folder (the first is `workspace`): where a changed macro's users are.
    roots: Mutex<Vec<PathBuf>>,
    init_options: Mutex<Option<Value>>,
    supports_progress: Mutex<bool>,
    supports_configuration: Mutex<bool>,
    /// The running pipeline and the settings it runs with; `None` until `initialized`.
    running: watch::Sender<Option<Arc<Running>>>,
    status: Arc<Mutex<ServerStatusParams>>,
    progress_ids: AtomicU64,
    /// One (re)configuration at a time: `initialized` and a configuration change arriving
    /// together would otherwise both start a pipeline (and two app servers).
    configuring: tokio::sync::Mutex<()>,
    options: LspOptions,
    /// The nREPL endpoint for CIDER, Calva and Conjure, when it is on.
    nrepl_endpoint: Mutex<Option<NreplEndpoint>>,
}

/// Everything published as one file's diagnostics: read errors and the last patch's problems
/// (of an open document), and the pages' runtime errors (of any file).
struct FileDiagnostics {
    documents: OpenDocuments,
    problems: Arc<Mutex<HashMap<Uri, Shown>>>,
    runtime: Arc<Mutex<RuntimeDiagnostics>>,
}

impl FileDiagnostics {
    fn of(&self, uri: &Uri) -> (Vec<Diagnostic>, Option<i32>) {
        let runtime = lock(&self.runtime).get(uri).cloned().unwrap_or_default();
        let documents = self.documents.lock();
        let Some(doc) = documents.get(uri) else { return (runtime, None) };
        let text = doc.text();
        let parsed = reader::parse(&text);
        let mut diagnostics: Vec<Diagnostic> = parsed.errors.iter().map(|e| to_proto::read_error(e, doc)).collect();
        if let Some(shown) = lock(&self.problems).get(uri) {
            diagnostics.extend(shown.diagnostics(doc));
        }
        diagnostics.extend(runtime);
        (diagnostics, Some(doc.version))
    }
}

/// What runs with the current settings: the pipeline and the app server `app::start` started.
struct Running {
    settings: Settings,
    pipeline: Arc<Pipeline>,
    app: AppHandle,
}

impl Backend {
    fn new(client: Client, options: LspOptions) -> Self {
        Backend {
            client,
            documents: OpenDocuments::default(),
            problems: Arc::new(Mutex::new(HashMap::new())),
            runtime: Arc::new(Mutex::new(RuntimeDiagnostics::new())),
            workspace: Mutex::new(None),
            roots: Mutex::new(Vec::new()),
            init_options: Mutex::new(None),
            supports_progress: Mutex::new(false),
            supports_configuration: Mutex::new(false),
            running: watch::channel(None).0,
            status: Arc::new(Mutex::new(ServerStatusParams::default())),
            progress_ids: AtomicU64::new(0),
            configuring: tokio::sync::Mutex::new(()),
            options,
            nrepl_endpoint: Mutex::new(None),
        }
    }

    /// `jank/status` request: the current server status (the notification's params).
    async fn status(&self) -> Result<ServerStatusParams> {
        Ok(lock(&self.status).clone())
    }

    fn workspace(&self) -> PathBuf {
        lock(&self.workspace).clone().unwrap_or_else(|| std::env::current_dir().unwrap_or_default())
    }

    /// Reads the settings layers and (re)starts the pipeline with them.
    async fn configure(&self) {
        let _one_at_a_time = self.configuring.lock().await;
        let workspace = self.workspace();
        let settings = self.read_settings(&workspace).await;
        let unchanged = self.running.borrow().as_ref().is_some_and(|s| s.settings == settings);
        if unchanged {
            return;
        }
        // Stop the old pipeline's servers, so that the new ones get the same ports.
        drop(lock(&self.nrepl_endpoint).take());
        if let Some(old) = self.running.send_replace(None) {
            old.app.stop().await;
        }
        let started = app::start(&settings, &workspace).await;
        let mut roots = lock(&self.roots).clone();
        if roots.is_empty() {
            roots.push(workspace.clone());
        }
        let files = DiskFiles::new(roots).with_buffers(Arc::new(self.documents.clone()));
        started.pipeline.set_workspace(Arc::new(files));
        self.announce_start(&started).await;
        if settings.nrepl_server.enabled {
            self.start_nrepl_endpoint(&started, &settings, &workspace).await;
        }
        self.running.send_replace(Some(Arc::new(Running { settings, pipeline: started.pipeline, app: started.app })));
        self.send_status().await;
    }

    /// The settings from every layer (files, initializationOptions, workspace/configuration,
    /// the command line), their problems shown to the user.
    async fn read_settings(&self, workspace: &Path) -> Settings {
        let (mut settings, mut problems) = Settings::load(workspace);
        if let Some(options) = lock(&self.init_options).clone() {
            problems.extend(settings.apply(&options, "initializationOptions"));
        }
        if *lock(&self.supports_configuration) {
            let item = ConfigurationItem { scope_uri: None, section: Some("jankHotpatch".into()) };
            match self.client.configuration(vec![item]).await {
                Ok(values) => {
                    for value in values {
                        problems.extend(settings.apply(&value, "workspace/configuration"));
                    }
                }
                Err(e) => tracing::warn!("workspace/configuration failed: {e}"),
            }
        }
        settings.resolve_paths(workspace);
        if let Some(port) = self.options.nrepl_port {
            settings.nrepl_server.enabled = true;
            settings.nrepl_server.port = port;
        }
        self.report_config_problems(&problems).await;
        settings
    }

    /// Tells the user how the new pipeline started (warnings, status) and follows its pages
    /// and runtime errors.
    async fn announce_start(&self, started: &app::Started) {
        for warning in &started.warnings {
            self.client.show_message(MessageType::WARNING, format!("jank-hotpatch: {warning}")).await;
        }
        {
            let mut status = lock(&self.status);
            status.health = if started.warnings.is_empty() { Health::Ok } else { Health::Warning };
            status.message = started.warnings.first().cloned().unwrap_or_else(|| "ready".into());
            status.app_url = started.app_url.clone();
            status.pages = 0;
        }
        if let Some(page_count) = started.page_count.clone() {
            self.follow_page_count(page_count);
        }
        if let Some(errors) = started.runtime_errors.clone() {
            self.follow_runtime_errors(errors);
        }
    }

    /// Starts the nREPL endpoint on the new pipeline; a failure is shown, not fatal.
    async fn start_nrepl_endpoint(&self, started: &app::Started, settings: &Settings, workspace: &Path) {
        let cache_dir = settings.cache_dir(workspace);
        let endpoint = nrepl_endpoint::start(
            started.pipeline.clone(),
            &settings.nrepl_server,
            started.jank.clone(),
            workspace,
            &cache_dir,
            started.runtime_errors.clone(),
        )
        .await;
        match endpoint {
            Ok(endpoint) => {
                tracing::info!("nREPL endpoint for CIDER, Calva and Conjure on 127.0.0.1:{}", endpoint.port());
                *lock(&self.nrepl_endpoint) = Some(endpoint);
            }
            Err(e) => {
                self.client
                    .show_message(MessageType::ERROR, format!("jank-hotpatch: the nREPL endpoint cannot start: {e}"))
                    .await;
            }
        }
    }

    /// Keeps the status's page count current until the app server stops.
    fn follow_page_count(&self, mut page_count: watch::Receiver<usize>) {
        let client = self.client.clone();
        let status = self.status.clone();
        tokio::spawn(async move {
            while page_count.changed().await.is_ok() {
                let count = *page_count.borrow_and_update();
                let params = {
                    let mut status = lock(&status);
                    status.pages = count;
                    status.clone()
                };
                client.send_notification::<ServerStatus>(params).await;
            }
        });
    }

    /// Keeps the runtime diagnostics, the status's count of failing errors and the log current
    /// until the app server stops, reading the stream at most every [`RUNTIME_FOLLOW_EVERY`].
    fn follow_runtime_errors(&self, mut errors: watch::Receiver<RuntimeErrors>) {
        let client = self.client.clone();
        let status = self.status.clone();
        let files = FileDiagnostics {
            documents: self.documents.clone(),
            problems: self.problems.clone(),
            runtime: self.runtime.clone(),
        };
        tokio::spawn(async move {
            let mut view = RuntimeView::default();
            while errors.changed().await.is_ok() {
                let now = errors.borrow_and_update().clone();
                let fresh = runtime::diagnostics(&now, &files.documents);
                let changed: Vec<Uri> = {
                    let mut shown = lock(&files.runtime);
                    let uris = shown.keys().chain(fresh.keys()).filter(|u| shown.get(*u) != fresh.get(*u)).cloned();
                    let uris: Vec<Uri> = uris.collect::<std::collections::HashSet<_>>().into_iter().collect();
                    *shown = fresh;
                    uris
                };
                for uri in changed {
                    let (diagnostics, version) = files.of(&uri);
                    client.publish_diagnostics(uri, diagnostics, version).await;
                }
                for line in view.log_lines(&now) {
                    client.log_message(MessageType::ERROR, line).await;
                }
                let params = {
                    let mut status = lock(&status);
                    let failing = now.len();
                    (status.runtime_errors != failing).then(|| {
                        status.runtime_errors = failing;
                        status.clone()
                    })
                };
                if let Some(params) = params {
                    client.send_notification::<ServerStatus>(params).await;
                }
                tokio::time::sleep(RUNTIME_FOLLOW_EVERY).await;
            }
        });
    }

    async fn report_config_problems(&self, problems: &[ConfigProblem]) {
        for problem in problems {
            let kind = if problem.is_warning() { MessageType::WARNING } else { MessageType::ERROR };
            tracing::warn!("{problem}");
            self.client.show_message(kind, format!("jank-hotpatch: {problem}")).await;
        }
    }

    /// The pipeline, waiting for `initialized` to have started it.
    async fn running(&self) -> Result<Arc<Running>> {
        let mut rx = self.running.subscribe();
        let ready = tokio::time::timeout(std::time::Duration::from_secs(30), rx.wait_for(Option::is_some)).await;
        match ready {
            Ok(Ok(running)) => running.clone().ok_or_else(Error::internal_error),
            _ => Err(Error {
                code: tower_lsp_server::jsonrpc::ErrorCode::ServerError(-32002),
                message: "jank-hotpatch is not initialized yet".into(),
                data: None,
            }),
        }
    }

    async fn send_status(&self) {
        let status = lock(&self.status).clone();
        self.client.send_notification::<ServerStatus>(status).await;
    }

    async fn set_busy(&self, busy: bool) {
        lock(&self.status).busy = busy;
        self.send_status().await;
    }

    /// Runs the pipeline on an open document and tells the editor everything about it.
    async fn hot_patch(&self, uri: &Uri, selection: Selection) -> Result<PatchReportParams> {
        self.run(uri, Run::Patch(selection)).await
    }

    async fn run(&self, uri: &Uri, run: Run) -> Result<PatchReportParams> {
        let running = self.running().await?;
        let doc = {
            let documents = self.documents.lock();
            let doc = documents.get(uri).ok_or_else(|| invalid(format!("{} is not open", uri.as_str())))?;
            let path = uri.to_file_path().map(|p| p.into_owned()).unwrap_or_else(|| PathBuf::from(uri.path().as_str()));
            pipeline::FileSnapshot { path, text: doc.text().into() }
        };
        self.set_busy(true).await;
        let progress = self.begin_progress(uri);
        let report = match run {
            Run::Patch(selection) => running.pipeline.run(&doc, selection, &progress).await,
            Run::Undo(target) => running.pipeline.undo(&doc, target).await,
        };
        progress.end(&report);
        if report.superseded {
            self.set_busy(false).await;
            return Ok(self.report_json(&report, uri));
        }
        self.publish(uri, Some(&report)).await;
        self.publish_dependents(&report).await;
        {
            let mut status = lock(&self.status);
            status.pages = report.pages;
            status.health = match (report.ok, report.warnings.is_empty()) {
                (false, _) => Health::Error,
                (true, false) => Health::Warning,
                (true, true) => Health::Ok,
            };
            status.message = report.summary();
        }
        for warning in &report.warnings {
            self.client.show_message(MessageType::WARNING, format!("jank-hotpatch: {warning}")).await;
        }
        let params = self.report_json(&report, uri);
        if !report.output.is_empty() {
            self.client.log_message(MessageType::LOG, report.output.join("\n")).await;
        }
        self.client.send_notification::<PatchStatus>(params.clone()).await;
        self.set_busy(false).await;
        Ok(params)
    }

    fn report_json(&self, report: &PatchReport, uri: &Uri) -> PatchReportParams {
        let documents = self.documents.lock();
        to_proto::report(report, uri, documents.get(uri))
    }

    /// Publishes read errors and the last patch problems of `uri` together.
    async fn publish(&self, uri: &Uri, report: Option<&PatchReport>) {
        if let Some(report) = report {
            let mut problems = lock(&self.problems);
            match Shown::of(report) {
                shown if shown.is_empty() => problems.remove(uri),
                shown => problems.insert(uri.clone(), shown),
            };
        }
        if !self.documents.lock().contains_key(uri) {
            return;
        }
        let files = FileDiagnostics {
            documents: self.documents.clone(),
            problems: self.problems.clone(),
            runtime: self.runtime.clone(),
        };
        let (diagnostics, version) = files.of(uri);
        self.client.publish_diagnostics(uri.clone(), diagnostics, version).await;
    }

    /// The diagnostics of the files whose forms the run patched again for a changed macro:
    /// their failures land at their own forms, open or not.
    async fn publish_dependents(&self, report: &PatchReport) {
        for dependent in &report.dependents {
            let Some(uri) = Uri::from_file_path(&dependent.path) else { continue };
            let shown = Shown::of(&dependent.report);
            let doc = Document::new(&dependent.text, 0);
            let diagnostics = shown.diagnostics(&doc).collect();
            {
                let mut problems = lock(&self.problems);
                if shown.is_empty() {
                    problems.remove(&uri);
                } else {
                    problems.insert(uri.clone(), shown);
                }
            }
            if self.documents.lock().contains_key(&uri) {
                self.publish(&uri, None).await;
                continue;
            }
            self.client.publish_diagnostics(uri, diagnostics, None).await;
        }
    }

    fn begin_progress(&self, uri: &Uri) -> LspProgress {
        if !*lock(&self.supports_progress) {
            return LspProgress { tx: None };
        }
        let token =
            NumberOrString::String(format!("jank-hotpatch/{}", self.progress_ids.fetch_add(1, Ordering::Relaxed)));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ProgressEvent>();
        let client = self.client.clone();
        let title = format!("jank: hot-patching {}", file_name(uri));
        // Progress goes out in order on its own task, so a slow client never delays a patch.
        tokio::spawn(async move {
            // Nothing for a patch done sooner: its answer and `jank/patchStatus` say it all, and
            // eight messages the editor handles while the browser loads the patch cost the
            // patch time on a machine of few cores.
            let mut stage = None;
            let shown = tokio::time::sleep(PROGRESS_AFTER);
            tokio::pin!(shown);
            loop {
                tokio::select! {
                    () = &mut shown => break,
                    event = rx.recv() => match event {
                        Some(ProgressEvent::Stage(now)) => stage = Some(now),
                        Some(ProgressEvent::End(_)) | None => return,
                    },
                }
            }
            if client.create_work_done_progress(token.clone()).await.is_err() {
                return;
            }
            let send = |value: WorkDoneProgress| {
                client.send_notification::<ProgressNotification>(ProgressParams {
                    token: token.clone(),
                    value: ProgressParamsValue::WorkDone(value),
                })
            };
            let message = stage.map(|stage| stage.to_string());
            send(WorkDoneProgress::Begin(WorkDoneProgressBegin { title, message, ..Default::default() })).await;
            while let Some(event) = rx.recv().await {
                match event {
                    ProgressEvent::Stage(stage) => {
                        send(WorkDoneProgress::Report(WorkDoneProgressReport {
                            message: Some(stage.to_string()),
                            ..Default::default()
                        }))
                        .await
                    }
                    ProgressEvent::End(message) => {
                        send(WorkDoneProgress::End(WorkDoneProgressEnd { message: Some(message) })).await;
                        return;
                    }
                }
            }
        });
        LspProgress { tx: Some(tx) }
    }

    /// The byte offset of `position` in the open document `uri`.
    fn offset(&self, uri: &Uri, position: Position) -> Result<usize> {
        let documents = self.documents.lock();
        let doc = documents.get(uri).ok_or_else(|| invalid(format!("{} is not open", uri.as_str())))?;
        doc.offset(position).map_err(|e| invalid(e.to_string()))
    }

    fn document_path_is_jank(uri: &Uri) -> bool {
        uri.path().as_str().ends_with(".jank")
    }
}

/// What a command asks of the pipeline.
#[derive(Clone, Copy)]
enum Run {
    Patch(Selection),
    Undo(UndoTarget),
}

enum ProgressEvent {
    Stage(Stage),
    End(String),
}

struct LspProgress {
    tx: Option<tokio::sync::mpsc::UnboundedSender<ProgressEvent>>,
}

/// How long a patch runs before the editor shows its progress.
const PROGRESS_AFTER: std::time::Duration = std::time::Duration::from_millis(200);

impl ProgressSink for LspProgress {
    fn stage(&self, stage: Stage) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(ProgressEvent::Stage(stage));
        }
    }
}

impl LspProgress {
    fn end(&self, report: &PatchReport) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(ProgressEvent::End(report.summary()));
        }
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let root = params
            .workspace_folders
            .as_ref()
            .and_then(|folders| folders.first())
            .and_then(|folder| folder.uri.to_file_path().map(|p| p.into_owned()));
        #[allow(deprecated)]
        let root = root.or_else(|| params.root_uri.as_ref().and_then(|u| u.to_file_path().map(|p| p.into_owned())));
        let folders = params.workspace_folders.iter().flatten();
        *lock(&self.roots) = folders.filter_map(|f| f.uri.to_file_path().map(|p| p.into_owned())).collect();
        *lock(&self.workspace) = root;
        *lock(&self.init_options) = params.initialization_options.clone();
        *lock(&self.supports_progress) =
            params.capabilities.window.as_ref().and_then(|w| w.work_done_progress).unwrap_or(false);
        *lock(&self.supports_configuration) =
            params.capabilities.workspace.as_ref().and_then(|w| w.configuration).unwrap_or(false);
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::INCREMENTAL),
                    save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions { include_text: Some(false) })),
                    ..Default::default()
                })),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: ext::COMMANDS.iter().map(|c| c.to_string()).collect(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            server_info: Some(ServerInfo {
                name: "jank-hotpatch".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        self.configure().await;
    }

    async fn shutdown(&self) -> Result<()> {
        drop(lock(&self.nrepl_endpoint).take());
        if let Some(old) = self.running.send_replace(None) {
            old.app.stop().await;
        }
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let item = params.text_document;
        self.documents.lock().insert(item.uri.clone(), Document::new(&item.text, item.version));
        self.publish(&item.uri, None).await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let known = {
            let mut documents = self.documents.lock();
            match documents.get_mut(&uri) {
                Some(doc) => {
                    for change in &params.content_changes {
                        doc.apply(change);
                    }
                    doc.version = params.text_document.version;
                    true
                }
                None => false,
            }
        };
        if known {
            self.publish(&uri, None).await;
        } else {
            let message =
                format!("jank-hotpatch: got changes for {}, which was never opened; ignoring them", uri.as_str());
            tracing::warn!("{message}");
            self.client.show_message(MessageType::WARNING, message).await;
        }
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        let uri = params.text_document.uri;
        if !Self::document_path_is_jank(&uri) {
            return;
        }
        // A save right after start waits for the settings, rather than being dropped.
        let started = match self.running().await {
            Ok(running) if !running.settings.patch_on_save => return,
            Ok(_) => self.hot_patch(&uri, Selection::ChangedForms).await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = started {
            // A notification has no answer to carry the error: the user is told here.
            let message = format!("jank-hotpatch: patch on save of {} did not start: {}", uri.as_str(), e.message);
            tracing::warn!("{message}");
            self.client.show_message(MessageType::WARNING, message).await;
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.documents.lock().remove(&uri);
        lock(&self.problems).remove(&uri);
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
    }

    async fn did_change_configuration(&self, _: DidChangeConfigurationParams) {
        self.configure().await;
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        let arg = params
            .arguments
            .into_iter()
            .next()
            .ok_or_else(|| invalid(format!("{} needs one argument", params.command)))?;
        match params.command.as_str() {
            ext::HOT_PATCH_FORM => {
                let args: HotPatchFormArgs = parse_args(&params.command, arg)?;
                let offset = self.offset(&args.uri, args.position)?;
                if !Self::document_path_is_jank(&args.uri) {
                    return Err(invalid(format!("{} is not a jank file (.jank)", args.uri.as_str())));
                }
                self.hot_patch(&args.uri, Selection::FormAt(offset)).await.and_then(to_any)
            }
            ext::UNDO_PATCH => {
                let args: UndoPatchArgs = parse_args(&params.command, arg)?;
                if !Self::document_path_is_jank(&args.uri) {
                    return Err(invalid(format!("{} is not a jank file (.jank)", args.uri.as_str())));
                }
                let target = match args.position {
                    Some(position) => UndoTarget::DefinitionAt(self.offset(&args.uri, position)?),
                    None => UndoTarget::LastRun,
                };
                self.run(&args.uri, Run::Undo(target)).await.and_then(to_any)
            }
            ext::HOT_PATCH_FILE => {
                let args: HotPatchFileArgs = parse_args(&params.command, arg)?;
                if !Self::document_path_is_jank(&args.uri) {
                    return Err(invalid(format!("{} is not a jank file (.jank)", args.uri.as_str())));
                }
                self.hot_patch(&args.uri, Selection::ChangedForms).await.and_then(to_any)
            }
            other => {
                Err(invalid(format!("unknown command `{other}`; this server offers {}", ext::COMMANDS.join(", "))))
            }
        }
    }
}

fn parse_args<T: serde::de::DeserializeOwned>(command: &str, arg: Value) -> Result<T> {
    serde_json::from_value(arg).map_err(|e| invalid(format!("bad arguments for {command}: {e}")))
}

fn invalid(message: String) -> Error {
    Error { code: tower_lsp_server::jsonrpc::ErrorCode::InvalidParams, message: message.into(), data: None }
}

/// The report as the command's answer; one that cannot be serialised is an error that says
/// so, never a `null` result.
fn to_any(report: PatchReportParams) -> Result<Option<LSPAny>> {
    serde_json::to_value(report).map(Some).map_err(|e| Error {
        code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
        message: format!("the patch report could not be serialised: {e}").into(),
        data: None,
    })
}

fn file_name(uri: &Uri) -> String {
    let path = uri.path().as_str();
    Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.to_string())
}

/// A poisoned lock only means a handler panicked; the data is still usable.
/// What a document's last run left to show: its problems (none after a run that went
/// through) and its warnings.
struct Shown {
    problems: Vec<pipeline::Problem>,
    warnings: Vec<pipeline::Problem>,
}

impl Shown {
    fn of(report: &PatchReport) -> Shown {
        let problems = if report.ok { Vec::new() } else { report.problems.clone() };
        Shown { problems, warnings: report.form_warnings.clone() }
    }

    fn is_empty(&self) -> bool {
        self.problems.is_empty() && self.warnings.is_empty()
    }

    /// Read errors come from the document itself, not from here.
    fn diagnostics<'a>(&'a self, doc: &'a Document) -> impl Iterator<Item = Diagnostic> + 'a {
        let problems = self.problems.iter().filter(|p| p.stage != Stage::Read).map(|p| to_proto::diagnostic(p, doc));
        problems.chain(self.warnings.iter().map(|w| to_proto::warning(w, doc)))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
