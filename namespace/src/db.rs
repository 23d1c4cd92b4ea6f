//! [`Db`]: a handle on a [`KvStore`] that runs closures as transactions, retrying them
//! on conflict within a bound on attempts and time.
//!
//! Two paths share one retry decision ([`Retries`]):
//! - [`Db::run`] (sync) runs begin → body → commit on the calling thread, blocking on
//!   the commit's fsync.
//! - [`Db::transact`] (async) runs begin → body → [`Transaction::commit_deferred`] on
//!   tokio's blocking pool, at most [`Db::with_concurrency`] attempts at once (the CPU
//!   part: more than a small multiple of the cores only thrashes them), then awaits the
//!   commit's durability without holding a thread. Many concurrent tasks thus wait for
//!   one shared fsync as futures instead of as parked threads.

use crate::kv::{KeyRange, KeyValue, KvStore, RangeOptions, Transaction};
use crate::{KvError, TxError};
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How [`Db::run`] retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most attempts before [`KvError::RetryLimitReached`].
    pub max_attempts: u32,
    /// Time budget of all attempts together, after which [`KvError::TimedOut`].
    pub timeout: Duration,
    /// Backoff before the first retry; it doubles on each retry, with jitter.
    pub initial_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 100,
            timeout: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(200),
        }
    }
}

/// What a transaction closure knows about the attempt it runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 0 for the first attempt.
    pub number: u32,
    /// A previous attempt ended in [`KvError::CommitUnknownResult`], so its writes may
    /// have been applied. The closure must then accept finding its own writes (see
    /// `docs/namespace.md`, "Idempotence").
    pub maybe_committed: bool,
}

/// A cheap-to-clone handle on a store.
#[derive(Clone)]
pub struct Db {
    store: Arc<dyn KvStore>,
    policy: RetryPolicy,
    /// Bounds the attempts of [`Db::transact`] running their CPU part at once; shared
    /// by the clones of this handle.
    cpu: Arc<Semaphore>,
}

/// Default bound of [`Db::transact`] attempts running at once, per core.
const ATTEMPTS_PER_CORE: usize = 2;

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.store.backend_name())
            .field("policy", &self.policy)
            .finish()
    }
}

