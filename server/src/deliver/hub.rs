//! The connected pages, the batches waiting for their acks, and the journal, behind one lock
//! so that a page that connects gets exactly the journal plus every batch sent after it.
//!
//! Owns: page registration and dropping (with the reason logged), per-page bounded send
//! queues, numbering batches and routing acks to the batch that waits for them, what each
//! page said of its main module, the forms failing before the pages (shown in their HUD,
//! and to pages that connect later), and the pages' runtime errors (attributed to a journaled
//! patch by the patch id the page found on the stack; at most [`RUNTIME_ERRORS_PER_PAGE`] per
//! page, dropped with the page). Must not touch sockets (`server.rs`) or the journal's
//! files (`journal.rs`, written in order by `saves.rs`); turning acks into a [`Delivery`] is
//! `acks.rs`'s, telling a page that runs another build of the app `stale.rs`'s.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use tokio::sync::{mpsc, watch};

use super::acks::{add_hooks, summarize};
use super::journal::{Entry, Journal, HISTORY_PER_VAR};
use super::protocol::{
    encode_batch, HookResult, LoadResult, PageApi, PatchHeader, RuntimeOrigin, RuntimeReport, ServerMessage,
};
use super::saves::{finish, JournalSaves, Saved};
use super::stale::{runs_other_build, stale_notice, stale_warning, AppBuild};
use crate::stages::{
    elapsed_ms, AfterPatch, Culprit, Delivery, FormFailure, LoadHooks, Patch, PatchKind, RuntimeError, RuntimeErrors, VarName,
    VarVersion,
};

/// Frames a page may have waiting before it counts as not reading and is dropped.
pub const SEND_QUEUE_FRAMES: usize = 256;

pub type PageId = u64;

/// Distinct runtime errors kept per page (the client keeps as many); more are not recorded.
pub const RUNTIME_ERRORS_PER_PAGE: usize = 32;
/// The longest runtime error message kept, in bytes.
const RUNTIME_MESSAGE_BYTES: usize = 2000;

/// A page's answer to a batch.
#[derive(Debug)]
pub struct PageAck {
    pub results: Vec<LoadResult>,
    pub hooks: Vec<HookResult>,
    /// The page's own time on the batch, loads included (see `ClientMessage::Ack`).
    pub handled_ms: f64,
}

/// What reaches a waiting batch about one of its pages.
#[derive(Debug)]
pub enum PageEvent {
    Ack(PageId, PageAck),
    Gone(PageId),
}

/// What goes to a page, in order.
#[derive(Debug)]
pub enum ToPage {
    /// A patch frame.
    Patch(Bytes),
    /// A JSON message.
    Text(String),
}

struct Page {
    queue: mpsc::Sender<ToPage>,
    peer: String,
    api: Option<PageApi>,
    /// The page was told it runs an older build of the app than the one on disk.
    told_stale: bool,
}

/// A connected page, for the status endpoint.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PageStatus {
    pub id: PageId,
    pub peer: String,
    /// `None` until the page's main module runs and its client says hello.
    pub api: Option<PageApi>,
}

#[derive(Default)]
struct State {
    pages: HashMap<PageId, Page>,
    next_page: PageId,
    next_batch: u64,
    waiting: HashMap<u64, mpsc::UnboundedSender<PageEvent>>,
    journal: Journal,
    /// Forms that failed before reaching the pages, by [`FormFailure::key`].
    failing: BTreeMap<String, FormFailure>,
    /// The pages' runtime errors, by page and the page's key.
    runtime: BTreeMap<(PageId, String), RuntimeError>,
}

pub struct Hub {
    state: Mutex<State>,
    /// The journal's saves, in the order their snapshots were taken.
    saves: JournalSaves,
    /// Number of connected pages, for front ends that show it.
    page_count: watch::Sender<usize>,
    /// Every page's runtime errors, after each change.
    runtime: watch::Sender<RuntimeErrors>,
}

