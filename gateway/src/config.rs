//! The gateway's typed configuration. The `folio` binary builds it from TOML and flags
//! and validates it; tests build it with [`GatewayConfig::new`].

use std::net::SocketAddr;
use std::time::Duration;

use crate::gc::GcConfig;

/// Everything the S3 gateway needs besides the namespace and the ledger client.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Where the S3 API listens.
    pub s3_listen: SocketAddr,
    /// Where the admin API listens (loopback by default).
    pub admin_listen: SocketAddr,
    /// The region reported by GetBucketLocation and expected in signatures.
    pub region: String,
    /// Virtual-host-style addressing under this domain (`bucket.<domain>`), if set.
    pub root_domain: Option<String>,
    /// Bytes per ledger entry for new objects.
    pub entry_size_bytes: u32,
    /// The largest single PUT or part.
    pub max_object_bytes: u64,
    /// How long a ledger written for a failed request is kept before GC takes it.
    pub orphan_grace: Duration,
    /// How long a replaced or deleted object's ledgers stay readable (for GETs that
    /// are still streaming) before GC takes them.
    pub unlinked_grace: Duration,
    /// The GC worker.
    pub gc: GcConfig,
    /// The access key allowed on every bucket (the root credentials).
    pub root_access_key: Option<String>,
    /// The bearer token of the admin API.
    pub admin_token: String,
    /// Ledger entries a GET keeps in flight.
    pub read_ahead_entries: usize,
}

impl GatewayConfig {
    /// Defaults, listening on `s3_listen` and `admin_listen`.
    pub fn new(s3_listen: SocketAddr, admin_listen: SocketAddr, admin_token: String) -> Self {
        GatewayConfig {
            s3_listen,
            admin_listen,
            region: "us-east-1".to_owned(),
            root_domain: None,
            entry_size_bytes: 1 << 20,
            max_object_bytes: 5 << 40,
            orphan_grace: Duration::from_secs(24 * 3600),
            unlinked_grace: Duration::from_secs(300),
            gc: GcConfig::default(),
            root_access_key: None,
            admin_token,
            read_ahead_entries: 4,
        }
    }
}