impl Db {
    /// A handle with the default [`RetryPolicy`].
    pub fn new(store: Arc<dyn KvStore>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            store,
            policy: RetryPolicy::default(),
            cpu: Arc::new(Semaphore::new((cores * ATTEMPTS_PER_CORE).max(2))),
        }
    }

    /// The same store with at most `attempts` (at least 1) [`Db::transact`] attempts
    /// running their body and commit at once (default: 2 per core). Tasks beyond it
    /// queue as futures; commits waiting for their fsync do not count. This handle and
    /// its later clones share the new bound.
    pub fn with_concurrency(mut self, attempts: usize) -> Self {
        self.cpu = Arc::new(Semaphore::new(attempts.max(1)));
        self
    }

    /// The same store with another retry policy.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The store behind this handle.
    pub fn store(&self) -> &Arc<dyn KvStore> {
        &self.store
    }

    /// Runs `body` in a transaction and commits it, retrying the whole of it on a
    /// retryable error ([`KvError::is_retryable`]) until it commits, `body` returns a
    /// non-retryable error, or the policy's attempts or time run out.
    ///
    /// This blocks the calling thread (on I/O and on backoff sleeps); from async code
    /// use [`Db::transact`].
    pub fn run<T, E, F>(&self, mut body: F) -> Result<T, E>
    where
        E: TxError,
        F: FnMut(&mut dyn Transaction, Attempt) -> Result<T, E>,
    {
        let mut retries = Retries::new(self.policy);
        loop {
            let error = match self.attempt_once(&mut body, retries.attempt) {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            std::thread::sleep(retries.after_error(error)?);
        }
    }

    /// [`Db::run`] for async callers, with the same retries and results.
    ///
    /// Each attempt's body and commit run on tokio's blocking pool (at most
    /// [`Db::with_concurrency`] at once); the wait for the commit's fsync is awaited
    /// without holding a thread ([`crate::kv::DurabilityTicket::wait_async`]). The
    /// result is returned only once the commit is durable; an fsync failure is
    /// [`KvError::CommitUnknownResult`], retried with `maybe_committed` set, as in
    /// [`Db::run`].
    pub async fn transact<T, E, F>(&self, mut body: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: TxError + Send + 'static,
        F: FnMut(&mut dyn Transaction, Attempt) -> Result<T, E> + Send + 'static,
    {
        let mut retries = Retries::new(self.policy);
        loop {
            let (returned, result) = self.attempt_async(body, retries.attempt).await;
            body = returned;
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            tokio::time::sleep(retries.after_error(error)?).await;
        }
    }

    /// One attempt of [`Db::transact`]: hands the body back for the next attempt.
    async fn attempt_async<T, E, F>(&self, body: F, attempt: Attempt) -> (F, Result<T, E>)
    where
        T: Send + 'static,
        E: TxError + Send + 'static,
        F: FnMut(&mut dyn Transaction, Attempt) -> Result<T, E> + Send + 'static,
    {
        // The semaphore is never closed, so this is always Some; the permit moves into
        // the blocking closure so that the bound holds even if this future is dropped.
        let permit = self.cpu.clone().acquire_owned().await.ok();
        let store = self.store.clone();
        let applied = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut body = body;
            let applied = (|| {
                let mut tx = store.begin()?;
                let value = body(&mut *tx, attempt)?;
                let ticket = tx.commit_deferred()?;
                Ok::<_, E>((value, ticket))
            })();
            (body, applied)
        })
        .await;
        let (body, applied) = match applied {
            Ok(done) => done,
            // The closure panicked: a bug in our own code, not an input error.
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        };
        let result = match applied {
            Ok((value, ticket)) => match ticket.wait_async().await {
                Ok(()) => Ok(value),
                Err(e) => Err(E::from(e)),
            },
            Err(e) => Err(e),
        };
        (body, result)
    }

    /// Visits the pairs of `range` in key order until `visit` returns `false`, reading
    /// `page_size` pairs per transaction, so that scans of any length stay within one
    /// transaction's limits (5 s on FoundationDB).
    ///
    /// Each page is its own snapshot: a key written during the scan may be seen in its
    /// old or new state. Good for admin listings and sweeps; invariants that need one
    /// snapshot must fit in one transaction.
    pub fn scan(
        &self,
        range: &KeyRange,
        page_size: usize,
        mut visit: impl FnMut(&KeyValue) -> bool,
    ) -> Result<(), KvError> {
        let mut rest = range.clone();
        let page_size = page_size.max(1);
        loop {
            let chunk = self.run(|tx, _| tx.get_range(&rest, RangeOptions::forward(page_size)))?;
            for kv in &chunk.kvs {
                if !visit(kv) {
                    return Ok(());
                }
            }
            match chunk.continuation(&rest, false) {
                Some(next) => rest = next,
                None => return Ok(()),
            }
        }
    }

    fn attempt_once<T, E, F>(&self, body: &mut F, attempt: Attempt) -> Result<T, E>
    where
        E: TxError,
        F: FnMut(&mut dyn Transaction, Attempt) -> Result<T, E>,
    {
        let mut tx = self.store.begin()?;
        let value = body(&mut *tx, attempt)?;
        tx.commit()?;
        Ok(value)
    }
}

/// The retry decision of one [`Db::run`] or [`Db::transact`] call: which errors are
/// retried, how often, for how long, and the backoff between attempts.
struct Retries {
    policy: RetryPolicy,
    started: Instant,
    /// The attempt to run next.
    attempt: Attempt,
}

impl Retries {
    fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            started: Instant::now(),
            attempt: Attempt {
                number: 0,
                maybe_committed: false,
            },
        }
    }

    /// After a failed attempt: the backoff to sleep before the next attempt, or the
    /// error to return (not retryable, or attempts or time used up).
    fn after_error<E: TxError>(&mut self, error: E) -> Result<Duration, E> {
        let Some(kv) = error.as_kv().filter(|kv| kv.is_retryable()) else {
            return Err(error);
        };
        if matches!(kv, KvError::CommitUnknownResult) {
            self.attempt.maybe_committed = true;
        }
        let attempts = self.attempt.number + 1;
        if attempts >= self.policy.max_attempts {
            let last = Box::new(clone_retryable(kv));
            return Err(KvError::RetryLimitReached { attempts, last }.into());
        }
        let backoff = self.backoff(self.attempt.number);
        let elapsed = self.started.elapsed();
        if elapsed + backoff >= self.policy.timeout {
            let last = Box::new(clone_retryable(kv));
            let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
            return Err(KvError::TimedOut {
                elapsed_ms,
                attempts,
                last,
            }
            .into());
        }
        tracing::debug!(attempt = attempts, error = %kv, "retrying transaction");
        self.attempt.number = attempts;
        Ok(backoff)
    }

    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .policy
            .initial_backoff
            .saturating_mul(1u32 << retry.min(16))
            .min(self.policy.max_backoff);
        // Full jitter: spreads retries of transactions that conflicted together.
        let nanos = u64::try_from(exp.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }
}

