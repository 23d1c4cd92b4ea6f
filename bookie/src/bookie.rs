//! Start-up, background tasks and shutdown of one bookie: [`Bookie::start`] returns a
//! [`BookieHandle`], so `folio bookie`, `folio standalone` and tests can run any
//! number of bookies in one process.
//!
//! Start-up order: check the cookies; open the index and entry logs; load ledger
//! metas; replay the journal from the checkpoint mark into the write cache and the
//! ledger table; start the journal on a fresh file; check the disk; listen.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::compaction::{self, Collector, GcConfig, SpaceStats};
use crate::config::BookieConfig;
use crate::disk::{DiskSet, DiskStats, FsDiskStats, next_read_only};
use crate::error::{Context, StartError, StorageError};
use crate::fencing::LedgerTable;
use crate::group_commit::{Apply, Journal};
use crate::index::FjallIndex;
use crate::journal::{FsJournalDir, JOURNAL_HEADER_BYTES, JournalDir, JournalPos, JournalRecord};
use crate::machine::{apply_to_storage, recover};
use crate::scrub::{self, ScrubStats, Scrubber};
use crate::storage::LedgerStorage;
use crate::{cookie, server};

/// The state the journal's syncer applies durable records to.
pub(crate) struct State {
    table: Mutex<LedgerTable>,
    pub(crate) storage: LedgerStorage,
    applied: Mutex<JournalPos>,
    lac_tx: watch::Sender<u64>,
    checkpoint_wanted: Notify,
    /// Woken after every successful checkpoint (the write cache has drained).
    cache_drained: Notify,
    write_cache_bytes: usize,
    pub(crate) metrics: Arc<crate::metrics::BookieMetrics>,
}

