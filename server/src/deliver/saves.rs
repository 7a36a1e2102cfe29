//! Writing the journal after each batch, while the pages load: each save after the one before
//! it (snapshots are taken under the hub's lock, so the newest is written last), and a failed
//! save turned into a warning of the batch's report.
//!
//! Owns: the chain of saves and waiting for it. The files are `journal.rs`'s.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::journal::{OnDisk, Snapshot};
use crate::stages::Delivery;

/// How saving the journal after a batch went (its reason when it failed).
pub type Saved = oneshot::Receiver<Result<(), String>>;

/// The journal's latest save, which waits for the ones before it.
#[derive(Default)]
pub struct JournalSaves {
    last: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// What the saves so far left on disk (one save at a time uses it).
    disk: Arc<Mutex<OnDisk>>,
}

impl JournalSaves {
    /// Writes `snapshot` after every save started before it, while the pages load (a patch
    /// waits for the slower of its pages and its save). Called under the state lock, so
    /// snapshots are written in the order they were taken.
    pub fn save(&self, snapshot: Snapshot) -> Saved {
        let (done, saved) = oneshot::channel();
        let mut saving = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let previous = saving.take();
        let disk = Arc::clone(&self.disk);
        *saving = Some(tokio::spawn(async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            let save = move || snapshot.save(&mut disk.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
            let outcome = match tokio::task::spawn_blocking(save).await {
                Ok(saved) => saved.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let _ = done.send(outcome);
        }));
        saved
    }

    /// Waits until the journal on disk is the one in memory.
    pub async fn flush(&self) {
        let last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(last) = last {
            let _ = last.await;
        }
    }
}

/// The delivery, with a warning when the journal could not be saved: the pages have the
/// patch, but a page that connects after a restart of the sidecar would not get it.
pub async fn finish(mut delivery: Delivery, saved: Saved) -> Delivery {
    let waiting = std::time::Instant::now();
    let saved = saved.await;
    delivery.journal_ms = crate::stages::elapsed_ms(waiting);
    let reason = match saved {
        Ok(Ok(())) => return delivery,
        Ok(Err(reason)) => reason,
        Err(_) => "the save was cancelled".to_string(),
    };
    let warning = format!(
        "the patch journal could not be saved ({reason}): pages have this patch, but pages that connect after the sidecar restarts will not get it"
    );
    tracing::warn!("{warning}");
    delivery.warnings.push(warning);
    delivery
}