/// Copies a retryable error (they hold no sources) for the "last error" of a give-up.
fn clone_retryable(e: &KvError) -> KvError {
    match e {
        KvError::Conflict => KvError::Conflict,
        KvError::CommitUnknownResult => KvError::CommitUnknownResult,
        KvError::TransactionTooOld { max_age_ms } => KvError::TransactionTooOld {
            max_age_ms: *max_age_ms,
        },
        KvError::Transient { code, message } => KvError::Transient {
            code: *code,
            message: message.clone(),
        },
        other => KvError::Transient {
            code: -1,
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{EmbeddedOptions, EmbeddedStore};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

    /// A real embedded store whose fsyncs are counted, and failed while `fail` is set.
    fn store_with_fsyncs(
        dir: &std::path::Path,
        fsyncs: Arc<AtomicU64>,
        fail: Arc<AtomicBool>,
    ) -> Arc<EmbeddedStore> {
        let store =
            EmbeddedStore::open_with_sync_hook(dir, EmbeddedOptions::default(), |mut sync| {
                Box::new(move || {
                    if fail.load(Ordering::SeqCst) {
                        return Err(fjall::Error::Poisoned);
                    }
                    let result = sync();
                    fsyncs.fetch_add(1, Ordering::SeqCst);
                    result
                })
            })
            .expect("open");
        Arc::new(store)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transact_from_64_tasks_is_durable_per_commit_and_shares_fsyncs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fsyncs = Arc::new(AtomicU64::new(0));
        let store = store_with_fsyncs(dir.path(), fsyncs.clone(), Arc::default());
        let db = Db::new(store.clone());
        let tasks: Vec<_> = (0..64u32)
            .map(|t| {
                let db = db.clone();
                let fsyncs = fsyncs.clone();
                tokio::spawn(async move {
                    for i in 0..5u32 {
                        let before = fsyncs.load(Ordering::SeqCst);
                        let key = format!("k/{t:02}/{i}").into_bytes();
                        db.transact(move |tx, _| tx.set(&key, b"v"))
                            .await
                            .expect("commit");
                        // Acknowledged only after an fsync that completed since.
                        assert!(fsyncs.load(Ordering::SeqCst) > before);
                    }
                })
            })
            .collect();
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("in time")
                .expect("task");
        }
        let stats = store.commit_stats();
        assert_eq!(stats.durable_commits, 320);
        assert!(stats.fsyncs < 320, "{stats:?}");
        drop(db);
        drop(store);
        let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).expect("reopen");
        let db = Db::new(Arc::new(store));
        let all = db
            .run(|tx, _| tx.get_range(&KeyRange::prefix(b"k/"), RangeOptions::forward(0)))
            .expect("read");
        assert_eq!(all.kvs.len(), 320);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_fsync_failure_is_an_unknown_result_on_both_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fail = Arc::new(AtomicBool::new(true));
        let store = store_with_fsyncs(dir.path(), Arc::default(), fail);
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let db = Db::new(store).with_policy(policy);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let err = db
            .transact(move |tx, attempt| {
                record.lock().expect("lock").push(attempt.maybe_committed);
                tx.set(b"k", b"v")
            })
            .await
            .expect_err("fsync fails");
        match err {
            KvError::RetryLimitReached { attempts: 3, last } => {
                assert!(matches!(*last, KvError::CommitUnknownResult), "{last}");
            }
            other => panic!("unexpected {other}"),
        }
        assert_eq!(*seen.lock().expect("lock"), vec![false, true, true]);
        let sync_db = db.clone();
        let err = tokio::task::spawn_blocking(move || sync_db.run(|tx, _| tx.set(b"k", b"v")))
            .await
            .expect("join")
            .expect_err("poisoned for good");
        assert!(
            matches!(&err, KvError::RetryLimitReached { last, .. } if matches!(**last, KvError::CommitUnknownResult)),
            "{err}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transact_bounds_attempts_running_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_fsyncs(dir.path(), Arc::default(), Arc::default());
        let db = Db::new(store).with_concurrency(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16u32)
            .map(|t| {
                let db = db.clone();
                let (running, peak) = (running.clone(), peak.clone());
                tokio::spawn(async move {
                    db.transact(move |tx, _| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        running.fetch_sub(1, Ordering::SeqCst);
                        tx.set(&t.to_be_bytes(), b"v")
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task").expect("commit");
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "peak {peak}");
    }
}
