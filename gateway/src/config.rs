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
    /// TLS for the S3 listener; plain HTTP when `None`.
    pub tls: Option<TlsConfig>,
    /// Run the auto-recovery tasks (registry prober, auditor, replication worker) in
    /// this process; `None` runs none of them.
    pub autorecovery: Option<folio_ledger::autorecovery::AutoRecoveryConfig>,
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
            tls: None,
            autorecovery: None,
        }
    }
}

/// TLS for the S3 listener: a rustls server configuration built from PEM files.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    server: std::sync::Arc<rustls::ServerConfig>,
}

/// Why the TLS files could not be used. The message names the config key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate chain file.
    #[error("tls_cert: {0}")]
    Cert(String),
    /// The private key file.
    #[error("tls_key: {0}")]
    Key(String),
}

impl TlsConfig {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1
    /// or SEC1) and checks that they belong together.
    pub fn from_pem_files(
        cert_path: &std::path::Path,
        key_path: &std::path::Path,
    ) -> Result<TlsConfig, TlsError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let cert_pem = std::fs::read(cert_path)
            .map_err(|e| TlsError::Cert(format!("read {}: {e}", cert_path.display())))?;
        let certs = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Cert(format!("parse {}: {e}", cert_path.display())))?;
        if certs.is_empty() {
            return Err(TlsError::Cert(format!(
                "{} holds no PEM certificate",
                cert_path.display()
            )));
        }
        let key_pem = std::fs::read(key_path)
            .map_err(|e| TlsError::Key(format!("read {}: {e}", key_path.display())))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| TlsError::Key(format!("parse {}: {e}", key_path.display())))?;
        // An explicit provider: the process may link several, and then rustls has no
        // default to pick.
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Cert(format!("TLS protocol versions: {e}")))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| {
                TlsError::Key(format!(
                    "{} does not match the certificate in {}: {e}",
                    key_path.display(),
                    cert_path.display()
                ))
            })?;
        // S3 is HTTP/1.1 here.
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig {
            server: std::sync::Arc::new(server),
        })
    }

    /// The rustls server configuration.
    pub fn server_config(&self) -> std::sync::Arc<rustls::ServerConfig> {
        self.server.clone()
    }
}
