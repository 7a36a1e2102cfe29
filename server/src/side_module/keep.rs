//! Writes what builds keep on disk (the generated C++ that diagnostics point at, the module
//! cache's entries) on a thread of its own, after the patch has its module: on a disk file
//! system each new file costs the kernel an inode allocation (on ext4 without a journal, a scan
//! past every inode freed in the last seconds), and a save that re-patches 20 forms kept about
//! 60 files on the patch's path (0.2–0.4 ms each under strace; the macro row's build went from
//! ~35 to ~19 ms once they were written here).
//!
//! A job waits while a patch is on its way (`PatchesInFlight`, when the builder was given one):
//! the patch's own files are written once its report is ready, and while no later patch is
//! being made.
//!
//! Owns: that thread and its queue, in order. Must not know what the jobs write, nor be
//! needed for a build to succeed: a job that fails logs, the patch has gone on already.

use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::stages::PatchesInFlight;

type Job = Box<dyn FnOnce() + Send>;

/// The longest a job waits for patches on their way: a page that does not answer keeps its
/// batch open for the whole ack timeout, and the cache's entries are held in memory until
/// written.
const WAIT_FOR_PATCHES_AT_MOST: Duration = Duration::from_secs(1);

pub(crate) struct Keeper {
    queue: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    patches: Arc<OnceLock<PatchesInFlight>>,
}

impl Keeper {
    /// Starts the thread; without one (the system refused it) jobs run where they are given.
    pub(crate) fn new() -> Keeper {
        let (queue, jobs) = mpsc::channel::<Job>();
        let patches = Arc::new(OnceLock::<PatchesInFlight>::new());
        let waits_for = patches.clone();
        let started = std::thread::Builder::new().name("jank-hotpatch-keep".into()).spawn(move || {
            yield_to_patches();
            for job in jobs {
                if let Some(patches) = waits_for.get() {
                    patches.wait_until_none(WAIT_FOR_PATCHES_AT_MOST);
                }
                job();
            }
        });
        match started {
            Ok(thread) => Keeper { queue: Some(queue), thread: Some(thread), patches },
            Err(e) => {
                tracing::warn!("cannot start the thread that keeps build files ({e}); builds write them themselves");
                Keeper { queue: None, thread: None, patches }
            }
        }
    }

    /// From now on, each job waits until no patch is on its way (see the module's header).
    pub(crate) fn wait_for(&self, patches: PatchesInFlight) {
        let _ = self.patches.set(patches);
    }

    /// Runs `job` after the jobs given before it, on the keeper's thread.
    pub(crate) fn later(&self, job: impl FnOnce() + Send + 'static) {
        let job: Job = Box::new(job);
        match &self.queue {
            Some(queue) => {
                if let Err(mpsc::SendError(job)) = queue.send(job) {
                    job();
                }
            }
            None => job(),
        }
    }

    /// Returns once every job given before it has run.
    pub(crate) fn flush(&self) {
        let (done, finished) = mpsc::channel();
        self.later(move || {
            let _ = done.send(());
        });
        let _ = finished.recv();
    }
}

/// Lowers this thread's priority as far as it goes: its writes run while the patch is
/// delivered and loaded, and on a machine of few cores must not take their time.
fn yield_to_patches() {
    // SAFETY: setpriority reads no memory of ours; on Linux, `who` 0 with PRIO_PROCESS is the
    // calling thread alone. Failing leaves the thread at its priority, which only costs time.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

impl Drop for Keeper {
    /// What was given is written before the builder goes (the sidecar's exit included).
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn jobs_run_in_order_and_flush_waits_for_them() {
        let keeper = Keeper::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        for i in 0..100 {
            let seen = seen.clone();
            keeper.later(move || seen.lock().unwrap().push(i));
        }
        keeper.flush();
        assert_eq!(*seen.lock().unwrap(), (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn a_job_given_while_a_patch_is_on_its_way_runs_once_it_arrived() {
        let keeper = Keeper::new();
        let patches = PatchesInFlight::default();
        keeper.wait_for(patches.clone());
        let on_its_way = patches.start();
        let (ran, seen) = std::sync::mpsc::channel();
        let watching = patches.clone();
        keeper.later(move || ran.send(watching.any()).unwrap());
        drop(on_its_way);
        assert!(!seen.recv().unwrap(), "the job ran while the patch was on its way");
    }

    #[test]
    fn dropping_the_keeper_runs_what_was_given() {
        let seen = Arc::new(Mutex::new(0));
        {
            let keeper = Keeper::new();
            for _ in 0..10 {
                let seen = seen.clone();
                keeper.later(move || *seen.lock().unwrap() += 1);
            }
        }
        assert_eq!(*seen.lock().unwrap(), 10);
    }
}
