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
