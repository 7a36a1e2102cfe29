//! The deliver and load stages: the HTTP + WebSocket server, the browser client, the
//! journal of latest patches.
//!
//! Owns: the app's static files, page connections and their token/Origin checks, sending
//! patches and collecting acks, the journal replayed to late pages. Must not know about
//! jank, toolchains or LSP.
//!
//! One job per file: `mod.rs` the stage (`AppServer`, the `Deliver` impl, the port);
//! `server.rs` the HTTP routes and each page's connection; `static_files.rs` the app's files;
//! `token.rs` the page token; `hub.rs` the pages and the batches sent to them; `acks.rs` acks
//! into a `Delivery`; `stale.rs` pages running another build of the app; `journal.rs` the
//! journal and its files; `saves.rs` its saves, in order; `protocol.rs` the messages;
//! `client/` the browser client.
//!
//! One port serves the app's files (`app.root`), the client (`/_jank/client.js`) and the
//! WebSocket (`/_jank/ws`). How the page gets the token without other origins learning it:
//! - The sidecar gives out one URL, `http://127.0.0.1:<port>/?token=<128-bit hex>` (the
//!   `url()` the editors show). An HTML page requested with the right `?token=` gets a
//!   `<meta name="jank-hotpatch-token">` injected into its `<head>`; requested without it,
//!   the page is served unchanged. The client reads the meta tag (or, failing that, the
//!   page URL's own `?token=`) and connects to `/_jank/ws?token=...`.
//! - The WebSocket also requires `Origin` to be this server's own (`http://127.0.0.1:<port>`,
//!   `http://localhost:<port>`, ...); every request must name one of those hosts in `Host`
//!   (so a rebound DNS name cannot read pages); every answer carries
//!   `Cross-Origin-Resource-Policy: same-origin`. A foreign page can neither read our pages
//!   nor open the socket, and the token never leaves our origin.
//! - The token is kept in `<journal dir>/token` (mode 0600) and reused by the next run, so
//!   pages that outlive a sidecar restart reconnect and catch up from the journal. Delete the
//!   file to make a new one.

mod acks;
mod hub;
mod journal;
pub mod protocol;
mod saves;
mod server;
mod stale;
mod static_files;
mod token;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::AppSettings;
use crate::main_module::MainModuleOnDisk;
use crate::stages::{
    check_module_size, Deliver, Delivery, FormFailure, LoadHooks, Patch, RuntimeErrors, StageFailure, VarName,
};

pub use hub::PageStatus;
use journal::Journal;
pub use protocol::PageApi;
pub use server::{CLIENT_PATH, SOCKET_PATH, STATUS_PATH};

/// How many ports after `app.port` are tried when it is taken.
const PORT_TRIES: u16 = 20;
/// How long a batch waits for the pages' acks.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("app.host `{0}` is not an IP address (use 127.0.0.1, ::1 or 0.0.0.0)")]
    BadHost(String),
    #[error("ports {first}-{last} on {host} are all taken; set app.port to a free port")]
    PortsTaken { host: String, first: u16, last: u16 },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("app.root {path} cannot be served: {source}")]
    Root { path: String, source: std::io::Error },
}

