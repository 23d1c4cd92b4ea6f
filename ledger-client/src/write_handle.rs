//! [`LedgerWriter`]: the async handle on an open ledger, driving a [`Writer`] core.
//!
//! One tokio task owns the core. Appends reach it through a bounded channel (so a
//! caller that outruns the bookies waits), bookie answers and clock ticks through
//! another, and it carries out the core's actions: sends adds, resolves callers in
//! entry order, writes an idle writer's LAC, and performs ensemble changes against the
//! namespace (placement, then compare-and-set of a new segment, only while OPEN).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use folio_namespace::ledgers::{EnsembleSegment, LedgerMetadata, LedgerState};
use folio_proto::{AddEntry, Request, Response, Status, WriteLac};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::{mpsc, oneshot};

use crate::BookieId;
use crate::client::{ClosedLedger, Inner, LedgerError};
use crate::quorum::QuorumConfig;
use crate::writer::{AddOutcome, WriteAction, WriteError, Writer};

/// How often the driver ticks the core (timeouts, idle LAC).
const TICK: Duration = Duration::from_millis(50);

enum Command {
    Append {
        /// The entry's payload, in pieces joined when the entry is encoded.
        parts: Vec<Bytes>,
        reply: oneshot::Sender<Result<u64, LedgerError>>,
    },
    Close {
        reply: oneshot::Sender<Result<ClosedLedger, LedgerError>>,
    },
}

enum Event {
    AddAnswer {
        entry_id: u64,
        position: usize,
        bookie: BookieId,
        outcome: AddOutcome,
    },
    EnsembleChanged(Result<(Vec<BookieId>, LedgerMetadata, u64), String>),
}

/// An open ledger's writer. Dropping it without [`LedgerWriter::close`] leaves the
/// ledger OPEN, as a crashed writer would; a reader recovers it.
pub struct LedgerWriter {
    ledger_id: u64,
    commands: mpsc::Sender<Command>,
}

/// An append that was accepted and awaits acknowledgement. Resolves to the entry id.
pub struct PendingAppend {
    reply: oneshot::Receiver<Result<u64, LedgerError>>,
    ledger_id: u64,
}

impl Future for PendingAppend {
    type Output = Result<u64, LedgerError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let ledger_id = self.ledger_id;
        Pin::new(&mut self.reply)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(LedgerError::Write(WriteError::Closed { ledger_id }))))
    }
}

impl LedgerWriter {
    pub(crate) fn start(
        inner: Arc<Inner>,
        ledger_id: u64,
        quorum: QuorumConfig,
        ensemble: Vec<BookieId>,
        meta: LedgerMetadata,
        version: u64,
    ) -> LedgerWriter {
        let core = Writer::new(ledger_id, quorum, ensemble, inner.config.writer.clone());
        let window = inner.config.writer.max_in_flight_entries;
        let (commands, command_rx) = mpsc::channel(window);
        let driver = Driver {
            inner,
            core,
            meta,
            version,
            waiting: VecDeque::new(),
            deferred: VecDeque::new(),
            close: None,
        };
        tokio::spawn(driver.run(command_rx));
        LedgerWriter {
            ledger_id,
            commands,
        }
    }

    /// The ledger's id.
    pub fn ledger_id(&self) -> u64 {
        self.ledger_id
    }

    /// Queues `payload` as the next entry, waiting while the in-flight window is
    /// full. The returned future resolves once the entry is acknowledged.
    pub async fn submit(&self, payload: Bytes) -> Result<PendingAppend, LedgerError> {
        self.submit_parts(vec![payload]).await
    }

    /// Like [`LedgerWriter::submit`], with the payload given as the concatenation of
    /// `parts`: the parts are copied once, straight into the encoded entry (no joining
    /// copy first).
    pub async fn submit_parts(&self, parts: Vec<Bytes>) -> Result<PendingAppend, LedgerError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Append { parts, reply })
            .await
            .map_err(|_| self.closed())?;
        Ok(PendingAppend {
            reply: rx,
            ledger_id: self.ledger_id,
        })
    }

    /// Appends `payload` and waits for its acknowledgement; returns its entry id.
    pub async fn append(&self, payload: Bytes) -> Result<u64, LedgerError> {
        self.submit(payload).await?.await
    }

    /// Waits for every pending append, then closes the ledger in the namespace.
    pub async fn close(self) -> Result<ClosedLedger, LedgerError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Close { reply })
            .await
            .map_err(|_| self.closed())?;
        rx.await.map_err(|_| self.closed())?
    }

    fn closed(&self) -> LedgerError {
        LedgerError::Write(WriteError::Closed {
            ledger_id: self.ledger_id,
        })
    }
}

