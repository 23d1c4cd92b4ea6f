//! The TCP server: one task reads frames from each connection and spawns a task per
//! request; a writer task sends responses in completion order, so requests are
//! pipelined and answered out of order, matched by request id.
//!
//! Backpressure bounds what a connection can make the bookie hold in memory
//! (docs/protocol.md §Backpressure). Each connection has a byte budget,
//! `max_inflight_bytes_per_connection` (B), and a [`Charge`] for every byte it holds:
//! a request is charged its frame size when admitted; when its handler answers,
//! that charge is replaced by the encoded size of the answer, which stays charged
//! until the writer has written it to the socket. So a read of a 1 MiB entry costs
//! 1 MiB until the peer has taken it, whatever the size of the request.
//! - While the budget is spent (charged ≥ B) the reader stops reading the socket,
//!   as Netty does with autoread off: TCP flow control then holds the client back.
//!   A client that pipelines reads and does not read its answers stalls itself.
//! - An add is answered TooManyRequests at once when the requests being handled
//!   would pass B with it: its body is dropped and the small refusal is charged
//!   like any answer. Answers waiting for a slow peer do not count here (they
//!   already stop the reading), since a refused add costs the writer an ensemble
//!   change. Other requests wait until they fit in B.
//! - Requests whose answer may be much larger than the request (entry reads,
//!   listings, scrub reports) are also limited in number: at most
//!   max(1, B / max_frame_bytes) of them are being handled at once (BookKeeper's
//!   `maxReadsInProgressLimit`), so answers made before they can be charged add at
//!   most about B more.
//!
//! One request is always admitted when nothing is charged, however large. A
//! connection thus holds below about 3·B plus one frame (requests ≤ B, answers
//! ≤ B plus those of the large-answer requests, ≤ B), plus its read buffer.
//! The bookie-wide sum of charges is the `folio_bookie_inflight_bytes` gauge.
//!
//! A frame that cannot be delimited (over the size cap, bad version) closes the
//! connection; a delimited frame with a bad body is answered BadRequest.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use folio_proto::{FRAME_HEADER_BYTES, Frame, RawFrame, Request, Response, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::bookie::Shared;
use crate::handler;
use crate::metrics::BookieMetrics;

/// An encoded answer and the charge it holds until it is written.
type Outgoing = (Bytes, Charge);