/// A page's side of the hub: its id, its queue, and the journal it must be sent first.
pub struct Registration {
    pub id: PageId,
    pub queue: mpsc::Receiver<ToPage>,
    pub replay: Vec<Bytes>,
    /// The forms failing now, sent after the replay.
    pub failing: Option<String>,
}

impl Hub {
    pub fn new(journal: Journal) -> Arc<Hub> {
        let (page_count, _) = watch::channel(0);
        let (runtime, _) = watch::channel(RuntimeErrors::default());
        Arc::new(Hub {
            state: Mutex::new(State { journal, next_batch: 1, ..State::default() }),
            saves: JournalSaves::default(),
            page_count,
            runtime,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind: keep serving.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn page_count(&self) -> usize {
        self.lock().pages.len()
    }

    pub fn watch_page_count(&self) -> watch::Receiver<usize> {
        self.page_count.subscribe()
    }

    pub fn watch_runtime_errors(&self) -> watch::Receiver<RuntimeErrors> {
        self.runtime.subscribe()
    }

    /// A page's report of a runtime error (new, or its count grown), attributed to the
    /// journaled patch whose function the page found on the stack.
    pub fn runtime_error(&self, page: PageId, report: RuntimeReport) {
        let mut state = self.lock();
        let key = (page, report.key);
        let known = state.runtime.contains_key(&key);
        if !known && state.runtime.keys().filter(|(p, _)| *p == page).count() >= RUNTIME_ERRORS_PER_PAGE {
            return;
        }
        let after = report.after.map(|a| AfterPatch { vars: a.vars, ms: a.ms });
        let culprit = match (report.origin, report.patch.and_then(|id| state.journal.find(id))) {
            (RuntimeOrigin::App, _) => Culprit::App { after },
            (RuntimeOrigin::Jank, Some(entry)) => {
                Culprit::Patched { var: entry.var.clone(), patch: entry.id, origin: entry.origin.clone() }
            }
            (RuntimeOrigin::Jank, None) => Culprit::Unpatched { after },
        };
        let mut message = report.message;
        if message.len() > RUNTIME_MESSAGE_BYTES {
            let end = (0..=RUNTIME_MESSAGE_BYTES).rev().find(|&i| message.is_char_boundary(i)).unwrap_or(0);
            message.truncate(end);
        }
        let error = RuntimeError {
            page,
            key: key.1.clone(),
            message,
            caught_in: report.caught_in,
            count: report.count,
            culprit,
        };
        if !known {
            tracing::info!("{}", error.summary());
        }
        state.runtime.insert(key, error);
        self.publish_runtime(&state);
    }

    /// A batch loaded in the page: these errors are counted afresh if they happen again.
    pub fn runtime_clear(&self, page: PageId, keys: &[String]) {
        let mut state = self.lock();
        let before = state.runtime.len();
        state.runtime.retain(|(p, key), _| *p != page || !keys.contains(key));
        if state.runtime.len() != before {
            self.publish_runtime(&state);
        }
    }

    fn publish_runtime(&self, state: &State) {
        self.runtime.send_replace(Arc::new(state.runtime.values().cloned().collect()));
    }

    pub fn journal_len(&self) -> usize {
        self.lock().journal.entries().len()
    }

    /// Adds a page, with the journal to replay to it as one batch.
    pub fn register(&self, peer: String) -> Registration {
        let (tx, rx) = mpsc::channel(SEND_QUEUE_FRAMES);
        let mut state = self.lock();
        state.next_page += 1;
        let id = state.next_page;
        let batch = state.next_batch;
        state.next_batch += 1;
        let entries = state.journal.entries();
        let frames: Vec<_> = entries
            .iter()
            .enumerate()
            .map(|(index, e)| {
                (PatchHeader { batch, index, count: entries.len(), replay: true, ..journal_header(e) }, e.bytes.clone())
            })
            .collect();
        let replay = encode_batch(&frames);
        let failing = (!state.failing.is_empty()).then(|| {
            ServerMessage::Failures { failed: state.failing.values().cloned().collect(), fine: Vec::new() }.to_json()
        });
        state.pages.insert(id, Page { queue: tx, peer: peer.clone(), api: None, told_stale: false });
        self.page_count.send_replace(state.pages.len());
        tracing::info!("page {id} connected from {peer} ({} journaled patches to replay)", replay.len());
        Registration { id, queue: rx, replay, failing }
    }

    /// A page's client said what its main module has.
    pub fn hello(&self, id: PageId, api: PageApi) {
        let mut state = self.lock();
        let Some(page) = state.pages.get_mut(&id) else { return };
        let hash = api.main_module_sha256.as_deref().unwrap_or("unknown");
        if api.missing.is_empty() {
            tracing::info!("page {id} runs main module sha256 {hash} ({} Module)", api.module);
        } else {
            tracing::warn!(
                "page {id} runs main module sha256 {hash} ({} Module), which lacks {}",
                api.module,
                api.missing.join(", ")
            );
        }
        page.api = Some(api);
    }

    /// The pages connected now.
    pub fn pages(&self) -> Vec<PageStatus> {
        let state = self.lock();
        let mut pages: Vec<PageStatus> = state
            .pages
            .iter()
            .map(|(&id, page)| PageStatus { id, peer: page.peer.clone(), api: page.api.clone() })
            .collect();
        pages.sort_by_key(|p| p.id);
        pages
    }

    /// The keys of the forms failing before the pages.
    pub fn failing(&self) -> Vec<String> {
        self.lock().failing.keys().cloned().collect()
    }

    /// Records `failed` and clears the `fine` forms, and tells every page what changed.
    pub fn show_failures(&self, failed: Vec<FormFailure>, fine: Vec<String>) {
        let mut state = self.lock();
        let fine: Vec<String> = fine.into_iter().filter(|key| state.failing.remove(key).is_some()).collect();
        for failure in &failed {
            state.failing.insert(failure.key.clone(), failure.clone());
        }
        if failed.is_empty() && fine.is_empty() {
            return;
        }
        let text = ServerMessage::Failures { failed, fine }.to_json();
        let slow: Vec<PageId> = state
            .pages
            .iter()
            .filter(|(_, page)| page.queue.try_send(ToPage::Text(text.clone())).is_err())
            .map(|(&id, _)| id)
            .collect();
        drop(state);
        for id in slow {
            self.drop_page(id, "its send queue is full (the page does not read its socket)");
        }
    }

    /// Removes a page whose connection ended (it closed, or broke the protocol), saying why.
    pub fn drop_page(&self, id: PageId, reason: &str) {
        if let Some(peer) = self.remove(id) {
            tracing::info!("page {id} ({peer}) dropped: {reason}");
        }
    }

    /// Removes a page that is still connected but does not keep up (it does not read or
    /// answer): a warning, since its user sees stale code until it reconnects.
    fn drop_unresponsive(&self, id: PageId, reason: &str) {
        if let Some(peer) = self.remove(id) {
            tracing::warn!("page {id} ({peer}) dropped: {reason}");
        }
    }

    fn remove(&self, id: PageId) -> Option<String> {
        let mut state = self.lock();
        let page = state.pages.remove(&id)?;
        self.page_count.send_replace(state.pages.len());
        // A page that reloads starts clean.
        let before = state.runtime.len();
        state.runtime.retain(|(p, _), _| *p != id);
        if state.runtime.len() != before {
            self.publish_runtime(&state);
        }
        for waiting in state.waiting.values() {
            let _ = waiting.send(PageEvent::Gone(id));
        }
        Some(page.peer)
    }

    /// Drops every page (the server is stopping).
    pub fn drop_all(&self, reason: &str) {
        let ids: Vec<PageId> = self.lock().pages.keys().copied().collect();
        for id in ids {
            self.drop_page(id, reason);
        }
    }

    /// Routes a page's ack to the batch waiting for it; acks of replays and of batches that
    /// gave up waiting are dropped.
    pub fn ack(&self, page: PageId, batch: u64, ack: PageAck) {
        if let Some(waiting) = self.lock().waiting.get(&batch) {
            let _ = waiting.send(PageEvent::Ack(page, ack));
        }
    }

    /// Sends `patches` to every page, records definitions in the journal, and waits up to
    /// `timeout` for every page's ack.
    pub async fn deliver(
        &self,
        patches: &[Patch],
        hooks: &LoadHooks,
        timeout: Duration,
        build: Option<&AppBuild<'_>>,
    ) -> Delivery {
        let (sent, previous) = self.send(hooks, build, |state| {
            // The pages clear a form's failure when its patch loads (or show why it did not).
            for p in patches {
                state.failing.remove(&p.origin.form_key(key_var(p)));
            }
            let frames = patches.iter().map(|p| (PatchHeader::of(p), p.module.bytes.clone())).collect();
            (frames, patches.iter().map(|p| state.journal.record(p)).collect::<Vec<_>>())
        });
        let (delivery, acks, mut saved) = self.collect(sent, timeout).await;
        // A patch that no page could load must not be replayed to later pages.
        let loaded = |p: &Patch| acks.values().flatten().any(|r| r.id == p.module.patch_id && r.ok);
        if delivery.pages > 0 {
            let mut state = self.lock();
            let mut changed = false;
            for (patch, previous) in patches.iter().zip(previous) {
                if let (Some(previous), false) = (previous, loaded(patch)) {
                    state.journal.restore(&patch.module.var, patch.module.patch_id, previous);
                    changed = true;
                }
            }
            if changed {
                saved = self.saves.save(state.journal.snapshot());
            }
        }
        let vars: Vec<_> =
            patches.iter().filter(|p| p.module.kind == PatchKind::Definition).map(|p| &p.module.var).collect();
        self.with_versions(finish(delivery, saved).await, &vars)
    }

    /// Takes each var back to its previous journaled version in every page; a var without one
    /// is a failure that names it.
    pub async fn undo(
        &self,
        vars: &[VarName],
        hooks: &LoadHooks,
        timeout: Duration,
        build: Option<&AppBuild<'_>>,
    ) -> Delivery {
        let mut missing = Vec::new();
        let (sent, undone) = self.send(hooks, build, |state| {
            let mut frames = Vec::new();
            let mut undone = Vec::new();
            for var in vars {
                match state.journal.undo(var) {
                    Some(u) => {
                        let header = PatchHeader { undo: true, ..journal_header(&u.current) };
                        frames.push((header, u.current.bytes.clone()));
                        undone.push(u);
                    }
                    None => missing.push(format!(
                        "{var} has no earlier version to go back to (the journal keeps the last {HISTORY_PER_VAR} patches of each var)"
                    )),
                }
            }
            (frames, undone)
        });
        let (mut delivery, acks, mut saved) = self.collect(sent, timeout).await;
        if delivery.pages > 0 {
            let mut state = self.lock();
            let mut changed = false;
            for u in undone {
                if !acks.values().flatten().any(|r| r.id == u.current.id && r.ok) {
                    state.journal.redo(u);
                    changed = true;
                }
            }
            if changed {
                saved = self.saves.save(state.journal.snapshot());
            }
        }
        delivery.failures.extend(missing);
        self.with_versions(finish(delivery, saved).await, &vars.iter().collect::<Vec<_>>())
    }

    /// Changes the hub's state and sends the frames `prepare` makes (numbered as one batch) to
    /// every page, under one lock; starts saving the journal.
    /// Pages that run another build of the app than `build` get nothing: what is sent was
    /// checked against `build`. They are told to reload (once), and `collect` names them.
    fn send<T>(
        &self,
        hooks: &LoadHooks,
        build: Option<&AppBuild>,
        prepare: impl FnOnce(&mut State) -> (Vec<(PatchHeader, Arc<[u8]>)>, T),
    ) -> (Sent, T) {
        let started = Instant::now();
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = self.lock();
        let batch = state.next_batch;
        state.next_batch += 1;
        state.waiting.insert(batch, tx);
        let (frames, changed) = prepare(&mut state);
        let count = frames.len();
        let frames: Vec<(PatchHeader, Arc<[u8]>)> = frames
            .into_iter()
            .enumerate()
            .map(|(index, (h, bytes))| {
                let header = PatchHeader {
                    batch,
                    index,
                    count,
                    before_load: hooks.before.clone(),
                    after_load: hooks.after.clone(),
                    ..h
                };
                (header, bytes)
            })
            .collect();
        let encoded = encode_batch(&frames);
        let headers: Vec<PatchHeader> = frames.into_iter().map(|(h, _)| h).collect();
        let mut pages = HashSet::new();
        let mut slow = Vec::new();
        let mut stale = Vec::new();
        if !encoded.is_empty() {
            for (&id, page) in state.pages.iter_mut() {
                if let Some(runs) = runs_other_build(page.api.as_ref(), build) {
                    if let Some(build) = build.filter(|_| !page.told_stale) {
                        page.told_stale = true;
                        let _ = page.queue.try_send(ToPage::Text(stale_notice(build, &runs)));
                    }
                    stale.push(stale_warning(id, &runs, build));
                    continue;
                }
                if encoded.iter().all(|f| page.queue.try_send(ToPage::Patch(f.clone())).is_ok()) {
                    pages.insert(id);
                } else {
                    slow.push(id);
                }
            }
        }
        let saved = self.saves.save(state.journal.snapshot());
        drop(state);
        let send_ms = elapsed_ms(started);
        for id in slow {
            self.drop_unresponsive(id, "its send queue is full (the page does not read its socket)");
        }
        (Sent { started, send_ms, batch, headers, pages, rx, saved, stale }, changed)
    }

    /// Waits up to `timeout` for every page's ack of a sent batch.
    async fn collect(&self, sent: Sent, timeout: Duration) -> (Delivery, HashMap<PageId, Vec<LoadResult>>, Saved) {
        let Sent { started, send_ms, batch, headers, pages, mut rx, saved, stale } = sent;
        let connected = pages.len();
        let mut acks: HashMap<PageId, Vec<LoadResult>> = HashMap::new();
        let mut hooks: Vec<(PageId, Vec<HookResult>)> = Vec::new();
        let mut pending = pages;
        let mut handled_ms = 0.0;
        let deadline = tokio::time::Instant::now() + timeout;
        while !pending.is_empty() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(PageEvent::Ack(page, ack))) if pending.remove(&page) => {
                    // The last page to answer is the one the round trip waited for.
                    let load: f64 = ack.results.iter().map(|r| r.load_ms).sum();
                    handled_ms = (ack.handled_ms - load).max(0.0);
                    acks.insert(page, ack.results);
                    hooks.push((page, ack.hooks));
                }
                Ok(Some(PageEvent::Gone(page))) => {
                    pending.remove(&page);
                }
                Ok(Some(PageEvent::Ack(page, ..))) => {
                    tracing::debug!("page {page} acked batch {batch} twice or uninvited")
                }
                Ok(None) | Err(_) => break,
            }
        }
        self.lock().waiting.remove(&batch);
        let mut delivery = summarize(&headers, &acks, connected, elapsed_ms(started));
        delivery.send_ms = send_ms;
        delivery.client_ms = handled_ms;
        for warning in stale {
            tracing::warn!("{warning}");
            delivery.warnings.push(warning);
        }
        add_hooks(&mut delivery, hooks);
        for &page in &pending {
            let silent = format!("page {page} did not answer within {} ms", timeout.as_millis());
            if delivery.applied > 0 {
                // Other pages run the patch: a page that stopped answering (frozen, not reading
                // its socket) costs only itself. It is dropped; it catches up from the journal
                // when it reconnects.
                self.drop_unresponsive(page, &format!("{silent} (it does not read or answer its socket)"));
                delivery.warnings.push(format!("{silent} and was dropped; it gets the patch when it reconnects"));
            } else {
                delivery
                    .failures
                    .push(format!("{silent}; it may still be loading, or its main module failed to start"));
            }
        }
        (delivery, acks, saved)
    }