/// Where an append's entry id (or failure) goes.
type AppendReply = oneshot::Sender<Result<u64, LedgerError>>;

struct Driver {
    inner: Arc<Inner>,
    core: Writer,
    meta: LedgerMetadata,
    version: u64,
    /// Callers waiting for acknowledgement, by entry id, in order.
    /// Each with the time the core accepted it, for the append latency.
    waiting: VecDeque<(u64, Instant, AppendReply)>,
    /// Appends accepted from the channel while the window was full.
    deferred: VecDeque<Command>,
    close: Option<oneshot::Sender<Result<ClosedLedger, LedgerError>>>,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut commands_open = true;
        loop {
            let accepting = self.deferred.is_empty() && self.close.is_none() && commands_open;
            tokio::select! {
                command = commands.recv(), if accepting => match command {
                    Some(command) => self.command(command),
                    None => commands_open = false,
                },
                Some(event) = events.recv() => self.event(event),
                _ = tick.tick() => self.core.on_tick(self.inner.now_ms()),
            }
            self.carry_out(&events_tx);
            self.retry_deferred();
            self.carry_out(&events_tx);
            if self.try_finish().await {
                return;
            }
            if !commands_open && self.waiting.is_empty() && self.close.is_none() {
                return; // the handle was dropped and nothing is pending
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Append { .. } => self.deferred.push_back(command),
            Command::Close { reply } => self.close = Some(reply),
        }
    }

    fn retry_deferred(&mut self) {
        while let Some(Command::Append { parts, reply }) = self.deferred.pop_front() {
            match self.core.append_parts(&parts, self.inner.now_ms()) {
                Ok(entry_id) => self.waiting.push_back((entry_id, Instant::now(), reply)),
                Err(WriteError::WindowFull { .. }) => {
                    self.deferred.push_front(Command::Append { parts, reply });
                    return;
                }
                Err(err) => {
                    let _ = reply.send(Err(LedgerError::Write(err)));
                }
            }
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::AddAnswer {
                entry_id,
                position,
                bookie,
                outcome,
            } => self
                .core
                .on_add_response(entry_id, position, &bookie, outcome),
            Event::EnsembleChanged(Ok((ensemble, meta, version))) => {
                self.meta = meta;
                self.version = version;
                self.inner.metrics.ensemble_changed();
                self.core.ensemble_changed(ensemble, self.inner.now_ms());
            }
            Event::EnsembleChanged(Err(reason)) => {
                self.inner.metrics.ensemble_change_failed();
                self.core.ensemble_change_failed(reason);
            }
        }
    }

    fn carry_out(&mut self, events: &mpsc::UnboundedSender<Event>) {
        for action in self.core.take_actions() {
            match action {
                WriteAction::Send {
                    position,
                    bookie,
                    entry,
                } => {
                    let inner = self.inner.clone();
                    let events = events.clone();
                    tokio::spawn(async move {
                        let entry_id = entry.entry_id();
                        let request = Request::AddEntry(AddEntry {
                            master_key: inner.config.master_key.clone(),
                            recovery: false,
                            entry,
                        });
                        let timeout = inner.config.request_timeout;
                        let outcome = match inner.pool.call(&bookie, request, timeout).await {
                            Ok(Response::AddEntry(r)) if r.status.is_ok() => AddOutcome::Ok,
                            Ok(Response::AddEntry(r)) if r.status == Status::Fenced => {
                                AddOutcome::Fenced
                            }
                            Ok(other) => {
                                tracing::warn!(%bookie, status = %other.status(), entry_id, "add refused");
                                AddOutcome::Failed
                            }
                            Err(error) => {
                                tracing::warn!(%error, entry_id, "add failed");
                                AddOutcome::Failed
                            }
                        };
                        let _ = events.send(Event::AddAnswer {
                            entry_id,
                            position,
                            bookie,
                            outcome,
                        });
                    });
                }
                WriteAction::Acknowledged { entry_id } => {
                    while let Some((id, _, _)) = self.waiting.front() {
                        if *id > entry_id {
                            break;
                        }
                        if let Some((id, accepted, reply)) = self.waiting.pop_front() {
                            self.inner.metrics.append(accepted.elapsed());
                            let _ = reply.send(Ok(id));
                        }
                    }
                }
                WriteAction::ChangeEnsemble {
                    segment_start,
                    ensemble,
                    failed,
                } => {
                    let inner = self.inner.clone();
                    let events = events.clone();
                    let ledger_id = self.core.ledger_id();
                    tokio::spawn(async move {
                        let result =
                            change_ensemble(&inner, ledger_id, segment_start, ensemble, failed)
                                .await;
                        let _ = events.send(Event::EnsembleChanged(result));
                    });
                }
                WriteAction::WriteLac { lac, ensemble } => {
                    for bookie in ensemble {
                        let inner = self.inner.clone();
                        let ledger_id = self.core.ledger_id();
                        tokio::spawn(async move {
                            let request = Request::WriteLac(WriteLac {
                                ledger_id,
                                lac: lac as i64,
                                master_key: inner.config.master_key.clone(),
                            });
                            // Best effort: LAC also travels on the next entry.
                            let _ = inner
                                .pool
                                .call(&bookie, request, inner.config.request_timeout)
                                .await;
                        });
                    }
                }
                WriteAction::Stopped(err) => {
                    for (_, _, reply) in self.waiting.drain(..) {
                        let _ = reply.send(Err(LedgerError::Write(err.clone())));
                    }
                    for command in self.deferred.drain(..) {
                        if let Command::Append { reply, .. } = command {
                            let _ = reply.send(Err(LedgerError::Write(err.clone())));
                        }
                    }
                }
            }
        }
    }