/// Answers queued for the writer; their bytes are bounded by the budget, this
/// bounds their number.
const RESPONSE_QUEUE_LEN: usize = 256;
/// The writer gathers ready answers into one write up to about this many bytes.
const COALESCE_BYTES: usize = 1 << 20;
/// Answers at least this large are written from their own buffer, not copied.
const DIRECT_WRITE_BYTES: usize = 64 << 10;
/// How long after shutdown a write may stay blocked by a peer that does not read.
const SHUTDOWN_WRITE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Accepts connections until shutdown.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    conns.spawn(connection(socket, peer, shared.clone(), shutdown.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

/// One connection's memory budget: bytes charged (requests and answers), of them
/// the bytes of requests being handled, large-answer requests being handled, and a
/// wake-up for a reader waiting for any of them to drop.
struct Budget {
    charged: AtomicUsize,
    requests: AtomicUsize,
    large_answers: AtomicUsize,
    max_bytes: usize,
    max_large_answers: usize,
    freed: Notify,
    metrics: Arc<BookieMetrics>,
}

impl Budget {
    /// Whether `bytes` more may be admitted: always when nothing is charged.
    fn fits(&self, bytes: usize) -> bool {
        let now = self.charged.load(Ordering::Acquire);
        now == 0 || now + bytes <= self.max_bytes
    }

    /// Whether an add of `bytes` may be admitted: judged on the requests being
    /// handled only, as answers waiting for a slow peer already stop the reading,
    /// and a refused add costs the writer an ensemble change.
    fn fits_request(&self, bytes: usize) -> bool {
        let now = self.requests.load(Ordering::Acquire);
        now == 0 || now + bytes <= self.max_bytes
    }

    fn spent(&self) -> bool {
        self.charged.load(Ordering::Acquire) >= self.max_bytes
    }

    fn large_slot_free(&self) -> bool {
        self.large_answers.load(Ordering::Acquire) < self.max_large_answers
    }

    /// Charges an answer (or a refusal) until it is written.
    fn charge_answer(self: &Arc<Self>, bytes: usize) -> Charge {
        self.charge(bytes, false, false)
    }

    /// Charges a request until it is answered; `large` takes a large-answer slot.
    fn charge_request(self: &Arc<Self>, bytes: usize, large: bool) -> Charge {
        self.charge(bytes, true, large)
    }

    fn charge(self: &Arc<Self>, bytes: usize, request: bool, large_answer: bool) -> Charge {
        self.charged.fetch_add(bytes, Ordering::AcqRel);
        if request {
            self.requests.fetch_add(bytes, Ordering::AcqRel);
        }
        if large_answer {
            self.large_answers.fetch_add(1, Ordering::AcqRel);
        }
        self.metrics.inflight_charged(bytes);
        Charge {
            budget: self.clone(),
            bytes,
            request,
            large_answer,
        }
    }
}

/// Bytes (and perhaps a large-answer slot) held against a [`Budget`]; released on
/// drop, so whatever path drops a request or an answer (written, refused, the
/// connection failing) gives its bytes back exactly once.
struct Charge {
    budget: Arc<Budget>,
    bytes: usize,
    request: bool,
    large_answer: bool,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.charged.fetch_sub(self.bytes, Ordering::AcqRel);
        if self.request {
            self.budget.requests.fetch_sub(self.bytes, Ordering::AcqRel);
        }
        self.budget.metrics.inflight_released(self.bytes);
        if self.large_answer {
            self.budget.large_answers.fetch_sub(1, Ordering::AcqRel);
        }
        self.budget.freed.notify_one();
    }
}

/// Whether a request's answer may be much larger than the request.
fn large_answer(req: &Request) -> bool {
    matches!(
        req,
        Request::ReadEntry(_)
            | Request::ListLedgers(_)
            | Request::GetLedgerEntries(_)
            | Request::GetScrubReport
    )
}

/// The reader's side of a connection.
struct Conn {
    shared: Arc<Shared>,
    budget: Arc<Budget>,
    tx: mpsc::Sender<Outgoing>,
    shutdown: watch::Receiver<bool>,
}

impl Conn {
    /// Waits until `ready` holds. False if the connection is ending instead
    /// (shutdown, or the writer gone). Each wake-up follows a released charge.
    async fn wait_until(&mut self, ready: impl Fn(&Budget) -> bool) -> bool {
        loop {
            // Made before the check, so a release between the check and the wait
            // leaves a permit and is not missed.
            let freed = self.budget.freed.notified();
            if ready(&self.budget) {
                return true;
            }
            tokio::select! {
                _ = freed => {}
                _ = self.tx.closed() => return false,
                _ = self.shutdown.changed() => return false,
            }
        }
    }

    /// Queues an answer the reader makes itself (a refusal), charged like any.
    async fn answer_now(&self, request_id: u64, resp: Response) -> bool {
        let bytes = Frame::new(request_id, resp).to_bytes();
        let charge = self.budget.charge_answer(bytes.len());
        self.tx.send((bytes, charge)).await.is_ok()
    }

    /// Admits one request (waiting for room if need be) and spawns its handler.
    /// False if the connection is ending.
    async fn dispatch(&mut self, raw: RawFrame) -> bool {
        let request_id = raw.request_id;
        let size = raw.body.len() + FRAME_HEADER_BYTES;
        let req = match raw.decode::<Request>() {
            Ok(frame) => frame.body,
            Err(e) => {
                tracing::debug!(error = %e, request_id, "bad request");
                return self
                    .answer_now(request_id, Response::Error(Status::BadRequest))
                    .await;
            }
        };
        let large = large_answer(&req);
        if let Request::AddEntry(_) = req {
            if !self.budget.fits_request(size) {
                let refusal = handler::refusal(&req, Status::TooManyRequests);
                drop(req);
                return self.answer_now(request_id, refusal).await;
            }
        } else if !self
            .wait_until(|b| (!large || b.large_slot_free()) && b.fits(size))
            .await
        {
            return false;
        }
        let charge = self.budget.charge_request(size, large);
        let span = tracing::debug_span!("request", request_id, op = ?req.op(), ledger_id = req.ledger_id());
        let shared = self.shared.clone();
        let budget = self.budget.clone();
        let tx = self.tx.clone();
        tokio::spawn(
            async move {
                let resp = handler::handle(&shared, req).await;
                let bytes = Frame::new(request_id, resp).to_bytes();
                // The answer's charge replaces the request's: taken first, so the
                // connection never looks emptier than it is.
                let answer = budget.charge_answer(bytes.len());
                drop(charge);
                // Fails only when the writer is gone; the answer is then dropped
                // and its charge released.
                let _ = tx.send((bytes, answer)).await;
            }
            .instrument(span),
        );
        true
    }
}

async fn connection(
    socket: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = socket.set_nodelay(true) {
        tracing::warn!(error = %e, %peer, "set TCP_NODELAY");
    }
    let span = tracing::info_span!("connection", bookie = %shared.config.bookie_id, %peer);
    let (mut rd, wr) = socket.into_split();
    let max_bytes = shared.config.max_inflight_bytes_per_connection.max(1);
    let max_frame = shared.config.max_frame_bytes;
    let budget = Arc::new(Budget {
        charged: AtomicUsize::new(0),
        requests: AtomicUsize::new(0),
        large_answers: AtomicUsize::new(0),
        max_bytes,
        max_large_answers: (max_bytes / max_frame.max(1)).max(1),
        freed: Notify::new(),
        metrics: shared.state.metrics.clone(),
    });
    let (tx, rx) = mpsc::channel::<Outgoing>(RESPONSE_QUEUE_LEN);
    let stall_limit = shared.config.response_write_timeout;
    tokio::spawn(write_loop(wr, rx, shutdown.clone(), stall_limit).instrument(span.clone()));
    let mut conn = Conn {
        shared,
        budget,
        tx,
        shutdown,
    };
    let mut buf = BytesMut::with_capacity(64 << 10);
    async move {
        loop {
            loop {
                match RawFrame::split(&mut buf, max_frame) {
                    Ok(Some(raw)) => {
                        if !conn.dispatch(raw).await {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "closing connection: undecodable frame");
                        return;
                    }
                }
            }
            // Autoread off: nothing more is read while the budget is spent.
            if !conn.wait_until(|b| !b.spent()).await {
                return;
            }
            tokio::select! {
                _ = conn.shutdown.changed() => return,
                // The writer gave up on the peer (response_write_timeout).
                _ = conn.tx.closed() => return,
                read = rd.read_buf(&mut buf) => match read {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "read failed");
                        return;
                    }
                },
            }
        }
    }
    .instrument(span)
    .await
}

