//! The TCP server: one task reads frames from each connection and spawns a task per
//! request; a writer task sends responses in completion order, so requests are
//! pipelined and answered out of order, matched by request id.
//!
//! Backpressure: each connection may have `max_inflight_bytes_per_connection` bytes
//! of requests being handled; a request past that is answered TooManyRequests at
//! once (one request is always admitted, however large). A frame that cannot be
//! delimited (over the size cap, bad version) closes the connection; a delimited
//! frame with a bad body is answered BadRequest.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use folio_proto::{FRAME_HEADER_BYTES, Frame, RawFrame, Request, Response, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::bookie::Shared;
use crate::handler;

type Outgoing = (Frame<Response>, usize);

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

async fn connection(
    socket: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = socket.set_nodelay(true) {
        tracing::warn!(error = %e, %peer, "set TCP_NODELAY");
    }
    let span = tracing::info_span!("connection", %peer);
    let (mut rd, wr) = socket.into_split();
    let inflight = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::unbounded_channel::<Outgoing>();
    tokio::spawn(write_loop(wr, rx, inflight.clone()).instrument(span.clone()));
    let max_frame = shared.config.max_frame_bytes;
    let max_inflight = shared.config.max_inflight_bytes_per_connection;
    let mut buf = BytesMut::with_capacity(64 << 10);
    async move {
        loop {
            loop {
                match RawFrame::split(&mut buf, max_frame) {
                    Ok(Some(raw)) => dispatch(raw, &shared, &tx, &inflight, max_inflight),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "closing connection: undecodable frame");
                        return;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.changed() => return,
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

fn dispatch(
    raw: RawFrame,
    shared: &Arc<Shared>,
    tx: &mpsc::UnboundedSender<Outgoing>,
    inflight: &Arc<AtomicUsize>,
    max_inflight: usize,
) {
    let request_id = raw.request_id;
    let charge = raw.body.len() + FRAME_HEADER_BYTES;
    let req = match raw.decode::<Request>() {
        Ok(frame) => frame.body,
        Err(e) => {
            tracing::debug!(error = %e, request_id, "bad request");
            let _ = tx.send((
                Frame::new(request_id, Response::Error(Status::BadRequest)),
                0,
            ));
            return;
        }
    };
    let current = inflight.load(Ordering::Acquire);
    if current > 0 && current + charge > max_inflight {
        let _ = tx.send((
            Frame::new(request_id, handler::refusal(&req, Status::TooManyRequests)),
            0,
        ));
        return;
    }
    inflight.fetch_add(charge, Ordering::AcqRel);
    let span =
        tracing::debug_span!("request", request_id, op = ?req.op(), ledger_id = req.ledger_id());
    let shared = shared.clone();
    let tx = tx.clone();
    tokio::spawn(
        async move {
            let resp = handler::handle(&shared, req).await;
            let _ = tx.send((Frame::new(request_id, resp), charge));
        }
        .instrument(span),
    );
}

async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    inflight: Arc<AtomicUsize>,
) {
    let mut buf = BytesMut::new();
    while let Some((frame, charge)) = rx.recv().await {
        buf.clear();
        frame.encode(&mut buf);
        let mut charges = charge;
        // Coalesce responses that are ready into one write.
        while buf.len() < (1 << 20) {
            match rx.try_recv() {
                Ok((f, c)) => {
                    f.encode(&mut buf);
                    charges += c;
                }
                Err(_) => break,
            }
        }
        if let Err(e) = wr.write_all(&buf).await {
            tracing::debug!(error = %e, "write failed; dropping responses");
            return;
        }
        inflight.fetch_sub(charges, Ordering::AcqRel);
    }
}