impl State {
    pub(crate) fn table(&self) -> MutexGuard<'_, LedgerTable> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn lac_changes(&self) -> watch::Receiver<u64> {
        self.lac_tx.subscribe()
    }

    /// Waits while the write cache holds twice its configured size (checkpoints
    /// are not keeping up, or keep failing), so memory stays bounded. Both of the
    /// cache's generations count: a failed checkpoint leaves its entries in memory.
    /// Returns false if it is still full after `timeout`.
    pub(crate) async fn wait_for_cache_room(&self, timeout: Duration) -> bool {
        let limit = self.write_cache_bytes.saturating_mul(2);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let drained = self.cache_drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.storage.cache_held_bytes() < limit {
                return true;
            }
            self.checkpoint_wanted.notify_one();
            if tokio::time::timeout_at(deadline, drained).await.is_err() {
                return self.storage.cache_held_bytes() < limit;
            }
        }
    }

    fn applied(&self) -> JournalPos {
        *self.applied.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Apply for State {
    fn apply(&self, record: &JournalRecord) {
        apply_to_storage(&self.storage, record);
        if self.table().apply(record) {
            self.lac_tx.send_modify(|g| *g = g.wrapping_add(1));
        }
        if self.storage.cache_bytes() >= self.write_cache_bytes {
            self.checkpoint_wanted.notify_one();
        }
    }

    fn applied_through(&self, pos: JournalPos) {
        *self.applied.lock().unwrap_or_else(|e| e.into_inner()) = pos;
    }

    fn journal_synced(&self, elapsed: Duration) {
        self.metrics.journal_fsync(elapsed);
    }
}

/// What request handlers share.
pub(crate) struct Shared {
    pub(crate) config: BookieConfig,
    pub(crate) state: Arc<State>,
    pub(crate) journal: Journal,
    journal_dir: Arc<dyn JournalDir>,
    /// The data and journal file systems.
    pub(crate) disk: DiskSet,
    checkpoint_lock: Mutex<()>,
    pub(crate) scrubber: Scrubber,
    pub(crate) collector: Collector,
}

impl Shared {
    /// Flushes the write cache to the entry log and index, moves the checkpoint mark
    /// and deletes journal files before it.
    pub(crate) fn checkpoint(&self) -> Result<(), StorageError> {
        let _one_at_a_time = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mark = self.state.applied();
        let metas = self.state.table().durable_metas();
        self.state.storage.checkpoint(mark, metas)?;
        self.state.cache_drained.notify_waiters();
        match self.journal_dir.list() {
            Ok(ids) => {
                for id in ids.into_iter().filter(|id| *id < mark.file_id) {
                    if let Err(e) = self.journal_dir.remove(id) {
                        tracing::warn!(error = %e, id, "remove old journal file");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "list journal files"),
        }
        Ok(())
    }

    /// Measures every directory's file system and turns the bookie read-only when the
    /// fullest crosses the threshold (back to read-write below it, with hysteresis).
    fn check_disk(&self) {
        if self.config.read_only {
            self.state.table().set_read_only(true);
            return;
        }
        match self.disk.space() {
            Ok(space) => self.state.metrics.disk(space),
            Err(e) => tracing::warn!(error = %e, "read data disk space"),
        }
        match self.disk.fullest() {
            Ok((dir, space)) => {
                let mut table = self.state.table();
                let was = table.read_only();
                let now = next_read_only(was, space.usage(), self.config.disk_usage_threshold);
                table.set_read_only(now);
                drop(table);
                if now != was {
                    tracing::warn!(
                        usage = space.usage(),
                        dir = %dir.display(),
                        read_only = now,
                        "disk usage crossed the threshold"
                    );
                }
            }
            // The state stays as it was: a disk that cannot be measured is not
            // assumed full (a transient error would flap) nor empty.
            Err(e) => tracing::warn!(error = %e, "read disk space"),
        }
    }
}

/// Starts bookies.
pub struct Bookie;

/// A running bookie.
pub struct BookieHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

fn new_instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

fn absolute(p: &std::path::Path) -> Result<PathBuf, StartError> {
    Ok(std::path::absolute(p).context(|| format!("resolve {}", p.display()))?)
}

impl Bookie {
    /// Starts a bookie: checks cookies, replays the journal, and listens.
    ///
    /// Fails without serving anything if a cookie is missing or mismatched, or the
    /// storage cannot be opened.
    pub async fn start(config: BookieConfig) -> Result<BookieHandle, StartError> {
        Bookie::start_inner(config, None, Box::new(|d| Box::new(FsDiskStats::new(d)))).await
    }

    /// Like [`Bookie::start`], but measures each directory's disk with
    /// `stats_for(dir)` instead of the real file system: a test hook, so a test can
    /// make one directory's disk (say the journal's) look full.
    #[doc(hidden)]
    pub async fn start_with_disk_stats(
        config: BookieConfig,
        stats_for: impl Fn(&std::path::Path) -> Box<dyn DiskStats> + Send + 'static,
    ) -> Result<BookieHandle, StartError> {
        Bookie::start_inner(config, None, Box::new(stats_for)).await
    }

    /// Like [`Bookie::start`], but serves on a listener the caller already bound, so a
    /// caller that picked a free port keeps it (no window for another process to take
    /// it between choosing and binding).
    pub async fn start_on(
        config: BookieConfig,
        listener: std::net::TcpListener,
    ) -> Result<BookieHandle, StartError> {
        Bookie::start_inner(
            config,
            Some(listener),
            Box::new(|d| Box::new(FsDiskStats::new(d))),
        )
        .await
    }

    async fn start_inner(
        config: BookieConfig,
        bound: Option<std::net::TcpListener>,
        stats_for: StatsFor,
    ) -> Result<BookieHandle, StartError> {
        let cfg = config.clone();
        let shared = tokio::task::spawn_blocking(move || open(cfg, stats_for))
            .await
            .map_err(|e| {
                StartError::Io(crate::error::IoContext {
                    context: "run start-up task".into(),
                    source: std::io::Error::other(e.to_string()),
                })
            })??;
        let shared = Arc::new(shared);
        let weak = Arc::downgrade(&shared);
        shared.state.metrics.set_stats_source(move || {
            let shared = weak.upgrade()?;
            let scrub = shared.scrubber.stats(&shared.state.storage);
            Some((shared.collector.stats(), scrub))
        });
        shared.check_disk();
        let listener = match bound {
            Some(listener) => listener
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpListener::from_std(listener))
                .context(|| format!("serve on the listener bound to {}", config.listen))?,
            None => tokio::net::TcpListener::bind(config.listen)
                .await
                .context(|| format!("listen on {}", config.listen))?,
        };
        let local_addr = listener
            .local_addr()
            .context(|| "read listen address".into())?;
        tracing::info!(%local_addr, bookie_id = %config.bookie_id, read_only = shared.state.table().read_only(), "bookie started");
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(server::serve(listener, shared.clone(), shutdown_rx.clone())),
            tokio::spawn(checkpoint_loop(shared.clone(), shutdown_rx.clone())),
            tokio::spawn(disk_loop(shared.clone(), shutdown_rx.clone())),
            tokio::spawn(scrub::scrub_loop(shared.clone(), shutdown_rx.clone())),
            tokio::spawn(compaction::gc_loop(shared.clone(), shutdown_rx)),
        ];
        Ok(BookieHandle {
            local_addr,
            shared,
            shutdown_tx,
            tasks,
        })
    }
}

/// Makes the [`DiskStats`] of a directory.
type StatsFor = Box<dyn Fn(&std::path::Path) -> Box<dyn DiskStats> + Send>;

fn open(config: BookieConfig, stats_for: StatsFor) -> Result<Shared, StartError> {
    let data_dir = absolute(&config.data_dir)?;
    let journal_dir = absolute(&config.journal_dir)?;
    let mut dirs = vec![data_dir.clone()];
    if journal_dir != data_dir {
        dirs.push(journal_dir.clone());
    }
    cookie::check_or_create(
        &dirs,
        &config.bookie_id,
        config.instance_id.as_deref(),
        &new_instance_id(),
    )?;
    let index = FjallIndex::open(&data_dir.join("index"))?;
    let storage = LedgerStorage::open(
        &data_dir,
        Box::new(index),
        config.entry_log_file_bytes,
        config.read_ahead_bytes,
    )?;
    let jdir: Arc<dyn JournalDir> = Arc::new(FsJournalDir::open(&journal_dir)?);
    let recovered = recover(&storage, jdir.as_ref())?;
    let first_id = recovered.first_file_id;
    let (lac_tx, _) = watch::channel(0u64);
    let state = Arc::new(State {
        table: Mutex::new(recovered.table),
        storage,
        applied: Mutex::new(JournalPos {
            file_id: first_id,
            offset: JOURNAL_HEADER_BYTES,
        }),
        lac_tx,
        checkpoint_wanted: Notify::new(),
        cache_drained: Notify::new(),
        write_cache_bytes: config.write_cache_bytes,
        metrics: Default::default(),
    });
    if state.storage.cache_bytes() >= state.write_cache_bytes {
        state.checkpoint_wanted.notify_one();
    }
    tracing::info!(
        records = recovered.records,
        mark = ?recovered.mark,
        first_id,
        "journal replayed"
    );
    let journal = Journal::start(jdir.clone(), first_id, config.journal, state.clone())?;
    Ok(Shared {
        scrubber: Scrubber::new(config.scrub_rate_bytes_per_sec, config.scrub_interval),
        collector: Collector::new(GcConfig {
            threshold: config.compaction_threshold,
            rate_bytes_per_sec: config.compaction_rate_bytes_per_sec,
            interval: config.gc_interval,
        }),
        // Every directory the bookie writes to, the data directory first.
        disk: DiskSet::new(&dirs, &*stats_for),
        config,
        state,
        journal,
        journal_dir: jdir,
        checkpoint_lock: Mutex::new(()),
    })
}

async fn checkpoint_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(shared.config.checkpoint_interval) => {}
            _ = shared.state.checkpoint_wanted.notified() => {}
        }
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || s.checkpoint()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "checkpoint failed; journal files are kept");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => tracing::error!(error = %e, "checkpoint task failed"),
        }
    }
}

