//! The batching committer of the embedded store: group commit across threads and tasks.
//!
//! A commit is split in two:
//!
//! 1. **Apply** (CPU, on the caller's thread): the engine's commit writes the
//!    transaction into the journal's buffer without syncing, then [`GroupCommit::register`]
//!    numbers it and returns a [`DurabilityTicket`].
//! 2. **Wait** until an fsync that began after the commit was numbered has completed:
//!    [`DurabilityTicket::wait`] blocks a thread, [`DurabilityTicket::wait_async`]
//!    awaits without holding one, so async callers (through [`crate::Db::transact`])
//!    need no blocking thread while the disk works.
//!
//! One dedicated sync thread per store runs `persist(SyncAll)` (flush and fsync) back to
//! back while commits are pending: each fsync covers every commit registered before it
//! began, and commits registered during it are covered by the next one. Under load one
//! fsync thus acknowledges everything written while the previous fsync ran; an idle
//! store's thread sleeps on a condition variable.
//!
//! Gathering: when the previous fsync covered more than one commit (so commits are
//! arriving concurrently), the sync thread first waits up to half the last fsync's
//! duration (20 µs to 1 ms) for as many commits as that fsync covered, so that one
//! fsync covers the commits of every task instead of the first few to arrive. A lone
//! committer never waits: its previous batch was 1. This is PostgreSQL's
//! `commit_delay`, sized by measurement instead of configuration.
//!
//! Guarantees:
//! - A ticket resolves `Ok` only after an fsync that began after its commit's bytes
//!   were handed to the journal: commit numbers are taken after the engine's commit
//!   returns, and the sync thread reads the highest number before it starts an fsync
//!   and marks only commits up to it durable.
//! - A failed fsync poisons the committer for good: the engine may have lost buffered
//!   journal bytes, so no later commit is ever acknowledged; every pending and later
//!   ticket resolves to [`KvError::CommitUnknownResult`].
//! - Dropping the committer runs a last fsync of pending commits, then stops and joins
//!   the thread (before the engine closes, see `EmbeddedStore`).

use crate::KvError;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MIN_GATHER: Duration = Duration::from_micros(20);
const MAX_GATHER: Duration = Duration::from_millis(1);

/// Runs one flush-and-fsync of everything in the journal's buffer.
pub(crate) type SyncFn = Box<dyn FnMut() -> Result<(), fjall::Error> + Send>;

#[derive(Debug, Default)]
struct State {
    /// Commits handed to the journal, numbered from 1.
    written: u64,
    /// All commits up to this number are durable.
    synced: u64,
    /// An fsync failed: the engine is poisoned, and nothing is durable any more.
    failed: bool,
    /// The sync thread is asleep waiting for commits (so registering must wake it).
    idle: bool,
    /// The sync thread is gathering until this many commits are written.
    gathering_for: Option<u64>,
    /// The committer is being dropped: sync what is pending, then exit.
    stop: bool,
    /// Fsyncs run so far.
    syncs: u64,
    /// Commits the last fsync covered.
    last_batch: u64,
    /// How long the sync thread may wait for more commits before its fsync.
    gather: Duration,
}

