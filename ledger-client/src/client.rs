//! [`LedgerClient`]: the entry point that ties the sans-IO cores to real bookies (over
//! [`BookiePool`]) and to ledger metadata in the namespace.
//!
//! - [`LedgerClient::create`] allocates an id, places an ensemble, records OPEN
//!   metadata and returns a [`LedgerWriter`];
//! - [`LedgerClient::open`] returns a [`LedgerReader`], after recovering the ledger
//!   first with [`OpenMode::Recover`];
//! - [`LedgerClient::delete`] drops the ledger from its bookies, then its metadata.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use folio_namespace::bookies::{self, BookieRecord, BookieState};
use folio_namespace::ids::{IdAllocator, LEDGER_IDS};
use folio_namespace::ledgers::{self, DigestType, EnsembleSegment, LedgerMetadata, LedgerState};
use folio_namespace::{Db, NsError, OpId};
use folio_proto::{
    BookieInfoResponse, DeleteLedger, MasterKey, Request, Response, ScrubReportResponse, Status,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::BookieId;
use crate::bookie_client::{BookiePool, ClientError};
use crate::metrics::LedgerMetrics;
use crate::placement::{Candidate, NotEnoughBookies, PlacementPolicy};
use crate::quorum::{InvalidQuorum, QuorumConfig};
use crate::read_handle::LedgerReader;
use crate::reader::ReadError;
use crate::recovery::{RecoveryError, Segment};
use crate::write_handle::LedgerWriter;
use crate::writer::{WriteError, WriterConfig};

/// Settings of a [`LedgerClient`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// E, Qw and Qa of new ledgers.
    pub quorum: QuorumConfig,
    /// The write path's window, timeouts and limits.
    pub writer: WriterConfig,
    /// Timeout of one request to one bookie.
    pub request_timeout: Duration,
    /// Timeout of dialling a bookie.
    pub connect_timeout: Duration,
    /// How long a read waits on one replica before also asking the next.
    pub speculative_read_delay: Duration,
    /// How ensembles are chosen.
    pub placement: PlacementPolicy,
    /// Proves to bookies that requests come from this cluster's clients.
    pub master_key: MasterKey,
    /// How many entries a range read keeps in flight.
    pub read_ahead_entries: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            quorum: QuorumConfig::STANDALONE,
            writer: WriterConfig::default(),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            speculative_read_delay: Duration::from_millis(100),
            placement: PlacementPolicy::Random,
            master_key: MasterKey::empty(),
            read_ahead_entries: 8,
        }
    }
}

/// Where the client learns which bookies exist.
#[derive(Clone, Debug)]
pub enum BookieSource {
    /// The registry in the namespace: bookies that heartbeat as read-write.
    Registry,
    /// A fixed list (a gateway started with `--bookies`, or tests).
    Static(Vec<Candidate>),
}

/// How [`LedgerClient::open`] treats a ledger that is not closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Fence and close it first (its writer, if alive, is stopped).
    Recover,
    /// Read up to the LAC the bookies report, leaving the writer alone.
    NoRecover,
}

