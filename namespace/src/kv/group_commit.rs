//! The batching committer of the embedded store: group commit across threads.
//!
//! Each transaction commits into the engine's journal buffer without syncing, then
//! calls [`GroupCommit::wait_durable`]. The first waiter to find no sync running
//! becomes the leader: it notes how many commits are written, runs one
//! `persist(SyncAll)` (flush and fsync), and marks all of them durable. Waiters that
//! arrived during that sync are covered by the next one, led by one of them. Under
//! load one fsync thus acknowledges every commit written while the previous fsync ran.
//!
//! Gathering: when the previous fsync covered more than one commit (so commits are
//! arriving concurrently), a new leader first waits up to half the last fsync's
//! duration (20 µs to 1 ms) for as many commits as that fsync covered, so that one
//! fsync covers the commits of every task instead of the first few to arrive. A lone
//! committer never waits: its previous batch was 1. This is PostgreSQL's
//! `commit_delay`, sized by measurement instead of configuration.
//!
//! Guarantee: `wait_durable` returns `Ok` only after an fsync that began after this
//! commit's bytes were handed to the journal (commit numbers are taken after the
//! engine's commit returns, and a leader syncs only commits numbered before it
//! starts).

use crate::KvError;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

const MIN_GATHER: Duration = Duration::from_micros(20);
const MAX_GATHER: Duration = Duration::from_millis(1);

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
    /// Commits the last fsync covered.
    last_batch: u64,
    /// How long a leader may wait for more commits before its fsync.
    gather: Duration,
}

/// Merges the fsyncs of concurrent commits. See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    synced: Condvar,
    arrived: Condvar,
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
        if state.syncing {
            self.arrived.notify_one(); // a gathering leader may be waiting for us
        }
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
            state = self.gather(state);
            let target = state.written;
            drop(state);
            let started = Instant::now();
            let result = sync();
            let took = started.elapsed();
            state = self.lock();
            state.syncing = false;
            state.syncs += 1;
            state.last_batch = target - state.synced;
            state.gather = (took / 2).clamp(MIN_GATHER, MAX_GATHER);
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

    /// As leader, waits (within the gather window) until as many commits are pending
    /// as the last fsync covered.
    fn gather<'a>(&'a self, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        if state.last_batch <= 1 {
            return state;
        }
        let want = state.synced + state.last_batch;
        let until = Instant::now() + state.gather;
        while state.written < want {
            let now = Instant::now();
            if now >= until {
                break;
            }
            state = self
                .arrived
                .wait_timeout(state, until - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state
    }

    /// (commits made durable through this committer, fsyncs run).
    pub(crate) fn counts(&self) -> (u64, u64) {
        let state = self.lock();
        (state.written, state.syncs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn concurrent_commits_share_fsyncs_and_each_waits_for_one() {
        let group = GroupCommit::default();
        let fsyncs = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    for _ in 0..20 {
                        group
                            .wait_durable(|| {
                                fsyncs.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(Duration::from_millis(2));
                                Ok(())
                            })
                            .expect("durable");
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
    fn a_failed_fsync_makes_the_result_unknown_for_good() {
        let group = GroupCommit::default();
        let err = group
            .wait_durable(|| Err(fjall::Error::Poisoned))
            .expect_err("fsync failed");
        assert!(matches!(err, KvError::CommitUnknownResult));
        assert!(
            group.wait_durable(|| Ok(())).is_err(),
            "poisoned stays poisoned"
        );
    }
}
