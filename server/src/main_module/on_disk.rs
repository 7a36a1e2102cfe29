//! The app's main module as it is on disk now, for the deliver stage: pages running an older
//! build of the app are told to reload instead of being sent patches checked against the new
//! one.
//!
//! Owns: the SHA-256 of `app.mainModule`, recomputed only when the file's size or time
//! changes. The pages compute the same digest of the `.wasm` they loaded
//! (`deliver/client/runtime.js`).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

pub struct MainModuleOnDisk {
    path: PathBuf,
    /// (modified, length, hex digest) of the last read.
    seen: Mutex<Option<(SystemTime, u64, String)>>,
}

impl MainModuleOnDisk {
    pub fn new(path: PathBuf) -> Self {
        MainModuleOnDisk { path, seen: Mutex::new(None) }
    }

    /// The hex SHA-256 of the main module now; `None` when it cannot be read (then pages are
    /// not compared, as before the app had a main module setting). The file is read and hashed
    /// on a blocking thread: a large module takes tens of ms, and the sidecar runs on one thread.
    pub async fn sha256(&self) -> Option<String> {
        let meta = std::fs::metadata(&self.path).ok()?;
        let stamp = (meta.modified().ok()?, meta.len());
        if let Some((modified, len, digest)) =
            self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).as_ref()
        {
            if (*modified, *len) == stamp {
                return Some(digest.clone());
            }
        }
        let path = self.path.clone();
        let digest = tokio::task::spawn_blocking(move || digest_of(&path)).await.ok()??;
        *self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((stamp.0, stamp.1, digest.clone()));
        Some(digest)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

fn digest_of(path: &std::path::Path) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => Some(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()),
        Err(e) => {
            tracing::warn!("cannot read the main module {}: {e}", path.display());
            None
        }
    }
}
