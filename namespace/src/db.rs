//! [`Db`]: a handle on a [`KvStore`] that runs closures as transactions, retrying them
//! on conflict within a bound on attempts and time.

use crate::kv::{KeyRange, KeyValue, KvStore, RangeOptions, Transaction};
use crate::{KvError, TxError};
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
}

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
        Self {
            store,
            policy: RetryPolicy::default(),
        }
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
        let started = Instant::now();
        let mut attempt = Attempt {
            number: 0,
            maybe_committed: false,
        };
        loop {
            let error = match self.attempt_once(&mut body, attempt) {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let Some(kv) = error.as_kv().filter(|kv| kv.is_retryable()) else {
                return Err(error);
            };
            if matches!(kv, KvError::CommitUnknownResult) {
                attempt.maybe_committed = true;
            }
            let attempts = attempt.number + 1;
            if attempts >= self.policy.max_attempts {
                let last = Box::new(clone_retryable(kv));
                return Err(KvError::RetryLimitReached { attempts, last }.into());
            }
            let backoff = self.backoff(attempt.number);
            let elapsed = started.elapsed();
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
            std::thread::sleep(backoff);
            attempt.number = attempts;
        }
    }

    /// [`Db::run`] on tokio's blocking thread pool, for async callers.
    pub async fn transact<T, E, F>(&self, body: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: TxError + Send + 'static,
        F: FnMut(&mut dyn Transaction, Attempt) -> Result<T, E> + Send + 'static,
    {
        let db = self.clone();
        match tokio::task::spawn_blocking(move || db.run(body)).await {
            Ok(result) => result,
            // The closure panicked: a bug in our own code, not an input error.
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
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