/// What went wrong in a ledger operation.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// E, Qw, Qa are inconsistent.
    #[error(transparent)]
    InvalidQuorum(#[from] InvalidQuorum),
    /// Placement could not find enough writable bookies.
    #[error(transparent)]
    NotEnoughBookies(#[from] NotEnoughBookies),
    /// The namespace failed.
    #[error("namespace: {0}")]
    Namespace(#[from] NsError),
    /// No such ledger.
    #[error("ledger {0} does not exist")]
    NoSuchLedger(u64),
    /// The write path stopped.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Recovery could not close the ledger.
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    /// A read failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A bookie could not be reached.
    #[error(transparent)]
    Bookie(#[from] ClientError),
    /// A bookie answered with an error status.
    #[error("bookie {bookie} answered {status}")]
    Status {
        /// The bookie.
        bookie: BookieId,
        /// Its answer.
        status: Status,
    },
    /// The ledger was recovered (fenced and closed) by another client while this one
    /// wrote to it.
    #[error("ledger {0} was recovered by another client")]
    RecoveredByOther(u64),
    /// A range read asked for entries past the last readable one.
    #[error("ledger {ledger_id}: entries {first}..={last} requested, last readable entry is {lac}")]
    BeyondLac {
        /// The ledger.
        ledger_id: u64,
        /// First entry asked for.
        first: u64,
        /// Last entry asked for.
        last: u64,
        /// The LAC.
        lac: i64,
    },
}

/// A summary of a closed ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClosedLedger {
    /// The ledger.
    pub ledger_id: u64,
    /// Its last entry (−1 if empty).
    pub last_entry_id: i64,
    /// Its length in bytes.
    pub length: u64,
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) pool: BookiePool,
    pub(crate) ids: IdAllocator,
    pub(crate) config: ClientConfig,
    pub(crate) source: BookieSource,
    pub(crate) epoch: Instant,
    pub(crate) metrics: LedgerMetrics,
    /// The registry as last read for a static list, and when ([`REGISTRY_TTL`]).
    registry: Mutex<Option<(Instant, Registry)>>,
}

/// The bookie registry's records, by id.
type Registry = Arc<Vec<(String, BookieRecord)>>;

/// How long a static-list client reuses its read of the registry when placing.
const REGISTRY_TTL: Duration = Duration::from_secs(1);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded value is a cache: one left by a panicking thread is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    /// Milliseconds on the client's monotonic clock, as the cores count time.
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The writable bookies placement may choose from.
    pub(crate) async fn candidates(&self) -> Result<Vec<Candidate>, LedgerError> {
        match &self.source {
            BookieSource::Static(list) => {
                // The registry, when something (the gateway's prober) keeps it, says
                // which of the configured bookies are decommissioned (never placed
                // on) and which are down or read-only (avoided while enough others
                // are writable, so a new ledger does not start with an ensemble
                // change). Unregistered bookies are taken as writable.
                let records = self.registry().await?;
                let now = unix_ms();
                let state = |c: &Candidate| {
                    records
                        .iter()
                        .find(|(id, r)| id == c.id.as_str() || r.address == c.id.as_str())
                        .map(|(_, r)| r.effective_state(now))
                };
                let usable: Vec<Candidate> = list
                    .iter()
                    .filter(|c| state(c) != Some(BookieState::Decommissioned))
                    .cloned()
                    .collect();
                let writable: Vec<Candidate> = usable
                    .iter()
                    .filter(|c| matches!(state(c), None | Some(BookieState::ReadWrite)))
                    .cloned()
                    .collect();
                let ensemble = self.config.quorum.ensemble_size();
                Ok(if writable.len() >= ensemble {
                    writable
                } else {
                    usable
                })
            }
            BookieSource::Registry => {
                let now = unix_ms();
                let records = self.db.transact(|tx, _| bookies::list(tx)).await?;
                Ok(records
                    .into_iter()
                    .filter(|(_, r)| r.effective_state(now) == BookieState::ReadWrite)
                    .map(|(_, r)| Candidate {
                        id: BookieId::new(r.address),
                        rack: r.rack,
                    })
                    .collect())
            }
        }
    }

    /// The bookie registry, read at most once per [`REGISTRY_TTL`].
    async fn registry(&self) -> Result<Registry, LedgerError> {
        if let Some((at, records)) = lock(&self.registry).as_ref()
            && at.elapsed() < REGISTRY_TTL
        {
            return Ok(records.clone());
        }
        let records = Arc::new(self.db.transact(|tx, _| bookies::list(tx)).await?);
        *lock(&self.registry) = Some((Instant::now(), records.clone()));
        Ok(records)
    }

    pub(crate) async fn metadata(
        &self,
        ledger_id: u64,
    ) -> Result<(LedgerMetadata, u64), LedgerError> {
        let found = self
            .db
            .transact(move |tx, _| ledgers::get(tx, ledger_id))
            .await?;
        let versioned = found.ok_or(LedgerError::NoSuchLedger(ledger_id))?;
        Ok((versioned.value, versioned.version))
    }

    /// Compare-and-sets `meta` over `version`; returns the new version.
    pub(crate) async fn put_metadata(
        &self,
        ledger_id: u64,
        version: u64,
        meta: LedgerMetadata,
    ) -> Result<u64, LedgerError> {
        let op = OpId::random();
        Ok(self
            .db
            .transact(move |tx, _| ledgers::compare_and_set(tx, ledger_id, version, &meta, op))
            .await?)
    }
}

