//! The TCP client to one bookie, and a pool of them.
//!
//! One connection per bookie carries any number of requests at once: each gets a
//! request id, the writer task sends frames as they come (flushing when its queue
//! runs dry, so concurrent adds share a syscall), and the reader task matches
//! responses to callers by request id, in whatever order the bookie answers. When the
//! connection breaks, every waiting caller gets [`ClientError::Disconnected`] and the
//! pool dials again on next use. Every call has a timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use folio_proto::{DEFAULT_MAX_FRAME_BYTES, Frame, RawFrame, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use crate::BookieId;

/// Why a call to a bookie got no response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The connection could not be made.
    #[error("connect to bookie {bookie}: {reason}")]
    Connect {
        /// The bookie.
        bookie: BookieId,
        /// The I/O error.
        reason: String,
    },
    /// The connection broke before the response came.
    #[error("connection to bookie {bookie} lost")]
    Disconnected {
        /// The bookie.
        bookie: BookieId,
    },
    /// No response within the timeout.
    #[error("bookie {bookie} did not answer within {timeout_ms} ms")]
    TimedOut {
        /// The bookie.
        bookie: BookieId,
        /// The timeout.
        timeout_ms: u64,
    },
}

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Response>>>>;

struct Call {
    request: Request,
    reply: oneshot::Sender<Response>,
}

/// A pipelined connection to one bookie.
pub struct BookieClient {
    bookie: BookieId,
    calls: mpsc::Sender<Call>,
    alive: Arc<AtomicBool>,
}

/// How many calls may queue for the writer task before callers wait.
const CALL_QUEUE: usize = 1024;

impl BookieClient {
    /// Connects to `bookie` (its id is its `host:port` address).
    pub async fn connect(bookie: BookieId, timeout: Duration) -> Result<BookieClient, ClientError> {
        let connect_err = |reason: String| ClientError::Connect {
            bookie: bookie.clone(),
            reason,
        };
        let stream = tokio::time::timeout(timeout, TcpStream::connect(bookie.as_str()))
            .await
            .map_err(|_| connect_err(format!("timed out after {} ms", timeout.as_millis())))?
            .map_err(|e| connect_err(e.to_string()))?;
        stream
            .set_nodelay(true)
            .map_err(|e| connect_err(e.to_string()))?;
        let (read, write) = stream.into_split();
        let waiters: Waiters = Arc::default();
        let alive = Arc::new(AtomicBool::new(true));
        let (calls, queue) = mpsc::channel(CALL_QUEUE);
        tokio::spawn(write_loop(write, queue, waiters.clone(), alive.clone()));
        tokio::spawn(read_loop(read, waiters, alive.clone(), bookie.clone()));
        Ok(BookieClient {
            bookie,
            calls,
            alive,
        })
    }

    /// Whether the connection still works.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Sends `request` and waits up to `timeout` for its response.
    pub async fn call(&self, request: Request, timeout: Duration) -> Result<Response, ClientError> {
        let (reply, response) = oneshot::channel();
        let disconnected = || ClientError::Disconnected {
            bookie: self.bookie.clone(),
        };
        let work = async {
            self.calls
                .send(Call { request, reply })
                .await
                .map_err(|_| disconnected())?;
            response.await.map_err(|_| disconnected())
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::TimedOut {
                bookie: self.bookie.clone(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }
}

async fn write_loop(
    write: OwnedWriteHalf,
    mut queue: mpsc::Receiver<Call>,
    waiters: Waiters,
    alive: Arc<AtomicBool>,
) {
    let next_id = AtomicU64::new(1);
    let mut out = BufWriter::with_capacity(256 * 1024, write);
    let mut buf = BytesMut::new();
    while let Some(call) = queue.recv().await {
        if !alive.load(Ordering::Acquire) {
            break;
        }
        let request_id = next_id.fetch_add(1, Ordering::Relaxed);
        lock(&waiters).insert(request_id, call.reply);
        buf.clear();
        Frame::new(request_id, call.request).encode(&mut buf);
        if out.write_all(&buf).await.is_err() {
            break;
        }
        // Flush once the queue is empty: calls that arrive together share a write.
        if queue.is_empty() && out.flush().await.is_err() {
            break;
        }
    }
    alive.store(false, Ordering::Release);
    lock(&waiters).clear();
}

async fn read_loop(
    mut read: OwnedReadHalf,
    waiters: Waiters,
    alive: Arc<AtomicBool>,
    bookie: BookieId,
) {
    let mut buf = BytesMut::with_capacity(256 * 1024);
    'conn: loop {
        loop {
            match RawFrame::split(&mut buf, DEFAULT_MAX_FRAME_BYTES) {
                Ok(Some(raw)) => {
                    let request_id = raw.request_id;
                    match raw.decode::<Response>() {
                        Ok(frame) => {
                            if let Some(waiter) = lock(&waiters).remove(&request_id) {
                                // The caller may have timed out and gone: nothing to do.
                                let _ = waiter.send(frame.body);
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%bookie, %error, "undecodable response; dropping the connection");
                            break 'conn;
                        }
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%bookie, %error, "bad frame from bookie; dropping the connection");
                    break 'conn;
                }
            }
        }
        match read.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    alive.store(false, Ordering::Release);
    // Dropping the senders wakes every waiter with Disconnected.
    lock(&waiters).clear();
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the map inconsistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Connections to every bookie in use, made on first use and remade after a break.
pub struct BookiePool {
    clients: Mutex<HashMap<BookieId, Arc<BookieClient>>>,
    connect_timeout: Duration,
}

impl BookiePool {
    /// An empty pool.
    pub fn new(connect_timeout: Duration) -> BookiePool {
        BookiePool {
            clients: Mutex::new(HashMap::new()),
            connect_timeout,
        }
    }

    /// A live connection to `bookie`. Dialling happens outside the pool's lock, so a
    /// dead bookie does not hold up calls to the others.
    pub async fn get(&self, bookie: &BookieId) -> Result<Arc<BookieClient>, ClientError> {
        if let Some(client) = lock(&self.clients).get(bookie).filter(|c| c.is_alive()) {
            return Ok(client.clone());
        }
        let fresh = Arc::new(BookieClient::connect(bookie.clone(), self.connect_timeout).await?);
        let mut clients = lock(&self.clients);
        match clients.get(bookie).filter(|c| c.is_alive()) {
            // Another caller dialled first; use theirs and let ours close.
            Some(existing) => Ok(existing.clone()),
            None => {
                clients.insert(bookie.clone(), fresh.clone());
                Ok(fresh)
            }
        }
    }

    /// Sends `request` to `bookie` and waits up to `timeout`.
    pub async fn call(
        &self,
        bookie: &BookieId,
        request: Request,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let client = self.get(bookie).await?;
        client.call(request, timeout).await
    }
}