/// What async waiters watch: (highest durable commit, poisoned).
type Progress = (u64, bool);

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Signalled after each fsync, for blocking waiters.
    synced: Condvar,
    /// Signalled when a commit arrives (the sync thread waits on it).
    arrived: Condvar,
    /// Published after each fsync, for async waiters.
    progress: tokio::sync::watch::Sender<Progress>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding this lock; recover the state if one did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Merges the fsyncs of concurrent commits. See the module documentation.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the sync thread; `sync` flushes and fsyncs the journal.
    pub(crate) fn start(sync: SyncFn) -> Result<Self, KvError> {
        let (progress, _) = tokio::sync::watch::channel((0, false));
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            synced: Condvar::new(),
            arrived: Condvar::new(),
            progress,
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ns-group-commit".into())
            .spawn(move || sync_loop(&thread_shared, sync))
            .map_err(|source| KvError::Io {
                context: "start the namespace group-commit thread",
                source,
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Numbers a commit just handed to the journal (call it after the engine's commit
    /// returns) and returns the ticket that resolves once it is durable.
    pub(crate) fn register(&self) -> DurabilityTicket {
        let mut state = self.shared.lock();
        state.written += 1;
        let seq = state.written;
        let wake = state.idle || state.gathering_for.is_some_and(|want| seq >= want);
        drop(state);
        if wake {
            // The thread sleeps (idle) or gathers until a batch is complete.
            self.shared.arrived.notify_one();
        }
        DurabilityTicket {
            pending: Some((self.shared.clone(), seq)),
        }
    }

    /// (commits registered, fsyncs run).
    pub(crate) fn counts(&self) -> (u64, u64) {
        let state = self.shared.lock();
        (state.written, state.syncs)
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.arrived.notify_one();
        if let Some(thread) = self.thread.take() {
            // The loop never panics by design; if it did, the poison is already logged
            // and waiters see the failed state or time out with the store.
            let _ = thread.join();
        }
    }
}

fn sync_loop(shared: &Shared, mut sync: SyncFn) {
    let mut state = shared.lock();
    loop {
        if state.failed || (state.stop && state.written == state.synced) {
            return;
        }
        if state.written == state.synced {
            state.idle = true;
            state = shared
                .arrived
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.idle = false;
            continue;
        }
        if !state.stop {
            state = gather(shared, state);
        }
        let target = state.written;
        drop(state);
        let started = Instant::now();
        let result = sync();
        let took = started.elapsed();
        state = shared.lock();
        state.syncs += 1;
        state.last_batch = target - state.synced;
        state.gather = (took / 2).clamp(MIN_GATHER, MAX_GATHER);
        match result {
            Ok(()) => state.synced = target,
            Err(e) => {
                tracing::error!(error = %e, "namespace journal fsync failed; the store is poisoned");
                state.failed = true;
            }
        }
        shared.progress.send_replace((state.synced, state.failed));
        shared.synced.notify_all();
    }
}

/// Waits (within the gather window) until as many commits are pending as the last
/// fsync covered.
fn gather<'a>(shared: &'a Shared, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
    if state.last_batch <= 1 {
        return state;
    }
    let want = state.synced + state.last_batch;
    let until = Instant::now() + state.gather;
    state.gathering_for = Some(want);
    while state.written < want && !state.stop {
        let now = Instant::now();
        if now >= until {
            break;
        }
        state = shared
            .arrived
            .wait_timeout(state, until - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    state.gathering_for = None;
    state
}

/// The durability of one commit that is written but maybe not yet synced, returned by
/// [`super::Transaction::commit_deferred`]. Resolve it with [`DurabilityTicket::wait`]
/// (blocking) or [`DurabilityTicket::wait_async`]; until it resolves `Ok` the commit
/// is visible to later transactions but may be lost in a crash.
#[derive(Debug)]
#[must_use = "a commit is durable only once its ticket resolves Ok"]
pub struct DurabilityTicket {
    /// `None`: already durable.
    pending: Option<(Arc<Shared>, u64)>,
}

impl DurabilityTicket {
    /// A ticket for a commit that is durable already (FoundationDB commits, read-only
    /// transactions, stores that do not sync).
    pub fn durable() -> Self {
        Self { pending: None }
    }

    /// Whether the commit is known durable now, without waiting.
    pub fn is_durable(&self) -> bool {
        match &self.pending {
            None => true,
            Some((shared, seq)) => shared.lock().synced >= *seq,
        }
    }

    /// Blocks until the commit is durable. Fails with [`KvError::CommitUnknownResult`]
    /// if an fsync failed before it was covered (it may or may not be on disk).
    pub fn wait(self) -> Result<(), KvError> {
        let Some((shared, seq)) = self.pending else {
            return Ok(());
        };
        let mut state = shared.lock();
        loop {
            if state.synced >= seq {
                return Ok(());
            }
            if state.failed {
                return Err(KvError::CommitUnknownResult);
            }
            state = shared
                .synced
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// [`DurabilityTicket::wait`] for async callers: holds no thread while waiting.
    pub async fn wait_async(self) -> Result<(), KvError> {
        let Some((shared, seq)) = self.pending else {
            return Ok(());
        };
        let mut progress = shared.progress.subscribe();
        let result = progress
            .wait_for(|&(synced, failed)| synced >= seq || failed)
            .await
            .map(|p| *p);
        match result {
            Ok((synced, _)) if synced >= seq => Ok(()),
            Ok(_) => Err(KvError::CommitUnknownResult),
            // The sender lives in `shared`, which we hold: it cannot be dropped.
            Err(_) => Err(KvError::CommitUnknownResult),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn slow_sync(fsyncs: Arc<AtomicU64>) -> SyncFn {
        Box::new(move || {
            fsyncs.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            Ok(())
        })
    }

    #[test]
    fn concurrent_commits_share_fsyncs_and_each_waits_for_one() {
        let fsyncs = Arc::new(AtomicU64::new(0));
        let group = GroupCommit::start(slow_sync(fsyncs.clone())).expect("start");
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    for _ in 0..20 {
                        let before = fsyncs.load(Ordering::SeqCst);
                        group.register().wait().expect("durable");
                        // An fsync began after the commit was registered and finished.
                        assert!(fsyncs.load(Ordering::SeqCst) > before);
                    }
                });
            }
        });
        let (commits, syncs) = group.counts();
        assert_eq!(commits, 320);
        assert_eq!(syncs, fsyncs.load(Ordering::SeqCst));
        assert!(syncs < 160, "{syncs} fsyncs for 320 commits");
    }

    #[test]
    fn a_ticket_resolves_only_after_an_fsync_that_began_after_it() {
        // The sync blocks until the test lets it go, so the test sees the window.
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let (began_tx, began_rx) = std::sync::mpsc::channel::<()>();
        let go_rx = Mutex::new(go_rx);
        let group = GroupCommit::start(Box::new(move || {
            let _ = began_tx.send(());
            let _ = go_rx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .recv_timeout(Duration::from_secs(10));
            Ok(())
        }))
        .expect("start");
        let first = group.register();
        began_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("fsync 1 began");
        // Registered while fsync 1 runs: fsync 1 must not acknowledge it.
        let second = group.register();
        go_tx.send(()).expect("release fsync 1");
        first.wait().expect("first durable");
        assert!(
            !second.is_durable(),
            "covered by an fsync that began before it"
        );
        began_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("fsync 2 began");
        go_tx.send(()).expect("release fsync 2");
        second.wait().expect("second durable");
    }

    #[test]
    fn a_failed_fsync_makes_the_result_unknown_for_good() {
        let group = GroupCommit::start(Box::new(|| Err(fjall::Error::Poisoned))).expect("start");
        let err = group.register().wait().expect_err("fsync failed");
        assert!(matches!(err, KvError::CommitUnknownResult));
        assert!(group.register().wait().is_err(), "poisoned stays poisoned");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_waiters_hold_no_thread_and_each_sees_durability() {
        let fsyncs = Arc::new(AtomicU64::new(0));
        let group = Arc::new(GroupCommit::start(slow_sync(fsyncs.clone())).expect("start"));
        // 200 waiters on 2 worker threads: they could not all block a thread each.
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let group = group.clone();
                let fsyncs = fsyncs.clone();
                tokio::spawn(async move {
                    let before = fsyncs.load(Ordering::SeqCst);
                    let ticket = group.register();
                    tokio::time::timeout(Duration::from_secs(10), ticket.wait_async())
                        .await
                        .expect("in time")
                        .expect("durable");
                    assert!(fsyncs.load(Ordering::SeqCst) > before);
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        let (commits, syncs) = group.counts();
        assert_eq!(commits, 200);
        assert!(syncs < 100, "{syncs} fsyncs for 200 commits");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_waiters_see_a_failed_fsync_as_unknown() {
        let group = GroupCommit::start(Box::new(|| Err(fjall::Error::Poisoned))).expect("start");
        let tickets: Vec<_> = (0..8).map(|_| group.register()).collect();
        for ticket in tickets {
            let err = tokio::time::timeout(Duration::from_secs(10), ticket.wait_async())
                .await
                .expect("in time")
                .expect_err("fsync failed");
            assert!(matches!(err, KvError::CommitUnknownResult));
        }
    }

    #[test]
    fn drop_syncs_pending_commits_first() {
        let fsyncs = Arc::new(AtomicU64::new(0));
        let group = GroupCommit::start(slow_sync(fsyncs.clone())).expect("start");
        let tickets: Vec<_> = (0..10).map(|_| group.register()).collect();
        drop(group);
        for ticket in tickets {
            assert!(ticket.is_durable());
        }
        assert!(fsyncs.load(Ordering::SeqCst) >= 1);
    }
}