/// The app server: static files + the page WebSocket on one port, and the journal.
pub struct AppServer {
    hub: Arc<hub::Hub>,
    addr: SocketAddr,
    url_host: String,
    token: String,
    max_module_bytes: usize,
    ack_timeout: Duration,
    /// `app.mainModule`, to tell pages that run an older build of the app.
    main_module: Option<MainModuleOnDisk>,
    /// Taken by the first `stop` (or drop).
    running: std::sync::Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl AppServer {
    /// Binds `settings.host` on `settings.port` (or the next free of the 20 after it; 0 lets
    /// the system pick), opens the journal kept in `journal_dir`, and starts serving.
    pub async fn start(settings: &AppSettings, journal_dir: &Path) -> Result<AppServer, DeliverError> {
        let ip: IpAddr = settings.host.parse().map_err(|_| DeliverError::BadHost(settings.host.clone()))?;
        let root = match &settings.root {
            Some(root) => Some(
                root.canonicalize()
                    .map_err(|source| DeliverError::Root { path: root.display().to_string(), source })?,
            ),
            None => None,
        };
        let listener = bind(ip, settings.port).await?;
        let addr = listener
            .local_addr()
            .map_err(|source| DeliverError::Bind { addr: SocketAddr::new(ip, settings.port), source })?;
        let url_host = match ip {
            IpAddr::V4(v4) if v4.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
            IpAddr::V6(v6) if v6.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        let port = addr.port();
        let mut hosts: Vec<String> =
            ["127.0.0.1", "localhost", "[::1]"].iter().map(|h| format!("{h}:{port}")).collect();
        if !ip.is_unspecified() && !ip.is_loopback() {
            hosts.push(format!("{url_host}:{port}"));
        }
        let token = token::load_or_make(journal_dir);
        let hub = hub::Hub::new(Journal::open(journal_dir));
        let app = Arc::new(server::App {
            hub: hub.clone(),
            root,
            token: token.clone(),
            hosts,
            session: format!("{:016x}", rand::random::<u64>()),
        });
        let (shutdown, stopped) = oneshot::channel();
        let service = server::router(app).into_make_service_with_connect_info::<SocketAddr>();
        // Patches and acks are small frames: without TCP_NODELAY, Nagle's algorithm holds a
        // frame back until the previous one is acknowledged (up to the peer's delayed ACK).
        let listener = axum::serve::ListenerExt::tap_io(listener, |stream: &mut tokio::net::TcpStream| {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY on a page connection: {e}");
            }
        });
        let task = tokio::spawn(async move {
            let serving = axum::serve(listener, service).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serving.await {
                tracing::error!("the app server stopped: {e}");
            }
        });
        tracing::info!("app server on http://{url_host}:{port}/ ({} journaled patches)", hub.journal_len());
        Ok(AppServer {
            hub,
            addr,
            url_host,
            token,
            max_module_bytes: settings.max_module_bytes,
            ack_timeout: ACK_TIMEOUT,
            main_module: settings.main_module.clone().map(MainModuleOnDisk::new),
            running: std::sync::Mutex::new(Some((shutdown, task))),
        })
    }

    /// How long a batch waits for acks (default [`ACK_TIMEOUT`]).
    pub fn with_ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// The app's page, with the token: the URL to open.
    pub fn url(&self) -> String {
        format!("{}?token={}", self.origin_url(), self.token)
    }

    /// `http://host:port/`, without the token.
    pub fn origin_url(&self) -> String {
        format!("http://{}:{}/", self.url_host, self.addr.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Pages connected now.
    pub fn page_count(&self) -> usize {
        self.hub.page_count()
    }

    /// The pages connected now and what each said of its main module.
    pub fn pages(&self) -> Vec<PageStatus> {
        self.hub.pages()
    }

    /// Changes whenever a page connects or leaves (for `jank/serverStatus`).
    pub fn watch_page_count(&self) -> watch::Receiver<usize> {
        self.hub.watch_page_count()
    }

    /// The pages' runtime errors, after every change (the pages send at most one report per
    /// error every 250 ms; readers take the latest).
    pub fn watch_runtime_errors(&self) -> watch::Receiver<RuntimeErrors> {
        self.hub.watch_runtime_errors()
    }

    /// Closes every page connection and the port (works through an `Arc`; later calls and
    /// the drop do nothing more).
    pub async fn stop(&self) {
        let Some(task) = self.shut_down() else { return };
        self.hub.flush().await;
        let abort = task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), task).await.is_err() {
            abort.abort();
        }
    }

    fn shut_down(&self) -> Option<JoinHandle<()>> {
        self.hub.drop_all("the app server is stopping");
        let (shutdown, task) = self.running.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        let _ = shutdown.send(());
        Some(task)
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        if let Some(task) = self.shut_down() {
            task.abort();
        }
    }
}

impl AppServer {
    /// The app's build on disk now, when `app.mainModule` is set and readable.
    async fn app_build(&self) -> Option<stale::AppBuild<'_>> {
        let main = self.main_module.as_ref()?;
        Some(stale::AppBuild { path: main.path(), sha256: main.sha256().await? })
    }
}

#[async_trait]
impl Deliver for AppServer {
    async fn deliver_batch(&self, patches: Vec<Patch>, hooks: &LoadHooks) -> Result<Delivery, StageFailure> {
        for patch in &patches {
            check_module_size(patch.module.bytes.len(), self.max_module_bytes)
                .map_err(|why| StageFailure::new(format!("{}: {why}", patch.module.var)))?;
        }
        if patches.is_empty() {
            return Ok(Delivery { pages: self.page_count(), ..Delivery::default() });
        }
        Ok(self.hub.deliver(&patches, hooks, self.ack_timeout, self.app_build().await.as_ref()).await)
    }

    async fn undo(&self, vars: &[VarName], hooks: &LoadHooks) -> Result<Delivery, StageFailure> {
        Ok(self.hub.undo(vars, hooks, self.ack_timeout, self.app_build().await.as_ref()).await)
    }

    async fn show_failures(&self, failed: Vec<FormFailure>, fine: Vec<String>) {
        self.hub.show_failures(failed, fine);
    }
}

async fn bind(ip: IpAddr, port: u16) -> Result<TcpListener, DeliverError> {
    let last = if port == 0 { 0 } else { port.saturating_add(PORT_TRIES) };
    for candidate in port..=last {
        let addr = SocketAddr::new(ip, candidate);
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                tracing::debug!("port {candidate} is taken, trying the next");
            }
            Err(source) => return Err(DeliverError::Bind { addr, source }),
        }
    }
    Err(DeliverError::PortsTaken { host: ip.to_string(), first: port, last })
}

/// A patch whose module the unit tests never load: only its identity and bytes matter.
#[cfg(test)]
fn test_patch(id: u64, name: &str, kind: crate::stages::PatchKind) -> Patch {
    use crate::stages::{PatchId, PatchOrigin, SideModule, VarName};
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    bytes.extend(id.to_le_bytes());
    let module = SideModule {
        patch_id: PatchId(id),
        module: PatchId(id).into(),
        bytes: bytes.into(),
        entry_symbol: PatchId(id).entry_symbol(),
        var: VarName::new("demo.core", name),
        kind,
        cpp_path: std::path::PathBuf::new(),
        cached: false,
    };
    Patch {
        module,
        origin: PatchOrigin { file: "src/demo/core.jank".into(), line: 3, form: format!("(defn {name} [] {id})") },
    }
}