    /// Waits until the journal on disk is the one in memory.
    pub async fn flush(&self) {
        self.saves.flush().await
    }

    /// Adds the version each of `vars` has now.
    fn with_versions(&self, mut delivery: Delivery, vars: &[&VarName]) -> Delivery {
        let state = self.lock();
        delivery.versions =
            vars.iter().map(|&var| VarVersion { var: var.clone(), version: state.journal.version(var) }).collect();
        delivery
    }
}

/// A batch on its way: who got it, and where their acks arrive.
struct Sent {
    started: Instant,
    /// From `started` until every page's queue had the batch.
    send_ms: f64,
    batch: u64,
    headers: Vec<PatchHeader>,
    pages: HashSet<PageId>,
    rx: mpsc::UnboundedReceiver<PageEvent>,
    saved: Saved,
    /// Why pages that run another build of the app got nothing.
    stale: Vec<String>,
}

/// The var a patch's HUD key names: an expression is keyed by its place instead.
fn key_var(patch: &Patch) -> Option<&VarName> {
    (patch.module.kind == PatchKind::Definition).then_some(&patch.module.var)
}

/// The header that sends a journal entry again.
fn journal_header(e: &Entry) -> PatchHeader {
    PatchHeader::new(e.id, e.module, e.entry_symbol.clone(), e.var.clone(), PatchKind::Definition, e.origin.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::protocol::AfterReport;

    fn report(key: &str, origin: RuntimeOrigin, patch: Option<u64>) -> RuntimeReport {
        RuntimeReport {
            key: key.into(),
            message: "divide by zero".into(),
            caught_in: "the animation frame".into(),
            origin,
            count: 3,
            patch: patch.map(crate::stages::PatchId),
            after: Some(AfterReport { vars: vec!["demo.core/speed".into()], ms: 400.0 }),
        }
    }

    #[test]
    fn runtime_errors_are_attributed_by_the_journal_bounded_per_page_and_dropped_with_the_page() {
        let hub = Hub::new(Journal::default());
        hub.lock().journal.record(&crate::deliver::test_patch(7, "speed", PatchKind::Definition));
        let errors = hub.watch_runtime_errors();
        let page = hub.register("peer".into()).id;
        hub.runtime_error(page, report("a", RuntimeOrigin::Jank, Some(7)));
        hub.runtime_error(page, report("b", RuntimeOrigin::Jank, Some(99)));
        hub.runtime_error(page, report("c", RuntimeOrigin::App, None));
        let now = errors.borrow().clone();
        let culprits: Vec<&Culprit> = now.iter().map(|e| &e.culprit).collect();
        assert!(matches!(culprits[0], Culprit::Patched { var, .. } if var.name == "speed"), "{culprits:?}");
        assert!(matches!(culprits[1], Culprit::Unpatched { after: Some(_) }), "an unknown patch is no guess");
        assert!(matches!(culprits[2], Culprit::App { .. }));
        assert!(now[2].summary().contains("not jank code; after patching demo.core/speed 0.4 s earlier"));

        for i in 0..RUNTIME_ERRORS_PER_PAGE {
            hub.runtime_error(page, report(&format!("more {i}"), RuntimeOrigin::App, None));
        }
        assert_eq!(errors.borrow().len(), RUNTIME_ERRORS_PER_PAGE);
        hub.runtime_clear(page, &["a".to_string()]);
        assert!(errors.borrow().iter().all(|e| e.key != "a"));
        hub.drop_page(page, "it reloaded");
        assert!(errors.borrow().is_empty(), "a page that reloads starts clean");
    }
}
