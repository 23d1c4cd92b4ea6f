//! The batching committer of the embedded store: group commit across threads.
//!
//! Each transaction commits into the engine's journal buffer without syncing, then
//! calls [`GroupCommit::wait_durable`]. The first waiter to find no sync running
//! becomes the leader: it notes how many commits are written, runs one
//! `persist(SyncAll)` (flush and fsync), and marks all of them durable. Waiters that
//! arrived during that sync are covered by the next one, led by one of them. Under
//! load one fsync thus acknowledges every commit written while the previous fsync ran.
//!
//! Guarantee: `wait_durable` returns `Ok` only after an fsync that began after this
//! commit's bytes were handed to the journal (commit numbers are taken after the
//! engine's commit returns, and a leader syncs only commits numbered before it
//! starts).

use crate::KvError;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
struct State {
    /// Commits handed to the journal, numbered from 1.
    written: u64,
    /// All commits up to this number are durable.
    synced: u64,
    /// A leader is running an fsync.
    syncing: bool,
    /// An fsync failed: the engine is poisoned, and nothing is durable any more.
    failed: bool,
    /// Fsyncs run so far.
    syncs: u64,
}

/// Merges the fsyncs of concurrent commits. See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    synced: Condvar,
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding this lock; recover the state if one did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks until the commit just handed to the journal is durable. `sync` runs one
    /// flush-and-fsync of everything written so far.
    pub(crate) fn wait_durable(
        &self,
        sync: impl Fn() -> Result<(), fjall::Error>,
    ) -> Result<(), KvError> {
        let mut state = self.lock();
        state.written += 1;
        let mine = state.written;
        loop {
            if state.synced >= mine {
                return Ok(());
            }
            if state.failed {
                // Written to the journal, but whether it reached the disk is unknown.
                return Err(KvError::CommitUnknownResult);
            }
            if state.syncing {
                state = self
                    .synced
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.syncing = true;
            let target = state.written;
            drop(state);
            let result = sync();
            state = self.lock();
            state.syncing = false;
            state.syncs += 1;
            match result {
                Ok(()) => state.synced = state.synced.max(target),
                Err(e) => {
                    tracing::error!(error = %e, "namespace journal fsync failed; the store is poisoned");
                    state.failed = true;
                }
            }
            self.synced.notify_all();
        }
    }

    /// (commits made durable through this committer, fsyncs run).
    pub(crate) fn counts(&self) -> (u64, u64) {
        let state = self.lock();
        (state.written, state.syncs)
    }
}
