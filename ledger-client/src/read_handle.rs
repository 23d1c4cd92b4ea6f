//! [`LedgerReader`]: reading a ledger, and the driver of [`Recovery`].
//!
//! Opening with recovery follows DESIGN.md §2: compare-and-set the metadata to
//! IN_RECOVERY, run the [`Recovery`] core against the bookies, then compare-and-set to
//! CLOSED. A recoverer that loses the final compare-and-set to another reads the
//! winner's result back, so concurrent recoverers agree.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use folio_namespace::NsError;
use folio_namespace::ledgers::{LedgerMetadata, LedgerState};
use folio_proto::{
    AddEntry, Entry, LongPoll, MasterKey, ReadEntry, ReadLac, ReadTarget, Request, Response, Status,
};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::BookieId;
use crate::client::{Inner, LedgerError, OpenMode, quorum_of, segments_of};
use crate::quorum::QuorumConfig;
use crate::reader::{EntryRead, ReadAction};
use crate::recovery::{ReadOutcome, Recovery, RecoveryAction, Segment};

/// How many times recovery is retried when it cannot decide (bookies down) or loses a
/// metadata race, before giving up.
const RECOVERY_ATTEMPTS: u32 = 5;

/// A ledger opened for reading.
pub struct LedgerReader {
    inner: Arc<Inner>,
    ledger_id: u64,
    quorum: QuorumConfig,
    segments: Vec<Segment>,
    lac: i64,
    length: u64,
    closed: bool,
}

impl LedgerReader {
    pub(crate) async fn open(
        inner: Arc<Inner>,
        ledger_id: u64,
        mode: OpenMode,
    ) -> Result<LedgerReader, LedgerError> {
        let (mut meta, _) = inner.metadata(ledger_id).await?;
        if meta.state != LedgerState::Closed && mode == OpenMode::Recover {
            meta = recover(&inner, ledger_id).await?;
        }
        let quorum = quorum_of(&meta)?;
        let mut reader = LedgerReader {
            inner,
            ledger_id,
            quorum,
            segments: segments_of(&meta),
            lac: meta.last_entry_id.map_or(-1, |id| id as i64),
            length: meta.length_bytes,
            closed: meta.state == LedgerState::Closed,
        };
        if !reader.closed {
            reader.refresh_lac().await?;
        }
        Ok(reader)
    }

    /// The ledger's id.
    pub fn ledger_id(&self) -> u64 {
        self.ledger_id
    }

    /// The last entry that may be read: the last entry of a closed ledger, or the
    /// highest LAC bookies reported for an open one (−1 if none).
    pub fn lac(&self) -> i64 {
        self.lac
    }

    /// The ledger's length in bytes, once closed (0 while open).
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Whether the ledger is closed (its length is final).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Asks the last ensemble for its LAC and keeps the highest answer. Returns it.
    pub async fn refresh_lac(&mut self) -> Result<i64, LedgerError> {
        if self.closed {
            return Ok(self.lac);
        }
        let Some(last) = self.segments.last() else {
            return Ok(self.lac);
        };
        let timeout = self.inner.config.request_timeout;
        let ledger_id = self.ledger_id;
        let calls = last.ensemble.iter().map(|bookie| {
            let inner = self.inner.clone();
            let bookie = bookie.clone();
            async move {
                let request = Request::ReadLac(ReadLac { ledger_id });
                match inner.pool.call(&bookie, request, timeout).await {
                    Ok(Response::ReadLac(r)) if r.status.is_ok() => Some(r.lac),
                    _ => None,
                }
            }
        });
        let answers = futures::future::join_all(calls).await;
        if let Some(best) = answers.into_iter().flatten().max() {
            self.lac = self.lac.max(best);
        }
        Ok(self.lac)
    }