async fn disk_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(shared.config.disk_check_interval) => shared.check_disk(),
        }
    }
}

impl BookieHandle {
    /// The address the bookie listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bookie's metrics (journal fsync, add and read latency, disk usage).
    pub fn metrics(&self) -> Arc<crate::metrics::BookieMetrics> {
        self.shared.state.metrics.clone()
    }

    /// Whether the bookie currently refuses new adds.
    pub fn is_read_only(&self) -> bool {
        self.shared.state.table().read_only()
    }

    /// The scrubber's counters (passes, entries checked, corrupt copies).
    pub fn scrub_stats(&self) -> ScrubStats {
        self.shared.scrubber.stats(&self.shared.state.storage)
    }

    /// Space reclamation counters and the entry-log totals of the last GC pass.
    pub fn space_stats(&self) -> SpaceStats {
        self.shared.collector.stats()
    }

    /// Runs a GC pass now (after any running one): deletes dead entry logs and
    /// compacts sparse ones, as the periodic task does.
    pub async fn run_gc(&self) -> Result<(), StorageError> {
        compaction::run_pass(&self.shared, self.shutdown_tx.subscribe()).await
    }

    /// Starts a scrub pass now (a no-op if one is running), like a `Scrub` request.
    pub fn start_scrub(&self) {
        self.shared.scrubber.request_pass();
    }

    /// Runs a checkpoint now (normally periodic): flushes recent entries to the
    /// entry log and index and trims the journal.
    pub async fn checkpoint(&self) -> Result<(), StorageError> {
        let s = self.shared.clone();
        tokio::task::spawn_blocking(move || s.checkpoint())
            .await
            .map_err(|e| StorageError::Corrupt(format!("checkpoint task failed: {e}")))?
    }

    /// Stops listening, lets every admitted journal write finish, runs a last
    /// checkpoint and returns.
    pub async fn shutdown(self) -> Result<(), StorageError> {
        let _ = self.shutdown_tx.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let s = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            s.journal.shutdown();
            s.checkpoint()
        })
        .await
        .map_err(|e| StorageError::Corrupt(format!("shutdown task failed: {e}")))??;
        tracing::info!(addr = %self.local_addr, "bookie stopped");
        Ok(())
    }
}