/// The ledger client. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct LedgerClient {
    inner: Arc<Inner>,
}

impl LedgerClient {
    /// A client over the namespace `db`, finding bookies through `source`.
    pub fn new(db: Db, source: BookieSource, config: ClientConfig) -> LedgerClient {
        let pool = BookiePool::new(config.connect_timeout);
        let ids = IdAllocator::new(db.clone(), LEDGER_IDS);
        LedgerClient {
            inner: Arc::new(Inner {
                db,
                pool,
                ids,
                config,
                source,
                epoch: Instant::now(),
                metrics: LedgerMetrics::default(),
                registry: Mutex::new(None),
            }),
        }
    }

    /// The client's configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Append and read latency and ensemble changes of every ledger of this client.
    pub fn metrics(&self) -> &LedgerMetrics {
        &self.inner.metrics
    }

    /// Creates a ledger with the client's default quorum.
    pub async fn create(
        &self,
        custom: BTreeMap<String, Vec<u8>>,
    ) -> Result<LedgerWriter, LedgerError> {
        self.create_with(self.inner.config.quorum, custom).await
    }

    /// Creates a ledger with quorum `quorum` and application metadata `custom`, and
    /// returns its writer.
    pub async fn create_with(
        &self,
        quorum: QuorumConfig,
        custom: BTreeMap<String, Vec<u8>>,
    ) -> Result<LedgerWriter, LedgerError> {
        let ledger_id = self.reserve_id().await?;
        self.create_at(ledger_id, quorum, custom).await
    }

    /// Allocates a ledger id without creating the ledger, so that a caller can record
    /// its intent (a GC entry for a possible orphan) before any bytes are written.
    pub async fn reserve_id(&self) -> Result<u64, LedgerError> {
        Ok(self.inner.ids.next().await?)
    }

    /// Creates ledger `ledger_id` (from [`Self::reserve_id`]) and returns its writer.
    pub async fn create_at(
        &self,
        ledger_id: u64,
        quorum: QuorumConfig,
        custom: BTreeMap<String, Vec<u8>>,
    ) -> Result<LedgerWriter, LedgerError> {
        let candidates = self.inner.candidates().await?;
        let ensemble = {
            let mut rng = StdRng::from_os_rng();
            self.inner
                .config
                .placement
                .new_ensemble(quorum, &candidates, &mut rng)?
        };
        let meta = LedgerMetadata {
            ensemble_size: quorum.ensemble_size() as u32,
            write_quorum: quorum.write_quorum() as u32,
            ack_quorum: quorum.ack_quorum() as u32,
            state: LedgerState::Open,
            last_entry_id: None,
            length_bytes: 0,
            ctime_ms: unix_ms(),
            digest: DigestType::Crc32c,
            segments: vec![EnsembleSegment {
                first_entry_id: 0,
                bookies: ensemble.iter().map(|b| b.as_str().to_owned()).collect(),
            }],
            custom,
        };
        let op = OpId::random();
        let stored = meta.clone();
        let version = self
            .inner
            .db
            .transact(move |tx, _| ledgers::create(tx, ledger_id, &stored, op))
            .await?;
        tracing::debug!(ledger_id, %quorum, ?ensemble, "created ledger");
        Ok(LedgerWriter::start(
            self.inner.clone(),
            ledger_id,
            quorum,
            ensemble,
            meta,
            version,
        ))
    }

    /// Opens a ledger for reading. With [`OpenMode::Recover`] a ledger that is not
    /// closed is fenced and closed first, so the reader sees its final length.
    pub async fn open(&self, ledger_id: u64, mode: OpenMode) -> Result<LedgerReader, LedgerError> {
        LedgerReader::open(self.inner.clone(), ledger_id, mode).await
    }

    /// The bookies this client was given as a fixed list ([`BookieSource::Static`]);
    /// empty when it reads the registry.
    pub fn static_bookies(&self) -> &[Candidate] {
        match &self.inner.source {
            BookieSource::Static(list) => list,
            BookieSource::Registry => &[],
        }
    }

