//! Group commit: the two threads that make journal appends durable.
//!
//! - The **writer** thread takes appends from a queue, gathers them into a group
//!   (until the queue is empty and `group_wait` has passed, or the group holds
//!   `group_bytes`), writes the group to the current journal file and hands it to
//!   the syncer. It rolls to a new file past `file_bytes`.
//! - The **syncer** thread takes every group written so far, fsyncs each file they
//!   touch once, then, in journal order, applies each record to the bookie's state
//!   ([`Apply`]), publishes the applied position (the checkpoint may now rely on it)
//!   and only then completes the appends' waiters.
//!
//! While one fsync runs, the writer keeps writing the next groups, so a slow fsync
//! makes the following one cover more appends instead of queueing them one by one.
//! When the syncer is idle and a group is small (at most [`INLINE_SYNC_MAX_BYTES`]),
//! the writer syncs and applies it itself: that saves a thread hand-off on the
//! latency of a lone add, and the order of application is unchanged because no
//! earlier group is outstanding.
//!
//! Guarantee: an append's waiter gets `Ok` only after an fsync that covers all of
//! its records, and after every earlier append has been applied. After any write or
//! fsync error the journal is broken: every pending and later append fails.
//!
//! The two steps that touch the journal are synchronous and shared with
//! [`crate::machine::BookieCore`], which runs them on its owner's schedule instead
//! of on threads (so a simulation decides when each fsync completes):
//! [`JournalFiles::write`] (encode a group, roll files, append) and
//! [`sync_and_apply`] (fsync each touched file once, then apply and complete in
//! journal order).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::sync::oneshot;

use crate::error::JournalError;
use crate::journal::{JOURNAL_HEADER_BYTES, JournalDir, JournalFile, JournalPos, JournalRecord};

/// Capacity the group buffer keeps for small records (large entries are written
/// from their own buffers).
const GROUP_BUFFER_BYTES: usize = 1 << 20;

/// Largest group the writer syncs itself when the syncer is idle.
pub const INLINE_SYNC_MAX_BYTES: usize = 256 << 10;

/// Group-commit settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommitConfig {
    /// Longest time a group stays open waiting for more appends (0: write as soon as
    /// the queue is empty).
    pub group_wait: Duration,
    /// A group is written as soon as it holds this many bytes.
    pub group_bytes: usize,
    /// Roll to a new journal file once the current one exceeds this size.
    pub file_bytes: u64,
}

/// Receives durable records, in journal order, from the syncer thread.
pub trait Apply: Send + Sync + 'static {
    /// Applies one record that is now durable.
    fn apply(&self, record: &JournalRecord);
    /// Everything up to `pos` is durable and applied.
    fn applied_through(&self, pos: JournalPos);
    /// Told how long each journal fsync took (for metrics).
    fn journal_synced(&self, _elapsed: std::time::Duration) {}
}

/// The waiter an append returns.
pub type AppendWaiter = oneshot::Receiver<Result<(), JournalError>>;

struct Append {
    records: Vec<JournalRecord>,
    bytes: usize,
    done: oneshot::Sender<Result<(), JournalError>>,
}

/// A queued append as [`sync_and_apply`] sees it: its records.
pub(crate) trait HasRecords {
    /// The records, in order.
    fn records(&self) -> &[JournalRecord];
}

impl HasRecords for Append {
    fn records(&self) -> &[JournalRecord] {
        &self.records
    }
}

/// Appends written to the journal together, waiting for the fsync of `file`.
pub(crate) struct SyncJob<A> {
    /// The file the group was written to.
    pub(crate) file: Arc<dyn JournalFile>,
    /// The position just after the group.
    pub(crate) end: JournalPos,
    /// The appends, in journal order.
    pub(crate) appends: Vec<A>,
}

/// The journal files as the writer sees them: the current file, its length, and
/// rolling to the next one.
pub(crate) struct JournalFiles {
    dir: Arc<dyn JournalDir>,
    file_bytes: u64,
    file_id: u64,
    file: Arc<dyn JournalFile>,
    file_len: u64,
    /// A write or file creation failed: nothing more is written.
    broken: bool,
    buf: BytesMut,
}

impl JournalFiles {
    /// Creates journal file `first_file_id` (rolling past `file_bytes`).
    pub(crate) fn create(
        dir: Arc<dyn JournalDir>,
        first_file_id: u64,
        file_bytes: u64,
    ) -> Result<JournalFiles, JournalError> {
        let file = dir.create(first_file_id)?;
        Ok(JournalFiles {
            dir,
            file_bytes,
            file_id: first_file_id,
            file,
            file_len: JOURNAL_HEADER_BYTES,
            broken: false,
            buf: BytesMut::new(),
        })
    }