    /// Tailing read: waits up to `timeout` for the LAC to pass [`Self::lac`], then
    /// returns the LAC (unchanged if nothing new was acknowledged in time); entries up
    /// to it can then be read. Every bookie of the last ensemble gets a long-poll read
    /// and the first to know a higher LAC answers at once. The metadata is read first,
    /// so that an ensemble change or a close by the writer is seen: once the ledger is
    /// closed, this returns its last entry without waiting.
    pub async fn wait_lac(&mut self, timeout: Duration) -> Result<i64, LedgerError> {
        if self.closed {
            return Ok(self.lac);
        }
        let (meta, _) = self.inner.metadata(self.ledger_id).await?;
        self.segments = segments_of(&meta);
        if meta.state == LedgerState::Closed {
            self.closed = true;
            self.lac = meta.last_entry_id.map_or(-1, |id| id as i64);
            self.length = meta.length_bytes;
            return Ok(self.lac);
        }
        let Some(last) = self.segments.last() else {
            return Ok(self.lac);
        };
        let previous = self.lac;
        let long_poll = LongPoll {
            previous_lac: previous,
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
        };
        let call_timeout = timeout + self.inner.config.request_timeout;
        let ledger_id = self.ledger_id;
        let target = ReadTarget::Entry(u64::try_from(previous + 1).unwrap_or(0));
        let mut calls: futures::stream::FuturesUnordered<_> = last
            .ensemble
            .iter()
            .map(|bookie| {
                let inner = self.inner.clone();
                let bookie = bookie.clone();
                async move {
                    let request = Request::ReadEntry(ReadEntry {
                        ledger_id,
                        target,
                        fence: false,
                        master_key: MasterKey::empty(),
                        long_poll: Some(long_poll),
                    });
                    match inner.pool.call(&bookie, request, call_timeout).await {
                        Ok(Response::ReadEntry(r)) => Some(r.lac),
                        _ => None,
                    }
                }
            })
            .collect();
        while let Some(answer) = calls.next().await {
            if let Some(lac) = answer {
                self.lac = self.lac.max(lac);
            }
            if self.lac > previous {
                break;
            }
        }
        Ok(self.lac)
    }

    /// Reads entry `entry_id` (at or below [`Self::lac`]) and returns its payload.
    pub async fn read(&self, entry_id: u64) -> Result<Bytes, LedgerError> {
        if entry_id as i64 > self.lac {
            return Err(LedgerError::BeyondLac {
                ledger_id: self.ledger_id,
                first: entry_id,
                last: entry_id,
                lac: self.lac,
            });
        }
        let entry = read_entry(
            &self.inner,
            self.ledger_id,
            self.quorum,
            ensemble_for(&self.segments, entry_id),
            entry_id,
            self.lac,
        )
        .await?;
        Ok(entry.payload())
    }

    /// Reads entries `first..=last`, keeping the configured number of reads in flight
    /// (read-ahead), and returns their payloads in order.
    pub async fn read_range(&self, first: u64, last: u64) -> Result<Vec<Bytes>, LedgerError> {
        let mut out = Vec::new();
        let mut stream = self.stream(first, last)?;
        while let Some(payload) = stream.next().await {
            out.push(payload?);
        }
        Ok(out)
    }

    /// A stream of the payloads of entries `first..=last`, in order, with read-ahead.
    /// Memory is bounded by the read-ahead window, whatever the range.
    pub fn stream(
        &self,
        first: u64,
        last: u64,
    ) -> Result<
        impl futures::Stream<Item = Result<Bytes, LedgerError>> + Send + 'static + use<>,
        LedgerError,
    > {
        if first > last || last as i64 > self.lac {
            return Err(LedgerError::BeyondLac {
                ledger_id: self.ledger_id,
                first,
                last,
                lac: self.lac,
            });
        }
        let inner = self.inner.clone();
        let segments = self.segments.clone();
        let (ledger_id, quorum, lac) = (self.ledger_id, self.quorum, self.lac);
        let window = inner.config.read_ahead_entries.max(1);
        Ok(futures::stream::iter(first..=last)
            .map(move |entry_id| {
                let inner = inner.clone();
                let ensemble = ensemble_for(&segments, entry_id);
                async move {
                    read_entry(&inner, ledger_id, quorum, ensemble, entry_id, lac)
                        .await
                        .map(|e| e.payload())
                }
            })
            .buffered(window))
    }
}