    /// Asks `bookie` for its state and disk space (`GetBookieInfo`), through the
    /// client's connection pool, within the request timeout.
    pub async fn bookie_info(&self, bookie: &BookieId) -> Result<BookieInfoResponse, LedgerError> {
        let timeout = self.inner.config.request_timeout;
        match self
            .inner
            .pool
            .call(bookie, Request::GetBookieInfo, timeout)
            .await?
        {
            Response::GetBookieInfo(info) if info.status.is_ok() => Ok(info),
            other => Err(LedgerError::Status {
                bookie: bookie.clone(),
                status: other.status(),
            }),
        }
    }

    /// Asks `bookie` to start a scrub pass now (a no-op if one is running).
    pub async fn start_scrub(&self, bookie: &BookieId) -> Result<(), LedgerError> {
        let timeout = self.inner.config.request_timeout;
        match self
            .inner
            .pool
            .call(bookie, Request::Scrub, timeout)
            .await?
        {
            Response::Scrub(r) if r.status.is_ok() => Ok(()),
            other => Err(LedgerError::Status {
                bookie: bookie.clone(),
                status: other.status(),
            }),
        }
    }

    /// Asks `bookie` what its scrubber found: passes completed, entries checked, and
    /// the entries whose stored copy is corrupt.
    pub async fn scrub_report(
        &self,
        bookie: &BookieId,
    ) -> Result<ScrubReportResponse, LedgerError> {
        let timeout = self.inner.config.request_timeout;
        match self
            .inner
            .pool
            .call(bookie, Request::GetScrubReport, timeout)
            .await?
        {
            Response::GetScrubReport(r) if r.status.is_ok() => Ok(r),
            other => Err(LedgerError::Status {
                bookie: bookie.clone(),
                status: other.status(),
            }),
        }
    }

    /// Recovers a ledger (fence, find the last entry, close) and returns its summary.
    pub async fn recover(&self, ledger_id: u64) -> Result<ClosedLedger, LedgerError> {
        let reader = self.open(ledger_id, OpenMode::Recover).await?;
        Ok(ClosedLedger {
            ledger_id,
            last_entry_id: reader.lac(),
            length: reader.length(),
        })
    }

    /// Deletes a ledger: every bookie that may hold entries drops it, then the
    /// metadata goes. If a bookie cannot be reached the metadata stays, so that a
    /// retry (the GC queue's) can finish the job.
    pub async fn delete(&self, ledger_id: u64) -> Result<(), LedgerError> {
        let (meta, version) = match self.inner.metadata(ledger_id).await {
            Ok(found) => found,
            Err(LedgerError::NoSuchLedger(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut bookies: Vec<BookieId> = meta
            .segments
            .iter()
            .flat_map(|s| s.bookies.iter().map(BookieId::new))
            .collect();
        bookies.sort();
        bookies.dedup();
        let timeout = self.inner.config.request_timeout;
        for bookie in bookies {
            let request = Request::DeleteLedger(DeleteLedger { ledger_id });
            match self.inner.pool.call(&bookie, request, timeout).await? {
                Response::DeleteLedger(r)
                    if r.status.is_ok() || r.status == Status::NoSuchLedger => {}
                other => {
                    return Err(LedgerError::Status {
                        bookie,
                        status: other.status(),
                    });
                }
            }
        }
        self.inner
            .db
            .transact(move |tx, _| ledgers::delete(tx, ledger_id, Some(version)))
            .await?;
        Ok(())
    }
}

/// The segments of `meta` in the cores' form.
pub(crate) fn segments_of(meta: &LedgerMetadata) -> Vec<Segment> {
    meta.segments
        .iter()
        .map(|s| Segment {
            first_entry_id: s.first_entry_id,
            ensemble: s.bookies.iter().map(BookieId::new).collect(),
        })
        .collect()
}

/// The quorum of `meta`.
pub(crate) fn quorum_of(meta: &LedgerMetadata) -> Result<QuorumConfig, LedgerError> {
    Ok(QuorumConfig::new(
        meta.ensemble_size as usize,
        meta.write_quorum as usize,
        meta.ack_quorum as usize,
    )?)
}

pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
