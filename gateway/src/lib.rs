//! The S3 gateway and the admin HTTP API.
//!
//! [`Gateway::start`] binds the S3 listener and the admin listener and starts the GC
//! worker; it returns a [`GatewayHandle`] to find the bound addresses and to shut
//! everything down. The S3 protocol itself (routing, signatures, XML, error codes) is
//! pure code in `folio-s3`; this crate is the glue between it, the namespace
//! (`folio-namespace`) and the ledgers (`folio-ledger`):
//!
//! - [`server`]: the accept loop (TCP_NODELAY, optional TLS, HTTP/1.1 keep-alive,
//!   graceful stop);
//! - `app`: the request pipeline (request id → route → authenticate → authorize →
//!   handler → response) and the one place errors become S3 XML;
//! - `access`: SigV4/SigV2 verification against the namespace's access keys, and
//!   per-bucket permissions;
//! - `bucket`, `list`, `object`, `multipart`: the handlers;
//! - [`upload`] and [`download`]: object bytes into and out of ledgers, with bounded
//!   memory;
//! - [`gc`]: the worker that deletes ledgers no name links any more;
//! - `admin`: `/health`, `/metrics` and the admin API behind a bearer token.

mod access;
mod admin;
mod app;
mod body;
mod bucket;
pub mod config;
pub mod download;
pub mod gc;
mod list;
mod metrics;
mod multipart;
mod object;
mod recovery;
pub mod server;
pub mod upload;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use folio_ledger::LedgerClient;
use folio_namespace::Db;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::GatewayConfig;
pub use folio_ledger::autorecovery::AutoRecoveryConfig;
pub use metrics::{GC_QUEUE_DEPTH_CAP, Metrics, MetricsSource};

/// Starts gateways.
pub struct Gateway;

/// A running gateway.
pub struct GatewayHandle {
    s3_addr: SocketAddr,
    admin_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    metrics: Arc<Metrics>,
}

/// Why a gateway did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("bind {what} listener on {addr}: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

impl Gateway {
    /// Binds both listeners and starts serving, with the GC worker.
    pub async fn start(
        config: GatewayConfig,
        db: Db,
        ledgers: LedgerClient,
    ) -> Result<GatewayHandle, StartError> {
        let bind = |what, addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { what, addr, source })
        };
        let s3 = bind("S3", config.s3_listen).await?;
        let admin = bind("admin", config.admin_listen).await?;
        let s3_addr = local(&s3, config.s3_listen);
        let admin_addr = local(&admin, config.admin_listen);
        let metrics = Arc::new(Metrics::default());
        let gc_config = config.gc;
        let autorecovery = config.autorecovery;
        let tls = config.tls.clone();
        let app = Arc::new(app::App {
            db: db.clone(),
            ledgers: ledgers.clone(),
            config,
            metrics: metrics.clone(),
            bucket_ids: folio_namespace::ids::IdAllocator::new(
                db.clone(),
                folio_namespace::ids::BUCKET_IDS,
            ),
        });
        let (shutdown, rx) = watch::channel(false);
        let s3_router = Router::new().fallback(app::handle).with_state(app.clone());
        let admin_router = admin::router(app.clone());
        let mut tasks = vec![
            tokio::spawn(server::serve_with(s3, s3_router, tls, rx.clone())),
            tokio::spawn(server::serve(admin, admin_router, rx.clone())),
        ];
        if let Some(recovery_config) = autorecovery {
            let id = format!("{s3_addr}/{}", std::process::id());
            tasks.extend(recovery::start(
                recovery_config,
                &db,
                &ledgers,
                &metrics,
                &id,
                &rx,
            ));
        }
        tasks.push(tokio::spawn(gc::run(
            db,
            ledgers,
            gc_config,
            metrics.clone(),
            rx,
        )));
        tracing::info!(%s3_addr, %admin_addr, "gateway listening");
        Ok(GatewayHandle {
            s3_addr,
            admin_addr,
            shutdown,
            tasks,
            metrics,
        })
    }
}

fn local(listener: &TcpListener, fallback: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(fallback)
}

impl GatewayHandle {
    /// Where the S3 API listens.
    pub fn s3_addr(&self) -> SocketAddr {
        self.s3_addr
    }

    /// Where the admin API listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The gateway's metrics, to add a host's own with [`Metrics::add_source`].
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Stops accepting, lets requests in progress finish, and stops the GC worker.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