fn ensemble_for(segments: &[Segment], entry_id: u64) -> Vec<BookieId> {
    segments
        .iter()
        .rev()
        .find(|s| s.first_entry_id <= entry_id)
        .or(segments.first())
        .map(|s| s.ensemble.clone())
        .unwrap_or_default()
}

/// Maps a bookie's answer to a read onto what the cores understand.
fn read_outcome(answer: Result<Response, crate::ClientError>) -> ReadOutcome {
    match answer {
        Ok(Response::ReadEntry(r)) => match (r.status, r.entry) {
            (Status::Ok, Some(entry)) => ReadOutcome::Found(entry),
            (Status::NoSuchEntry | Status::NoSuchLedger, _) => ReadOutcome::Absent,
            _ => ReadOutcome::Failed,
        },
        _ => ReadOutcome::Failed,
    }
}

/// Runs one [`EntryRead`] against the bookies.
async fn read_entry(
    inner: &Arc<Inner>,
    ledger_id: u64,
    quorum: QuorumConfig,
    ensemble: Vec<BookieId>,
    entry_id: u64,
    lac: i64,
) -> Result<Entry, LedgerError> {
    let started = Instant::now();
    let entry = read_verified(inner, ledger_id, quorum, ensemble, entry_id, lac).await?;
    inner.metrics.read(started.elapsed());
    Ok(entry)
}

/// One verified read of `entry_id`, with speculative retries.
async fn read_verified(
    inner: &Arc<Inner>,
    ledger_id: u64,
    quorum: QuorumConfig,
    ensemble: Vec<BookieId>,
    entry_id: u64,
    lac: i64,
) -> Result<Entry, LedgerError> {
    let delay = inner.config.speculative_read_delay;
    let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    let mut core = EntryRead::start(
        ledger_id,
        entry_id,
        lac,
        quorum,
        ensemble,
        delay_ms,
        inner.now_ms(),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    loop {
        for action in core.take_actions() {
            match action {
                ReadAction::Send { position, bookie } => {
                    let inner = inner.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let request = Request::ReadEntry(ReadEntry {
                            ledger_id,
                            target: ReadTarget::Entry(entry_id),
                            fence: false,
                            master_key: inner.config.master_key.clone(),
                            long_poll: None,
                        });
                        let answer = inner
                            .pool
                            .call(&bookie, request, inner.config.request_timeout)
                            .await;
                        let _ = tx.send((position, read_outcome(answer)));
                    });
                }
                ReadAction::Done(result) => return Ok(result?),
            }
        }
        tokio::select! {
            Some((position, outcome)) = rx.recv() => core.on_response(position, outcome, inner.now_ms()),
            _ = tokio::time::sleep(delay) => core.on_tick(inner.now_ms()),
        }
    }
}

/// Recovers `ledger_id` and returns its closed metadata.
async fn recover(inner: &Arc<Inner>, ledger_id: u64) -> Result<LedgerMetadata, LedgerError> {
    let mut last_error = None;
    for attempt in 0..RECOVERY_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 << attempt.min(5))).await;
        }
        let (mut meta, version) = inner.metadata(ledger_id).await?;
        if meta.state == LedgerState::Closed {
            return Ok(meta);
        }
        // 1. IN_RECOVERY: from now on the writer's ensemble changes and close fail.
        meta.state = LedgerState::InRecovery;
        let version = match inner.put_metadata(ledger_id, version, meta.clone()).await {
            Ok(v) => v,
            Err(LedgerError::Namespace(NsError::VersionMismatch { .. })) => continue,
            Err(e) => return Err(e),
        };
        let quorum = quorum_of(&meta)?;
        let closed = match run_recovery(inner, ledger_id, quorum, segments_of(&meta)).await {
            Ok(closed) => closed,
            Err(e) => {
                tracing::warn!(ledger_id, attempt, error = %e, "recovery attempt failed");
                last_error = Some(e);
                continue;
            }
        };
        // 5. CLOSED, with the recovered last entry and length.
        let (last_entry_id, length) = closed;
        meta.state = LedgerState::Closed;
        meta.last_entry_id = u64::try_from(last_entry_id).ok();
        meta.length_bytes = length;
        match inner.put_metadata(ledger_id, version, meta.clone()).await {
            Ok(_) => {
                tracing::info!(ledger_id, last_entry_id, length, "recovered ledger");
                return Ok(meta);
            }
            // Another recoverer closed it first; the next loop reads its result.
            Err(LedgerError::Namespace(NsError::VersionMismatch { .. })) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(
        last_error.unwrap_or(LedgerError::Namespace(NsError::Invalid {
            what: "ledger recovery",
            reason: format!("lost {RECOVERY_ATTEMPTS} metadata races"),
        })),
    )
}