    /// Writes a group of `bytes` encoded bytes (not yet durable), first rolling to
    /// a new file if the group would take the current one past its size. Returns
    /// the file written and the position after the group, or `None` if the journal
    /// is (now) broken.
    pub(crate) fn write<'a>(
        &mut self,
        records: impl Iterator<Item = &'a JournalRecord>,
        bytes: usize,
    ) -> Option<(Arc<dyn JournalFile>, JournalPos)> {
        if self.broken {
            return None;
        }
        if self.file_len > JOURNAL_HEADER_BYTES && self.file_len + bytes as u64 > self.file_bytes {
            // The file is synced whole before the next one exists, so replay may
            // take a bad record in any but the newest file for damage.
            if let Err(e) = self.file.sync() {
                tracing::error!(error = %e, file_id = self.file_id, "journal: fsync before rolling failed; journal is broken");
                self.broken = true;
                return None;
            }
            match self.dir.create(self.file_id + 1) {
                Ok(file) => {
                    self.file_id += 1;
                    self.file = file;
                    self.file_len = JOURNAL_HEADER_BYTES;
                }
                Err(e) => {
                    tracing::error!(error = %e, "journal: create next file failed; journal is broken");
                    self.broken = true;
                    return None;
                }
            }
        }
        self.buf.clear();
        self.buf.reserve(bytes.min(GROUP_BUFFER_BYTES));
        let mut parts = Vec::new();
        for r in records {
            r.encode_parts(&mut self.buf, &mut parts);
        }
        if !self.buf.is_empty() {
            parts.push(self.buf.split().freeze());
        }
        if let Err(e) = self.file.append(&parts) {
            tracing::error!(error = %e, file_id = self.file_id, "journal: write failed; journal is broken");
            self.broken = true;
            return None;
        }
        self.file_len += parts.iter().map(|p| p.len() as u64).sum::<u64>();
        Some((
            self.file.clone(),
            JournalPos {
                file_id: self.file_id,
                offset: self.file_len,
            },
        ))
    }
}

/// Fsyncs the files of `jobs` (once per file: the last job on each covers the
/// others), then, in journal order, applies each append's records (`apply`),
/// publishes the position after each job (`applied_through`) and only then
/// completes its appends (`complete`, with `Ok`). If the journal was `broken`, or an
/// fsync fails, nothing is applied and every append completes with
/// [`JournalError::Broken`]. `synced` is told how long each fsync took. Returns
/// whether the journal is broken afterwards.
pub(crate) fn sync_and_apply<A: HasRecords>(
    jobs: Vec<SyncJob<A>>,
    mut broken: bool,
    mut apply: impl FnMut(&JournalRecord),
    mut applied_through: impl FnMut(JournalPos),
    mut synced: impl FnMut(Duration),
    mut complete: impl FnMut(A, Result<(), JournalError>),
) -> bool {
    if !broken {
        for (i, job) in jobs.iter().enumerate() {
            let last_on_file = jobs
                .get(i + 1)
                .is_none_or(|next| next.end.file_id != job.end.file_id);
            if !last_on_file {
                continue;
            }
            let started = Instant::now();
            if let Err(e) = job.file.sync() {
                tracing::error!(error = %e, file_id = job.end.file_id, "journal: fsync failed; journal is broken");
                broken = true;
                break;
            }
            synced(started.elapsed());
            tracing::trace!(
                elapsed_us = started.elapsed().as_micros() as u64,
                "journal fsync"
            );
        }
    }
    for job in jobs {
        if broken {
            for a in job.appends {
                complete(a, Err(JournalError::Broken));
            }
            continue;
        }
        for a in &job.appends {
            for r in a.records() {
                apply(r);
            }
        }
        applied_through(job.end);
        for a in job.appends {
            complete(a, Ok(()));
        }
    }
    broken
}

