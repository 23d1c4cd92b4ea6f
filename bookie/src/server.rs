//! The TCP server: one task reads frames from each connection and spawns a task per
//! request; a writer task sends responses in completion order, so requests are
//! pipelined and answered out of order, matched by request id.
//!
//! Backpressure bounds what the connections can make the bookie hold in memory
//! (docs/protocol.md §Backpressure), with the budgets of [`crate::budget`]: each
//! connection has its own, `max_inflight_bytes_per_connection` (B), and all share
//! the bookie's, `max_inflight_bytes` (G). Every byte held is a [`Charge`] against
//! both: a request is charged its frame size when admitted; when its handler
//! answers, that charge is replaced by the encoded size of the answer, which stays
//! charged until the writer has written it to the socket. So a read of a 1 MiB
//! entry costs 1 MiB until the peer has taken it, whatever the size of the request.
//! - While a budget is spent (the connection's charge ≥ B, or the bookie's charge
//!   and reservations ≥ G) the reader stops reading the socket, as Netty does with
//!   autoread off: TCP flow control then holds the client back. A client that
//!   pipelines reads and does not read its answers stalls itself.
//! - An add is answered TooManyRequests at once when the requests being handled
//!   would pass B (on the connection) or G (bookie-wide) with it: its body is
//!   dropped and the small refusal is charged like any answer. Answers waiting for
//!   a slow peer do not count here (they already stop the reading), since a refused
//!   add costs the writer an ensemble change. Other requests wait until they fit.
//! - Requests whose answer may be much larger than the request (entry reads,
//!   listings, scrub reports) are also limited in number per connection: at most
//!   max(1, B / max_frame_bytes) of them are being handled at once (BookKeeper's
//!   `maxReadsInProgressLimit`), so answers made before they can be charged add at
//!   most about B more. Bookie-wide, each reserves one `max_frame_bytes` of G until
//!   it is answered, so their answers are paid for in G before they exist.
//!
//! A connection that holds nothing is always admitted one request, however large,
//! and is never held back by G (the argument that this avoids a deadlock between
//! connections is in [`crate::budget`]). A connection thus holds below about 3·B
//! plus one frame (requests ≤ B, answers ≤ B plus those of the large-answer
//! requests, ≤ B), plus its read buffer; the bookie holds below about 2·G
//! (requests ≤ G, answers and reservations ≤ G) plus, per connection, one frame
//! admitted while it held nothing and the refusals of frames in its read buffer.
//! The bookie-wide sum of charges is the `folio_bookie_inflight_bytes` gauge.
//!
//! A frame that cannot be delimited (over the size cap, bad version) closes the
//! connection; a delimited frame with a bad body is answered BadRequest.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use folio_proto::{FRAME_HEADER_BYTES, Frame, RawFrame, Request, Response, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::bookie::Shared;
use crate::budget::{BookieBudget, Budget, Charge};
use crate::handler;

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
    let bookie_budget = BookieBudget::new(
        shared.config.max_inflight_bytes,
        shared.config.max_frame_bytes,
        shared.state.metrics.clone(),
    );
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    conns.spawn(connection(
                        socket,
                        peer,
                        shared.clone(),
                        bookie_budget.clone(),
                        shutdown.clone(),
                    ));
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
    /// (shutdown, or the writer gone). Each wake-up follows a released charge, on
    /// this connection or (while the bookie-wide budget may be what `ready` waits
    /// for) on any.
    async fn wait_until(&mut self, ready: impl Fn(&Budget) -> bool) -> bool {
        if ready(&self.budget) {
            return true;
        }
        // Registered for the whole wait, so that releases on other connections
        // notify while it lasts (and only then).
        let waiter = self.budget.bookie().waiter();
        loop {
            // Made before the check, so a release between the check and the wait
            // is not missed: this connection's leaves a permit, another's reaches
            // a future made before it (notify_waiters).
            let freed = self.budget.freed();
            let freed_elsewhere = waiter.freed();
            if ready(&self.budget) {
                return true;
            }
            tokio::select! {
                _ = freed => {}
                _ = freed_elsewhere => {}
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
            if !self.budget.fits_add(size) {
                let refusal = handler::refusal(&req, Status::TooManyRequests);
                drop(req);
                return self.answer_now(request_id, refusal).await;
            }
        } else if !self.wait_until(|b| b.fits(size, large)).await {
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
    bookie_budget: Arc<BookieBudget>,
    shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = socket.set_nodelay(true) {
        tracing::warn!(error = %e, %peer, "set TCP_NODELAY");
    }
    let span = tracing::info_span!("connection", bookie = %shared.config.bookie_id, %peer);
    let (mut rd, wr) = socket.into_split();
    let max_frame = shared.config.max_frame_bytes;
    let budget = Budget::new(
        shared.config.max_inflight_bytes_per_connection,
        max_frame,
        bookie_budget,
    );
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
            // Autoread off: nothing more is read while a budget is spent.
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
