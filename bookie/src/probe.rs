//! A minimal pipelining client for one bookie: for tests, benchmarks and health
//! checks. The replicated client is `folio-ledger`; this one only sends frames and
//! matches responses by request id.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use folio_proto::{DEFAULT_MAX_FRAME_BYTES, Frame, RawFrame, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Mutex, oneshot};

/// The longest [`ProbeClient::call`] waits for a response.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Response>>>>;

/// A connection to one bookie.
pub struct ProbeClient {
    writer: Mutex<OwnedWriteHalf>,
    pending: Pending,
    next_id: AtomicU64,
    reader: tokio::task::JoinHandle<()>,
}

/// Why a probe request failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Connecting, writing or reading failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The connection closed before the response came.
    #[error("connection closed before the response")]
    Closed,
    /// No response within [`CALL_TIMEOUT`].
    #[error("no response within {CALL_TIMEOUT:?}")]
    TimedOut,
}

impl ProbeClient {
    /// Connects (with TCP_NODELAY).
    pub async fn connect(addr: SocketAddr) -> Result<ProbeClient, ProbeError> {
        let socket = TcpStream::connect(addr).await?;
        socket.set_nodelay(true)?;
        let (mut rd, wr) = socket.into_split();
        let pending: Pending = Arc::default();
        let p = pending.clone();
        let reader = tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(1 << 20);
            loop {
                while let Ok(Some(raw)) = RawFrame::split(&mut buf, DEFAULT_MAX_FRAME_BYTES) {
                    let Ok(frame) = raw.decode::<Response>() else {
                        return;
                    };
                    let waiter = p
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&frame.request_id);
                    if let Some(w) = waiter {
                        let _ = w.send(frame.body);
                    }
                }
                match rd.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => {
                        p.lock().unwrap_or_else(|e| e.into_inner()).clear();
                        return;
                    }
                    Ok(_) => {}
                }
            }
        });
        Ok(ProbeClient {
            writer: Mutex::new(wr),
            pending,
            next_id: AtomicU64::new(1),
            reader,
        })
    }

    /// Sends a request and returns a receiver for its response, so many can be in
    /// flight at once.
    pub async fn send(&self, req: Request) -> Result<oneshot::Receiver<Response>, ProbeError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        let mut buf = BytesMut::new();
        Frame::new(id, req).encode(&mut buf);
        self.writer.lock().await.write_all(&buf).await?;
        Ok(rx)
    }

    /// Sends a request and waits for its response, at most [`CALL_TIMEOUT`].
    pub async fn call(&self, req: Request) -> Result<Response, ProbeError> {
        let rx = self.send(req).await?;
        match tokio::time::timeout(CALL_TIMEOUT, rx).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(_)) => Err(ProbeError::Closed),
            Err(_) => Err(ProbeError::TimedOut),
        }
    }
}

impl Drop for ProbeClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
