//! Forwarding to jank's nREPL server: one shared client connection (made on first use, and
//! again after jank restarts or when the request's file is another jank's, found as the
//! compile stage finds it), our session ids swapped for jank's on the way in and back on
//! the way out, reply ids restored to the client's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::nrepl::{Client, ClientOptions, Locator, Message, NreplError};

use super::eval::find_ns_file;
use super::session::Session;
use super::{lock, NreplServerError};

/// Ops like completion must answer quickly or not at all.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Upstream {
    /// Shared with the compile stage: a lookup goes to the jank the patches go to.
    jank: Arc<Locator>,
    workspace: PathBuf,
    /// The file of each namespace asked about, found once.
    ns_files: Mutex<HashMap<String, Option<PathBuf>>>,
    /// The connection, its generation and the address it went to.
    client: tokio::sync::Mutex<Option<(u64, Client, String)>>,
}

impl Upstream {
    pub fn new(jank: Arc<Locator>, workspace: &Path) -> Self {
        Upstream {
            jank,
            workspace: workspace.to_path_buf(),
            ns_files: Mutex::new(HashMap::new()),
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// Sends `request` to jank (in `session`'s jank session, if any) and returns jank's replies
    /// with the client's `id` and our session id put back.
    pub async fn forward(
        &self,
        request: &Message,
        session: Option<&Session>,
    ) -> Result<Vec<Message>, NreplServerError> {
        let near = self.file_of(request, session);
        let (generation, client) = self.client(near.as_deref()).await?;
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
        if let Some((current, client, _)) = current {
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

    /// The file the request is about, for finding its jank: its `file` when that is one of the
    /// workspace, else its namespace's file (the request's `ns`, else the session's).
    fn file_of(&self, request: &Message, session: Option<&Session>) -> Option<PathBuf> {
        if let Some(file) = request.get_str("file").map(|f| self.workspace.join(f)).filter(|f| f.is_file()) {
            return Some(file);
        }
        // An evaluation holds the session's namespace: then the request's own, or none.
        let session_ns = session.and_then(|s| s.ns.try_lock().ok().map(|ns| ns.clone()));
        let ns = request.get_str("ns").map(str::to_string).or(session_ns)?;
        lock(&self.ns_files).entry(ns.clone()).or_insert_with(|| find_ns_file(&self.workspace, &ns)).clone()
    }

    /// The connection to jank for `near`, made anew when there is none, it was lost, or that
    /// jank is another one.
    async fn client(&self, near: Option<&Path>) -> Result<(u64, Client), NreplServerError> {
        let addr = self.jank.locate(near).map_err(|e| NreplServerError::JankUnreachable(e.to_string()))?.addr;
        let mut slot = self.client.lock().await;
        if let Some((generation, client, at)) = slot.as_ref() {
            if !client.is_closed() && *at == addr {
                return Ok((*generation, client.clone()));
            }
        }
        let options = ClientOptions { timeout: FORWARD_TIMEOUT, ..ClientOptions::default() };
        let client =
            Client::connect(&addr, options).await.map_err(|e| NreplServerError::JankUnreachable(e.to_string()))?;
        let generation = slot.as_ref().map_or(0, |(g, ..)| g + 1);
        *slot = Some((generation, client.clone(), addr.clone()));
        tracing::info!("nREPL server: forwarding to jank at {addr}");
        Ok((generation, client))
    }
}

fn lost(e: NreplError) -> NreplServerError {
    NreplServerError::Jank(e.to_string())
}
