//! A fault-injecting wrapper around any [`KvStore`]: commits that conflict, and commits
//! whose result is unknown (applied or not). Typed stores are tested under it to show
//! that their transactions are idempotent, as FoundationDB requires.

use super::{DurabilityTicket, KeyRange, KvStore, RangeChunk, RangeOptions, Transaction};
use crate::KvError;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Mutex, PoisonError};

/// Probabilities of each injected commit fault, from 0.0 to 1.0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultConfig {
    /// Seed of the fault schedule; the same seed gives the same faults in a
    /// single-threaded test.
    pub seed: u64,
    /// Drop the writes and report [`KvError::Conflict`].
    pub conflict: f64,
    /// Drop the writes and report [`KvError::CommitUnknownResult`].
    pub unknown_not_applied: f64,
    /// Apply the writes and report [`KvError::CommitUnknownResult`].
    pub unknown_applied: f64,
}

/// A store that injects commit faults into the store it wraps.
pub struct FaultyStore {
    inner: Arc<dyn KvStore>,
    config: FaultConfig,
    rng: Arc<Mutex<StdRng>>,
}

impl std::fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FaultyStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn KvStore>, config: FaultConfig) -> Self {
        Self {
            inner,
            config,
            rng: Arc::new(Mutex::new(StdRng::seed_from_u64(config.seed))),
        }
    }
}

impl KvStore for FaultyStore {
    fn begin(&self) -> Result<Box<dyn Transaction + '_>, KvError> {
        Ok(Box::new(FaultyTx {
            inner: self.inner.begin()?,
            store: self,
        }))
    }

    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }
}

struct FaultyTx<'a> {
    inner: Box<dyn Transaction + 'a>,
    store: &'a FaultyStore,
}

enum Fault {
    None,
    Conflict,
    UnknownNotApplied,
    UnknownApplied,
}

impl FaultyTx<'_> {
    fn draw(&self) -> Fault {
        let roll: f64 = self
            .store
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .random();
        let c = &self.store.config;
        if roll < c.conflict {
            Fault::Conflict
        } else if roll < c.conflict + c.unknown_not_applied {
            Fault::UnknownNotApplied
        } else if roll < c.conflict + c.unknown_not_applied + c.unknown_applied {
            Fault::UnknownApplied
        } else {
            Fault::None
        }
    }
}

impl Transaction for FaultyTx<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        self.inner.get(key)
    }

    fn get_range(&mut self, range: &KeyRange, opts: RangeOptions) -> Result<RangeChunk, KvError> {
        self.inner.get_range(range, opts)
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.inner.set(key, value)
    }

    fn clear(&mut self, key: &[u8]) -> Result<(), KvError> {
        self.inner.clear(key)
    }

    fn clear_range(&mut self, range: &KeyRange) -> Result<(), KvError> {
        self.inner.clear_range(range)
    }

    fn atomic_add(&mut self, key: &[u8], delta: i64) -> Result<(), KvError> {
        self.inner.atomic_add(key, delta)
    }

    fn commit(self: Box<Self>) -> Result<(), KvError> {
        self.commit_deferred()?.wait()
    }

    fn commit_deferred(self: Box<Self>) -> Result<DurabilityTicket, KvError> {
        match self.draw() {
            Fault::None => self.inner.commit_deferred(),
            Fault::Conflict => Err(KvError::Conflict),
            Fault::UnknownNotApplied => Err(KvError::CommitUnknownResult),
            Fault::UnknownApplied => {
                self.inner.commit()?;
                Err(KvError::CommitUnknownResult)
            }
        }
    }
}
