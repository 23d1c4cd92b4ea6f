//! The HTTP listener: an accept loop that sets `TCP_NODELAY` on every socket,
//! optionally wraps it in TLS (rustls), and serves HTTP/1.1 keep-alive connections
//! with hyper, handing each request to a tower service (the axum router of the S3 API
//! or of the admin API).
//!
//! It stops accepting when the shutdown signal turns true, and lets open connections
//! finish their current request. A failed TLS handshake is the client's problem: it is
//! logged at debug level and the socket is dropped.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::TlsConfig;

/// Largest request head (request line and headers) accepted, in bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` over plain HTTP until `shutdown` turns true.
pub async fn serve(listener: TcpListener, router: Router, shutdown: watch::Receiver<bool>) {
    serve_with(listener, router, None, shutdown).await
}

/// Serves `router` on `listener` until `shutdown` turns true, over TLS when `tls` is
/// given.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tls.map(|t| TlsAcceptor::from(t.server_config()));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        // Without it, small responses on a kept-alive connection wait ~40 ms.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "set TCP_NODELAY");
        }
        let router = router.clone();
        let conn_shutdown = shutdown.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => serve_connection(stream, peer, router, conn_shutdown).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(tls)) => serve_connection(tls, peer, router, conn_shutdown).await,
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                        }
                    }
                }
            }
        });
    }
}

/// Serves HTTP/1.1 requests on one connection until it ends or `shutdown` turns true.
async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(router.map_request(
        move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(Peer(peer));
            req.map(Body::new)
        },
    ));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .max_buf_size(MAX_HEADER_BYTES.max(8192) * 2);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// The remote address of a request's connection.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// The most request-body bytes read and thrown away after an early answer (an error
/// sent before the body was read), so that the connection can stay open.
pub const MAX_DRAIN_BYTES: u64 = 8 << 20;

/// How long draining an unread request body may take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A request body that remembers whether it was polled and whether it ended, so the
/// pipeline can tell, once it has its response, whether the connection is still in
/// step (see S3-NOTES, Transport: errors before the body).
#[derive(Clone)]
pub(crate) struct BodyTap {
    inner: std::sync::Arc<std::sync::Mutex<TapState>>,
}

struct TapState {
    body: Body,
    polled: bool,
    ended: bool,
}

impl BodyTap {
    /// Wraps `body`; hand [`BodyTap::body`] to the handler and keep this.
    pub(crate) fn new(body: Body) -> BodyTap {
        BodyTap {
            inner: std::sync::Arc::new(std::sync::Mutex::new(TapState {
                body,
                polled: false,
                ended: false,
            })),
        }
    }

    /// A body that reads through this tap.
    pub(crate) fn body(&self) -> Body {
        Body::new(self.clone())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, TapState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After the handler answered: reads and drops what is left of the body, up to
    /// [`MAX_DRAIN_BYTES`], unless the client is waiting for `100 Continue` and has
    /// sent nothing. Returns whether the connection may be kept alive.
    pub(crate) async fn settle(&self, expects_continue: bool) -> bool {
        {
            let state = self.state();
            if state.ended || http_body::Body::is_end_stream(&state.body) {
                return true;
            }
            if expects_continue && !state.polled {
                // Reading now would send 100 Continue and invite the body.
                return false;
            }
        }
        let drain = async {
            let mut drained = 0u64;
            let mut body = self.body();
            loop {
                match http_body_util::BodyExt::frame(&mut body).await {
                    None => return true,
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            drained += data.len() as u64;
                            if drained > MAX_DRAIN_BYTES {
                                return false;
                            }
                        }
                    }
                    Some(Err(_)) => return false,
                }
            }
        };
        tokio::time::timeout(DRAIN_TIMEOUT, drain)
            .await
            .unwrap_or(false)
    }
}

impl http_body::Body for BodyTap {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let mut state = self.state();
        state.polled = true;
        let polled = std::pin::Pin::new(&mut state.body).poll_frame(cx);
        if let std::task::Poll::Ready(None) = polled {
            state.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let state = self.state();
        state.ended || state.body.is_end_stream()
    }
}
