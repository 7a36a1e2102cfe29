//! Our nREPL sessions: each has its own current namespace, runs its evaluations one at a
//! time, and maps to a session on jank's side (made when first needed, and again after jank
//! restarts), so that two clients never see each other's `*ns*` or output.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand::Rng;
use tokio::task::AbortHandle;

use super::eval::DEFAULT_NS;
use super::lock;

pub struct Session {
    pub id: String,
    /// The current namespace; held for the whole of an evaluation, which serializes them.
    pub ns: tokio::sync::Mutex<String>,
    /// jank's session for this one: (the upstream connection it belongs to, its id).
    pub jank: tokio::sync::Mutex<Option<(u64, String)>>,
    /// Evaluations running, by request id, so that `interrupt` can stop them.
    running: Mutex<HashMap<String, AbortHandle>>,
}

impl Session {
    fn new(ns: String) -> Arc<Session> {
        Arc::new(Session {
            id: new_id(),
            ns: tokio::sync::Mutex::new(ns),
            jank: tokio::sync::Mutex::new(None),
            running: Mutex::new(HashMap::new()),
        })
    }

    pub fn started(&self, request_id: &str, handle: AbortHandle) {
        lock(&self.running).insert(request_id.to_string(), handle);
    }

    pub fn finished(&self, request_id: &str) {
        lock(&self.running).remove(request_id);
    }

    /// Stops the evaluation `request_id` (any, if `None`); the ids of those stopped.
    pub fn interrupt(&self, request_id: Option<&str>) -> Vec<String> {
        let mut running = lock(&self.running);
        running.retain(|_, handle| !handle.is_finished());
        let ids: Vec<String> =
            running.keys().filter(|id| request_id.is_none_or(|wanted| wanted == *id)).cloned().collect();
        for id in &ids {
            if let Some(handle) = running.remove(id) {
                handle.abort();
            }
        }
        ids
    }
}

/// Every session of the server (nREPL sessions are not tied to a connection).
#[derive(Default)]
pub struct Sessions {
    all: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    /// A new session, starting in `from`'s namespace (or `user`).
    pub async fn clone_from(&self, from: Option<&Session>) -> Arc<Session> {
        let ns = match from {
            Some(parent) => parent.ns.lock().await.clone(),
            None => DEFAULT_NS.to_string(),
        };
        let session = Session::new(ns);
        lock(&self.all).insert(session.id.clone(), session.clone());
        session
    }

    /// A session for one request that names none, as nREPL makes; not kept.
    pub fn ephemeral(&self) -> Arc<Session> {
        Session::new(DEFAULT_NS.to_string())
    }

    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.all).get(id).cloned()
    }

    pub fn close(&self, id: &str) -> Option<Arc<Session>> {
        let session = lock(&self.all).remove(id)?;
        session.interrupt(None);
        Some(session)
    }

    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = lock(&self.all).keys().cloned().collect();
        ids.sort();
        ids
    }
}

/// A random UUID (version 4), the shape clients expect session ids in.
fn new_id() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sessions_inherit_the_namespace_and_close() {
        let sessions = Sessions::default();
        let a = sessions.clone_from(None).await;
        *a.ns.lock().await = "demo.core".into();
        let b = sessions.clone_from(Some(&a)).await;
        assert_eq!(*b.ns.lock().await, "demo.core");
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), 36);
        assert_eq!(sessions.ids().len(), 2);
        assert!(sessions.close(&a.id).is_some());
        assert!(sessions.get(&a.id).is_none() && sessions.get(&b.id).is_some());
    }
}