/// Writes answers as they come, gathering those already queued into one write;
/// each answer's charge is released once it is written. Stops when every sender
/// is gone (the reader and every handler done) or a write fails. At shutdown,
/// answers still coming (adds finishing their fsync) are sent, but a write blocked
/// for [`SHUTDOWN_WRITE_GRACE`] after it, by a peer that does not read, is given up
/// rather than hold this task forever. At any time, a batch of answers the peer has
/// not taken within `stall_limit` (`response_write_timeout`; zero: no limit) closes
/// the connection, so a peer that stops reading cannot hold its budget for ever.
async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Outgoing>,
    mut shutdown: watch::Receiver<bool>,
    stall_limit: std::time::Duration,
) {
    let mut buf = BytesMut::new();
    let mut batch: Vec<Outgoing> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut total = first.0.len();
        batch.push(first);
        while total < COALESCE_BYTES {
            match rx.try_recv() {
                Ok(next) => {
                    total += next.0.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let written = tokio::select! {
            r = write_batch(&mut wr, &batch, &mut buf) => r,
            () = shutdown_grace_over(&mut shutdown) => {
                tracing::debug!("peer not reading at shutdown; dropping responses");
                return;
            }
            () = stalled(stall_limit) => {
                // Returning drops the answers (releasing their charges) and the
                // write half; the reader then ends the connection.
                tracing::warn!(
                    timeout = ?stall_limit,
                    "peer has not read its answers; closing the connection (response_write_timeout)"
                );
                return;
            }
        };
        if let Err(e) = written {
            tracing::debug!(error = %e, "write failed; dropping responses");
            return;
        }
        // Written: release the charges.
        batch.clear();
    }
}

/// Resolves after `limit`, or never if `limit` is zero (no timeout).
async fn stalled(limit: std::time::Duration) {
    if limit.is_zero() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(limit).await;
}

/// Resolves [`SHUTDOWN_WRITE_GRACE`] after shutdown began (or the bookie is gone).
async fn shutdown_grace_over(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    tokio::time::sleep(SHUTDOWN_WRITE_GRACE).await;
}

/// Writes `batch` in order: small answers copied together into `buf`, large ones
/// straight from their own buffers.
async fn write_batch(
    wr: &mut OwnedWriteHalf,
    batch: &[Outgoing],
    buf: &mut BytesMut,
) -> std::io::Result<()> {
    buf.clear();
    for (bytes, _) in batch {
        if bytes.len() >= DIRECT_WRITE_BYTES {
            if !buf.is_empty() {
                wr.write_all(buf).await?;
                buf.clear();
            }
            wr.write_all(bytes).await?;
        } else {
            buf.extend_from_slice(bytes);
        }
    }
    if !buf.is_empty() {
        wr.write_all(buf).await?;
        buf.clear();
    }
    Ok(())
}
