//! Forwarding to jank's nREPL server: one shared client connection (made on first use, and
//! again after jank restarts), our session ids swapped for jank's on the way in and back on
//! the way out, reply ids restored to the client's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::parse_endpoint;
use crate::nrepl::{find_port_file, Client, ClientOptions, Message, NreplError};

use super::session::Session;
use super::NreplServerError;

/// Ops like completion must answer quickly or not at all.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Upstream {
    /// `host:port` from settings; `None`: `.nrepl-port` in the workspace, read at each connect.
    endpoint: Option<String>,
    workspace: PathBuf,
    client: tokio::sync::Mutex<Option<(u64, Client)>>,
}

impl Upstream {
    pub fn new(endpoint: Option<String>, workspace: &Path) -> Self {
        Upstream { endpoint, workspace: workspace.to_path_buf(), client: tokio::sync::Mutex::new(None) }
    }

    /// Sends `request` to jank (in `session`'s jank session, if any) and returns jank's replies
    /// with the client's `id` and our session id put back.
    pub async fn forward(
        &self,
        request: &Message,
        session: Option<&Session>,
    ) -> Result<Vec<Message>, NreplServerError> {
        let (generation, client) = self.client().await?;
        let mut upstream = request.clone();
        upstream.0.remove("id");
        if let Some(session) = session {
            upstream.insert("session", self.jank_session(session, generation, &client).await?.as_str());
        }
        let response = client.request(upstream).await.map_err(lost)?;
        Ok(response
            .messages
            .into_iter()
            .map(|mut reply| {
                reply.0.remove("id");
                reply.0.remove("session");
                if let Some(id) = request.get("id") {
                    reply.insert("id", id.clone());
                }
                if let Some(session) = session {
                    reply.insert("session", session.id.as_str());
                }
                reply
            })
            .collect())
    }

    /// Closes `session`'s jank session, if it has one on the current connection.
    pub async fn close(&self, session: &Session) {
        let Some((generation, jank)) = session.jank.lock().await.take() else { return };
        let current = self.client.lock().await.clone();
        if let Some((current, client)) = current {
            if current == generation {
                if let Err(e) = client.close_session(&jank).await {
                    tracing::debug!("closing jank's session {jank}: {e}");
                }
            }
        }
    }

    /// jank's session for ours on this connection, cloned on first use.
    async fn jank_session(
        &self,
        session: &Session,
        generation: u64,
        client: &Client,
    ) -> Result<String, NreplServerError> {
        let mut jank = session.jank.lock().await;
        if let Some((made_on, id)) = jank.as_ref() {
            if *made_on == generation {
                return Ok(id.clone());
            }
        }
        let id = client.clone_session(None).await.map_err(lost)?;
        *jank = Some((generation, id.clone()));
        Ok(id)
    }

    /// The connection to jank, made anew when there is none or it was lost.
    async fn client(&self) -> Result<(u64, Client), NreplServerError> {
        let mut slot = self.client.lock().await;
        if let Some((generation, client)) = slot.as_ref() {
            if !client.is_closed() {
                return Ok((*generation, client.clone()));
            }
        }
        let addr = self.address()?;
        let options = ClientOptions { timeout: FORWARD_TIMEOUT, ..ClientOptions::default() };
        let client =
            Client::connect(&addr, options).await.map_err(|e| NreplServerError::JankUnreachable(e.to_string()))?;
        let generation = slot.as_ref().map_or(0, |(g, _)| g + 1);
        *slot = Some((generation, client.clone()));
        tracing::info!("nREPL server: forwarding to jank at {addr}");
        Ok((generation, client))
    }

    fn address(&self) -> Result<String, NreplServerError> {
        if let Some(endpoint) = &self.endpoint {
            return parse_endpoint(endpoint)
                .map(|(host, port)| format!("{host}:{port}"))
                .ok_or_else(|| NreplServerError::JankUnreachable(format!("`{endpoint}` is not host:port")));
        }
        find_port_file(&self.workspace)
            .map(|(_, port)| format!("127.0.0.1:{port}"))
            .ok_or_else(|| NreplServerError::JankUnreachable(format!("no .nrepl-port in {}", self.workspace.display())))
    }
}

fn lost(e: NreplError) -> NreplServerError {
    NreplServerError::Jank(e.to_string())
}