    /// Once a close is asked for and nothing is in flight, records CLOSED in the
    /// namespace and answers the closer. Returns whether the driver is done.
    async fn try_finish(&mut self) -> bool {
        if self.close.is_none() || !self.waiting.is_empty() || !self.deferred.is_empty() {
            return false;
        }
        if let Some(err) = self.core.stopped().cloned() {
            if let Some(reply) = self.close.take() {
                let _ = reply.send(Err(LedgerError::Write(err)));
            }
            return true;
        }
        let ledger_id = self.core.ledger_id();
        let lac = self.core.lac();
        let length = self.core.acked_length();
        self.core.close();
        let mut meta = self.meta.clone();
        meta.state = LedgerState::Closed;
        meta.last_entry_id = u64::try_from(lac).ok();
        meta.length_bytes = length;
        let result = match self.inner.put_metadata(ledger_id, self.version, meta).await {
            Ok(_) => Ok(ClosedLedger {
                ledger_id,
                last_entry_id: lac,
                length,
            }),
            Err(LedgerError::Namespace(folio_namespace::NsError::VersionMismatch { .. })) => {
                Err(LedgerError::RecoveredByOther(ledger_id))
            }
            Err(e) => Err(e),
        };
        if let Some(reply) = self.close.take() {
            let _ = reply.send(result);
        }
        true
    }
}

/// Picks replacements for `failed` positions and compare-and-sets the new segment.
/// Returns the new ensemble, metadata and metadata version.
async fn change_ensemble(
    inner: &Inner,
    ledger_id: u64,
    segment_start: u64,
    ensemble: Vec<BookieId>,
    failed: Vec<usize>,
) -> Result<(Vec<BookieId>, LedgerMetadata, u64), String> {
    let candidates = inner.candidates().await.map_err(|e| e.to_string())?;
    let (mut meta, version) = inner.metadata(ledger_id).await.map_err(|e| e.to_string())?;
    if meta.state != LedgerState::Open {
        return Err(format!("ledger is {:?}, not open", meta.state));
    }
    let quorum = crate::client::quorum_of(&meta).map_err(|e| e.to_string())?;
    let failed_bookies: Vec<BookieId> = failed.iter().map(|p| ensemble[*p].clone()).collect();
    let mut next = ensemble.clone();
    {
        let mut rng = StdRng::from_os_rng();
        for position in &failed {
            let replacement = inner
                .config
                .placement
                .replacement(
                    quorum,
                    &next,
                    *position,
                    &candidates,
                    &failed_bookies,
                    &mut rng,
                )
                .map_err(|e| e.to_string())?;
            next[*position] = replacement;
        }
    }
    let bookies: Vec<String> = next.iter().map(|b| b.as_str().to_owned()).collect();
    match meta.segments.last_mut() {
        Some(last) if last.first_entry_id == segment_start => last.bookies = bookies,
        _ => meta.segments.push(EnsembleSegment {
            first_entry_id: segment_start,
            bookies,
        }),
    }
    let version = inner
        .put_metadata(ledger_id, version, meta.clone())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(ledger_id, segment_start, ?failed_bookies, ensemble = ?next, "changed ensemble");
    Ok((next, meta, version))
}