/// The running journal: a queue in front of the writer and syncer threads.
pub struct Journal {
    tx: Mutex<Option<Sender<Append>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Journal {
    /// Creates journal file `first_file_id` and starts the threads.
    pub fn start(
        dir: Arc<dyn JournalDir>,
        first_file_id: u64,
        config: GroupCommitConfig,
        applier: Arc<dyn Apply>,
    ) -> Result<Journal, JournalError> {
        let files = JournalFiles::create(dir, first_file_id, config.file_bytes)?;
        let (tx, rx) = mpsc::channel::<Append>();
        let (sync_tx, sync_rx) = mpsc::channel::<SyncJob<Append>>();
        let syncer = Arc::new(Syncer {
            applier,
            broken: AtomicBool::new(false),
            outstanding: AtomicUsize::new(0),
            lock: Mutex::new(()),
        });
        let writer = Writer {
            config,
            files,
            sync_tx,
            syncer: syncer.clone(),
        };
        let threads = vec![
            std::thread::Builder::new()
                .name("journal-writer".into())
                .spawn(move || writer.run(rx))
                .map_err(|source| crate::error::IoContext {
                    context: "spawn journal writer thread".into(),
                    source,
                })?,
            std::thread::Builder::new()
                .name("journal-syncer".into())
                .spawn(move || syncer.run(sync_rx))
                .map_err(|source| crate::error::IoContext {
                    context: "spawn journal syncer thread".into(),
                    source,
                })?,
        ];
        Ok(Journal {
            tx: Mutex::new(Some(tx)),
            threads: Mutex::new(threads),
        })
    }

    /// Queues `records` to be written together; the waiter resolves once they are
    /// durable and applied. Callers that need an order between appends (a fence and
    /// the adds it must exclude) call this under the lock that decided that order.
    pub fn append(&self, records: Vec<JournalRecord>) -> AppendWaiter {
        let (done, waiter) = oneshot::channel();
        let bytes = records.iter().map(JournalRecord::encoded_len).sum();
        let append = Append {
            records,
            bytes,
            done,
        };
        let guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(tx) => {
                if let Err(mpsc::SendError(a)) = tx.send(append) {
                    let _ = a.done.send(Err(JournalError::ShutDown));
                }
            }
            None => {
                let _ = append.done.send(Err(JournalError::ShutDown));
            }
        }
        waiter
    }

    /// Stops accepting appends, lets the queued ones finish, and joins the threads.
    pub fn shutdown(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Writer {
    config: GroupCommitConfig,
    files: JournalFiles,
    sync_tx: Sender<SyncJob<Append>>,
    syncer: Arc<Syncer>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Append>) {
        while let Ok(first) = rx.recv() {
            let group = self.gather(first, &rx);
            self.write(group);
        }
    }

    fn gather(&self, first: Append, rx: &Receiver<Append>) -> Vec<Append> {
        let deadline = Instant::now() + self.config.group_wait;
        let mut bytes = first.bytes;
        let mut group = vec![first];
        while bytes < self.config.group_bytes {
            let next = match rx.try_recv() {
                Ok(a) => a,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    match rx.recv_timeout(deadline - now) {
                        Ok(a) => a,
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            bytes += next.bytes;
            group.push(next);
        }
        group
    }

    fn write(&mut self, group: Vec<Append>) {
        let bytes: usize = group.iter().map(|a| a.bytes).sum();
        let records = group.iter().flat_map(|a| a.records.iter());
        let Some((file, end)) = self.files.write(records, bytes) else {
            fail(group);
            return;
        };
        let job = SyncJob {
            file,
            end,
            appends: group,
        };
        if bytes <= INLINE_SYNC_MAX_BYTES && self.syncer.outstanding.load(Ordering::Acquire) == 0 {
            self.syncer.process(vec![job]);
            return;
        }
        self.syncer.outstanding.fetch_add(1, Ordering::AcqRel);
        if let Err(mpsc::SendError(job)) = self.sync_tx.send(job) {
            self.syncer.outstanding.fetch_sub(1, Ordering::AcqRel);
            fail(job.appends);
        }
    }
}

fn fail(appends: Vec<Append>) {
    for a in appends {
        let _ = a.done.send(Err(JournalError::Broken));
    }
}

/// Syncs written groups and applies them, from the syncer thread or inline.
struct Syncer {
    applier: Arc<dyn Apply>,
    broken: AtomicBool,
    /// Jobs sent to the syncer thread and not yet processed.
    outstanding: AtomicUsize,
    /// Held while syncing and applying, so groups are applied one batch at a time.
    lock: Mutex<()>,
}

impl Syncer {
    fn run(&self, rx: Receiver<SyncJob<Append>>) {
        while let Ok(first) = rx.recv() {
            let mut jobs = vec![first];
            while let Ok(j) = rx.try_recv() {
                jobs.push(j);
            }
            let n = jobs.len();
            self.process(jobs);
            self.outstanding.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// Fsyncs the files of `jobs` (once per file, in order), then applies and
    /// completes them in journal order.
    fn process(&self, jobs: Vec<SyncJob<Append>>) {
        let _one_batch_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let broken = sync_and_apply(
            jobs,
            self.broken.load(Ordering::Acquire),
            |r| self.applier.apply(r),
            |pos| self.applier.applied_through(pos),
            |elapsed| self.applier.journal_synced(elapsed),
            |a, result| {
                let _ = a.done.send(result);
            },
        );
        if broken {
            self.broken.store(true, Ordering::Release);
        }
    }
}