enum RecoveryAnswer {
    Fence(usize, ReadOutcome),
    Read(u64, usize, ReadOutcome),
    Add(u64, usize, bool),
}

/// Steps 2–4 of recovery against the bookies; returns (last entry id, length).
async fn run_recovery(
    inner: &Arc<Inner>,
    ledger_id: u64,
    quorum: QuorumConfig,
    segments: Vec<Segment>,
) -> Result<(i64, u64), LedgerError> {
    let mut core = Recovery::start(ledger_id, quorum, segments);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let timeout = inner.config.request_timeout;
    loop {
        for action in core.take_actions() {
            let inner = inner.clone();
            let tx = tx.clone();
            let master_key = inner.config.master_key.clone();
            let fencing_read = |target| {
                Request::ReadEntry(ReadEntry {
                    ledger_id,
                    target,
                    fence: true,
                    master_key: master_key.clone(),
                    long_poll: None,
                })
            };
            match action {
                RecoveryAction::FenceRead { position, bookie } => {
                    let request = fencing_read(ReadTarget::Last);
                    tokio::spawn(async move {
                        let answer = inner.pool.call(&bookie, request, timeout).await;
                        let _ = tx.send(RecoveryAnswer::Fence(position, read_outcome(answer)));
                    });
                }
                RecoveryAction::Read {
                    entry_id,
                    position,
                    bookie,
                } => {
                    let request = fencing_read(ReadTarget::Entry(entry_id));
                    tokio::spawn(async move {
                        let answer = inner.pool.call(&bookie, request, timeout).await;
                        let _ = tx.send(RecoveryAnswer::Read(
                            entry_id,
                            position,
                            read_outcome(answer),
                        ));
                    });
                }
                RecoveryAction::RecoveryAdd {
                    position,
                    bookie,
                    entry,
                } => {
                    let entry_id = entry.entry_id();
                    let request = Request::AddEntry(AddEntry {
                        master_key,
                        recovery: true,
                        entry,
                    });
                    tokio::spawn(async move {
                        let ok = matches!(
                            inner.pool.call(&bookie, request, timeout).await,
                            Ok(Response::AddEntry(r)) if r.status.is_ok()
                        );
                        let _ = tx.send(RecoveryAnswer::Add(entry_id, position, ok));
                    });
                }
                RecoveryAction::Close {
                    last_entry_id,
                    length,
                } => return Ok((last_entry_id, length)),
                RecoveryAction::Failed(err) => return Err(err.into()),
            }
        }
        // Every request has its own timeout, so an answer (maybe a failure) always comes.
        let Some(answer) = rx.recv().await else {
            return Err(LedgerError::Recovery(crate::RecoveryError::NotFenced {
                ledger_id,
            }));
        };
        match answer {
            RecoveryAnswer::Fence(position, outcome) => core.on_fence_response(position, outcome),
            RecoveryAnswer::Read(entry_id, position, outcome) => {
                core.on_read_response(entry_id, position, outcome)
            }
            RecoveryAnswer::Add(entry_id, position, ok) => {
                core.on_add_response(entry_id, position, ok)
            }
        }
    }
}
